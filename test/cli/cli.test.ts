import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv-draft-04';
import { existsSync } from 'node:fs';
import { ROOT, FIXTURES, TREE_DIR, docLine, indexedTreePatch } from '../helpers';

const CLI = join(ROOT, 'out', 'cli.js');
const patch = (name: string) => join(FIXTURES, 'patches', name);

// the tree index cache goes to a directory of this run, not the user's ~/.cache
const CACHE_HOME = mkdtempSync(join(tmpdir(), 'klp-lens-cli-cache-'));

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', input, timeout: 60000, env: { ...process.env, XDG_CACHE_HOME: CACHE_HOME } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('check --format json: entities with change kinds and exact patch-document ranges', () => {
  const r = run(['check', '--no-tree', '--format', 'json', patch('body-struct-key.patch')]);
  // the new struct field is an error-severity hazard (KLP101): exit status 1
  assert.equal(r.code, 1, r.err);
  const json = JSON.parse(r.out);
  assert.equal(json.files.length, 1);
  const f = json.files[0];
  assert.equal(f.confidence, 'hunks');
  const text = readFileSync(patch('body-struct-key.patch'), 'utf8');
  const lines = text.split('\n');
  const byName = Object.fromEntries(f.entities.map((e: { name: string }) => [e.name, e]));
  assert.deepEqual(
    f.entities.map((e: { kind: string; name: string; change: string; aspects: string[] }) => [e.kind, e.name, e.change, e.aspects]),
    [
      ['struct', 'lens_dev', 'changed', ['layout']],
      ['variable', 'lens_debug_key', 'added', []],
      ['function', 'lens_read', 'changed', ['body']],
    ],
  );
  const field = docLine(text, '+\tunsigned int nr_errors;');
  assert.deepEqual(byName.lens_dev.range, { start: { line: field, character: 2 }, end: { line: field, character: lines[field].length } });
  assert.deepEqual(byName.lens_dev.members[0].range.start, { line: field, character: lines[field].indexOf('nr_errors') });
  const key = docLine(text, '+DEFINE_STATIC_KEY_FALSE(lens_debug_key);');
  assert.deepEqual(byName.lens_debug_key.range, { start: { line: key, character: 25 }, end: { line: key, character: 39 } });
  assert.equal(lines[key].slice(25, 39), 'lens_debug_key');
  const body = docLine(text, '+\tif (*ppos < 0) {');
  assert.deepEqual(byName.lens_read.range.start, { line: body, character: 2 });
  // diagnostics: the information summary, nothing else for this patch yet
  for (const d of f.diagnostics) {
    assert.deepEqual(Object.keys(d).sort().filter((k) => k !== 'file' && k !== 'related'), ['category', 'code', 'message', 'range', 'severity']);
    assert.match(d.severity, /^(error|warning|information|hint)$/);
  }
  assert.ok(f.diagnostics.some((d: { code: string }) => d.code === 'KLP010'));
  const layout = f.diagnostics.find((d: { code: string }) => d.code === 'KLP101');
  assert.equal(layout.category, 'data-structure');
  assert.equal(layout.severity, 'error');
  assert.deepEqual(layout.range.start, { line: field, character: lines[field].indexOf('nr_errors') });
});

test('check with --tree reads the tree and says so', () => {
  const r = run(['check', '--tree', TREE_DIR, '--format', 'json', patch('entities.patch')]);
  assert.equal(r.code, 1, r.err);
  const f = JSON.parse(r.out).files[0];
  assert.equal(f.confidence, 'tree');
  assert.equal(f.kernel.version, '6.1.0');
  assert.ok(f.sources.every((s: { confidence: string }) => s.confidence === 'tree'));
});

test('exit status: 1 with an error finding, 2 for bad usage or unreadable input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-'));
  const broken = join(dir, 'broken.patch');
  writeFileSync(broken, 'diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1,5 +1,5 @@ int f(void)\n-a\n+b\n');
  let r = run(['check', '--no-tree', broken]);
  assert.equal(r.code, 1);
  assert.match(r.out, /broken\.patch:4:1: error: Hunk header promises 5 old and 5 new lines/);
  // --exit-zero: the same report, exit 0; usage errors still exit 2
  const z = run(['check', '--no-tree', '--exit-zero', broken]);
  assert.equal(z.code, 0);
  assert.equal(z.out, r.out);
  assert.equal(run(['check', '--exit-zero', join(dir, 'missing.patch')]).code, 2);

  r = run(['check', join(dir, 'missing.patch')]);
  assert.equal(r.code, 2);
  assert.equal(r.err.trim().split('\n').length, 1);
  assert.match(r.err, /^klp-lens: cannot read .*missing\.patch: no such file/);
  assert.doesNotMatch(r.err, /\bat \w+ \(/, 'no stack trace');

  r = run(['check', dir]);
  assert.equal(r.code, 2);
  assert.match(r.err, /is a directory/);

  r = run(['check', '--format', 'yaml', patch('plain-u.diff')]);
  assert.equal(r.code, 2);
  r = run(['frobnicate']);
  assert.equal(r.code, 2);
  r = run(['check', '--tree', join(dir, 'nope'), patch('plain-u.diff')]);
  assert.equal(r.code, 2);
  assert.match(r.err, /kernel tree .* does not exist/);
  r = run(['check', '--tree', TREE_DIR, '--config', join(dir, 'no.config'), patch('plain-u.diff')]);
  assert.equal(r.code, 2);
  assert.match(r.err, /^klp-lens: --config: cannot read .*no\.config: no such file/);
});

