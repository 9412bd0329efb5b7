/**
 * Capture benchmark (run by `npm run bench`, or alone: node out/bench/capture.js):
 *
 * - capture → simulate for a 10,000-task machine: a raw snapshot (3 samples)
 *   built from the real Debian 6.1 guest capture in test/fixtures/capture,
 *   its threads copied with new pids until there are 10,000, parsed,
 *   converted and prechecked (the hybrid run). Baseline in the same run: one
 *   pass splitting the snapshot into lines (what any reader of it pays).
 * - a fleet over 1,000 captures (*.raw files in a temporary folder, every
 *   tenth with a reader asleep in the patched function) under the hybrid
 *   model. Baseline in the same run: the same number of machines as copies of
 *   one converted capture (no files to read and convert).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCapture } from '../server/src/core/capture/parse';
import { captureToModel } from '../server/src/core/capture/toModel';
import { modelFromRaw } from '../server/src/core/capture/load';
import { precheck } from '../server/src/core/sim/precheck';
import { captureFleet } from '../server/src/core/sim/session';
import { runFleet } from '../server/src/core/sim/fleetPool';
import { composeModel } from '../server/src/core/sim/compose';
import { availableParallelism } from 'node:os';
import { repoRoot } from '../test/helpers';

const RAW = readFileSync(join(repoRoot(), 'test', 'fixtures', 'capture', 'debian-6.1-qemu.raw'), 'utf8');
const PATCH = { functions: ['pipe_read'] };

/** Splits a snapshot into its header and one block of lines per sample, each block a list of task records. */
function blocks(raw: string): { head: string[]; samples: { line: string; tasks: string[][] }[] } {
  const head: string[] = [];
  const samples: { line: string; tasks: string[][] }[] = [];
  for (const l of raw.split('\n')) {
    if (l.startsWith('sample ')) samples.push({ line: l, tasks: [] });
    else if (!samples.length) head.push(l);
    else if (l.startsWith('task ')) samples[samples.length - 1].tasks.push([l]);
    else if (l === 'end' || l === '') continue;
    else samples[samples.length - 1].tasks[samples[samples.length - 1].tasks.length - 1]?.push(l);
  }
  return { head, samples };
}

/** The guest's threads copied with fresh pids until the machine has `n`; `sleeper` keeps the cat in pipe_read. */
function scaled(n: number, sleeper: boolean): string {
  const { head, samples } = blocks(RAW);
  const out = [...head];
  for (const s of samples) {
    out.push(s.line);
    const tasks = s.tasks.filter((t) => sleeper || !/\(cat\)/.test(t[1] ?? ''));
    for (let i = 0; i < n; i++) {
      const t = tasks[i % tasks.length];
      const copy = Math.floor(i / tasks.length);
      if (copy === 0) out.push(...t);
      else {
        const pid = 100_000 + i;
        out.push(`task ${pid} ${pid}`, t[1].replace(/^stat \d+ /, `stat ${pid} `), ...t.slice(2));
      }
    }
  }
  out.push('end');
  return out.join('\n') + '\n';
}

function captureToSimulate(): void {
  const raw = scaled(10_001, true); // the capture's own shell is left out: 10,000 tasks
  const t0 = performance.now();
  const lines = raw.split('\n').length;
  const base = performance.now() - t0;
  const t1 = performance.now();
  const { capture, errors } = parseCapture(raw);
  if (errors.length) throw new Error(errors[0].message);
  const model = captureToModel(capture);
  const t2 = performance.now();
  const r = precheck(model as never, PATCH);
  const t3 = performance.now();
  const total = t3 - t1;
  console.log(`capture: a ${model.tasks.length.toLocaleString('en-US')}-task capture (${(raw.length / 1048576).toFixed(1)} MiB raw, ${lines.toLocaleString('en-US')} lines, 3 samples)`);
  console.log(`  capture → simulate: ${total.toFixed(0)} ms (parse + convert ${(t2 - t1).toFixed(0)} ms, precheck ${(t3 - t2).toFixed(0)} ms): ${r.verdict}, ${r.holders.length} holders, ${r.completionTimeMs} ms after enable`);
  console.log(`  baseline, splitting the snapshot into lines: ${base.toFixed(1)} ms; capture → simulate costs ${(total / base).toFixed(1)}× that`);
}

async function fleetOfCaptures(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'klp-bench-captures-'));
  try {
    const withCat = scaled(56, true);
    const without = scaled(55, false);
    const files: string[] = [];
    for (let i = 0; i < n; i++) {
      const f = join(dir, `m${String(i).padStart(4, '0')}.raw`);
      writeFileSync(f, i % 10 === 0 ? withCat : without);
      files.push(f);
    }
    const threads = availableParallelism();
    const t0 = performance.now();
    const specs = captureFleet(files, { patch: PATCH, tasks: [] });
    const loaded = performance.now() - t0;
    const f = await runFleet({ kind: 'captures', specs }, { machines: specs.length, seed: 1, models: ['hybrid'], threads });
    const total = performance.now() - t0;
    const one = composeModel(modelFromRaw(without, 'm'), { patch: PATCH, tasks: [] });
    const t1 = performance.now();
    await runFleet({ kind: 'model', spec: one }, { machines: n, seed: 1, models: ['hybrid'], threads });
    const base = performance.now() - t1;
    const h = f.models[0];
    console.log(`  fleet of ${n.toLocaleString('en-US')} captures (${threads} threads): ${(total / 1000).toFixed(2)} s (reading and converting ${(loaded / 1000).toFixed(2)} s); ${f.carriers} carriers, hybrid p50 ${h.p50Ms} ms, max ${h.maxMs} ms`);
    console.log(`  baseline, ${n.toLocaleString('en-US')} copies of one converted capture: ${(base / 1000).toFixed(2)} s; the captured fleet costs ${(total / base).toFixed(2)}× that`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  captureToSimulate();
  await fleetOfCaptures(1000);
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
