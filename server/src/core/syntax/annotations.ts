/**
 * Kernel annotation macros (`__init`, `__user`, `notrace`, `__section(...)`, ...)
 * are unknown to tree-sitter-c and break the parse of the declaration they sit
 * in (the function name is lost). They are replaced by spaces of the same length
 * before parsing, so every offset stays valid, and remembered as annotations.
 */

/** What an annotation says about the code it decorates; rules key on these. */
export type AnnotationKind =
  | 'section' // places code or data in a special section (__init, __sched, __read_mostly, ...)
  | 'trace' // affects ftrace/instrumentation (notrace, noinstr, ...)
  | 'inline' // inlining decisions (__always_inline, noinline, ...)
  | 'address-space' // sparse pointer annotations (__user, __rcu, __iomem, ...)
  | 'lock' // sparse lock context (__acquires, __releases, __must_hold)
  | 'attribute'; // any other compiler attribute (__packed, __cold, __must_check, ...)

const SIMPLE: Record<string, AnnotationKind> = {};
function add(kind: AnnotationKind, names: string): void {
  for (const n of names.split(/\s+/)) if (n) SIMPLE[n] = kind;
}
add(
  'section',
  `__init __exit __initdata __initconst __exitdata __exit_call __meminit __meminitdata __meminitconst __ref __refdata __refconst
   __sched __lockfunc noinstr __kprobes __cpuidle __irq_entry __softirq_entry __head __ro_after_init __read_mostly
   __cacheline_aligned ____cacheline_aligned __cacheline_aligned_in_smp ____cacheline_aligned_in_smp
   ____cacheline_internodealigned_in_smp __page_aligned_data __page_aligned_bss __init_or_module __initdata_or_module
   __devinit __devexit __devinitdata __devexitdata __cpuinit __cpuinitdata __entry_text __nosave __nosavedata
   __initdata_memblock __init_memblock __bss_decrypted __percpu_read_mostly`,
);
add(
  'trace',
  `notrace __no_kcsan __no_sanitize_address __no_sanitize_thread __no_kasan __nocfi __noscs
   __no_stack_protector __no_profile __no_sanitize_coverage __no_sanitize_undefined __no_kmsan_checks __no_sanitize_memory`,
);
add('inline', `__always_inline noinline __noinline noinline_for_stack __flatten __gnu_inline`);
add('address-space', `__user __kernel __iomem __rcu __percpu __force __bitwise __nocast __safe __private __pmem __data_racy __ksym`);
add(
  'attribute',
  `__maybe_unused __always_unused __used __cold __hot __pure __weak __packed __visible asmlinkage __noreturn __attribute_const__
   __malloc __deprecated __latent_entropy __randomize_layout __no_randomize_layout __designated_init __must_check __nonstring
   __naked __noclone __bpf_kfunc __noendbr __aligned_largest __always_unused`,
);

/** Annotations that take a parenthesised argument list. */
const WITH_ARGS: Record<string, AnnotationKind> = {
  __section: 'section',
  __aligned: 'attribute',
  __printf: 'attribute',
  __scanf: 'attribute',
  __acquires: 'lock',
  __releases: 'lock',
  __must_hold: 'lock',
  __cond_acquires: 'lock',
  __cond_releases: 'lock',
  __guarded_by: 'lock',
  __pt_guarded_by: 'lock',
  __counted_by: 'attribute',
  __counted_by_le: 'attribute',
  __counted_by_be: 'attribute',
  __free: 'attribute',
  __cleanup: 'attribute',
  __alloc_size: 'attribute',
  __realloc_size: 'attribute',
  __assume_aligned: 'attribute',
  __diag_ignore: 'attribute',
  __no_sanitize_or_inline: 'inline',
  __attribute_used__: 'attribute',
  __nocapture: 'attribute',
  __access: 'attribute',
  __percpu_seg_override: 'address-space',
};

