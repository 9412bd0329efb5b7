/**
 * Fixes on patches written against the real linux-source-6.1 tree: each fix
 * must leave a patch that still applies to the tree (`git apply --check`) and
 * no longer raises the diagnostic it answered; the shadow-variable conversion
 * must follow the upstream pattern (allocate on creation or first write, get
 * on use, free on destruction, free all on unpatch).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzePatch, targetOf, type AnalyzeOptions } from '../../server/src/core/analysis';
import { applyFix, fixesFor, FixError, type FixResult } from '../../server/src/core/fixes';
import type { Finding } from '../../server/src/core/findings';
import { KernelTree } from '../../server/src/core/tree/kernelTree';
import { gitApplyCheck, gitStyleDiff, linuxSourceTree, ROOT } from '../helpers';

const LINUX = linuxSourceTree();
const skip = LINUX ? false : 'linux-source-6.1 is not unpacked in /usr/src (KLP_LENS_LINUX_SOURCE): .ci/run installs it';
const tree = () => KernelTree.open(LINUX!).tree!;

/** A patch of one real file: each [from, to] replaced once (it must match). */
function realPatch(path: string, edits: [string, string][]): string {
  const before = readFileSync(join(LINUX!, path), 'utf8');
  let after = before;
  for (const [from, to] of edits) {
    assert.ok(after.includes(from), `${path} no longer contains ${JSON.stringify(from)}`);
    after = after.replace(from, to);
  }
  return gitStyleDiff(path, before, after);
}

/** Analyse, fix the first finding of `code` with fix `id`, check the result applies; the new patch's findings. */
async function fixOnce(patch: string, code: string, id: string, opts: AnalyzeOptions = {}): Promise<{ result: FixResult; before: Finding; after: Finding[]; text: string }> {
  const a = await analyzePatch(patch, { tree: tree(), keepSyntax: true, ...opts });
  try {
    const before = a.findings.find((f) => f.code === code && fixesFor({ text: patch, analysis: a, tree: tree(), target: targetOf({ ...opts, tree: tree() }) }, f).some((o) => o.fix.id === id));
    assert.ok(before, `no ${code} with a ${id} fix: ${a.findings.map((f) => `${f.code}:${f.severity}`).join(' ')}`);
    const ctx = { text: patch, analysis: a, tree: tree(), target: targetOf({ ...opts, tree: tree() }) };
    const offer = fixesFor(ctx, before).find((o) => o.fix.id === id)!;
    const result = applyFix(ctx, offer.fix, before);
    const err = gitApplyCheck(result.text, LINUX!);
    assert.equal(err, '', `the fixed patch does not apply:\n${err}\n${result.text}`);
    const b = await analyzePatch(result.text, { tree: tree(), ...opts });
    b.dispose();
    return { result, before, after: b.findings, text: result.text };
  } finally {
    a.dispose();
  }
}

const gone = (after: Finding[], code: string, about?: (f: Finding) => boolean) => assert.deepEqual(after.filter((f) => f.code === code && (!about || about(f))).map((f) => f.message.slice(0, 100)), []);

test('static-key-enabled: a jump label on a context line of the patched function becomes static_key_enabled()', { skip }, async () => {
  const patch = realPatch('kernel/stackleak.c', [['\ttable->data = &state;\n', '\tif (write && !capable(CAP_SYS_ADMIN))\n\t\treturn -EPERM;\n\n\ttable->data = &state;\n']]);
  const r = await fixOnce(patch, 'KLP190', 'static-key-enabled');
  assert.match(r.text, /\n-\tint state = !static_branch_unlikely\(&stack_erasing_bypass\);\n\+\tint state = !static_key_enabled\(&stack_erasing_bypass\);\n/);
  gone(r.after, 'KLP190');
});

