/**
 * Direct-jump patching without ftrace: a jump written over the old
 * function's first instruction inside stop_machine, after a full stack check
 * (the kpatch.ko schedule of retries). It cannot coexist with ftrace or
 * kprobe users of the function: their site is the bytes the jump overwrites,
 * so a patched function with such users is refused up front.
 */
import { timingOf, type ConsistencyModel } from '../engine';
import { StopMachineRun } from './stopMachine';

export const directJump: ConsistencyModel = {
  id: 'direct-jump',
  title: 'direct jump (no ftrace): stop_machine + stack check',
  run: (m, opts) => {
    const t = timingOf(m);
    return new StopMachineRun(m, opts, {
      id: 'direct-jump',
      attempts: Array.from({ length: t.kpatchAttempts }, (_, k) => k * (t.kpatchRetryMs + t.insmodMs)),
      frameLimit: Infinity,
      busy: 'EBUSY',
      failMessage: (f) => `stack check failed for ${f} on every attempt: the jump was not written`,
      precheck: (run) => {
        const traced = (m.spec.patch.traced ?? []).filter((f) => run.m.patched.has(f));
        return traced.length
          ? `${traced.join(', ')} ${traced.length > 1 ? 'have' : 'has'} ftrace or kprobe users: a direct jump over the function's entry would overwrite their call site (use an ftrace-based livepatch)`
          : undefined;
      },
    }).go();
  },
};
