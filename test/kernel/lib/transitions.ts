/**
 * Real livepatch transitions against the simulator's predictions.
 *
 * The guest loads the test target (transitions/target), then for each
 * scenario: sets the workload up (a reader asleep in lens_sleep_f, or a
 * kthread busy on CPU 1), captures the machine with the script `klp-lens
 * capture --print-script` prints, writes a jiffies marker to /dev/kmsg, loads
 * the scenario's livepatch, acts (force, reverse) at its time, and waits for
 * the transition's end or the scenario's window. The shell is pinned to CPU 0
 * so the attempts run there. Livepatch's pr_debug lines (dynamic debug) give
 * each attempt's holders. Everything goes to ttyS1 as LENS- lines.
 *
 * The host turns each capture into a model, gives it what the test did (the
 * jiffies clock at the enable, the action times, the window), simulates it with
 * the CLI over 100 seeds, and compares with the dmesg timeline: one of the
 * simulated runs must agree with the real one on everything.
 */
import { outcomeOf, type RunOutcome } from '../../../server/src/core/sim/outcomes';
import type { ModelResult } from '../../../server/src/core/sim/types';

export type Action = 'force' | 'reverse';

export interface Scenario {
  /** The research note's golden scenario number. */
  golden: number;
  id: string;
  title: string;
  /** Livepatch module (transitions/livepatch/<lp>.c) and its patch (transitions/patches/<patch>.patch). */
  lp: string;
  patch: string;
  setup: 'none' | 'sleeper' | 'busy';
  action?: { do: Action; afterMs: number };
  /** How long the test waits for the transition (from the enable). */
  windowMs: number;
}

export const SCENARIOS: Scenario[] = [
  { golden: 1, id: 's1-idle', title: 'idle box, nothing in the patched set on any stack', lp: 'lens_lp_answer', patch: 'answer', setup: 'none', windowMs: 10_000 },
  { golden: 2, id: 's2-sleeper', title: 'a user task asleep interruptibly inside f', lp: 'lens_lp_sleep', patch: 'sleep', setup: 'sleeper', windowMs: 25_000 },
  { golden: 6, id: 's6-nested', title: 'f1 calls f2; the task sleeps inside f2', lp: 'lens_lp_nested', patch: 'nested', setup: 'sleeper', windowMs: 25_000 },
  { golden: 9, id: 's9-force', title: 'force during scenario 2', lp: 'lens_lp_sleep', patch: 'sleep', setup: 'sleeper', action: { do: 'force', afterMs: 3000 }, windowMs: 10_000 },
  { golden: 10, id: 's10-reverse', title: 'reverse in the middle of scenario 2', lp: 'lens_lp_sleep', patch: 'sleep', setup: 'sleeper', action: { do: 'reverse', afterMs: 3000 }, windowMs: 10_000 },
  { golden: 4, id: 's4-busy-kthread', title: 'a kthread busy in g, calling cond_resched(), never sleeping', lp: 'lens_lp_answer', patch: 'answer', setup: 'busy', windowMs: 5000 },
];

