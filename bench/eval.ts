/**
 * npm run eval -- [DIR]: run the analysis over a corpus of labelled fixes
 * (default ../shared/corpus/anolis-kpatch-rewrite) and print, per limitation
 * category, the recall (cases where a finding of that category was reported)
 * and every miss with what was found instead. Where a case also has a
 * livepatch-ready rewrite (cases/<ID>/rewritten.patch, a version that
 * kpatch-build accepts), every error-severity finding on it is a false
 * positive: they are counted and listed too.
 *
 * Corpus layout (the development corpus's SCHEMA.md): cases/<ID>/original.patch
 * and cases/<ID>/metadata.json with kpatch.limitations: string[].
 * Options: --tree DIR (apply to a kernel tree), --json (machine-readable), --min-severity warning|information.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { analyzePatch } from '../server/src/core/analysis';
import { KernelTree } from '../server/src/core/tree/kernelTree';
import type { Finding } from '../server/src/core/findings';
import { noOpVariants } from './lib/noop';

const TARGETS: Record<string, number> = {
  'data-structure': 0.9,
  'static-data': 0.9,
  'header-wide': 0.9,
  'exported-symbol': 0.9,
  'static-local': 0.9,
  'dynamic-data-semantic': 0.75,
};

const RANK: Record<string, number> = { error: 0, warning: 1, information: 2, hint: 3 };

function parseArgs(argv: string[]) {
  const out: { dir?: string; tree?: string; json: boolean; minSeverity: string } = { json: false, minSeverity: 'information' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--tree') out.tree = argv[++i];
    else if (a === '--json') out.json = true;
    else if (a === '--min-severity') out.minSeverity = argv[++i];
    else if (!a.startsWith('--')) out.dir = a;
  }
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const root = join(__dirname, '..', '..');
  const dir = resolve(args.dir ?? join(root, '..', 'shared', 'corpus', 'anolis-kpatch-rewrite'));
  const casesDir = existsSync(join(dir, 'cases')) ? join(dir, 'cases') : dir;
  if (!existsSync(casesDir)) {
    console.error(`eval: no corpus at ${dir} (expected cases/<ID>/original.patch and metadata.json)`);
    process.exit(2);
  }
  const tree = args.tree ? KernelTree.open(args.tree).tree : undefined;
  const cases = readdirSync(casesDir)
    .filter((c) => existsSync(join(casesDir, c, 'original.patch')) && existsSync(join(casesDir, c, 'metadata.json')))
    .sort();
  const perCat = new Map<string, { labelled: number; hit: number; misses: string[] }>();
  const found = new Map<string, number>();
  const rows: Record<string, unknown>[] = [];
  const rewrites = { checked: 0, flagged: [] as string[] };
  const noop = { fixes: 0, fixesFlagged: [] as string[], variants: new Map<string, { made: number; flagged: number; missed: string[] }>() };
  const t0 = Date.now();
  for (const id of cases) {
    const meta = JSON.parse(readFileSync(join(casesDir, id, 'metadata.json'), 'utf8'));
    const labels: string[] = meta?.kpatch?.limitations ?? [];
    const a = await analyzePatch(readFileSync(join(casesDir, id, 'original.patch'), 'utf8'), { tree });
    const findings: Finding[] = a.findings.filter((f) => RANK[f.severity] <= RANK[args.minSeverity]);
    a.dispose();
    const cats = new Map<string, Finding[]>();
    for (const f of findings) cats.set(f.category, [...(cats.get(f.category) ?? []), f]);
    for (const c of cats.keys()) found.set(c, (found.get(c) ?? 0) + 1);
    for (const label of labels) {
      const s = perCat.get(label) ?? { labelled: 0, hit: 0, misses: [] };
      s.labelled++;
      if (cats.has(label)) s.hit++;
      else {
        const other = [...cats.entries()].filter(([c]) => c !== 'summary' && c !== 'input').map(([c, fs]) => `${c}(${fs.map((f) => f.code).join(',')})`);
        s.misses.push(`${id}: no ${label} finding; found ${other.length ? other.join(' ') : 'no hazard'}`);
      }
      perCat.set(label, s);
    }
    // the livepatch-ready rewrite builds as it is: an error on it is a false positive
    const rewrite = join(casesDir, id, 'rewritten.patch');
    let rewriteErrors: string[] | undefined;
    if (existsSync(rewrite)) {
      const r = await analyzePatch(readFileSync(rewrite, 'utf8'), { tree });
      rewriteErrors = r.findings.filter((f) => f.severity === 'error').map((f) => `${f.code} at line ${f.range.start.line + 1}: ${f.message.slice(0, 140)}…`);
      r.dispose();
      rewrites.checked++;
      if (rewriteErrors.length) rewrites.flagged.push(`${id}: ${rewriteErrors.join(' | ')}`);
    }
    // The fix changes code: no KLP014 error; its no-op variants must each get one.
    noop.fixes++;
    if (findings.some((f) => f.code === 'KLP014' && f.severity === 'error')) noop.fixesFlagged.push(id);
    for (const v of noOpVariants(readFileSync(join(casesDir, id, 'original.patch'), 'utf8'))) {
      const s = noop.variants.get(v.kind) ?? { made: 0, flagged: 0, missed: [] };
      const r = await analyzePatch(v.text, { tree });
      s.made++;
      if (r.findings.some((f) => f.code === 'KLP014' && f.severity === 'error')) s.flagged++;
      else s.missed.push(`${id} (${v.kind}): ${r.findings.filter((f) => f.severity !== 'information').map((f) => f.code).join(' ') || 'no finding above information'}`);
      r.dispose();
      noop.variants.set(v.kind, s);
    }
    rows.push({ id, labels, categories: [...cats.keys()], codes: findings.map((f) => f.code), rewriteErrors });
  }
  const ms = Date.now() - t0;
  if (args.json) {
    console.log(JSON.stringify({ corpus: dir, cases: cases.length, ms, categories: Object.fromEntries(perCat), found: Object.fromEntries(found), rewrites, rows }, null, 2));
    return;
  }
  console.log(`Livepatch Lens eval — ${cases.length} cases from ${dir}${tree ? `, tree ${tree.root}` : ', hunks only'} (${ms} ms)`);
  console.log('category                  labelled  found  recall   target');
  let failed = false;
  for (const [cat, s] of [...perCat.entries()].sort((x, y) => y[1].labelled - x[1].labelled)) {
    const recall = s.hit / s.labelled;
    const target = TARGETS[cat];
    const ok = target === undefined ? '' : recall >= target ? `≥ ${(target * 100).toFixed(0)}% ok` : `≥ ${(target * 100).toFixed(0)}% MISSED`;
    if (target !== undefined && recall < target) failed = true;
    console.log(`${cat.padEnd(26)}${String(s.labelled).padStart(8)}${String(s.hit).padStart(7)}  ${(recall * 100).toFixed(1).padStart(5)}%   ${ok}`);
  }
  console.log('\nfindings by category over all cases (cases with at least one):');
  console.log('  ' + [...found.entries()].sort((x, y) => y[1] - x[1]).map(([c, n]) => `${c} ${n}`).join(', '));
  const misses = [...perCat.values()].flatMap((s) => s.misses);
  if (misses.length) {
    console.log(`\nmisses (${misses.length}):`);
    for (const m of misses) console.log('  ' + m);
  }
  if (rewrites.checked) {
    console.log(`\nlivepatch-ready rewrites with an error-severity finding (false positives): ${rewrites.flagged.length} of ${rewrites.checked}`);
    for (const m of rewrites.flagged) console.log('  ' + m);
  }
  console.log(`\nno functional change (KLP014): real fixes flagged ${noop.fixesFlagged.length} of ${noop.fixes}${noop.fixesFlagged.length ? ` (${noop.fixesFlagged.join(', ')})` : ''}`);
  for (const [kind, v] of noop.variants) {
    console.log(`  no-op variants (${kind}, made from each fix's first C hunk): flagged ${v.flagged} of ${v.made}`);
    for (const m of v.missed) console.log('    missed ' + m);
    if (v.flagged < v.made) failed = true;
  }
  if (noop.fixesFlagged.length) failed = true;
  process.exitCode = failed ? 1 : 0;
}

void main().catch((e) => {
  console.error(e);
  process.exit(2);
});
