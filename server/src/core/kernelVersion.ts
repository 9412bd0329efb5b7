/**
 * Kernel versions, one way everywhere: a release ("6.12.118+deb12-amd64"), a simulator profile
 * ("6.4"), a tree's VERSION.PATCHLEVEL or a setting ("6.19") read as major.minor and compared as
 * one number (6.16 → 616).
 */
export interface KernelVersion {
  major: number;
  minor: number;
}

/** "6.12.118+deb12-amd64" → { major: 6, minor: 12 }; undefined when it does not start with N.N. */
export function parseKernelVersion(text: string): KernelVersion | undefined {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/** A comparable number: 6.16 → 616 (NaN for text that is no version). */
export function kernelNumber(v: KernelVersion | string): number {
  const k = typeof v === 'string' ? parseKernelVersion(v) : v;
  return k ? k.major * 100 + k.minor : NaN;
}

/** `v` is `major.minor` or later. */
export function versionAtLeast(v: KernelVersion, major: number, minor: number): boolean {
  return kernelNumber(v) >= major * 100 + minor;
}
