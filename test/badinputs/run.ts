/** Run one bad input through the real CLI (optionally with the resource hook) and collect the answer. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BadInput } from './cases';

export interface BadInputRun {
  code: number | null;
  /** stdout and stderr, the hook's line removed. */
  out: string;
  /** Wall time of the whole process, as the parent saw it. */
  ms: number;
  /** Peak resident memory, when run with the hook. */
  peakMiB?: number;
  timedOut: boolean;
  /** The CLI arguments the case made. */
  args: string[];
}

/**
 * The CLI bundle (its .js and .wasm files) copied into `dir`, for a run as another user: the
 * checkout may sit in a folder only root can enter (a fresh clone in mktemp -d does).
 */
function portableCli(cli: string, hook: string | undefined, dir: string): { cli: string; hook?: string } {
  const bin = join(dir, 'klp-lens-bin');
  mkdirSync(bin, { mode: 0o755 });
  for (const f of readdirSync(dirname(cli))) if (/\.(js|wasm)$/.test(f)) copyFileSync(join(dirname(cli), f), join(bin, f));
  if (hook) copyFileSync(hook, join(bin, 'rusage-hook.js'));
  return { cli: join(bin, 'cli.js'), hook: hook ? join(bin, 'rusage-hook.js') : undefined };
}

export function runBadInput(c: BadInput, cliPath: string, dir: string, hookPath?: string): BadInputRun {
  const args = c.make(dir);
  const asOther = c.uid !== undefined && process.getuid?.() === 0;
  const { cli, hook } = asOther ? portableCli(cliPath, hookPath, dir) : { cli: cliPath, hook: hookPath };
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...(hook ? ['--require', hook] : []), cli, ...args], {
    encoding: 'utf8',
    timeout: c.timeoutMs,
    maxBuffer: 1 << 30,
    env: { ...process.env, NO_COLOR: '1' },
    ...(asOther ? { uid: c.uid, gid: c.uid } : {}),
  });
  const ms = performance.now() - t0;
  let err = r.stderr ?? '';
  let peakMiB: number | undefined;
  const m = /\nKLP_RUSAGE (\{.*\})\n?$/.exec(err);
  if (m) {
    peakMiB = (JSON.parse(m[1]) as { maxRssKiB: number }).maxRssKiB / 1024;
    err = err.slice(0, m.index);
  }
  return { code: r.status, out: `${r.stdout ?? ''}${err}`, ms, peakMiB, timedOut: r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT', args };
}
