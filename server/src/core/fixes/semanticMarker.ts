/**
 * KLP140 (a paired counter changes its amount: A++/A-- becomes A+=2/A-=2) →
 * a "new semantics" marker, the kpatch patch author guide's remedy for data
 * semantic changes: objects created once the patch is fully applied carry a
 * zero-size shadow variable, and every changed site on the counter branches
 * on it,
 *
 *     if (klp_shadow_get(obj, KLP_SEM_<S>_<F>))
 *             <the new statement>;
 *     else
 *             <the old statement>;
 *
 * Objects are marked only after the transition completed (a post-patch
 * callback sets a flag, pre-unpatch clears it): until then a task still in an
 * old function may touch any object, so every object made during the
 * transition keeps the old counting for its whole life, in old and new code
 * alike. The marker is allocated where the patched file allocates the object,
 * freed where it frees it, and all markers are freed on unpatch. Each site must
 * be a plain statement (`obj->f op v;` or an API call on `&obj->f`) with its old
 * version in the same function, all in one file.
 */
import type { FileAnalysis } from '../analysis';
import type { Side } from '../entities/diff';
import type { Effect } from '../facts/extract';
import type { Node } from '../syntax/parser';
import type { Fix, FixContext } from './index';
import { FixError } from './patchEdit';
import { Editors, imageLine, nodesOf, PostEditor } from './edit';
import type { Entity } from '../entities/extract';
import { allocationSites, callbackMacro, fnv1a, freeSites, ident, placeDefinitions, replaceStatement, statementOf, type ShadowOwner } from './shadow';

const callbackParams = (ctx: FixContext) => callbackMacro(ctx.target.tool);


interface Site {
  file: FileAnalysis;
  side: Side;
  fn: string;
  stmt: Node;
  old: string;
  object: string;
}

function nodeAt(side: Side, fn: Entity, types: string[], e: Effect): Node | undefined {
  return nodesOf(fn, types).find((n) => imageLine(side, n) === e.site.imageLine && n.startPosition.column === e.site.column);
}

/** The changed sites of the resource: new statement (post) and the old one it replaces (pre), per function. */
function sitesOf(ctx: FixContext, resource: string): Site[] {
  const out: Site[] = [];
  for (const f of ctx.analysis.files) {
    const post = f.postSide;
    const pre = f.preSide;
    if (!post?.tree || !pre?.tree) continue;
    for (const [key, after] of f.facts.post) {
      const before = f.facts.pre.get(key);
      if (!before) continue;
      const changedOps = (['inc', 'dec'] as const).filter((op) => {
        const a = before.effects.filter((x) => x.resource === resource && x.op === op).map((x) => x.amount).sort().join();
        const b = after.effects.filter((x) => x.resource === resource && x.op === op).map((x) => x.amount).sort().join();
        return a !== b;
      });
      for (const op of changedOps) {
        const olds = before.effects.filter((x) => x.resource === resource && x.op === op);
        const news = after.effects.filter((x) => x.resource === resource && x.op === op);
        if (olds.length !== 1 || news.length !== 1) throw new FixError(`${after.name}() changes ${op === 'inc' ? 'increments' : 'decrements'} of ${resource.replace('::', '->')} at more than one place; branch on the marker by hand`);
        const postFn = post.ents.byKey.get(key)!;
        const preFn = pre.ents.byKey.get(key)!;
        const types = ['update_expression', 'assignment_expression', 'call_expression'];
        const nNew = nodeAt(post, postFn, types, news[0]);
        const nOld = nodeAt(pre, preFn, types, olds[0]);
        const sNew = nNew && statementOf(nNew);
        const sOld = nOld && statementOf(nOld);
        if (!nNew || !sNew || !nOld || !sOld) throw new FixError(`${after.name}() changes ${resource.replace('::', '->')} inside an expression; only statements of their own can branch on the marker`);
        const field = resource.split('::')[1];
        const target =
          nNew.type === 'call_expression'
            ? nNew.descendantsOfType('field_expression').find((x) => x?.childForFieldName('field')?.text === field)
            : (nNew.childForFieldName('left') ?? nNew.childForFieldName('argument'));
        if (target?.type !== 'field_expression' || target.childForFieldName('argument')?.type === 'field_expression') throw new FixError(`${after.name}() changes ${resource.replace('::', '->')} through a nested member; branch on the marker by hand`);
        const arg = target.childForFieldName('argument')!;
        const op2 = target.children.find((c) => c?.type === '->' || c?.type === '.')?.type;
        const objText = post.src.raw.slice(arg.startIndex, arg.endIndex);
        out.push({ file: f, side: post, fn: after.name, stmt: sNew, old: pre.src.raw.slice(sOld.startIndex, sOld.endIndex), object: op2 === '.' ? `&${objText}` : objText });
      }
    }
  }
  return out;
}

