/**
 * Every hazard family: a positive case (the finding, its severity and where it
 * lands) and a negative case (a near miss that must stay quiet), on
 * kernel-style C turned into real git-style diffs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzePatch, type AnalyzeOptions } from '../../server/src/core/analysis';
import type { Finding } from '../../server/src/core/findings';
import type { TreeFacts } from '../../server/src/core/rules';
import { runRules } from '../../server/src/core/rules';
import { gitStyleDiff, tempKernelTree } from '../helpers';

/** Findings of a one-file change (code filter optional). */
async function check(path: string, before: string, after: string, opts: AnalyzeOptions = {}): Promise<{ findings: Finding[]; text: string; lines: string[] }> {
  const text = gitStyleDiff(path, before, after);
  const a = await analyzePatch(text, opts);
  a.dispose();
  return { findings: a.findings, text, lines: text.split('\n') };
}

function codes(fs: Finding[], prefix = 'KLP'): string[] {
  return fs.filter((f) => f.code.startsWith(prefix) && f.code !== 'KLP010').map((f) => `${f.code}:${f.severity}`);
}

function one(fs: Finding[], code: string): Finding {
  const m = fs.filter((f) => f.code === code);
  assert.equal(m.length, 1, `expected one ${code}, got ${m.length}: ${fs.map((f) => f.code).join(' ')}`);
  return m[0];
}

function none(fs: Finding[], ...cs: string[]): void {
  const hit = fs.filter((f) => cs.includes(f.code));
  assert.deepEqual(
    hit.map((f) => `${f.code} ${f.message.slice(0, 80)}`),
    [],
  );
}

/** The document line holding `needle` (on a + or - line). */
function lineOf(lines: string[], needle: string): number {
  const k = lines.findIndex((l) => /^[-+]/.test(l) && l.includes(needle));
  assert.ok(k >= 0, `${needle} not on a +/- line`);
  return k;
}

const C = (...lines: string[]) => lines.join('\n') + '\n';

// ---------------------------------------------------------------- data-structure

const STRUCT = C(
  '// SPDX-License-Identifier: GPL-2.0',
  '#include <linux/slab.h>',
  '',
  'struct widget {',
  '\tspinlock_t lock;',
  '\tunsigned int users;',
  '\tunsigned long flags;',
  '};',
  '',
  'enum widget_state {',
  '\tWIDGET_IDLE,',
  '\tWIDGET_BUSY,',
  '\tWIDGET_STATE_MAX,',
  '};',
  '',
  'typedef unsigned int widget_id_t;',
  '',
  'static struct widget *widget_new(gfp_t gfp)',
  '{',
  '\tstruct widget *w = kzalloc(sizeof(*w), gfp);',
  '',
  '\tif (!w)',
  '\t\treturn NULL;',
  '\tspin_lock_init(&w->lock);',
  '\treturn w;',
  '}',
  '',
  'static void widget_use(struct widget *w)',
  '{',
  '\tspin_lock(&w->lock);',
  '\tw->users++;',
  '\tspin_unlock(&w->lock);',
  '}',
  '',
  'static void widget_free(struct widget *w)',
  '{',
  '\tkfree(w);',
  '}',
);


test('data-structure from a hunk without function context: members added among member declarations are named and flagged; local variables with statements are not', async () => {
  const hunk = (lines: string[]) => ['--- a/drivers/misc/widget.c', '+++ b/drivers/misc/widget.c', ...lines, ''].join('\n');
  let a = await analyzePatch(hunk(['@@ -120,5 +120,7 @@', ' \tspinlock_t lock;', ' \tunsigned int users;', '+\tunsigned int pending;', '+\tvoid (*on_done)(struct widget *w);', ' \tunsigned long flags;', ' \tstruct list_head node;', ' \twait_queue_head_t wq;']));
  a.dispose();
  const f = one(a.findings, 'KLP101');
  assert.equal(f.severity, 'warning');
  assert.match(f.message, /^drivers\/misc\/widget\.c: this hunk adds pending, on_done among member declarations of a struct this hunk does not name/);
  assert.match(f.message, /shadow variable/);
  assert.equal(f.range.start.line, 5, 'on the first added member');
  // The same lines in a function: declarations followed by statements are locals, not members.
  a = await analyzePatch(hunk(['@@ -339,5 +339,6 @@', ' \tstruct sk_buff *skb;', ' \tint err;', '+\tu32 len;', ' ', ' \tspin_lock_bh(&xs->rx_lock);', ' \terr = xsk_rcv_check(xs, skb);']));
  a.dispose();
  none(a.findings, 'KLP101');
  // With the kernel tree the struct is named and KLP101 is the usual error.
  const tree = tempKernelTree({ 'drivers/misc/widget.c': STRUCT });
  const r = await check('drivers/misc/widget.c', STRUCT, STRUCT.replace('\tunsigned int users;', '\tunsigned int users;\n\tunsigned int pending;'), { tree });
  const named = one(r.findings, 'KLP101');
  assert.equal(named.severity, 'error');
  assert.match(named.message, /struct widget/);
});
test('data-structure: an added field is KLP101 with who uses it; enum and typedef changes', async () => {
  const after = STRUCT.replace('\tunsigned long flags;\n};', '\tunsigned long flags;\n\tunsigned int errors;\n};').replace('\tw->users++;\n', '\tw->users++;\n\tif (w->users > 100)\n\t\tw->errors++;\n');
  const { findings, lines } = await check('drivers/misc/widget.c', STRUCT, after);
  const f = one(findings, 'KLP101');
  assert.equal(f.severity, 'error');
  assert.equal(f.category, 'data-structure');
  assert.equal(f.range.start.line, lineOf(lines, 'unsigned int errors;'));
  assert.match(f.message, /struct widget adds field errors/);
  assert.match(f.message, /widget_use\(\) writes it/);
  assert.match(f.message, /shadow variable/);
  assert.ok(f.related?.some((r) => r.range.start.line === lineOf(lines, 'w->errors++')));

  const enumAppend = STRUCT.replace('\tWIDGET_BUSY,\n', '\tWIDGET_BUSY,\n\tWIDGET_DRAINING,\n');
  let r = await check('drivers/misc/widget.c', STRUCT, enumAppend);
  assert.equal(one(r.findings, 'KLP102').severity, 'warning', 'appended before the sentinel');
  const enumInsert = STRUCT.replace('\tWIDGET_IDLE,\n', '\tWIDGET_IDLE,\n\tWIDGET_WAKING,\n');
  r = await check('drivers/misc/widget.c', STRUCT, enumInsert);
  assert.equal(one(r.findings, 'KLP102').severity, 'error', 'inserted: later values shift');
  r = await check('drivers/misc/widget.c', STRUCT, STRUCT.replace('typedef unsigned int widget_id_t;', 'typedef unsigned long widget_id_t;'));
  assert.equal(one(r.findings, 'KLP103').severity, 'error');
});

