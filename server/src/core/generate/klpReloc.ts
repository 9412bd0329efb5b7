/**
 * klp relocations for a kbuild-built livepatch module.
 *
 * A livepatch's replacement code often needs symbols the target kernel does
 * not export: statics of the patched file, globals without EXPORT_SYMBOL. The
 * author declares them `extern` (a placeholder name per symbol, since C cannot
 * declare two things with one name), builds the module with
 * `KBUILD_MODPOST_WARN=1` so modpost only warns about them, and this module
 * turns the resulting undefined references into what the livepatch core
 * resolves by name at load time (Documentation/livepatch/module-elf-format.rst,
 * verified on Debian's 6.1 in /work/shared/recipes/klp-relocations.md):
 *
 * - each mapped placeholder symbol is renamed `.klp.sym.<obj>.<name>,<sympos>`
 *   (the new name appended to `.strtab`) and gets st_shndx SHN_LIVEPATCH,
 *   keeping its index: the loader keeps a livepatch module's whole symbol table
 *   and relocations refer to symbols by index;
 * - the relocations of allocated sections that use those symbols move out of
 *   their `.rela.*` section into `.klp.rela.<obj>.<section>`, one per (object of
 *   the referenced symbol, target section), appended after the existing section
 *   headers so every existing index stays valid. Grouping by the symbol's object
 *   matters: a module-object section may not reference vmlinux symbols.
 *   Relocations of debug sections stay where they are (the loader skips them).
 *
 * Everything is checked before anything is written: the input must be an
 * x86_64 ELF64 little-endian relocatable object with `livepatch=Y` in
 * `.modinfo`, every offset and size is bounds-checked, and a relocated site
 * must still hold zeros (x86 refuses to overwrite anything else). Any refusal
 * is a `KlpRelocError` saying what is wrong and where. An appended module
 * signature is stripped (it would be invalid after the rewrite; sign again
 * after converting). The output is laid out afresh: ELF header, section data
 * in index order, section header table last. Same input, same bytes out.
 */

/** Every refusal: bad input, a bad mapping, a module the kernel would reject. */
export class KlpRelocError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KlpRelocError';
  }
}

/** One placeholder of the module and the symbol of the target kernel it stands for. */
export interface KlpSymbol {
  /** The undefined symbol the module was built with (e.g. `klpsym_cmdline_proc_show`). */
  placeholder: string;
  /** `vmlinux` or the kernel name of a module (underscores, as `lsmod` shows it); no dots. */
  object: string;
  /** The real symbol name in that object; may contain dots (`foo.isra.0`), never commas. */
  name: string;
  /** 0: the name is unique in the object; N >= 1: its N-th occurrence in kallsyms order. */
  sympos: number;
}

/** One relocation that moved into a `.klp.rela.*` section. */
export interface KlpMovedRelocation {
  /** The new section, e.g. `.klp.rela.vmlinux.text`. */
  section: string;
  /** The section patched, e.g. `.text`. */
  target: string;
  /** The renamed symbol, e.g. `.klp.sym.vmlinux.linux_proc_banner,0`. */
  symbol: string;
  /** The placeholder it was built with. */
  placeholder: string;
  /** R_X86_64_* type. */
  type: number;
  addend: number;
  /** Offset of the relocated site in `target`. */
  offset: number;
}

export interface KlpConvertResult {
  ko: Buffer;
  moved: KlpMovedRelocation[];
  /**
   * Each symbol still undefined after the conversion that is not in
   * `opts.exported` (the module would fail to load with "Unknown symbol"), and
   * each module-object relocation in a section the module loader reads before
   * livepatch writes such relocations.
   */
  warnings: string[];
  /** Bytes of an appended module signature that were dropped (0: none). */
  strippedSignature: number;
}

export interface KlpConvertOptions {
  /** Symbol names exported by the target kernel (the keys of `readModuleSymvers`). */
  exported?: ReadonlySet<string>;
}

export interface SymversEntry {
  module: string;
  namespace?: string;
  crc: string;
  export: string;
}

