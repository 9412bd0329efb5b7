/**
 * Static and global data (H02, H03): the initial value, type, size, const-ness
 * or section of an existing variable changes; data is added or removed. The
 * livepatch module cannot replace data in vmlinux or a module: its copy would
 * not be the object the rest of the kernel uses, and the original initializer
 * already ran. klp-build stops with "changed data", kpatch-build with
 * "data section selected for inclusion" or "changed section not selected".
 */
import { finding, type Finding } from '../findings';
import type { EntityChange } from '../entities/diff';
import type { Rule } from './index';
import { cFiles } from './util';

const INIT_SECTIONS = new Set(['__initdata', '__initconst', '__meminitdata', '__meminitconst', '__exitdata', '__devinitdata', '__cpuinitdata', '__initdata_memblock']);

function isOpsTable(e: EntityChange): boolean {
  const t = e.new?.text ?? e.old?.text ?? '';
  return /=\s*\{/.test(t) && /^\s*\.\w+\s*=\s*&?[A-Za-z_]\w*\s*,?\s*$/m.test(t) && /\b(struct|static const struct)\b/.test(t);
}

/** The object itself is const (so in .rodata): `static const struct x y`, `const char *const y[]`, not `const char *y[]`. */
function isConstObject(e: EntityChange): boolean {
  const t = e.new?.text ?? '';
  const k = t.search(new RegExp(`\\b${e.name}\\b`));
  if (k < 0) return false;
  const head = t.slice(0, k);
  const star = head.lastIndexOf('*');
  return /\bconst\b/.test(star >= 0 ? head.slice(star) : head);
}

/** Changed or added functions of the file whose new text names `name`. */
function referencedBy(f: { entities: EntityChange[] }, name: string): string[] {
  const re = new RegExp(`\\b${name}\\b`);
  return f.entities.filter((x) => (x.kind === 'function' || x.kind === 'syscall') && x.change !== 'removed' && re.test(x.new?.text ?? '')).map((x) => x.name);
}

function annotations(e: EntityChange): { old: string[]; new: string[] } {
  return { old: e.old?.annotations ?? [], new: e.new?.annotations ?? [] };
}

const TRACE_DEF = /\b(TRACE_EVENT\w*|DECLARE_\w*EVENT\w*|DEFINE_\w*EVENT\w*|TRACE_DEFINE_ENUM|EM|EMe|E_)\s*\(/;

export const staticDataRule: Rule = {
  id: 'static-data',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      // trace event definitions: enum/string tables and event descriptors are data of the original object
      const traceHeader = /(^|\/)[a-z0-9_]*trace\.h$|^include\/trace\/events\//.test(f.path);
      const traceDef = f.entities.find((e) => (e.kind === 'macro' || e.kind === 'invocation') && e.change !== 'removed' && !(e.aspects.length === 1 && e.aspects[0] === 'cosmetic') && (traceHeader || TRACE_DEF.test(e.new?.text ?? '')) && TRACE_DEF.test((e.new?.text ?? '') + (e.old?.text ?? '')));
      if (traceDef) {
        out.push(
          finding('KLP115', `${f.path} changes trace event definitions (${traceDef.name}): event descriptors, their enum and string tables are data of the original object, which a livepatch cannot change; new trace values or fields would be unknown to the running kernel's trace infrastructure. Reuse an existing trace value in the patched code, or leave the trace definitions out of the livepatch.`, traceDef.range, {
            file: f.path,
            data: { entity: traceDef.key },
          }),
        );
      }
      for (const e of f.entities) {
        if (e.kind !== 'variable') continue;
        const info = e.new?.entity ?? e.old?.entity;
        if (info?.declarationOnly) continue;
        const ann = annotations(e);
        if ([...ann.old, ...ann.new].some((a) => INIT_SECTIONS.has(a))) continue; // init data: the init-code rule
        const data = { entity: e.key, variable: e.name };
        const perCpu = /PER_CPU/.test(info?.definedBy ?? '') ? ' (per-CPU)' : '';
        if (e.change === 'added') {
          out.push(
            finding(
              'KLP113',
              `New variable ${e.name}${perCpu} lives in the livepatch module: it starts from its initializer when the module loads, the original code never sees it, and a later cumulative livepatch gets a fresh copy. Use a shadow variable or klp_state if its value must be shared or survive an upgrade.`,
              e.range,
              { file: f.path, data },
            ),
          );
          continue;
        }
        if (e.change === 'removed') {
          out.push(
            finding('KLP114', `${e.name} is removed, but a livepatch cannot remove data: the original stays in the running kernel and code the livepatch does not replace keeps using it. Keep it (unused) in the patch.`, e.range, {
              file: f.path,
              data,
            }),
          );
          continue;
        }
        if (e.aspects.includes('initializer')) {
          const table = isOpsTable(e);
          // const data the patched code refers to: the livepatch links its own copy (kpatch-build
          // includes a changed .rodata object referenced by included functions), so objects set up by
          // the new code use the new value and older objects keep the original: a mix to review, not a refusal
          const users = isConstObject(e) ? referencedBy(f, e.name) : [];
          if (users.length > 0) {
            const fns = users.map((n) => `${n}()`).join(', ');
            out.push(
              finding(
                'KLP110',
                table
                  ? `The table ${e.name} changes its entries. It is const and the patched ${fns} refer${users.length === 1 ? 's' : ''} to it, so the livepatch carries its own copy: objects that the patched code sets up get the new table, while objects set up before the patch (or by code the livepatch does not replace) keep the original one for as long as they live. Make sure every function of both tables handles objects of either kind, and that nothing compares against the table's address.`
                  : `${e.name} gets a new value. It is const and the patched ${fns} refer${users.length === 1 ? 's' : ''} to it, so the livepatch carries its own copy with the new value, while code the livepatch does not replace keeps reading the original. Make sure both values may be in use at once, and that nothing compares against its address.`,
                e.range,
                { file: f.path, severity: 'warning', data: { ...data, table, copiedTo: users } },
              ),
            );
          } else {
            out.push(
              finding(
                'KLP110',
                table
                  ? `The table ${e.name} changes its entries: the kernel keeps using the original table in vmlinux or the module, so the livepatch's copy is never read. Patch the functions the table points to instead, or switch the pointer from a pre-patch callback (and restore it in post-unpatch).`
                  : `${e.name}${perCpu} gets a new initial value, but the original variable already holds the old one and the livepatch cannot replace it (klp-build: "changed data", kpatch-build: "data section selected for inclusion"). Set the new value from a pre-patch callback and restore it in a post-unpatch callback, or leave the data alone.`,
                e.range,
                { file: f.path, data: { ...data, table } },
              ),
            );
          }
        }
        if (e.aspects.includes('type')) {
          out.push(
            finding(
              'KLP111',
              `${e.name}${perCpu} changes its type, size or const-ness: code outside the livepatch still uses the original object with the old type, and a const change moves it between .rodata and .data (kpatch-build: "symbol changed sections"). Keep the declaration and add new data for the new code.`,
              e.range,
              { file: f.path, data },
            ),
          );
        }
        if (e.aspects.includes('attributes')) {
          const oldA = ann.old.filter((a) => !ann.new.includes(a));
          const newA = ann.new.filter((a) => !ann.old.includes(a));
          const storageOnly = oldA.length === 0 && newA.length === 0;
          if (!storageOnly) {
            out.push(
              finding(
                'KLP112',
                `${e.name} moves to another section (${oldA.length ? `drops ${oldA.join(', ')}` : ''}${oldA.length && newA.length ? ', ' : ''}${newA.length ? `adds ${newA.join(', ')}` : ''}): the original variable stays where it is, and kpatch-build rejects the changed data section. Keep the annotation as it is in the livepatch.`,
                e.range,
                { file: f.path, data },
              ),
            );
          }
        }
      }
    }
    return out;
  },
};