test('data-structure negatives: a comment in a struct, a new struct, an __rcu annotation', async () => {
  let r = await check('drivers/misc/widget.c', STRUCT, STRUCT.replace('\tunsigned int users;', '\tunsigned int users;\t/* protected by lock */'));
  none(r.findings, 'KLP101');
  r = await check('drivers/misc/widget.c', STRUCT, STRUCT.replace('typedef unsigned int', 'struct widget_stats {\n\tu64 hits;\n};\n\ntypedef unsigned int'));
  none(r.findings, 'KLP101');
  r = await check('drivers/misc/widget.c', STRUCT, STRUCT.replace('\tunsigned long flags;', '\tunsigned long __rcu flags;'));
  assert.equal(one(r.findings, 'KLP101').severity, 'warning', 'annotation only: same layout');
});

// ---------------------------------------------------------------- static-data, static-local, once-macro

const DATA = C(
  '#include <linux/fs.h>',
  '',
  'static int widget_limit = 16;',
  'static unsigned int widget_mask __read_mostly = 0xff;',
  'static const char *widget_names[] = { "idle", "busy" };',
  '',
  'static const struct file_operations widget_fops = {',
  '\t.owner\t\t= THIS_MODULE,',
  '\t.open\t\t= widget_open,',
  '\t.llseek\t\t= default_llseek,',
  '};',
  '',
  'static int widget_poll(struct widget *w)',
  '{',
  '\tstatic unsigned long calls;',
  '',
  '\tcalls++;',
  '\treturn w->users > widget_limit;',
  '}',
);

test('static-data: initializer, ops table, type, section, new and removed data', async () => {
  let r = await check('drivers/misc/widget.c', DATA, DATA.replace('widget_limit = 16', 'widget_limit = 32'));
  let f = one(r.findings, 'KLP110');
  assert.equal(f.severity, 'error');
  assert.match(f.message, /widget_limit gets a new initial value/);
  assert.match(f.message, /pre-patch callback/);
  r = await check('drivers/misc/widget.c', DATA, DATA.replace('default_llseek', 'no_llseek'));
  assert.match(one(r.findings, 'KLP110').message, /The table widget_fops changes its entries/);
  // a const table that patched code points objects at: the livepatch's copy is used for new objects (kpatch-build
  // includes changed .rodata referenced by patched functions): a warning about old and new objects, not a refusal
  const withUser = DATA + C('', 'static void widget_setup(struct file *file)', '{', '\tfile->f_op = &widget_fops;', '}');
  r = await check('drivers/misc/widget.c', withUser, withUser.replace('default_llseek', 'no_llseek').replace('\tfile->f_op = &widget_fops;', '\tfile->f_op = &widget_fops;\n\tfile->f_mode |= FMODE_LSEEK;'));
  f = one(r.findings, 'KLP110');
  assert.equal(f.severity, 'warning');
  assert.match(f.message, /It is const and the patched widget_setup\(\) refers to it, so the livepatch carries its own copy/);
  // ... but not when the patched function does not refer to it, nor for writable data (.data)
  r = await check('drivers/misc/widget.c', withUser, withUser.replace('default_llseek', 'no_llseek').replace('\treturn w->users > widget_limit;', '\treturn w->users >= widget_limit;'));
  assert.equal(one(r.findings, 'KLP110').severity, 'error');
  const writable = withUser.replace('static const struct file_operations widget_fops', 'static struct file_operations widget_fops');
  r = await check('drivers/misc/widget.c', writable, writable.replace('default_llseek', 'no_llseek').replace('\tfile->f_op = &widget_fops;', '\tfile->f_op = &widget_fops;\n\tfile->f_mode |= FMODE_LSEEK;'));
  assert.equal(one(r.findings, 'KLP110').severity, 'error');
  r = await check('drivers/misc/widget.c', DATA, DATA.replace('static const char *widget_names[]', 'static const char *const widget_names[]'));
  assert.equal(one(r.findings, 'KLP111').severity, 'error');
  r = await check('drivers/misc/widget.c', DATA, DATA.replace('__read_mostly', '__ro_after_init'));
  f = one(r.findings, 'KLP112');
  assert.match(f.message, /drops __read_mostly, adds __ro_after_init/);
  r = await check('drivers/misc/widget.c', DATA, DATA.replace('static int widget_limit = 16;\n', 'static int widget_limit = 16;\nstatic atomic_t widget_resets;\n'));
  assert.equal(one(r.findings, 'KLP113').severity, 'information');
  r = await check('drivers/misc/widget.c', DATA, DATA.replace('static int widget_limit = 16;\n', ''));
  assert.equal(one(r.findings, 'KLP114').severity, 'warning');
  // negative: only a function changes
  r = await check('drivers/misc/widget.c', DATA, DATA.replace('w->users > widget_limit', 'w->users >= widget_limit'));
  none(r.findings, 'KLP110', 'KLP111', 'KLP112', 'KLP113', 'KLP114');
});

test('static-data: trace event definitions (KLP115); an unrelated header macro is not one', async () => {
  const before = C('#undef TRACE_SYSTEM', '#define TRACE_SYSTEM widget', '', 'DEFINE_WIDGET_EVENT(widget_open);', 'DEFINE_WIDGET_EVENT(widget_close);');
  let r = await check('drivers/misc/widget_trace.h', before, before + 'DEFINE_WIDGET_EVENT(widget_reset);\n');
  assert.equal(one(r.findings, 'KLP115').category, 'static-data');
  r = await check('drivers/misc/widget.h', C('#define WIDGET_NAME "w"'), C('#define WIDGET_NAME "widget"'));
  none(r.findings, 'KLP115');
});

test('static-local: added, removed, renamed, changed; an untouched one is quiet', async () => {
  let r = await check('drivers/misc/widget.c', DATA, DATA.replace('\tcalls++;\n', '\tstatic bool warned;\n\n\tcalls++;\n'));
  assert.equal(one(r.findings, 'KLP120').severity, 'warning');
  r = await check('drivers/misc/widget.c', DATA, DATA.replace('\tstatic unsigned long calls;\n\n\tcalls++;\n', ''));
  let f = one(r.findings, 'KLP121');
  assert.equal(f.severity, 'error');
  assert.match(f.message, /reference to static local variable calls in widget_poll was removed/);
  r = await check('drivers/misc/widget.c', DATA, DATA.replace('static unsigned long calls;', 'static unsigned long polls;').replace('calls++', 'polls++'));
  f = one(r.findings, 'KLP121');
  assert.match(f.message, /renames its static local calls to polls/);
  r = await check('drivers/misc/widget.c', DATA, DATA.replace('static unsigned long calls;', 'static unsigned long calls = 1;'));
  assert.equal(one(r.findings, 'KLP122').severity, 'error');
  r = await check('drivers/misc/widget.c', DATA, DATA.replace('w->users > widget_limit', 'w->users >= widget_limit'));
  none(r.findings, 'KLP120', 'KLP121', 'KLP122');
});

