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
 *   KLP141 a paired operation is added or removed, or done another way (kfree → kfree_rcu)
 *   KLP142 the lock protecting shared data changes (taken, dropped, another lock, another lock type)
 *   KLP143 a shared field changes meaning: written differently, a new protocol across
 *          functions (set in one, relied on in another), or existing members re-laid out
 *   KLP144 a flag or constant value changes
 */
import { finding, type Finding, type RelatedSite } from '../findings';
import type { FileAnalysis } from '../analysis';
import type { Effect, FunctionFacts, Site } from '../facts/extract';
import { PAIR, type EffectOp } from '../facts/ops';
import type { Range } from '../text';
import type { Rule, RuleContext } from './index';
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

const REFCOUNT_API = /^(refcount_|kref_|percpu_ref_)/;

/** Field names too common to tie two functions together by name alone. */
const GENERIC_FIELDS = new Set(
  'lock list node entry head next prev data priv private flags flag count refcnt ref refs users state status len length size type id name dev ops owner parent work rcu mutex sem wait list_head link value val key mode index idx buf buffer page pages'.split(' '),
);

/** Reference counts on an object: refcount_inc(&x->use) and kref_put(&x->kref) are one protocol on the type of x. */
function refKey(e: Effect): string | undefined {
  if ((e.op !== 'inc' && e.op !== 'dec') || !REFCOUNT_API.test(e.via)) return undefined;
  const typed = /^(struct|union) [A-Za-z_]\w*/.exec(e.resource);
  return typed ? `ref(${typed[0]})` : undefined;
}

