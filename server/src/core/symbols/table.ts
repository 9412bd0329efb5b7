/**
 * The target kernel's symbol table: which functions and data the running
 * kernel really has, in which object (vmlinux or a module), in what order.
 *
 * A livepatch resolves everything by name at load time, so the symbol table of
 * the exact target kernel decides what a generated module may reference: a
 * static function the compiler inlined into every caller has no entry (a klp
 * relocation to it fails with "symbol not found"), a static name defined in
 * several files has several (a relocation needs its position, `sympos`).
 *
 * Three inputs give it:
 * - `System.map` (`nm -n vmlinux`): vmlinux only. Debian's image package ships
 *   a one-line placeholder instead; it is recognised and refused with a hint.
 * - `/proc/kallsyms` of a live machine: vmlinux and the loaded modules
 *   (`[module]`). Read as non-root every address is 0; the order, which is all
 *   `sympos` counts, is kept.
 * - a `vmlinux` ELF (the -dbg package's): its `STT_FILE` symbols tell which
 *   source file each local symbol comes from.
 *
 * Within an object, symbols keep kallsyms order (ascending address): the
 * order the livepatch core counts `sympos` in.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';

export type SymbolSource = 'system.map' | 'kallsyms' | 'vmlinux';

export interface KernelSymbol {
  name: string;
  /** nm type letter: t/T text, d/D data, b/B bss, r/R read-only, w/W/v/V weak; lower case is local. */
  type: string;
  /** `vmlinux` or a module's name as lsmod shows it. */
  object: string;
  /** Source file basename of a local symbol (vmlinux input only). */
  file?: string;
  /** Position among the object's symbols, in kallsyms order. */
  index: number;
}

/** A symbol table that cannot be read: the message names the file and, where it can, the line. */
export class SymbolTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SymbolTableError';
  }
}

/** Names the kernel's kallsyms and livepatch never resolve to code of their own. */
const NOISE = /^(__pfx_|__cfi_|__kstrtab_|__kstrtabns_|__ksymtab_|__crc_|\.L)/;

export class SymbolTable {
  private readonly byName = new Map<string, KernelSymbol[]>();
  private readonly byObject = new Map<string, KernelSymbol[]>();

  constructor(
    readonly source: SymbolSource,
    readonly path: string,
    symbols: Iterable<Omit<KernelSymbol, 'index'>>,
    /** Read without root: addresses are zero (order still holds). */
    readonly addressesHidden = false,
  ) {
    for (const s of symbols) {
      const list = this.byObject.get(s.object) ?? [];
      if (list.length === 0) this.byObject.set(s.object, list);
      const sym: KernelSymbol = { ...s, index: list.length };
      list.push(sym);
      const same = this.byName.get(s.name);
      if (same) same.push(sym);
      else this.byName.set(s.name, [sym]);
    }
  }

  /** Every entry of `name`, optionally in one object, in kallsyms order. */
  lookup(name: string, object?: string): KernelSymbol[] {
    const all = this.byName.get(name) ?? [];
    return object === undefined ? all : all.filter((s) => s.object === object);
  }

  has(name: string, object?: string): boolean {
    return this.lookup(name, object).length > 0;
  }

  /** Whether the table lists any symbol of this object (a module not loaded when kallsyms was read is absent). */
  hasObject(object: string): boolean {
    return this.byObject.has(object);
  }

  get objects(): string[] {
    return [...this.byObject.keys()];
  }

  get size(): number {
    let n = 0;
    for (const l of this.byObject.values()) n += l.length;
    return n;
  }

  /** One line for reports: "kallsyms /tmp/ks: 94266 symbols in vmlinux and 3 modules". */
  describe(): string {
    const mods = this.objects.filter((o) => o !== 'vmlinux').length;
    return `${this.source} ${this.path}: ${this.size} symbols in vmlinux${mods ? ` and ${mods} module${mods === 1 ? '' : 's'}` : ''}`;
  }

  /** Whether the table can say which file a local symbol comes from. */
  get knowsFiles(): boolean {
    return this.source === 'vmlinux';
  }

