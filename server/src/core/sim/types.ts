/**
 * The simulator's vocabulary: a modeled machine (the `*.klpmodel.json` file
 * format, also built from a patch), and what a run reports. Names and
 * semantics follow ../shared/research/consistency-models.md (section 1):
 * task kinds, sleep states, kernel entry episodes, switch mechanisms,
 * violation classes U and V1–V4.
 *
 * Times are milliseconds of modeled time from the start of the run; the patch
 * is enabled at `enableAtMs`.
 */

/** A duration: fixed, exponential with a mean, or uniform in [min, max]. */
export type Dist = number | { exp: number } | { uniform: [number, number] };

/** One step of a task's behaviour program. */
export type Segment =
  /** Running in user mode. */
  | { user: Dist }
  /** Running in the kernel with this call chain (outermost first). */
  | {
      kernel: string[];
      ms: Dist;
      /** Calls cond_resched() every this many ms. */
      condResched?: number;
      /**
       * The share of the time it holds its CPU while in this step (default 1); the rest it waits to run
       * there, given up at a cond_resched() (voluntary preemption), so an attempt can catch it off the CPU
       * and check its stack. klp-lens capture measures it from /proc/PID/schedstat (run time over run
       * plus wait time).
       */
      onCpu?: number;
      /** Off the CPU, preempted inside the kernel (an interrupt frame on its stack). */
      preempted?: boolean;
      /** A frame the reliable unwinder rejects. */
      unreliable?: boolean;
      /** Extra frames below the named ones (deep call chains). */
      depth?: number;
      /** A kthread's annotated safe point (kGraft's kgr_task_safe) at the end of this step. */
      safePoint?: boolean;
    }
  /** Asleep in the kernel with this call chain. */
  | {
      sleep: string[];
      ms: Dist;
      state?: 'interruptible' | 'uninterruptible' | 'killable';
      /** TASK_FREEZABLE (wait_event_freezable, try_to_freeze). */
      freezable?: boolean;
      /** A wake-up by a fake signal: a user task leaves the kernel and restarts the call ("exit", the default for user tasks); a kthread re-checks and sleeps again ("resleep", its default) or leaves the function ("leave"). */
      onSignal?: 'exit' | 'resleep' | 'leave';
      unreliable?: boolean;
      depth?: number;
    }
  /** Forks a child that runs this program (inherits the livepatch state). */
  | { fork: { name?: string; program: Segment[] } }
  /** The task exits (a zombie from then on). */
  | { exit: true };

export type TaskKind = 'user' | 'kthread';

export interface TaskSpec {
  name: string;
  kind: TaskKind;
  /** How many identical tasks (each with its own random durations). */
  count?: number;
  /** The CPU it runs on, or spread over all CPUs. */
  cpu?: number | 'any';
  /** Where in its program it is at time 0: a random point of its first cycle (default), or its start. */
  phase?: 'random' | 'start';
  /** Its behaviour; repeated forever unless it exits. */
  program: Segment[];
}

export interface IrqSpec {
  /** The CPUs that take it. */
  cpus: number[] | 'all';
  everyMs: number;
  /** The handler's call chain. */
  stack: string[];
  /** How long the handler runs. */
  ms?: number;
}

export type KernelProfile = '4.0' | '4.12' | '4.15' | '5.1' | '5.16' | '6.1' | '6.4' | '6.16';

export interface ArchProfile {
  name: string;
  reliableStacktrace: boolean;
  unwinder: 'orc' | 'fp';
  /** Reliable traces of this many entries or more count as unreliable (MAX_STACK_ENTRIES). */
  maxStackEntries?: number;
}

export interface PatchSpec {
  /** The patched set S(P). */
  functions: string[];
  /** The patch changes data semantics: old and new code must not overlap (V3 is a hazard). */
  dataSemantics?: boolean;
  /** Pairs of functions that touch the same data (V3 between them is a hazard). */
  sharedData?: [string, string][];
  /** Functions with ftrace or kprobe users (direct-jump patching conflicts with them). */
  traced?: string[];
  /** A cumulative patch with atomic replace (5.1+): it replaces every earlier patch. */
  replace?: boolean;
  /** Nop functions of a cumulative replace: functions earlier patches changed that this one reverts to the original. */
  nops?: string[];
  /** The patch has pre/post (un)patch callbacks (their timing is reported). */
  callbacks?: boolean;
}