// ELF constants (elf.h; SHN_LIVEPATCH and SHF_RELA_LIVEPATCH from include/uapi/linux/elf.h).
const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const RELA_SIZE = 24;
const REL_SIZE = 16;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_REL = 1;
const EM_X86_64 = 62;
const SHT_NULL = 0;
const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHT_RELA = 4;
const SHT_NOBITS = 8;
const SHT_REL = 9;
const SHF_ALLOC = 0x2;
const SHF_INFO_LINK = 0x40;
const SHF_RELA_LIVEPATCH = 0x00100000;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const SHN_XINDEX = 0xffff;
const SHN_LIVEPATCH = 0xff20;
const STB_LOCAL = 0;
const STB_GLOBAL = 1;
/** Larger alignments are not found in kernel modules and would only inflate the output. */
const MAX_ALIGN = 0x10000;
/** Limits of the livepatch core's sscanf(".klp.sym.%55[^.].%511[^,],%lu"). */
const MAX_OBJECT_LEN = 55;
const MAX_NAME_LEN = 511;

/** Bytes the x86_64 module loader writes per relocation type (arch/x86/kernel/module.c); others it refuses. */
const X86_64_RELOC_WIDTH: ReadonlyMap<number, number> = new Map([
  [0, 0], // R_X86_64_NONE
  [1, 8], // R_X86_64_64
  [2, 4], // R_X86_64_PC32
  [4, 4], // R_X86_64_PLT32
  [10, 4], // R_X86_64_32
  [11, 4], // R_X86_64_32S
  [24, 8], // R_X86_64_PC64
]);

const SIGNATURE_MAGIC = Buffer.from('~Module signature appended~\n', 'latin1');
/** struct module_signature: algo, hash, id_type, signer_len, key_id_len, pad[3], be32 sig_len. */
const SIGNATURE_INFO_SIZE = 12;

// ---------------------------------------------------------------------------
// Reading

interface Section {
  index: number;
  name: string;
  nameOffset: number;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** The raw header, copied to the output with offset and size updated. */
  header: Buffer;
  /** File contents (empty for SHT_NOBITS and SHT_NULL). */
  data: Buffer;
}

interface ElfSymbol {
  index: number;
  name: string;
  bind: number;
  shndx: number;
}

interface ElfModule {
  header: Buffer;
  sections: Section[];
  shstrtab: Section;
  symtab: Section;
  strtab: Section;
  symbols: ElfSymbol[];
}

const hex = (n: number) => `0x${n.toString(16)}`;

function sectionLabel(s: Section): string {
  return s.name ? `section ${s.name} [${s.index}]` : `section [${s.index}]`;
}

/** A 64-bit field as a number, refused when it cannot be an offset or size in a real file. */
function u64(buf: Buffer, at: number, what: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new KlpRelocError(`${what} is ${hex(Number(v))}: far beyond any file size`);
  return Number(v);
}

/** A NUL-terminated string inside a string table section. */
function stringAt(table: Section, offset: number, what: string): string {
  if (offset >= table.data.length) {
    throw new KlpRelocError(`${what}: name offset ${hex(offset)} is outside ${sectionLabel(table)} (${table.data.length} bytes)`);
  }
  const end = table.data.indexOf(0, offset);
  if (end < 0) throw new KlpRelocError(`${what}: name at ${hex(offset)} in ${sectionLabel(table)} has no terminating NUL`);
  return table.data.toString('utf8', offset, end);
}

/** The ELF part of a signed module, and how many signature bytes followed it. */
function stripSignature(ko: Buffer): { elf: Buffer; stripped: number } {
  const n = ko.length;
  if (n < SIGNATURE_MAGIC.length || !ko.subarray(n - SIGNATURE_MAGIC.length).equals(SIGNATURE_MAGIC)) return { elf: ko, stripped: 0 };
  const info = n - SIGNATURE_MAGIC.length - SIGNATURE_INFO_SIZE;
  if (info < 0) throw new KlpRelocError(`module signature trailer at offset ${hex(n - SIGNATURE_MAGIC.length)} has no signature info before it`);
  const sigLen = ko.readUInt32BE(info + 8);
  const stripped = SIGNATURE_MAGIC.length + SIGNATURE_INFO_SIZE + sigLen;
  if (stripped > n) throw new KlpRelocError(`module signature at the end claims ${sigLen} bytes, more than the file holds (${n} bytes)`);
  return { elf: ko.subarray(0, n - stripped), stripped };
}

