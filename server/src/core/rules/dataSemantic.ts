/**
 * Dynamic data-semantic changes (H06): the layout stays, the meaning changes.
 * During the per-task transition old and new functions run at the same time on
 * different tasks, so a protocol on shared data that spans functions must work
 * when an old function meets a new one. The canonical case: two functions that
 * always run in pairs change A++/A-- into A+=2/A-=2; an old A++ can meet a new
 * A-=2 and A never returns to zero.
 *
 * Effects of every changed function (facts/) are grouped by resource; a
 * resource whose operations change in one function while another function of
 * the patch (or of the file, unchanged) also operates on it is reported, with
 * every site as related information:
 *   KLP140 a paired operation changes its amount (+1 → +2)
 *   KLP141 a paired operation is added or removed (a new get whose put is elsewhere)
 *   KLP142 the lock protecting shared data changes (taken, dropped, moved to another lock)
 *   KLP143 a shared field is written differently (a new invariant, another encoding)
 *   KLP144 a flag or constant value changes
 */
import { finding, type Finding, type RelatedSite } from '../findings';
import type { FileAnalysis } from '../analysis';
import type { Effect, FunctionFacts, Site } from '../facts/extract';
import { PAIR, type EffectOp } from '../facts/ops';
import type { Rule } from './index';
import { cFiles, list, relatedSite, siteRange } from './util';

interface Occurrence {
  file: FileAnalysis;
  fn: string;
  /** pre/post of a changed function, or an unchanged function of the file (same on both sides). */
  side: 'pre' | 'post' | 'context';
  effect?: Effect;
  write?: boolean;
  site: Site;
}

const REFCOUNT_API = /^(refcount_|kref_|percpu_ref_)|_(get|hold|grab|put|release|unref|drop)$/;