test('once-macro: WARN_ONCE and lockdep keys in a patched function; none without them', async () => {
  let r = await check('drivers/misc/widget.c', STRUCT, STRUCT.replace('\tw->users++;\n', '\tWARN_ONCE(w->users > 100, "too many users");\n\tw->users++;\n'));
  const f = one(r.findings, 'KLP130');
  assert.equal(f.severity, 'information');
  assert.match(f.message, /WARN_ONCE/);
  r = await check('drivers/misc/widget.c', STRUCT, STRUCT.replace('\tif (!w)\n', '\tif (w == NULL)\n'));
  assert.match(one(r.findings, 'KLP130').message, /spin_lock_init/, 'the patched widget_new() re-registers its lockdep class');
  r = await check('drivers/misc/widget.c', STRUCT, STRUCT.replace('\tkfree(w);', '\tkfree(w);\n\tw = NULL;'));
  none(r.findings, 'KLP130');
});

// ---------------------------------------------------------------- dynamic-data-semantic

const PAIRED = C(
  '#include <linux/atomic.h>',
  '',
  'static int widgets_in_flight;',
  '',
  'struct widget {',
  '\tspinlock_t lock;',
  '\tstruct mutex mtx;',
  '\tunsigned int users;',
  '\tunsigned long flags;',
  '};',
  '',
  'static void widget_start(struct widget *w)',
  '{',
  '\twidgets_in_flight++;',
  '\tw->users++;',
  '}',
  '',
  'static void widget_done(struct widget *w)',
  '{',
  '\twidgets_in_flight--;',
  '\tw->users--;',
  '}',
  '',
  'static void widget_touch(struct widget *w)',
  '{',
  '\tw->flags |= 1;',
  '}',
);

test('dynamic-data-semantic: the A++/A-- → A+=2/A-=2 pair is reported at both functions', async () => {
  const after = PAIRED.replace('\twidgets_in_flight++;', '\twidgets_in_flight += 2;').replace('\twidgets_in_flight--;', '\twidgets_in_flight -= 2;');
  const { findings, lines } = await check('kernel/widget.c', PAIRED, after);
  const f = findings.filter((x) => x.code === 'KLP140');
  assert.equal(f.length, 2, findings.map((x) => x.code).join(' '));
  assert.ok(f.every((x) => x.severity === 'warning' && x.category === 'dynamic-data-semantic'));
  const start = f.find((x) => x.message.startsWith('widget_start()'))!;
  assert.equal(start.range.start.line, lineOf(lines, 'widgets_in_flight += 2'));
  assert.match(start.message, /from \+1 to \+2/);
  assert.match(start.message, /an old \+1 can meet a new -2/);
  assert.ok(start.related?.some((r) => r.range.start.line === lineOf(lines, 'widgets_in_flight -= 2')), 'the partner site is related');
});

test('dynamic-data-semantic negatives: a counter with no partner, a rename of a local', async () => {
  const lone = C('static int widget_events;', '', 'static void widget_event(void)', '{', '\twidget_events++;', '}');
  let r = await check('kernel/widget.c', lone, lone.replace('widget_events++', 'widget_events += 2'));
  none(r.findings, 'KLP140', 'KLP141');
  r = await check('kernel/widget.c', PAIRED, PAIRED.replace('static void widget_touch(struct widget *w)\n{\n\tw->flags |= 1;', 'static void widget_touch(struct widget *w)\n{\n\tunsigned long bit = 1;\n\n\tw->flags |= bit;'));
  none(r.findings, 'KLP140', 'KLP141', 'KLP142');
});

test('dynamic-data-semantic: new get with its put elsewhere, locking changes, new field protocols, flag values', async () => {
  const refs = C(
    'static void widget_open(struct widget *w)',
    '{',
    '\tw->opened = true;',
    '}',
    '',
    'static void widget_release(struct widget *w)',
    '{',
    '\twidget_put(w);',
    '}',
  );
  let r = await check('kernel/widget.c', refs, refs.replace('\tw->opened = true;', '\twidget_get(w);\n\tw->opened = true;'), { tree: tempKernelTree({ 'kernel/widget.c': refs }) });
  let f = one(r.findings, 'KLP141');
  assert.match(f.message, /widget_open\(\) now does widget_get on widget, and widget_release\(\) does the matching dec/);
  assert.match(f.message, /widget_release\(\)/);

  r = await check('kernel/widget.c', PAIRED, PAIRED.replace('\tw->users++;\n', '\tspin_lock(&w->lock);\n\tw->users++;\n\tspin_unlock(&w->lock);\n'));
  f = one(r.findings, 'KLP142');
  assert.match(f.message, /widget_start\(\) now takes widget->lock around widget->users/);
  r = await check('kernel/widget.c', PAIRED.replace('\tw->users--;\n', '\tmutex_lock(&w->mtx);\n\tw->users--;\n\tmutex_unlock(&w->mtx);\n'), PAIRED.replace('\tw->users--;\n', '\tspin_lock(&w->mtx);\n\tw->users--;\n\tspin_unlock(&w->mtx);\n'));
  assert.match(one(r.findings, 'KLP142').message, /as a spinlock where it was a mutex/);

  const protocol = PAIRED.replace('\tunsigned long flags;\n};', '\tunsigned long flags;\n\tbool draining;\n};');
  r = await check('kernel/widget.c', PAIRED, protocol.replace('\tw->users--;\n', '\tw->users--;\n\tw->draining = true;\n').replace('\tw->flags |= 1;', '\tif (w->draining)\n\t\treturn;\n\tw->flags |= 1;'));
  f = r.findings.find((x) => x.code === 'KLP143')!;
  assert.ok(f, r.findings.map((x) => x.code).join(' '));
  assert.match(f.message, /widget_done\(\) now sets it and widget_touch\(\) relies on it/);

  const flags = C('#define WIDGET_F_BUSY\t0x4', '#define WIDGET_NAME\t"widget"');
  r = await check('include/linux/widget.h', flags, flags.replace('0x4', '0x8'));
  assert.match(one(r.findings, 'KLP144').message, /WIDGET_F_BUSY changes from 0x4 to 0x8/);
  r = await check('include/linux/widget.h', flags, flags.replace('"widget"', '"widget0"'));
  none(r.findings, 'KLP144');
});

// ---------------------------------------------------------------- shadow variables

const SHADOW = C(
  '#include <linux/livepatch.h>',
  '',
  'static struct widget *widget_create(void)',
  '{',
  '\tstruct widget *w = kzalloc(sizeof(*w), GFP_KERNEL);',
  '\treturn w;',
  '}',
  '',
  'static void widget_destroy(struct widget *w)',
  '{',
  '\tkfree(w);',
  '}',
  '',
  'static void widget_exit(void)',
  '{',
  '\tpr_info("bye\\n");',
  '}',
);

