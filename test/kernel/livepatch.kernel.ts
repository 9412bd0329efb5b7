/**
 * `npm run test:kernel`: every fixture patch becomes a livepatch module with
 * `klp-lens generate --build`, and a real Debian kernel (6.1 and 6.12, under
 * qemu) loads it, shows its effect, reverts it and unloads it, with a clean
 * dmesg. scripts/kernel-setup.sh prepares the kernels; the results table goes
 * to test-results/kernel/results.{md,json}.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Fixture, fixturesDir, loadFixtures } from './lib/fixtures';
import { type Generated, generateFixture, pool } from './lib/generate';
import { bootGuest, INIT_HEAD, Initramfs, addModule } from './lib/guest';
import { captureKallsyms } from './lib/kallsyms';
import { type KernelEntry, kernelCache, readManifest } from './lib/manifest';
import { COLUMNS, firstFailure, makeRow, type Row, writeReport } from './lib/report';
import { type GuestReport, guestScript, parseGuest } from './lib/script';

const root = resolve(__dirname, '..', '..');
const cli = join(root, 'out', 'cli.js');
const results = join(root, 'test-results', 'kernel');
const buildRoot = join(root, 'build', 'kernel');
const fixtures = loadFixtures(fixturesDir(root));
const kernels = readManifest();
const modules = [...new Set(fixtures.flatMap((f) => f.modules))].sort();
const rows: Row[] = [];

function compileHelper(fx: Fixture, helper: string, ir: Initramfs): void {
  const out = join(ir.dir, 'bin', basename(helper, '.c'));
  const r = spawnSync('gcc', ['-static', '-O2', '-Wall', '-o', out, join(fx.dir, helper)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fixture ${fx.id}: gcc -static ${helper} failed:\n${r.stderr}`);
}

function stageGuest(k: KernelEntry, built: Generated[]): Initramfs {
  const ir = new Initramfs();
  const order: string[] = [];
  for (const m of modules) addModule(ir, k.modules, m, order);
  for (const g of built) {
    const fx = fixtures.find((f) => f.id === g.fixture)!;
    ir.add(`lp/${g.name}.ko`, readFileSync(g.ko!));
    ir.add(`fx/${fx.id}/check.sh`, readFileSync(fx.check), 0o755);
    if (fx.setup) ir.add(`fx/${fx.id}/setup.sh`, `${fx.setup}\n`, 0o755);
    for (const h of fx.helpers) compileHelper(fx, h, ir);
  }
  const script = guestScript(order, built.map((g) => ({ id: g.fixture, name: g.name! })));
  ir.add('init', [...INIT_HEAD, ...script].join('\n') + '\n', 0o755);
  return ir;
}

async function runGuest(k: KernelEntry, built: Generated[], logs: string): Promise<GuestReport> {
  if (built.length === 0) return { done: true, results: new Map(), notes: [] };
  const ir = stageGuest(k, built);
  try {
    const timeout = Math.min(15 * 60_000, 60_000 + built.length * 100_000);
    return await bootGuest(k.vmlinuz, ir, logs, 'guest', '', timeout, parseGuest);
  } finally {
    ir.dispose();
  }
}

async function runKernel(k: KernelEntry): Promise<Map<string, { row: Row; log: string }>> {
  const logs = join(results, k.id);
  mkdirSync(logs, { recursive: true });
  const symbols = await captureKallsyms(k, kernelCache(), modules);
  const gens = await pool(
    fixtures.map((fx) => () => generateFixture(cli, fx, k, symbols.path, buildRoot)),
    2,
  );
  for (const g of gens) writeFileSync(join(logs, `${g.fixture}.generate.log`), g.log);
  const report = await runGuest(k, gens.filter((g) => g.built), logs);
  const missing = report.notes.join('\n') || 'no result from the guest';
  const byId = new Map<string, { row: Row; log: string }>();
  for (const [i, fx] of fixtures.entries()) {
    const row = makeRow(fx, k, gens[i], report.results.get(fx.id), missing);
    rows.push(row);
    byId.set(fx.id, { row, log: gens[i].log });
  }
  return byId;
}

function explain(row: Row, gen: string, k: KernelEntry): string {
  const col = firstFailure(row)!;
  const logs = join(results, k.id);
  const detail = col === 'generated' || col === 'built' ? gen.split('\n').slice(-30).join('\n') : row.notes.join('\n');
  const before = row.beforeFailed || col !== 'effect' ? '' : ' (the effect check passed before the load: it proves nothing)';
  return `${row.fixture} on ${k.abi}: not ${col}${before}\n${detail}\nlogs: ${logs}`;
}

after(() => {
  const header = [`# Livepatch Lens: generated livepatches in real kernels`, '', ...kernels.map((k) => `- ${k.id}: ${k.package} ${k.version}, tree ${k.source} (${k.sourceVersion})`)];
  writeReport(results, rows, header);
});

for (const k of kernels) {
  describe(`${k.id} (${k.abi})`, { timeout: 20 * 60_000 }, () => {
    let byId: Map<string, { row: Row; log: string }> | undefined;
    let failure: Error | undefined;
    before(async () => {
      try {
        byId = await runKernel(k);
      } catch (e) {
        failure = e as Error;
      }
    });
    for (const fx of fixtures) {
      it(`${fx.id}: ${fx.class}`, () => {
        if (failure) throw failure;
        const { row, log } = byId!.get(fx.id)!;
        assert.ok(COLUMNS.every((c) => row.cells[c]), explain(row, log, k));
      });
    }
  });
}

