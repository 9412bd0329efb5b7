/**
 * Patches written for kpatch-build or klp-build, translated to the upstream
 * livepatch API: their callback macros (`KPATCH_PRE_PATCH_CALLBACK`,
 * `KLP_POST_UNPATCH_CALLBACK`, the old `KPATCH_LOAD_HOOK`), the `patch_object`
 * type their callbacks take, `KPATCH_STATIC_CALL`, and kpatch's old
 * string-keyed shadow API (`kpatch_shadow_alloc(obj, "name", size, gfp)`),
 * which becomes `klp_shadow_*` with a numeric id hashed from the string.
 */

export type CallbackKind = 'pre_patch' | 'post_patch' | 'pre_unpatch' | 'post_unpatch';

export interface CallbackUse {
  kind: CallbackKind;
  /** The patch's function. */
  fn: string;
  /** A kpatch load/unload hook: `void fn(void)` rather than a klp callback taking the object. */
  hook: boolean;
}

const CALLBACK_MACRO = /^(?:KPATCH|KLP)_(PRE_PATCH|POST_PATCH|PRE_UNPATCH|POST_UNPATCH)_CALLBACK$/;
const HOOKS: Record<string, CallbackKind> = { KPATCH_LOAD_HOOK: 'post_patch', KPATCH_UNLOAD_HOOK: 'pre_unpatch' };

/** The callback a file-scope macro invocation registers, if it is one. */
export function callbackOf(macro: string, args: readonly string[]): CallbackUse | undefined {
  const fn = args[0]?.trim();
  if (!fn || !/^[A-Za-z_]\w*$/.test(fn)) return undefined;
  const m = CALLBACK_MACRO.exec(macro);
  if (m) return { kind: m[1].toLowerCase() as CallbackKind, fn, hook: false };
  const hook = HOOKS[macro];
  return hook ? { kind: hook, fn, hook: true } : undefined;
}

/** Includes of the tools' own headers, which the module replaces with what follows. */
export const TOOL_HEADERS = /^\s*#\s*include\s*[<"](?:[\w/]*\/)?(kpatch-macros\.h|kpatch-syscall\.h|livepatch_helpers\.h|livepatch_external\.h)[>"]/;

/** Lines a unit starts with so that code written against kpatch's or klp-build's macros compiles. */
export function compatPreamble(raw: string): string[] {
  const out: string[] = [];
  if (/\bpatch_object\b/.test(raw) || /\b(KPATCH|KLP)_\w+_CALLBACK\b/.test(raw)) {
    out.push('#include <linux/livepatch.h>', '/* kpatch-build names the callback argument patch_object */', 'typedef struct klp_object patch_object;');
  }
  if (/\b(KPATCH|KLP)_STATIC_CALL\s*\(/.test(raw)) {
    out.push(
      '#include <linux/static_call.h>',
      "/* an indirect call through the static call's current target (what kpatch-build and klp-build provide) */",
      '#define KLP_LENS_STATIC_CALL(name) ((typeof(STATIC_CALL_TRAMP(name)) *)STATIC_CALL_KEY(name).func)',
      '#undef KPATCH_STATIC_CALL',
      '#define KPATCH_STATIC_CALL(name) KLP_LENS_STATIC_CALL(name)',
      '#undef KLP_STATIC_CALL',
      '#define KLP_STATIC_CALL(name) KLP_LENS_STATIC_CALL(name)',
    );
  }
  if (/\bkpatch_shadow_(alloc|get|free)\s*\(/.test(raw)) out.push(...SHADOW_COMPAT);
  return out;
}

/** kpatch's string-keyed shadow variables on klp_shadow_*: the id is a djb2 hash of the name. */
const SHADOW_COMPAT = [
  '#include <linux/livepatch.h>',
  "/* kpatch's shadow API (string-keyed) on klp_shadow_*: the id is a hash of the name */",
  'static inline unsigned long klp_lens_shadow_id(const char *s)',
  '{',
  '\tunsigned long h = 5381;',
  '',
  '\twhile (*s)',
  '\t\th = h * 33 + (unsigned char)*s++;',
  '\treturn h;',
  '}',
  '#define kpatch_shadow_alloc(obj, var, size, gfp) klp_shadow_alloc((obj), klp_lens_shadow_id(var), (size), (gfp), NULL, NULL)',
  '#define kpatch_shadow_get(obj, var) klp_shadow_get((obj), klp_lens_shadow_id(var))',
  '#define kpatch_shadow_free(obj, var) klp_shadow_free((obj), klp_lens_shadow_id(var), NULL)',
];