export interface Annotation {
  name: string;
  kind: AnnotationKind;
  /** Argument text for annotations like `__section(".x")`, without the parentheses. */
  args?: string;
  /** UTF-16 offset and length in the text that was masked. */
  offset: number;
  length: number;
}

export interface MaskedText {
  /** The text with each annotation replaced by spaces (newlines kept). */
  text: string;
  annotations: Annotation[];
}

export function isAnnotationName(name: string): boolean {
  return name in SIMPLE || name in WITH_ARGS;
}

export function annotationKind(name: string): AnnotationKind | undefined {
  return SIMPLE[name] ?? WITH_ARGS[name];
}

const enum St {
  Code,
  LineComment,
  BlockComment,
  Str,
  Chr,
}

function isIdStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}
function isIdChar(c: number): boolean {
  return isIdStart(c) || (c >= 48 && c <= 57);
}

/**
 * Replace kernel annotations by spaces. Comments, string and character
 * literals and preprocessor directives are left as they are.
 */
export function maskAnnotations(text: string): MaskedText {
  const annotations: Annotation[] = [];
  let out: string[] | undefined;
  let last = 0;
  const n = text.length;
  let st = St.Code;
  let lineStart = true; // only whitespace seen since the last newline
  let inDirective = false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    switch (st) {
      case St.LineComment:
        if (c === 10) {
          st = St.Code;
          lineStart = true;
          if (text.charCodeAt(i - 1) !== 92) inDirective = false;
        }
        continue;
      case St.BlockComment:
        if (c === 42 && text.charCodeAt(i + 1) === 47) {
          st = St.Code;
          i++;
        }
        continue;
      case St.Str:
        if (c === 92) i++;
        else if (c === 34 || c === 10) st = St.Code;
        continue;
      case St.Chr:
        if (c === 92) i++;
        else if (c === 39 || c === 10) st = St.Code;
        continue;
    }
    if (c === 10) {
      if (!(i > 0 && text.charCodeAt(i - 1) === 92) && !(i > 1 && text.charCodeAt(i - 1) === 13 && text.charCodeAt(i - 2) === 92)) inDirective = false;
      lineStart = true;
      continue;
    }
    if (c === 32 || c === 9 || c === 13 || c === 12) continue;
    if (c === 35 && lineStart) inDirective = true; // '#'
    lineStart = false;
    if (c === 47 && text.charCodeAt(i + 1) === 47) {
      st = St.LineComment;
      i++;
      continue;
    }
    if (c === 47 && text.charCodeAt(i + 1) === 42) {
      st = St.BlockComment;
      i++;
      continue;
    }
    if (c === 34) {
      st = St.Str;
      continue;
    }
    if (c === 39) {
      st = St.Chr;
      continue;
    }
    if (!isIdStart(c)) continue;
    let j = i + 1;
    while (j < n && isIdChar(text.charCodeAt(j))) j++;
    if (inDirective || (i > 0 && isIdChar(text.charCodeAt(i - 1)))) {
      i = j - 1;
      continue;
    }
    const name = text.slice(i, j);
    let kind: AnnotationKind | undefined = SIMPLE[name];
    let end = j;
    let args: string | undefined;
    if (kind === undefined && name in WITH_ARGS) {
      let k = j;
      while (k < n && (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 9)) k++;
      if (text.charCodeAt(k) === 40) {
        const close = matchParen(text, k);
        if (close > 0) {
          kind = WITH_ARGS[name];
          args = text.slice(k + 1, close).trim();
          end = close + 1;
        }
      }
    }
    if (kind === undefined) {
      i = j - 1;
      continue;
    }
    annotations.push({ name, kind, args, offset: i, length: end - i });
    if (!out) out = [];
    out.push(text.slice(last, i), blank(text.slice(i, end)));
    last = end;
    i = end - 1;
  }
  if (!out) return { text, annotations };
  out.push(text.slice(last));
  return { text: out.join(''), annotations };
}