export type AdminAction = 'force' | 'reverse' | 'disable';

export interface RunnerSpec {
  /** The CPU the attempts run on. */
  cpu?: number;
  /** A task of the model that is that context (a captured insmod or shell): it is never reported RUNNING by its own attempts. */
  task?: string;
}

export interface ModelSpec {
  name: string;
  /** Kernel version profile for the upstream models. */
  kernel: KernelProfile;
  arch: ArchProfile;
  cpus: number;
  /** CPUs that are offline (their idle tasks switch at once). */
  offlineCpus?: number;
  /**
   * Each CPU's mean time between passes through its idle loop, in ms (a pending idle task switches
   * there). klp-lens capture measures it; a CPU without one uses timing.idleWakeMs.
   */
  idleLoopMs?: number[];
  /** How long to model, from the start (default 120 s). */
  durationMs?: number;
  /** When the patch is enabled (default 100 ms). */
  enableAtMs?: number;
  patch: PatchSpec;
  tasks: TaskSpec[];
  irqs?: IrqSpec[];
  actions?: { atMs: number; do: AdminAction }[];
  /**
   * The context that runs each attempt (upstream livepatch): insmod for attempt 0, the kworker
   * running klp_transition_work for the retries, the shell writing `enabled` or `force`. It is
   * `current` on its CPU: it passes its own check, and that CPU's idle task (and a task it
   * preempted) is checked off the CPU. Default: CPU 0, no task of the model.
   */
  runner?: RunnerSpec;
  /**
   * The jiffies clock at the enable: HZ and the value. The retries land on whole jiffies seconds
   * (round_jiffies_relative), so their phase comes from it. Default: the run's clock, 100 ms into a second.
   */
  jiffies?: { hz: number; atEnable: number };
  /** The machine was captured by `klp-lens capture`: what was seen, and what could not be. */
  capture?: CaptureInfo;
  /** Model-specific constants (kGraft timeout, stop_machine cost, …). */
  timing?: Partial<Timing>;
  /** The seed when none is given on the command line. */
  seed?: number;
}

/** Where a captured model came from (`klp-lens capture`). */
export interface CaptureInfo {
  release: string;
  machine: string;
  node: string;
  samples: number;
  intervalMs: number;
  /** Threads seen (the capture's own processes left out). */
  tasks: number;
  preemption: string;
  hz?: number;
  /** Livepatches already loaded: /sys/kernel/livepatch/NAME, enabled and transition. */
  livepatches: { name: string; enabled: string; transition: string }[];
  /** CONFIG_LIVEPATCH=y, when the config was seen. */
  livepatchConfigured?: boolean;
  /** What the capture could not see, one sentence each. */
  unseen: string[];
}

/** Timing constants (research note 3.7, 5.5, 6.6, 7.1, 8.1). */
export interface Timing {
  /** Hybrid: delay between attempts. */
  retryMs: number;
  /** Hybrid: fake signals on every this many attempts (SIGNALS_TIMEOUT). */
  signalsEvery: number;
  /** Mean time between an idle CPU's passes through its idle loop, without a captured idleLoopMs (before 5.16 nothing kicks it). */
  idleWakeMs: number;
  /**
   * Hybrid: the cost of checking one task in an attempt, µs. The idle tasks come last, at the attempt's
   * time plus this for each task checked (qemu TCG, Debian 6.1, 56 threads: the idle tasks were reached
   * 0.3 to 1.8 ms after klp_start_transition, median 0.55 ms).
   */
  stackCheckUs: number;
  /**
   * Hybrid, 6.4–6.15 on x86: how long klp_start_transition takes to rewrite the cond_resched() static
   * calls before attempt 0, ms. Each call site is live from a point in it (uniform), so a kthread busy
   * with cond_resched() usually switches itself before attempt 0 checks it (qemu TCG, Debian 6.12:
   * 33 to 89 ms from "starting patching transition" to attempt 0).
   */
  condReschedRewriteMs: number;
  /** Null model: cost of one ftrace (un)registration. */
  nullPerFunctionMs: number;
  /** kGraft: the completion check period (KGR_TIMEOUT). */
  kgraftTimeoutMs: number;
  /** kpatch.ko: retries, their spacing and the insmod time. */
  kpatchAttempts: number;
  kpatchRetryMs: number;
  insmodMs: number;
  /** stop_machine: fixed cost, per CPU, and per thread-frame checked. */
  stopBaseMs: number;
  stopPerCpuMs: number;
  stopPerFrameUs: number;
  /** Ksplice: tries and their spacing. */
  kspliceTries: number;
  kspliceRetryMs: number;
  /** Masami's refcount kpatch: grace periods to wait, and one's length. */
  refcountGracePeriods: number;
  gracePeriodMs: number;
  /** Reboot / kexec reference: the downtime. */
  rebootMs: number;
}