function readElfHeader(elf: Buffer): { shoff: number; shnum: number; shstrndx: number } {
  if (elf.length < EHDR_SIZE) throw new KlpRelocError(`truncated: ${elf.length} bytes, an ELF64 header needs ${EHDR_SIZE}`);
  if (elf.readUInt32BE(0) !== 0x7f454c46) throw new KlpRelocError('not an ELF file (no \\x7fELF magic at offset 0)');
  if (elf[4] !== ELFCLASS64) throw new KlpRelocError(`not ELF64 (EI_CLASS ${elf[4]} at offset 4; x86_64 kernel modules are ELF64)`);
  if (elf[5] !== ELFDATA2LSB) throw new KlpRelocError(`not little-endian (EI_DATA ${elf[5]} at offset 5)`);
  const type = elf.readUInt16LE(16);
  if (type !== ET_REL) throw new KlpRelocError(`e_type ${type} at offset 16 is not ET_REL: a .ko is a relocatable object`);
  const machine = elf.readUInt16LE(18);
  if (machine !== EM_X86_64) throw new KlpRelocError(`e_machine ${machine} at offset 18 is not x86_64 (62): only x86_64 relocations are known`);
  const phnum = elf.readUInt16LE(56);
  if (phnum !== 0) throw new KlpRelocError(`${phnum} program headers (e_phnum at offset 56): a kernel module has none`);
  const shentsize = elf.readUInt16LE(58);
  if (shentsize !== SHDR_SIZE) throw new KlpRelocError(`e_shentsize ${shentsize} at offset 58 is not ${SHDR_SIZE}`);
  const shoff = u64(elf, 40, 'e_shoff (offset 40)');
  const shnum = elf.readUInt16LE(60);
  const shstrndx = elf.readUInt16LE(62);
  if (shnum === 0) {
    throw new KlpRelocError(shoff === 0 ? 'no section headers (e_shnum 0)' : 'extended section numbering (e_shnum 0 with a section header table) is not supported');
  }
  if (shstrndx === SHN_XINDEX) throw new KlpRelocError('extended section name index (e_shstrndx SHN_XINDEX) is not supported');
  if (shstrndx === SHN_UNDEF || shstrndx >= shnum) throw new KlpRelocError(`e_shstrndx ${shstrndx} at offset 62 is not a section (e_shnum ${shnum})`);
  if (shoff < EHDR_SIZE || shoff + shnum * SHDR_SIZE > elf.length) {
    throw new KlpRelocError(`section header table at offset ${hex(shoff)} (${shnum} × ${SHDR_SIZE} bytes) is outside the file (${elf.length} bytes)`);
  }
  return { shoff, shnum, shstrndx };
}

function readSectionHeader(elf: Buffer, index: number, at: number): Section {
  const where = `section header [${index}] at offset ${hex(at)}`;
  const header = Buffer.from(elf.subarray(at, at + SHDR_SIZE));
  const type = header.readUInt32LE(4);
  const flags = u64(header, 8, `${where}: sh_flags`);
  const offset = u64(header, 24, `${where}: sh_offset`);
  const size = u64(header, 32, `${where}: sh_size`);
  const addralign = u64(header, 48, `${where}: sh_addralign`);
  const entsize = u64(header, 56, `${where}: sh_entsize`);
  if (addralign > MAX_ALIGN || (addralign & (addralign - 1)) !== 0) {
    throw new KlpRelocError(`${where}: sh_addralign ${hex(addralign)} is not a power of two up to ${hex(MAX_ALIGN)}`);
  }
  let data: Buffer = Buffer.alloc(0);
  if (type !== SHT_NOBITS && type !== SHT_NULL) {
    if (offset + size > elf.length) {
      throw new KlpRelocError(`${where}: data at offset ${hex(offset)} size ${hex(size)} runs past the end of the file (${elf.length} bytes)`);
    }
    data = elf.subarray(offset, offset + size);
  }
  return {
    index,
    name: '',
    nameOffset: header.readUInt32LE(0),
    type,
    flags,
    offset,
    size,
    link: header.readUInt32LE(40),
    info: header.readUInt32LE(44),
    addralign,
    entsize,
    header,
    data,
  };
}