/** Index of the ')' matching the '(' at `open`, or -1 (stops at a ';' or '{' at depth 0, or after 4 KiB). */
function matchParen(text: string, open: number): number {
  let depth = 0;
  const limit = Math.min(text.length, open + 4096);
  for (let k = open; k < limit; k++) {
    const c = text.charCodeAt(k);
    if (c === 40) depth++;
    else if (c === 41) {
      depth--;
      if (depth === 0) return k;
    } else if (c === 34) {
      k++;
      while (k < limit && text.charCodeAt(k) !== 34) {
        if (text.charCodeAt(k) === 92) k++;
        k++;
      }
    } else if ((c === 59 || c === 123) && depth <= 1) return -1;
  }
  return -1;
}

/** Same length, newlines kept, everything else a space. */
function blank(s: string): string {
  return s.replace(/[^\n\r]/g, ' ');
}

export interface BraceProfile {
  /** Lowest brace depth reached, relative to 0 at the start (negative: the text starts inside blocks). */
  minDepth: number;
  /** Depth at the end, relative to the start. */
  endDepth: number;
  /** The text seems to start inside a block comment (a '*' line or "*\/" before any "/*"). */
  startsInComment: boolean;
  /** A block comment is still open at the end. */
  endsInComment: boolean;
  /** Same for parentheses: a fragment that starts inside an argument list. */
  minParen: number;
  endParen: number;
  /**
   * Indentation level (tabs, or 8 spaces) of the first line of code (not blank,
   * comment or directive): kernel code at file scope is not indented, so an
   * indented first line sits that many blocks deep. 0 for a line starting with '}'.
   */
  firstCodeIndent: number;
  /** The first line of code ends with a backslash: the text starts inside a multi-line #define. */
  firstCodeContinues: boolean;
  /** How to close each brace still open at the end, outermost first: "}", "};" (struct, union, enum, initializer) or "} while (0);" (do). */
  closers: string[];
  /** The last line of code is a control statement still waiting for its body ("if (x)", "else", "for (...)"). */
  endsAwaitingBody: boolean;
  /** The last line of code does not end a statement or block (e.g. the signature of the next function). */
  endsOpen: boolean;
  /** Preprocessor conditionals: lowest #if nesting reached (negative: the text starts inside #if blocks) and nesting at the end. */
  minCond: number;
  endCond: number;
  /** For each conditional the text starts inside, the relative brace depth where its #else/#endif shows. */
  condOpenDepths: number[];
  /**
   * Relative depth after the first '}' at column 0, or undefined. Kernel style
   * closes file-scope blocks (functions, structs) at column 0, so the text
   * started exactly -topCloseDepth blocks deep.
   */
  topCloseDepth?: number;
}

/** The closer for a '{' given the code before it: aggregates and initializers need "};", do-blocks a while. */
function closerFor(before: string): string {
  if (/\b(struct|union|enum)\b(\s+\w+)?\s*$/.test(before) || /=\s*$/.test(before)) return '};';
  if (/(^|[^\w])do\s*$/.test(before)) return '} while (0);';
  return '}';
}

