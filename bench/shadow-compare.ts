/**
 * node out/bench/shadow-compare.js [CORPUS] [--tree DIR] — our shadow-variable conversions
 * next to the hand-made livepatch rewrites of the development corpus.
 *
 * For every case whose rewritten.patch uses klp_shadow_*, the original fix is
 * run through `fixPatch` for the codes a shadow conversion answers (KLP101
 * new fields, KLP140 counter semantics), from the hunks alone (the corpus
 * targets 6.6), or with --tree against the files of a tree where the patch
 * applies (with linux-source-6.1, a few do), and the two are described side by side:
 * which API calls each uses, whether it allocates at creation or lazily,
 * frees with the object and on unpatch, turns a lock into a global one; and
 * every fix that refused, with its reason.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fixPatch } from '../server/src/core/fixes/driver';
import { analyzePatch } from '../server/src/core/analysis';
import { KernelTree } from '../server/src/core/tree/kernelTree';

interface Traits {
  getOrAlloc: number;
  alloc: number;
  get: number;
  free: number;
  freeAll: number;
  globalLock: boolean;
  ids: string[];
}

function traits(text: string): Traits {
  const added = text.split('\n').filter((l) => l.startsWith('+')).join('\n');
  const count = (re: RegExp) => (added.match(re) ?? []).length;
  return {
    getOrAlloc: count(/klp_shadow_get_or_alloc\(/g),
    alloc: count(/klp_shadow_alloc\(/g),
    get: count(/klp_shadow_get\(/g),
    free: count(/klp_shadow_free\(/g),
    freeAll: count(/klp_shadow_free_all\(/g),
    globalLock: /\+static DEFINE_(SPINLOCK|MUTEX|RAW_SPINLOCK)\(/.test(text),
    ids: [...new Set([...added.matchAll(/#define\s+(\w*SHADOW\w*|KLP_SEM_\w+)\s/g)].map((m) => m[1]))],
  };
}

const show = (t: Traits) => `ids ${t.ids.length} · get_or_alloc ${t.getOrAlloc} · alloc ${t.alloc} · get ${t.get} · free ${t.free} · free_all ${t.freeAll}${t.globalLock ? ' · global lock' : ''}`;

void (async () => {
  const args = process.argv.slice(2);
  const t = args.indexOf('--tree');
  const tree = t >= 0 ? KernelTree.open(args[t + 1]).tree : undefined;
  const positional = args.filter((a, k) => !a.startsWith('--') && args[k - 1] !== '--tree');
  const dir = resolve(positional[0] ?? join(__dirname, '..', '..', '..', 'shared', 'corpus', 'anolis-kpatch-rewrite'));
  const cases = join(dir, 'cases');
  if (!existsSync(cases)) {
    console.error(`no corpus at ${dir}`);
    process.exit(2);
  }
  let ours = 0;
  let full = 0;
  let theirs = 0;
  for (const id of readdirSync(cases).sort()) {
    const rewritten = join(cases, id, 'rewritten.patch');
    const original = join(cases, id, 'original.patch');
    if (!existsSync(rewritten) || !existsSync(original)) continue;
    const hand = readFileSync(rewritten, 'utf8');
    if (!/klp_shadow_/.test(hand)) continue;
    theirs++;
    const text = readFileSync(original, 'utf8');
    // with a tree, only where every hunk applies to it
    let useTree = false;
    if (tree) {
      const probe = await analyzePatch(text, { tree });
      probe.dispose();
      useTree = probe.files.every((f) => f.confidence === 'tree') && !probe.findings.some((f) => f.code === 'KLP002' || f.code === 'KLP007');
    }
    const run = await fixPatch(text, new Set(['KLP101', 'KLP140']), useTree ? { tree } : {});
    const tr = traits(run.text);
    if (run.applied.length) ours++;
    // fully: nothing of the data change is left (no KLP101 error, no KLP140) once the fixes ran
    const check = await analyzePatch(run.text, useTree ? { tree } : {});
    check.dispose();
    const left = check.findings.filter((f) => (f.code === 'KLP101' && f.severity === 'error') || f.code === 'KLP140');
    if (run.applied.length && left.length === 0) full++;
    console.log(`${id}${tree ? (useTree ? ' (applies to the tree)' : ' (hunks only: does not apply to the tree)') : ''}`);
    console.log(`  hand-made: ${show(traits(hand))}`);
    console.log(`  ours:      ${run.applied.length ? show(tr) : 'no conversion'}${run.applied.length ? ` (${run.applied.map((a) => a.code).join(', ')})` : ''}`);
    for (const r of run.refused) console.log(`  refused ${r.code}: ${r.reason}`);
    if (run.applied.length && left.length) console.log(`  left: ${left.map((f) => `${f.code} ${f.message.slice(0, 90)}…`).join('; ')}`);
    for (const f of run.remaining) console.log(`  still ${f.code}: ${f.message.slice(0, 120)}…`);
  }
  console.log(`\n${theirs} hand-made rewrites use shadow variables; our fixes converted something in ${ours} of their original patches and all of the data change in ${full} (no KLP101 error or KLP140 left)${tree ? '' : ' (hunks only)'}.`);
})();
