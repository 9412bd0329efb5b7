/**
 * `klp-lens generate --build` for one fixture and one kernel, run as a user
 * runs it: the CLI bundle, the kernel's source tree, its headers and the
 * symbol table captured from it. Never shared state between runs: each has its
 * own output folder.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Fixture } from './fixtures';
import type { KernelEntry } from './manifest';

export interface Generated {
  fixture: string;
  kernel: string;
  /** The folder was written (the CLI named the module and its files). */
  generated: boolean;
  /** kbuild made exactly one .ko. */
  built: boolean;
  /** Module name (the .ko's base name), when built. */
  name?: string;
  ko?: string;
  out: string;
  log: string;
  seconds: number;
}

const GENERATE_TIMEOUT_MS = 5 * 60_000;

export function generateFixture(cli: string, fx: Fixture, k: KernelEntry, symbols: string, outRoot: string): Promise<Generated> {
  const out = join(outRoot, k.id, fx.id);
  rmSync(out, { recursive: true, force: true });
  const args = [cli, 'generate', fx.patch, '--tree', k.source, '--headers', k.headers, '--symbols', symbols, '--out', out, '--build'];
  const started = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = `$ klp-lens ${args.slice(1).join(' ')}\n`;
    p.stdout.on('data', (d: Buffer) => (log += d.toString()));
    p.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const timer = setTimeout(() => {
      log += `\n(killed after ${GENERATE_TIMEOUT_MS / 1000} s)`;
      p.kill('SIGKILL');
    }, GENERATE_TIMEOUT_MS);
    p.on('close', (code) => {
      clearTimeout(timer);
      log += `\n(exit ${code})`;
      const kos = existsSync(out) ? readdirSync(out).filter((f) => f.endsWith('.ko')) : [];
      const generated = /^\S+: \d+ functions?/m.test(log) && existsSync(join(out, 'Makefile'));
      const built = code === 0 && kos.length === 1;
      const name = built ? kos[0].replace(/\.ko$/, '') : undefined;
      resolve({ fixture: fx.id, kernel: k.id, generated, built, name, ko: name && join(out, kos[0]), out, log, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/** Run `jobs` with at most `width` at a time, keeping their order in the result. */
export async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return results;
}