function readSymbols(symtab: Section, strtab: Section): ElfSymbol[] {
  const count = symtab.data.length / SYM_SIZE;
  const symbols: ElfSymbol[] = [];
  for (let k = 0; k < count; k++) {
    const at = k * SYM_SIZE;
    const info = symtab.data[at + 4];
    symbols.push({
      index: k,
      name: stringAt(strtab, symtab.data.readUInt32LE(at), `symbol ${k} of ${symtab.name}`),
      bind: info >> 4,
      shndx: symtab.data.readUInt16LE(at + 6),
    });
  }
  return symbols;
}

/** Section headers, names and the symbol table, every offset checked against the file. */
function parseModule(elf: Buffer): ElfModule {
  const { shoff, shnum, shstrndx } = readElfHeader(elf);
  const sections: Section[] = [];
  for (let k = 0; k < shnum; k++) sections.push(readSectionHeader(elf, k, shoff + k * SHDR_SIZE));
  const shstrtab = sections[shstrndx];
  if (shstrtab.type !== SHT_STRTAB) throw new KlpRelocError(`section [${shstrndx}] named by e_shstrndx is not a string table (type ${shstrtab.type})`);
  for (const s of sections) if (s.index !== 0) s.name = stringAt(shstrtab, s.nameOffset, `section header [${s.index}]`);

  const symtabs = sections.filter((s) => s.type === SHT_SYMTAB);
  if (symtabs.length === 0) throw new KlpRelocError('no symbol table (.symtab): a stripped module cannot carry klp relocations');
  if (symtabs.length > 1) throw new KlpRelocError(`${symtabs.length} symbol tables (${symtabs.map(sectionLabel).join(', ')}); a module has one`);
  const symtab = symtabs[0];
  if (symtab.entsize !== SYM_SIZE || symtab.size % SYM_SIZE !== 0) {
    throw new KlpRelocError(`${sectionLabel(symtab)}: entry size ${symtab.entsize}, size ${symtab.size}; ELF64 symbols are ${SYM_SIZE} bytes`);
  }
  if (symtab.link === 0 || symtab.link >= shnum || sections[symtab.link].type !== SHT_STRTAB) {
    throw new KlpRelocError(`${sectionLabel(symtab)}: sh_link ${symtab.link} is not a string table`);
  }
  const strtab = sections[symtab.link];
  return { header: Buffer.from(elf.subarray(0, EHDR_SIZE)), sections, shstrtab, symtab, strtab, symbols: readSymbols(symtab, strtab) };
}

/** Parse a .ko (signed or not) or throw KlpRelocError; nothing else escapes. */
function parseKo(ko: Buffer): { module: ElfModule; stripped: number } {
  return refuseOnly(() => {
    if (!Buffer.isBuffer(ko)) throw new KlpRelocError('the module must be a Buffer');
    const { elf, stripped } = stripSignature(ko);
    return { module: parseModule(elf), stripped };
  });
}

