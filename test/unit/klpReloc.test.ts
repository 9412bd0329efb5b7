/**
 * klp relocations (core/generate/klpReloc.ts).
 *
 * A synthetic ELF64 module built here exercises the conversion, the grouping
 * by object, debug relocations, signatures and every refusal on any machine;
 * seeded byte mutations of it must give a result or a KlpRelocError, nothing
 * else. Where Debian's 6.1 headers are installed, a real livepatch module is
 * built with kbuild, converted and read back with binutils' readelf.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  convertKlpRelocations,
  KlpRelocError,
  readModuleSymvers,
  undefinedSymbols,
  type KlpSymbol,
} from '../../server/src/core/generate/klpReloc';

const SHT_PROGBITS = 1;
const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHT_RELA = 4;
const SHT_REL = 9;
const SHF_WRITE = 0x1;
const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;
const SHF_INFO_LINK = 0x40;
const SHF_RELA_LIVEPATCH = 0x00100000;
const SHN_LIVEPATCH = 0xff20;
const R_X86_64_64 = 1;
const R_X86_64_PC32 = 2;
const R_X86_64_PLT32 = 4;
const R_X86_64_GOTPCREL = 9;
const R_X86_64_32S = 11;

// ---------------------------------------------------------------------------
// A small ELF64 writer and an independent reader for the synthetic module

interface RelSpec {
  at: number;
  type: number;
  sym: string;
  addend: number;
}

interface SectionSpec {
  name: string;
  type?: number;
  flags?: number;
  data?: Buffer;
  align?: number;
  /** A relocation section: the section it patches and its entries. */
  rela?: { target: string; entries: RelSpec[]; rel?: boolean };
}

interface SymSpec {
  name: string;
  bind: 'local' | 'global' | 'weak';
  /** A section name, or undefined for SHN_UNDEF. */
  section?: string;
  value?: number;
  sectionSymbol?: boolean;
}

/** A relocatable x86_64 ELF64: the given sections, then .symtab, .strtab, .shstrtab. */
function writeElf(specs: SectionSpec[], syms: SymSpec[]): Buffer {
  const names = [...specs.map((s) => s.name), '.symtab', '.strtab', '.shstrtab'];
  const index = (name: string) => names.indexOf(name) + 1;
  const table = (strings: string[]) => {
    const offsets = new Map<string, number>();
    const parts: Buffer[] = [Buffer.from([0])];
    let size = 1;
    for (const s of strings) {
      if (s === '' || offsets.has(s)) continue;
      offsets.set(s, size);
      parts.push(Buffer.from(`${s}\0`));
      size += s.length + 1;
    }
    return { data: Buffer.concat(parts), at: (s: string) => (s === '' ? 0 : offsets.get(s)!) };
  };
  const strtab = table(syms.map((s) => s.name));
  const shstrtab = table(names);
  const allSyms: SymSpec[] = [{ name: '', bind: 'local' }, ...syms];
  const symIndex = (name: string) => {
    const k = allSyms.findIndex((s) => s.name === name);
    assert.ok(k > 0, `synthetic symbol ${name}`);
    return k;
  };
  const symtab = Buffer.alloc(24 * allSyms.length);
  allSyms.forEach((s, k) => {
    const bind = { local: 0, global: 1, weak: 2 }[s.bind];
    symtab.writeUInt32LE(strtab.at(s.name), k * 24);
    symtab[k * 24 + 4] = (bind << 4) | (s.sectionSymbol ? 3 : 0);
    symtab.writeUInt16LE(s.section ? index(s.section) : 0, k * 24 + 6);
    symtab.writeBigUInt64LE(BigInt(s.value ?? 0), k * 24 + 8);
  });
  const firstGlobal = allSyms.findIndex((s) => s.bind !== 'local');
  const headers: { type: number; flags: number; data: Buffer; link: number; info: number; align: number; entsize: number }[] = specs.map((s) => {
    if (!s.rela) return { type: s.type ?? SHT_PROGBITS, flags: s.flags ?? 0, data: s.data ?? Buffer.alloc(0), link: 0, info: 0, align: s.align ?? 1, entsize: 0 };
    const size = s.rela.rel ? 16 : 24;
    const data = Buffer.alloc(size * s.rela.entries.length);
    s.rela.entries.forEach((r, k) => {
      data.writeBigUInt64LE(BigInt(r.at), k * size);
      data.writeUInt32LE(r.type, k * size + 8);
      data.writeUInt32LE(symIndex(r.sym), k * size + 12);
      if (!s.rela!.rel) data.writeBigInt64LE(BigInt(r.addend), k * size + 16);
    });
    return { type: s.rela.rel ? SHT_REL : SHT_RELA, flags: SHF_INFO_LINK, data, link: index('.symtab'), info: index(s.rela.target), align: 8, entsize: size };
  });
  headers.push({ type: SHT_SYMTAB, flags: 0, data: symtab, link: index('.strtab'), info: firstGlobal < 0 ? allSyms.length : firstGlobal, align: 8, entsize: 24 });
  headers.push({ type: SHT_STRTAB, flags: 0, data: strtab.data, link: 0, info: 0, align: 1, entsize: 0 });
  headers.push({ type: SHT_STRTAB, flags: 0, data: shstrtab.data, link: 0, info: 0, align: 1, entsize: 0 });

  const offsets: number[] = [];
  let end = 64;
  for (const h of headers) {
    end = Math.ceil(end / h.align) * h.align;
    offsets.push(end);
    end += h.data.length;
  }
  const shoff = Math.ceil(end / 8) * 8;
  const out = Buffer.alloc(shoff + 64 * (headers.length + 1));
  out.write('\x7fELF', 0, 'latin1');
  out[4] = 2; // ELFCLASS64
  out[5] = 1; // little-endian
  out[6] = 1; // EV_CURRENT
  out.writeUInt16LE(1, 16); // ET_REL
  out.writeUInt16LE(62, 18); // EM_X86_64
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(64, 52);
  out.writeUInt16LE(64, 58);
  out.writeUInt16LE(headers.length + 1, 60);
  out.writeUInt16LE(headers.length, 62); // .shstrtab is last
  headers.forEach((h, k) => {
    const at = shoff + 64 * (k + 1);
    h.data.copy(out, offsets[k]);
    out.writeUInt32LE(shstrtab.at(names[k]), at);
    out.writeUInt32LE(h.type, at + 4);
    out.writeBigUInt64LE(BigInt(h.flags), at + 8);
    out.writeBigUInt64LE(BigInt(offsets[k]), at + 24);
    out.writeBigUInt64LE(BigInt(h.data.length), at + 32);
    out.writeUInt32LE(h.link, at + 40);
    out.writeUInt32LE(h.info, at + 44);
    out.writeBigUInt64LE(BigInt(h.align), at + 48);
    out.writeBigUInt64LE(BigInt(h.entsize), at + 56);
  });
  return out;
}

