/**
 * KLP110: a changed initializer of existing scalar data → keep the old
 * initializer and set the new value from a pre-patch callback, restoring it
 * from the post-unpatch callback (kpatch patch author guide, "Data
 * structure changes" / callbacks; Documentation/livepatch/callbacks.rst).
 * The callback changes the live value only when it still holds the old one
 * (an administrator may have tuned it), and undoes only its own change.
 * Tables, strings, arrays, const and per-CPU data are refused: a value that
 * cannot be assigned and compared with `==` needs another remedy.
 */
import type { Fix, FixContext } from './index';
import { FixError } from './patchEdit';
import { includeOrNote, fileOf, postEntity, postSide, preSide, PostEditor } from './edit';
import type { Entity } from '../entities/extract';
import type { Side } from '../entities/diff';
import type { BuildTool } from '../rules';

function callbackMacros(tool: BuildTool) {
  return tool === 'klp-build'
    ? { pre: 'KLP_PRE_PATCH_CALLBACK', post: 'KLP_POST_UNPATCH_CALLBACK', obj: 'struct klp_object *obj', header: '<linux/livepatch_helpers.h>' }
    : { pre: 'KPATCH_PRE_PATCH_CALLBACK', post: 'KPATCH_POST_UNPATCH_CALLBACK', obj: 'patch_object *obj', header: '"kpatch-macros.h"' };
}

/** The declaration's initializer text (after '='), or undefined for none. */
function initializerOf(side: Side, e: Entity): string | undefined {
  const decl = e.node.descendantsOfType('init_declarator').find((d) => d?.childForFieldName('declarator')?.text.replace(/^\*+/, '') === e.name);
  const v = decl?.childForFieldName('value');
  return v ? side.src.raw.slice(v.startIndex, v.endIndex).trim() : undefined;
}

function linesOf(side: Side, e: Entity): { first: number; last: number; texts: string[] } {
  const first = side.src.toImage[e.startRow] ?? -1;
  const last = side.src.toImage[e.endRow] ?? -1;
  if (first < 0 || last < first) throw new FixError(`the declaration of ${e.name} is not fully in the patch`);
  const texts: string[] = [];
  for (let i = first; i <= last; i++) {
    const t = side.image.lines[i];
    if (t === undefined) throw new FixError(`the declaration of ${e.name} is not fully in the patch`);
    texts.push(t);
  }
  return { first, last, texts };
}

function scalarOrRefuse(name: string, value: string): void {
  if (/[{"']/.test(value)) throw new FixError(`the initial value of ${name} (${value}) is not a scalar a callback can compare and set with ==`);
}

export const initCallbacksFix = {
  id: 'init-callbacks',
  codes: ['KLP110'],
  title(ctx: FixContext, finding) {
    const d = finding.data as { variable?: string; table?: boolean; copiedTo?: string[] } | undefined;
    if (!d?.variable || d.table || d.copiedTo) return undefined;
    return `Set ${d.variable} from a pre-patch callback and restore it on unpatch (${ctx.target.tool})`;
  },
  plan(ctx, finding) {
    const f = fileOf(ctx, finding);
    const post = postSide(f);
    const pre = preSide(f);
    const e = postEntity(f, finding);
    const old = pre?.ents.byKey.get(e.key);
    if (!pre || !old) throw new FixError(`the old declaration of ${e.name} is not in the patch`);
    const change = f.entities.find((x) => x.key === e.key);
    if (!change || change.aspects.join() !== 'initializer') throw new FixError(`${e.name} changes more than its initial value (${change?.aspects.join(', ') ?? '?'})`);
    if (/PER_CPU/.test(e.definedBy ?? '')) throw new FixError(`${e.name} is per-CPU data: set each CPU's copy from the callback by hand`);
    const text = post.src.raw.slice(e.node.startIndex, e.node.endIndex);
    if (/\bconst\b/.test(text.slice(0, text.indexOf(e.name)))) throw new FixError(`${e.name} is const: a callback cannot assign it`);
    if (/\[/.test(text.slice(text.indexOf(e.name)).split('=')[0])) throw new FixError(`${e.name} is an array: set its elements from a callback by hand`);
    const newValue = initializerOf(post, e);
    const oldValue = initializerOf(pre, old) ?? '0';
    if (!newValue) throw new FixError(`${e.name} has no initializer in the new code`);
    scalarOrRefuse(e.name, newValue);
    scalarOrRefuse(e.name, oldValue);

    const { pre: preMacro, post: postMacro, obj, header } = callbackMacros(ctx.target.tool);
    const now = linesOf(post, e);
    const was = linesOf(pre, old);
    const ed = new PostEditor(f);
    // the declaration goes back to what it was
    for (let i = now.first; i <= now.last; i++) ed.remove(i);
    const flag = `klp_${e.name}_set`;
    ed.insertAfter(now.last, [
      ...was.texts,
      '',
      `/* Livepatch: ${e.name} keeps its old initial value; the fix's value (${newValue}) is set while the patch is applied. */`,
      `static bool ${flag};`,
      '',
      `static int klp_${e.name}_pre_patch(${obj})`,
      '{',
      `\tif (${e.name} == ${oldValue}) {`,
      `\t\t${e.name} = ${newValue};`,
      `\t\t${flag} = true;`,
      '\t}',
      '\treturn 0;',
      '}',
      '',
      `static void klp_${e.name}_post_unpatch(${obj})`,
      '{',
      `\tif (${flag} && ${e.name} == ${newValue})`,
      `\t\t${e.name} = ${oldValue};`,
      `\t${flag} = false;`,
      '}',
      `${preMacro}(klp_${e.name}_pre_patch);`,
      `${postMacro}(klp_${e.name}_post_unpatch);`,
    ]);
    const notes = [`${e.name} keeps ${oldValue} as its initializer; klp_${e.name}_pre_patch() sets ${newValue} when the live value is still ${oldValue}, and klp_${e.name}_post_unpatch() restores it. With several such variables, merge the callbacks into one pair per object.`];
    includeOrNote(ed, header, notes);
    return { files: [{ file: f, edits: ed.edits() }], notes };
  },
} satisfies Fix;
