/**
 * The guest's /init for a run of fixtures, and the parser of what it reports.
 *
 * For each fixture, in one boot, the guest: runs the fixture's setup; clears
 * dmesg; runs the effect check (it must fail); insmods the livepatch and
 * waits (up to 60 s) until /sys/kernel/livepatch/<name> shows enabled 1 and
 * transition 0; runs the check (it must pass); writes 0 to enabled and waits
 * until the patch is gone from sysfs; runs the check (it must fail again);
 * rmmods the module; and greps dmesg for oops, WARN and BUG. Results go to
 * ttyS1 as `LENS-…` lines, one field per step.
 */

export interface GuestFixture {
  id: string;
  /** The livepatch module's name: /lp/<name>.ko in the guest, /sys/kernel/livepatch/<name>. */
  name: string;
}

const RUN_FIXTURE = String.raw`
say() { echo "$*" >&3; }
oneline() { tr '\n' ' ' < "$1" | cut -c1-600; }
wait_for() { # condition, tries of 0.2 s
  i=0
  while [ $i -lt $2 ]; do eval "$1" && return 0; sleep 0.2; i=$((i + 1)); done
  return 1
}
run_fixture() {
  id=$1; name=$2; d=/sys/kernel/livepatch/$name
  loaded=0; complete=0; effect=0; reverted=0; unloaded=0; before=fail
  if [ -f /fx/$id/setup.sh ]; then
    sh /fx/$id/setup.sh > /tmp/out 2>&1 || say "LENS-NOTE id=$id setup failed: $(oneline /tmp/out)"
  fi
  dmesg -c > /dev/null
  sh /fx/$id/check.sh > /dev/null 2>&1 && before=pass
  if insmod /lp/$name.ko > /tmp/out 2>&1; then loaded=1; else say "LENS-NOTE id=$id insmod: $(oneline /tmp/out)"; fi
  if [ $loaded = 1 ]; then
    wait_for '[ "$(cat $d/transition 2>/dev/null)" = 0 ] && [ "$(cat $d/enabled 2>/dev/null)" = 1 ]' 300 && complete=1
    say "LENS-NOTE id=$id after insmod: enabled=$(cat $d/enabled 2>/dev/null) transition=$(cat $d/transition 2>/dev/null)"
    sh /fx/$id/check.sh > /dev/null 2>&1 && effect=1
    echo 0 > $d/enabled
    wait_for '[ ! -d $d ]' 300 || say "LENS-NOTE id=$id $d still there 60 s after disable"
    if [ ! -d $d ] && ! sh /fx/$id/check.sh > /dev/null 2>&1; then reverted=1; fi
    if rmmod $name > /tmp/out 2>&1; then unloaded=1; else say "LENS-NOTE id=$id rmmod: $(oneline /tmp/out)"; fi
  fi
  dmesg > /tmp/dmesg
  sed "s/^/LENS-DMESG id=$id /" /tmp/dmesg >&3
  clean=1
  grep -qE 'Oops|WARNING:|BUG:|Call Trace|general protection|Kernel panic' /tmp/dmesg && clean=0
  say "LENS-RESULT id=$id before=$before loaded=$loaded complete=$complete effect=$effect reverted=$reverted unloaded=$unloaded dmesg=$clean"
}
`;

/** The /init body after INIT_HEAD: load `modules`, then run each fixture. */
export function guestScript(modules: string[], fixtures: GuestFixture[]): string[] {
  for (const f of fixtures) if (!/^[a-z0-9-]+$/.test(f.id) || !/^[a-z0-9_]+$/.test(f.name)) throw new Error(`unsafe fixture or module name: ${f.id} ${f.name}`);
  return [
    'exec 3>/dev/ttyS1',
    RUN_FIXTURE,
    ...modules.map((m) => `insmod /mod/${m}.ko > /tmp/out 2>&1 || say "LENS-NOTE module ${m}: $(oneline /tmp/out)"`),
    'say "LENS-BOOT $(uname -r)"',
    ...fixtures.map((f) => `run_fixture ${f.id} ${f.name}`),
    'say LENS-DONE',
    'exec 3>&-',
    'sync',
    'poweroff -f',
  ];
}

export interface GuestResult {
  id: string;
  /** The effect check failed before the load, as it must. */
  beforeFailed: boolean;
  loaded: boolean;
  complete: boolean;
  effect: boolean;
  reverted: boolean;
  unloaded: boolean;
  dmesgClean: boolean;
  notes: string[];
  dmesg: string[];
}

export interface GuestReport {
  kernel?: string;
  done: boolean;
  results: Map<string, GuestResult>;
  /** Notes not tied to a fixture (a module that would not load). */
  notes: string[];
}

export function parseGuest(serial: string): GuestReport {
  const report: GuestReport = { done: false, results: new Map(), notes: [] };
  const notes = new Map<string, string[]>();
  const dmesg = new Map<string, string[]>();
  const push = (m: Map<string, string[]>, id: string, s: string) => m.set(id, [...(m.get(id) ?? []), s]);
  for (const raw of serial.split('\n')) {
    const line = raw.replace(/\r$/, '');
    let m: RegExpExecArray | null;
    if ((m = /^LENS-BOOT (\S+)/.exec(line))) report.kernel = m[1];
    else if (line === 'LENS-DONE') report.done = true;
    else if ((m = /^LENS-DMESG id=(\S+) ?(.*)$/.exec(line))) push(dmesg, m[1], m[2]);
    else if ((m = /^LENS-NOTE id=(\S+) (.*)$/.exec(line))) push(notes, m[1], m[2]);
    else if ((m = /^LENS-NOTE (.*)$/.exec(line))) report.notes.push(m[1]);
    else if ((m = /^LENS-RESULT id=(\S+) (.*)$/.exec(line))) {
      const f = Object.fromEntries(m[2].split(' ').map((kv) => kv.split('=') as [string, string]));
      report.results.set(m[1], {
        id: m[1],
        beforeFailed: f.before === 'fail',
        loaded: f.loaded === '1',
        complete: f.complete === '1',
        effect: f.effect === '1',
        reverted: f.reverted === '1',
        unloaded: f.unloaded === '1',
        dmesgClean: f.dmesg === '1',
        notes: [],
        dmesg: [],
      });
    }
  }
  for (const [id, r] of report.results) {
    r.notes = notes.get(id) ?? [];
    r.dmesg = dmesg.get(id) ?? [];
  }
  return report;
}
