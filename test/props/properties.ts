/**
 * Properties the core must keep on any input, for fast-check: `npm test`
 * runs them a bounded number of times (test/unit/properties.test.ts), `npm run
 * fuzz` runs a long campaign (test/props/campaign.fuzz.ts) and keeps every
 * failing input in test/fixtures/fuzz/, which the unit test replays.
 *
 * Inputs are real kernel-style patches (the fixtures) mutated the ways real
 * input goes wrong: truncated, lines dropped or doubled, hunk counts wrong,
 * CRLF, stray bytes and lone surrogates, macros and braces nested deep; plus
 * raw random text. The model-file and capture readers get the same treatment
 * from a valid file, and the simulator gets random small machines.
 */
import fc from 'fast-check';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzePatchSync } from '../../server/src/core/analysis';
import { parsePatch } from '../../server/src/core/patch/parse';
import { parseModelFile } from '../../server/src/core/sim/modelFile';
import { parseCapture } from '../../server/src/core/capture/parse';
import { captureToModel } from '../../server/src/core/capture/toModel';
import { simulate } from '../../server/src/core/sim/simulate';
import { KERNEL_PROFILES, type ModelSpec, type Segment, type TaskSpec } from '../../server/src/core/sim/types';
import { FIXTURES, ROOT } from '../helpers';
import { reversePatch } from './reverse';

export const PATCHES: string[] = readdirSync(join(FIXTURES, 'patches')).sort().map((n) => readFileSync(join(FIXTURES, 'patches', n), 'utf8'));
const CAPTURE = readFileSync(join(FIXTURES, 'capture', 'debian-6.1-qemu.raw'), 'utf8');
/** A valid model file: the real guest's capture as `klp-lens capture` writes it, with a patch. */
const MODEL = JSON.stringify({ ...captureToModel(parseCapture(CAPTURE).capture), patch: { functions: ['pipe_read'] } }, null, 2);

type Op = { kind: 'trunc' | 'drop' | 'dup' | 'crlf' | 'bytes' | 'count' | 'nest'; at: number; n: number };

const op: fc.Arbitrary<Op> = fc.record({ kind: fc.constantFrom('trunc', 'drop', 'dup', 'crlf', 'bytes', 'count', 'nest'), at: fc.nat(), n: fc.nat({ max: 60 }) });
const STRAY = ['\u0000', '\ud800', '\udfff', '\ufffd', '\u00e9', '\u202e', '\t', '\\', '"', '@@', '+', '-', ' '];

/** One mutation, deterministic in its parameters. */
export function applyOp(text: string, o: Op): string {
  const lines = text.split('\n');
  const k = lines.length ? o.at % lines.length : 0;
  switch (o.kind) {
    case 'trunc':
      return text.slice(0, text.length ? o.at % text.length : 0);
    case 'drop':
      lines.splice(k, 1 + (o.n % 4));
      break;
    case 'dup':
      lines.splice(k, 0, ...lines.slice(k, k + 1 + (o.n % 3)));
      break;
    case 'crlf':
      return lines.map((l, i) => ((i + o.n) % 3 === 0 ? l + '\r' : l)).join('\n');
    case 'bytes': {
      const l = lines[k] ?? '';
      const at = l.length ? o.n % (l.length + 1) : 0;
      lines[k] = l.slice(0, at) + STRAY[o.n % STRAY.length] + l.slice(at);
      break;
    }
    case 'count':
      lines[k] = (lines[k] ?? '').replace(/\d+/, String(o.n * 37));
      break;
    default: {
      // Deeply nested C in an added line: braces, parentheses, a macro of macros.
      const depth = 20 + o.n * 10;
      const shapes = ['{'.repeat(depth) + '}'.repeat(depth), `x = ${'('.repeat(depth)}1${')'.repeat(depth)};`, `#define M${o.n}(a) ${'M('.repeat(depth)}a${')'.repeat(depth)}`];
      lines.splice(k, 0, `+${shapes[o.n % shapes.length]}`);
    }
  }
  return lines.join('\n');
}

