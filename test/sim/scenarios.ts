/**
 * The twelve golden scenarios of ../shared/research/consistency-models.md
 * section 10 as modeled machines. f, f1, f2 are in the patched set; g is not.
 */
import type { ModelSpec, Segment, TaskSpec } from '../../server/src/core/sim/types';

const SYS = ['entry_SYSCALL_64', 'do_syscall_64', '__x64_sys_ioctl'];
const orc = { name: 'x86_64', reliableStacktrace: true, unwinder: 'orc' as const };

/** A quiet background: a shell and a daemon that never touch the patch. */
export function background(): TaskSpec[] {
  return [
    { name: 'sshd', kind: 'user', cpu: 0, program: [{ user: { exp: 2 } }, { kernel: [...SYS.slice(0, 2), '__x64_sys_read', 'tcp_recvmsg'], ms: 0.05 }, { sleep: [...SYS.slice(0, 2), '__x64_sys_epoll_wait', 'ep_poll'], ms: { exp: 300 } }] },
    { name: 'kworker/1:0', kind: 'kthread', cpu: 1, program: [{ kernel: ['kthread', 'worker_thread', 'process_one_work'], ms: 0.2 }, { sleep: ['kthread', 'worker_thread'], ms: { exp: 50 } }] },
  ];
}

export function machine(over: Partial<ModelSpec> & Pick<ModelSpec, 'tasks'>): ModelSpec {
  return {
    name: 'golden',
    kernel: '6.4',
    arch: orc,
    cpus: 4,
    patch: { functions: ['f'] },
    durationMs: 60_000,
    ...over,
  };
}

/** T sleeps in f for `ms`, entered through a system call, from time 0. */
export function sleeperIn(chain: string[], ms: number, state: 'interruptible' | 'uninterruptible' = 'interruptible', after: Segment[] = []): TaskSpec {
  return {
    name: 'T',
    kind: 'user',
    cpu: 2,
    phase: 'start',
    program: [{ kernel: [...SYS, ...chain], ms: 0.02 }, { sleep: [...SYS, ...chain], ms, state }, ...after, { user: 600_000 }],
  };
}