/** Where the patched files allocate the struct: after each such statement, the marker (same gfp). */
function markAllocations(ctx: FixContext, owner: ShadowOwner, id: string, flag: string, home: FileAnalysis, editor: (f: FileAnalysis) => PostEditor, skipped: string[], elsewhere: string[]): number {
  let n = 0;
  for (const a of allocationSites(ctx, owner)) {
    if (a.init) {
      // objects made at boot exist before any livepatch: they keep the old semantics
      if (!skipped.includes(a.fn)) skipped.push(a.fn);
      continue;
    }
    if (a.file !== home) {
      elsewhere.push(`${a.fn}() in ${a.file.path}`);
      continue;
    }
    editor(a.file).insertAfter(a.after, [`${a.indent}if (${a.obj} && READ_ONCE(${flag}))`, `${a.indent}\tklp_shadow_alloc(${a.obj}, ${id}, 0, ${a.gfp}, NULL, NULL);`]);
    n++;
  }
  return n;
}

export const semanticMarkerFix = {
  id: 'semantic-marker',
  codes: ['KLP140'],
  preview: true,
  title(_ctx, finding) {
    const d = finding.data as { resource?: string } | undefined;
    if (!d?.resource || !/^(struct|union) \w+::\w+$/.test(d.resource)) return undefined;
    return `Mark objects created after patching and keep the old counting for the others (${d.resource.replace(/^(struct|union) /, '').replace('::', '->')})`;
  },
  plan(ctx, finding) {
    const resource = (finding.data as { resource: string }).resource;
    const [structType, field] = resource.split('::');
    const owner: ShadowOwner = { structType, tag: structType.replace(/^(struct|union) /, '') };
    const sites = sitesOf(ctx, resource);
    if (sites.length === 0) throw new FixError(`no changed statement on ${resource.replace('::', '->')} was found`);
    const files = [...new Set(sites.map((s) => s.file))];
    if (files.length > 1) throw new FixError(`the changes of ${resource.replace('::', '->')} span ${files.map((f) => f.path).join(' and ')}; one marker flag must be shared between them: do it by hand`);
    const home = files[0];
    const existing = home.post.lines.find((l) => l !== undefined && /\b(KPATCH|KLP)_(POST_PATCH|PRE_UNPATCH)_CALLBACK\s*\(/.test(l));
    if (existing) throw new FixError(`${home.path} already registers a post-patch or pre-unpatch callback (${existing.trim()}); add the marker flag to it by hand`);
    const editors = new Editors();
    const editor = (file: FileAnalysis) => editors.get(file);
    const base = ident(`${owner.tag}_${field}`);
    const id = `KLP_SEM_${base.toUpperCase()}`;
    const flag = `klp_${base}_sem_active`;
    const subject = ctx.analysis.set.lines.find((l) => /^Subject:/i.test(l)) ?? home.path;
    const idValue = `0x${fnv1a(`${subject}\0semantics\0${resource}`).toString(16).padStart(8, '0')}UL`;
    for (const s of sites) {
      const newText = s.side.src.raw.slice(s.stmt.startIndex, s.stmt.endIndex).replace(/\n\s*/g, ' ');
      const old = s.old.replace(/\n\s*/g, ' ');
      replaceStatement(
        editor(s.file),
        s.side,
        s.stmt,
        (indent) => [`${indent}if (klp_shadow_get(${s.object}, ${id}))`, `${indent}\t${newText}`, `${indent}else`, `${indent}\t${old}`],
        `if (klp_shadow_get(${s.object}, ${id})) ${newText} else ${old}`,
      );
    }
    const notes: string[] = [];
    const skipped: string[] = [];
    const elsewhere: string[] = [];
    const marked = markAllocations(ctx, owner, id, flag, home, editor, skipped, elsewhere);
    if (marked === 0)
      throw new FixError(
        `no place in ${home.path} allocates ${structType}${skipped.length ? ` outside init code (${skipped.join(', ')})` : ''}${elsewhere.length ? ` (it is allocated in ${elsewhere.join(', ')})` : ''}: new objects could not be marked; ${ctx.tree ? 'patch the function that creates them' : 'a kernel tree shows the whole file'}`,
      );
    const skippedFree: string[] = [];
    const freed = freeSites(ctx, owner, id, editor, skippedFree);
    const { obj } = callbackParams(ctx);
    const cb = ctx.target.tool === 'klp-build' ? 'KLP' : 'KPATCH';
    placeDefinitions(
      ctx,
      editor(home),
      owner,
      {
        id,
        idValue,
        comment: `Livepatch: objects of ${structType} created after the patch is fully applied carry the marker ${id} and count ${field} the new way; older objects, and those made during the transition (when old code may still touch them), keep the old way for their whole life. ${id} must be unique among all livepatches loaded together.`,
        helpers: [
          '',
          `/* set once every task runs the new code; objects are marked only from then on */`,
          `static bool ${flag};`,
          '',
          `static void klp_${base}_sem_post_patch(${obj})`,
          '{',
          `\tWRITE_ONCE(${flag}, true);`,
          '}',
          `${cb}_POST_PATCH_CALLBACK(klp_${base}_sem_post_patch);`,
          '',
          `static void klp_${base}_sem_pre_unpatch(${obj})`,
          '{',
          `\tWRITE_ONCE(${flag}, false);`,
          '}',
          `${cb}_PRE_UNPATCH_CALLBACK(klp_${base}_sem_pre_unpatch);`,
        ],
        callback: `klp_${base}_sem_post_unpatch`,
      },
      notes,
    );
    notes.unshift(`${sites.length} change${sites.length === 1 ? '' : 's'} of ${resource.replace('::', '->')} now branch on the marker ${id}; ${marked} allocation site${marked === 1 ? '' : 's'} mark objects created after the transition, ${freed} free site${freed === 1 ? '' : 's'} drop the marker.`);
    // unchanged functions that touch the counter too count marked objects the old way
    const others = new Set<string>();
    for (const f of ctx.analysis.files) for (const [, c] of f.facts.context) if (c.effects.some((x) => x.resource === resource && (x.op === 'inc' || x.op === 'dec'))) others.add(`${c.name}()`);
    if (others.size) notes.push(`${[...others].join(', ')} also change${others.size === 1 ? 's' : ''} ${field} and ${others.size === 1 ? 'is' : 'are'} not patched: decide whether ${others.size === 1 ? 'it needs' : 'they need'} the same branch for marked objects.`);
    notes.push(`Disabling this livepatch while marked objects exist is unsafe: old code would count them the old way. Keep it enabled, or replace it with a cumulative livepatch that keeps the marker.`);
    if (skipped.length) notes.push(`Objects made by init code (${skipped.join(', ')}) exist before the patch and keep the old counting.`);
    if (freed === 0) notes.push(`No place in the patched files frees ${structType}: the markers stay until the patch is removed (klp_shadow_free_all).`);
    return { files: editors.files(), notes };
  },
} satisfies Fix;
