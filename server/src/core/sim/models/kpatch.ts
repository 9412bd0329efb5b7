/**
 * kpatch.ko, the original kpatch core module (research note section 5):
 * stop_machine(kpatch_apply_patch) checks every thread's stack with the
 * best-effort unwinder (64 entries) against the old functions; a hit is
 * EBUSY. The kpatch tool retries the load 5 times, 2 s apart (plus the insmod
 * time); after the fifth failure the module is unloaded. Success switches
 * every context at once, post_patch inside the window.
 */
import { timingOf, type ConsistencyModel } from '../engine';
import { StopMachineRun } from './stopMachine';

export const kpatch: ConsistencyModel = {
  id: 'kpatch',
  title: 'kpatch.ko: stop_machine + stack check, 5 tries',
  run: (m, opts) => {
    const t = timingOf(m);
    const attempts = Array.from({ length: t.kpatchAttempts }, (_, k) => k * (t.kpatchRetryMs + t.insmodMs));
    return new StopMachineRun(m, opts, {
      id: 'kpatch',
      attempts,
      frameLimit: 64,
      busy: 'EBUSY',
      failMessage: (f) => `kpatch: activeness safety check failed for ${f}: the load failed after ${t.kpatchAttempts} attempts and the module was unloaded`,
    }).go();
  },
};
