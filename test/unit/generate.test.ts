/**
 * Module generation on a small kernel-style file, without kbuild: every
 * declaration the unit copies keeps its storage class, qualifiers and
 * sections; the declarations it derives for what the target has are plain
 * `extern`s bound to klp relocation placeholders; what the target's symbol
 * table does not have travels with the module; callers replace a function the
 * target inlined; system calls and callbacks-only patches make modules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzePatch, targetOf } from '../../server/src/core/analysis';
import { generateModule, moduleNameFor, type GeneratedModule } from '../../server/src/core/generate/module';
import { parseSymbolText } from '../../server/src/core/symbols/table';
import { KernelTree } from '../../server/src/core/tree/kernelTree';
import { gitStyleDiff } from '../helpers';

const STATS_C = `// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/jump_label.h>

static DEFINE_STATIC_KEY_TRUE(stats_key);
static DEFINE_SPINLOCK(stats_lock);
static unsigned long __read_mostly stats_limit = 64;
static const char * const stat_names[] = { "rx", "tx", "drop" };
static volatile int stats_armed;
int stats_total __ro_after_init;

static inline int stats_ok(int i)
{
	return i < stats_limit;
}

static int stats_scale(int v)
{
	return v * 2;
}

static int stats_show(struct seq_file *m, void *v)
{
	static int ctr;
	static struct { int a; } fake_pinfo = { .a = 1 };
	static const char tag[] __section(".rodata.stats") = "s";
	int i;

	ctr++;
	spin_lock(&stats_lock);
	for (i = 0; i < ARRAY_SIZE(stat_names); i++)
		if (static_branch_likely(&stats_key) && stats_ok(i))
			seq_printf(m, "%s %d %d\\n", stat_names[i], ctr, fake_pinfo.a);
	spin_unlock(&stats_lock);
	return stats_scale(stats_armed + stats_total + tag[0]);
}

static int stats_open(struct inode *inode, struct file *file)
{
	return single_open(file, stats_show, NULL);
}
`;

const PATCHED = STATS_C.replace(
  'static int stats_show(',
  'static unsigned int __read_mostly stats_calls = 5;\nstatic DEFINE_MUTEX(stats_calls_mutex);\n\nstatic int stats_show(',
).replace('\tctr++;\n', '\tctr++;\n\tmutex_lock(&stats_calls_mutex);\n\tstats_calls++;\n\tmutex_unlock(&stats_calls_mutex);\n');

/** A kallsyms of the target: stats_scale() was inlined everywhere, so it is absent. */
const KALLSYMS = [
  'ffffffff81000000 T _stext',
  'ffffffff81200000 t stats_ok_other',
  'ffffffff81200100 t stats_show',
  'ffffffff81200200 t stats_open',
  'ffffffff82000000 d stats_key',
  'ffffffff82000040 d stats_lock',
  'ffffffff82000080 d stats_limit',
  'ffffffff82000100 D stats_total',
  'ffffffff83000000 b stats_armed',
].join('\n');