export const DEFAULT_TIMING: Timing = {
  retryMs: 1000,
  signalsEvery: 15,
  idleWakeMs: 250,
  stackCheckUs: 10,
  condReschedRewriteMs: 30,
  nullPerFunctionMs: 5,
  kgraftTimeoutMs: 2000,
  kpatchAttempts: 5,
  kpatchRetryMs: 2000,
  insmodMs: 100,
  stopBaseMs: 0.5,
  stopPerCpuMs: 0.05,
  stopPerFrameUs: 0.02,
  kspliceTries: 5,
  kspliceRetryMs: 1000,
  refcountGracePeriods: 128,
  gracePeriodMs: 20,
  rebootMs: 90000,
};

export type ModelId = 'null' | 'hybrid' | 'kgraft' | 'kpatch' | 'ksplice' | 'refcount' | 'direct-jump' | 'reboot';

export const MODEL_IDS: readonly ModelId[] = ['null', 'hybrid', 'kgraft', 'kpatch', 'ksplice', 'refcount', 'direct-jump', 'reboot'];

/** The built-in machines (profiles.ts builds them). */
export const PROFILE_NAMES = ['idle-server', 'web-server-64', 'storage-box', 'no-reliable-stacktrace'] as const;

export const KERNEL_PROFILES: readonly KernelProfile[] = ['4.0', '4.12', '4.15', '5.1', '5.16', '6.1', '6.4', '6.16'];

/**
 * Arch profiles a request can pick (research note 3.9). Frame-pointer style
 * unwinders (x86 with frame pointers, and the reliable unwinders of powerpc,
 * s390 and arm64, which stop at exception frames) cannot vouch for a task
 * preempted in the kernel; ORC can.
 */
export const ARCH_PROFILES: Record<string, ArchProfile> = {
  x86_64: { name: 'x86_64', reliableStacktrace: true, unwinder: 'orc' },
  'x86_64-fp': { name: 'x86_64 (frame pointers)', reliableStacktrace: true, unwinder: 'fp' },
  ppc64le: { name: 'ppc64le', reliableStacktrace: true, unwinder: 'fp' },
  s390x: { name: 's390x', reliableStacktrace: true, unwinder: 'fp' },
  arm64: { name: 'arm64', reliableStacktrace: true, unwinder: 'fp' },
  loongarch64: { name: 'loongarch64', reliableStacktrace: true, unwinder: 'orc' },
  'no-reliable-stacktrace': { name: 'no reliable stacktrace', reliableStacktrace: false, unwinder: 'fp' },
};


export type SwitchMechanism = 'STACK_CHECK' | 'EXIT_TO_USER' | 'IDLE_LOOP' | 'SCHED_HOOK' | 'FORK_INHERIT' | 'FORCE' | 'OFFLINE_CPU' | 'KGR_SAFE_POINT' | 'GLOBAL' | 'REBOOT';

export type StallReason =
  | 'RUNNING'
  | 'UNRELIABLE_STACK'
  | 'IN_USE'
  | 'NO_RELIABLE_STACKTRACE'
  | 'NEVER_LEAVES_KERNEL'
  | 'NOT_ANNOTATED'
  /** kGraft: a user task that has not crossed the kernel boundary yet. */
  | 'IN_KERNEL'
  /** refcount: a running task that did not context-switch within the grace periods. */
  | 'NO_CONTEXT_SWITCH';