/** Run `fn`; any error that is not already a KlpRelocError becomes one (a missed bound must not escape as a RangeError). */
function refuseOnly<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KlpRelocError) throw e;
    throw new KlpRelocError(`malformed module: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---------------------------------------------------------------------------
// Checks of the module and the mapping

function requireLivepatchModinfo(m: ElfModule): void {
  const modinfo = m.sections.find((s) => s.name === '.modinfo' && s.type !== SHT_NOBITS);
  if (!modinfo) throw new KlpRelocError('no .modinfo section: not a kbuild-built kernel module');
  const entries = modinfo.data.toString('latin1').split('\0');
  if (!entries.includes('livepatch=Y')) {
    throw new KlpRelocError('.modinfo has no livepatch=Y: add MODULE_INFO(livepatch, "Y") or the loader will not keep the klp relocations');
  }
}

function checkMapping(symbols: readonly KlpSymbol[]): Map<string, KlpSymbol> {
  if (!Array.isArray(symbols)) throw new KlpRelocError('the symbol mapping must be an array');
  const byPlaceholder = new Map<string, KlpSymbol>();
  for (const s of symbols) {
    const label = `placeholder "${s?.placeholder}"`;
    if (typeof s?.placeholder !== 'string' || s.placeholder === '') throw new KlpRelocError('a mapping entry has an empty placeholder');
    if (typeof s.name !== 'string' || s.name === '') throw new KlpRelocError(`${label}: empty symbol name`);
    if (s.name.includes(',')) throw new KlpRelocError(`${label}: symbol name "${s.name}" contains a comma (the livepatch core reads the name up to the first comma)`);
    if (/[\0\s]/.test(s.name)) throw new KlpRelocError(`${label}: symbol name "${s.name}" contains whitespace or NUL`);
    if (Buffer.byteLength(s.name) > MAX_NAME_LEN) throw new KlpRelocError(`${label}: symbol name "${s.name}" is longer than ${MAX_NAME_LEN} bytes`);
    if (typeof s.object !== 'string' || s.object === '') throw new KlpRelocError(`${label} (${s.name}): empty object name (vmlinux or a module name)`);
    if (s.object.includes('.')) throw new KlpRelocError(`${label} (${s.name}): object "${s.object}" contains a dot (use vmlinux or the module name, e.g. nf_tables, not nf_tables.ko)`);
    if (/[,\-\0\s]/.test(s.object)) throw new KlpRelocError(`${label} (${s.name}): object "${s.object}" is not a kernel module name (underscores, no '-', ',' or spaces)`);
    if (Buffer.byteLength(s.object) > MAX_OBJECT_LEN) throw new KlpRelocError(`${label} (${s.name}): object "${s.object}" is longer than ${MAX_OBJECT_LEN} bytes`);
    if (!Number.isSafeInteger(s.sympos) || s.sympos < 0) throw new KlpRelocError(`${label} (${s.name}): sympos ${s.sympos} is not 0 (unique) or a positive position`);
    if (byPlaceholder.has(s.placeholder)) throw new KlpRelocError(`${label} is mapped twice`);
    byPlaceholder.set(s.placeholder, s);
  }
  return byPlaceholder;
}

export function klpSymbolName(s: Pick<KlpSymbol, 'object' | 'name' | 'sympos'>): string {
  return `.klp.sym.${s.object}.${s.name},${s.sympos}`;
}

/** `.klp.rela.vmlinux.text` for `.text` (the docs' spelling; the kernel reads only the object). */
export function klpRelaSectionName(object: string, target: string): string {
  return `.klp.rela.${object}.${target.replace(/^\./, '')}`;
}

function describeSymbolState(m: ElfModule, placeholder: string): string {
  const found = m.symbols.filter((s) => s.index !== 0 && s.name === placeholder);
  if (found.length === 0) return 'there is no such symbol';
  const s = found[0];
  if (s.shndx === SHN_LIVEPATCH) return 'it is already a livepatch symbol';
  if (s.shndx === SHN_UNDEF) return 'it is a local undefined symbol';
  if (s.shndx >= SHN_LORESERVE) return `it has the special section index ${hex(s.shndx)}`;
  const sec = s.shndx < m.sections.length ? m.sections[s.shndx].name : `section [${s.shndx}]`;
  return `it is defined in ${sec}`;
}

/** Symbol indices of the placeholders: undefined, not local. */
function placeholderSymbols(m: ElfModule, mapping: Map<string, KlpSymbol>): Map<number, KlpSymbol> {
  const converted = new Map<number, KlpSymbol>();
  for (const s of m.symbols) {
    const k = mapping.get(s.name);
    if (s.index !== 0 && k && s.shndx === SHN_UNDEF && s.bind !== STB_LOCAL) converted.set(s.index, k);
  }
  const seen = new Set([...converted.values()].map((k) => k.placeholder));
  for (const placeholder of mapping.keys()) {
    if (!seen.has(placeholder)) {
      throw new KlpRelocError(`placeholder "${placeholder}" is not an undefined symbol of the module: ${describeSymbolState(m, placeholder)}`);
    }
  }
  return converted;
}

// ---------------------------------------------------------------------------
// Building the new contents

/** A string table that grows by appending (existing offsets stay valid). */
class StringTableBuilder {
  private readonly parts: Buffer[] = [];
  private size: number;
  private readonly added = new Map<string, number>();

  constructor(private readonly base: Buffer) {
    this.size = base.length;
  }

  add(s: string): number {
    const known = this.added.get(s);
    if (known !== undefined) return known;
    const offset = this.size;
    const bytes = Buffer.from(`${s}\0`, 'utf8');
    this.parts.push(bytes);
    this.size += bytes.length;
    this.added.set(s, offset);
    return offset;
  }

  data(): Buffer {
    return this.parts.length ? Buffer.concat([this.base, ...this.parts]) : this.base;
  }
}

interface RelaGroup {
  object: string;
  target: Section;
  entries: Buffer[];
}

interface Relocations {
  /** New contents of the relocation sections that lost entries, by section index. */
  shrunk: Map<number, Buffer>;
  /** In order of first use: by relocation section, then entry. */
  groups: RelaGroup[];
  /** In relocation order, each with the group it joined. */
  moved: (Omit<KlpMovedRelocation, 'section'> & { group: RelaGroup })[];
}

function checkSiteIsZero(target: Section, offset: number, type: number, symbol: string, where: string): void {
  const width = X86_64_RELOC_WIDTH.get(type);
  if (width === undefined) {
    throw new KlpRelocError(`${where}: relocation type ${type} for ${symbol} is not one the x86_64 module loader applies`);
  }
  if (offset + width > target.size) {
    throw new KlpRelocError(`${where}: relocation for ${symbol} at ${hex(offset)} is outside ${target.name} (${hex(target.size)} bytes)`);
  }
  if (target.type === SHT_NOBITS) return;
  const site = target.data.subarray(offset, offset + width);
  if (site.some((b) => b !== 0)) {
    throw new KlpRelocError(`${where}: the bytes at ${target.name}+${hex(offset)} relocated for ${symbol} are ${site.toString('hex')}, not zero (x86 refuses to overwrite them)`);
  }
}

/**
 * Pull the relocations that use converted symbols out of the relocation
 * sections of allocated sections, grouped by (object of the symbol, target).
 */
function splitRelocations(m: ElfModule, converted: Map<number, KlpSymbol>): Relocations {
  const shrunk = new Map<number, Buffer>();
  const groups = new Map<string, RelaGroup>();
  const moved: Relocations['moved'] = [];
  const symtabIndex = m.symtab.index;
  for (const rs of m.sections) {
    if ((rs.type !== SHT_RELA && rs.type !== SHT_REL) || rs.link !== symtabIndex) continue;
    if (rs.flags & SHF_RELA_LIVEPATCH) continue;
    if (rs.info === 0 || rs.info >= m.sections.length) throw new KlpRelocError(`${sectionLabel(rs)}: sh_info ${rs.info} is not a section`);
    const target = m.sections[rs.info];
    if (!(target.flags & SHF_ALLOC)) continue;
    const entSize = rs.type === SHT_RELA ? RELA_SIZE : REL_SIZE;
    if (rs.entsize !== entSize || rs.data.length % entSize !== 0) {
      throw new KlpRelocError(`${sectionLabel(rs)}: entry size ${rs.entsize}, size ${rs.size}; expected entries of ${entSize} bytes`);
    }
    const kept: Buffer[] = [];
    let changed = false;
    for (let at = 0; at < rs.data.length; at += entSize) {
      const entry = rs.data.subarray(at, at + entSize);
      const symIndex = entry.readUInt32LE(12);
      const where = `${rs.name} entry ${at / entSize}`;
      if (symIndex >= m.symbols.length) throw new KlpRelocError(`${where}: symbol index ${symIndex} is outside ${m.symtab.name} (${m.symbols.length} symbols)`);
      const klp = converted.get(symIndex);
      if (!klp) {
        kept.push(entry);
        continue;
      }
      if (rs.type === SHT_REL) throw new KlpRelocError(`${where}: ${klp.placeholder} is used by an SHT_REL relocation; only RELA can become a klp relocation`);
      const offset = u64(entry, 0, `${where}: r_offset`);
      const type = entry.readUInt32LE(8);
      const addend = Number(entry.readBigInt64LE(16));
      checkSiteIsZero(target, offset, type, klp.placeholder, where);
      const key = `${klp.object}\0${target.index}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { object: klp.object, target, entries: [] }));
      group.entries.push(entry);
      moved.push({ target: target.name, symbol: klpSymbolName(klp), placeholder: klp.placeholder, type, addend, offset, group });
      changed = true;
    }
    if (changed) shrunk.set(rs.index, Buffer.concat(kept));
  }
  return { shrunk, groups: [...groups.values()], moved };
}

