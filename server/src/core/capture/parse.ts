/**
 * Reader of the raw snapshot capture.sh writes (format in script.ts). Never
 * throws: a malformed or truncated snapshot comes back with positioned errors
 * (1-based lines), and whatever was read before the damage.
 */

/** One observation of one task in one sample. */
export interface TaskSample {
  pid: number;
  tid: number;
  comm: string;
  /** The state letter of /proc/PID/stat: R, S, D, I, T, t, Z, X, K, W, P. */
  state: string;
  ppid: number;
  /** PF_KTHREAD in the flags. */
  kthread: boolean;
  /** The CPU it last ran on. */
  cpu: number;
  /** Kernel stack, outermost first, function names only; empty when none was shown. */
  stack: string[];
  /** Why the stack could not be read (permissions, lockdown), when it could not. */
  stackError?: string;
  /** How many times it has been put on a CPU (the third field of /proc/PID/schedstat), when known. */
  timeslices?: number;
  /** Its run time and its time waiting on a runqueue, ns (the first two fields of /proc/PID/schedstat). */
  runNs?: number;
  waitNs?: number;
}

export interface Sample {
  index: number;
  /** /proc/uptime, seconds. */
  uptime: number;
  /** /proc/schedstat's timestamp (jiffies), when there is one. */
  jiffies?: number;
  tasks: TaskSample[];
}

export interface RawCapture {
  version: number;
  release: string;
  machine: string;
  node: string;
  config: Record<string, string>;
  configFrom?: string;
  cpusOnline?: number[];
  cpusPossible?: number[];
  livepatches: { name: string; enabled: string; transition: string }[];
  self?: number;
  samples: Sample[];
  /** The `end` line was there (the script was not cut short). */
  complete: boolean;
}

export interface CaptureError {
  line: number;
  message: string;
}

const PF_KTHREAD = 0x00200000;
/** Parsing stops after this many errors. */
const MAX_ERRORS = 20;

/** "0-3,5,7-8" → [0,1,2,3,5,7,8]; undefined when it is not such a list. */
export function cpuList(s: string): number[] | undefined {
  const out: number[] = [];
  if (s.trim() === '') return [];
  for (const part of s.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 8192) return undefined;
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

/** A /proc/PID/stat line; undefined when it is not one. */
export function parseStat(line: string): Omit<TaskSample, 'tid' | 'stack'> | undefined {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 1 || close < open) return undefined;
  const pid = Number(line.slice(0, open).trim());
  const f = line.slice(close + 1).trim().split(/\s+/);
  if (!Number.isInteger(pid) || f.length < 7 || !/^[A-Za-z]$/.test(f[0])) return undefined;
  const flags = Number(f[6]);
  const cpu = f.length > 36 ? Number(f[36]) : 0;
  if (!Number.isFinite(flags)) return undefined;
  return { pid, comm: line.slice(open + 1, close), state: f[0], ppid: Number(f[1]), kthread: (flags & PF_KTHREAD) !== 0, cpu: Number.isInteger(cpu) && cpu >= 0 ? cpu : 0 };
}

/** "[<0>] pipe_read+0x2e6/0x430 [mod]" → "pipe_read". */
export function frameName(line: string): string | undefined {
  const m = /^(?:\[<[0-9a-fx]+>\]\s*)?([A-Za-z_.$][\w.$]*)(?:\+0x[0-9a-f]+\/0x[0-9a-f]+)?/.exec(line.trim());
  return m?.[1];
}

class Reader {
  readonly errors: CaptureError[] = [];
  readonly cap: RawCapture = { version: 0, release: '', machine: '', node: '', config: {}, livepatches: [], samples: [], complete: false };
  private sample?: Sample;
  private task?: { pid: number; tid: number; frames: string[]; stackError?: string; stat?: Omit<TaskSample, 'tid' | 'stack'>; timeslices?: number; runNs?: number; waitNs?: number; line: number };

  error(line: number, message: string): void {
    if (this.errors.length < MAX_ERRORS) this.errors.push({ line, message });
  }

  flushTask(): void {
    const t = this.task;
    this.task = undefined;
    if (!t || !this.sample) return;
    if (!t.stat) return this.error(t.line, `task ${t.pid}/${t.tid} has no stat line`);
    this.sample.tasks.push({ ...t.stat, tid: t.tid, stack: t.frames.reverse(), ...(t.stackError ? { stackError: t.stackError } : {}), ...(t.timeslices !== undefined ? { timeslices: t.timeslices, runNs: t.runNs, waitNs: t.waitNs } : {}) });
  }