const SCENARIO_SH = String.raw`
say() { echo "$*" >&3; }
ticks_of() { echo $(( $1 / 200 )); }
scenario() { # id lp setup action action_ms window_ms
  id=$1; lp=$2; setup=$3; action=$4; at=$(ticks_of $5); window=$(ticks_of $6)
  d=/sys/kernel/livepatch/$lp
  echo sleep > /proc/lens_target/ctl
  reader=
  case $setup in
    sleeper) cat /proc/lens_target/sleep > /dev/null & reader=$! ;;
    busy) echo busy > /proc/lens_target/ctl ;;
  esac
  sleep 1
  sh /capture.sh 2 0.2 > /tmp/cap 2>&1 || say "LENS-T-NOTE id=$id capture failed: $(head -n 3 /tmp/cap | tr '\n' ' ')"
  sed "s/^/LENS-CAP id=$id /" /tmp/cap >&3
  dmesg -c > /dev/null
  echo > $T/trace
  echo "LENS-JIFFIES $(sed -n 's/^timestamp //p' /proc/schedstat)" > /dev/kmsg
  insmod /lp/$lp.ko > /tmp/out 2>&1 || say "LENS-T-NOTE id=$id insmod: $(tr '\n' ' ' < /tmp/out)"
  t=0; acted=0
  while [ $t -lt $window ]; do
    if [ $acted = 0 ] && [ $action != none ] && [ $t -ge $at ]; then
      acted=1
      # Act mid-way between retries (they land near whole jiffies seconds, ±25 ms by the CPU they run on).
      n=0
      while [ $n -lt 60 ]; do
        j=$(( $(sed -n 's/^timestamp //p' /proc/schedstat) % $HZ ))
        [ $j -ge $((HZ * 2 / 5)) ] && [ $j -le $((HZ * 3 / 5)) ] && break
        sleep 0.05; n=$((n + 1))
      done
      echo "LENS-ACT $action" > /dev/kmsg
      if [ $action = force ]; then echo 1 > $d/force; else echo 0 > $d/enabled; fi
    fi
    if [ ! -d $d ] || [ "$(cat $d/transition 2>/dev/null)" = 0 ]; then break; fi
    sleep 0.2
    t=$((t + 1))
  done
  echo "LENS-END" > /dev/kmsg
  dmesg > /tmp/dmesg
  sed "s/^/LENS-DM id=$id /" /tmp/dmesg >&3
  grep klp_try_complete_transition $T/trace | sed "s/^/LENS-TR id=$id /" >&3
  echo wake > /proc/lens_target/ctl
  [ $setup = busy ] && echo stop > /proc/lens_target/ctl
  [ -n "$reader" ] && wait $reader
  if [ -d $d ]; then
    echo 0 > $d/enabled 2>/dev/null
    i=0; while [ -d $d ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
  fi
  rm=0; rmmod $lp > /tmp/out 2>&1 && rm=1
  say "LENS-T-END id=$id rmmod=$rm $(tr '\n' ' ' < /tmp/out)"
}
`;

/** The /init body after INIT_HEAD. */
export function transitionScript(scenarios: Scenario[]): string[] {
  return [
    'exec 3>/dev/ttyS1',
    SCENARIO_SH,
    'taskset -p 1 $$ > /dev/null',
    "HZ=$(sed -n 's/^CONFIG_HZ=//p' /boot/config-$(uname -r))",
    'HZ=${HZ:-250}',
    "echo 'file kernel/livepatch/transition.c +p' > /proc/dynamic_debug/control || say 'LENS-T-NOTE no dynamic debug'",
    // Each attempt is a call of klp_try_complete_transition: the function tracer stamps it with the printk clock.
    'T=/sys/kernel/tracing',
    'mount -t tracefs nodev $T',
    'echo klp_try_complete_transition > $T/set_ftrace_filter || say "LENS-T-NOTE klp_try_complete_transition is not traceable"',
    // printk stamps with local_clock(); the "global" trace clock is the same clock ("local" is raw sched_clock).
    'echo global > $T/trace_clock',
    'echo function > $T/current_tracer',
    'insmod /mod/lens_target.ko > /tmp/out 2>&1 || say "LENS-T-NOTE lens_target: $(cat /tmp/out)"',
    'say "LENS-BOOT $(uname -r)"',
    ...scenarios.map((s) => `scenario ${s.id} ${s.lp} ${s.setup} ${s.action?.do ?? 'none'} ${s.action?.afterMs ?? 0} ${s.windowMs}`),
    'say LENS-DONE',
    'exec 3>&-',
    'sync',
    'poweroff -f',
  ];
}

export interface GuestScenario {
  capture: string;
  dmesg: string[];
  /** Function-tracer lines: the attempts. */
  trace: string[];
  removable: boolean;
  notes: string[];
  ended: boolean;
}

