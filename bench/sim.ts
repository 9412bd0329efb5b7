/**
 * Simulator benchmark (run by `npm run bench`, or alone: node out/bench/sim.js [--fleet N]):
 *
 * - events simulated per second;
 * - a 64-CPU, ~10,000-task web server over 120 s of modeled time under all
 *   eight models (target < 2 s), against a baseline measured in the same run:
 *   walking every task's whole 120 s timeline once (what a simulator that
 *   does not skip would pay per model);
 * - a fleet of 10,000 machines (target < 60 s on 2 cores) on worker threads.
 */
import { availableParallelism } from 'node:os';
import { builtinProfile, taskCount } from '../server/src/core/sim/profiles';
import { simulate } from '../server/src/core/sim/simulate';
import { buildMachine, Cursor, type CursorHost } from '../server/src/core/sim/world';
import { runFleet } from '../server/src/core/sim/fleetPool';
import { MODEL_IDS, type ModelSpec } from '../server/src/core/sim/types';

const PATCH = { functions: ['tcp_sendmsg_locked', 'tcp_recvmsg_locked'], dataSemantics: true };

function fullWalk(spec: ModelSpec): { ms: number; events: number } {
  const t = performance.now();
  const m = buildMachine(spec, 1);
  const host: CursorHost = { resolve: () => 0 };
  let events = 0;
  for (const task of m.tasks) {
    const c = new Cursor(task, m, host);
    c.stepTo(spec.durationMs ?? 120_000);
    events += c.steps;
  }
  return { ms: performance.now() - t, events };
}

async function main() {
  const fleetN = Number(process.argv[process.argv.indexOf('--fleet') + 1]) || 10_000;
  // The web server profile has ~9,970 tasks; batch workers make it exactly 10,000.
  const web = builtinProfile('web-server-64', { patch: PATCH });
  const fill = 10_000 - taskCount(web);
  const spec = fill > 0 ? builtinProfile('web-server-64', { patch: PATCH, extraTasks: [{ name: 'batch-worker', kind: 'user', count: fill, program: [{ user: { exp: 50 } }, { kernel: ['entry_SYSCALL_64', 'do_syscall_64', '__x64_sys_write', 'ksys_write', 'vfs_write'], ms: { exp: 0.2 } }] }] }) : web;
  console.log(`simulator: web-server-64, ${spec.cpus} CPUs, ${taskCount(spec)} tasks, 120 s modeled, patch ${PATCH.functions.join(', ')} (data semantics)`);
  simulate(spec, { seed: 99, models: ['hybrid'] }); // warm-up
  const stats = { events: 0 };
  const t0 = performance.now();
  const r = simulate(spec, { seed: 1 }, stats);
  const all = performance.now() - t0;
  const base = fullWalk(spec);
  console.log(`  all ${MODEL_IDS.length} models: ${(all / 1000).toFixed(2)} s (target < 2 s: ${all < 2000 ? 'met' : 'NOT met'}), ${stats.events.toLocaleString('en-US')} events, ${Math.round(stats.events / (all / 1000)).toLocaleString('en-US')} events/s`);
  console.log(`  baseline, one full walk of every timeline: ${(base.ms / 1000).toFixed(2)} s for ${base.events.toLocaleString('en-US')} events (${Math.round(base.events / (base.ms / 1000)).toLocaleString('en-US')} events/s); all models cost ${(all / base.ms).toFixed(2)}× one full walk (${((all / base.ms) / MODEL_IDS.length).toFixed(2)}× per model)`);
  for (const m of r.models) {
    const one = { events: 0 };
    const t = performance.now();
    simulate(spec, { seed: 1, models: [m.name] }, one);
    const ms = performance.now() - t;
    console.log(`    ${m.name.padEnd(12)} ${ms.toFixed(0).padStart(5)} ms ${one.events.toLocaleString('en-US').padStart(10)} events  ${m.completed ? `done ${m.completionTimeMs} ms after enable` : m.failed ? 'load failed' : 'stalled'}${m.stalledCount ? `, ${m.stalledCount} stalled` : ''}, pauses ${m.pauses.count}, V2 ${m.violationCounts.V2}, V3 ${m.violationCounts.V3}`);
  }

  const threads = availableParallelism();
  const t1 = performance.now();
  const f = await runFleet({ kind: 'mix', patch: PATCH, tasks: [] }, { machines: fleetN, seed: 1, models: ['hybrid'], threads });
  const fleetMs = performance.now() - t1;
  const h = f.models[0];
  console.log(`  fleet of ${fleetN.toLocaleString('en-US')} machines (${f.mix.map((x) => `${x.machines} ${x.profile}`).join(', ')}), hybrid, ${threads} worker threads: ${(fleetMs / 1000).toFixed(1)} s (target < 60 s: ${fleetMs < 60_000 ? 'met' : 'NOT met'}), ${(fleetMs / fleetN).toFixed(2)} ms per machine`);
  console.log(`    completion p50 ${h.p50Ms} ms, p99 ${h.p99Ms} ms, max ${h.maxMs} ms; stalled > 60 s ${(h.stalledPast60s * 100).toFixed(1)}%, would need force ${(h.needsForce * 100).toFixed(1)}%`);
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
