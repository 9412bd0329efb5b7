/** Run one bad input through the real CLI (optionally with the resource hook) and collect the answer. */
import { spawnSync } from 'node:child_process';
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

export function runBadInput(c: BadInput, cli: string, dir: string, hook?: string): BadInputRun {
  const args = c.make(dir);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...(hook ? ['--require', hook] : []), cli, ...args], {
    encoding: 'utf8',
    timeout: c.timeoutMs,
    maxBuffer: 1 << 30,
    env: { ...process.env, NO_COLOR: '1' },
    ...(c.uid !== undefined && process.getuid?.() === 0 ? { uid: c.uid, gid: c.uid } : {}),
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
