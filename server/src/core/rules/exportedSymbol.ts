/**
 * Exported symbols and modversions (H17). An exported function whose
 * signature changes breaks every module built against the old one; with
 * CONFIG_MODVERSIONS the livepatch module itself will not load ("Patch module
 * references S with invalid version"). A new export fails in kpatch-build
 * ("changed section __ksymtab_strings not selected for inclusion"). A new
 * #include in a file that exports symbols can change genksyms CRCs without
 * any ABI change.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import type { FileAnalysis } from '../analysis';
import { cFiles, list } from './util';

/** Is the post-image line shown on this document line inside `#ifndef __GENKSYMS__` (which genksyms does not see)? */
function hiddenFromGenksyms(f: FileAnalysis, docLine: number): boolean {
  const line = f.post.docLine.indexOf(docLine);
  let depth = 0;
  for (let i = line - 1; i >= 0 && i >= line - 50; i--) {
    const t = f.post.lines[i];
    if (t === undefined) return false;
    if (/^\s*#\s*endif\b/.test(t)) depth++;
    else if (/^\s*#\s*if/.test(t)) {
      if (depth === 0) return /^\s*#\s*ifndef\s+__GENKSYMS__\b|^\s*#\s*if\s+!\s*defined\s*\(?\s*__GENKSYMS__/.test(t);
      depth--;
    }
  }
  return false;
}

export const exportedSymbolRule: Rule = {
  id: 'exported-symbol',
  run(ctx) {
    const out: Finding[] = [];
    // prototypes changed in headers of the patch: a changed signature there is an ABI change for their users
    const headerProtos = new Set(ctx.files.filter((f) => f.language === 'header').flatMap((f) => f.entities.filter((e) => e.kind === 'prototype' && e.change === 'changed' && e.aspects.includes('signature')).map((e) => e.name)));
    for (const f of cFiles(ctx)) {
      const exports = f.facts.scope.exports;
      for (const e of f.entities) {
        if (e.kind === 'function' && e.change === 'changed' && e.aspects.includes('signature')) {
          const exp = exports.get(e.name) ?? ctx.index?.exportOf(e.name)?.macro;
          if (exp || headerProtos.has(e.name)) {
            out.push(
              finding(
                'KLP260',
                `${e.name}() changes its signature${exp ? ` and is exported with ${exp}` : ' and its prototype in a header changes too'}: modules built against the old prototype call it the old way, and with CONFIG_MODVERSIONS the new CRC makes the livepatch module fail to load. Keep the old function as it is and add a new function under a new name for the new signature; patch the in-tree callers to use it.`,
                e.range,
                { file: f.path, data: { entity: e.key, exported: exp } },
              ),
            );
          }
        }
        if (e.kind !== 'export') continue;
        const macro = e.new?.entity.definedBy ?? e.old?.entity.definedBy ?? 'EXPORT_SYMBOL';
        if (e.change === 'added') {
          out.push(
            finding('KLP261', `${macro}(${e.name}) adds an export: a livepatch cannot add entries to the kernel's symbol tables (kpatch-build: "changed section __ksymtab_strings not selected for inclusion"), and no module may depend on a livepatch. Keep new symbols static to the patch.`, e.range, {
              file: f.path,
              data: { entity: e.key, symbol: e.name },
            }),
          );
        } else if (e.change === 'removed') {
          out.push(
            finding('KLP262', `${macro}(${e.name}) is removed: the running kernel keeps exporting the original, and loaded modules keep calling it. Keep the export (and the function) in the livepatch.`, e.range, {
              file: f.path,
              data: { entity: e.key, symbol: e.name },
            }),
          );
        } else if (e.aspects.includes('attributes')) {
          const was = e.old?.entity.definedBy;
          out.push(
            finding('KLP262', `The export of ${e.name} changes from ${was} to ${macro}: a livepatch cannot change the symbol table, so the original export stays. Keep ${was}.`, e.range, {
              file: f.path,
              data: { entity: e.key, symbol: e.name },
            }),
          );
        }
      }
      if (f.language === 'c' && exports.size > 0) {
        for (const e of f.entities) {
          if (e.kind !== 'include' || e.change !== 'added' || hiddenFromGenksyms(f, e.range.start.line)) continue;
          out.push(
            finding(
              'KLP263',
              `New ${'#include'} ${e.name} in a file that exports ${list([...exports.keys()], 4)}: genksyms may compute different CRCs for those exports when the header brings new type definitions, and a livepatch with changed CRCs does not load. Copy the few definitions you need instead, or wrap the include in #ifndef __GENKSYMS__.`,
              e.range,
              { file: f.path, data: { entity: e.key } },
            ),
          );
        }
      }
    }
    return out;
  },
};
