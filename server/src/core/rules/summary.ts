/**
 * KLP010: per file, an information-level summary of what a livepatch built
 * from this patch would replace, add, and what else the patch changes.
 */
import { lineContentRange } from '../text';
import { finding, type Finding } from '../findings';
import type { EntityChange } from '../entities/diff';
import type { Rule, RuleContext } from './index';

function label(e: EntityChange): string {
  switch (e.kind) {
    case 'function':
    case 'syscall':
    case 'prototype':
      return e.kind === 'syscall' ? `syscall ${e.name}` : `${e.name}()`;
    case 'struct':
    case 'union':
    case 'enum':
      return `${e.kind} ${e.name}`;
    case 'include':
      return `#include ${e.name}`;
    case 'fragment':
      return `an ${e.name} (no function context in the hunk: use git diff, diff -p or a kernel tree to name it)`;
    case 'export':
      return `export of ${e.name}`;
    case 'macro':
      return `macro ${e.name}`;
    default:
      return e.name;
  }
}

function describe(e: EntityChange): string {
  if (e.change !== 'changed') return `${label(e)} (${e.change})`;
  const aspects = e.aspects.join(', ');
  if (e.members && e.members.length > 0) {
    const m = e.members
      .slice(0, 4)
      .map((c) => `${c.change === 'added' ? '+' : c.change === 'removed' ? '-' : '~'}${c.name}`)
      .join(' ');
    return `${label(e)} (${aspects}: ${m}${e.members.length > 4 ? ' …' : ''})`;
  }
  return `${label(e)} (${aspects})`;
}

function list(items: string[], max = 8): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export const summaryRule: Rule = {
  id: 'summary',
  run(ctx: RuleContext): Finding[] {
    const out: Finding[] = [];
    for (const f of ctx.files) {
      const where = lineContentRange(ctx.set.lines, f.headerLine);
      const conf = f.confidence === 'tree' ? '' : ' (from the hunks alone)';
      if (f.binary) continue;
      if (f.language !== 'c' && f.language !== 'header') {
        const what: Record<string, string> = {
          asm: 'assembly, which is not analysed: livepatch tools replace C functions only',
          kbuild: 'build rules: nothing here is replaced by a livepatch',
          kconfig: 'Kconfig: nothing here is replaced by a livepatch',
          rust: 'Rust code, which is not analysed',
          dts: 'a device tree: nothing here is replaced by a livepatch',
          other: 'not C code: nothing here is replaced by a livepatch',
        };
        out.push(finding('KLP010', `${f.path}: ${what[f.language] ?? what.other}.`, where, { file: f.path }));
        continue;
      }
      const isCode = (e: EntityChange) => e.kind === 'function' || e.kind === 'syscall' || e.kind === 'fragment';
      const fns = f.entities.filter(isCode);
      const replaced = fns.filter((e) => e.change === 'changed' && !e.aspects.includes('cosmetic'));
      const added = fns.filter((e) => e.change === 'added');
      const removed = fns.filter((e) => e.change === 'removed');
      const cosmetic = f.entities.filter((e) => e.aspects.length === 1 && e.aspects[0] === 'cosmetic');
      const other = f.entities.filter((e) => !isCode(e) && !cosmetic.includes(e));
      const parts: string[] = [];
      if (replaced.length) parts.push(`replaces ${plural(replaced.length, 'function')}: ${list(replaced.map(describe))}`);
      if (added.length) parts.push(`adds ${plural(added.length, 'new function')}: ${list(added.map(label))}`);
      if (removed.length) parts.push(`drops ${plural(removed.length, 'function')} (the originals stay in the running kernel): ${list(removed.map(label))}`);
      if (other.length) parts.push(`also changes ${list(other.map(describe))}`);
      if (cosmetic.length) parts.push(`only comments or whitespace in ${list(cosmetic.map(label))}`);
      const message = parts.length ? `${f.path}${conf}: the livepatch ${parts.join('; ')}.` : `${f.path}${conf}: no C entity changes (comments, blank lines or code outside any function).`;
      out.push(finding('KLP010', message, where, { file: f.path, data: { replaced: replaced.map((e) => e.name), added: added.map((e) => e.name) } }));
    }
    return out;
  },
};
