/** Stage timings of the pipeline for one generated patch: node out/bench/stages.js [lines] [tree] */
import { join } from 'node:path';
import { initParser, parseC } from '../server/src/core/syntax/parser';
import { parsePatch } from '../server/src/core/patch/parse';
import { buildImages } from '../server/src/core/patch/images';
import { buildParseSource } from '../server/src/core/syntax/source';
import { extractEntities } from '../server/src/core/entities/extract';
import { diffEntities } from '../server/src/core/entities/diff';
import { analyzePatchSync, lineEdits } from '../server/src/core/analysis';
import { KernelTree } from '../server/src/core/tree/kernelTree';
import { benchTree, makePatch } from './lib/gen';

void (async () => {
  await initParser();
  const bt = benchTree(join(__dirname, '..', '..', '.bench-cache'));
  const lines = +(process.argv[2] ?? 300);
  const tree = process.argv[3] === 'tree' ? KernelTree.open(bt.root).tree : undefined;
  const { text } = makePatch(bt, lines, 42);
  const n = lines > 1000 ? 5 : 200;
  const acc: Record<string, number> = {};
  const t = <T>(k: string, f: () => T): T => {
    const t0 = process.hrtime.bigint();
    const r = f();
    acc[k] = (acc[k] ?? 0) + Number(process.hrtime.bigint() - t0) / 1e6;
    return r;
  };
  for (let i = 0; i < n + 3; i++) {
    if (i === 3) for (const k of Object.keys(acc)) acc[k] = 0;
    const set = t('parsePatch', () => parsePatch(text));
    const im = t('images', () => buildImages(set, tree));
    for (const f of im.files) {
      const ps = t('source', () => buildParseSource(f.pre));
      const qs = t('source', () => buildParseSource(f.post));
      const pt = t('parse pre', () => parseC(ps.text));
      const old = t('edits', () => {
        const o = pt.copy();
        const e = lineEdits(ps, qs, f.post.origLine!);
        for (let k = e.length - 1; k >= 0; k--) o.edit(e[k]);
        return o;
      });
      const qt = t('parse post (incremental)', () => parseC(qs.text, old));
      t('bare parse both', () => {
        parseC(ps.raw).delete();
        parseC(qs.raw).delete();
      });
      const pe = t('extract', () => extractEntities(pt, ps));
      const qe = t('extract', () => extractEntities(qt, qs));
      t('diff', () => diffEntities({ image: f.pre, src: ps, ents: pe }, { image: f.post, src: qs, ents: qe }, set.lines));
      pt.delete();
      qt.delete();
      old.delete();
    }
    t('whole analyzePatchSync', () => analyzePatchSync(text, { tree }).dispose());
  }
  for (const [k, v] of Object.entries(acc)) console.log(k.padEnd(28), (v / n).toFixed(3), 'ms');
})();