  /** The symbols around `sym` in its object (same section class, noise skipped), nearest first. */
  neighbours(sym: KernelSymbol, radius: number): KernelSymbol[] {
    const list = this.byObject.get(sym.object) ?? [];
    const cls = sectionClass(sym.type);
    const out: KernelSymbol[] = [];
    for (let d = 1; d <= radius * 3 && out.length < radius * 2; d++) {
      for (const k of [sym.index - d, sym.index + d]) {
        const s = list[k];
        if (s && sectionClass(s.type) === cls && !NOISE.test(s.name)) out.push(s);
      }
    }
    return out;
  }
}

/** Text, data or something else: the neighbours that share a translation unit's section. */
export function sectionClass(type: string): 'text' | 'data' | 'other' {
  const t = type.toLowerCase();
  if (t === 't' || t === 'w') return 'text';
  if (t === 'd' || t === 'b' || t === 'r' || t === 'v' || t === 'g' || t === 's') return 'data';
  return 'other';
}

export function isFunctionType(type: string): boolean {
  return sectionClass(type) === 'text';
}

export function isLocalType(type: string): boolean {
  return type >= 'a' && type <= 'z';
}

const ELF_MAGIC = 0x7f454c46;
const LINE = /^([0-9a-fA-F]{8,16})\s+([A-Za-z?])\s+(\S+)(?:\s+\[([^\]\s]+)\])?\s*$/;

/** Read a System.map, /proc/kallsyms or vmlinux file; throws SymbolTableError. */
export function readSymbolTable(path: string): SymbolTable {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new SymbolTableError(`cannot read the symbol table ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const head = Buffer.alloc(64);
    const n = readSync(fd, head, 0, 64, 0);
    if (n >= 4 && head.readUInt32BE(0) === ELF_MAGIC) return readVmlinux(path, fd);
  } finally {
    closeSync(fd);
  }
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (e) {
    throw new SymbolTableError(`cannot read the symbol table ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return parseSymbolText(text, path);
}

/** Parse System.map or /proc/kallsyms text. */
export function parseSymbolText(text: string, path: string): SymbolTable {
  if (/The real System\.map is in the linux-image-\S*-dbg package/.test(text.slice(0, 4096))) {
    throw new SymbolTableError(
      `${path} is Debian's placeholder System.map, not a symbol table: use /proc/kallsyms of the target machine (as root), or the vmlinux (or System.map) of the linux-image-<abi>-dbg package`,
    );
  }
  const symbols: Omit<KernelSymbol, 'index'>[] = [];
  let modules = false;
  let nonZero = false;
  let lineNo = 0;
  let bad = 0;
  let firstBad = '';
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) {
      if (bad++ === 0) firstBad = `${path}:${lineNo}: "${line.slice(0, 80)}"`;
      continue;
    }
    if (m[4]) modules = true;
    if (!nonZero && /[1-9a-fA-F]/.test(m[1])) nonZero = true;
    if (m[2] === 'U' || m[2] === 'u') continue;
    symbols.push({ name: m[3], type: m[2], object: m[4] ?? 'vmlinux' });
  }
  if (symbols.length === 0) {
    throw new SymbolTableError(firstBad ? `${path} is not a symbol table: ${firstBad} is not "ADDRESS TYPE NAME [MODULE]"` : `${path} is empty: it lists no symbols`);
  }
  if (bad > symbols.length / 10) throw new SymbolTableError(`${path}: ${bad} of ${lineNo} lines are not "ADDRESS TYPE NAME [MODULE]" (first: ${firstBad}); is it truncated or another format?`);
  return new SymbolTable(modules ? 'kallsyms' : 'system.map', path, symbols, !nonZero);
}

// ---------------------------------------------------------------------------
// vmlinux: ELF64 little-endian, read by position (a -dbg vmlinux is ~1 GB)

const SHT_SYMTAB = 2;
const SHT_NOBITS = 8;
const SHF_WRITE = 0x1;
const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;
const STT_FILE = 4;
const STB_LOCAL = 0;
const STB_WEAK = 2;
const SHN_LORESERVE = 0xff00;
const SHN_ABS = 0xfff1;

