/**
 * One row per fixture and kernel, written to test-results/kernel/results.json
 * and results.md: the table the closing note and the README quote.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Generated } from './generate';
import type { GuestResult } from './script';

export const COLUMNS = ['generated', 'built', 'loaded', 'effect', 'reverted', 'unloaded', 'dmesgClean'] as const;
export type Column = (typeof COLUMNS)[number];

const HEADINGS: Record<Column, string> = {
  generated: 'generated',
  built: 'built',
  loaded: 'loaded',
  effect: 'effect seen',
  reverted: 'reverted',
  unloaded: 'unloaded',
  dmesgClean: 'dmesg clean',
};

export interface Row {
  fixture: string;
  class: string;
  kernel: string;
  abi: string;
  module?: string;
  cells: Record<Column, boolean>;
  /** The effect check failed before the load (else "effect seen" proves nothing). */
  beforeFailed: boolean;
  notes: string[];
  generateSeconds: number;
}

export function makeRow(fixture: { id: string; class: string }, kernel: { id: string; abi: string }, g: Generated, r: GuestResult | undefined, missing: string): Row {
  const notes = [...(r?.notes ?? [])];
  if (g.built && !r) notes.push(missing);
  return {
    fixture: fixture.id,
    class: fixture.class,
    kernel: kernel.id,
    abi: kernel.abi,
    module: g.name,
    cells: {
      generated: g.generated,
      built: g.built,
      // insmod returned 0 and the transition completed
      loaded: !!r?.loaded && r.complete,
      effect: !!r?.effect && r.beforeFailed,
      reverted: !!r?.reverted,
      unloaded: !!r?.unloaded,
      dmesgClean: !!r?.dmesgClean,
    },
    beforeFailed: !!r?.beforeFailed,
    notes,
    generateSeconds: g.seconds,
  };
}

export function firstFailure(row: Row): Column | undefined {
  return COLUMNS.find((c) => !row.cells[c]);
}

function markdown(rows: Row[], header: string[]): string {
  const cols = ['fixture (class)', 'kernel', ...COLUMNS.map((c) => HEADINGS[c])];
  const lines = [...header, '', `| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.fixture} (${r.class}) | ${r.kernel} | ${COLUMNS.map((c) => (r.cells[c] ? 'yes' : '**no**')).join(' | ')} |`);
  const failed = rows.filter((r) => firstFailure(r));
  if (failed.length) {
    lines.push('', '## Failures', '');
    for (const r of failed) lines.push(`- ${r.fixture} on ${r.kernel}: ${HEADINGS[firstFailure(r)!]} — ${r.notes.join('; ') || 'see the logs'}`);
  }
  return lines.join('\n') + '\n';
}

export function writeReport(dir: string, rows: Row[], header: string[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), JSON.stringify({ header, rows }, null, 2) + '\n');
  writeFileSync(join(dir, 'results.md'), markdown(rows, header));
}