/** The symbol table with the placeholders renamed and marked SHN_LIVEPATCH; indices unchanged. */
function renameSymbols(m: ElfModule, converted: Map<number, KlpSymbol>, strtab: StringTableBuilder): Buffer {
  const out = Buffer.from(m.symtab.data);
  for (const [index, klp] of converted) {
    const at = index * SYM_SIZE;
    out.writeUInt32LE(strtab.add(klpSymbolName(klp)), at);
    out.writeUInt16LE(SHN_LIVEPATCH, at + 6);
    out.writeBigUInt64LE(0n, at + 8);
    out.writeBigUInt64LE(0n, at + 16);
  }
  return out;
}

/** Warnings about module-object relocations in sections the loader consumes before livepatch writes them. */
function lateRelocationWarnings(groups: RelaGroup[]): string[] {
  const ordinary = /^\.(text|data|rodata|bss)(\.|$)/;
  return groups
    .filter((g) => g.object !== 'vmlinux' && !ordinary.test(g.target.name))
    .map(
      (g) =>
        `${klpRelaSectionName(g.object, g.target.name)}: the module loader processes ${g.target.name} when the patch loads, ` +
        `before livepatch writes relocations for ${g.object} (6.1), so it sees zeros there`,
    );
}

/** Global undefined symbols, in symbol table order. */
function undefinedGlobals(symbols: ElfSymbol[], withWeak: boolean): string[] {
  return symbols
    .filter((s) => s.index !== 0 && s.name !== '' && s.shndx === SHN_UNDEF && (s.bind === STB_GLOBAL || (withWeak && s.bind !== STB_LOCAL)))
    .map((s) => s.name);
}