export const SCENARIOS = {
  /** 1: idle box, nothing in S(P) on any stack. */
  idle: (): ModelSpec => machine({ tasks: background() }),
  /** 2: user task T sleeps interruptibly inside f (for a minute). */
  sleepInF: (): ModelSpec => machine({ tasks: [...background(), sleeperIn(['f'], 60_000)] }),
  /** 3: as 2 but in D state for X ms. */
  dStateInF: (x: number): ModelSpec => machine({ tasks: [...background(), sleeperIn(['f'], x, 'uninterruptible')] }),
  /** 4: kthread K busy in g, calls cond_resched every ms, never sleeps. */
  busyKthread: (kernel: ModelSpec['kernel'], unwinder: 'orc' | 'fp' = 'orc', preempted = false): ModelSpec =>
    machine({
      kernel,
      arch: { ...orc, unwinder },
      tasks: [
        ...background(),
        {
          name: 'K',
          kind: 'kthread',
          cpu: 3,
          program: preempted
            ? [{ kernel: ['kthread', 'k_main', 'g'], ms: { uniform: [400, 1000] }, condResched: 1 }, { kernel: ['kthread', 'k_main', 'g'], ms: { uniform: [100, 500] }, preempted: true }]
            : [{ kernel: ['kthread', 'k_main', 'g'], ms: 1000, condResched: 1 }],
        },
      ],
    }),
  /** 5: one syscall calls f1, returns, sleeps in g, calls f2. */
  mixedEpisode: (): ModelSpec =>
    machine({
      patch: { functions: ['f1', 'f2'] },
      tasks: [
        ...background(),
        {
          name: 'T',
          kind: 'user',
          cpu: 2,
          phase: 'start',
          program: [
            { user: 50 },
            { kernel: [...SYS, 'f1'], ms: 0.05 },
            { sleep: [...SYS, 'g'], ms: 3000, state: 'uninterruptible' },
            { kernel: [...SYS, 'f2'], ms: 0.05 },
          ],
        },
      ],
    }),
  /** 6: f1 calls f2; T sleeps inside f2 (then f1 calls f2 again). */
  nested: (): ModelSpec =>
    machine({
      kernel: '6.4',
      patch: { functions: ['f1', 'f2'] },
      tasks: [...background(), sleeperIn(['f1', 'f2'], 10_000, 'uninterruptible', [{ kernel: [...SYS, 'f1'], ms: 0.05 }, { kernel: [...SYS, 'f1', 'f2'], ms: 0.05 }])],
    }),
  /** 7: the patch changes data semantics; T1 and T2 share the data f touches. */
  dataSemantics: (): ModelSpec =>
    machine({
      patch: { functions: ['f'], dataSemantics: true },
      tasks: [
        ...background(),
        { name: 'T1', kind: 'user', cpu: 2, program: [{ user: { exp: 20 } }, { kernel: [...SYS, 'f'], ms: { exp: 2 } }] },
        // T2 is inside f when the patch is enabled, then out of it a third of the time.
        {
          name: 'T2',
          kind: 'user',
          cpu: 3,
          phase: 'start',
          program: [{ sleep: [...SYS, 'g', 'f'], ms: { uniform: [500, 1500] }, state: 'uninterruptible' }, { user: { uniform: [1500, 2500] } }, { kernel: [...SYS, 'g'], ms: 0.1 }],
        },
      ],
    }),
  /** 8: an IRQ handler calls f on a CPU whose task T has not switched. */
  irqOnUnswitched: (): ModelSpec =>
    machine({
      patch: { functions: ['f'], dataSemantics: true },
      irqs: [{ cpus: [3], everyMs: 10, stack: ['common_interrupt', 'handle_irq', 'f'], ms: 0.01 }],
      tasks: [
        ...background(),
        { name: 'T', kind: 'kthread', cpu: 3, program: [{ kernel: ['kthread', 'busy_main', 'g'], ms: 120_000 }] },
        { name: 'W', kind: 'user', cpu: 2, program: [{ user: { exp: 5 } }, { kernel: [...SYS, 'f'], ms: 0.5 }] },
      ],
    }),
  /** 9: force during scenario 2 (old f, after waking, calls f2). */
  force: (): ModelSpec =>
    machine({
      kernel: '6.1',
      patch: { functions: ['f', 'f2'] },
      actions: [{ atMs: 5000, do: 'force' }],
      tasks: [...background(), sleeperIn(['f'], 8000, 'uninterruptible', [{ kernel: [...SYS, 'f', 'f2'], ms: 0.05 }])],
    }),
  /** 10: reverse in the middle of scenario 2's transition. */
  reverse: (): ModelSpec =>
    machine({
      patch: { functions: ['f'], callbacks: true },
      actions: [{ atMs: 5000, do: 'reverse' }],
      tasks: [...background(), sleeperIn(['f'], 60_000, 'uninterruptible')],
    }),
  /** 11: fork during the transition; the parent is blocked in f, the child runs. */
  fork: (): ModelSpec =>
    machine({
      kernel: '6.1',
      tasks: [
        ...background(),
        {
          name: 'P',
          kind: 'user',
          cpu: 2,
          phase: 'start',
          program: [
            { kernel: [...SYS, '__x64_sys_clone', 'kernel_clone'], ms: 500 },
            { fork: { name: 'C', program: [{ kernel: ['ret_from_fork'], ms: 0.01 }, { user: 500 }, { kernel: [...SYS, 'f'], ms: 0.1 }, { exit: true }] } },
            { sleep: [...SYS, 'f'], ms: 3000, state: 'uninterruptible' },
            { user: 100_000 },
          ],
        },
      ],
    }),
  /** 12: an arch without reliable stacktraces; a kthread and a user task. */
  noReliable: (actions?: ModelSpec['actions']): ModelSpec =>
    machine({
      ...(actions ? { actions } : {}),
      kernel: '6.1',
      arch: { name: 'ppc32', reliableStacktrace: false, unwinder: 'fp' },
      tasks: [...background(), { name: 'user', kind: 'user', cpu: 2, program: [{ user: { exp: 10 } }, { kernel: [...SYS, 'g'], ms: 0.1 }] }],
    }),
};