/** Reference counts on an object: refcount_inc(&x->use) and foo_put(x) are the same protocol, on the type of x. */
function refKey(e: Effect): string | undefined {
  if (e.op !== 'inc' && e.op !== 'dec') return undefined;
  if (!REFCOUNT_API.test(e.via)) return undefined;
  const typed = /^(struct|union) [A-Za-z_]\w*/.exec(e.resource.replace(/^[a-z_0-9]+\(/, ''));
  return typed ? `ref(${typed[0]})` : undefined;
}

function describeOp(op: EffectOp, amount: string): string {
  switch (op) {
    case 'inc':
      return `+${amount}`;
    case 'dec':
      return `-${amount}`;
    case 'bit-set':
      return `sets ${amount}`;
    case 'bit-clear':
      return `clears ${amount}`;
    default:
      return op;
  }
}

function shortResource(r: string): string {
  return r.replace(/^(struct|union) /, '').replace('::', '->');
}

export const dataSemanticRule: Rule = {
  id: 'dynamic-data-semantic',
  run(ctx) {
    const out: Finding[] = [];
    const files = cFiles(ctx);
    // All occurrences by resource, over every changed function of the patch and the unchanged functions around them.
    const byResource = new Map<string, Occurrence[]>();
    const note = (r: string, o: Occurrence) => {
      let l = byResource.get(r);
      if (!l) byResource.set(r, (l = []));
      l.push(o);
    };
    const record = (file: FileAnalysis, facts: FunctionFacts, side: Occurrence['side']) => {
      for (const e of facts.effects) {
        note(e.resource, { file, fn: facts.name, side, effect: e, site: e.site });
        const rk = refKey(e);
        if (rk) note(rk, { file, fn: facts.name, side, effect: { ...e, resource: rk }, site: e.site });
      }
      for (const a of facts.accesses) note(a.resource, { file, fn: facts.name, side, write: a.write, site: a.site });
    };
    for (const f of files) {
      for (const [, facts] of f.facts.pre) record(f, facts, 'pre');
      for (const [, facts] of f.facts.post) record(f, facts, 'post');
      for (const [, facts] of f.facts.context) record(f, facts, 'context');
    }
    const reported = new Set<string>();
    const related = (occ: Occurrence[], except: string, verb: (o: Occurrence) => string): RelatedSite[] => {
      const outR: RelatedSite[] = [];
      for (const o of occ) {
        if (o.fn === except && o.side !== 'context') continue;
        const r = relatedSite(ctx, o.file, o.site, o.side === 'pre' ? 'pre' : 'post', `${o.side === 'pre' ? 'old' : o.side === 'post' ? 'new' : 'unchanged'} ${o.fn}(): ${verb(o)}`);
        if (r && outR.length < 12 && !outR.some((x) => x.range.start.line === r.range.start.line && x.path === r.path)) outR.push(r);
      }
      return outR;
    };
    const where = (o: Occurrence | undefined) => (o ? siteRange(ctx, o.site) : undefined);

    for (const [resource, occ] of byResource) {
      const changedFns = new Set(occ.filter((o) => o.side === 'pre' || o.side === 'post').map((o) => o.fn));
      for (const fn of changedFns) {
        const pre = occ.filter((o) => o.fn === fn && o.side === 'pre' && o.effect);
        const post = occ.filter((o) => o.fn === fn && o.side === 'post' && o.effect);
        const others = occ.filter((o) => o.fn !== fn);
        const otherOps = new Set(others.map((o) => o.effect?.op).filter((x): x is EffectOp => !!x));
        const file = (post[0] ?? pre[0])?.file;
        if (!file) continue;
        for (const op of ['inc', 'dec', 'bit-set', 'bit-clear', 'alloc', 'free', 'list-add', 'list-del'] as EffectOp[]) {
          const a = pre.filter((o) => o.effect?.op === op);
          const b = post.filter((o) => o.effect?.op === op);
          const pair = PAIR[op];
          const partner = pair && (otherOps.has(pair) || otherOps.has(op));
          if (!partner) continue;
          const amountsA = a.map((o) => o.effect!.amount).sort();
          const amountsB = b.map((o) => o.effect!.amount).sort();
          const key = `${resource}|${op}|${fn}`;
          if (reported.has(key)) continue;
          if (a.length && b.length && amountsA.join('\0') !== amountsB.join('\0') && (op === 'inc' || op === 'dec')) {
            reported.add(key);
            const changedSite = b.find((o) => o.site.changed) ?? b[0];
            const partnerDesc = list(others.filter((o) => o.effect && (o.effect.op === pair || o.effect.op === op)).map((o) => `${o.side === 'context' ? '' : o.side === 'pre' ? 'old ' : 'new '}${o.fn}() ${describeOp(o.effect!.op, o.effect!.amount)}`));
            out.push(
              finding(
                'KLP140',
                `${fn}() changes ${shortResource(resource)} from ${amountsA.map((x) => describeOp(op, x)).join(', ')} to ${amountsB.map((x) => describeOp(op, x)).join(', ')}, and ${partnerDesc} on the same counter. During the transition an old and a new function can run on different tasks, so an old ${describeOp(op, amountsA[0])} can meet a new ${describeOp(pair ?? op, amountsB[0])} and the counter no longer balances. Make the new code accept both encodings, or mark objects created after patching (a shadow variable) and use the new amounts only for them.`,
                where(changedSite) ?? where(a[0]) ?? file.entities.find((e) => e.name === fn)?.range ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
                { file: file.path, related: related(occ, fn, (o) => (o.effect ? `${describeOp(o.effect.op, o.effect.amount)} (${o.effect.via})` : o.write ? 'writes it' : 'reads it')), data: { resource, function: fn, op } },
              ),
            );
          } else if (a.length !== b.length && (a.length === 0 || b.length === 0)) {
            reported.add(key);
            const added = b.length > 0;
            const site = added ? (b.find((o) => o.site.changed) ?? b[0]) : (a.find((o) => o.site.changed) ?? a[0]);
            const via = site.effect!.via;
            const partnerFns = list(others.filter((o) => o.effect && o.effect.op === pair).map((o) => `${o.fn}()`));
            const mix = added
              ? `objects that old code handled never had this ${op} done, yet ${partnerFns || 'the partner operation'} will undo it`
              : `the ${pair ?? 'partner'} in ${partnerFns || 'other functions'} may still expect it`;
            out.push(
              finding(
                'KLP141',
                `${fn}() ${added ? 'now does' : 'no longer does'} ${via} on ${shortResource(resource)}, whose ${pair ?? 'partner'} operation is in ${partnerFns || 'other functions'}: during the transition ${mix}. Check that every mix of old and new ${list([fn, ...others.map((o) => o.fn)].map((n) => n + '()'), 4)} keeps the count balanced, or gate the new behaviour on objects created after patching.`,
                where(site) ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
                { file: file.path, related: related(occ, fn, (o) => (o.effect ? `${o.effect.via}` : o.write ? 'writes it' : 'reads it')), data: { resource, function: fn, op, added } },
              ),
            );
          }
        }
        // KLP143: a shared field written differently in a changed function, and used by another function.
        if (resource.includes('::') && !resource.startsWith('ref(')) {
          const users = new Set(others.map((o) => o.fn));
          if (users.size === 0) continue;
          const w = (side: 'pre' | 'post') =>
            occ
              .filter((o) => o.fn === fn && o.side === side && o.effect?.op === 'assign')
              .map((o) => o.effect!.amount)
              .sort()
              .join('\0');
          const wrote = (side: 'pre' | 'post') => occ.some((o) => o.fn === fn && o.side === side && (o.write || (o.effect && o.effect.op !== 'lock' && o.effect.op !== 'unlock')));
          const changedWrites = w('pre') !== w('post') || wrote('pre') !== wrote('post');
          const key = `${resource}|write`;
          if (!changedWrites || reported.has(key)) continue;
          reported.add(key);
          const site = occ.find((o) => o.fn === fn && o.side === 'post' && o.site.changed && (o.write || o.effect)) ?? occ.find((o) => o.fn === fn && o.side === 'pre' && o.site.changed && (o.write || o.effect));
          if (!site || !siteRange(ctx, site.site)) {
            reported.delete(key);
            continue;
          }
          const oldVals = w('pre').split('\0').filter(Boolean);
          const newVals = w('post').split('\0').filter(Boolean);
          const how = oldVals.length && newVals.length ? `stores ${list(newVals, 3)} where it stored ${list(oldVals, 3)}` : newVals.length ? `now stores ${list(newVals, 3)}` : oldVals.length ? `no longer stores ${list(oldVals, 3)}` : 'changes how it writes it';
          out.push(
            finding(
              'KLP143',
              `${fn}() ${how} in ${shortResource(resource)}, which ${list([...users].map((n) => n + '()'), 4)} also use${users.size === 1 ? 's' : ''}. Objects created or updated by old code keep the old meaning, and during the transition old and new functions interpret the same field differently. Make new code accept what old code stored (and the reverse), or mark new objects with a shadow variable.`,
              siteRange(ctx, site.site)!,
              { file: site.file.path, related: related(occ, fn, (o) => (o.effect?.op === 'assign' ? `stores ${o.effect.amount}` : o.write || o.effect ? 'writes it' : 'reads it')), data: { resource, function: fn } },
            ),
          );
        }
      }
    }

    // KLP142: the locks a changed function takes change, and what it protects is shared with other functions.
    for (const f of files) {
      for (const [key, post] of f.facts.post) {
        const pre = f.facts.pre.get(key);
        if (!pre) continue;
        const locks = (x: FunctionFacts) => x.effects.filter((e) => e.op === 'lock').map((e) => e.resource);
        const before = locks(pre);
        const after = locks(post);
        const gained = [...new Set(after.filter((l) => !before.includes(l)))];
        const lost = [...new Set(before.filter((l) => !after.includes(l)))];
        if (gained.length === 0 && lost.length === 0) continue;
        // fields accessed under the changed locks, shared with other functions
        const guarded = new Set<string>();
        for (const e of post.effects) if (e.locksHeld.some((l) => gained.includes(l)) && e.op !== 'lock' && e.op !== 'unlock') guarded.add(e.resource);
        for (const e of pre.effects) if (e.locksHeld.some((l) => lost.includes(l)) && e.op !== 'lock' && e.op !== 'unlock') guarded.add(e.resource);
        const shared = [...guarded].filter((r) => (byResource.get(r) ?? []).some((o) => o.fn !== post.name));
        const lockShared = [...gained, ...lost].filter((l) => (byResource.get(l) ?? []).some((o) => o.fn !== post.name));
        if (shared.length === 0 && lockShared.length === 0) continue;
        const site = post.effects.find((e) => e.op === 'lock' && gained.includes(e.resource) && e.site.changed)?.site ?? pre.effects.find((e) => e.op === 'lock' && lost.includes(e.resource) && e.site.changed)?.site;
        const r = site && siteRange(ctx, site);
        if (!r) continue;
        const change = gained.length && lost.length ? `takes ${list(gained.map(shortResource))} instead of ${list(lost.map(shortResource))}` : gained.length ? `now takes ${list(gained.map(shortResource))}` : `no longer takes ${list(lost.map(shortResource))}`;
        const what = shared.length ? ` around ${list(shared.map(shortResource), 4)}` : '';
        const occ = [...gained, ...lost, ...shared].flatMap((x) => byResource.get(x) ?? []);
        out.push(
          finding(
            'KLP142',
            `${post.name}() ${change}${what}. During the transition old code on other tasks still follows the old locking, so old and new code do not exclude each other until every task has switched. Make the new locking also hold against the old code (e.g. take both locks), or keep the old lock for the shared data.`,
            r,
            { file: f.path, related: related(occ, post.name, (o) => (o.effect?.op === 'lock' ? `takes ${shortResource(o.effect.resource)}` : o.write || o.effect ? 'writes it' : 'reads it')), data: { function: post.name, gained, lost } },
          ),
        );
      }
      // KLP144: a constant or flag value changes.
      for (const e of f.entities) {
        if (e.kind !== 'macro' || e.change !== 'changed' || !e.aspects.includes('value')) continue;
        const oldV = /#define\s+\w+\s+(.*)$/m.exec(e.old?.text ?? '')?.[1]?.trim() ?? '';
        const newV = /#define\s+\w+\s+(.*)$/m.exec(e.new?.text ?? '')?.[1]?.trim() ?? '';
        const numeric = (v: string) => /^[\s()]*(BIT(_ULL)?\s*\(\s*\d+\s*\)|0x[0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|\(?\s*\d+[uUlL]*\s*<<\s*\d+\s*\)?)[\s()]*$/.test(v);
        if (!numeric(oldV) || !numeric(newV) || e.old?.entity.definedBy) continue;
        out.push(
          finding(
            'KLP144',
            `${e.name} changes from ${oldV} to ${newV}: values stored or computed by old code (in objects, flags, sizes) are read by new code with the new meaning, and the reverse during the transition. Keep the old value for data that outlives a call, or add a new constant for the new meaning.`,
            e.range,
            { file: f.path, data: { entity: e.key, macro: e.name, old: oldV, new: newV } },
          ),
        );
      }
    }
    return out;
  },
};