test('shadow-variable: alloc without free, free_all missing, GFP_KERNEL under a spinlock, ids', async () => {
  const alloc = SHADOW.replace('\treturn w;', '\tklp_shadow_alloc(w, WIDGET_SV_ERRORS, sizeof(int), GFP_KERNEL, NULL, NULL);\n\treturn w;');
  let r = await check('drivers/misc/widget.c', SHADOW, alloc);
  let f = one(r.findings, 'KLP150');
  assert.match(f.message, /neither klp_shadow_free\(\) .* nor klp_shadow_free_all\(\)/);
  const paired = alloc.replace('\tkfree(w);', '\tklp_shadow_free(w, WIDGET_SV_ERRORS, NULL);\n\tkfree(w);').replace('\tpr_info("bye\\n");', '\tklp_shadow_free_all(WIDGET_SV_ERRORS, NULL);');
  r = await check('drivers/misc/widget.c', SHADOW, paired);
  none(r.findings, 'KLP150', 'KLP151', 'KLP152');
  const locked = SHADOW.replace('\tkfree(w);', '\tspin_lock(&w->lock);\n\tklp_shadow_get_or_alloc(w, WIDGET_SV_ERRORS, sizeof(int), GFP_KERNEL, NULL, NULL);\n\tspin_unlock(&w->lock);\n\tkfree(w);');
  r = await check('drivers/misc/widget.c', SHADOW, locked);
  assert.match(one(r.findings, 'KLP152').message, /GFP_KERNEL.*while widget->lock is held/);
  r = await check('drivers/misc/widget.c', SHADOW, SHADOW.replace('\treturn w;', '\tklp_shadow_alloc(w, 0, sizeof(int), GFP_KERNEL, NULL, NULL);\n\treturn w;'));
  assert.ok(r.findings.some((x) => x.code === 'KLP151' && x.severity === 'warning'));
});

// ---------------------------------------------------------------- placement: init, shared sections, untraceable

const PLACE = C(
  'static int __init widget_init(void)',
  '{',
  '\treturn widget_register();',
  '}',
  '',
  'static int widget_setup(char *s)',
  '{',
  '\treturn kstrtoint(s, 0, &widget_limit);',
  '}',
  '__setup("widget=", widget_setup);',
  '',
  'static int widget_probe(struct platform_device *pdev)',
  '{',
  '\treturn widget_attach(pdev);',
  '}',
  '',
  'static struct platform_driver widget_driver = {',
  '\t.probe = widget_probe,',
  '};',
  '',
  'static int __initdata widget_boot_mode = 1;',
  '',
  'static void __sched widget_wait(void)',
  '{',
  '\tschedule();',
  '}',
  '',
  'static notrace u64 widget_clock(void)',
  '{',
  '\treturn rdtsc();',
  '}',
  '',
  'static inline int widget_ready(void)',
  '{',
  '\treturn 1;',
  '}',
  '',
  'static int widget_plain(void)',
  '{',
  '\treturn 0;',
  '}',
);

test('init-code, shared-section and untraceable placements; a plain function is quiet', async () => {
  const cases: [string, string, string, string][] = [
    ['widget_register();', 'widget_register_all();', 'KLP160', 'error'],
    ['kstrtoint(s, 0, &widget_limit)', 'kstrtoint(s, 10, &widget_limit)', 'KLP161', 'error'],
    ['widget_attach(pdev);', 'widget_attach(pdev) ?: 0;', 'KLP163', 'warning'],
    ['widget_boot_mode = 1', 'widget_boot_mode = 2', 'KLP162', 'error'],
    ['\tschedule();', '\tschedule();\n\tcpu_relax();', 'KLP170', 'error'],
    ['rdtsc();', 'rdtsc_ordered();', 'KLP180', 'error'],
    ['\treturn 1;', '\treturn 2;', 'KLP181', 'warning'],
  ];
  // registrations (.probe, __setup) may sit outside the hunks: read the file from a tree
  const tree = tempKernelTree({ 'drivers/misc/widget.c': PLACE });
  for (const [from, to, code, severity] of cases) {
    const r = await check('drivers/misc/widget.c', PLACE, PLACE.replace(from, to), { tree });
    assert.equal(one(r.findings, code).severity, severity, code);
  }
  const r = await check('drivers/misc/widget.c', PLACE, PLACE.replace('\treturn 0;', '\treturn -1;'));
  none(r.findings, 'KLP160', 'KLP161', 'KLP162', 'KLP163', 'KLP170', 'KLP180', 'KLP181');
});

test('untraceable files: lib/ and assembly are refused; a driver file is not', async () => {
  let r = await check('lib/widget_hash.c', C('int widget_hash(int x)', '{', '\treturn x;', '}'), C('int widget_hash(int x)', '{', '\treturn x * 31;', '}'));
  assert.match(one(r.findings, 'KLP182').message, /unsupported patch to lib/);
  r = await check('arch/x86/entry/widget.S', C('SYM_FUNC_START(widget)', '\tret', 'SYM_FUNC_END(widget)'), C('SYM_FUNC_START(widget)', '\tnop', '\tret', 'SYM_FUNC_END(widget)'));
  assert.match(one(r.findings, 'KLP182').message, /assembly/);
  r = await check('drivers/misc/widget_hash.c', C('int widget_hash(int x)', '{', '\treturn x;', '}'), C('int widget_hash(int x)', '{', '\treturn x * 31;', '}'));
  none(r.findings, 'KLP182');
});

// ---------------------------------------------------------------- static keys, static calls, syscalls, asm

const KEYS = C(
  'DEFINE_STATIC_KEY_FALSE(widget_trace_key);',
  '',
  'static void widget_tick(struct widget *w)',
  '{',
  '\tw->ticks++;',
  '}',
  '',
  'SYSCALL_DEFINE1(widget_ping, int, fd)',
  '{',
  '\treturn fd < 0 ? -EBADF : 0;',
  '}',
);

test('static-key: a jump label in patched code, by target kernel and key location', async () => {
  const after = KEYS.replace('\tw->ticks++;', '\tif (static_branch_unlikely(&widget_trace_key))\n\t\tw->traced++;\n\tw->ticks++;');
  let r = await check('drivers/misc/widget.c', KEYS, after);
  let f = one(r.findings, 'KLP190');
  assert.equal(f.severity, 'warning', 'unknown without a tree');
  assert.match(f.message, /static_key_enabled\(&widget_trace_key\)/);
  assert.equal(f.range.start.line, lineOf(r.lines, 'static_branch_unlikely'));
  r = await check('drivers/misc/widget.c', KEYS, after, { kernelVersion: '5.4' });
  f = one(r.findings, 'KLP190');
  assert.equal(f.severity, 'error');
  assert.match(f.message, /older than 5\.8/);
  r = await check('drivers/misc/widget.c', KEYS, after.replace('DEFINE_STATIC_KEY_FALSE(widget_trace_key);', 'DEFINE_STATIC_KEY_FALSE(widget_trace_key);\nDEFINE_STATIC_KEY_FALSE(widget_new_key);').replace('&widget_trace_key', '&widget_new_key'));
  assert.equal(one(r.findings, 'KLP190').severity, 'information', 'a key new in the patch lives in the livepatch module');
  r = await check('drivers/misc/widget.c', KEYS, KEYS.replace('\tw->ticks++;', '\tif (static_key_enabled(&widget_trace_key))\n\t\tw->traced++;\n\tw->ticks++;'));
  none(r.findings, 'KLP190', 'KLP192');
  r = await check('drivers/misc/widget.c', KEYS, KEYS.replace('\tw->ticks++;', '\tw->ticks++;\n\tstatic_branch_enable(&widget_trace_key);'));
  assert.equal(one(r.findings, 'KLP193').severity, 'information');
  r = await check('drivers/misc/widget.c', KEYS, KEYS.replace('\tw->ticks++;', '\tw->ticks++;\n\ttrace_widget_tick(w);'));
  assert.equal(one(r.findings, 'KLP191').severity, 'information');
});

