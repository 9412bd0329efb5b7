/**
 * `klp-lens generate` on patches against linux-source-6.1, built with kbuild
 * against Debian's linux-headers for 6.1 where they are installed (.ci/run
 * installs both): a module that uses only exported symbols builds as it is; one
 * that reaches unexported symbols gets them as klp relocations after linking;
 * what cannot be generated is reported, not written half-way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitStyleDiff, linuxSourceTree, ROOT } from '../helpers';

const CLI = join(ROOT, 'out', 'cli.js');
const LINUX = linuxSourceTree();
const HEADERS = (() => {
  const dirs = existsSync('/usr/src') ? readdirSync('/usr/src').filter((d) => /^linux-headers-6\.1\.0-\d+-amd64$/.test(d)) : [];
  return dirs.length ? join('/usr/src', dirs.sort().pop()!) : undefined;
})();
const noTree = LINUX ? false : 'linux-source-6.1 is not unpacked (.ci/run installs it)';
const noBuild = !LINUX ? noTree : !HEADERS ? 'linux-headers-6.1.0-*-amd64 is not installed (.ci/run installs it)' : spawnSync('make', ['--version']).status !== 0 ? 'make is not installed' : false;
const CACHE = mkdtempSync(join(tmpdir(), 'klp-lens-gen-cache-'));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 600_000, env: { ...process.env, XDG_CACHE_HOME: CACHE } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function realPatch(path: string, from: string, to: string): string {
  const before = readFileSync(join(LINUX!, path), 'utf8');
  assert.ok(before.includes(from), `${path} no longer contains ${JSON.stringify(from)}`);
  const file = join(mkdtempSync(join(tmpdir(), 'klp-lens-gen-')), 'fix.patch');
  writeFileSync(file, gitStyleDiff(path, before, before.replace(from, to)));
  return file;
}

function readelf(ko: string, ...flags: string[]): string {
  return spawnSync('readelf', ['-W', ...flags, ko], { encoding: 'utf8' }).stdout;
}

test('a module function that uses exported symbols only: generated for the module object and built with kbuild', { skip: noBuild }, () => {
  const patch = realPatch('drivers/net/dummy.c', '\tdev_lstats_read(dev, &stats->tx_packets, &stats->tx_bytes);\n', '\tdev_lstats_read(dev, &stats->tx_packets, &stats->tx_bytes);\n\tstats->rx_packets = stats->tx_packets;\n\tstats->rx_bytes = stats->tx_bytes;\n');
  const out = mkdtempSync(join(tmpdir(), 'klp-lens-module-'));
  const r = run(['generate', patch, '--tree', LINUX!, '--headers', HEADERS!, '--out', out, '--name', 'lp_dummy', '--build']);
  assert.equal(r.code, 0, `${r.out}\n${r.err}`);
  assert.match(r.out, /^lp_dummy: 1 function \(dummy:dummy_get_stats64\), 0 klp relocation candidates; wrote 5 files/m);
  // dummy.c is obj-$(CONFIG_DUMMY) and the headers' .config has CONFIG_DUMMY=m: the klp_object is the module
  const main = readFileSync(join(out, 'livepatch-main.c'), 'utf8');
  assert.match(main, /\.name = "dummy",\n\t\t\.funcs = funcs_dummy,/);
  assert.match(main, /\.old_name = "dummy_get_stats64",\n\t\t\.new_func = livepatch_dummy_get_stats64,/);
  assert.match(main, /MODULE_INFO\(livepatch, "Y"\);/);
  const unit = readFileSync(join(out, 'drivers_net_dummy.c'), 'utf8');
  assert.match(unit, /^void livepatch_dummy_get_stats64\(struct net_device \*dev,/m);
  assert.doesNotMatch(unit, /dummy_xmit|dummy_dev_init/, 'only what the patched function needs');
  assert.ok(!existsSync(join(out, 'klp-relocs.json')));
  const ko = join(out, 'lp_dummy.ko');
  assert.ok(existsSync(ko), r.out);
  assert.match(spawnSync('readelf', ['-p', '.modinfo', ko], { encoding: 'utf8' }).stdout, /livepatch=Y/);
  // everything it leaves undefined is exported by the target
  const symvers = new Set(readFileSync(join(HEADERS!, 'Module.symvers'), 'utf8').split('\n').map((l) => l.split('\t')[1]));
  const undef = readelf(ko, '-s').split('\n').filter((l) => / UND [A-Za-z_]/.test(l)).map((l) => l.trim().split(/\s+/).pop()!);
  assert.deepEqual(undef.filter((s) => !symvers.has(s)), []);
});

test('unexported symbols of vmlinux (nr_threads, nr_running, get_avenrun) become klp relocations after linking', { skip: noBuild }, () => {
  const patch = realPatch('fs/proc/loadavg.c', '\tget_avenrun(avnrun, FIXED_1/200, 0);\n', '\tget_avenrun(avnrun, FIXED_1/200, 0);\n\tif (!nr_threads)\n\t\treturn -EAGAIN;\n');
  const out = mkdtempSync(join(tmpdir(), 'klp-lens-module-'));
  const r = run(['generate', patch, '--tree', LINUX!, '--headers', HEADERS!, '--out', out, '--name', 'lp_loadavg', '--build']);
  assert.equal(r.code, 0, `${r.out}\n${r.err}`);
  // without a symbol table the references that could not be checked are named
  assert.match(r.err, /warning: fs\/proc\/loadavg\.c: 2 reference\(s\) could not be checked against the target, because no symbol table of the target was given .*: get_avenrun, nr_running\./);
  const map = JSON.parse(readFileSync(join(out, 'klp-relocs.json'), 'utf8'));
  assert.deepEqual(map.symbols.map((s: { name: string; object: string }) => `${s.object}:${s.name}`).sort(), ['vmlinux:get_avenrun', 'vmlinux:nr_running']);
  // nr_threads, read through a header declaration, is left undefined by the link: the post-link step takes it, and says it is unchecked
  assert.match(r.out + r.err, /nr_threads: taken as unexported globals of vmlinux without a symbol table to check them/);
  assert.match(readFileSync(join(out, 'Makefile'), 'utf8'), /KBUILD_MODPOST_WARN=1 modules\n\t\$\(KLP_LENS\) klp-relocs lp_loadavg\.ko --map klp-relocs\.json --symvers \$\(KDIR\)\/Module\.symvers/);
  const ko = join(out, 'lp_loadavg.ko');
  assert.match(readelf(ko, '-S'), /\.klp\.rela\.vmlinux\.text\s+RELA\s+.*AIo/);
  const syms = readelf(ko, '-s');
  for (const s of ['nr_threads', 'nr_running', 'get_avenrun']) assert.match(syms, new RegExp(`OS \\[0xff20\\] \\.klp\\.sym\\.vmlinux\\.${s},0`));
  // the unit keeps the file's includes, including its quoted local header (resolved through Kbuild's -I)
  assert.match(readFileSync(join(out, 'fs_proc_loadavg.c'), 'utf8'), /#include "internal.h"/);
  assert.match(readFileSync(join(out, 'Kbuild'), 'utf8'), new RegExp(`^CFLAGS_fs_proc_loadavg\\.o \\+= -I${LINUX}/fs/proc`, 'm'));
});

test('a patch that adds a struct field: the shadow-variable fix is applied first, and the module builds', { skip: noBuild }, () => {
  const out = mkdtempSync(join(tmpdir(), 'klp-lens-module-'));
  const r = run(['generate', join(ROOT, 'examples', 'kthread-unpark.patch'), '--tree', LINUX!, '--headers', HEADERS!, '--out', out, '--name', 'lp_kthread', '--build']);
  assert.equal(r.code, 0, `${r.out}\n${r.err}`);
  assert.match(r.err, /^applied KLP101 first: Keep struct kthread's layout: hold offline_unparks in a shadow variable/m);
  assert.match(r.out, /^lp_kthread: 2 functions \(vmlinux:free_kthread_struct, vmlinux:kthread_unpark\)/m);
  const unit = readFileSync(join(out, 'kernel_kthread.c'), 'utf8');
  assert.match(unit, /klp_shadow_get_or_alloc\(obj, KLP_SHADOW_KTHREAD_OFFLINE_UNPARKS/);
  assert.doesNotMatch(unit, /"kpatch-macros.h"/, 'the kpatch header is replaced by the module\'s own tables');
  // the unpatch callback of the fix became the object's post_unpatch callback
  assert.match(readFileSync(join(out, 'livepatch-main.c'), 'utf8'), /\.callbacks = \{\n\t\t\t\.post_unpatch = livepatch_kernel_kthread_post_unpatch,/);
  assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /## Fixes applied to the patch first\n\n- KLP101: Keep struct kthread's layout/);
  // __kthread_bind and wake_up_state are static or unexported in 6.1: klp relocations
  assert.match(readelf(join(out, 'lp_kthread.ko'), '-s'), /\.klp\.sym\.vmlinux\.__kthread_bind,0/);
});

test('a system call is generated through its arch wrappers; without a tree generate says why', { skip: noBuild }, () => {
  const patch = realPatch('kernel/sys.c', '\tmask = xchg(&current->fs->umask, mask & S_IRWXUGO);', '\tmask = xchg(&current->fs->umask, mask & S_IRWXUGO & ~S_ISVTX);');
  const out = mkdtempSync(join(tmpdir(), 'klp-lens-module-'));
  const r = run(['generate', patch, '--tree', LINUX!, '--headers', HEADERS!, '--out', out, '--name', 'lp_umask', '--build']);
  assert.equal(r.code, 0, `${r.out}\n${r.err}`);
  // the headers' .config has IA32_EMULATION=y: both x86_64 entry wrappers are replaced
  assert.match(r.out, /^lp_umask: 2 functions \(vmlinux:__x64_sys_umask, vmlinux:__ia32_sys_umask\)/m);
  assert.match(readFileSync(join(out, 'kernel_sys.c'), 'utf8'), /^SYSCALL_DEFINE1\(livepatch_umask, int, mask\)$/m);
  const syms = readelf(join(out, 'lp_umask.ko'), '-s');
  assert.match(syms, / __x64_sys_livepatch_umask$/m);
  assert.match(syms, / __ia32_sys_livepatch_umask$/m);
  assert.doesNotMatch(syms, /__syscall_meta|event_enter_/, 'no second set of syscall trace events');
  const noTreeRun = run(['generate', patch, '--no-tree', '--out', out]);
  assert.equal(noTreeRun.code, 2);
  assert.match(noTreeRun.err, /generate needs the kernel source tree/);
});

test('a Debian placeholder System.map is refused with what to use instead', { skip: noTree }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-sysmap-'));
  const map = join(dir, 'System.map');
  writeFileSync(map, 'ffffffffffffffff B The real System.map is in the linux-image-6.1.0-57-amd64-dbg package\n');
  const patch = realPatch('fs/proc/cmdline.c', '\tseq_putc(m, \'\\n\');', '\tseq_puts(m, " x");\n\tseq_putc(m, \'\\n\');');
  const r = run(['generate', patch, '--tree', LINUX!, '--symbols', map, '--out', join(dir, 'out')]);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /System\.map is Debian's placeholder System\.map, not a symbol table: use \/proc\/kallsyms of the target machine/);
  assert.ok(!existsSync(join(dir, 'out')), 'nothing written');
});