  line(n: number, text: string): void {
    const sp = text.indexOf(' ');
    const key = sp < 0 ? text : text.slice(0, sp);
    const rest = sp < 0 ? '' : text.slice(sp + 1);
    if (n === 1) {
      if (key !== 'klp-capture') return this.error(1, 'not a klp-lens capture (the first line must be "klp-capture 1"): run the script klp-lens capture --print-script writes');
      this.cap.version = Number(rest);
      if (this.cap.version !== 1) this.error(1, `capture format ${rest} is not supported (this klp-lens reads format 1)`);
      return;
    }
    if (this.task && (key === 'stat' || key === 'schedstat' || key === 'k' || key === 'stack-error')) return this.taskLine(n, key, rest);
    this.flushTask();
    this.topLine(n, key, rest);
  }

  private taskLine(n: number, key: string, rest: string): void {
    const t = this.task!;
    if (key === 'stat') {
      t.stat = parseStat(rest);
      if (!t.stat) this.error(n, `task ${t.pid}/${t.tid}: not a /proc/PID/stat line`);
    } else if (key === 'schedstat') {
      const [run, wait, n3] = rest.trim().split(/\s+/).map(Number);
      if ([run, wait, n3].every((x) => Number.isSafeInteger(x) && x >= 0)) Object.assign(t, { timeslices: n3, runNs: run, waitNs: wait });
      else this.error(n, `task ${t.pid}/${t.tid}: "schedstat ${rest.slice(0, 40)}" is not run time, wait time and a count`);
    } else if (key === 'k') {
      const name = frameName(rest);
      if (name) t.frames.push(name);
    } else t.stackError = rest.trim() || 'unreadable';
  }

  private topLine(n: number, key: string, rest: string): void {
    const c = this.cap;
    switch (key) {
      case 'uname': {
        const [release = '', machine = '', node = ''] = rest.split(' ');
        Object.assign(c, { release, machine, node });
        return;
      }
      case 'config': {
        const eq = rest.indexOf('=');
        if (eq > 0) c.config[rest.slice(0, eq)] = rest.slice(eq + 1);
        return;
      }
      case 'config-from':
        c.configFrom = rest;
        return;
      case 'config-missing':
        return;
      case 'cpus': {
        const [which, list = ''] = rest.split(' ');
        const cpus = cpuList(list);
        if (!cpus) return this.error(n, `"${list}" is not a CPU list`);
        if (which === 'online') c.cpusOnline = cpus;
        else if (which === 'possible') c.cpusPossible = cpus;
        return;
      }
      case 'livepatch': {
        const [name = '', enabled = '-', transition = '-'] = rest.split(' ');
        c.livepatches.push({ name, enabled, transition });
        return;
      }
      case 'self':
        c.self = Number(rest);
        return;
      case 'sample':
        return this.sampleLine(n, rest);
      case 'task':
        return this.taskStart(n, rest);
      case 'end':
        c.complete = true;
        return;
      default:
        this.error(n, `unknown line "${key.slice(0, 40)}"`);
    }
  }

  private sampleLine(n: number, rest: string): void {
    const [idx, up, j] = rest.split(' ');
    const uptime = Number(up);
    if (!Number.isFinite(uptime)) return this.error(n, `sample ${idx}: "${up}" is not an uptime`);
    this.sample = { index: Number(idx), uptime, ...(j && j !== '-' && Number.isFinite(Number(j)) ? { jiffies: Number(j) } : {}), tasks: [] };
    this.cap.samples.push(this.sample);
  }

  private taskStart(n: number, rest: string): void {
    const [pid, tid] = rest.split(' ').map(Number);
    if (!this.sample) return this.error(n, 'a task before any sample line');
    if (!Number.isInteger(pid) || !Number.isInteger(tid)) return this.error(n, `"task ${rest}": pid and tid must be numbers`);
    this.task = { pid, tid, frames: [], line: n };
  }
}

/** Reads a raw snapshot. `text` may have CRLF line ends. */
export function parseCapture(text: string): { capture: RawCapture; errors: CaptureError[] } {
  const r = new Reader();
  const lines = text.split(/\r?\n/);
  if (text.includes('\0')) r.error(1, 'binary data: not a capture');
  else
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] !== '') r.line(i + 1, lines[i]);
      if (i === 0 && r.errors.length) break;
    }
  r.flushTask();
  const c = r.cap;
  if (!r.errors.length) {
    if (!c.release) r.error(1, 'no "uname" line: the kernel release is unknown');
    if (c.samples.length === 0) r.error(lines.length, 'no samples: the capture was cut short before any task was read');
    else if (!c.complete) r.error(lines.length, `the capture is truncated (no "end" line after ${c.samples.length} sample${c.samples.length === 1 ? '' : 's'}): capture again`);
  }
  return { capture: c, errors: r.errors };
}
