/**
 * Putting a machine together from what the user gives: a built-in profile
 * name or a `*.klpmodel.json` file (possibly `extends`-ing a profile), plus
 * the workload derived from a patch. The model file's tasks are added to the
 * base profile's; its other fields override the base; the patch's functions
 * and derived tasks are used unless the file declares a patch of its own.
 */
import { builtinProfile, isProfileName, PROFILE_NAMES, type ProfileName } from './profiles';
import type { KernelProfile, ModelSpec, PatchSpec, TaskSpec } from './types';
import type { ModelFileSpec } from './modelFile';

export interface Workload {
  patch: PatchSpec;
  tasks: TaskSpec[];
}

export class ComposeError extends Error {}

export function composeModel(base: ProfileName | ModelFileSpec, workload: Workload | undefined, kernel?: KernelProfile): ModelSpec {
  if (typeof base === 'string') {
    if (!isProfileName(base)) throw new ComposeError(`unknown model "${base}": use one of ${PROFILE_NAMES.join(', ')} or a .klpmodel.json file`);
    if (!workload) throw new ComposeError(`the built-in model ${base} needs a patch to simulate`);
    return builtinProfile(base, { patch: workload.patch, extraTasks: workload.tasks, ...(kernel ? { kernel } : {}) });
  }
  const file = base;
  const patch = file.patch ?? workload?.patch;
  if (!patch) throw new ComposeError(`the model ${file.name} has no "patch" and no patch file was given: nothing to simulate`);
  // A captured machine is what runs there: the patch's invented workload is not added to it.
  const extra = file.patch || file.capture ? [] : (workload?.tasks ?? []);
  let spec: ModelSpec;
  if (file.extends) {
    if (!isProfileName(file.extends)) throw new ComposeError(`"extends": unknown profile "${file.extends}" (${PROFILE_NAMES.join(', ')})`);
    const b = builtinProfile(file.extends, { patch, extraTasks: [...(file.tasks ?? []), ...extra], ...(kernel ?? file.kernel ? { kernel: (kernel ?? file.kernel)! } : {}) });
    const { extends: _e, tasks: _t, ...rest } = file;
    spec = { ...b, ...rest, patch, tasks: b.tasks, kernel: kernel ?? file.kernel ?? b.kernel };
  } else {
    const { extends: _e, ...rest } = file;
    spec = { ...rest, patch, tasks: [...file.tasks, ...extra], ...(kernel ? { kernel } : {}) } as ModelSpec;
  }
  return spec;
}