export const mutated = (bases: string[]): fc.Arbitrary<string> => fc.tuple(fc.nat({ max: bases.length - 1 }), fc.array(op, { minLength: 1, maxLength: 4 })).map(([i, ops]) => ops.reduce(applyOp, bases[i]));

export const patchText: fc.Arbitrary<string> = fc.oneof({ weight: 4, arbitrary: mutated(PATCHES) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 600 }) }, { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 600 }).map((s) => `diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n${s}`) });

type Range = { start: { line: number; character: number }; end: { line: number; character: number } };

/** A range inside the document: start before end, both on a line that exists, within its length. */
export function rangeProblem(r: Range, lines: string[]): string | undefined {
  const last = Math.max(0, lines.length - 1);
  for (const [name, p] of [['start', r.start], ['end', r.end]] as const) {
    if (!Number.isInteger(p.line) || p.line < 0 || p.line > last) return `${name} line ${p.line} outside 0..${last}`;
    if (!Number.isInteger(p.character) || p.character < 0 || p.character > (lines[p.line]?.length ?? 0)) return `${name} character ${p.character} outside line ${p.line} (length ${lines[p.line]?.length ?? 0})`;
  }
  if (r.start.line > r.end.line || (r.start.line === r.end.line && r.start.character > r.end.character)) return 'start after end';
  return undefined;
}

/** parsePatch never throws and positions every problem inside the document. */
export function parserHolds(text: string): void {
  const set = parsePatch(text);
  for (const p of set.problems) {
    const why = rangeProblem(p.range, set.lines);
    if (why) throw new Error(`problem "${p.message}": ${why}`);
  }
}

/** The analysis never throws (npm test is strict: a crashing rule throws too) and every finding and entity is in the document. */
export function analysisHolds(text: string): void {
  const a = analyzePatchSync(text, {});
  try {
    for (const f of a.findings) {
      const why = rangeProblem(f.range, a.set.lines);
      if (why) throw new Error(`${f.code} "${f.message.slice(0, 80)}": ${why}`);
      if (f.code === 'KLP012') throw new Error(`a rule crashed: ${f.message}`);
    }
    for (const e of a.files.flatMap((x) => x.entities)) {
      const why = rangeProblem(e.range, a.set.lines);
      if (why) throw new Error(`entity ${e.name}: ${why}`);
    }
  } finally {
    a.dispose();
  }
}

/** The kernel fixtures' patches: real fixes written against linux-source-6.1. */
const KERNEL_FIXTURES = join(ROOT, 'test', 'kernel', 'fixtures');
export const KERNEL_PATCHES: string[] = readdirSync(KERNEL_FIXTURES).sort().map((n) => join(KERNEL_FIXTURES, n, 'fix.patch')).filter(existsSync).map((p) => readFileSync(p, 'utf8'));
/** One-patch bases (a series reversed patch by patch is not the series' reverse). */
const SINGLE = [...PATCHES.filter((t) => (t.match(/^From [0-9a-f]{40} /gm) ?? []).length <= 1), ...KERNEL_PATCHES];

interface SideSummary {
  path: string;
  pre: (string | undefined)[];
  post: (string | undefined)[];
  entities: string[];
}

function sides(text: string): SideSummary[] {
  const a = analyzePatchSync(text, {});
  try {
    return a.files.map((f) => ({ path: f.path, pre: f.pre.lines, post: f.post.lines, entities: f.entities.map((e) => `${e.kind} ${e.name} ${e.change}`).sort() }));
  } finally {
    a.dispose();
  }
}

const FLIP: Record<string, string> = { added: 'removed', removed: 'added', changed: 'changed' };

/**
 * The image builder and the entity diff, metamorphically: the reverse patch's
 * pre-image is the forward post-image and back, and what one adds the other
 * removes (changed stays changed).
 */
