/**
 * The module folder's Kbuild and Makefile. Each unit is compiled with the
 * flags kbuild gives the patched file in the tree: `ccflags-y` (and
 * `ccflags-$(CONFIG_X)` set in the .config) and `CFLAGS_<file>.o` of its
 * directory, `subdir-ccflags-y` of that directory and its parents,
 * `ccflags-remove-y` and `CFLAGS_REMOVE_<file>.o`. Only plain flags are taken:
 * `$(srctree)`, `$(src)` and `$(obj)` are expanded, any other `$(…)` (a
 * `$(shell …)`, `$(call cc-option …)`, a variable) is dropped unread, and
 * nothing from the tree is ever run.
 */
import type { KernelTree } from '../tree/kernelTree';
import type { Unit } from './types';

export interface UnitFlags {
  add: string[];
  remove: string[];
}

const PLAIN = /^-[A-Za-z][\w=.,+/:@-]*$/;

/** Logical lines of a Makefile: continuations joined, comments cut. */
function logicalLines(text: string): string[] {
  return text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.replace(/(^|[^\\])#.*$/, '$1').trim())
    .filter(Boolean);
}

/** Remove `$(…)` and `${…}` groups, nested ones included. */
function dropExpansions(s: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '$' && (s[i + 1] === '(' || s[i + 1] === '{')) {
      depth++;
      i++;
    } else if (depth > 0 && (s[i] === '(' || s[i] === '{')) depth++;
    else if (depth > 0 && (s[i] === ')' || s[i] === '}')) depth--;
    else if (depth === 0) out += s[i];
  }
  return out;
}

/** Plain flags of one assignment's value, with include paths made absolute ($(src) and $(obj) are the directory, relative to the tree). */
function plainFlags(value: string, root: string, dir: string): string[] {
  const expanded = value.replace(/\$\(srctree\)/g, root).replace(/\$\((src|obj)\)/g, dir);
  const tokens = dropExpansions(expanded).split(/\s+/).filter(Boolean);
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    let t = tokens[i];
    if ((t === '-I' || t === '-include') && tokens[i + 1]) t = `${t === '-I' ? '-I' : '-include '}${tokens[++i]}`;
    const m = /^-I(.+)$/.exec(t);
    if (m) {
      const p = m[1].startsWith('/') ? m[1] : `${root}/${m[1]}`;
      if (PLAIN.test(`-I${p}`)) out.push(`-I${p.replace(/\/+$/, '')}`);
      continue;
    }
    if (PLAIN.test(t)) out.push(t);
  }
  return out;
}

interface Assignment {
  name: string;
  value: string;
}

function assignments(text: string): Assignment[] {
  const out: Assignment[] = [];
  for (const l of logicalLines(text)) {
    const m = /^([\w$().-]+)\s*(\+=|:=|=|\?=)\s*(.*)$/.exec(l);
    if (m) out.push({ name: m[1], value: m[3] });
  }
  return out;
}

/** Whether `ccflags-$(CONFIG_X)` (or `-y`) applies. */
function enabled(suffix: string, config: (s: string) => string | undefined): boolean {
  if (suffix === 'y') return true;
  const m = /^\$\((CONFIG_\w+)\)$/.exec(suffix);
  if (!m) return false;
  const v = config(m[1].replace(/^CONFIG_/, ''));
  return v === 'y' || v === 'm';
}

function dirsUp(path: string): string[] {
  const parts = path.split('/').slice(0, -1);
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('/'));
}

function readMakefile(tree: KernelTree, dir: string): string | undefined {
  return tree.read(`${dir}/Kbuild`)?.text ?? tree.read(`${dir}/Makefile`)?.text;
}

/** The flags kbuild compiles `path` with, beyond the kernel-wide ones the headers carry. */
export function unitFlags(tree: KernelTree | undefined, path: string, config: (s: string) => string | undefined): UnitFlags {
  if (!tree) return { add: [], remove: [] };
  const own = path.replace(/\/[^/]*$/, '');
  const base = path.replace(/^.*\//, '').replace(/\.c$/, '');
  // quoted includes of the patched file ("internal.h") resolve in its source directory
  const add: string[] = [`-I${tree.root}/${own}`];
  const remove: string[] = [];
  for (const dir of dirsUp(path)) {
    const text = readMakefile(tree, dir);
    if (!text) continue;
    for (const a of assignments(text)) {
      const m = /^(subdir-ccflags|ccflags-remove|ccflags|EXTRA_CFLAGS|CFLAGS_REMOVE_|CFLAGS_)-?(.*)$/.exec(a.name);
      if (!m) continue;
      const [, kind, rest] = m;
      const mine = dir === own;
      if (kind === 'subdir-ccflags' && enabled(rest, config)) add.push(...plainFlags(a.value, tree.root, dir));
      else if (mine && kind === 'ccflags' && enabled(rest, config)) add.push(...plainFlags(a.value, tree.root, dir));
      else if (mine && kind === 'EXTRA_CFLAGS' && rest === '') add.push(...plainFlags(a.value, tree.root, dir));
      else if (mine && kind === 'ccflags-remove' && enabled(rest, config)) remove.push(...plainFlags(a.value, tree.root, dir));
      else if (mine && kind === 'CFLAGS_' && a.name === `CFLAGS_${base}.o`) add.push(...plainFlags(a.value, tree.root, dir));
      else if (mine && kind === 'CFLAGS_REMOVE_' && a.name === `CFLAGS_REMOVE_${base}.o`) remove.push(...plainFlags(a.value, tree.root, dir));
    }
  }
  return { add: [...new Set(add)], remove: [...new Set(remove)] };
}

export function kbuildFile(name: string, units: Unit[], tree?: KernelTree): string {
  const objs = ['livepatch-main.o', ...units.map((u) => `${u.slug}.o`)];
  const lines = [`# Kbuild for the livepatch ${name} (generated)`, `obj-m := ${name}.o`, `${name}-y := ${objs.join(' ')}`];
  for (const u of units) {
    if (u.cflags.length) lines.push(`# the flags kbuild gives ${u.file.path}${tree ? ` in ${tree.root}` : ''}`, `CFLAGS_${u.slug}.o += ${u.cflags.join(' ')}`);
    if (u.cflagsRemove.length) lines.push(`CFLAGS_REMOVE_${u.slug}.o += ${u.cflagsRemove.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

export function makefile(name: string, relocs: boolean): string {
  return [
    `# Build the livepatch ${name} against the target kernel's headers (generated).`,
    '#   make KDIR=/usr/src/linux-headers-$(uname -r)',
    'KDIR ?= /lib/modules/$(shell uname -r)/build',
    'KLP_LENS ?= klp-lens',
    '',
    'all:',
    ...(relocs
      ? [
          '\t# symbols the target does not export become klp relocations after linking (klp-relocs.json)',
          '\t$(MAKE) -C $(KDIR) M=$(CURDIR) KBUILD_MODPOST_WARN=1 modules',
          `\t$(KLP_LENS) klp-relocs ${name}.ko --map klp-relocs.json --symvers $(KDIR)/Module.symvers`,
        ]
      : ['\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules']),
    '',
    'clean:',
    '\t$(MAKE) -C $(KDIR) M=$(CURDIR) clean',
    '',
    '.PHONY: all clean',
    '',
  ].join('\n');
}
