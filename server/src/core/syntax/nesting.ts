/**
 * How deep brackets nest in C text, found before parsing: tree-sitter parses
 * deep nesting fine, but walking up such a tree costs O(depth) a step (its
 * parent lookup starts from the root), so 20,000 levels take seconds per walk.
 * Real kernel code stays below a few dozen levels.
 */

/** Deeper C is not analysed (KLP011 says so). */
export const MAX_C_NESTING = 1000;

export interface Nesting {
  depth: number;
  /** Index of the line where `depth` was first reached. */
  line: number;
}

/**
 * Deepest `(`, `[` or `{` nesting over the known lines (undefined lines are
 * skipped), ignoring brackets in comments, strings and character literals.
 * Stops early once `stopAt` is passed.
 */
export function maxNesting(lines: readonly (string | undefined)[], stopAt = Infinity): Nesting {
  let depth = 0;
  let best: Nesting = { depth: 0, line: 0 };
  let inComment = false;
  for (let li = 0; li < lines.length; li++) {
    const l = lines[li];
    if (l === undefined) continue;
    let quote = 0;
    for (let i = 0; i < l.length; i++) {
      const c = l.charCodeAt(i);
      if (inComment) {
        if (c === 42 && l.charCodeAt(i + 1) === 47) (inComment = false), i++;
      } else if (quote) {
        if (c === 92) i++;
        else if (c === quote) quote = 0;
      } else if (c === 47 && l.charCodeAt(i + 1) === 42) (inComment = true), i++;
      else if (c === 47 && l.charCodeAt(i + 1) === 47) break;
      else if (c === 34 || c === 39) quote = c;
      else if (c === 40 || c === 91 || c === 123) {
        if (++depth > best.depth) {
          best = { depth, line: li };
          if (depth > stopAt) return best;
        }
      } else if ((c === 41 || c === 93 || c === 125) && depth > 0) depth--;
    }
  }
  return best;
}