// ---------------------------------------------------------------------------
// Writing

interface OutSection {
  header: Buffer;
  type: number;
  addralign: number;
  data: Buffer;
  /** sh_size of SHT_NOBITS sections, which have no data in the file. */
  size: number;
}

function newRelaSectionHeader(nameOffset: number, m: ElfModule, target: Section, size: number): Buffer {
  const h = Buffer.alloc(SHDR_SIZE);
  h.writeUInt32LE(nameOffset, 0);
  h.writeUInt32LE(SHT_RELA, 4);
  h.writeBigUInt64LE(BigInt(SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH), 8);
  h.writeBigUInt64LE(BigInt(size), 32);
  h.writeUInt32LE(m.symtab.index, 40);
  h.writeUInt32LE(target.index, 44);
  h.writeBigUInt64LE(8n, 48);
  h.writeBigUInt64LE(BigInt(RELA_SIZE), 56);
  return h;
}

const alignUp = (n: number, a: number) => (a > 1 ? Math.ceil(n / a) * a : n);

/**
 * ELF header, section data in index order (each at its alignment), section
 * header table last. `maxSize` bounds the padding corrupt alignments could add.
 */
function layout(elfHeader: Buffer, sections: OutSection[], maxSize: number): Buffer {
  const offsets: number[] = [];
  let end = EHDR_SIZE;
  for (const s of sections) {
    if (s.type === SHT_NULL) {
      offsets.push(0);
      continue;
    }
    end = alignUp(end, s.addralign);
    offsets.push(end);
    if (s.type !== SHT_NOBITS) end += s.data.length;
  }
  const shoff = alignUp(end, 8);
  if (shoff > maxSize) throw new KlpRelocError(`the section alignments would pad the output to ${hex(shoff)} bytes, far more than the module's size`);
  const out = Buffer.alloc(shoff + sections.length * SHDR_SIZE);
  elfHeader.copy(out, 0);
  out.writeBigUInt64LE(0n, 32); // e_phoff: no program headers
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(sections.length, 60);
  sections.forEach((s, k) => {
    const h = Buffer.from(s.header);
    if (s.type !== SHT_NULL) {
      h.writeBigUInt64LE(BigInt(offsets[k]), 24);
      h.writeBigUInt64LE(BigInt(s.type === SHT_NOBITS ? s.size : s.data.length), 32);
      if (s.type !== SHT_NOBITS) s.data.copy(out, offsets[k]);
    }
    h.copy(out, shoff + k * SHDR_SIZE);
  });
  return out;
}

// ---------------------------------------------------------------------------
// API