/** Count braces and parentheses outside comments, strings and directives. */
export function braceProfile(lines: readonly string[]): BraceProfile {
  let startsInComment = false;
  for (const l of lines) {
    const t = l.trimStart();
    if (t === '') continue;
    const close = t.indexOf('*/');
    const open = t.indexOf('/*');
    if (close >= 0 && (open < 0 || close < open)) startsInComment = true;
    else if (/^\*(\s|$)/.test(t)) startsInComment = open < 0 && !/[;{}]\s*$/.test(t);
    break;
  }
  let st: St = startsInComment ? St.BlockComment : St.Code;
  let depth = 0;
  let minDepth = 0;
  let paren = 0;
  let minParen = 0;
  let firstCodeIndent: number | undefined;
  let firstCodeContinues = false;
  let cond = 0;
  let minCond = 0;
  const condOpenDepths: number[] = [];
  let topCloseDepth: number | undefined;
  const stack: string[] = [];
  let lastCode = '';
  let prevCode = '';
  for (const l of lines) {
    let directive = false;
    if (st === St.Code) {
      const pp = /^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b/.exec(l);
      if (pp) {
        if (pp[1].startsWith('if')) cond++;
        else if (pp[1] === 'endif') {
          cond--;
          if (cond < minCond) {
            minCond = cond;
            if (condOpenDepths.length < -minCond) condOpenDepths.push(depth);
          }
        } else if (cond <= minCond) {
          // #else/#elif of an #if that began before the text
          minCond = cond - 1;
          condOpenDepths.push(depth);
        }
      }
    }
    if (firstCodeIndent === undefined && st === St.Code) {
      const t = l.trimStart();
      // Labels sit at column 0 inside functions: they say nothing about depth.
      if (t !== '' && !t.startsWith('#') && !t.startsWith('//') && !t.startsWith('/*') && !/^[A-Za-z_]\w*:\s*$/.test(t)) {
        const lead = l.slice(0, l.length - t.length);
        const level = lead.length === 0 ? 0 : Math.max(1, (lead.match(/\t/g)?.length ?? 0) + Math.floor((lead.match(/ /g)?.length ?? 0) / 8));
        // A closing brace indented k levels closes a block whose contents were k + 1 deep.
        firstCodeIndent = t.startsWith('}') ? level + 1 : level;
        firstCodeContinues = /\\\s*$/.test(l);
      }
    }
    for (let i = 0; i < l.length; i++) {
      const c = l.charCodeAt(i);
      if (st === St.BlockComment) {
        if (c === 42 && l.charCodeAt(i + 1) === 47) {
          st = St.Code;
          i++;
        }
        continue;
      }
      if (st === St.Str) {
        if (c === 92) i++;
        else if (c === 34) st = St.Code;
        continue;
      }
      if (st === St.Chr) {
        if (c === 92) i++;
        else if (c === 39) st = St.Code;
        continue;
      }
      if (c === 35 && l.slice(0, i).trim() === '') directive = true;
      if (c === 47 && l.charCodeAt(i + 1) === 47) break;
      if (c === 47 && l.charCodeAt(i + 1) === 42) {
        st = St.BlockComment;
        i++;
        continue;
      }
      if (c === 34) st = St.Str;
      else if (c === 39) st = St.Chr;
      else if (directive) continue;
      else if (c === 123) {
        depth++;
        const before = l.slice(0, i).trim();
        stack.push(closerFor(before === '' ? prevCode : before));
      } else if (c === 125) {
        depth--;
        stack.pop();
        if (depth < minDepth) minDepth = depth;
        if (i === 0 && topCloseDepth === undefined) topCloseDepth = depth;
      } else if (c === 40) paren++;
      else if (c === 41) {
        paren--;
        if (paren < minParen) minParen = paren;
      }
    }
    if (st === St.Str || st === St.Chr) st = St.Code; // unterminated literal: C does not continue it
    const t = l.trim();
    if (t !== '' && !t.startsWith('#') && !t.startsWith('*') && !t.startsWith('/')) prevCode = t;
    if (t !== '' && st === St.Code && !t.startsWith('*') && !t.startsWith('/') && !t.startsWith('#')) lastCode = t.replace(/\s*\/\*.*\*\/\s*$/, '').replace(/\s*\/\/.*$/, '');
  }
  return { minDepth, endDepth: depth, startsInComment, endsInComment: st === St.BlockComment, minParen, endParen: paren, firstCodeIndent: firstCodeIndent ?? 0, firstCodeContinues, closers: stack, endsAwaitingBody: /^(\}\s*)?(else(\s+if\s*\(.*\))?|(if|while|for|switch)\s*\(.*\))$/.test(lastCode), endsOpen: lastCode !== '' && !/[;{},:]$|^#|\\$/.test(lastCode), minCond, endCond: cond, condOpenDepths, topCloseDepth };
}
