/**
 * The reference every live patch is measured against: reboot (or kexec) into
 * the fixed kernel. No mixed execution at all, at the price of the downtime:
 * every task is gone, the machine is back after rebootMs.
 */
import { Run, type ConsistencyModel } from '../engine';
import type { Version } from '../world';
import type { ModelResult } from '../types';

export const reboot: ConsistencyModel = {
  id: 'reboot',
  title: 'reboot / kexec reference: no mixing, full downtime',
  run: (m, opts) => new RebootRun(m, opts).go(),
};

class RebootRun extends Run {
  constructor(...a: ConstructorParameters<typeof Run>) {
    super(...a);
    this.oracle.collect = false;
  }

  resolve(): Version {
    return 0;
  }
  go(): ModelResult {
    const down = this.timing.rebootMs;
    this.pause(down);
    this.log(this.t0, undefined, 'reboot', `every task stops; the machine runs the new kernel after ${down / 1000} s`);
    this.notes.push(`downtime ${down / 1000} s: every connection and in-memory state is lost`);
    const done = this.t0 + down;
    this.lane('all contexts', 'global', this.t0, 'gone', 'rebooting');
    this.lane('all contexts', 'global', done, 'new', 'running the new kernel');
    return this.result('reboot', done, { postPatchAtMs: done });
  }
}
