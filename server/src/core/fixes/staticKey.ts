/**
 * KLP190: a jump label in patched code → a plain test of the key.
 *
 * `static_branch_likely(&k)`, `static_branch_unlikely(&k)`, `static_key_true(&k)`
 * and `static_key_false(&k)` are all true when the key is enabled, so each
 * becomes `static_key_enabled(&k)`: a load and a test instead of a patched
 * jump, with no __jump_table entry for the livepatch (kpatch patch author
 * guide, "Jump labels"). Every such test of the key in the patched function
 * is rewritten, on `+` lines, context lines and, with a tree, lines outside
 * the hunks (the whole function is replaced, so all of them are in it).
 */
import type { Fix } from './index';
import { keyName } from '../rules/staticKey';
import { FixError } from './patchEdit';
import { calleeName, fileOf, imageLine, nodesOf, postEntity, postSide, PostEditor } from './edit';

const JUMP_LABEL = /^(static_branch_(likely|unlikely)|static_key_(true|false))$/;

export const staticKeyFix = {
  id: 'static-key-enabled',
  codes: ['KLP190'],
  title(ctx, finding) {
    // a generated module has no special-section handling: every jump label of patched code becomes a plain test
    if (finding.severity === 'information' && !ctx.generating) return undefined;
    const d = finding.data as { key?: string; call?: string } | undefined;
    if (!d?.key) return undefined;
    return `Use static_key_enabled(&${d.key}) instead of ${d.call ?? 'the jump label'}`;
  },
  plan(ctx, finding) {
    const f = fileOf(ctx, finding);
    const side = postSide(f);
    const e = postEntity(f, finding);
    const key = (finding.data as { key?: string }).key;
    const ed = new PostEditor(f);
    let n = 0;
    for (const call of nodesOf(e, 'call_expression')) {
      const name = calleeName(call);
      if (!JUMP_LABEL.test(name)) continue;
      const arg = call.childForFieldName('arguments')?.namedChildren.find((a) => a && a.type !== 'comment');
      if (!arg || keyName(arg.text) !== key) continue;
      const fn = call.childForFieldName('function')!;
      const line = imageLine(side, fn);
      if (line < 0) continue;
      ed.replace(line, fn.startPosition.column, name.length, 'static_key_enabled');
      n++;
    }
    if (n === 0) throw new FixError(`no jump label on ${key} found in the new ${e.name}()`);
    return {
      files: [{ file: f, edits: ed.edits() }],
      notes: [`${e.name}() now tests ${key} with static_key_enabled(): a plain load and test, slightly slower than the patched jump; the branch-prediction hint of ${n === 1 ? 'the' : 'each'} likely/unlikely form is dropped.`],
    };
  },
} satisfies Fix;