export function parseTransitionGuest(serial: string): { kernel?: string; done: boolean; notes: string[]; scenarios: Map<string, GuestScenario> } {
  const out = { kernel: undefined as string | undefined, done: false, notes: [] as string[], scenarios: new Map<string, GuestScenario>() };
  const get = (id: string) => {
    let s = out.scenarios.get(id);
    if (!s) out.scenarios.set(id, (s = { capture: '', dmesg: [], trace: [], removable: false, notes: [], ended: false }));
    return s;
  };
  for (const raw of serial.split('\n')) {
    const line = raw.replace(/\r$/, '');
    let m: RegExpExecArray | null;
    if ((m = /^LENS-BOOT (\S+)/.exec(line))) out.kernel = m[1];
    else if (line === 'LENS-DONE') out.done = true;
    else if ((m = /^LENS-CAP id=(\S+) (.*)$/.exec(line))) get(m[1]).capture += m[2] + '\n';
    else if ((m = /^LENS-DM id=(\S+) (.*)$/.exec(line))) get(m[1]).dmesg.push(m[2]);
    else if ((m = /^LENS-TR id=(\S+) (.*)$/.exec(line))) get(m[1]).trace.push(m[2]);
    else if ((m = /^LENS-T-END id=(\S+) rmmod=(\d)(.*)$/.exec(line))) Object.assign(get(m[1]), { ended: true, removable: m[2] === '1', ...(m[3].trim() ? { notes: [...get(m[1]).notes, `rmmod: ${m[3].trim()}`] } : {}) });
    else if ((m = /^LENS-T-NOTE id=(\S+) (.*)$/.exec(line))) get(m[1]).notes.push(m[2]);
    else if ((m = /^LENS-T-NOTE (.*)$/.exec(line))) out.notes.push(m[1]);
  }
  return out;
}

/** What the real kernel did, times in ms after attempt 0 (the first klp_try_complete_transition). */
export interface Timeline {
  outcome: 'complete' | 'reversed' | 'stalled';
  /** The attempt that completed the transition (or the unpatching after a reverse). */
  completionMs: number | null;
  /** When the kernel printed "patching complete" ("unpatching complete"): the attempt plus the cost of completing. */
  completePrintedMs: number | null;
  signalMs: number | null;
  /** The last task an attempt reported as holding the transition ("comm:pid"), or null. */
  holder: string | null;
  holderWhy?: string;
  actionMs: number | null;
  /** The jiffies clock at attempt 0. */
  startJiffies: number;
  attempts: number[];
  /** From "starting patching transition" to attempt 0. */
  startToAttempt0Ms: number;
  /** The end of the observation window (the guest's LENS-END marker), or null. */
  endMs: number | null;
}

const stamp = (line: string): { t: number; msg: string } | undefined => {
  const m = /^\[\s*(\d+\.\d+)\]\s?(.*)$/.exec(line);
  return m ? { t: Number(m[1]) * 1000, msg: m[2] } : undefined;
};

/** "insmod-412 [000] ..... 12.345678: klp_try_complete_transition <-klp_enable_patch" → ms. */
const traceTime = (line: string): number | undefined => {
  const m = /\s(\d+\.\d+): klp_try_complete_transition/.exec(line);
  return m ? Number(m[1]) * 1000 : undefined;
};

/** The dmesg and trace lines of one scenario → its timeline; throws when a landmark is missing. */
export function timelineOf(dmesg: string[], trace: string[], lp: string, hz: number): Timeline {
  const ev = dmesg.map(stamp).filter((e): e is { t: number; msg: string } => !!e);
  const find = (re: RegExp) => ev.find((e) => re.test(e.msg));
  const start = find(new RegExp(`'${lp}': starting patching transition`));
  const marker = find(/LENS-JIFFIES (\d+)/);
  const calls = trace.map(traceTime).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
  if (!start || !marker) throw new Error(`no ${start ? 'LENS-JIFFIES marker' : `"starting patching transition" for ${lp}`} in dmesg:\n${dmesg.slice(0, 40).join('\n')}`);
  const t0 = calls.find((t) => t >= start.t);
  if (t0 === undefined) throw new Error(`no klp_try_complete_transition call in the function trace after the start (${trace.length} trace lines)`);
  const at = (t: number | undefined) => (t === undefined ? null : t - t0);
  const patched = find(new RegExp(`'${lp}': patching complete`));
  const unpatched = find(new RegExp(`'${lp}': unpatching complete`));
  const done = patched ?? unpatched;
  const doneAttempt = done ? calls.filter((t) => t <= done.t).pop() : undefined;
  const holds = ev.filter((e) => / (\S+:\d+) is (running|sleeping on function \S+|has an unreliable stack)/.test(e.msg));
  const last = holds[holds.length - 1];
  const lm = last && / (\S+):(\d+) is (.*)$/.exec(last.msg);
  return {
    outcome: patched ? 'complete' : unpatched ? 'reversed' : 'stalled',
    completionMs: at(doneAttempt),
    completePrintedMs: at(done?.t),
    signalMs: at(find(/signaling remaining tasks/)?.t),
    holder: lm ? `${lm[1]}:${lm[2]}` : null,
    ...(lm ? { holderWhy: lm[3] } : {}),
    actionMs: at(find(/LENS-ACT /)?.t),
    startJiffies: Number(/LENS-JIFFIES (\d+)/.exec(marker.msg)![1]) + Math.round(((t0 - marker.t) * hz) / 1000),
    attempts: calls.filter((t) => t >= t0).map((t) => Math.round(t - t0)),
    startToAttempt0Ms: t0 - start.t,
    endMs: at(find(/LENS-END/)?.t),
  };
}