test('static-call-macro: static_call(kvm_x86_get_cpl) → KPATCH_STATIC_CALL, or KLP_STATIC_CALL for klp-build', { skip }, async () => {
  const patch = realPatch('arch/x86/kvm/x86.c', [['\tif (static_call(kvm_x86_get_cpl)(vcpu) <= required_cpl)\n\t\treturn true;', '\tif (required_cpl < 0)\n\t\treturn false;\n\tif (static_call(kvm_x86_get_cpl)(vcpu) <= required_cpl)\n\t\treturn true;']]);
  let r = await fixOnce(patch, 'KLP200', 'static-call-macro');
  assert.match(r.text, /\+\tif \(KPATCH_STATIC_CALL\(kvm_x86_get_cpl\)\(vcpu\) <= required_cpl\)/);
  assert.match(r.text, /\+#ifndef __GENKSYMS__\n\+#include "kpatch-macros.h"\n\+#endif/, 'x86.c exports symbols: the include is hidden from genksyms');
  gone(r.after, 'KLP200');
  gone(r.after, 'KLP263');
  r = await fixOnce(patch, 'KLP200', 'static-call-macro', { tool: 'klp-build' });
  assert.match(r.text, /\+\tif \(KLP_STATIC_CALL\(kvm_x86_get_cpl\)\(vcpu\) <= required_cpl\)/);
  assert.match(r.text, /\+#include <linux\/livepatch_helpers.h>/);
});

test('syscall-define: SYSCALL_DEFINE1(umask) → KPATCH_SYSCALL_DEFINE1, also from the hunks alone', { skip }, async () => {
  const patch = realPatch('kernel/sys.c', [['\tmask = xchg(&current->fs->umask, mask & S_IRWXUGO);', '\tif (mask & ~S_IRWXUGO)\n\t\tpr_debug("umask: extra bits %o ignored\\n", mask & ~S_IRWXUGO);\n\tmask = xchg(&current->fs->umask, mask & S_IRWXUGO);']]);
  const r = await fixOnce(patch, 'KLP210', 'syscall-define');
  assert.match(r.text, /\n-SYSCALL_DEFINE1\(umask, int, mask\)\n\+KPATCH_SYSCALL_DEFINE1\(umask, int, mask\)\n/);
  assert.match(r.text, /\+#include "kpatch-syscall.h"/);
  gone(r.after, 'KLP210');
  // the new definition is the same system call, not a removed and an added function
  gone(r.after, 'KLP281');
  // without a tree the include cannot be placed: the fix says so and still rewrites the definition
  const a = await analyzePatch(patch, { keepSyntax: true });
  try {
    const ctx = { text: patch, analysis: a, target: targetOf({}) };
    const f = a.findings.find((x) => x.code === 'KLP210')!;
    const res = applyFix(ctx, fixesFor(ctx, f)[0].fix, f);
    assert.match(res.text, /\+KPATCH_SYSCALL_DEFINE1\(umask, int, mask\)/);
    assert.ok(res.notes.some((n) => /Add #include "kpatch-syscall.h" to kernel\/sys.c/.test(n)), res.notes.join('\n'));
  } finally {
    a.dispose();
  }
});

test('line-directives: #line after each change keeps the numbering of the unchanged functions below', { skip }, async () => {
  const patch = readFileSync(join(ROOT, 'examples', 'kthread-unpark.patch'), 'utf8');
  const r = await fixOnce(patch, 'KLP230', 'line-directives');
  // after the struct hunk (+2 lines, +2 lines) and after the unpark hunk
  assert.match(r.text, /\+DEFINE_STATIC_KEY_FALSE\(kthread_unpark_debug\);\n\+\n\+#line 67\n enum KTHREAD_BITS/);
  assert.match(r.text, /\+\t\}\n\+#line 633\n \n \tclear_bit\(KTHREAD_SHOULD_PARK, &kthread->flags\);/);
  gone(r.after, 'KLP230');
});

test('init-callbacks: a changed default (dirty_background_ratio) is kept and set from a pre-patch callback', { skip }, async () => {
  const patch = realPatch('mm/page-writeback.c', [['int dirty_background_ratio = 10;', 'int dirty_background_ratio = 5;']]);
  const r = await fixOnce(patch, 'KLP110', 'init-callbacks');
  assert.doesNotMatch(r.text, /^[-+]int dirty_background_ratio/m, 'the declaration is unchanged');
  assert.match(r.text, /\+static int klp_dirty_background_ratio_pre_patch\(patch_object \*obj\)\n\+\{\n\+\tif \(dirty_background_ratio == 10\) \{\n\+\t\tdirty_background_ratio = 5;\n\+\t\tklp_dirty_background_ratio_set = true;\n/);
  assert.match(r.text, /\+\tif \(klp_dirty_background_ratio_set && dirty_background_ratio == 5\)\n\+\t\tdirty_background_ratio = 10;/);
  assert.match(r.text, /\+KPATCH_PRE_PATCH_CALLBACK\(klp_dirty_background_ratio_pre_patch\);\n\+KPATCH_POST_UNPATCH_CALLBACK\(klp_dirty_background_ratio_post_unpatch\);/);
  gone(r.after, 'KLP110');
  gone(r.after, 'KLP310');
  assert.ok(!r.after.some((f) => f.severity === 'error'), r.after.filter((f) => f.severity === 'error').map((f) => f.message).join('\n'));
});

test('shadow-field: a counter added to struct kthread becomes a shadow variable (alloc on write, get on read, free with the object, free all on unpatch)', { skip }, async () => {
  const patch = readFileSync(join(ROOT, 'examples', 'kthread-unpark.patch'), 'utf8');
  const r = await fixOnce(patch, 'KLP101', 'shadow-field');
  const t = r.text;
  // the struct keeps its layout: neither the field nor its comment is added any more
  assert.doesNotMatch(t, /^\+.*offline_unparks;$/m);
  assert.doesNotMatch(t, /^\+\s*\/\* Unparks seen while the CPU was offline/m);
  // a documented unique id, the helpers, the includes (hidden from genksyms: kthread.c exports symbols)
  assert.match(t, /\+#define KLP_SHADOW_KTHREAD_OFFLINE_UNPARKS\t0x[0-9a-f]{8}UL/);
  assert.match(t, /\+#ifndef __GENKSYMS__\n\+#include <linux\/livepatch.h>\n\+#include "kpatch-macros.h"\n\+#endif/);
  assert.match(t, /\+\treturn klp_shadow_get_or_alloc\(obj, KLP_SHADOW_KTHREAD_OFFLINE_UNPARKS, sizeof\(unsigned int\),/);
  assert.match(t, /\+\tunsigned int \*sv = klp_shadow_get\(obj, KLP_SHADOW_KTHREAD_OFFLINE_UNPARKS\);\n\+\n\+\treturn sv \? \*sv : 0;/);
  // the write: allocated (or found) with GFP flags for the context, NULL-safe
  assert.match(t, /\+\t\t\tunsigned int \*klp_offline_unparks = klp_kthread_offline_unparks\(kthread, GFP_(ATOMIC|KERNEL)\);\n\+\n\+\t\t\tif \(klp_offline_unparks\)\n\+\t\t\t\t\(\*klp_offline_unparks\)\+\+;/);
  // the read: 0 for kthreads created before the patch
  assert.match(t, /\+\t\t\t\tk->comm, kthread->cpu, klp_kthread_offline_unparks_read\(kthread\)\);/);
  // freed with the object (free_kthread_struct() becomes a patched function), and all freed on unpatch
  assert.match(t, /\+\tklp_shadow_free\(kthread, KLP_SHADOW_KTHREAD_OFFLINE_UNPARKS, NULL\);\n \tkfree\(kthread\);/);
  assert.match(t, /\+\tklp_shadow_free_all\(KLP_SHADOW_KTHREAD_OFFLINE_UNPARKS, NULL\);\n\+\}\n\+KPATCH_POST_UNPATCH_CALLBACK\(klp_kthread_offline_unparks_post_unpatch\);/);
  gone(r.after, 'KLP101');
  gone(r.after, 'KLP150');
  gone(r.after, 'KLP152');
  assert.ok(!r.after.some((f) => f.severity === 'error'), r.after.filter((f) => f.severity === 'error').map((f) => `${f.code} ${f.message}`).join('\n'));
});

test('shadow-field: a lock added to struct kthread becomes one global lock; its init goes away', { skip }, async () => {
  const patch = realPatch('kernel/kthread.c', [
    ['\tchar *full_name;\n};', '\tchar *full_name;\n\tstruct mutex park_lock;\n};'],
    ['\tinit_completion(&kthread->parked);\n', '\tinit_completion(&kthread->parked);\n\tmutex_init(&kthread->park_lock);\n'],
    ['\tif (WARN_ON(k->flags & PF_EXITING))\n\t\treturn -ENOSYS;\n\n\tif (WARN_ON_ONCE(test_bit(KTHREAD_SHOULD_PARK, &kthread->flags)))\n\t\treturn -EBUSY;\n', '\tif (WARN_ON(k->flags & PF_EXITING))\n\t\treturn -ENOSYS;\n\n\tmutex_lock(&kthread->park_lock);\n\tif (WARN_ON_ONCE(test_bit(KTHREAD_SHOULD_PARK, &kthread->flags))) {\n\t\tmutex_unlock(&kthread->park_lock);\n\t\treturn -EBUSY;\n\t}\n\tmutex_unlock(&kthread->park_lock);\n'],
  ]);
  const r = await fixOnce(patch, 'KLP101', 'shadow-field');
  assert.match(r.text, /\+static DEFINE_MUTEX\(klp_kthread_park_lock_lock\);/);
  assert.match(r.text, /\+\tmutex_lock\(&klp_kthread_park_lock_lock\);/);
  assert.doesNotMatch(r.text, /^\+.*mutex_init\(&kthread->park_lock\)/m);
  assert.doesNotMatch(r.text, /^\+.*park_lock;$/m);
  assert.ok(r.result.notes.some((n) => /one global lock|the global lock/.test(n)));
  gone(r.after, 'KLP101');
  // the other way: a lock per object, created where set_kthread_struct() allocates the kthread
  const p = await fixOnce(patch, 'KLP101', 'shadow-lock');
  const t = p.text;
  assert.match(t, /\+\tif \(kthread\)\n\+\t\tklp_shadow_alloc\(kthread, KLP_SHADOW_KTHREAD_PARK_LOCK, sizeof\(struct mutex\), GFP_KERNEL, klp_kthread_park_lock_ctor, NULL\);/);
  assert.match(t, /\+\tmutex_init\(\(struct mutex \*\)shadow_data\);/, 'the constructor initialises the lock');
  assert.match(t, /\+\tstruct mutex \*lock = klp_shadow_get\(obj, KLP_SHADOW_KTHREAD_PARK_LOCK\);\n\+\n\+\treturn lock \? lock : &klp_kthread_park_lock_fallback;/);
  assert.match(t, /\+static DEFINE_MUTEX\(klp_kthread_park_lock_fallback\);/);
  assert.match(t, /\+\tmutex_lock\(klp_kthread_park_lock\(kthread\)\);/);
  assert.match(t, /\+\t\tmutex_unlock\(klp_kthread_park_lock\(kthread\)\);/);
  assert.match(t, /\+\tklp_shadow_free\(kthread, KLP_SHADOW_KTHREAD_PARK_LOCK, NULL\);\n \tkfree\(kthread\);/);
  assert.match(t, /\+\tklp_shadow_free_all\(KLP_SHADOW_KTHREAD_PARK_LOCK, NULL\);/);
  gone(p.after, 'KLP101');
  gone(p.after, 'KLP150');
  gone(p.after, 'KLP152');
});

test('semantic-marker: a counter pair changed from ±1 to ±2 branches on a marker set on objects created after the transition', { skip }, async () => {
  const patch = realPatch('kernel/trace/pid_list.c', [
    ['\tpid_list->lower_list = chunk;\n\tpid_list->free_lower_chunks++;', '\tpid_list->lower_list = chunk;\n\tpid_list->free_lower_chunks += 2;'],
    ['\tpid_list->free_lower_chunks--;\n', '\tpid_list->free_lower_chunks -= 2;\n'],
  ]);
  const r = await fixOnce(patch, 'KLP140', 'semantic-marker');
  const t = r.text;
  // both sites keep the old statement for unmarked objects
  assert.match(t, /\+\tif \(klp_shadow_get\(pid_list, KLP_SEM_TRACE_PID_LIST_FREE_LOWER_CHUNKS\)\)\n\+\t\tpid_list->free_lower_chunks \+= 2;\n\+\telse\n\+\t\tpid_list->free_lower_chunks\+\+;/);
  assert.match(t, /\+\tif \(klp_shadow_get\(pid_list, KLP_SEM_TRACE_PID_LIST_FREE_LOWER_CHUNKS\)\)\n\+\t\tpid_list->free_lower_chunks -= 2;\n\+\telse\n\+\t\tpid_list->free_lower_chunks--;/);
  // objects are marked where trace_pid_list_alloc() allocates them, only once the transition completed
  assert.match(t, /\+\tif \(pid_list && READ_ONCE\(klp_trace_pid_list_free_lower_chunks_sem_active\)\)\n\+\t\tklp_shadow_alloc\(pid_list, KLP_SEM_TRACE_PID_LIST_FREE_LOWER_CHUNKS, 0, GFP_KERNEL, NULL, NULL\);/);
  assert.match(t, /\+\tWRITE_ONCE\(klp_trace_pid_list_free_lower_chunks_sem_active, true\);\n\+\}\n\+KPATCH_POST_PATCH_CALLBACK/);
  assert.match(t, /\+KPATCH_PRE_UNPATCH_CALLBACK\(klp_trace_pid_list_free_lower_chunks_sem_pre_unpatch\);/);
  // dropped where trace_pid_list_free() frees them, and all of them on unpatch
  assert.match(t, /\+\tklp_shadow_free\(pid_list, KLP_SEM_TRACE_PID_LIST_FREE_LOWER_CHUNKS, NULL\);\n \tkfree\(pid_list\);/);
  assert.match(t, /\+\tklp_shadow_free_all\(KLP_SEM_TRACE_PID_LIST_FREE_LOWER_CHUNKS, NULL\);/);
  // the unchanged functions that also move the counter are named for review
  assert.ok(r.result.notes.some((n) => /also change free_lower_chunks and (is|are) not patched/.test(n)), r.result.notes.join('\n'));
  gone(r.after, 'KLP140');
});

test('a fix that cannot apply says why instead of editing', { skip }, async () => {
  // a write inside an expression cannot be guarded mechanically
  const patch = realPatch('kernel/kthread.c', [
    ['\tchar *full_name;\n};', '\tchar *full_name;\n\tunsigned int wakeups;\n};'],
    ['\tif (test_bit(KTHREAD_IS_PER_CPU, &kthread->flags))\n\t\t__kthread_bind(k, kthread->cpu, TASK_PARKED);', '\tif (test_bit(KTHREAD_IS_PER_CPU, &kthread->flags) && ++kthread->wakeups)\n\t\t__kthread_bind(k, kthread->cpu, TASK_PARKED);'],
  ]);
  const a = await analyzePatch(patch, { tree: tree(), keepSyntax: true });
  try {
    const ctx = { text: patch, analysis: a, tree: tree(), target: targetOf({ tree: tree() }) };
    const f = a.findings.find((x) => x.code === 'KLP101')!;
    const offer = fixesFor(ctx, f).find((o) => o.fix.id === 'shadow-field')!;
    assert.throws(() => applyFix(ctx, offer.fix, f), (e: Error) => e instanceof FixError && /writes wakeups inside an expression; split it into a statement of its own first/.test(e.message));
  } finally {
    a.dispose();
  }
});

test('shadow-field from the hunks alone: definitions before a function whose head is shown, else the shadow API inline', async () => {
  const C = (...l: string[]) => l.join('\n') + '\n';
  const header = C('#ifndef _WIDGET_H', '#define _WIDGET_H', '', 'struct widget {', '\tspinlock_t lock;', '\tunsigned int users;', '};', '', '#endif');
  const source = C(
    '// SPDX-License-Identifier: GPL-2.0',
    '#include <linux/slab.h>',
    '#include <linux/widget.h>',
    '',
    'int widget_use(struct widget *w)',
    '{',
    '\tw->users++;',
    '\treturn 0;',
    '}',
    '',
    'void widget_drop(struct widget *w)',
    '{',
    '\tunsigned long flags;',
    '',
    '\tspin_lock_irqsave(&w->lock, flags);',
    '\tw->users--;',
    '\tif (!w->users)',
    '\t\tpr_debug("widget idle\\n");',
    '\tspin_unlock_irqrestore(&w->lock, flags);',
    '}',
  );
  const tree = { 'include/linux/widget.h': header, 'drivers/misc/widget.c': source };
  const header2 = header.replace('\tunsigned int users;\n', '\tunsigned int users;\n\tunsigned int drops;\n');
  const run = async (after: string) => {
    const patch = gitStyleDiff('include/linux/widget.h', header, header2) + gitStyleDiff('drivers/misc/widget.c', source, after);
    const a = await analyzePatch(patch, { keepSyntax: true });
    try {
      const ctx = { text: patch, analysis: a, target: targetOf({}) };
      const f = a.findings.find((x) => x.code === 'KLP101')!;
      const r = applyFix(ctx, fixesFor(ctx, f).find((o) => o.fix.id === 'shadow-field')!.fix, f);
      const dir = mkdtempSync(join(tmpdir(), 'klp-lens-hunks-'));
      for (const [p, t] of Object.entries(tree)) {
        spawnSync('mkdir', ['-p', join(dir, p.replace(/\/[^/]*$/, ''))]);
        writeFileSync(join(dir, p), t);
      }
      writeFileSync(join(dir, 'x.patch'), r.text);
      const apply = spawnSync('git', ['apply', '--check', 'x.patch'], { cwd: dir, encoding: 'utf8' });
      assert.equal(apply.status, 0, `${apply.stderr}\n${r.text}`);
      return r;
    } finally {
      a.dispose();
    }
  };
  // (a) the head of widget_use() is in the hunk: the definitions and the unpatch callback go right before it
  let r = await run(source.replace('\tw->users++;', '\tw->users++;\n\tw->drops = 0;'));
  assert.doesNotMatch(r.text, /^\+\tunsigned int drops;/m);
  assert.match(r.text, /\+#define KLP_SHADOW_WIDGET_DROPS\t0x[0-9a-f]{8}UL\n(\+.*\n)*\+KPATCH_POST_UNPATCH_CALLBACK\(klp_widget_drops_post_unpatch\);\n\+\n int widget_use\(struct widget \*w\)/);
  assert.ok(r.notes.some((n) => /Add #include <linux\/livepatch.h> and #include "kpatch-macros.h" to drivers\/misc\/widget.c: its includes are not in the patch/.test(n)), r.notes.join('\n'));
  // (b) deep in widget_drop(): no file scope in view, the shadow API is written out at each use (under the spinlock: GFP_ATOMIC)
  r = await run(source.replace('\tw->users--;\n', '\tw->users--;\n\tw->drops++;\n\tif (w->drops > 100)\n\t\tpr_debug("widget: %u drops\\n", w->drops);\n'));
  assert.match(r.text, /\+#define KLP_SHADOW_WIDGET_DROPS\t0x[0-9a-f]{8}UL\t\/\* Livepatch: shadow variable id for struct widget::drops; unique among livepatches \*\/\n\+\t\{/);
  assert.match(r.text, /\+\t\tunsigned int \*klp_drops = klp_shadow_get_or_alloc\(w, KLP_SHADOW_WIDGET_DROPS, sizeof\(unsigned int\), GFP_ATOMIC, NULL, NULL\);/);
  assert.match(r.text, /\+\tif \(\(\{ unsigned int \*klp_sv = klp_shadow_get\(w, KLP_SHADOW_WIDGET_DROPS\); klp_sv \? \*klp_sv : 0; \}\) > 100\)/);
  assert.ok(r.notes.some((n) => /its file scope is not in the patch.*klp_shadow_free_all\(KLP_SHADOW_WIDGET_DROPS, NULL\)/.test(n)), r.notes.join('\n'));
});