export type ViolationClass = 'U' | 'V1' | 'V2' | 'V3' | 'V4';

export interface Violation {
  class: ViolationClass;
  task: string;
  /** The functions involved (and their versions). */
  functions: string[];
  timeMs: number;
  explanation: string;
  /** The minimal explaining trace: the calls and switches that make the violation. */
  steps: { timeMs: number; task: string; event: string }[];
}

export interface ModelResult {
  name: ModelId;
  /** The transition (or the global switch) finished within the modeled time. */
  completed: boolean;
  /** From enable to completion, or null. */
  completionTimeMs: number | null;
  pauses: { count: number; maxMs: number; totalMs: number };
  retries: number;
  signalsSent: number;
  /** When the fake signals went out, ms after enable (the first 20 rounds). */
  signalsAtMs?: number[];
  /** Tasks that blocked the transition at its end (at most 20 listed; stalledCount has them all). */
  stalledTasks: { task: string; reason: StallReason; function?: string }[];
  stalledCount: number;
  /** Tasks that held the transition up and switched in the end (the last 5 to switch): what held them and what switched them. */
  heldBy?: HeldBy[];
  violations: Violation[];
  /** Every violation found, by class (the list above keeps the first per task, at most 10 per class). */
  violationCounts: Record<ViolationClass, number>;
  /** A reverse (during the patching transition) or a disable (after it): the unpatching transition's own outcome. */
  unpatching?: UnpatchResult;
  /** The patch module can still be removed (not forced; since 5.18 only a forced unpatching blocks removal). */
  removable: boolean;
  /** The load failed (stop-the-world models that gave up), with the reason. */
  failed?: string;
  /** A global instant when all code is new (post-patch callback), when there is one. */
  postPatchAtMs?: number | null;
  /** Callbacks that ran, with their times (patch.callbacks). */
  callbacks?: { name: 'pre_patch' | 'post_patch' | 'pre_unpatch' | 'post_unpatch'; atMs: number }[];
  /** What the model could not do on this kernel/arch, or simplifications it made. */
  notes?: string[];
  trace?: TraceEvent[];
  /**
   * With --trace: a lane per context (task, idle task, or "all contexts" / a
   * function for the models that switch globally or per function) with its
   * state changes. At most 200 lanes: the tasks that held the transition,
   * those that call patched code, then the rest in order.
   */
  timeline?: Lane[];
  /** How many lanes there were before the cap. */
  timelineLanes?: number;
}

export type HeldBy = { task: string; reason: StallReason; function?: string; switchedAtMs: number; mechanism: string };

export interface UnpatchResult {
  trigger: 'reverse' | 'disable';
  /** When it started, ms after enable. */
  startedAfterEnableMs: number;
  completed: boolean;
  /** From its start to its completion. */
  completionTimeMs: number | null;
  /** The tasks that held it up and switched in the end (the last 5). */
  heldBy?: HeldBy[];
  /** A reverse: the tasks that held the patching transition when it was reversed (at most 20). */
  reversedWhileHeldBy?: { task: string; reason: StallReason; function?: string }[];
  /** The tasks still holding it at the end of the run. */
  stalledTasks: { task: string; reason: StallReason; function?: string }[];
  stalledCount: number;
}

export type LaneState = 'old' | 'pending' | 'new' | 'gone';

export interface Lane {
  task: string;
  kind: 'user' | 'kthread' | 'idle' | 'global' | 'function';
  /** State changes in time order; the lane starts "old" at 0. */
  changes: { timeMs: number; state: LaneState; why?: string }[];
}

export interface TraceEvent {
  timeMs: number;
  task?: string;
  event: string;
  detail?: string;
}

export interface SimResult {
  model: string;
  seed: number;
  kernel: KernelProfile;
  arch: string;
  /** When the patch was enabled (ms from the start of the run): every time in the text output is measured from it. */
  enableAtMs: number;
  models: ModelResult[];
}