/** The simulator's answer for the same scenario. */
export interface Prediction {
  outcome: Timeline['outcome'];
  completionMs: number | null;
  signalMs: number | null;
  holder: string | null;
  removable: boolean;
}

interface SimModel {
  completed: boolean;
  completionTimeMs: number | null;
  signalsAtMs?: number[];
  removable: boolean;
  heldBy?: { task: string; switchedAtMs: number }[];
  stalledTasks: { task: string }[];
  unpatching?: { completed: boolean; startedAfterEnableMs: number; completionTimeMs: number | null; heldBy?: { task: string }[]; reversedWhileHeldBy?: { task: string }[] };
}

/** "pid 91 cat" / "swapper/1" → "cat:91" / "swapper/1:0", as livepatch's debug lines name tasks. */
export function taskKey(name: string): string {
  const m = /^pid (\d+) (.*)$/.exec(name);
  return m ? `${m[2]}:${m[1]}` : `${name}:0`;
}

/** One simulated run, in the terms of the real timeline. */
export function predictionOfRun(o: RunOutcome): Prediction {
  return { outcome: o.outcome, completionMs: o.completionMs, signalMs: o.firstSignalMs, holder: o.holder ? taskKey(o.holder) : null, removable: o.removable };
}

/** The simulator's answer for one seed (the product's reading of a model result: core/sim/outcomes.ts). */
export function predictionOf(m: SimModel): Prediction {
  return predictionOfRun(outcomeOf(m as unknown as ModelResult, 0));
}

export const TOLERANCE_MS = 250;

export interface Agreement {
  outcome: boolean;
  completion: boolean;
  signal: boolean;
  holder: boolean;
  removable: boolean;
}

const within = (a: number | null, b: number | null) => (a === null || b === null ? a === b : Math.abs(a - b) <= TOLERANCE_MS);

/**
 * The real run against every simulated run of the same machine (one per seed): the first that agrees
 * on everything, and the share of runs that do; with none, the most frequent run's agreement.
 */
export function agreementOverRuns(real: Timeline, realRemovable: boolean, runs: Prediction[]): { sim: Prediction; agree: Agreement; share: number } {
  const all = runs.map((sim) => ({ sim, agree: agreement(real, realRemovable, sim) }));
  const ok = all.filter((a) => Object.values(a.agree).every(Boolean));
  if (ok.length) return { ...ok[0], share: ok.length / runs.length };
  const count = (p: Prediction) => runs.filter((q) => JSON.stringify(q) === JSON.stringify(p)).length;
  const modal = all.reduce((best, a) => (count(a.sim) > count(best.sim) ? a : best), all[0]);
  return { ...modal, share: 0 };
}

export function agreement(real: Timeline, realRemovable: boolean, sim: Prediction): Agreement {
  return {
    outcome: real.outcome === sim.outcome,
    completion: within(real.completionMs, sim.completionMs),
    signal: within(real.signalMs, sim.signalMs),
    holder: real.holder === sim.holder,
    removable: realRemovable === sim.removable,
  };
}