/**
 * Turn the undefined placeholders of a built livepatch module into klp
 * relocations. Throws KlpRelocError on malformed input, a module without
 * `livepatch=Y`, a bad mapping or a relocated site that is not zero.
 */
export function convertKlpRelocations(ko: Buffer, symbols: KlpSymbol[], opts: KlpConvertOptions = {}): KlpConvertResult {
  const { module: m, stripped } = parseKo(ko);
  return refuseOnly(() => {
    requireLivepatchModinfo(m);
    const converted = placeholderSymbols(m, checkMapping(symbols));
    const rel = splitRelocations(m, converted);

    // .strtab and .shstrtab are usually distinct, but one table may serve both.
    const tables = new Map<number, StringTableBuilder>();
    const table = (s: Section) => tables.get(s.index) ?? tables.set(s.index, new StringTableBuilder(s.data)).get(s.index)!;
    const symtabData = renameSymbols(m, converted, table(m.strtab));
    const added = rel.groups.map((g) => {
      const name = klpRelaSectionName(g.object, g.target.name);
      const data = Buffer.concat(g.entries);
      return { name, data, header: newRelaSectionHeader(table(m.shstrtab).add(name), m, g.target, data.length) };
    });
    if (m.sections.length + added.length >= SHN_LORESERVE) {
      throw new KlpRelocError(`${m.sections.length + added.length} sections would need extended section numbering, which is not supported`);
    }

    const out: OutSection[] = m.sections.map((s) => {
      let data = s.data;
      if (s.index === m.symtab.index) data = symtabData;
      else if (tables.has(s.index)) data = tables.get(s.index)!.data();
      else if (rel.shrunk.has(s.index)) data = rel.shrunk.get(s.index)!;
      return { header: s.header, type: s.type, addralign: s.addralign, data, size: s.size };
    });
    for (const a of added) out.push({ header: a.header, type: SHT_RELA, addralign: 8, data: a.data, size: a.data.length });

    const moved = rel.moved.map(({ group, ...r }) => ({ section: klpRelaSectionName(group.object, group.target.name), ...r }));

    const remaining = m.symbols.map((s) => (converted.has(s.index) ? { ...s, shndx: SHN_LIVEPATCH } : s));
    const warnings: string[] = [];
    if (opts.exported) {
      for (const name of undefinedGlobals(remaining, false)) {
        if (!opts.exported.has(name)) warnings.push(`${name} is still undefined and not exported by the target kernel: the module would fail to load with "Unknown symbol ${name}"`);
      }
    }
    warnings.push(...lateRelocationWarnings(rel.groups));
    const dataSize = out.reduce((n, s) => n + s.data.length, EHDR_SIZE);
    return { ko: layout(m.header, out, 2 * dataSize + 0x100000), moved, warnings, strippedSignature: stripped };
  });
}

/**
 * Names of the undefined global (and weak) symbols of a module, in symbol
 * table order: what the loader must resolve from the kernel's exports.
 */
export function undefinedSymbols(ko: Buffer): string[] {
  const { module: m } = parseKo(ko);
  return undefinedGlobals(m.symbols, true);
}

/**
 * Parse Module.symvers: `crc\tsymbol\tmodule\texport_type[\tnamespace]` (5.10
 * and later). The 5.4–5.9 order `crc\tsymbol\tnamespace\tmodule\texport_type`
 * is recognised by where the EXPORT_* field is. Lines that fit neither are
 * skipped; the first entry of a symbol wins.
 */
export function readModuleSymvers(text: string): Map<string, SymversEntry> {
  const out = new Map<string, SymversEntry>();
  for (const line of text.split(/\r?\n/)) {
    const f = line.split('\t');
    if (f.length < 4 || !f[1]) continue;
    let entry: SymversEntry | undefined;
    if (f[3].startsWith('EXPORT_')) entry = { crc: f[0], module: f[2], export: f[3], namespace: f[4] || undefined };
    else if (f.length >= 5 && f[4].startsWith('EXPORT_')) entry = { crc: f[0], module: f[3], export: f[4], namespace: f[2] || undefined };
    if (!entry) continue;
    if (entry.namespace === undefined) delete entry.namespace;
    if (!out.has(f[1])) out.set(f[1], entry);
  }
  return out;
}