interface ReadSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  offset: number;
  link: number;
  info: number;
  align: number;
  entsize: number;
  data: Buffer;
}

/** Read back what the converter wrote, without its code: sections, symbols, relocations by name. */
function readElf(buf: Buffer) {
  const shoff = Number(buf.readBigUInt64LE(40));
  const shnum = buf.readUInt16LE(60);
  const raw = Array.from({ length: shnum }, (_, k) => {
    const at = shoff + 64 * k;
    const offset = Number(buf.readBigUInt64LE(at + 24));
    const size = Number(buf.readBigUInt64LE(at + 32));
    return {
      index: k,
      nameOff: buf.readUInt32LE(at),
      type: buf.readUInt32LE(at + 4),
      flags: Number(buf.readBigUInt64LE(at + 8)),
      offset,
      link: buf.readUInt32LE(at + 40),
      info: buf.readUInt32LE(at + 44),
      align: Number(buf.readBigUInt64LE(at + 48)),
      entsize: Number(buf.readBigUInt64LE(at + 56)),
      data: buf.subarray(offset, offset + size),
    };
  });
  const str = (d: Buffer, at: number) => d.toString('utf8', at, d.indexOf(0, at));
  const shstr = raw[buf.readUInt16LE(62)].data;
  const sections: ReadSection[] = raw.map((s) => ({ ...s, name: str(shstr, s.nameOff) }));
  const symtab = sections.find((s) => s.type === SHT_SYMTAB)!;
  const strtab = sections[symtab.link].data;
  const symbols = Array.from({ length: symtab.data.length / 24 }, (_, k) => ({
    name: str(strtab, symtab.data.readUInt32LE(k * 24)),
    shndx: symtab.data.readUInt16LE(k * 24 + 6),
    bind: symtab.data[k * 24 + 4] >> 4,
  }));
  const section = (name: string) => {
    const s = sections.find((x) => x.name === name);
    assert.ok(s, `section ${name} in ${sections.map((x) => x.name).join(' ')}`);
    return s;
  };
  const relocs = (name: string) => {
    const s = section(name);
    return Array.from({ length: s.data.length / 24 }, (_, k) => {
      const sym = s.data.readUInt32LE(k * 24 + 12);
      return {
        at: Number(s.data.readBigUInt64LE(k * 24)),
        type: s.data.readUInt32LE(k * 24 + 8),
        sym,
        name: symbols[sym].name,
        addend: Number(s.data.readBigInt64LE(k * 24 + 16)),
      };
    });
  };
  return { sections, symbols, section, relocs };
}

/** The synthetic livepatch: code and data using three placeholders, one of them in a module object. */
function syntheticSpecs(opts: { modinfo?: string; text?: Buffer; extra?: SectionSpec[]; textRelocs?: RelSpec[] } = {}): [SectionSpec[], SymSpec[]] {
  const text = opts.text ?? Buffer.alloc(40, 0);
  if (!opts.text) text.fill(0x90, 28); // code bytes after the relocated sites
  const specs: SectionSpec[] = [
    { name: '.text', flags: SHF_ALLOC | SHF_EXECINSTR, data: text, align: 16 },
    {
      name: '.rela.text',
      rela: {
        target: '.text',
        entries: opts.textRelocs ?? [
          { at: 1, type: R_X86_64_PLT32, sym: 'printk', addend: -4 },
          { at: 8, type: R_X86_64_32S, sym: 'klpsym_banner', addend: 0 },
          { at: 13, type: R_X86_64_PLT32, sym: 'klpsym_show', addend: -4 },
          { at: 20, type: R_X86_64_PC32, sym: 'klpsym_busy', addend: -4 },
          { at: 24, type: R_X86_64_32S, sym: '.text', addend: 0x10 },
        ],
      },
    },
    { name: '.modinfo', flags: SHF_ALLOC, data: Buffer.from(opts.modinfo ?? 'license=GPL\0livepatch=Y\0name=lp_syn\0') },
    { name: '.data', flags: SHF_ALLOC | SHF_WRITE, data: Buffer.alloc(16), align: 8 },
    {
      name: '.rela.data',
      rela: {
        target: '.data',
        entries: [
          { at: 0, type: R_X86_64_64, sym: 'klpsym_show', addend: 0 },
          { at: 8, type: R_X86_64_64, sym: 'klpsym_busy', addend: 8 },
        ],
      },
    },
    { name: '.debug_info', data: Buffer.alloc(16) },
    { name: '.rela.debug_info', rela: { target: '.debug_info', entries: [{ at: 0, type: R_X86_64_64, sym: 'klpsym_banner', addend: 0 }] } },
    ...(opts.extra ?? []),
  ];
  const syms: SymSpec[] = [
    { name: '.text', bind: 'local', section: '.text', sectionSymbol: true },
    { name: 'livepatch_show', bind: 'local', section: '.text' },
    { name: 'printk', bind: 'global' },
    { name: 'klpsym_banner', bind: 'global' },
    { name: 'klpsym_show', bind: 'global' },
    { name: 'klpsym_busy', bind: 'global' },
    { name: 'maybe_there', bind: 'weak' },
    { name: 'init_module', bind: 'global', section: '.text', value: 28 },
  ];
  return [specs, syms];
}

