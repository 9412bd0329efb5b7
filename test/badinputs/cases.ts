/**
 * The bad inputs of docs/reliability.md: how each is made, the `klp-lens`
 * command a user would run on it, and what the answer must say. The unit test
 * (test/unit/badInputs.test.ts) runs every case through the real CLI and
 * checks the answer, the exit code and that it came back in bounded time;
 * `npm run bench` (bench/reliability.ts) runs them again with a resource hook
 * and prints (or, with --write, puts in the docs) the time and peak memory.
 */
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fixture, FIXTURES, TREE_DIR } from '../helpers';

export interface BadInput {
  /** Short id (file names, test names). */
  id: string;
  /** What the input is, for the table. */
  input: string;
  /** Writes the input into `dir`; returns the CLI arguments. */
  make(dir: string): string[];
  /** The answer (stdout and stderr) must match every one. */
  expect: RegExp[];
  /** Allowed exit codes. */
  exit: number[];
  /** Run the CLI as this user (unreadable files mean nothing to root). */
  uid?: number;
  /** Generous bound for the test (these machines are slow and shared); the bench measures. */
  timeoutMs: number;
}

const BASE = 'body-struct-key.patch';
const SLEEPER = readFileSync(join(FIXTURES, 'capture', 'pipe-read.patch'), 'utf8');
const CAPTURE = readFileSync(join(FIXTURES, 'capture', 'debian-6.1-qemu.raw'), 'utf8');

/** Deterministic bytes (xorshift), so every run measures the same input. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** A C function added whole, `lines` lines long: one new file in one hunk. */
function bigHunk(lines: number): string {
  const body: string[] = ['+#include <linux/kernel.h>', '+', '+int lens_big(int x)', '+{'];
  while (body.length < lines - 2) body.push(`+\tx = x * 31 + ${body.length}; /* step ${body.length} */`);
  body.push('+\treturn x;', '+}');
  return `diff --git a/drivers/misc/lens_big.c b/drivers/misc/lens_big.c\nnew file mode 100644\n--- /dev/null\n+++ b/drivers/misc/lens_big.c\n@@ -0,0 +1,${body.length} @@\n${body.join('\n')}\n`;
}

/** A function whose body nests `depth` blocks. */
function deepC(depth: number): string {
  const body = ['+int lens_deep(int x)', '+{', `+${'{ x++; '.repeat(depth)}${'}'.repeat(depth)}`, `+\treturn ${'('.repeat(depth)}x${')'.repeat(depth)};`, '+}'];
  return `diff --git a/drivers/misc/lens_deep.c b/drivers/misc/lens_deep.c\nnew file mode 100644\n--- /dev/null\n+++ b/drivers/misc/lens_deep.c\n@@ -0,0 +1,${body.length} @@\n${body.join('\n')}\n`;
}

/** A stable-release-sized diff: the fixture patches' files over and over, under new names, to `size` bytes. */
function hugePatch(size: number): string {
  const unit = fixture('plain-u.diff');
  const parts: string[] = [];
  let n = 0;
  for (let len = 0; len < size; n++) {
    const p = unit.replace(/lens_demo\.c/g, `lens_demo_${n}.c`);
    parts.push(p);
    len += p.length;
  }
  return parts.join('');
}

const model = (o: object) => JSON.stringify({ name: 'bad', extends: 'idle-server', patch: { functions: ['pipe_read'] }, ...o }, null, 2);