/** The API family of an operation: what two ways of doing the same thing differ in. */
function family(via: string): string {
  if (/^(mutex_)/.test(via)) return 'mutex';
  if (/^(raw_spin_)/.test(via)) return 'raw spinlock';
  if (/^spin_/.test(via)) return /_bh$|_bh\(/.test(via) ? 'spinlock (bh)' : /irq/.test(via) ? 'spinlock (irq)' : 'spinlock';
  if (/^(down|up)(_read|_write)?/.test(via)) return 'rw-semaphore';
  if (/^(read|write)_(un)?lock/.test(via)) return 'rwlock';
  if (/_rcu$|^call_rcu/.test(via)) return 'RCU-deferred';
  if (/^(kvfree|vfree)$/.test(via)) return 'vfree';
  return via.replace(/_(irqsave|irqrestore|nested|interruptible|killable|trylock)$/, '');
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
  return r.replace(/^(struct|union) /, '').replace('::', '->').replace(/^api:/, '');
}

function leaf(resource: string): string | undefined {
  const m = /::(?:.*\.)?([A-Za-z_]\w*)(\[\])?$/.exec(resource);
  return m && m[1].length >= 5 && !GENERIC_FIELDS.has(m[1]) ? m[1] : undefined;
}

const ZERO: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

class Index {
  readonly byResource = new Map<string, Occurrence[]>();
  constructor(files: FileAnalysis[]) {
    const record = (file: FileAnalysis, facts: FunctionFacts, side: Occurrence['side']) => {
      for (const e of facts.effects) {
        this.note(e.resource, { file, fn: facts.name, side, effect: e, site: e.site });
        const rk = refKey(e);
        if (rk) this.note(rk, { file, fn: facts.name, side, effect: { ...e, resource: rk }, site: e.site });
      }
      for (const a of facts.accesses) this.note(a.resource, { file, fn: facts.name, side, write: a.write, site: a.site });
    };
    for (const f of files) {
      for (const [, facts] of f.facts.pre) record(f, facts, 'pre');
      for (const [, facts] of f.facts.post) record(f, facts, 'post');
      for (const [, facts] of f.facts.context) record(f, facts, 'context');
    }
  }
  private note(r: string, o: Occurrence) {
    let l = this.byResource.get(r);
    if (!l) this.byResource.set(r, (l = []));
    l.push(o);
  }
}

export const dataSemanticRule: Rule = {
  id: 'dynamic-data-semantic',
  run(ctx) {
    const out: Finding[] = [];
    const files = cFiles(ctx);
    const { byResource } = new Index(files);
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
    const verb = (o: Occurrence) => (o.effect ? (o.effect.op === 'assign' ? `stores ${o.effect.amount}` : `${o.effect.via}`) : o.write ? 'writes it' : 'reads it');
    const where = (o: Occurrence | undefined) => (o ? siteRange(ctx, o.site) : undefined);

    // KLP140 / KLP141: paired operations, per changed function
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
          const key = `${resource}|${op}|${fn}`;
          if (reported.has(key)) continue;
          const amountsA = a.map((o) => o.effect!.amount).sort();
          const amountsB = b.map((o) => o.effect!.amount).sort();
          const viaA = [...new Set(a.map((o) => family(o.effect!.via)))].sort();
          const viaB = [...new Set(b.map((o) => family(o.effect!.via)))].sort();
          // the old amounts kept next to the new ones, chosen by a shadow marker (the semantic-marker fix): mediated
          const postFacts = file.facts.post.get(`fn:${fn}`) ?? [...file.facts.post.values()].find((x) => x.name === fn);
          const marked = postFacts?.calls.some((c) => c.name === 'klp_shadow_get') && amountsA.every((x) => amountsB.includes(x));
          if (partner && a.length && b.length && amountsA.join('\0') !== amountsB.join('\0') && (op === 'inc' || op === 'dec') && !marked) {
            reported.add(key);
            const changedSite = b.find((o) => o.site.changed) ?? b[0];
            const partnerDesc = list(others.filter((o) => o.effect && (o.effect.op === pair || o.effect.op === op)).map((o) => `${o.side === 'context' ? '' : o.side === 'pre' ? 'old ' : 'new '}${o.fn}() ${describeOp(o.effect!.op, o.effect!.amount)}`));
            out.push(
              finding(
                'KLP140',
                `${fn}() changes ${shortResource(resource)} from ${amountsA.map((x) => describeOp(op, x)).join(', ')} to ${amountsB.map((x) => describeOp(op, x)).join(', ')}, and ${partnerDesc} on the same counter. During the transition an old and a new function can run on different tasks, so an old ${describeOp(op, amountsA[0])} can meet a new ${describeOp(pair ?? op, amountsB[0])} and the counter no longer balances. Make the new code accept both encodings, or mark objects created after patching (a shadow variable) and use the new amounts only for them.`,
                where(changedSite) ?? where(a[0]) ?? file.entities.find((e) => e.name === fn)?.range ?? ZERO,
                { file: file.path, related: related(occ, fn, verb), data: { resource, function: fn, op } },
              ),
            );
          } else if (partner && a.length !== b.length && (a.length === 0 || b.length === 0)) {
            reported.add(key);
            const added = b.length > 0;
            const site = added ? (b.find((o) => o.site.changed) ?? b[0]) : (a.find((o) => o.site.changed) ?? a[0]);
            const via = site.effect!.via;
            const partnerFns = list(others.filter((o) => o.effect && (o.effect.op === pair || o.effect.op === op)).map((o) => `${o.fn}()`));
            const mix = added ? `objects that old code handled never had this ${op} done, yet ${partnerFns || 'the partner operation'} may act on them` : `code in ${partnerFns || 'other functions'} may still expect it`;
            const partnerCount = new Set(others.filter((o) => o.effect && (o.effect.op === pair || o.effect.op === op)).map((o) => o.fn)).size;
            out.push(
              finding(
                'KLP141',
                `${fn}() ${added ? 'now does' : 'no longer does'} ${via} on ${shortResource(resource)}, and ${partnerFns || 'other functions'} ${partnerCount === 1 ? 'does' : 'do'} the matching ${pair ?? op}: during the transition ${mix}. Check that every mix of old and new ${list([fn, ...others.map((o) => o.fn)].map((n) => n + '()'), 4)} keeps the protocol balanced, or gate the new behaviour on objects created after patching.`,
                where(site) ?? ZERO,
                { file: file.path, related: related(occ, fn, verb), data: { resource, function: fn, op, added } },
              ),
            );
          } else if (a.length && b.length && (op === 'free' || op === 'alloc') && viaA.join() !== viaB.join()) {
            reported.add(key);
            const site = b.find((o) => o.site.changed) ?? b[0];
            out.push(
              finding(
                'KLP141',
                `${fn}() now ${op === 'free' ? 'frees' : 'allocates'} ${shortResource(resource)} with ${list(viaB)} instead of ${list(viaA)}: during the transition old and new code disagree on the object's lifetime (e.g. a reader that the new code protects with RCU can still meet an old immediate free). Check every user of the object, old and new.`,
                where(site) ?? ZERO,
                { file: file.path, related: related(occ, fn, verb), data: { resource, function: fn, op } },
              ),
            );
          }
        }
      }
    }

    // KLP143: a field whose meaning changes across functions
    const fieldReported = new Set<string>();
    const reportField = (resource: string, fn: string, site: Occurrence, message: string, occ: Occurrence[]) => {
      const r = siteRange(ctx, site.site);
      if (!r || fieldReported.has(resource)) return;
      fieldReported.add(resource);
      out.push(finding('KLP143', message, r, { file: site.file.path, related: related(occ, fn, verb), data: { resource, function: fn } }));
    };
    // resources grouped also by a distinctive field name, so rt->dst.rt_uncached_list and dst->rt_uncached_list meet
    const byField = new Map<string, Occurrence[]>();
    for (const [resource, occ] of byResource) {
      if (!resource.includes('::')) continue;
      const name = leaf(resource);
      const k = name ? `field:${name}` : resource;
      byField.set(k, [...(byField.get(k) ?? []), ...occ]);
    }
    for (const [key, occ] of byField) {
      const resource = occ.find((o) => o.effect || o.write)?.effect?.resource ?? key.replace(/^field:/, '');
      const changedFns = [...new Set(occ.filter((o) => o.side !== 'context').map((o) => o.fn))];
      const writesOf = (fn: string, side: 'pre' | 'post') =>
        occ
          .filter((o) => o.fn === fn && o.side === side && o.effect?.op === 'assign')
          .map((o) => o.effect!.amount)
          .sort()
          .join('\0');
      const touched = (fn: string, side: 'pre' | 'post') => occ.some((o) => o.fn === fn && o.side === side);
      const users = (except: string) => [...new Set(occ.filter((o) => o.fn !== except).map((o) => o.fn))];
      // (a) an existing field written differently, and used elsewhere (a field new to the patch is case b)
      const existed = occ.some((o) => o.side === 'pre' || o.side === 'context');
      for (const fn of existed ? changedFns : []) {
        const before = writesOf(fn, 'pre');
        const after = writesOf(fn, 'post');
        if (before === after || users(fn).length === 0) continue;
        const site = occ.find((o) => o.fn === fn && o.side === 'post' && o.site.changed && o.effect?.op === 'assign') ?? occ.find((o) => o.fn === fn && o.side === 'pre' && o.site.changed && o.effect?.op === 'assign');
        if (!site) continue;
        const oldVals = before.split('\0').filter(Boolean);
        const newVals = after.split('\0').filter(Boolean);
        const how = oldVals.length && newVals.length ? `stores ${list(newVals, 3)} where it stored ${list(oldVals, 3)}` : newVals.length ? `now stores ${list(newVals, 3)}` : `no longer stores ${list(oldVals, 3)}`;
        const u = users(fn);
        reportField(
          resource,
          fn,
          site,
          `${fn}() ${how} in ${shortResource(resource)}, which ${list(u.map((n) => n + '()'), 4)} also use${u.length === 1 ? 's' : ''}. Objects created or updated by old code keep the old meaning, and during the transition old and new functions interpret the same field differently. Make new code accept what old code stored (and the reverse), or mark new objects with a shadow variable.`,
          occ,
        );
      }
      // (b) a new protocol: the field starts being used in two or more functions by the patch
      const newUse = changedFns.filter((fn) => touched(fn, 'post') && occ.some((o) => o.fn === fn && o.side === 'post' && o.site.changed) && !touched(fn, 'pre'));
      const newWriters = newUse.filter((fn) => occ.some((o) => o.fn === fn && o.side === 'post' && (o.write || o.effect)));
      const allUsers = [...new Set(occ.filter((o) => o.side !== 'pre').map((o) => o.fn))];
      if (newUse.length >= 1 && newWriters.length >= 1 && allUsers.length >= 2) {
        const writer = newWriters[0];
        const site = occ.find((o) => o.fn === writer && o.side === 'post' && o.site.changed && (o.write || o.effect)) as Occurrence;
        const readers = allUsers.filter((n) => n !== writer);
        reportField(
          resource,
          writer,
          site,
          `The patch starts a protocol on ${shortResource(resource)}: ${writer}() now sets it and ${list(readers.map((n) => n + '()'), 4)} ${readers.length === 1 ? 'relies' : 'rely'} on it. Objects that existed before the patch never went through the new ${writer}(), and during the transition an old ${writer}() can run on another task, so the new readers meet objects where the field was never set. Handle the old state explicitly, or attach the new state with a shadow variable.`,
          occ,
        );
      }
    }
    // (c) existing members re-laid out: old and new code read the same objects differently
    for (const f of files) {
      for (const e of f.entities) {
        if ((e.kind !== 'struct' && e.kind !== 'union') || e.change !== 'changed') continue;
        const moved = (e.members ?? []).filter((m) => m.change === 'retyped' || m.change === 'removed' || m.change === 'moved');
        if (moved.length === 0) continue;
        const resource = `${e.kind} ${e.name}::${moved[0].name}`;
        if (fieldReported.has(resource)) continue;
        fieldReported.add(resource);
        const what = moved.map((m) => `${m.name} (${m.change})`);
        out.push(
          finding(
            'KLP143',
            `Existing members of ${e.kind} ${e.name} change: ${list(what, 4)}. During the transition old functions and new ones read and write the same live objects with different layouts or meanings (a field one side uses the other ignores, a lock one side takes the other does not see), so their data mixes. Keep the existing members as they are; put new state in a shadow variable.`,
            moved[0].range ?? e.range,
            { file: f.path, data: { entity: e.key, members: moved.map((m) => m.name) } },
          ),
        );
      }
    }

    // KLP142: the locks a changed function takes change
    for (const f of files) {
      for (const [key, post] of f.facts.post) {
        const pre = f.facts.pre.get(key);
        if (!pre) continue;
        const locks = (x: FunctionFacts) => x.effects.filter((e) => e.op === 'lock');
        const before = locks(pre);
        const after = locks(post);
        const gained = [...new Set(after.map((e) => e.resource).filter((l) => !before.some((b) => b.resource === l)))];
        const lost = [...new Set(before.map((e) => e.resource).filter((l) => !after.some((a) => a.resource === l)))];
        const retyped = [...new Set(after.map((e) => e.resource))].filter((l) => {
          const fa = new Set(before.filter((b) => b.resource === l).map((b) => family(b.via)));
          const fb = new Set(after.filter((b) => b.resource === l).map((b) => family(b.via)));
          return fa.size > 0 && [...fb].some((x) => !fa.has(x));
        });
        if (gained.length === 0 && lost.length === 0 && retyped.length === 0) continue;
        const guarded = new Set<string>();
        for (const e of post.effects) if (e.locksHeld.some((l) => gained.includes(l)) && e.op !== 'lock' && e.op !== 'unlock') guarded.add(e.resource);
        for (const e of pre.effects) if (e.locksHeld.some((l) => lost.includes(l)) && e.op !== 'lock' && e.op !== 'unlock') guarded.add(e.resource);
        // shared data: object fields, or globals the patch itself declares (a bare name may be a local declared out of the hunk's view)
        const globals = new Set(ctx.files.flatMap((x) => x.entities.filter((en) => en.kind === 'variable').map((en) => en.name)));
        const shared = [...guarded].filter((r) => r.includes('::') || (globals.has(r) && (byResource.get(r) ?? []).some((o) => o.fn !== post.name)));
        const objectLocks = [...gained, ...lost, ...retyped].filter((l) => l.includes('::') || (byResource.get(l) ?? []).some((o) => o.fn !== post.name));
        if (shared.length === 0 && objectLocks.length === 0) continue;
        const site =
          post.effects.find((e) => e.op === 'lock' && (gained.includes(e.resource) || retyped.includes(e.resource)) && e.site.changed)?.site ??
          pre.effects.find((e) => e.op === 'lock' && lost.includes(e.resource) && e.site.changed)?.site;
        const r = site && siteRange(ctx, site);
        if (!r) continue;
        let change: string;
        if (retyped.length && !gained.length && !lost.length) {
          const l = retyped[0];
          change = `takes ${shortResource(l)} as a ${list([...new Set(after.filter((a) => a.resource === l).map((a) => family(a.via)))])} where it was a ${list([...new Set(before.filter((b) => b.resource === l).map((b) => family(b.via)))])}`;
        } else if (gained.length && lost.length) change = `takes ${list(gained.map(shortResource))} instead of ${list(lost.map(shortResource))}`;
        else if (gained.length) change = `now takes ${list(gained.map(shortResource))}`;
        else change = `no longer takes ${list(lost.map(shortResource))}`;
        const what = shared.length ? ` around ${list(shared.map(shortResource), 4)}` : '';
        const occ = [...gained, ...lost, ...retyped, ...shared].flatMap((x) => byResource.get(x) ?? []);
        out.push(
          finding(
            'KLP142',
            `${post.name}() ${change}${what}. During the transition old code on other tasks still follows the old locking, so old and new code do not exclude each other until every task has switched. Make the new locking also hold against the old code (e.g. take both locks), or keep the old lock for the shared data.`,
            r,
            { file: f.path, related: related(occ, post.name, verb), data: { function: post.name, gained, lost, retyped } },
          ),
        );
      }
      // KLP144: a constant or flag value changes
      for (const e of f.entities) {
        if (e.kind !== 'macro' || e.change !== 'changed' || !e.aspects.includes('value')) continue;
        const oldV = /#define\s+\w+\s+(.*)$/m.exec(e.old?.text ?? '')?.[1]?.trim() ?? '';
        const newV = /#define\s+\w+\s+(.*)$/m.exec(e.new?.text ?? '')?.[1]?.trim() ?? '';
        const numeric = (v: string) => /^[\s()]*(BIT(_ULL)?\s*\(\s*\d+\s*\)|0x[0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|\(?\s*\d+[uUlL]*\s*<<\s*\d+\s*\)?)[\s()]*$/.test(v);
        if (!numeric(oldV) || !numeric(newV)) continue;
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

export type { RuleContext };