export function imagesHold(text: string): void {
  const fwd = sides(text);
  const rev = sides(reversePatch(text));
  if (fwd.length !== rev.length) throw new Error(`${fwd.length} files forward, ${rev.length} reversed`);
  fwd.forEach((f, i) => {
    const r = rev[i];
    if (JSON.stringify(f.post) !== JSON.stringify(r.pre)) throw new Error(`${f.path}: the post-image is not the reverse's pre-image`);
    if (JSON.stringify(f.pre) !== JSON.stringify(r.post)) throw new Error(`${f.path}: the pre-image is not the reverse's post-image`);
    const flipped = f.entities.map((e) => e.replace(/\S+$/, (c) => FLIP[c])).sort();
    if (JSON.stringify(flipped) !== JSON.stringify(r.entities)) throw new Error(`${f.path}: entities ${JSON.stringify(flipped)} forward (flipped), ${JSON.stringify(r.entities)} reversed`);
  });
}

const SNIPPETS = ['{', '}', '\tint added_field;', 'static int lens_new(void)', '#define LENS_M(x) LENS_M2(LENS_M3(x))', '\tif (x) { if (y) { z(); } }', '/* comment', '*/', '\tstruct { int a; } anon;', '\tfoo();\r', '\u00e9\u0000\ud800', '', 'EXPORT_SYMBOL(lens_read);', '}'.repeat(30), '('.repeat(40)];

/** Rewrite the text of hunk body lines, keeping each line's marker, so the hunk counts still hold. */
function rewriteBody(text: string, picks: [number, number][]): string {
  const lines = text.split('\n');
  const body: number[] = [];
  let left = 0;
  for (let i = 0; i < lines.length; i++) {
    const h = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(lines[i]);
    if (h) left = Math.max(Number(h[1] ?? 1), Number(h[2] ?? 1));
    else if (left > 0 && /^[-+ ]/.test(lines[i])) (body.push(i), left -= lines[i][0] === ' ' ? 1 : 0.5);
    else left = 0;
  }
  for (const [at, k] of picks) {
    if (!body.length) break;
    const i = body[at % body.length];
    const mark = lines[i][0] === ' ' ? '+-'[k % 2] : lines[i][0];
    // a context line made a change on one side only would break the counts: keep context as context
    lines[i] = (lines[i][0] === ' ' ? ' ' : mark) + SNIPPETS[k % SNIPPETS.length];
  }
  return lines.join('\n');
}

export const singlePatchText: fc.Arbitrary<string> = fc.tuple(fc.nat({ max: SINGLE.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 5 })).map(([i, picks]) => rewriteBody(SINGLE[i], picks));

export const modelText: fc.Arbitrary<string> = fc.oneof({ weight: 4, arbitrary: mutated([MODEL]) }, { weight: 1, arbitrary: fc.json({ maxDepth: 4 }) });

/** The model-file reader never throws; its errors are positioned in the text. */
export function modelFileHolds(text: string): void {
  const { errors } = parseModelFile(text, 'm.klpmodel.json');
  const lines = text.split(/\r\n|\r|\n/);
  for (const e of errors) if (e.line < 1 || e.line > lines.length + 1 || e.column < 1) throw new Error(`error "${e.message}" at ${e.line}:${e.column} of ${lines.length} lines`);
}

export const captureText: fc.Arbitrary<string> = mutated([CAPTURE]);

/** The capture reader never throws; its errors name lines of the text. */
export function captureHolds(text: string): void {
  const { errors } = parseCapture(text);
  const n = text.split(/\r?\n/).length;
  for (const e of errors) if (e.line < 1 || e.line > n) throw new Error(`error "${e.message}" at line ${e.line} of ${n}`);
}

const CHAINS = [['entry_SYSCALL_64', 'do_syscall_64', 'f'], ['entry_SYSCALL_64', 'do_syscall_64', 'g'], ['kthread', 'loop', 'f'], ['kthread', 'loop', 'g'], ['kthread', 'loop', 'f1', 'f']];
const dist = fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.record({ exp: fc.integer({ min: 1, max: 2000 }) }));
const segment: fc.Arbitrary<Segment> = fc.oneof(
  dist.map((d) => ({ user: d })),
  fc.record({ kernel: fc.constantFrom(...CHAINS), ms: dist, condResched: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }), preempted: fc.option(fc.boolean(), { nil: undefined }) }),
  fc.record({ sleep: fc.constantFrom(...CHAINS), ms: dist, state: fc.constantFrom('interruptible' as const, 'uninterruptible' as const, 'killable' as const) }),
) as fc.Arbitrary<Segment>;
const task = (i: number): fc.Arbitrary<TaskSpec> =>
  fc.record({ kind: fc.constantFrom('user' as const, 'kthread' as const), cpu: fc.oneof(fc.nat({ max: 3 }), fc.constant('any' as const)), program: fc.array(segment, { minLength: 1, maxLength: 4 }) }).map((t) => ({ name: `t${i}`, ...t }));

