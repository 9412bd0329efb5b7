/**
 * The target's symbol table, captured from the real kernel: one boot that
 * loads the modules the fixtures patch (so their symbols are listed, as on a
 * machine where they are loaded) and copies /proc/kallsyms, gzip'd, out
 * through ttyS1. Cached per ABI and module list.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { addModule, boot, INIT_HEAD, Initramfs, initrdPath } from './guest';
import type { KernelEntry } from './manifest';

const MIN_LINES = 50_000;

export interface Capture {
  path: string;
  lines: number;
  cached: boolean;
  seconds: number;
}

export async function captureKallsyms(k: KernelEntry, cache: string, modules: string[]): Promise<Capture> {
  const path = join(cache, `${k.abi}.kallsyms`);
  const key = `${path}.modules`;
  const wanted = [...modules].sort().join(',');
  if (existsSync(path) && existsSync(key) && readFileSync(key, 'utf8') === wanted) {
    return { path, lines: readFileSync(path, 'utf8').split('\n').length, cached: true, seconds: 0 };
  }
  const ir = new Initramfs();
  try {
    const order: string[] = [];
    for (const m of modules) addModule(ir, k.modules, m, order);
    const init = [...INIT_HEAD, ...order.map((m) => `insmod /mod/${m}.ko`), 'gzip -c /proc/kallsyms > /dev/ttyS1', 'sync', 'poweroff -f'];
    ir.add('init', init.join('\n') + '\n', 0o755);
    const r = await boot(k.vmlinuz, ir.pack(initrdPath(cache, `capture-${k.abi}`)), 5 * 60_000);
    if (r.timedOut) throw new Error(`${k.abi}: the capture boot timed out\n${r.console.slice(-3000)}`);
    let text: string;
    try {
      text = gunzipSync(r.serial).toString('latin1');
    } catch (e) {
      throw new Error(`${k.abi}: no kallsyms came out of the guest (${(e as Error).message}, ${r.serial.length} bytes)\n${r.console.slice(-3000)}`);
    }
    const lines = text.split('\n').length;
    if (lines < MIN_LINES) throw new Error(`${k.abi}: the captured kallsyms has ${lines} lines (fewer than ${MIN_LINES}): was it read as root?`);
    for (const m of modules) if (!text.includes(`[${m}]`)) throw new Error(`${k.abi}: module ${m} was loaded but kallsyms lists none of its symbols`);
    writeFileSync(path, text);
    writeFileSync(key, wanted);
    return { path, lines, cached: false, seconds: r.seconds };
  } finally {
    ir.dispose();
  }
}
