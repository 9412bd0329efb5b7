/**
 * Shadow variables already in the patch (H07): the remedy for new fields and
 * new semantics, with its own pitfalls. An id allocated but never freed leaks
 * (per object, and for good when the patch is removed without free_all); one
 * id used for data of different sizes corrupts it; GFP_KERNEL under a spinlock
 * sleeps in atomic context; the legacy kpatch_shadow_* API is gone.
 */
import { finding, type Finding } from '../findings';
import type { Call } from '../facts/extract';
import type { FileAnalysis } from '../analysis';
import type { Rule } from './index';
import { cFiles, list, siteRange } from './util';

interface Use {
  file: FileAnalysis;
  fn: string;
  call: Call;
  id: string;
  locks: string[];
}

const ALLOC = /^klp_shadow_(alloc|get_or_alloc)$/;
/** Lock APIs after which the context cannot sleep (mutexes, semaphores and SRCU can). */
const ATOMIC_LOCK = /^(spin_|raw_spin_|read_lock|write_lock|rcu_read_lock|local_irq_|local_bh_|preempt_)/;
/** A size that names a type (comparable across call sites), not an expression like sizeof(*p). */
const TYPE_SIZE = /^sizeof\s*\(\s*(struct\s+|union\s+)?[A-Za-z_]\w*\s*\)$|^\d+$/;

export const shadowVariableRule: Rule = {
  id: 'shadow-variable',
  run(ctx) {
    const out: Finding[] = [];
    const uses: Use[] = [];
    for (const f of cFiles(ctx)) {
      for (const [, facts] of f.facts.post) {
        for (const call of facts.calls) {
          if (/^kpatch_shadow_(alloc|get|free)$/.test(call.name)) {
            const r = siteRange(ctx, call.site, call.name.length);
            if (r) out.push(finding('KLP153', `${call.name}() in ${facts.name}() is the legacy kpatch core-module API: upstream livepatch provides klp_shadow_alloc/klp_shadow_get/klp_shadow_free with numeric ids (include <linux/livepatch.h>).`, r, { file: f.path, severity: 'warning', data: { function: facts.name } }));
            continue;
          }
          if (!call.name.startsWith('klp_shadow_')) continue;
          const id = call.name === 'klp_shadow_free_all' ? call.args[0] : call.args[1];
          if (id === undefined) continue;
          // locks still held at the call that make the context atomic (spinlocks, rwlocks, RCU, irqs/bh/preemption off)
          const taken = facts.effects.filter((e) => e.op === 'lock' && e.site.imageLine <= call.site.imageLine && ATOMIC_LOCK.test(e.via));
          const released = facts.effects.filter((e) => e.op === 'unlock' && e.site.imageLine < call.site.imageLine).map((e) => e.resource);
          const open = taken.filter((e) => released.lastIndexOf(e.resource) < 0).map((e) => e.resource);
          uses.push({ file: f, fn: facts.name, call, id, locks: [...new Set(open)] });
        }
      }
    }
    const ids = [...new Set(uses.map((u) => u.id))];
    for (const id of ids) {
      const mine = uses.filter((u) => u.id === id);
      const allocs = mine.filter((u) => ALLOC.test(u.call.name));
      const frees = mine.filter((u) => u.call.name === 'klp_shadow_free');
      const freeAll = mine.filter((u) => u.call.name === 'klp_shadow_free_all');
      const first = allocs[0];
      if (first && (frees.length === 0 || freeAll.length === 0)) {
        const r = siteRange(ctx, first.call.site, first.call.name.length);
        if (r) {
          const missing = frees.length === 0 && freeAll.length === 0 ? 'neither klp_shadow_free() where the object is destroyed nor klp_shadow_free_all() when the patch is removed' : frees.length === 0 ? 'no klp_shadow_free() where the object is destroyed' : 'no klp_shadow_free_all() in a post-unpatch callback or module exit';
          out.push(
            finding('KLP150', `Shadow variable ${id} is allocated in ${list(allocs.map((u) => u.fn + '()'))}, but the patch has ${missing}: the shadow data leaks${frees.length === 0 ? ' with every object' : ' when the livepatch is disabled'}. Free it where the parent object is freed and call klp_shadow_free_all(${id}, dtor) on unpatch.`, r, {
              file: first.file.path,
              data: { id },
            }),
          );
        }
      }
      const sizes = new Set(allocs.map((u) => u.call.args[2]).filter((s): s is string => !!s && TYPE_SIZE.test(s)));
      if (sizes.size > 1) {
        const r = siteRange(ctx, allocs[1].call.site, allocs[1].call.name.length);
        if (r) out.push(finding('KLP151', `Shadow variable id ${id} is allocated with different sizes (${list([...sizes])}): ids are global across every livepatch on the system, so one id must always mean the same data. Give each kind of shadow data its own unique id.`, r, { file: allocs[1].file.path, data: { id } }));
      }
      const literal = /^\(?\s*(0x[0-9a-fA-F]+|\d+)[uUlL]*\s*\)?$/.exec(id);
      if (literal && Number(literal[1]) < 0x10000 && first) {
        const r = siteRange(ctx, first.call.site, first.call.name.length);
        if (r) out.push(finding('KLP151', `Shadow variable id ${id} is a small literal: ids are global across every livepatch loaded on the system, and another patch may use the same number. Define a unique id constant (e.g. derived from the CVE or patch name).`, r, { file: first.file.path, severity: 'warning', data: { id } }));
      }
      for (const u of allocs) {
        if (!/\bGFP_KERNEL\b/.test(u.call.args[3] ?? '')) continue;
        const spin = u.locks;
        if (spin.length === 0) continue;
        const r = siteRange(ctx, u.call.site, u.call.name.length);
        if (r) out.push(finding('KLP152', `${u.call.name}(…, GFP_KERNEL, …) in ${u.fn}() runs while ${list(spin.map((l) => l.replace(/^(struct|union) /, '').replace('::', '->')))} is held: GFP_KERNEL may sleep. Use GFP_ATOMIC (or GFP_NOWAIT) there.`, r, { file: u.file.path, data: { id, function: u.fn } }));
      }
    }
    return out;
  },
};