/** Small random machines: 1–4 CPUs, up to 6 tasks, any kernel profile, maybe a force, reverse or disable. */
export const machineSpec: fc.Arbitrary<ModelSpec> = fc
  .record({
    kernel: fc.constantFrom(...KERNEL_PROFILES),
    cpus: fc.integer({ min: 1, max: 4 }),
    tasks: fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => task(i)))),
    dataSemantics: fc.boolean(),
    action: fc.option(fc.record({ atMs: fc.integer({ min: 200, max: 20_000 }), do: fc.constantFrom('force' as const, 'reverse' as const, 'disable' as const) }), { nil: undefined }),
    seed: fc.nat(),
  })
  .map(({ kernel, cpus, tasks, dataSemantics, action, seed }) => ({
    name: 'prop',
    kernel,
    arch: { name: 'x86_64', reliableStacktrace: true, unwinder: 'orc' as const },
    cpus,
    durationMs: 30_000,
    patch: { functions: ['f', 'f1'], dataSemantics },
    tasks: tasks.map((t) => ({ ...t, cpu: t.cpu === 'any' || (t.cpu ?? 0) < cpus ? t.cpu : 0 })),
    ...(action ? { actions: [action] } : {}),
    seed,
  }));

/** The simulator's invariants (issue: research note sections 3.13, 5, 7). */
export function simulatorHolds(spec: ModelSpec): void {
  const a = simulate(spec, { seed: spec.seed, models: ['hybrid', 'kpatch', 'ksplice'] });
  const b = simulate(spec, { seed: spec.seed, models: ['hybrid', 'kpatch', 'ksplice'] });
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error('the same seed gave two different results');
  const forced = spec.actions?.some((x) => x.do === 'force') ?? false;
  for (const m of a.models) {
    if ((m.name === 'kpatch' || m.name === 'ksplice') && m.violationCounts.V3 > 0) throw new Error(`${m.name} produced a V3`);
    if (m.name === 'hybrid' && !forced && m.violationCounts.U > 0) throw new Error(`hybrid switched a task with a patched function on its stack without force: ${m.violations.find((v) => v.class === 'U')?.explanation}`);
    // A completed transition has no pending task (the stall list then belongs to a later unpatching, which has its own).
    if (m.completed && !m.unpatching && m.stalledCount !== 0) throw new Error(`${m.name} completed with ${m.stalledCount} tasks pending`);
    if (m.unpatching?.completed && m.unpatching.stalledCount !== 0) throw new Error(`${m.name}: the unpatching completed with ${m.unpatching.stalledCount} tasks pending`);
  }
}

export interface Property<T> {
  name: string;
  arb: fc.Arbitrary<T>;
  check: (x: T) => void | Promise<void>;
  /** Runs in npm test (the campaign multiplies). */
  runs: number;
  /** How a failing input is kept as a regression fixture, and read back. */
  save: (x: T) => string;
  load: (s: string) => T;
}

const asText = { save: (x: string) => x, load: (s: string) => s };

export const PROPERTIES: Property<unknown>[] = [
  { name: 'parser', arb: patchText, check: parserHolds, runs: 3000, ...asText },
  { name: 'analysis', arb: patchText, check: analysisHolds, runs: 1500, ...asText },
  { name: 'images', arb: singlePatchText, check: imagesHold, runs: 400, ...asText },
  { name: 'model-file', arb: modelText, check: modelFileHolds, runs: 1500, ...asText },
  { name: 'capture', arb: captureText, check: captureHolds, runs: 800, ...asText },
  { name: 'simulator', arb: machineSpec, check: simulatorHolds, runs: 400, save: (x: ModelSpec) => JSON.stringify(x, null, 2), load: (s: string) => JSON.parse(s) as ModelSpec },
] as Property<unknown>[];
