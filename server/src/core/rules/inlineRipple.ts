/**
 * Inlining ripple (H15): a changed inline helper or function-like macro
 * changes every function it is expanded into, and those become patched
 * functions too (kpatch's "unexpected changed functions"), with all their own
 * hazards. Changing noinline/__always_inline/__cold flips the compiler's
 * decisions the same way.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { cFiles, isHeader, list, plural } from './util';

const INLINE_ATTRS = new Set(['inline', '__always_inline', 'noinline', '__noinline', 'noinline_for_stack', '__cold', '__hot', '__flatten']);

export const inlineRippleRule: Rule = {
  id: 'inline-ripple',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      for (const e of f.entities) {
        if (e.change !== 'changed' || (e.aspects.length === 1 && e.aspects[0] === 'cosmetic')) continue;
        const storage = e.new?.entity.storage ?? [];
        const ann = e.new?.annotations ?? [];
        const isInline = e.kind === 'function' && (storage.includes('inline') || ann.includes('__always_inline'));
        const isFnMacro = e.kind === 'macro' && /#define\s+\w+\(/.test(e.new?.text ?? '');
        if (isInline || isFnMacro) {
          const inFile = f.facts.scope.callersInFile.get(e.name) ?? [];
          const inPatch = ctx.files.flatMap((x) => [...x.facts.post.values()].filter((ff) => ff.name !== e.name && ff.calls.some((c) => c.name === e.name)).map((ff) => ff.name));
          const external = ctx.index ? ctx.index.callersOf(e.name).filter((p) => p !== f.path) : [];
          const where: string[] = [];
          if (inFile.length) where.push(`in this file ${list(inFile.map((n) => n + '()'))}`);
          if (external.length) where.push(`${plural(external.length, 'other file')} of the tree (${list(external, 4)})`);
          const scope = where.length ? `It is used ${where.join('; and ')}.` : isHeader(f.path) ? (ctx.index ? 'The index finds no callers.' : 'Every file that includes the header may use it; an indexed kernel tree lists them.') : '';
          out.push(
            finding(
              'KLP240',
              `${isInline ? `The inline function ${e.name}()` : `The macro ${e.name}()`} changes, so every function it expands into changes as well and must be part of the livepatch, with its own hazards. ${scope} ${inPatch.length ? `The patch already changes ${list([...new Set(inPatch)].map((n) => n + '()'))}.` : ''} Check that the livepatch covers every caller you need, or change a non-inline copy under a new name and patch only the callers that need it.`.replace(/\s+/g, ' ').trim(),
              e.range,
              { file: f.path, data: { entity: e.key, callers: [...new Set([...inFile, ...external])] } },
            ),
          );
        }
        if (e.kind === 'function' && e.aspects.includes('attributes')) {
          const before = new Set([...(e.old?.entity.storage ?? []), ...(e.old?.annotations ?? [])].filter((a) => INLINE_ATTRS.has(a)));
          const after = new Set([...(e.new?.entity.storage ?? []), ...(e.new?.annotations ?? [])].filter((a) => INLINE_ATTRS.has(a)));
          const added = [...after].filter((a) => !before.has(a));
          const removed = [...before].filter((a) => !after.has(a));
          if (added.length || removed.length) {
            out.push(
              finding(
                'KLP241',
                `${e.name}() ${added.length ? `gains ${added.join(', ')}` : ''}${added.length && removed.length ? ' and ' : ''}${removed.length ? `loses ${removed.join(', ')}` : ''}: this changes whether the compiler inlines it (or moves it to .text.unlikely), so its callers change too, or it loses its ftrace entry. Keep the original inlining attributes in the livepatch.`,
                e.range,
                { file: f.path, data: { entity: e.key, added, removed } },
              ),
            );
          }
        }
      }
    }
    return out;
  },
};
