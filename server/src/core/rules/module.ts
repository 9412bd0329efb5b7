/**
 * Module targets (H22): when the patched code is in a module, the livepatch's
 * klp_object names that module; the module may load after the livepatch and is
 * patched then; callbacks for it run only while it is loaded; references to the
 * module's own symbols are klp relocations; static keys and calls it defines
 * cannot be used from patched code.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { changedCode, cFiles, fileRange } from './util';

export const moduleRule: Rule = {
  id: 'module',
  run(ctx) {
    const out: Finding[] = [];
    if (!ctx.index) return out;
    const objects = new Map<string, string[]>();
    for (const f of cFiles(ctx)) {
      if (f.language !== 'c' || changedCode(f).length === 0) continue;
      const kind = ctx.index.objectKind(f.path);
      const mod = ctx.index.moduleName(f.path);
      const key = kind === 'module' ? `module ${mod ?? '?'}` : kind;
      objects.set(key, [...(objects.get(key) ?? []), f.path]);
      if (kind === 'module') {
        out.push(
          finding('KLP300', `${f.path} is built into the module ${mod ?? '(unknown name)'}: the livepatch patches it when the module is loaded (also later), its callbacks for this object run only while the module is loaded, and static keys or static calls defined in the module cannot be used from patched code.`, fileRange(ctx, f), {
            file: f.path,
            data: { module: mod },
          }),
        );
      } else if (kind === 'not-built') {
        out.push(finding('KLP300', `${f.path} is not built in this kernel configuration: a livepatch has nothing to replace here.`, fileRange(ctx, f), { file: f.path, data: { notBuilt: true } }));
      }
    }
    if (objects.size > 1) {
      const first = ctx.files.find((f) => f.language === 'c');
      if (first) out.push(finding('KLP300', `The patch spans ${objects.size} objects (${[...objects.keys()].join(', ')}): the livepatch gets one klp_object per object, each patched and with callbacks only while it is loaded.`, fileRange(ctx, first), { data: { objects: [...objects.keys()] } }));
    }
    return out;
  },
};
