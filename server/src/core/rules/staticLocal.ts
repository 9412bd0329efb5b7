/**
 * Static locals of patched functions (H04). A function-scope static is global
 * data: the livepatched function must keep using the original instance, which
 * kpatch-build and klp-build do by correlating it by name. A new static starts
 * fresh; a removed one, or its last reference removed, stops kpatch-build
 * ("reference to static local variable X in F was removed"); a renamed or
 * retyped one cannot be correlated.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { cFiles } from './util';

export const staticLocalRule: Rule = {
  id: 'static-local',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      const locals = f.entities.filter((e) => e.kind === 'static-local');
      for (const e of locals) {
        const [fn, name] = e.name.split('::');
        const data = { entity: e.key, function: fn, variable: name };
        const fnGone = f.entities.some((x) => (x.kind === 'function' || x.kind === 'syscall') && x.name === fn && x.change === 'removed');
        if (e.change === 'added') {
          const renamedFrom = locals.find((x) => x !== e && x.change === 'removed' && x.name.startsWith(fn + '::'));
          if (renamedFrom) continue; // reported once, as a rename, below
          out.push(
            finding(
              'KLP120',
              `${fn}() gets a new static local ${name}: the livepatched ${fn}() has its own instance that starts from its initializer, shared with nothing in the original code. Make sure a fresh start is harmless (counters, once-flags, caches), or keep the state elsewhere.`,
              e.range,
              { file: f.path, data },
            ),
          );
        } else if (e.change === 'removed' && !fnGone) {
          const renamedTo = locals.find((x) => x !== e && x.change === 'added' && x.name.startsWith(fn + '::'));
          out.push(
            finding(
              'KLP121',
              renamedTo
                ? `${fn}() renames its static local ${name} to ${renamedTo.name.split('::')[1]}: the tools correlate static locals by name, so the livepatch would get a fresh variable and lose the original's state. Keep the original name.`
                : `${fn}() no longer uses its static local ${name}: kpatch-build stops with "reference to static local variable ${name} in ${fn} was removed". Keep a harmless reference to ${name} in the patched ${fn}() (e.g. read it into a dummy), or accept in review that the state is dropped.`,
              e.range,
              { file: f.path, data: { ...data, renamedTo: renamedTo?.name } },
            ),
          );
        } else if (e.change === 'changed' && (e.aspects.includes('type') || e.aspects.includes('initializer'))) {
          out.push(
            finding(
              'KLP122',
              `The static local ${name} of ${fn}() changes its ${e.aspects.includes('type') ? 'type' : 'initial value'}: the original instance keeps its old ${e.aspects.includes('type') ? 'type' : 'value'} and the tools cannot correlate a changed one ("changed data"). Keep the declaration and set the new value from a callback if needed.`,
              e.range,
              { file: f.path, data },
            ),
          );
        }
      }
    }
    return out;
  },
};
