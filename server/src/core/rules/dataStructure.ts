/**
 * Data-structure layout changes (H01): struct/union members added, removed,
 * retyped (type, array size, bitfield width) or reordered; enum values that
 * shift; typedefs that change. A livepatch replaces functions, not data:
 * objects that exist keep the old layout and unpatched code keeps the old
 * offsets. An added field is a shadow-variable need: the finding says which
 * changed functions read or write it and whether the patch allocates and frees
 * such objects.
 */
import { finding, type Finding, type RelatedSite } from '../findings';
import type { FileAnalysis } from '../analysis';
import type { EntityChange, MemberChange } from '../entities/diff';
import type { Rule, RuleContext } from './index';
import { cFiles, label, list, relatedSite } from './util';
import { unnamedMemberFindings } from './unnamedMembers';

const SENTINEL = /^_*[A-Z0-9_]*(MAX|NR|NUM|COUNT|LAST|END|LIMIT)[A-Z0-9_]*$|^_*NR_/;

/** Changed functions that touch `type::field`, with their sites, and alloc/free sites of `type`. */
function uses(ctx: RuleContext, f: FileAnalysis, typeName: string, field: string) {
  const resource = `${typeName}::${field}`;
  const readers = new Set<string>();
  const writers = new Set<string>();
  const related: RelatedSite[] = [];
  const allocs: string[] = [];
  const frees: string[] = [];
  for (const file of ctx.files) {
    for (const [, facts] of file.facts.post) {
      for (const a of facts.accesses) {
        // x->field where the type of x is out of view (hunks only): a field the patch adds can only be this one
        const untyped = !/^(struct|union) /.test(a.resource) && new RegExp(`::${field}(\\[\\])?$`).test(a.resource);
        if (a.resource !== resource && !a.resource.startsWith(resource + '.') && !a.resource.startsWith(resource + '[') && !untyped) continue;
        (a.write ? writers : readers).add(facts.name);
        const r = relatedSite(ctx, file, a.site, 'post', `${facts.name}() ${a.write ? 'writes' : 'reads'} ${field}`);
        if (r && related.length < 12) related.push(r);
      }
      for (const e of facts.effects) {
        if (e.resource !== typeName) continue;
        if (e.op === 'alloc') allocs.push(facts.name);
        if (e.op === 'free') frees.push(facts.name);
        const r = relatedSite(ctx, file, e.site, 'post', `${facts.name}() ${e.op === 'alloc' ? 'allocates' : 'frees'} ${typeName} (${e.via})`);
        if (r && (e.op === 'alloc' || e.op === 'free') && related.length < 16) related.push(r);
      }
    }
  }
  void f;
  return { readers: [...readers], writers: [...writers], allocs: [...new Set(allocs)], frees: [...new Set(frees)], related };
}

/** The part of a member declaration that decides the layout (without [annotations]). */
function layoutOf(decl: string | undefined): string {
  return (decl ?? '').replace(/\s*\[[^\]]*\]$/, '');
}