function synthetic(opts: Parameters<typeof syntheticSpecs>[0] = {}): Buffer {
  return writeElf(...syntheticSpecs(opts));
}

const SYN_MAP: KlpSymbol[] = [
  { placeholder: 'klpsym_banner', object: 'vmlinux', name: 'linux_proc_banner', sympos: 0 },
  { placeholder: 'klpsym_show', object: 'vmlinux', name: 'cmdline_proc_show', sympos: 0 },
  { placeholder: 'klpsym_busy', object: 'klptarget', name: 'busy_in_patched', sympos: 2 },
];

/** The call must throw a KlpRelocError whose message matches every pattern. */
function refuses(fn: () => unknown, ...patterns: RegExp[]): string {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error !== undefined, `expected a refusal matching ${patterns.join(', ')}`);
  assert.ok(error instanceof KlpRelocError, `expected KlpRelocError, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  for (const p of patterns) assert.match(error.message, p);
  return error.message;
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

// ---------------------------------------------------------------------------
// Synthetic module

test('synthetic module: placeholders become .klp.sym symbols, relocations move into one section per (object, target)', () => {
  const input = synthetic();
  const before = readElf(input);
  assert.deepEqual(undefinedSymbols(input), ['printk', 'klpsym_banner', 'klpsym_show', 'klpsym_busy', 'maybe_there']);
  const r = convertKlpRelocations(input, SYN_MAP, { exported: new Set(['printk']) });
  const after = readElf(r.ko);

  // existing sections keep their index, name, type, flags, link, info and (unless rewritten) bytes
  assert.equal(after.sections.length, before.sections.length + 4);
  for (const s of before.sections) {
    const o = after.sections[s.index];
    assert.deepEqual([o.name, o.type, o.flags, o.link, o.info, o.align, o.entsize], [s.name, s.type, s.flags, s.link, s.info, s.align, s.entsize], s.name);
    if (!['.rela.text', '.rela.data', '.symtab', '.strtab', '.shstrtab'].includes(s.name)) assert.ok(o.data.equals(s.data), `${s.name} bytes unchanged`);
    if (s.align > 1) assert.equal(o.offset % s.align, 0, `${s.name} aligned`);
  }

  // new sections at the end, in order of first use, grouped by the object of the symbol
  const added = after.sections.slice(before.sections.length);
  assert.deepEqual(added.map((s) => s.name), ['.klp.rela.vmlinux.text', '.klp.rela.klptarget.text', '.klp.rela.vmlinux.data', '.klp.rela.klptarget.data']);
  const symtab = after.section('.symtab').index;
  for (const s of added) {
    assert.equal(s.type, SHT_RELA);
    assert.equal(s.flags, SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH);
    assert.equal(s.link, symtab);
    assert.equal(s.entsize, 24);
    assert.equal(s.align, 8);
    assert.equal(s.offset % 8, 0);
  }
  assert.equal(added[0].info, after.section('.text').index);
  assert.equal(added[2].info, after.section('.data').index);

  // symbols: same indices and order, placeholders renamed and SHN_LIVEPATCH
  assert.equal(after.symbols.length, before.symbols.length);
  const renamed = after.symbols.map((s, k) => (s.name === before.symbols[k].name ? null : [before.symbols[k].name, s.name, s.shndx]));
  assert.deepEqual(renamed.filter(Boolean), [
    ['klpsym_banner', '.klp.sym.vmlinux.linux_proc_banner,0', SHN_LIVEPATCH],
    ['klpsym_show', '.klp.sym.vmlinux.cmdline_proc_show,0', SHN_LIVEPATCH],
    ['klpsym_busy', '.klp.sym.klptarget.busy_in_patched,2', SHN_LIVEPATCH],
  ]);
  assert.ok(after.symbols.every((s, k) => s.bind === before.symbols[k].bind), 'bindings kept');

  const brief = (name: string) => after.relocs(name).map((x) => `${x.at}:${x.type}:${x.name}:${x.addend}`);
  assert.deepEqual(brief('.klp.rela.vmlinux.text'), ['8:11:.klp.sym.vmlinux.linux_proc_banner,0:0', '13:4:.klp.sym.vmlinux.cmdline_proc_show,0:-4']);
  assert.deepEqual(brief('.klp.rela.klptarget.text'), ['20:2:.klp.sym.klptarget.busy_in_patched,2:-4']);
  assert.deepEqual(brief('.klp.rela.vmlinux.data'), ['0:1:.klp.sym.vmlinux.cmdline_proc_show,0:0']);
  assert.deepEqual(brief('.klp.rela.klptarget.data'), ['8:1:.klp.sym.klptarget.busy_in_patched,2:8']);
  assert.deepEqual(brief('.rela.text'), ['1:4:printk:-4', '24:11:.text:16'], 'other relocations stay in place');
  assert.deepEqual(brief('.rela.data'), []);
  assert.deepEqual(brief('.rela.debug_info'), ['0:1:.klp.sym.vmlinux.linux_proc_banner,0:0'], 'debug relocations stay (by index)');

  assert.deepEqual(
    r.moved.map((m) => `${m.section} ${m.target}+${m.offset} ${m.symbol} ${m.type} ${m.addend}`),
    [
      '.klp.rela.vmlinux.text .text+8 .klp.sym.vmlinux.linux_proc_banner,0 11 0',
      '.klp.rela.vmlinux.text .text+13 .klp.sym.vmlinux.cmdline_proc_show,0 4 -4',
      '.klp.rela.klptarget.text .text+20 .klp.sym.klptarget.busy_in_patched,2 2 -4',
      '.klp.rela.vmlinux.data .data+0 .klp.sym.vmlinux.cmdline_proc_show,0 1 0',
      '.klp.rela.klptarget.data .data+8 .klp.sym.klptarget.busy_in_patched,2 1 8',
    ],
  );
  assert.deepEqual(undefinedSymbols(r.ko), ['printk', 'maybe_there']);
  assert.deepEqual(r.warnings, [], 'printk is exported; a weak symbol may stay unresolved');
  assert.equal(r.strippedSignature, 0);

  // deterministic, and the output converts again as a no-op mapping
  assert.ok(convertKlpRelocations(input, SYN_MAP, { exported: new Set(['printk']) }).ko.equals(r.ko));
  assert.equal(convertKlpRelocations(r.ko, []).moved.length, 0);
});

test('synthetic module: warnings name undefined symbols missing from Module.symvers and late module-object relocations', () => {
  const r = convertKlpRelocations(synthetic(), SYN_MAP.slice(0, 2), { exported: new Set() });
  assert.equal(r.warnings.length, 2);
  assert.match(r.warnings[0], /^printk .*Unknown symbol printk/);
  assert.match(r.warnings[1], /^klpsym_busy /, 'an unmapped placeholder is still undefined');
  assert.deepEqual(convertKlpRelocations(synthetic(), SYN_MAP.slice(0, 2)).warnings, [], 'no exported set: no symbol check');

  const jump = synthetic({
    extra: [
      { name: '__jump_table', flags: SHF_ALLOC | SHF_WRITE, data: Buffer.alloc(16), align: 8 },
      { name: '.rela__jump_table', rela: { target: '__jump_table', entries: [{ at: 8, type: R_X86_64_64, sym: 'klpsym_busy', addend: 0 }] } },
    ],
  });
  const w = convertKlpRelocations(jump, SYN_MAP).warnings;
  assert.equal(w.length, 1);
  assert.match(w[0], /\.klp\.rela\.klptarget\.__jump_table/);
  assert.match(w[0], /before livepatch writes relocations for klptarget/);
});

test('synthetic module: an appended module signature is stripped', () => {
  const plain = synthetic();
  const sig = Buffer.from('fake pkcs7 blob');
  const info = Buffer.alloc(12);
  info[2] = 2; // PKEY_ID_PKCS7
  info.writeUInt32BE(sig.length, 8);
  const signed = Buffer.concat([plain, sig, info, Buffer.from('~Module signature appended~\n')]);
  const r = convertKlpRelocations(signed, SYN_MAP);
  assert.equal(r.strippedSignature, sig.length + 12 + 28);
  assert.ok(r.ko.equals(convertKlpRelocations(plain, SYN_MAP).ko));
  assert.deepEqual(undefinedSymbols(signed), undefinedSymbols(plain));
  info.writeUInt32BE(0x7fffffff, 8);
  refuses(() => convertKlpRelocations(Buffer.concat([plain, sig, info, Buffer.from('~Module signature appended~\n')]), SYN_MAP), /signature/, /more than the file/);
});

test('synthetic module: refusals of the mapping and of the module', () => {
  const ko = synthetic();
  refuses(() => convertKlpRelocations(ko, [...SYN_MAP, { placeholder: 'klpsym_nothere', object: 'vmlinux', name: 'x', sympos: 0 }]), /klpsym_nothere/, /not an undefined symbol/, /no such symbol/);
  refuses(() => convertKlpRelocations(ko, [{ placeholder: 'init_module', object: 'vmlinux', name: 'x', sympos: 0 }]), /init_module/, /defined in \.text/);
  refuses(() => convertKlpRelocations(ko, [{ placeholder: 'livepatch_show', object: 'vmlinux', name: 'x', sympos: 0 }]), /livepatch_show/, /not an undefined symbol/);
  refuses(() => convertKlpRelocations(ko, [{ placeholder: 'klpsym_show', object: 'vmlinux', name: 'a,b', sympos: 0 }]), /klpsym_show/, /comma/);
  refuses(() => convertKlpRelocations(ko, [{ placeholder: 'klpsym_show', object: 'nf_tables.ko', name: 'x', sympos: 0 }]), /nf_tables\.ko/, /dot/);
  refuses(() => convertKlpRelocations(ko, [{ placeholder: 'klpsym_show', object: 'nf-tables', name: 'x', sympos: 0 }]), /nf-tables/);
  refuses(() => convertKlpRelocations(ko, [{ placeholder: 'klpsym_show', object: 'vmlinux', name: 'x', sympos: -1 }]), /sympos -1/);
  refuses(() => convertKlpRelocations(ko, [{ placeholder: 'klpsym_show', object: 'vmlinux', name: 'x', sympos: 1.5 }]), /sympos 1\.5/);
  refuses(() => convertKlpRelocations(ko, [SYN_MAP[0], SYN_MAP[0]]), /klpsym_banner/, /twice/);
  refuses(() => convertKlpRelocations(ko, [{ placeholder: 'klpsym_show', object: 'vmlinux', name: '', sympos: 0 }]), /empty symbol name/);

  // a converted placeholder is no longer undefined
  const once = convertKlpRelocations(ko, SYN_MAP).ko;
  refuses(() => convertKlpRelocations(once, SYN_MAP), /klpsym_banner/, /no such symbol/);

  refuses(() => convertKlpRelocations(synthetic({ modinfo: 'license=GPL\0name=lp_syn\0' }), SYN_MAP), /livepatch=Y/);
  refuses(() => convertKlpRelocations(synthetic({ modinfo: 'license=GPL\0livepatch=N\0' }), SYN_MAP), /livepatch=Y/);

  const dirty = Buffer.alloc(40);
  dirty.writeInt32LE(-4, 13); // an assembler's implicit addend left in place
  refuses(() => convertKlpRelocations(synthetic({ text: dirty }), SYN_MAP), /\.rela\.text entry 2/, /klpsym_show/, /\.text\+0xd/, /fcffffff/, /not zero/);
  refuses(
    () => convertKlpRelocations(synthetic({ textRelocs: [{ at: 8, type: R_X86_64_GOTPCREL, sym: 'klpsym_banner', addend: -4 }] }), SYN_MAP),
    /type 9/,
    /klpsym_banner/,
  );
  refuses(() => convertKlpRelocations(synthetic({ textRelocs: [{ at: 38, type: R_X86_64_64, sym: 'klpsym_banner', addend: 0 }] }), SYN_MAP), /outside \.text/);
  const [specs, syms] = syntheticSpecs({
    extra: [
      { name: '.rodata', flags: SHF_ALLOC, data: Buffer.alloc(8) },
      { name: '.rel.rodata', rela: { target: '.rodata', rel: true, entries: [{ at: 0, type: R_X86_64_64, sym: 'klpsym_show', addend: 0 }] } },
    ],
  });
  refuses(() => convertKlpRelocations(writeElf(specs, syms), SYN_MAP), /SHT_REL/, /klpsym_show/);
});

test('synthetic module: malformed ELF is refused with what and where', () => {
  const ko = synthetic();
  const shoff = Number(ko.readBigUInt64LE(40));
  const patched = (at: number, write: (b: Buffer) => void) => {
    const b = Buffer.from(ko);
    write(b.subarray(at));
    return b;
  };
  const convert = (b: Buffer) => () => convertKlpRelocations(b, SYN_MAP);
  refuses(convert(Buffer.alloc(0)), /truncated: 0 bytes/);
  refuses(convert(ko.subarray(0, 40)), /truncated: 40 bytes/);
  refuses(convert(Buffer.from('#!/bin/sh\n'.repeat(10))), /not an ELF file/);
  refuses(convert(patched(4, (b) => (b[0] = 1))), /not ELF64/, /offset 4/);
  refuses(convert(patched(5, (b) => (b[0] = 2))), /not little-endian/);
  refuses(convert(patched(16, (b) => b.writeUInt16LE(3, 0))), /not ET_REL/);
  refuses(convert(patched(18, (b) => b.writeUInt16LE(183, 0))), /e_machine 183/, /x86_64/);
  refuses(convert(patched(40, (b) => b.writeBigUInt64LE(BigInt(ko.length), 0))), /section header table at offset/, /outside the file/);
  refuses(convert(patched(40, (b) => b.writeBigUInt64LE(0xffffffffffffffffn, 0))), /e_shoff/);
  refuses(convert(patched(60, (b) => b.writeUInt16LE(0xfff0, 0))), /section header table/);
  refuses(convert(patched(62, (b) => b.writeUInt16LE(200, 0))), /e_shstrndx 200/);
  refuses(convert(ko.subarray(0, ko.length - 10)), /section header table/, /outside the file/);
  // section [1] (.text): data offset past the end, bad alignment, name outside .shstrtab
  refuses(convert(patched(shoff + 64 + 24, (b) => b.writeBigUInt64LE(BigInt(ko.length), 0))), /section header \[1\]/, /runs past the end of the file/);
  refuses(convert(patched(shoff + 64 + 48, (b) => b.writeBigUInt64LE(3n, 0))), /section header \[1\]/, /sh_addralign 0x3/);
  refuses(convert(patched(shoff + 64, (b) => b.writeUInt32LE(0x7fffffff, 0))), /section header \[1\]/, /name offset 0x7fffffff/);
  // .rela.text (section [2]): a symbol index outside .symtab
  const relaOff = Number(ko.readBigUInt64LE(shoff + 2 * 64 + 24));
  refuses(convert(patched(relaOff + 12, (b) => b.writeUInt32LE(999, 0))), /\.rela\.text entry 0/, /symbol index 999/);
  // .symtab with a wrong entry size
  const symtabHdr = shoff + 64 * readElf(ko).section('.symtab').index;
  refuses(convert(patched(symtabHdr + 56, (b) => b.writeBigUInt64LE(16n, 0))), /\.symtab/, /entry size 16/);
  refuses(() => undefinedSymbols(Buffer.from('garbage')), /truncated/);
});

test('synthetic module: seeded byte mutations give a result or a KlpRelocError, never another exception', () => {
  const base = synthetic();
  const shoff = Number(base.readBigUInt64LE(40));
  const rand = rng(20261201);
  let refused = 0;
  let converted = 0;
  for (let k = 0; k < 3000; k++) {
    const b = Buffer.from(base);
    const edits = 1 + Math.floor(rand() * 4);
    for (let e = 0; e < edits; e++) {
      // half the edits hit the headers, where offsets and sizes live
      const region = rand() < 0.5 ? [0, 64] : rand() < 0.6 ? [shoff, b.length] : [0, b.length];
      const at = region[0] + Math.floor(rand() * (region[1] - region[0]));
      b[at] = rand() < 0.3 ? 0xff : Math.floor(rand() * 256);
    }
    const input = rand() < 0.1 ? b.subarray(0, Math.floor(rand() * b.length)) : b;
    for (const run of [() => convertKlpRelocations(input, SYN_MAP, { exported: new Set(['printk']) }), () => undefinedSymbols(input)]) {
      try {
        run();
        converted++;
      } catch (e) {
        assert.ok(e instanceof KlpRelocError, `mutation ${k}: ${e instanceof Error ? e.stack : String(e)}`);
        assert.doesNotMatch(e.message, /^malformed module:/, `mutation ${k}: refused by the safety net, not by an explicit bounds check`);
        refused++;
      }
    }
  }
  assert.ok(refused > 500 && converted > 500, `refused ${refused}, converted ${converted}`);
});

test('readModuleSymvers reads 5.10+ lines, namespaces, and the 5.4 field order', () => {
  const m = readModuleSymvers(
    [
      '0x4c9d28b0\tphys_base\tvmlinux\tEXPORT_SYMBOL\t',
      '0x039823de\tinit_uts_ns\tvmlinux\tEXPORT_SYMBOL_GPL',
      '0x84b45156\tinsert_resource_expand_to_fit\tvmlinux\tEXPORT_SYMBOL_GPL\tCXL\r',
      '0x12345678\tnft_register_expr\tnet/netfilter/nf_tables\tEXPORT_SYMBOL_GPL\t',
      '0x11111111\tusb_stor_probe1\tUSB_STORAGE\tdrivers/usb/storage/usb-storage\tEXPORT_SYMBOL_GPL',
      '',
      'not a symvers line',
      '0x00000000\tphys_base\tother\tEXPORT_SYMBOL\t',
    ].join('\n'),
  );
  assert.deepEqual([...m.keys()], ['phys_base', 'init_uts_ns', 'insert_resource_expand_to_fit', 'nft_register_expr', 'usb_stor_probe1']);
  assert.deepEqual(m.get('phys_base'), { crc: '0x4c9d28b0', module: 'vmlinux', export: 'EXPORT_SYMBOL' }, 'first entry wins; empty namespace is absent');
  assert.deepEqual(m.get('init_uts_ns'), { crc: '0x039823de', module: 'vmlinux', export: 'EXPORT_SYMBOL_GPL' });
  assert.deepEqual(m.get('insert_resource_expand_to_fit'), { crc: '0x84b45156', module: 'vmlinux', export: 'EXPORT_SYMBOL_GPL', namespace: 'CXL' });
  assert.equal(m.get('nft_register_expr')?.module, 'net/netfilter/nf_tables');
  assert.deepEqual(m.get('usb_stor_probe1'), { crc: '0x11111111', module: 'drivers/usb/storage/usb-storage', export: 'EXPORT_SYMBOL_GPL', namespace: 'USB_STORAGE' });
});

// ---------------------------------------------------------------------------
// A real module built with kbuild against Debian's 6.1 headers

function headersDir(): string | undefined {
  if (!existsSync('/usr/src')) return undefined;
  const dirs = readdirSync('/usr/src')
    .map((d) => /^linux-headers-6\.1\.0-(\d+)-amd64$/.exec(d))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]))
    .map((m) => join('/usr/src', m[0]))
    .filter((d) => existsSync(join(d, 'Makefile')) && existsSync(join(d, 'Module.symvers')));
  return dirs[0];
}

const READELF = '/usr/bin/readelf';
const HEADERS = headersDir();
const hasTool = (cmd: string) => spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;
const SKIP_REAL = !HEADERS
  ? 'no /usr/src/linux-headers-6.1.0-*-amd64 with a Makefile and Module.symvers (apt-get install linux-headers-6.1.0-<n>-amd64)'
  : !hasTool('make') || !hasTool('gcc')
    ? 'make or gcc is not installed: cannot build a module against the headers'
    : !existsSync(READELF)
      ? `${READELF} (binutils) is not installed`
      : false;

const LIVEPATCH_SOURCE = `// SPDX-License-Identifier: GPL-2.0-or-later
/* In the style of samples/livepatch/livepatch-sample.c, using non-exported symbols. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/printk.h>
#include <linux/seq_file.h>

/* linux_proc_banner is declared in <linux/printk.h> but not exported. */
extern int klpsym_cmdline_proc_show(struct seq_file *m, void *v);
extern const char klpsym_ucode_path_pos2[];
extern int klpsym_klpt_busy;

static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
\tseq_printf(m, "[lens] %s", linux_proc_banner);
\tseq_printf(m, "[lens] %s\\n", klpsym_ucode_path_pos2);
\treturn klpsym_cmdline_proc_show(m, v);
}

