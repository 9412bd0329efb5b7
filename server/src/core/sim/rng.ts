/**
 * Seeded randomness. Every task draws from a stream of its own, derived from
 * the run's seed and the task's id, so a task's timeline does not depend on
 * how many other tasks there are or on the order a model visits them: every
 * model of one run sees the same workload, and the same seed gives the same
 * output.
 */
import type { Dist } from './types';

/** FNV-1a over a string, mixed with a seed. */
export function hashSeed(seed: number, key: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // One round of splitmix-style avalanche so nearby seeds diverge at once.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: small, fast, good enough for workload durations. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** A duration drawn from a distribution (ms, never negative). */
  draw(d: Dist): number {
    if (typeof d === 'number') return d;
    if ('exp' in d) return -Math.log(1 - this.next()) * d.exp;
    const [a, b] = d.uniform;
    return a + (b - a) * this.next();
  }
}

/** The mean of a distribution. */
export function meanOf(d: Dist): number {
  if (typeof d === 'number') return d;
  if ('exp' in d) return d.exp;
  return (d.uniform[0] + d.uniform[1]) / 2;
}
