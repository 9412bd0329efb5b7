/**
 * Ksplice (research note section 7): up to 5 tries of
 * stop_machine(__apply_patches), 1 s apart. Each scans every word of every
 * non-running task's kernel stack (a conservative scan, no unwinder limit)
 * for addresses inside the whole patched set; a hit is CODE_BUSY. After the
 * last busy try: "Aborted. stack check: to-be-replaced code is busy".
 */
import { timingOf, type ConsistencyModel } from '../engine';
import { StopMachineRun } from './stopMachine';

export const ksplice: ConsistencyModel = {
  id: 'ksplice',
  title: 'Ksplice: stop_machine + conservative stack scan, 5 tries',
  run: (m, opts) => {
    const t = timingOf(m);
    return new StopMachineRun(m, opts, {
      id: 'ksplice',
      attempts: Array.from({ length: t.kspliceTries }, (_, k) => k * t.kspliceRetryMs),
      frameLimit: Infinity,
      busy: 'CODE_BUSY',
      failMessage: (f) => `Aborted. stack check: to-be-replaced code is busy (${f}) after ${t.kspliceTries} tries`,
    }).go();
  },
};