function structFinding(ctx: RuleContext, f: FileAnalysis, e: EntityChange, m: MemberChange): Finding {
  const typeName = `${e.kind} ${e.name}`;
  if (m.change === 'retyped' && layoutOf(m.old) === layoutOf(m.new)) {
    // only an annotation changed (__rcu, __percpu...): same layout, new access discipline
    return finding(
      'KLP101',
      `${typeName}: field ${m.name} changes its annotation (${m.old} → ${m.new}). The layout stays the same, but code the livepatch does not replace still accesses it the old way (e.g. without rcu_dereference), so review every user of ${m.name}, not only the patched ones.`,
      m.range ?? e.range,
      { file: f.path, severity: 'warning', data: { entity: e.key, struct: typeName, member: m.name, change: 'annotated' } },
    );
  }
  const what = m.change === 'added' ? `adds field ${m.name}` : m.change === 'removed' ? `removes field ${m.name}` : m.change === 'retyped' ? `changes field ${m.name} (${m.old} → ${m.new})` : `moves field ${m.name}`;
  let message = `${typeName} ${what}: objects that already exist keep the old layout, and code the livepatch does not replace still uses the old offsets.`;
  let related: RelatedSite[] = [];
  if (m.change === 'added') {
    const u = uses(ctx, f, typeName, m.name);
    related = u.related;
    const who = [...u.writers.map((n) => `${n}() writes it`), ...u.readers.filter((n) => !u.writers.includes(n)).map((n) => `${n}() reads it`)];
    message += who.length ? ` In the patch, ${list(who)}.` : ' No changed function uses it yet.';
    message +=
      u.allocs.length || u.frees.length
        ? ` The patch ${u.allocs.length ? `allocates ${typeName} in ${list(u.allocs.map((n) => n + '()'))}` : 'does not allocate it'}${u.frees.length ? ` and frees it in ${list(u.frees.map((n) => n + '()'))}` : ', and does not free it'}.`
        : '';
    message += ` Keep the struct as it is and hold ${m.name} in a shadow variable (klp_shadow_get_or_alloc where it is written, klp_shadow_get where it is read, klp_shadow_free where the object is freed), or change the code instead of the data.`;
  } else {
    message += ' Keep the layout and express the fix in code, or move the new meaning into a shadow variable.';
  }
  return finding('KLP101', message, m.range ?? e.range, { file: f.path, related, data: { entity: e.key, struct: typeName, member: m.name, change: m.change, decl: m.new ?? m.old, ...(m.change === 'retyped' ? { old: m.old } : {}) } });
}

function enumFinding(f: FileAnalysis, e: EntityChange, m: MemberChange): Finding {
  const appended = m.change === 'added' && (m.followers ?? []).every((n) => SENTINEL.test(n));
  if (m.change === 'added' && appended) {
    const sentinel = (m.followers ?? []).length ? ` before ${list(m.followers ?? [])}` : '';
    return finding(
      'KLP102',
      `enum ${e.name} gains ${m.name}${sentinel}: existing values keep their numbers, but ${sentinel ? 'the sentinel moves, so arrays and loops sized by it change in code the livepatch does not replace' : 'code that is not replaced never handles the new value'}. Check every switch and table indexed by enum ${e.name}.`,
      m.range ?? e.range,
      { file: f.path, severity: 'warning', data: { entity: e.key, member: m.name, change: m.change } },
    );
  }
  const what =
    m.change === 'added'
      ? `inserts ${m.name} before ${list(m.followers ?? [])}, shifting their values`
      : m.change === 'removed'
        ? `removes ${m.name}, shifting the values after it`
        : m.change === 'retyped'
          ? `changes the value of ${m.name}`
          : `moves ${m.name}`;
  return finding('KLP102', `enum ${e.name} ${what}: running code and stored data use the old numbers. Append new values at the end (before any sentinel) or keep the enum unchanged.`, m.range ?? e.range, {
    file: f.path,
    data: { entity: e.key, member: m.name, change: m.change },
  });
}

export const dataStructureRule: Rule = {
  id: 'data-structure',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      out.push(...unnamedMemberFindings(ctx, f));
      for (const e of f.entities) {
        if (e.change !== 'changed') continue;
        if ((e.kind === 'struct' || e.kind === 'union') && e.members?.length) {
          for (const m of e.members) out.push(structFinding(ctx, f, e, m));
        } else if ((e.kind === 'struct' || e.kind === 'union') && e.aspects.includes('layout')) {
          out.push(finding('KLP101', `${label(e)} changes its layout: objects that already exist keep the old layout. Keep the type unchanged and use a shadow variable for new state.`, e.range, { file: f.path, data: { entity: e.key } }));
        } else if (e.kind === 'enum' && e.members?.length) {
          for (const m of e.members) out.push(enumFinding(f, e, m));
        } else if (e.kind === 'typedef' && e.aspects.includes('type')) {
          out.push(
            finding('KLP103', `typedef ${e.name} changes: data and code outside the livepatch keep the old type. Keep the typedef and add a new type for the new code.`, e.range, {
              file: f.path,
              data: { entity: e.key },
            }),
          );
        }
      }
    }
    return out;
  },
};