test('--help and --version', () => {
  const h = run(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /check \[options\] <files\.\.\.>/);
  assert.match(h.out, /serve/);
  const v = run(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.out.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  const ch = run(['check', '--help']);
  assert.match(ch.out, /--format <format>/);
  assert.match(ch.out, /--tree <dir>/);
});

test('non-UTF-8 and binary input: a positioned note, no crash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-'));
  const latin = join(dir, 'latin1.patch');
  const text = readFileSync(patch('plain-u.diff'), 'utf8').replace('list_del_init(&r->node);', 'list_del_init(&r->node); /* caf\u00e9 */');
  writeFileSync(latin, Buffer.from(text, 'latin1'));
  let r = run(['check', '--no-tree', '--format', 'json', latin]);
  assert.equal(r.code, 0, r.err);
  const d = JSON.parse(r.out).files[0].diagnostics.find((x: { code: string }) => x.code === 'KLP005');
  assert.ok(d);
  assert.equal(d.range.start.line, docLine(text, 'caf'));
  const bin = join(dir, 'image.patch');
  writeFileSync(bin, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13, 0xff, 0xfe]));
  r = run(['check', '--no-tree', bin]);
  assert.equal(r.code, 0);
  assert.match(r.out, /KLP005/);
  assert.match(r.out, /KLP006/);
});

test('stdin with "-"', () => {
  const r = run(['check', '--no-tree', '--format', 'json', '-'], readFileSync(patch('plain-u.diff'), 'utf8'));
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).files[0].path, '<stdin>');
});

test('--format sarif validates against the SARIF 2.1.0 schema and carries what code scanning needs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-'));
  const broken = join(dir, 'broken.patch');
  writeFileSync(broken, 'diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1,5 +1,5 @@ int f(void)\n-a\n+b\n');
  const r = run(['check', '--no-tree', '--format', 'sarif', patch('entities.patch'), broken]);
  assert.equal(r.code, 1);
  const log = JSON.parse(r.out);
  const schema = JSON.parse(readFileSync(join(ROOT, 'node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json'), 'utf8'));
  // unicodeRegExp off: the published schema's language pattern is not a valid unicode regexp
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, unicodeRegExp: false });
  const validate = ajv.compile(schema);
  assert.ok(validate(JSON.parse(r.out)), JSON.stringify(validate.errors?.slice(0, 5), null, 2));
  // the validator does reject a log that breaks the schema
  const bad = JSON.parse(r.out);
  bad.runs[0].results[0].level = 'fatal';
  assert.equal(validate(bad), false);
  // GitHub code scanning: tool.driver.name, ruleId, message.text, a physical location with a relative URI and 1-based region
  const run0 = log.runs[0];
  assert.equal(run0.tool.driver.name, 'klp-lens');
  assert.ok(run0.results.length >= 4);
  for (const res of run0.results) {
    assert.match(res.ruleId, /^KLP\d{3}$/);
    assert.ok(res.message.text.length > 0);
    const loc = res.locations[0].physicalLocation;
    assert.doesNotMatch(loc.artifactLocation.uri, /^\//);
    assert.ok(loc.region.startLine >= 1 && loc.region.startColumn >= 1);
    assert.equal(run0.tool.driver.rules[res.ruleIndex].id, res.ruleId);
    assert.ok(res.partialFingerprints['klpLens/v1']);
  }
  const err = run0.results.find((x: { level: string; ruleId: string }) => x.level === 'error' && x.ruleId === 'KLP001');
  assert.equal(err.locations[0].physicalLocation.region.startLine, 4);
});

