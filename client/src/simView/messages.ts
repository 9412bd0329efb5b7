/**
 * Messages between the simulation view (webview) and the extension. Every
 * message from the webview is checked here before anything acts on it: a
 * webview is a web page, and its messages are untrusted input.
 */
export type ViewMessage =
  | { type: 'ready' }
  | { type: 'run'; model: string; kernel: string; arch: string; seed: number }
  | { type: 'select'; model: string }
  | { type: 'reveal'; fn: string }
  | { type: 'fleet' };

export interface Allowed {
  profiles: readonly string[];
  kernels: readonly string[];
  arches: readonly string[];
  models: readonly string[];
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const only = (o: Record<string, unknown>, keys: string[]) => Object.keys(o).every((k) => keys.includes(k));

/** The message, if it is one the view may send with values it may choose; undefined otherwise. */
export function parseViewMessage(x: unknown, allowed: Allowed): ViewMessage | undefined {
  if (!isObj(x) || typeof x.type !== 'string') return undefined;
  switch (x.type) {
    case 'ready':
    case 'fleet':
      return only(x, ['type']) ? { type: x.type } : undefined;
    case 'run': {
      if (!only(x, ['type', 'model', 'kernel', 'arch', 'seed'])) return undefined;
      const { model, kernel, arch, seed } = x;
      if (typeof model !== 'string' || !allowed.profiles.includes(model)) return undefined;
      if (typeof kernel !== 'string' || (kernel !== '' && !allowed.kernels.includes(kernel))) return undefined;
      if (typeof arch !== 'string' || (arch !== '' && !allowed.arches.includes(arch))) return undefined;
      if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) return undefined;
      return { type: 'run', model, kernel, arch, seed };
    }
    case 'select':
      return only(x, ['type', 'model']) && typeof x.model === 'string' && allowed.models.includes(x.model) ? { type: 'select', model: x.model } : undefined;
    case 'reveal':
      return only(x, ['type', 'fn']) && typeof x.fn === 'string' && /^[A-Za-z_][A-Za-z0-9_.]{0,200}$/.test(x.fn) ? { type: 'reveal', fn: x.fn } : undefined;
    default:
      return undefined;
  }
}
