// One esbuild script for every bundle: the VS Code client, the CLI/server,
// the tests and the benchmark. esbuild does not type-check: `npm run typecheck` does.
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, rmSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const out = join(root, 'out');

// web-tree-sitter's ESM build reads import.meta.url, which is empty in a CJS
// bundle; point esbuild at its CJS build instead (see shared/research/vscode-anchors.md §4.2).
const alias = { 'web-tree-sitter': join(root, 'node_modules/web-tree-sitter/tree-sitter.cjs') };

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  sourcesContent: false,
  minify: production,
  keepNames: true,
  alias,
  logLevel: 'warning',
  loader: { '.scm': 'text', '.sh': 'text' },
};

function walk(dir, pred, acc = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, pred, acc);
    else if (pred(p)) acc.push(p);
  }
  return acc;
}

function copyAssets() {
  mkdirSync(out, { recursive: true });
  // The runtime wasm of web-tree-sitter and the C grammar shipped by tree-sitter-c.
  copyFileSync(join(root, 'node_modules/web-tree-sitter/tree-sitter.wasm'), join(out, 'tree-sitter.wasm'));
  copyFileSync(join(root, 'node_modules/tree-sitter-c/tree-sitter-c.wasm'), join(out, 'tree-sitter-c.wasm'));
}

const builds = [
  { ...common, entryPoints: { client: join(root, 'client/src/extension.ts') }, outdir: out, external: ['vscode'] },
  // The CLI and the server: out/klp-lens.js, loaded by the small entry out/cli.js through a V8 code cache (boot.ts).
  // No import() in it (web-tree-sitter has one): esbuild makes it a require, which a vm.Script can run.
  { ...common, entryPoints: { 'klp-lens': join(root, 'server/src/cli/main.ts') }, outdir: out, supported: { 'dynamic-import': false } },
  { ...common, entryPoints: { cli: join(root, 'server/src/cli/boot.ts') }, outdir: out, banner: { js: '#!/usr/bin/env node' } },
];
// The kernel-tree index scans files in worker threads: a bundle of its own, next to cli.js.
const worker = join(root, 'server/src/core/index/worker.ts');
if (existsSync(worker)) builds.push({ ...common, entryPoints: { indexWorker: worker }, outdir: out });
// The simulation view's script runs in a webview: a browser bundle, out/media/simView.js.
builds.push({ ...common, platform: 'browser', format: 'iife', target: 'es2022', entryPoints: { simView: join(root, 'client/src/simView/main.ts') }, outdir: join(out, 'media') });
// Fleet simulations run machines in worker threads: out/simWorker.js.
const simWorker = join(root, 'server/src/core/sim/fleetWorker.ts');
if (existsSync(simWorker)) builds.push({ ...common, entryPoints: { simWorker }, outdir: out });

if (!production) {
  const tests = walk(join(root, 'test'), (p) => p.endsWith('.test.ts'));
  const entries = Object.fromEntries(tests.map((p) => [relative(root, p).replace(/\.ts$/, ''), p]));
  // End-to-end tests (Neovim, code-server) go to out/e2e/, outside out/test/, so `npm test` does not run them.
  for (const p of walk(join(root, 'test'), (f) => f.endsWith('.e2e.ts'))) entries[join('e2e', relative(join(root, 'test'), p).replace(/\.ts$/, '').split('/').join('-'))] = p;
  // Real-kernel tests (qemu) go to out/kernel/: `npm run test:kernel` runs them, `npm test` does not.
  for (const p of walk(join(root, 'test'), (f) => f.endsWith('.kernel.ts'))) entries[join('kernel', relative(join(root, 'test', 'kernel'), p).replace(/\.kernel\.ts$/, '').split('/').join('-'))] = p;
  // The fuzz campaign (npm run fuzz) goes to out/fuzz/.
  for (const p of walk(join(root, 'test'), (f) => f.endsWith('.fuzz.ts'))) entries[join('fuzz', relative(join(root, 'test'), p).replace(/\.fuzz\.ts$/, '').split('/').pop())] = p;
  const benches = walk(join(root, 'bench'), (p) => p.endsWith('.ts') && !p.includes('/lib/'));
  for (const p of benches) entries[relative(root, p).replace(/\.ts$/, '')] = p;
  // playwright-core stays a runtime require (out/e2e/ resolves it from node_modules).
  builds.push({ ...common, entryPoints: entries, outdir: out, external: ['playwright-core'] });
}

if (!watch) rmSync(out, { recursive: true, force: true });
copyAssets();
if (watch) {
  for (const b of builds) {
    const ctx = await esbuild.context(b);
    await ctx.watch();
  }
  console.log('[watch] esbuild is watching client, server, tests');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
