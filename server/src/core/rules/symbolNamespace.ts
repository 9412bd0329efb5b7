/**
 * Symbol namespaces (H19): code built into vmlinux never needs
 * MODULE_IMPORT_NS, but once it is copied into the livepatch module every
 * namespaced symbol it uses must be imported, or modpost refuses the module
 * ("uses symbol X from namespace NS, but does not import it").
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { at, cFiles, changedCode, factsOf, kernelAtLeast, list } from './util';

export const symbolNamespaceRule: Rule = {
  id: 'symbol-namespace',
  run(ctx) {
    const out: Finding[] = [];
    // namespaced exports known from the patch itself, then from the index
    const inPatch = new Map<string, string>();
    for (const f of cFiles(ctx)) for (const [sym, ns] of f.facts.scope.exportNamespaces) inPatch.set(sym, ns);
    const nsOf = (sym: string) => inPatch.get(sym) ?? ctx.index?.exportOf(sym)?.namespace;
    for (const f of cFiles(ctx)) {
      for (const e of changedCode(f)) {
        const facts = factsOf(f, e, 'post');
        if (!facts) continue;
        // module code that already imports the namespace carries the import into the livepatch
        const imported = new Set(f.facts.scope.invocations.filter((i) => i.macro === 'MODULE_IMPORT_NS').map((i) => (i.args[0] ?? '').replace(/"/g, '')));
        const uses = facts.calls.map((c) => ({ c, ns: nsOf(c.name) })).filter((u) => u.ns && !imported.has(u.ns));
        if (uses.length === 0) continue;
        const namespaces = [...new Set(uses.map((u) => u.ns as string))];
        // Linux 6.13 made the namespace a string literal
        const quoted = kernelAtLeast(ctx, 6, 13) === true;
        const imp = (n: string) => (quoted ? `MODULE_IMPORT_NS("${n}")` : `MODULE_IMPORT_NS(${n})`);
        out.push(
          finding('KLP270', `The patched ${e.name}() calls ${list(uses.map((u) => `${u.c.name}() (namespace ${u.ns})`))}: in the livepatch module these need ${namespaces.map(imp).join(' and ')}${ctx.target.kernel ? '' : ' (a string literal, MODULE_IMPORT_NS("NS"), from Linux 6.13)'}, or modpost rejects the module. Add the import to the livepatch.`, at(ctx, e, uses[0].c.site, uses[0].c.name.length), {
            file: f.path,
            data: { entity: e.key, namespaces },
          }),
        );
      }
    }
    return out;
  },
};