test('static-key with an index: module keys are errors, inline helpers carry keys', async () => {
  const index = stubIndex({ keys: { widget_trace_key: 'module' }, helpers: { widget_tracing: ['widget_trace_key'] }, objects: { 'drivers/misc/widget.c': 'module' } });
  const after = KEYS.replace('\tw->ticks++;', '\tif (static_branch_unlikely(&widget_trace_key) || widget_tracing())\n\t\tw->traced++;\n\tw->ticks++;');
  const r = await check('drivers/misc/widget.c', KEYS, after, { index });
  assert.equal(one(r.findings, 'KLP190').severity, 'error');
  assert.equal(one(r.findings, 'KLP192').severity, 'error');
  assert.match(one(r.findings, 'KLP300').message, /built into the module widget/);
});

test('static-call, syscall and inline assembly', async () => {
  let r = await check('drivers/misc/widget.c', KEYS, KEYS.replace('\tw->ticks++;', '\tw->ticks++;\n\tstatic_call(widget_notify)(w);'));
  let f = one(r.findings, 'KLP200');
  assert.match(f.message, /KLP_STATIC_CALL\(widget_notify\)/);
  r = await check('drivers/misc/widget.c', KEYS, KEYS.replace('fd < 0 ? -EBADF : 0', 'fd < 0 ? -EBADF : -ENOSYS'));
  f = one(r.findings, 'KLP210');
  // A changed body builds when __do_sys_widget_ping is inlined into the traced wrapper, as it usually is: a warning saying when it fails.
  assert.equal(f.severity, 'warning');
  assert.match(f.message, /KLP_SYSCALL_DEFINE1\(widget_ping/);
  assert.match(f.message, /inlines it into the traced __se_sys_widget_ping\(\) \(the usual case\), kpatch-build and klp-build see __se_sys_widget_ping\(\) change and replace it; when __do_sys_widget_ping\(\) is kept out of line, kpatch-build fails/);
  r = await check('drivers/misc/widget.c', KEYS, KEYS.replace('\tw->ticks++;', '\tw->ticks++;\n\tasm volatile("mfence" ::: "memory");'));
  assert.equal(one(r.findings, 'KLP220').severity, 'warning');
  r = await check('drivers/misc/widget.c', KEYS, KEYS.replace('\tw->ticks++;', '\tw->ticks += 2;'));
  none(r.findings, 'KLP200', 'KLP210', 'KLP220');
});

// ---------------------------------------------------------------- line shifts, inline ripple, sibling calls

const LINES = C(
  'static inline int widget_scale(int x)',
  '{',
  '\treturn x * 2;',
  '}',
  '',
  'static int widget_a(int x)',
  '{',
  '\treturn widget_scale(x);',
  '}',
  '',
  'static void widget_b(struct widget *w)',
  '{',
  '\tWARN_ON(!w);',
  '\tw->b++;',
  '}',
  '',
  'static int widget_c(struct widget *w)',
  '{',
  '\treturn widget_b_helper(w);',
  '}',
);

test('line-macro: added lines above a WARN_ON user; a same-size change is quiet', async () => {
  const tree = tempKernelTree({ 'drivers/misc/widget.c': LINES });
  let r = await check('drivers/misc/widget.c', LINES, LINES.replace('\treturn widget_scale(x);', '\tif (x < 0)\n\t\treturn 0;\n\treturn widget_scale(x);'), { tree });
  const f = one(r.findings, 'KLP230');
  assert.match(f.message, /widget_b\(\)/);
  r = await check('drivers/misc/widget.c', LINES, LINES.replace('\treturn widget_scale(x);', '\treturn widget_scale(x + 1);'), { tree });
  none(r.findings, 'KLP230');
});

test('no functional change: a blank line at the top, comments only, or a Makefile only is an error saying what the tools print; code changes are quiet', async () => {
  const tree = tempKernelTree({ 'drivers/misc/widget.c': LINES });
  let r = await check('drivers/misc/widget.c', LINES, `\n${LINES}`, { tree });
  let f = one(r.findings, 'KLP014');
  assert.equal(f.severity, 'error');
  assert.match(f.message, /drivers\/misc\/widget\.c: comments, whitespace or blank lines outside any function only; the 1 line added only move the line numbers/);
  assert.match(f.message, /kpatch-build would stop with "ERROR: no functional changes found" and klp-build with "no changes detected"/);
  assert.equal(f.range.start.line, 0);
  none(r.findings, 'KLP230'); // kept for patches that also change code
  r = await check('drivers/misc/widget.c', LINES, LINES.replace('\tWARN_ON(!w);', '\t/* a widget always comes with its owner */\n\tWARN_ON(!w);'), { tree });
  f = one(r.findings, 'KLP014');
  assert.match(f.message, /comments or whitespace only \(in widget_b\)/);
  const mk = await analyzePatch(gitStyleDiff('drivers/misc/Makefile', 'obj-$(CONFIG_WIDGET) += widget.o\n', 'obj-$(CONFIG_WIDGET) += widget.o\nccflags-y += -DDEBUG\n'));
  mk.dispose();
  assert.match(one(mk.findings, 'KLP014').message, /drivers\/misc\/Makefile: build rules only/);
  // A real change, even a one-character one, or one at file scope outside any entity, is code.
  r = await check('drivers/misc/widget.c', LINES, LINES.replace('\treturn x * 2;', '\treturn x * 3;'), { tree });
  none(r.findings, 'KLP014');
  const param = C('static bool debug;', 'module_param(debug, bool, 0644);', 'MODULE_PARM_DESC(debug, "verbose widget logging");', '');
  r = await check('drivers/misc/widget.c', param, param.replace('0644', '0600'));
  none(r.findings, 'KLP014');
});

test('no functional change from the hunks alone: a hunk that starts with an added blank line keeps the function its heading names', async () => {
  const patch = [
    'diff --git a/net/xdp/xsk.c b/net/xdp/xsk.c',
    '--- a/net/xdp/xsk.c',
    '+++ b/net/xdp/xsk.c',
    '@@ -339,6 +339,7 @@ int xsk_generic_rcv(struct xdp_sock *xs, struct xdp_buff *xdp)',
    '+',
    ' \tu32 len = xdp_get_buff_len(xdp);',
    ' \tint err;',
    ' ',
    ' \tspin_lock_bh(&xs->rx_lock);',
    ' \terr = xsk_rcv_check(xs, xdp, len);',
    ' \tif (!err) {',
    '',
  ].join('\n');
  const a = await analyzePatch(patch);
  a.dispose();
  assert.deepEqual(a.files[0].entities.map((e) => `${e.name} ${e.aspects.join()}`), ['xsk_generic_rcv cosmetic']);
  assert.match(one(a.findings, 'KLP014').message, /comments or whitespace only \(in xsk_generic_rcv\); the 1 line added only move the line numbers/);
});

test('no functional change in one file of a patch that changes code elsewhere: a note on that file only', async () => {
  const code = gitStyleDiff('drivers/misc/widget.c', LINES, LINES.replace('\treturn x * 2;', '\treturn x * 3;'));
  const doc = gitStyleDiff('drivers/misc/other.c', LINES, LINES.replace('\tWARN_ON(!w);', '\tWARN_ON(!w); /* never NULL */'));
  const a = await analyzePatch(code + doc);
  a.dispose();
  const f = one(a.findings, 'KLP014');
  assert.equal(f.severity, 'information');
  assert.match(f.message, /^drivers\/misc\/other\.c changes no compiled code \(comments or whitespace only \(in widget_b\)\): it adds nothing to the livepatch/);
});

test('inline-ripple: a changed inline helper names its callers; inlining attributes', async () => {
  const tree = tempKernelTree({ 'drivers/misc/widget.c': LINES });
  let r = await check('drivers/misc/widget.c', LINES, LINES.replace('\treturn x * 2;', '\treturn x * 3;'), { tree });
  const f = one(r.findings, 'KLP240');
  assert.match(f.message, /in this file widget_a\(\)/);
  r = await check('drivers/misc/widget.c', LINES, LINES.replace('static int widget_a(int x)', 'static noinline int widget_a(int x)'));
  assert.match(one(r.findings, 'KLP241').message, /gains noinline/);
  r = await check('drivers/misc/widget.c', LINES, LINES.replace('\tw->b++;', '\tw->b += 2;'));
  none(r.findings, 'KLP240', 'KLP241');
});

test('sibling-call: only on ppc64le', async () => {
  const after = LINES.replace('\treturn widget_b_helper(w);', '\treturn widget_b_helper2(w);');
  let r = await check('drivers/misc/widget.c', LINES, after, { arch: 'ppc64le' });
  assert.match(one(r.findings, 'KLP250').message, /-fno-optimize-sibling-calls/);
  r = await check('drivers/misc/widget.c', LINES, after, { arch: 'x86_64' });
  none(r.findings, 'KLP250');
  // no arch setting: the tree's .config decides (an explicit setting wins)
  const ppcConfig = stubIndex({ config: { PPC64: 'y', CPU_LITTLE_ENDIAN: 'y', LIVEPATCH: 'y', DEBUG_INFO: 'y' } });
  r = await check('drivers/misc/widget.c', LINES, after, { index: ppcConfig });
  one(r.findings, 'KLP250');
  r = await check('drivers/misc/widget.c', LINES, after, { index: ppcConfig, arch: 'x86_64' });
  none(r.findings, 'KLP250');
  r = await check('drivers/misc/widget.c', LINES, after, { index: stubIndex({ config: { X86_64: 'y', LIVEPATCH: 'y', DEBUG_INFO: 'y' } }) });
  none(r.findings, 'KLP250');
  // a tail call to an inline function is inlined, not a call: quiet (the helper is in the tree file)
  const tree = tempKernelTree({ 'drivers/misc/widget.c': LINES });
  r = await check('drivers/misc/widget.c', LINES, LINES.replace('\treturn widget_scale(x);', '\treturn widget_scale(x + 1);'), { arch: 'ppc64le', tree });
  none(r.findings, 'KLP250');
  // ... and so is one to an inline helper of a header, known from the index
  const helperTail = C('static int widget_d(int x)', '{', '\treturn widget_fast(x);', '}');
  r = await check('drivers/misc/widget.c', helperTail, helperTail.replace('widget_fast(x)', 'widget_fast(x + 1)'), { arch: 'ppc64le', index: stubIndex({ helpers: { widget_fast: [] } }) });
  none(r.findings, 'KLP250');
  r = await check('drivers/misc/widget.c', helperTail, helperTail.replace('widget_fast(x)', 'widget_fast(x + 1)'), { arch: 'ppc64le' });
  one(r.findings, 'KLP250');
});

// ---------------------------------------------------------------- symbols

const SYMS = C(
  '#include <linux/module.h>',
  '',
  'int widget_count(struct widget *w)',
  '{',
  '\treturn w->users;',
  '}',
  'EXPORT_SYMBOL_GPL(widget_count);',
  '',
  'static void widget_old_helper(struct widget *w)',
  '{',
  '\tw->users = 0;',
  '\tw->flags = 0;',
  '\tw->epoch++;',
  '}',
  '',
  'int widget_reset(struct widget *w)',
  '{',
  '\twidget_old_helper(w);',
  '\treturn 0;',
  '}',
);

test('exported-symbol: signature of an export, new/removed/changed exports, new include', async () => {
  // the EXPORT_SYMBOL line is out of the hunk's view: the tree (or the index) knows it
  const tree = tempKernelTree({ 'drivers/misc/widget.c': SYMS });
  let r = await check('drivers/misc/widget.c', SYMS, SYMS.replace('int widget_count(struct widget *w)', 'int widget_count(const struct widget *w, bool all)'), { tree });
  assert.equal(one(r.findings, 'KLP260').severity, 'error');
  r = await check('drivers/misc/widget.c', SYMS, SYMS.replace('int widget_count(struct widget *w)', 'int widget_count(const struct widget *w, bool all)'), { index: stubIndex({ exports: ['widget_count'] }) });
  assert.equal(one(r.findings, 'KLP260').severity, 'error', 'from the index');
  r = await check('drivers/misc/widget.c', SYMS, SYMS.replace('int widget_reset(struct widget *w)\n{\n\twidget_old_helper(w);\n\treturn 0;\n}', 'int widget_reset(struct widget *w)\n{\n\twidget_old_helper(w);\n\treturn 0;\n}\nEXPORT_SYMBOL(widget_reset);'));
  assert.match(one(r.findings, 'KLP261').message, /__ksymtab_strings/);
  r = await check('drivers/misc/widget.c', SYMS, SYMS.replace('EXPORT_SYMBOL_GPL(widget_count);', 'EXPORT_SYMBOL(widget_count);'));
  assert.match(one(r.findings, 'KLP262').message, /from EXPORT_SYMBOL_GPL to EXPORT_SYMBOL/);
  r = await check('drivers/misc/widget.c', SYMS, SYMS.replace('#include <linux/module.h>', '#include <linux/module.h>\n#include <linux/overflow.h>'), { tree });
  assert.equal(one(r.findings, 'KLP263').severity, 'warning');
  r = await check('drivers/misc/widget.c', SYMS, SYMS.replace('\treturn w->users;', '\treturn READ_ONCE(w->users);'));
  none(r.findings, 'KLP260', 'KLP261', 'KLP262', 'KLP263');
});

test('symbol-namespace: a call to a namespaced export from patched code', async () => {
  const before = C('int widget_sum(int a)', '{', '\treturn a;', '}', 'EXPORT_SYMBOL_NS_GPL(widget_sum, WIDGET);', '', 'static int widget_user(int a)', '{', '\treturn a + 1;', '}');
  let r = await check('drivers/misc/widget.c', before, before.replace('\treturn a + 1;', '\treturn widget_sum(a) + 1;'), { tree: tempKernelTree({ 'drivers/misc/widget.c': before }) });
  assert.equal(one(r.findings, 'KLP270').severity, 'warning');
  // with the index the namespace comes from the tree
  r = await check('drivers/misc/widget2.c', C('static int f(int a)', '{', '\treturn a;', '}'), C('static int f(int a)', '{', '\treturn dma_buf_sum(a);', '}'), { index: stubIndex({ namespaces: { dma_buf_sum: 'DMA_BUF' } }) });
  assert.match(one(r.findings, 'KLP270').message, /MODULE_IMPORT_NS\(DMA_BUF\)/);
  r = await check('drivers/misc/widget2.c', C('static int f(int a)', '{', '\treturn a;', '}'), C('static int f(int a)', '{', '\treturn abs(a);', '}'));
  none(r.findings, 'KLP270');
});

test('symbol-identity: binding change, removed, new, renamed functions, pointers', async () => {
  let r = await check('drivers/misc/widget.c', SYMS, SYMS.replace('int widget_reset(struct widget *w)', 'static int widget_reset(struct widget *w)'));
  assert.match(one(r.findings, 'KLP280').message, /widget_reset becomes static/);
  r = await check('drivers/misc/widget.c', SYMS, SYMS.replace('static void widget_old_helper(struct widget *w)\n{\n\tw->users = 0;\n\tw->flags = 0;\n\tw->epoch++;\n}\n\n', '').replace('\twidget_old_helper(w);\n', '\tw->users = 0;\n'));
  assert.equal(one(r.findings, 'KLP281').severity, 'warning');
  r = await check('drivers/misc/widget.c', SYMS, SYMS.replace(/widget_old_helper/g, 'widget_clear'));
  assert.match(one(r.findings, 'KLP283').message, /widget_old_helper\(\) is renamed to widget_clear\(\)/);
  none(r.findings, 'KLP281', 'KLP282');
  r = await check('drivers/misc/widget.c', SYMS, SYMS.replace('int widget_reset(struct widget *w)\n{\n', 'static void widget_cb(struct widget *w)\n{\n}\n\nint widget_reset(struct widget *w)\n{\n\tw->cb = widget_cb;\n'));
  assert.equal(one(r.findings, 'KLP282').severity, 'information');
  assert.equal(one(r.findings, 'KLP284').severity, 'warning', 'a pointer into the livepatch module');
  // a body change of an existing function, with a call (not a pointer) to another: quiet
  r = await check('drivers/misc/widget.c', SYMS, SYMS.replace('\twidget_old_helper(w);\n', '\twidget_old_helper(w);\n\twidget_old_helper(w);\n'));
  none(r.findings, 'KLP280', 'KLP281', 'KLP282', 'KLP283', 'KLP284');
});

test('module: a file Kbuild builds as a module is KLP300; built-in or unknown is quiet', async () => {
  const after = SYMS.replace('\treturn w->users;', '\treturn READ_ONCE(w->users);');
  let r = await check('drivers/misc/widget.c', SYMS, after, { index: stubIndex({ objects: { 'drivers/misc/widget.c': 'module' } }) });
  const f = one(r.findings, 'KLP300');
  assert.equal(f.severity, 'information');
  assert.match(f.message, /built into the module widget: the livepatch patches it when the module is loaded/);
  r = await check('drivers/misc/widget.c', SYMS, after, { index: stubIndex({ objects: { 'drivers/misc/widget.c': 'vmlinux' } }) });
  none(r.findings, 'KLP300');
  r = await check('drivers/misc/widget.c', SYMS, after);
  none(r.findings, 'KLP300');
});

// ---------------------------------------------------------------- header-wide, module, callbacks, kpatch macros, config

test('header-wide: a header change; a .c change is not one', async () => {
  const h = C('#ifndef _WIDGET_H', '#define _WIDGET_H', 'static inline int widget_id(void) { return 1; }', '#endif');
  let r = await check('include/linux/widget.h', h, h.replace('return 1;', 'return 2;'));
  const f = one(r.findings, 'KLP290');
  assert.equal(f.severity, 'warning');
  assert.match(f.message, /shared kernel header/);
  r = await check('drivers/misc/widget.c', SYMS, SYMS.replace('\treturn w->users;', '\treturn w->users + 0;'));
  none(r.findings, 'KLP290');
});

test('callbacks: unpaired pre_patch; paired is only informative', async () => {
  const before = C('#include <linux/livepatch.h>', '', 'static int widget_fixup(struct klp_object *obj)', '{', '\treturn 0;', '}');
  let r = await check('drivers/misc/widget.c', before, before + 'KLP_PRE_PATCH_CALLBACK(widget_fixup);\n');
  assert.match(one(r.findings, 'KLP310').message, /pre_patch callback \(widget_fixup\(\)\) but the patch has no post_unpatch callback/);
  r = await check('drivers/misc/widget.c', before, before + 'KLP_POST_UNPATCH_CALLBACK(widget_cleanup);\n');
  none(r.findings, 'KLP310');
  r = await check('drivers/misc/widget.c', before, before + 'KLP_PRE_PATCH_CALLBACK(widget_fixup);\nKLP_POST_UNPATCH_CALLBACK(widget_unfix);\n');
  none(r.findings, 'KLP310');
  assert.equal(one(r.findings, 'KLP311').severity, 'information');
});

test('kpatch-macro: escape hatches are surfaced', async () => {
  const before = C('static int widget_quick(void)', '{', '\treturn 0;', '}');
  let r = await check('drivers/misc/widget.c', before, before + 'KPATCH_IGNORE_FUNCTION(widget_quick);\n');
  assert.match(one(r.findings, 'KLP320').message, /declares a changed function unchanged/);
  // a comment that names the macro is not a use
  r = await check('drivers/misc/widget.c', before, before.replace('\treturn 0;', '\t/* no KPATCH_IGNORE_FUNCTION here */\n\treturn 1;'));
  none(r.findings, 'KLP320');
});

test('kernel-config: blockers and configured-out changes (with the tree and an index)', async () => {
  const before = C('static int widget_x(void)', '{', '#ifdef CONFIG_WIDGET_DEBUG', '\tpr_info("x\\n");', '#endif', '#if defined(CONFIG_A) && defined(CONFIG_B)', '\treturn 1;', '#else', '\treturn 0;', '#endif', '}');
  const after = before.replace('\tpr_info("x\\n");', '\tpr_info("x=%d\\n", 1);').replace('\treturn 0;', '\treturn -1;');
  const tree = tempKernelTree({ 'drivers/misc/widget.c': before });
  const r = await check('drivers/misc/widget.c', before, after, { index: stubIndex({ config: { LIVEPATCH: 'y', DEBUG_INFO: 'y', GCC_PLUGIN_RANDSTRUCT: 'y' } }), tree });
  assert.match(one(r.findings, 'KLP330').message, /CONFIG_GCC_PLUGIN_RANDSTRUCT/);
  // the #ifdef CONFIG_WIDGET_DEBUG line is off; the #else of a condition the rule cannot evaluate is not
  const off = one(r.findings, 'KLP331');
  assert.match(off.message, /^1 changed line of drivers\/misc\/widget.c/);
  assert.equal(off.range.start.line, lineOf(r.lines, 'pr_info("x=%d'));
  const r2 = await check('drivers/misc/widget.c', before, after, { index: stubIndex({ config: { LIVEPATCH: 'y', DEBUG_INFO: 'y', WIDGET_DEBUG: 'y' } }), tree });
  none(r2.findings, 'KLP330', 'KLP331');
  const r3 = await check('drivers/misc/widget.c', before, after, { index: stubIndex({ config: { DEBUG_INFO: 'y' } }), tree });
  assert.match(one(r3.findings, 'KLP330').message, /CONFIG_LIVEPATCH/);
  const r4 = await check('drivers/misc/widget.c', before, after, { index: stubIndex({ config: { LIVEPATCH: 'y', X86_KERNEL_IBT: 'y', DEBUG_INFO: 'y' } }), tree });
  const ibt = one(r4.findings, 'KLP330');
  assert.equal(ibt.severity, 'warning', 'IBT blocks kpatch-build only');
  assert.match(ibt.message, /^kpatch-build refuses/);
});

test('coverage (KLP013): says what was not checked without a tree, its index or a .config; quiet with all three', async () => {
  const after = SYMS.replace('\treturn w->users;', '\treturn READ_ONCE(w->users);');
  let r = await check('drivers/misc/widget.c', SYMS, after);
  let f = one(r.findings, 'KLP013');
  assert.equal(f.severity, 'information');
  assert.match(f.message, /^Analysed from the hunks alone: without a kernel tree .* not checked: whether each patched file is built into vmlinux or as a module \(KLP300\)/);
  assert.equal(f.range.start.line, 0, 'on the first C file\'s header');
  const tree = tempKernelTree({ 'drivers/misc/widget.c': SYMS });
  r = await check('drivers/misc/widget.c', SYMS, after, { tree });
  assert.match(one(r.findings, 'KLP013').message, /^The index of .* is not available \(still being built, or --no-index\)/);
  r = await check('drivers/misc/widget.c', SYMS, after, { tree, index: stubIndex({}) });
  assert.match(one(r.findings, 'KLP013').message, /has no \.config .* not checked are config options that block livepatch builds \(KLP330\)/);
  r = await check('drivers/misc/widget.c', SYMS, after, { tree, index: stubIndex({ config: { LIVEPATCH: 'y', DEBUG_INFO: 'y' } }) });
  none(r.findings, 'KLP013');
  // no C code in the patch: nothing to say
  r = await check('drivers/misc/Makefile', 'obj-y += widget.o\n', 'obj-y += widget.o widget_extra.o\n');
  none(r.findings, 'KLP013');
});

test('a rule that throws is reported as KLP012 and the others still run', async () => {
  const a = await analyzePatch(gitStyleDiff('drivers/misc/widget.c', DATA, DATA.replace('widget_limit = 16', 'widget_limit = 32')), {});
  a.dispose();
  const boom = { id: 'boom', run: () => { throw new Error('kaboom'); } };
  const ok = { id: 'ok', run: () => [a.findings[0]] };
  const out = runRules({ set: a.set, files: a.files, target: { arch: 'x86_64', tool: 'kpatch-build' } }, [boom, ok]);
  assert.equal(out.length, 2);
  assert.equal(out[0].code, 'KLP012');
  assert.match(out[0].message, /"boom" check failed on this patch \(kaboom\)/);
  assert.equal(out[1], a.findings[0]);
});

// ---------------------------------------------------------------- a stand-in index for rules that need the tree's facts

function stubIndex(o: { exports?: string[]; keys?: Record<string, 'module' | 'vmlinux'>; helpers?: Record<string, string[]>; objects?: Record<string, 'module' | 'vmlinux'>; namespaces?: Record<string, string>; config?: Record<string, string> }): TreeFacts {
  return {
    exportOf: (s) => (o.namespaces?.[s] ? { file: 'x.c', line: 0, macro: 'EXPORT_SYMBOL_NS_GPL', namespace: o.namespaces[s] } : o.exports?.includes(s) ? { file: 'x.c', line: 0, macro: 'EXPORT_SYMBOL_GPL' } : undefined),
    staticKey: (n) => (o.keys?.[n] ? { file: 'drivers/misc/widget.c', line: 0, macro: 'DEFINE_STATIC_KEY_FALSE', where: o.keys[n] } : undefined),
    staticCall: () => undefined,
    inlineHelper: (n) => (o.helpers?.[n] ? { file: 'include/linux/widget.h', line: 0, keys: o.helpers[n], calls: [] } : undefined),
    isFunctionMacro: () => undefined,
    callersOf: () => [],
    includersOf: () => [],
    objectKind: (f) => o.objects?.[f] ?? 'unknown',
    moduleName: (f) => (o.objects?.[f] === 'module' ? 'widget' : undefined),
    kconfigType: () => undefined,
    configValue: (s) => o.config?.[s],
    hasConfig: o.config !== undefined,
  };
}

void codes;

test('under KLP_LENS_STRICT=1 (npm test) a crashing rule is not hidden as KLP012: the exception goes up and fails the test', async () => {
  const a = await analyzePatch(gitStyleDiff('drivers/misc/widget.c', DATA, DATA.replace('widget_limit = 16', 'widget_limit = 32')), {});
  a.dispose();
  const boom = { id: 'boom', run: () => { throw new Error('kaboom'); } };
  assert.throws(() => runRules({ set: a.set, files: a.files, target: { arch: 'x86_64', tool: 'kpatch-build' } }, [boom], true), /kaboom/);
  assert.equal(process.env.KLP_LENS_STRICT, '1', 'npm test runs the suite in strict mode');
});