export const BAD_INPUTS: BadInput[] = [
  { id: 'empty', input: 'an empty file', make: (d) => (writeFileSync(join(d, 'empty.patch'), ''), ['check', join(d, 'empty.patch')]), expect: [/KLP006/, /empty|no diff/i], exit: [0], timeoutMs: 20_000 },
  { id: 'random', input: '64 KiB of random bytes', make: (d) => (writeFileSync(join(d, 'random.patch'), bytes(65536, 7)), ['check', join(d, 'random.patch')]), expect: [/KLP00[568]/], exit: [0, 1], timeoutMs: 20_000 },
  {
    id: 'binary-mbox',
    input: 'a mail archive with a base64 attachment and a NUL-laden part',
    make: (d) => {
      const att = bytes(20_000, 3);
      const text = `${fixture(BASE)}\nFrom nobody Mon Sep 17 00:00:00 2001\nSubject: logs\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n${att.toString('base64').replace(/.{76}/g, '$&\n')}\n`;
      writeFileSync(join(d, 'attach.mbox'), Buffer.concat([Buffer.from(text), att.subarray(0, 4096)]));
      return ['check', join(d, 'attach.mbox')];
    },
    expect: [/KLP005|KLP008/, /lens_read/],
    exit: [0, 1],
    timeoutMs: 20_000,
  },
  {
    id: 'truncated',
    input: 'a patch cut off in the middle of a hunk',
    make: (d) => {
      const t = fixture(BASE);
      writeFileSync(join(d, 'cut.patch'), t.slice(0, t.indexOf('+\tif (*ppos < 0)') + 8));
      return ['check', join(d, 'cut.patch')];
    },
    expect: [/KLP001/, /:\d+:\d+/],
    exit: [1],
    timeoutMs: 20_000,
  },
  {
    id: 'miscounted',
    input: 'hunk headers whose line counts are wrong',
    make: (d) => (writeFileSync(join(d, 'count.patch'), fixture(BASE).replace('@@ -21,6 +21,7 @@', '@@ -21,9 +21,2 @@')), ['check', join(d, 'count.patch')]),
    expect: [/KLP001/, /count|lines/i],
    exit: [1],
    timeoutMs: 20_000,
  },
  { id: 'crlf', input: 'the same patch with CRLF line ends', make: (d) => (writeFileSync(join(d, 'crlf.patch'), fixture(BASE).replace(/\n/g, '\r\n')), ['check', join(d, 'crlf.patch')]), expect: [/lens_read/, /KLP190/], exit: [1], timeoutMs: 20_000 },
  {
    id: 'not-utf8',
    input: 'Latin-1 bytes in the mail and invalid UTF-8 in an added line',
    make: (d) => {
      const t = Buffer.from(fixture(BASE).replace('Jane Developer <jane', 'J\u00e9r\u00f4me Dev <jane'), 'latin1');
      const bad = Buffer.from(fixture(BASE).replace('+\t\treturn -EINVAL;', '+\t\treturn -EINVAL; /* \udc80 */'), 'utf8');
      writeFileSync(join(d, 'latin1.patch'), Buffer.concat([t, Buffer.from([0xff, 0xfe, 0x0a]), bad.subarray(0, 10)]));
      return ['check', join(d, 'latin1.patch')];
    },
    expect: [/KLP005/, /lens_read/],
    exit: [0, 1],
    timeoutMs: 20_000,
  },
  { id: '50mb', input: 'a 50 MB patch (the default limit is 16 MiB)', make: (d) => (writeFileSync(join(d, 'huge.patch'), hugePatch(50e6)), ['check', join(d, 'huge.patch')]), expect: [/above --max-bytes 16777216/, /split the series or raise the limit/], exit: [2], timeoutMs: 60_000 },
  { id: 'hunk-100k', input: 'one hunk of 100,000 added lines', make: (d) => (writeFileSync(join(d, 'hunk.patch'), bigHunk(100_000)), ['check', join(d, 'hunk.patch')]), expect: [/lens_big/], exit: [0, 1], timeoutMs: 120_000 },
  { id: 'deep-c', input: 'C nested 20,000 levels deep', make: (d) => (writeFileSync(join(d, 'deep.patch'), deepC(20_000)), ['check', join(d, 'deep.patch')]), expect: [/KLP011/, /lens_deep\.c nests brackets more than 1,000 levels deep/], exit: [0, 1], timeoutMs: 60_000 },
  {
    id: 'missing-files',
    input: 'a patch against files missing from the tree',
    make: (d) => (writeFileSync(join(d, 'missing.patch'), fixture(BASE).replace(/drivers\/misc\/lens_demo\.c/g, 'drivers/misc/lens_gone.c')), ['check', '--tree', TREE_DIR, '--no-index', join(d, 'missing.patch')]),
    expect: [/KLP007/, /lens_gone\.c/],
    exit: [1],
    timeoutMs: 20_000,
  },
  {
    id: 'odd-tree',
    input: 'a tree with symlink loops, a FIFO and unreadable files (run as nobody)',
    uid: 65534,
    make: (d) => {
      const t = join(d, 'linux');
      cpSync(TREE_DIR, t, { recursive: true });
      symlinkSync('.', join(t, 'drivers', 'loop'));
      symlinkSync('../drivers', join(t, 'drivers', 'misc', 'up'));
      symlinkSync('b-link', join(t, 'kernel', 'a-link.c'));
      symlinkSync('a-link.c', join(t, 'kernel', 'b-link'));
      execFileSync('mkfifo', [join(t, 'kernel', 'lens_fifo.c')]);
      chmodSync(join(t, 'drivers', 'misc', 'lens_demo.c'), 0o000);
      mkdirSync(join(t, 'lib', 'locked'));
      writeFileSync(join(t, 'lib', 'locked', 'x.c'), 'int x;\n');
      chmodSync(join(t, 'lib', 'locked'), 0o000);
      writeFileSync(join(d, 'p.patch'), fixture(BASE));
      chmodSync(d, 0o755);
      return ['check', '--tree', t, join(d, 'p.patch')];
    },
    expect: [/KLP007/, /lens_demo\.c/],
    exit: [1],
    timeoutMs: 60_000,
  },
  {
    id: 'model-cycle',
    input: 'a model file with cycles: a program that forks itself forever, a call chain that recurses, a task that never leaves the kernel',
    make: (d) => {
      const storm = { fork: { program: [{ user: 1 }, { fork: { program: [{ user: 1 }, { fork: { program: [{ user: 2 }] } }] } }] } };
      const rec = { kernel: ['entry_SYSCALL_64', 'do_syscall_64', 'pipe_read', 'lens_a', 'lens_b', 'lens_a', 'lens_b', 'pipe_read'], ms: 2 };
      const holder = { name: 'holder', kind: 'kthread', program: [{ sleep: ['kthread', 'pipe_read'], ms: 100_000, state: 'uninterruptible' }] };
      writeFileSync(join(d, 'cycle.klpmodel.json'), model({ tasks: [{ name: 'storm', kind: 'user', program: [{ user: 1 }, storm] }, { name: 'rec', kind: 'user', program: [{ user: 3 }, rec] }, holder] }));
      writeFileSync(join(d, 'p.patch'), SLEEPER);
      return ['simulate', '--models', 'hybrid,kpatch', '--model', join(d, 'cycle.klpmodel.json'), join(d, 'p.patch')];
    },
    expect: [/hybrid\s+NOT complete/, /stalled: holder NEVER_LEAVES_KERNEL \(pipe_read\)/, /kpatch\s+FAILED/],
    exit: [0, 1],
    timeoutMs: 120_000,
  },
  {
    id: 'model-negative',
    input: 'a model file with negative times',
    make: (d) => (writeFileSync(join(d, 'neg.klpmodel.json'), model({ durationMs: -5, tasks: [{ name: 'a', kind: 'user', program: [{ user: -3 }, { sleep: ['pipe_read'], ms: -1 }] }] })), writeFileSync(join(d, 'p.patch'), SLEEPER), ['simulate', '--model', join(d, 'neg.klpmodel.json'), join(d, 'p.patch')]),
    expect: [/neg\.klpmodel\.json:\d+:\d+/, /durationMs/],
    exit: [2],
    timeoutMs: 20_000,
  },
  {
    id: 'model-million',
    input: 'a model file with a million tasks',
    make: (d) => (writeFileSync(join(d, 'million.klpmodel.json'), model({ tasks: [{ name: 'w', kind: 'user', count: 1_000_000, program: [{ user: 5 }] }] })), writeFileSync(join(d, 'p.patch'), SLEEPER), ['simulate', '--model', join(d, 'million.klpmodel.json'), join(d, 'p.patch')]),
    expect: [/million\.klpmodel\.json:\d+:\d+/, /count: must be <= 100000; found 1000000/],
    exit: [2],
    timeoutMs: 30_000,
  },
  {
    id: 'capture-malformed',
    input: 'a capture with broken task and stat lines',
    make: (d) => {
      const bad = CAPTURE.replace(/^stat 10 \(mm_percpu_wq\) I 2 .*$/m, 'stat 10 (mm_percpu_wq').replace(/^task 105 105$/m, 'task x y z');
      writeFileSync(join(d, 'bad.raw'), bad);
      writeFileSync(join(d, 'p.patch'), SLEEPER);
      return ['precheck', join(d, 'p.patch'), '--capture', join(d, 'bad.raw')];
    },
    expect: [/bad\.raw:\d+/],
    exit: [2],
    timeoutMs: 20_000,
  },
  {
    id: 'capture-truncated',
    input: 'a capture cut off half way',
    make: (d) => (writeFileSync(join(d, 'cut.raw'), CAPTURE.slice(0, Math.floor(CAPTURE.length / 2))), writeFileSync(join(d, 'p.patch'), SLEEPER), ['precheck', join(d, 'p.patch'), '--capture', join(d, 'cut.raw')]),
    expect: [/cut\.raw/, /truncated|end|incomplete/i],
    exit: [2],
    timeoutMs: 20_000,
  },
];