static int livepatch_klpt_value(void)
{
\treturn klpsym_klpt_busy + 1;
}

static struct klp_func funcs[] = {
\t{
\t\t.old_name = "cmdline_proc_show",
\t\t.new_func = livepatch_cmdline_proc_show,
\t}, { }
};

static struct klp_func klpt_funcs[] = {
\t{
\t\t.old_name = "klpt_value",
\t\t.new_func = livepatch_klpt_value,
\t}, { }
};

static struct klp_object objs[] = {
\t{
\t\t/* name being NULL means vmlinux */
\t\t.funcs = funcs,
\t}, {
\t\t.name = "klptarget",
\t\t.funcs = klpt_funcs,
\t}, { }
};

static struct klp_patch patch = {
\t.mod = THIS_MODULE,
\t.objs = objs,
};

static int livepatch_init(void)
{
\treturn klp_enable_patch(&patch);
}

static void livepatch_exit(void)
{
}

module_init(livepatch_init);
module_exit(livepatch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
`;

const PLAIN_SOURCE = `// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/printk.h>

static int __init plain_init(void)
{
\tpr_info("%s", linux_proc_banner);
\treturn 0;
}

module_init(plain_init);
MODULE_LICENSE("GPL");
`;

const REAL_MAP: KlpSymbol[] = [
  { placeholder: 'linux_proc_banner', object: 'vmlinux', name: 'linux_proc_banner', sympos: 0 },
  { placeholder: 'klpsym_cmdline_proc_show', object: 'vmlinux', name: 'cmdline_proc_show', sympos: 0 },
  { placeholder: 'klpsym_ucode_path_pos2', object: 'vmlinux', name: 'ucode_path', sympos: 2 },
  { placeholder: 'klpsym_klpt_busy', object: 'klptarget', name: 'busy_in_patched', sympos: 0 },
];

let built: { dir: string; livepatch: Buffer; plain: Buffer } | undefined;

/** Build lp_lens.ko (livepatch) and lp_plain.ko (no livepatch=Y) once. */
function buildModules(): { dir: string; livepatch: Buffer; plain: Buffer } {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-reloc-'));
  writeFileSync(join(dir, 'lp_lens.c'), LIVEPATCH_SOURCE);
  writeFileSync(join(dir, 'lp_plain.c'), PLAIN_SOURCE);
  writeFileSync(join(dir, 'Kbuild'), 'obj-m := lp_lens.o lp_plain.o\n');
  const make = spawnSync('make', ['-C', HEADERS!, `M=${dir}`, 'KBUILD_MODPOST_WARN=1', 'modules'], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(make.status, 0, `kbuild failed (${make.error?.message ?? make.signal ?? make.status}):\n${make.stdout}\n${make.stderr}`);
  assert.match(make.stderr + make.stdout, /"linux_proc_banner" \[.*lp_lens\.ko\] undefined/, 'modpost warns about the non-exported symbol');
  built = { dir, livepatch: readFileSync(join(dir, 'lp_lens.ko')), plain: readFileSync(join(dir, 'lp_plain.ko')) };
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return built;
}

interface ReadelfView {
  sections: { index: number; name: string; type: string; flags: string; link: number; info: number; entsize: number; align: number }[];
  symbols: { index: number; bind: string; ndx: string; name: string }[];
  relocs: Map<string, { offset: number; type: string; symbol: string; addend: number }[]>;
}

/** readelf -W -S -s -r of a file, parsed; readelf must not warn. */
function readelf(path: string): ReadelfView {
  const r = spawnSync(READELF, ['-W', '-S', '-s', '-r', path], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'readelf finds nothing wrong');
  const view: ReadelfView = { sections: [], symbols: [], relocs: new Map() };
  let rela: string | undefined;
  for (const line of r.stdout.split('\n')) {
    const sec = /^\s*\[\s*(\d+)\] (\S+)\s+(\S+)\s+[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ ([0-9a-f]+)\s+([A-Za-z]*)\s+(\d+)\s+(\d+)\s+(\d+)$/.exec(line);
    if (sec) {
      view.sections.push({ index: +sec[1], name: sec[2], type: sec[3], entsize: parseInt(sec[4], 16), flags: sec[5], link: +sec[6], info: +sec[7], align: +sec[8] });
      continue;
    }
    const head = /^Relocation section '([^']+)'/.exec(line);
    if (head) {
      rela = head[1];
      view.relocs.set(rela, []);
      continue;
    }
    const rel = /^([0-9a-f]{16})\s+[0-9a-f]{16}\s+(\S+)\s+[0-9a-f]{16} (.+) ([+-]) ([0-9a-f]+)$/.exec(line);
    if (rel && rela) {
      view.relocs.get(rela)!.push({ offset: parseInt(rel[1], 16), type: rel[2], symbol: rel[3], addend: (rel[4] === '-' ? -1 : 1) * parseInt(rel[5], 16) });
      continue;
    }
    const sym = /^\s*(\d+): [0-9a-f]{16}\s+\d+ \S+\s+(\S+)\s+\S+\s+(UND|ABS|COM|OS \[0x[0-9a-f]+\]|\d+) ?(.*)$/.exec(line);
    if (sym) view.symbols.push({ index: +sym[1], bind: sym[2], ndx: sym[3], name: sym[4] });
  }
  const shnum = Number(/There are (\d+) section headers/.exec(r.stdout)?.[1]);
  const nsyms = Number(/Symbol table '\.symtab' contains (\d+) entries/.exec(r.stdout)?.[1]);
  assert.equal(view.sections.length, shnum - 1, 'every section header line parsed (all but [0])');
  assert.equal(view.symbols.length, nsyms, 'every symbol line parsed');
  for (const [name, list] of view.relocs) {
    const n = Number(new RegExp(`Relocation section '${name.replace(/\./g, '\\.')}' at offset 0x[0-9a-f]+ contains (\\d+) entr`).exec(r.stdout)?.[1]);
    assert.equal(list.length, n, `every relocation line of ${name} parsed`);
  }
  return view;
}

test('a kbuild-built livepatch module: non-exported symbols become klp relocations (readelf checks)', { skip: SKIP_REAL }, () => {
  const { dir, livepatch } = buildModules();
  const symvers = readModuleSymvers(readFileSync(join(HEADERS!, 'Module.symvers'), 'utf8'));
  assert.ok(symvers.size > 10000 && !symvers.has('linux_proc_banner') && symvers.has('seq_printf'));
  const exported = new Set(symvers.keys());
  const undefBefore = undefinedSymbols(livepatch);
  for (const k of REAL_MAP) assert.ok(undefBefore.includes(k.placeholder), `${k.placeholder} undefined in the built module`);

  const r = convertKlpRelocations(livepatch, REAL_MAP, { exported });
  const out = join(dir, 'lp_lens.klp.ko');
  writeFileSync(out, r.ko);
  const before = readelf(join(dir, 'lp_lens.ko'));
  const after = readelf(out);

  // every old section keeps its index, name and type; two new ones follow
  assert.deepEqual(after.sections.slice(0, before.sections.length).map((s) => [s.index, s.name, s.type]), before.sections.map((s) => [s.index, s.name, s.type]));
  const added = after.sections.slice(before.sections.length);
  assert.deepEqual(added.map((s) => s.name).sort(), ['.klp.rela.klptarget.text', '.klp.rela.vmlinux.text'], 'in order of first use in .rela.text');
  const index = (name: string) => after.sections.find((s) => s.name === name)!.index;
  for (const s of added) {
    assert.equal(s.type, 'RELA');
    assert.ok(s.flags.includes('A') && s.flags.includes('o'), `${s.name} flags ${s.flags}`);
    assert.equal(s.link, index('.symtab'));
    assert.equal(s.info, index('.text'));
    assert.equal(s.entsize, 24);
    assert.equal(s.align, 8);
  }

  // symbols: renamed in place, SHN_LIVEPATCH
  const sym = (name: string) => after.symbols.find((s) => s.name === name);
  const expected: [string, string][] = [
    ['linux_proc_banner', '.klp.sym.vmlinux.linux_proc_banner,0'],
    ['klpsym_cmdline_proc_show', '.klp.sym.vmlinux.cmdline_proc_show,0'],
    ['klpsym_ucode_path_pos2', '.klp.sym.vmlinux.ucode_path,2'],
    ['klpsym_klpt_busy', '.klp.sym.klptarget.busy_in_patched,0'],
  ];
  assert.equal(after.symbols.length, before.symbols.length);
  for (const [placeholder, klp] of expected) {
    const old = before.symbols.find((s) => s.name === placeholder);
    assert.ok(old && old.ndx === 'UND');
    assert.deepEqual(sym(klp), { index: old.index, bind: 'GLOBAL', ndx: 'OS [0xff20]', name: klp });
    assert.equal(sym(placeholder), undefined);
  }

  // relocations: out of .rela.text, into the section of their object
  const oldText = before.relocs.get('.rela.text')!;
  const newText = after.relocs.get('.rela.text')!;
  const vmlinux = after.relocs.get('.klp.rela.vmlinux.text')!;
  const klpt = after.relocs.get('.klp.rela.klptarget.text')!;
  const placeholders = new Set(REAL_MAP.map((k) => k.placeholder));
  const movedBefore = oldText.filter((x) => placeholders.has(x.symbol));
  assert.equal(movedBefore.length, 4);
  assert.equal(newText.length, oldText.length - movedBefore.length);
  assert.ok(newText.every((x) => !placeholders.has(x.symbol) && !x.symbol.startsWith('.klp.sym.')), 'moved relocations are gone from .rela.text');
  assert.deepEqual(
    newText,
    oldText.filter((x) => !placeholders.has(x.symbol)),
    'the other relocations are kept in order',
  );
  assert.ok(vmlinux.every((x) => x.symbol.startsWith('.klp.sym.vmlinux.')));
  assert.ok(klpt.every((x) => x.symbol.startsWith('.klp.sym.klptarget.')), 'a module-object section references no vmlinux symbol');
  const rename = new Map(expected);
  assert.deepEqual(
    [...vmlinux, ...klpt].map((x) => `${x.offset}:${x.type}:${x.symbol}:${x.addend}`).sort(),
    movedBefore.map((x) => `${x.offset}:${x.type}:${rename.get(x.symbol)}:${x.addend}`).sort(),
  );
  assert.ok(vmlinux.some((x) => x.symbol === '.klp.sym.vmlinux.cmdline_proc_show,0' && x.type === 'R_X86_64_PLT32' && x.addend === -4));
  assert.deepEqual(r.moved.map((m) => m.symbol).sort(), movedBefore.map((x) => rename.get(x.symbol)!).sort());

  // what stays undefined is exported by the target kernel
  const undefAfter = undefinedSymbols(r.ko);
  for (const k of REAL_MAP) assert.ok(!undefAfter.includes(k.placeholder));
  assert.deepEqual(undefAfter, undefBefore.filter((n) => !placeholders.has(n)));
  assert.ok(undefAfter.length > 0 && undefAfter.every((n) => exported.has(n)), `not in Module.symvers: ${undefAfter.filter((n) => !exported.has(n))}`);
  assert.deepEqual(r.warnings, []);
  assert.ok(convertKlpRelocations(livepatch, REAL_MAP, { exported }).ko.equals(r.ko), 'deterministic');

  // without the mapping for one placeholder, the warning names it
  const partial = convertKlpRelocations(livepatch, REAL_MAP.slice(0, 3), { exported });
  assert.equal(partial.warnings.length, 1);
  assert.match(partial.warnings[0], /^klpsym_klpt_busy .*Unknown symbol klpsym_klpt_busy/);
});

test('a kbuild-built module: bad input and bad mappings are refused with KlpRelocError', { skip: SKIP_REAL }, () => {
  const { livepatch, plain } = buildModules();
  const rand = rng(61);
  const noise = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(rand() * 256)));
  refuses(() => convertKlpRelocations(noise, REAL_MAP), /not an ELF file/);
  refuses(() => convertKlpRelocations(livepatch.subarray(0, livepatch.length >> 1), REAL_MAP), /section header table at offset 0x[0-9a-f]+/, /outside the file/);
  refuses(() => undefinedSymbols(livepatch.subarray(0, 63)), /truncated/);
  refuses(() => convertKlpRelocations(plain, [{ placeholder: 'linux_proc_banner', object: 'vmlinux', name: 'linux_proc_banner', sympos: 0 }]), /livepatch=Y/);
  refuses(() => convertKlpRelocations(livepatch, [...REAL_MAP, { placeholder: 'klpsym_typo', object: 'vmlinux', name: 'typo', sympos: 0 }]), /"klpsym_typo"/, /not an undefined symbol/);
  refuses(() => convertKlpRelocations(livepatch, [{ placeholder: 'seq_printf', object: 'vmlinux', name: 'seq_printf', sympos: 0 }, { placeholder: 'livepatch_init', object: 'vmlinux', name: 'x', sympos: 0 }]), /livepatch_init/, /defined in \.text/);
  refuses(() => convertKlpRelocations(livepatch, [{ placeholder: 'linux_proc_banner', object: 'vmlinux', name: 'linux_proc_banner,1', sympos: 0 }]), /linux_proc_banner,1/, /comma/);
  refuses(() => convertKlpRelocations(livepatch, [{ placeholder: 'klpsym_klpt_busy', object: 'klptarget.ko', name: 'busy_in_patched', sympos: 0 }]), /klptarget\.ko/, /dot/);
  // .modinfo with livepatch=Y patched out
  const at = livepatch.indexOf('livepatch=Y\0');
  assert.ok(at > 0);
  const noLivepatch = Buffer.from(livepatch);
  noLivepatch.write('livepatch=N', at, 'latin1');
  refuses(() => convertKlpRelocations(noLivepatch, REAL_MAP), /\.modinfo has no livepatch=Y/);
});