test('check --tree builds the tree index and uses it; --no-index skips the cross-file checks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-cli-'));
  const file = join(dir, 'extra.patch');
  const text = indexedTreePatch();
  writeFileSync(file, text);
  const codes = (out: string) => (JSON.parse(out).files[0].diagnostics as { code: string; severity: string; message: string; range: { start: { line: number } } }[]);
  const r = run(['check', '--tree', TREE_DIR, '--format', 'json', file]);
  assert.equal(r.code, 0, r.err);
  const with_ = codes(r.out);
  // KLP192: the inline helper and its key are in a header the patch does not touch: only the index knows
  const helper = with_.find((d) => d.code === 'KLP192');
  assert.ok(helper, JSON.stringify(with_));
  assert.match(helper.message, /lens_trace_on\(\).*lens_trace_enabled/);
  assert.equal(helper.range.start.line, docLine(text, '+\tif (lens_trace_on())'));
  // KLP300: drivers/lensmod/Makefile builds lensmod_extra.o with obj-m
  assert.match(with_.find((d) => d.code === 'KLP300')?.message ?? '', /module lensmod_extra/);
  const r2 = run(['check', '--tree', TREE_DIR, '--no-index', '--format', 'json', file]);
  assert.equal(r2.code, 0, r2.err);
  const without = codes(r2.out).map((d) => d.code);
  assert.ok(!without.includes('KLP192') && !without.includes('KLP300'), without.join(' '));
  assert.match(r2.err, /--no-index/);
});

test('index --tree: statistics, the on-disk cache, and a second run served from it', () => {
  const r = run(['index', '--tree', TREE_DIR, '--json']);
  assert.equal(r.code, 0, r.err);
  const st = JSON.parse(r.out);
  assert.equal(st.root, TREE_DIR);
  assert.ok(st.cache.startsWith(join(CACHE_HOME, 'livepatch-lens')), st.cache);
  assert.ok(existsSync(st.cache));
  assert.ok(st.files >= 20 && st.exports >= 5 && st.keys >= 3 && st.kbuildObjects >= 10, r.out);
  const again = JSON.parse(run(['index', '--tree', TREE_DIR, '--json']).out);
  assert.equal(again.rescanned, 0);
  assert.equal(again.fromCache, st.files);
  const text = run(['index', '--tree', TREE_DIR]);
  assert.match(text.out, /^indexed .*: \d+ files \(0 scanned, \d+ from the cache\) in \d+ ms; \d+ exports, \d+ static keys/);
  const bad = run(['index', '--tree', join(ROOT, 'docs')]);
  assert.equal(bad.code, 2);
  assert.equal(bad.err.trim().split('\n').length, 1, bad.err);
  assert.equal(run(['index']).code, 2);
});

test('fix: lists the fixes on offer, applies the chosen ones to a new patch that still applies, refuses bad usage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-fix-'));
  const list = run(['fix', '--tree', TREE_DIR, patch('body-struct-key.patch')]);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /body-struct-key\.patch:22:16: KLP101: Keep struct lens_dev's layout: hold nr_errors in a shadow variable .*\[--apply KLP101\]/);
  assert.match(list.out, /KLP190: Use static_key_enabled\(&lens_trace_key\) instead of static_branch_unlikely \[--apply KLP190\]/);
  const out = join(dir, 'fixed.patch');
  const r = run(['fix', '--tree', TREE_DIR, '--apply', 'KLP101,KLP190', '--out', out, patch('body-struct-key.patch')]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /^fixed KLP101: Keep struct lens_dev's layout/m);
  assert.match(r.err, /^fixed KLP190: Use static_key_enabled/m);
  assert.match(r.err, /Not patched to free the shadow: lens_exit\(\) \(init or exit code cannot be livepatched\)/);
  const fixed = readFileSync(out, 'utf8');
  assert.match(fixed, /klp_shadow_get_or_alloc\(obj, KLP_SHADOW_LENS_DEV_NR_ERRORS/);
  assert.match(fixed, /static_key_enabled\(&lens_trace_key\)/);
  // the fixed patch applies to the tree and has neither finding left
  const copy = mkdtempSync(join(tmpdir(), 'klp-lens-fix-tree-'));
  spawnSync('cp', ['-r', `${TREE_DIR}/.`, copy]);
  const apply = spawnSync('git', ['apply', '--check', out], { cwd: copy, encoding: 'utf8' });
  assert.equal(apply.status, 0, apply.stderr);
  const again = run(['check', '--tree', TREE_DIR, '--format', 'json', out]);
  const codes = JSON.parse(again.out).files[0].diagnostics.map((d: { code: string; severity: string }) => `${d.code}:${d.severity}`);
  assert.ok(!codes.includes('KLP101:error') && !codes.some((c: string) => c.startsWith('KLP190:warning')), codes.join(' '));
  // usage errors
  const noOut = run(['fix', '--apply', 'KLP101', patch('body-struct-key.patch')]);
  assert.equal(noOut.code, 2);
  assert.match(noOut.err, /--apply needs --out FILE/);
  const unknown = run(['fix', '--apply', 'KLP999', '--out', '-', patch('body-struct-key.patch')]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /no fix for KLP999; fixable: .*KLP101/);
});