function miniTree(files: Record<string, string>): KernelTree {
  const root = mkdtempSync(join(tmpdir(), 'klp-lens-minitree-'));
  writeFileSync(join(root, 'Makefile'), 'VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n');
  writeFileSync(join(root, 'Kconfig'), 'mainmenu "Linux"\n');
  mkdirSync(join(root, 'kernel'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return KernelTree.detect(root)!;
}

async function generate(path: string, before: string, after: string, files: Record<string, string> = {}, symbols = KALLSYMS): Promise<GeneratedModule> {
  const tree = miniTree({ [path]: before, ...files });
  const a = await analyzePatch(gitStyleDiff(path, before, after), { tree, keepSyntax: true });
  try {
    return generateModule({ analysis: a, tree, target: targetOf({ tree }) }, { generator: 'test', symbols: parseSymbolText(symbols, '/tmp/kallsyms'), symvers: new Map() });
  } finally {
    a.dispose();
  }
}

const text = (m: GeneratedModule, path: string) => m.files.find((f) => f.path === path)?.text ?? '';

test('copied declarations keep their storage class, qualifiers and sections; derived ones are plain externs', async () => {
  const m = await generate('drivers/misc/stats.c', STATS_C, PATCHED);
  const unit = text(m, 'drivers_misc_stats.c');
  // the replacement: a global function, its static locals still static, word for word
  assert.match(unit, /^int livepatch_stats_show\(struct seq_file \*m, void \*v\)$/m);
  assert.match(unit, /^\tstatic int ctr;$/m);
  assert.match(unit, /^\tstatic struct \{ int a; \} fake_pinfo = \{ \.a = 1 \};$/m);
  assert.match(unit, /^\tstatic const char tag\[\] __section\("\.rodata\.stats"\) = "s";$/m);
  // new data of the patch, as the patch wrote it
  assert.match(unit, /^static unsigned int __read_mostly stats_calls = 5;$/m);
  assert.match(unit, /^static DEFINE_MUTEX\(stats_calls_mutex\);$/m);
  // an inline helper and an unsized read-only array: copied as they are
  assert.match(unit, /^static inline int stats_ok\(int i\)$/m);
  assert.match(unit, /^static const char \* const stat_names\[\] = \{ "rx", "tx", "drop" \};$/m);
  // what the target has: extern, qualifiers kept, placement dropped, bound to the unit's placeholder
  assert.match(unit, /^extern struct static_key_true stats_key __asm__\("stats_key\.klp_lens\.drivers_misc_stats"\);$/m);
  assert.match(unit, /^extern spinlock_t stats_lock __asm__\("stats_lock\.klp_lens\.drivers_misc_stats"\);$/m);
  assert.match(unit, /^extern unsigned long stats_limit __asm__\("stats_limit\.klp_lens\.drivers_misc_stats"\);$/m);
  assert.match(unit, /^extern volatile int stats_armed __asm__\("stats_armed\.klp_lens\.drivers_misc_stats"\);$/m);
  assert.match(unit, /^extern int stats_total;$/m, 'a global keeps its own name');
  assert.doesNotMatch(unit, /extern\s+extern|extern\s+static|static\s+extern/);
  assert.doesNotMatch(unit, /^extern .*__read_mostly|^extern .*__ro_after_init/m);
  // not in the table: inlined everywhere, so the module carries its own copy, still static
  assert.match(unit, /has no symbol in the target.*\n^static int stats_scale\(int v\)$/m);
  // what the patched function does not reach is left out
  assert.doesNotMatch(unit, /stats_open/);
  const relocs = m.relocations.map((r) => `${r.placeholder}=${r.object}:${r.name},${r.sympos}`).sort();
  assert.deepEqual(relocs, [
    'stats_armed.klp_lens.drivers_misc_stats=vmlinux:stats_armed,0',
    'stats_key.klp_lens.drivers_misc_stats=vmlinux:stats_key,0',
    'stats_limit.klp_lens.drivers_misc_stats=vmlinux:stats_limit,0',
    'stats_lock.klp_lens.drivers_misc_stats=vmlinux:stats_lock,0',
    'stats_total=vmlinux:stats_total,0',
  ]);
  assert.deepEqual(m.problems.filter((p) => p.severity === 'error'), []);
});

test('a changed static the target inlined everywhere is replaced through its callers', async () => {
  const after = STATS_C.replace('\treturn v * 2;', '\treturn v * 3;');
  const m = await generate('drivers/misc/stats.c', STATS_C, after);
  assert.deepEqual(
    m.functions.map((f) => `${f.oldName}${f.reason ? ` (${f.reason})` : ''}`),
    ['stats_show (the target inlined stats_scale() into it)'],
  );
  const unit = text(m, 'drivers_misc_stats.c');
  assert.match(unit, /^static int stats_scale\(int v\)\n\{\n\treturn v \* 3;/m, 'the new body travels with its caller');
  assert.match(text(m, 'livepatch-main.c'), /\.old_name = "stats_show",\n\t\t\.new_func = livepatch_stats_show,/);
});

test('a name twice in the target: the occurrence among the file\'s neighbours gets old_sympos', async () => {
  // another file's stats_show() first, far from this file's functions (as translation units lie in a real table)
  const other = Array.from({ length: 40 }, (_, i) => `ffffffff8110${(i + 16).toString(16).padStart(4, '0')} t net_fn_${i}`);
  const table = ['ffffffff81100000 t other_fn', 'ffffffff81100010 t stats_show', ...other, KALLSYMS].join('\n');
  const m = await generate('drivers/misc/stats.c', STATS_C, STATS_C.replace('%s %d %d', '%s: %d %d'), {}, table);
  assert.deepEqual(m.functions.map((f) => `${f.oldName},${f.sympos}`), ['stats_show,2'], JSON.stringify(m.problems));
  assert.match(text(m, 'livepatch-main.c'), /\.old_name = "stats_show",\n\t\t\.new_func = livepatch_stats_show,\n\t\t\.old_sympos = 2,/);
});

test('a system call is replaced through the arch wrappers the table has, with the kernel\'s own macro renamed', async () => {
  const before = '#include <linux/syscalls.h>\n\nSYSCALL_DEFINE1(umask, int, mask)\n{\n\tmask = xchg(&current->fs->umask, mask & S_IRWXUGO);\n\treturn mask;\n}\n';
  const after = before.replace('mask & S_IRWXUGO', 'mask & S_IRWXUGO & ~S_ISVTX');
  const m = await generate('kernel/sys.c', before, after, {}, 'ffffffff81000000 T __x64_sys_umask\nffffffff81000010 T __ia32_sys_umask\nffffffff81000020 T _stext');
  assert.deepEqual(m.functions.map((f) => `${f.oldName}->${f.newName}`), ['__x64_sys_umask->__x64_sys_livepatch_umask', '__ia32_sys_umask->__ia32_sys_livepatch_umask']);
  const unit = text(m, 'kernel_sys.c');
  assert.match(unit, /#undef SYSCALL_METADATA\n#define SYSCALL_METADATA\(sname, nb, \.\.\.\)/);
  assert.match(unit, /^SYSCALL_DEFINE1\(livepatch_umask, int, mask\)$/m);
  assert.deepEqual(m.problems.filter((p) => p.severity === 'error'), []);
});

test('a patch that only adds kpatch callbacks makes a module with an empty funcs table', async () => {
  const before = '#include <linux/mm.h>\n\nint sysctl_overcommit_ratio __read_mostly = 50;\n';
  const after = before + '\n#include "kpatch-macros.h"\n\nstatic void lp_post_patch(patch_object *obj)\n{\n\tsysctl_overcommit_ratio = 77;\n}\nKPATCH_POST_PATCH_CALLBACK(lp_post_patch);\n';
  const m = await generate('mm/util.c', before, after, {}, 'ffffffff82000000 D sysctl_overcommit_ratio\nffffffff81000000 T _stext');
  assert.deepEqual(m.functions, []);
  const main = text(m, 'livepatch-main.c');
  assert.match(main, /static struct klp_func funcs_vmlinux\[\] = \{\n\t\{ \}\n\};/);
  assert.match(main, /\.callbacks = \{\n\t\t\t\.post_patch = livepatch_mm_util_post_patch,/);
  const unit = text(m, 'mm_util.c');
  assert.match(unit, /typedef struct klp_object patch_object;/);
  assert.doesNotMatch(unit, /kpatch-macros\.h/);
  assert.match(unit, /^static void lp_post_patch\(patch_object \*obj\)$/m);
  assert.match(unit, /^extern int sysctl_overcommit_ratio;$/m);
  assert.deepEqual(m.problems.filter((p) => p.severity === 'error'), []);
});

test('without a subject the module is named from its file and a hash of the patch; two patches get two names', async () => {
  const tree = miniTree({ 'drivers/misc/stats.c': STATS_C });
  const names: string[] = [];
  for (const after of [PATCHED, STATS_C.replace('%s %d %d', '%s=%d %d')]) {
    const a = await analyzePatch(gitStyleDiff('drivers/misc/stats.c', STATS_C, after), { tree });
    names.push(moduleNameFor(a));
    a.dispose();
  }
  assert.match(names[0], /^livepatch_stats_[0-9a-f]{6}$/);
  assert.notEqual(names[0], names[1]);
});

test('Kbuild carries the directory\'s plain flags and never a command from the tree', async () => {
  const makefile = [
    'ccflags-y += -I $(srctree)/$(src)/libstats   # local headers',
    'ccflags-y += $(call cc-option,-Wno-foo) -DSTATS_DEBUG=1',
    'subdir-ccflags-y += $(shell echo -DPWNED)',
    'CFLAGS_stats.o += -Wno-override-init',
    'CFLAGS_REMOVE_stats.o = -Wframe-larger-than=1024',
    'CFLAGS_other.o += -DOTHER',
  ].join('\n');
  const m = await generate('drivers/misc/stats.c', STATS_C, PATCHED, { 'drivers/misc/Makefile': makefile, 'drivers/Makefile': 'subdir-ccflags-y += -DFROM_PARENT\nccflags-y += -DNOT_INHERITED\n' });
  const kbuild = text(m, 'Kbuild');
  const add = /^CFLAGS_drivers_misc_stats\.o \+= (.*)$/m.exec(kbuild)?.[1] ?? '';
  assert.match(add, /-I\/\S+\/drivers\/misc /);
  assert.match(add, /-I\/\S+\/drivers\/misc\/libstats/);
  assert.match(add, /-DSTATS_DEBUG=1/);
  assert.match(add, /-Wno-override-init/);
  assert.match(add, /-DFROM_PARENT/);
  assert.doesNotMatch(kbuild, /PWNED|shell|cc-option|-Wno-foo|NOT_INHERITED|OTHER/);
  assert.match(kbuild, /^CFLAGS_REMOVE_drivers_misc_stats\.o \+= -Wframe-larger-than=1024$/m);
});

test('check with the target\'s symbol table: a changed static the target inlined names the callers to replace (KLP340)', async () => {
  const tree = miniTree({ 'drivers/misc/stats.c': STATS_C });
  const after = STATS_C.replace('\treturn v * 2;', '\treturn v * 3;');
  const a = await analyzePatch(gitStyleDiff('drivers/misc/stats.c', STATS_C, after), { tree, symbols: parseSymbolText(KALLSYMS, '/tmp/kallsyms') });
  try {
    const f = a.findings.filter((x) => x.code.startsWith('KLP34'));
    assert.deepEqual(f.map((x) => x.code), ['KLP340']);
    assert.match(f[0].message, /^stats_scale\(\) has no symbol in the target kernel \(\/tmp\/kallsyms\): .* the livepatch must replace its caller stats_show\(\) instead/);
    // a global the table lacks: the table is not the target's
    const b = await analyzePatch(gitStyleDiff('drivers/misc/stats.c', STATS_C, STATS_C.replace('static int stats_scale', 'int stats_scale')), { tree, symbols: parseSymbolText(KALLSYMS, '/tmp/kallsyms') });
    assert.ok(b.findings.some((x) => x.code === 'KLP342' && /stats_scale\(\) is global but not in the target's symbol table/.test(x.message)));
    b.dispose();
  } finally {
    a.dispose();
  }
  // without a table nothing is said
  const c = await analyzePatch(gitStyleDiff('drivers/misc/stats.c', STATS_C, after), { tree });
  assert.equal(c.findings.filter((x) => x.code.startsWith('KLP34')).length, 0);
  c.dispose();
});
