/**
 * Array helpers safe for any length: `push(...xs)` and `Math.min(...xs)` pass
 * every element as an argument and overflow the stack past ~100,000 (a
 * 100,000-line hunk does that).
 */

/** Append every item of `items` to `out`; returns `out`. */
export function append<T>(out: T[], items: readonly T[]): T[] {
  for (let i = 0; i < items.length; i++) out.push(items[i]);
  return out;
}

/** Smallest number of `xs` (Infinity when empty, like Math.min()). */
export function minOf(xs: Iterable<number>): number {
  let m = Infinity;
  for (const x of xs) if (x < m) m = x;
  return m;
}

/** Largest number of `xs` (-Infinity when empty, like Math.max()). */
export function maxOf(xs: Iterable<number>): number {
  let m = -Infinity;
  for (const x of xs) if (x > m) m = x;
  return m;
}