interface ElfSectionInfo {
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

function readAt(fd: number, offset: number, size: number, fileSize: number, what: string): Buffer {
  if (offset < 0 || size < 0 || offset + size > fileSize) throw new SymbolTableError(`${what} (offset ${offset}, ${size} bytes) runs past the end of the file (${fileSize} bytes)`);
  const buf = Buffer.alloc(size);
  let done = 0;
  while (done < size) {
    const n = readSync(fd, buf, done, size - done, offset + done);
    if (n <= 0) throw new SymbolTableError(`${what}: short read at offset ${offset + done}`);
    done += n;
  }
  return buf;
}

function readSections(fd: number, path: string, fileSize: number): ElfSectionInfo[] {
  const eh = readAt(fd, 0, 64, fileSize, `${path}: ELF header`);
  if (eh[4] !== 2 || eh[5] !== 1) throw new SymbolTableError(`${path}: only ELF64 little-endian vmlinux files are read (EI_CLASS ${eh[4]}, EI_DATA ${eh[5]})`);
  const shoff = Number(eh.readBigUInt64LE(40));
  const shentsize = eh.readUInt16LE(58);
  const shnum = eh.readUInt16LE(60);
  if (shentsize !== 64 || shnum === 0) throw new SymbolTableError(`${path}: no usable section header table (e_shentsize ${shentsize}, e_shnum ${shnum})`);
  const table = readAt(fd, shoff, shnum * 64, fileSize, `${path}: section header table`);
  const out: ElfSectionInfo[] = [];
  for (let k = 0; k < shnum; k++) {
    const h = table.subarray(k * 64, k * 64 + 64);
    out.push({ type: h.readUInt32LE(4), flags: Number(h.readBigUInt64LE(8)), offset: Number(h.readBigUInt64LE(24)), size: Number(h.readBigUInt64LE(32)), link: h.readUInt32LE(40), entsize: Number(h.readBigUInt64LE(56)) });
  }
  return out;
}

/** nm's letter for a defined ELF symbol. */
function typeLetter(sec: ElfSectionInfo | undefined, bind: number, shndx: number): string | undefined {
  if (shndx === SHN_ABS) return bind === STB_LOCAL ? 'a' : 'A';
  if (!sec || !(sec.flags & SHF_ALLOC)) return undefined;
  const c = sec.flags & SHF_EXECINSTR ? 't' : sec.type === SHT_NOBITS ? 'b' : sec.flags & SHF_WRITE ? 'd' : 'r';
  if (bind === STB_WEAK) return c === 't' ? 'W' : 'V';
  return bind === STB_LOCAL ? c : c.toUpperCase();
}

function readVmlinux(path: string, fd: number): SymbolTable {
  const fileSize = fstatSync(fd).size;
  const sections = readSections(fd, path, fileSize);
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  if (!symtab) throw new SymbolTableError(`${path} has no symbol table (.symtab): a stripped vmlinux cannot tell which symbols exist; use the -dbg package's vmlinux or /proc/kallsyms`);
  if (symtab.entsize !== 24 || symtab.link >= sections.length) throw new SymbolTableError(`${path}: malformed .symtab (entry size ${symtab.entsize}, link ${symtab.link})`);
  const strtab = sections[symtab.link];
  const syms = readAt(fd, symtab.offset, symtab.size, fileSize, `${path}: .symtab`);
  const strs = readAt(fd, strtab.offset, strtab.size, fileSize, `${path}: .strtab`);
  const entries: { name: string; type: string; file?: string; addr: bigint; k: number }[] = [];
  let file: string | undefined;
  for (let k = 1; k < syms.length / 24; k++) {
    const at = k * 24;
    const info = syms[at + 4];
    const bind = info >> 4;
    const stype = info & 0xf;
    const shndx = syms.readUInt16LE(at + 6);
    const nameOff = syms.readUInt32LE(at);
    const end = strs.indexOf(0, nameOff);
    const name = nameOff < strs.length ? strs.toString('latin1', nameOff, end < 0 ? strs.length : end) : '';
    if (stype === STT_FILE) {
      file = name;
      continue;
    }
    if (!name || shndx === 0 || (shndx >= SHN_LORESERVE && shndx !== SHN_ABS)) continue;
    const letter = typeLetter(sections[shndx], bind, shndx);
    if (!letter) continue;
    entries.push({ name, type: letter, file: bind === STB_LOCAL ? file : undefined, addr: syms.readBigUInt64LE(at + 8), k });
  }
  // kallsyms order: ascending address (stable for equal addresses)
  entries.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : a.k - b.k));
  return new SymbolTable('vmlinux', path, entries.map((e) => ({ name: e.name, type: e.type, object: 'vmlinux', file: e.file })));
}
