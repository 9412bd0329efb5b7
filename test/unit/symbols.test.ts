/**
 * The target's symbol table: /proc/kallsyms and System.map text, a vmlinux
 * ELF (built here with gcc from two files that define the same static), and
 * the resolution a generated module's references go through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSymbol } from '../../server/src/core/symbols/resolve';
import { parseSymbolText, readSymbolTable, SymbolTableError } from '../../server/src/core/symbols/table';

const KALLSYMS = [
  'ffffffff81000000 T _stext',
  'ffffffff81001000 t seq_show',
  'ffffffff81001100 t nf_log_set',
  // the translation units between (a real table has thousands)
  ...Array.from({ length: 40 }, (_, i) => `ffffffff8120${i.toString(16).padStart(4, '0')} T filler_${i}`),
  'ffffffff81400000 t proc_readfd_common',
  'ffffffff81400100 t seq_show',
  'ffffffff81400200 t proc_fdinfo_access_allowed',
  'ffffffff82000000 D nr_threads',
  'ffffffffc0001000 t bm_entry_read\t[binfmt_misc]',
  'ffffffffc0001100 t bm_status_read\t[binfmt_misc]',
].join('\n');

const noExports = () => false;

test('/proc/kallsyms: vmlinux and the loaded modules, in kallsyms order', () => {
  const t = parseSymbolText(KALLSYMS, '/tmp/kallsyms');
  assert.equal(t.source, 'kallsyms');
  assert.equal(t.size, 49);
  assert.deepEqual(t.objects, ['vmlinux', 'binfmt_misc']);
  assert.equal(t.lookup('seq_show', 'vmlinux').length, 2);
  assert.ok(t.has('bm_entry_read', 'binfmt_misc'));
  assert.ok(!t.has('bm_entry_read', 'vmlinux'));
  assert.equal(t.describe(), 'kallsyms /tmp/kallsyms: 49 symbols in vmlinux and 1 module');
});

test('a System.map with CRLF line ends and addresses hidden by a non-root read still gives the order', () => {
  const t = parseSymbolText('0000000000000000 T _stext\r\n0000000000000000 t seq_show\r\n0000000000000000 t seq_show\r\n', 'System.map');
  assert.equal(t.source, 'system.map');
  assert.equal(t.addressesHidden, true);
  assert.equal(t.lookup('seq_show').length, 2);
});

test('Debian\'s placeholder System.map and files that are no symbol table get a clear, positioned error', () => {
  assert.throws(() => parseSymbolText('ffffffffffffffff B The real System.map is in the linux-image-6.1.0-57-amd64-dbg package\n', '/boot/System.map-6.1.0-57-amd64'), (e: Error) => e instanceof SymbolTableError && /placeholder System\.map.*\/proc\/kallsyms/.test(e.message));
  assert.throws(() => parseSymbolText('diff --git a/x b/x\n--- a/x\n+++ b/x\n', 'fix.patch'), /fix\.patch is not a symbol table: fix\.patch:1: "diff --git a\/x b\/x" is not "ADDRESS TYPE NAME \[MODULE\]"/);
  assert.throws(() => parseSymbolText('', 'empty'), /empty is empty: it lists no symbols/);
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-sym-'));
  assert.throws(() => readSymbolTable(join(dir, 'missing')), /cannot read the symbol table .*missing: ENOENT/);
  const elf = join(dir, 'truncated');
  writeFileSync(elf, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]));
  assert.throws(() => readSymbolTable(elf), /truncated: ELF header .* runs past the end of the file/);
});

test('a static name twice in vmlinux: the occurrence next to the patched file\'s names gets its sympos', () => {
  const t = parseSymbolText(KALLSYMS, '/tmp/kallsyms');
  const scope = { file: 'fs/proc/fd.c', object: 'vmlinux', fileNames: new Set(['seq_show', 'proc_readfd_common', 'proc_fdinfo_access_allowed']) };
  const r = resolveSymbol(t, noExports, 'seq_show', scope, true);
  assert.equal(r.kind, 'present');
  assert.equal(r.kind === 'present' && r.sympos, 2);
  // a static not in the table was inlined everywhere; a module the table does not list is unknown, not absent
  assert.deepEqual(resolveSymbol(t, noExports, 'show_val_kb', { ...scope, file: 'fs/proc/meminfo.c' }, true), { kind: 'absent', object: 'vmlinux' });
  assert.equal(resolveSymbol(t, noExports, 'load_misc_binary', { file: 'fs/binfmt_misc.c', object: 'binfmt_misc2', fileNames: new Set() }, true).kind, 'absent');
  // exported names need nothing; unexported globals are found in vmlinux
  assert.deepEqual(resolveSymbol(t, (n) => n === 'seq_printf', 'seq_printf', scope, false), { kind: 'exported' });
  const g = resolveSymbol(t, noExports, 'nr_threads', scope, false);
  assert.equal(g.kind === 'present' && `${g.object}:${g.sympos}`, 'vmlinux:0');
});

test('a vmlinux ELF: STT_FILE symbols say which file each static comes from', { skip: spawnSync('gcc', ['--version']).status === 0 ? false : 'gcc is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-vmlinux-'));
  writeFileSync(join(dir, 'fd.c'), 'static int __attribute__((noinline, used)) seq_show(int v) { return v + 1; }\nint proc_fd_entry(int v) { return seq_show(v); }\n');
  writeFileSync(join(dir, 'nf_log.c'), 'static int __attribute__((noinline, used)) seq_show(int v) { return v + 2; }\nint nf_log_entry(int v) { return seq_show(v); }\nvoid _start(void) { for (;;); }\n');
  const out = join(dir, 'vmlinux');
  // nf_log.c first: its seq_show gets the lower address, so fd.c's is the second
  const cc = spawnSync('gcc', ['-O1', '-nostdlib', '-static', '-o', out, join(dir, 'nf_log.c'), join(dir, 'fd.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const t = readSymbolTable(out);
  assert.equal(t.source, 'vmlinux');
  assert.ok(t.knowsFiles);
  assert.deepEqual(t.lookup('seq_show').map((s) => s.file), ['nf_log.c', 'fd.c']);
  const r = resolveSymbol(t, noExports, 'seq_show', { file: 'fs/proc/fd.c', object: 'vmlinux', fileNames: new Set() }, true);
  assert.equal(r.kind === 'present' && r.sympos, 2);
  assert.equal(r.kind === 'present' && r.evidence, 'the symbol table says it comes from fd.c');
});
