/**
 * Text primitives shared by the whole core: positions in LSP convention
 * (0-based line, UTF-16 character), line splitting that keeps CRLF apart from
 * the content, and decoding of raw bytes with a positioned note when the input
 * is not UTF-8.
 */

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export function pos(line: number, character: number): Position {
  return { line, character };
}

export function range(line: number, startChar: number, endLine: number = line, endChar: number = startChar): Range {
  return { start: { line, character: startChar }, end: { line: endLine, character: endChar } };
}

export function comparePositions(a: Position, b: Position): number {
  return a.line - b.line || a.character - b.character;
}

export function containsPosition(r: Range, p: Position): boolean {
  return comparePositions(r.start, p) <= 0 && comparePositions(p, r.end) <= 0;
}

/** A text split into lines; `lines[i]` never contains '\n' nor a trailing '\r'. */
export interface LineText {
  readonly text: string;
  readonly lines: string[];
  /** Offset in `text` of the first character of each line. */
  readonly lineStarts: number[];
  /** True when a line ended with "\r\n". */
  readonly crlf: boolean[];
  /** Whether the text ends with a line break. */
  readonly finalNewline: boolean;
}

export function splitLines(text: string): LineText {
  const lines: string[] = [];
  const lineStarts: number[] = [];
  const crlf: boolean[] = [];
  let start = 0;
  const n = text.length;
  while (start <= n) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) {
      if (start < n) {
        lines.push(text.slice(start));
        lineStarts.push(start);
        crlf.push(false);
      }
      break;
    }
    const cr = nl > start && text.charCodeAt(nl - 1) === 13;
    lines.push(text.slice(start, cr ? nl - 1 : nl));
    lineStarts.push(start);
    crlf.push(cr);
    start = nl + 1;
  }
  const finalNewline = n > 0 && text.charCodeAt(n - 1) === 10;
  return { text, lines, lineStarts, crlf, finalNewline };
}

/** Range of a whole line's content, optionally skipping a prefix (e.g. the diff marker) and leading blanks. */
export function lineContentRange(lines: readonly string[], line: number, skip = 0): Range {
  const text = lines[line] ?? '';
  let s = Math.min(skip, text.length);
  while (s < text.length && (text[s] === ' ' || text[s] === '\t')) s++;
  let e = text.length;
  while (e > s && (text[e - 1] === ' ' || text[e - 1] === '\t')) e--;
  if (e <= s) {
    s = Math.min(skip, text.length);
    e = text.length;
  }
  return range(line, s, line, e);
}

export interface DecodedText {
  text: string;
  encoding: 'utf-8' | 'latin1';
  /** Where the first byte sequence that is not UTF-8 was found (0-based line, byte column). */
  invalidAt?: { line: number; column: number; byteOffset: number };
  /** A NUL byte outside a git binary patch: the input is not a text patch. */
  nulAt?: { line: number; column: number; byteOffset: number };
  /** A leading UTF-8 byte-order mark was dropped. */
  bom: boolean;
}

function lineColumnOfByte(buf: Uint8Array, offset: number): { line: number; column: number } {
  let line = 0;
  let lastNl = -1;
  for (let i = 0; i < offset; i++) {
    if (buf[i] === 10) {
      line++;
      lastNl = i;
    }
  }
  return { line, column: offset - lastNl - 1 };
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  const n = buf.length;
  while (i < n) {
    const b = buf[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    let cp = b & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * Decode bytes read from disk. UTF-8 is expected; anything else is decoded as
 * Latin-1 (every byte maps to one character, so columns stay byte columns) and
 * the first offending position is reported so the caller can say where.
 */
export function decodeBytes(buf: Uint8Array): DecodedText {
  let start = 0;
  let bom = false;
  if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
    start = 3;
    bom = true;
  }
  const body = buf.subarray(start);
  const nul = body.indexOf(0);
  const result: DecodedText = { text: '', encoding: 'utf-8', bom };
  if (nul >= 0) result.nulAt = { ...lineColumnOfByte(body, nul), byteOffset: nul + start };
  const bad = firstInvalidUtf8(body);
  if (bad < 0) {
    result.text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  } else {
    result.encoding = 'latin1';
    result.invalidAt = { ...lineColumnOfByte(body, bad), byteOffset: bad + start };
    result.text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1');
  }
  return result;
}
