/**
 * A guest: a busybox initramfs with a generated /init, booted under qemu
 * (TCG, 2 vCPUs) with the real Debian kernel image. The console (ttyS0) is
 * kept for the log; the guest writes its results to a second serial port
 * (ttyS1), which qemu writes to a file. Every boot has a hard timeout: qemu is
 * killed, never waited on forever.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'taskset', 'kill', 'cat', 'echo', 'grep', 'sed', 'cut', 'mount', 'insmod', 'rmmod', 'lsmod', 'dmesg', 'sleep', 'uname', 'poweroff', 'stty', 'awk', 'ls', 'gzip', 'wc', 'head', 'tail', 'tr', 'test', '['];

/** A staging directory that becomes the initramfs. */
export class Initramfs {
  readonly dir = mkdtempSync(join(tmpdir(), 'klp-lens-initramfs-'));

  constructor() {
    for (const d of ['bin', 'dev', 'proc', 'sys', 'tmp', 'lp', 'fx', 'mod']) mkdirSync(join(this.dir, d));
    if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: apt-get install busybox-static`);
    copyFileSync(BUSYBOX, join(this.dir, 'bin', 'busybox'));
    for (const a of APPLETS) symlinkSync('busybox', join(this.dir, 'bin', a));
  }

  add(rel: string, data: string | Buffer, mode = 0o644): void {
    const p = join(this.dir, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, data);
    chmodSync(p, mode);
  }

  /** newc cpio, gzip'd. */
  pack(out: string): string {
    const r = spawnSync('sh', ['-c', `cd "${this.dir}" && find . | cpio -o -H newc --quiet | gzip -1 > "${out}"`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cpio/gzip failed: ${r.stderr}`);
    return out;
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Copy a module of the image and everything it depends on into the initramfs; returns the load order. */
export function addModule(ir: Initramfs, modulesDir: string, name: string, order: string[] = []): string[] {
  if (order.includes(name)) return order;
  const found = spawnSync('find', [join(modulesDir, 'kernel'), '-name', `${name}.ko*`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  const alt = found.length ? found : spawnSync('find', [join(modulesDir, 'kernel'), '-name', `${name.replace(/_/g, '-')}.ko*`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  if (alt.length === 0) throw new Error(`module ${name} is not in ${modulesDir}`);
  const file = alt[0];
  const data = file.endsWith('.xz') ? spawnSync('xz', ['-dc', file], { maxBuffer: 64 << 20 }).stdout : readFileSync(file);
  if (!data?.length) throw new Error(`cannot decompress ${file}`);
  const deps = spawnSync('modinfo', ['-F', 'depends', file], { encoding: 'utf8' }).stdout.trim();
  for (const d of deps.split(',').filter(Boolean)) addModule(ir, modulesDir, d, order);
  ir.add(`mod/${name}.ko`, data);
  order.push(name);
  return order;
}

export interface BootResult {
  console: string;
  /** What the guest wrote to ttyS1. */
  serial: Buffer;
  timedOut: boolean;
  seconds: number;
}

/** Boot `vmlinuz` with `initrd` and wait for power-off (or the timeout). */
export function boot(vmlinuz: string, initrd: string, timeoutMs: number): Promise<BootResult> {
  const work = mkdtempSync(join(tmpdir(), 'klp-lens-boot-'));
  const serial = join(work, 'ttyS1');
  const args = ['-m', '1024', '-smp', '2', '-accel', 'tcg', '-kernel', vmlinuz, '-initrd', initrd, '-append', 'console=ttyS0 quiet panic=-1', '-nographic', '-no-reboot', '-serial', 'stdio', '-serial', `file:${serial}`, '-monitor', 'none'];
  const started = Date.now();
  return new Promise((resolve) => {
    const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    q.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    q.stderr.on('data', (d: Buffer) => (out += d.toString('latin1')));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      q.kill('SIGKILL');
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      const data = existsSync(serial) ? readFileSync(serial) : Buffer.alloc(0);
      rmSync(work, { recursive: true, force: true });
      resolve({ console: out.replace(/\r/g, ''), serial: data, timedOut, seconds: (Date.now() - started) / 1000 });
    };
    q.on('error', (e) => {
      out += `\nqemu-system-x86_64 could not run: ${e.message}`;
      finish();
    });
    q.on('close', finish);
  });
}

/** The /init prologue every guest script starts with. */
export const INIT_HEAD = ['#!/bin/sh', 'mount -t proc proc /proc', 'mount -t sysfs sys /sys', 'mount -t devtmpfs dev /dev', 'stty -F /dev/ttyS1 raw -echo', 'export PATH=/bin'];

export function initrdPath(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  return join(dir, `${basename(name)}.cpio.gz`);
}

/**
 * Boots the staged initramfs, keeps the console and ttyS1 as `<prefix>console.log` and
 * `<prefix>serial.log` in `logs`, parses ttyS1 with `parse`, and notes a timeout or an early stop.
 */
export async function bootGuest<R extends { done: boolean; notes: string[] }>(vmlinuz: string, ir: Initramfs, logs: string, name: string, prefix: string, timeoutMs: number, parse: (serial: string) => R): Promise<R> {
  const r = await boot(vmlinuz, ir.pack(initrdPath(logs, name)), timeoutMs);
  writeFileSync(join(logs, `${prefix}console.log`), r.console);
  writeFileSync(join(logs, `${prefix}serial.log`), r.serial);
  const report = parse(r.serial.toString('latin1'));
  if (r.timedOut) report.notes.push(`the guest timed out after ${timeoutMs / 1000} s`);
  if (!report.done) report.notes.push(`the guest stopped before the end; console tail:\n${r.console.slice(-2000)}`);
  return report;
}
