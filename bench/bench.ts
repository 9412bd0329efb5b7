/**
 * npm run bench — patch-model time against bare tree-sitter parsing of the
 * same C text (target ≤ 2×), for a ~300-line and a ~20,000-line patch, with
 * and without a kernel tree; the language server's resident memory; and
 * whether the native tree-sitter binding would pay off for CLI batch runs;
 * the server's edit → diagnostics latency for a ~1,000-line patch (target
 * under 50 ms, hunks only and with the indexed tree) and the index's build
 * time and memory.
 * Every ratio compares two measurements taken in this same run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  InitializeRequest,
  InitializedNotification,
  DidOpenTextDocumentNotification,
  PublishDiagnosticsNotification,
  ConfigurationRequest,
  ShutdownRequest,
  ExitNotification,
} from 'vscode-languageserver-protocol/node';
import { analyzePatchSync } from '../server/src/core/analysis';
import { initParser, parseC } from '../server/src/core/syntax/parser';
import { parsePatch } from '../server/src/core/patch/parse';
import { buildImages } from '../server/src/core/patch/images';
import { buildParseSource } from '../server/src/core/syntax/source';
import { KernelTree } from '../server/src/core/tree/kernelTree';
import { benchTree, makePatch } from './lib/gen';
import { serverChurn, serverCodeActions, serverLatency } from './lib/server';
import { FIXABLE_CODES } from '../server/src/core/fixes';
import { startup } from './lib/startup';
import { fixDriverBench, fixDriverPatches } from './lib/fixDriver';
import { SERVER_NODE_ARGS } from '../server/src/lsp/launch';

const ROOT = join(__dirname, '..', '..');
const CACHE = join(ROOT, '.bench-cache');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn: () => void, runs: number, warm = Math.max(3, runs)): number {
  for (let i = 0; i < warm; i++) fn();
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(xs);
}

/** The exact C texts the pipeline hands to tree-sitter (both sides of every C file), unmasked. */
function cTexts(text: string, tree?: KernelTree): string[] {
  const set = parsePatch(text);
  const { files } = buildImages(set, tree);
  const out: string[] = [];
  for (const f of files) {
    if (f.language !== 'c' && f.language !== 'header') continue;
    if (f.pre.exists) out.push(buildParseSource(f.pre).raw);
    if (f.post.exists) out.push(buildParseSource(f.post).raw);
  }
  return out;
}

interface NativeParser {
  parse(text: string): { delete?: () => void };
}

function loadNative(): NativeParser | undefined {
  const dir = process.env.KLP_LENS_NATIVE_DIR ?? join(CACHE, 'native');
  try {
    const req = require(join(dir, 'node_modules', 'tree-sitter'));
    const C = require(join(dir, 'node_modules', 'tree-sitter-c'));
    const p = new req();
    p.setLanguage(C);
    return p;
  } catch {
    return undefined;
  }
}

async function serverMemory(patch: string, tree: string | undefined): Promise<{ idleMiB: number; loadedMiB: number; ms: number }> {
  const child = spawn(process.execPath, [join(ROOT, 'out', 'cli.js'), 'serve', '--stdio'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const conn = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  conn.onRequest(ConfigurationRequest.type, (p) => p.items.map(() => ({ kernelTree: tree ?? '' })));
  conn.onNotification('window/logMessage', () => undefined);
  const got = new Promise<void>((resolve) => conn.onNotification(PublishDiagnosticsNotification.type, () => resolve()));
  conn.listen();
  const rss = () => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return m ? +m[1] / 1024 : NaN;
  };
  await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null });
  await conn.sendNotification(InitializedNotification.type, {});
  await new Promise((r) => setTimeout(r, 300));
  const idleMiB = rss();
  const t0 = Date.now();
  await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: pathToFileURL(join(CACHE, 'big.patch')).toString(), languageId: 'kernel-patch', version: 1, text: patch } });
  await got;
  const ms = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 200));
  const loadedMiB = rss();
  await conn.sendRequest(ShutdownRequest.type);
  await conn.sendNotification(ExitNotification.type);
  conn.dispose();
  child.kill();
  return { idleMiB, loadedMiB, ms };
}

async function main() {
  mkdirSync(CACHE, { recursive: true });
  await initParser();
  const bt = benchTree(CACHE);
  const tree = KernelTree.open(bt.root).tree!;
  console.log(`Livepatch Lens benchmark — node ${process.version}, ${bt.real ? `real kernel files from ${bt.root}` : 'synthetic kernel-style files (linux-source-6.1 not installed)'}`);
  const native = loadNative();
  const results: Record<string, unknown>[] = [];
  const rows: string[][] = [['patch', 'tree', 'C files', 'C text KiB', 'model ms', 'bare parse ms', 'ratio', 'target', 'with hazards ms', 'ratio', 'native parse ms']];
  let big = '';
  for (const [label, target, runs] of [
    ['~300 lines', 300, 40],
    ['~20,000 lines', 20000, 5],
  ] as const) {
    const { text, files } = makePatch(bt, target, 42);
    if (target > 1000) big = text;
    const lines = text.split('\n').length;
    for (const withTree of [false, true]) {
      const t = withTree ? tree : undefined;
      const texts = cTexts(text, t);
      const kib = texts.reduce((n, s) => n + s.length, 0) / 1024;
      // the patch model (issue 2's measure) and the whole analysis with facts and hazard rules
      const model = time(() => analyzePatchSync(text, { tree: t, rules: false }).dispose(), runs);
      const full = time(() => analyzePatchSync(text, { tree: t }).dispose(), runs);
      const bare = time(() => {
        for (const s of texts) parseC(s).delete();
      }, runs);
      const nat = native
        ? time(() => {
            for (const s of texts) native.parse(s);
          }, runs)
        : NaN;
      const ratio = model / bare;
      rows.push([`${label} (${lines})`, withTree ? 'yes' : 'no', String(files), kib.toFixed(0), model.toFixed(1), bare.toFixed(1), `${ratio.toFixed(2)}×`, ratio <= 2 ? 'ok ≤ 2×' : 'MISSED', full.toFixed(1), `${(full / bare).toFixed(2)}×`, Number.isNaN(nat) ? '-' : nat.toFixed(1)]);
      results.push({ patch: label, lines, tree: withTree, files, cTextKiB: +kib.toFixed(1), modelMs: +model.toFixed(2), fullMs: +full.toFixed(2), bareParseMs: +bare.toFixed(2), ratio: +ratio.toFixed(3), nativeParseMs: Number.isNaN(nat) ? null : +nat.toFixed(2) });
    }
  }
  const widths = rows[0].map((_c, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));

  // CLI start: `klp-lens check` as a whole process against checkpatch.pl --no-tree on the same 2-hunk patch (target: ratio ≤ 1.0).
  {
    const patch = join(ROOT, 'examples', 'kthread-unpark.patch');
    const s = startup(join(ROOT, 'out', 'cli.js'), patch, '/usr/src/linux-source-6.1/scripts/checkpatch.pl');
    const ratio = s.checkpatchMs ? s.klpMs / s.checkpatchMs : undefined;
    console.log(
      `\nCLI start, whole process, median of ${s.runs} (examples/kthread-unpark.patch):\n` +
        `  klp-lens check --format json ${s.klpMs.toFixed(0)} ms (without the code cache ${s.klpColdMs.toFixed(0)} ms); node -e 0 ${s.nodeMs.toFixed(0)} ms; ` +
        (ratio !== undefined ? `checkpatch.pl --no-tree ${s.checkpatchMs!.toFixed(0)} ms → ratio ${ratio.toFixed(2)} ${ratio <= 1 ? 'ok ≤ 1.0' : 'MISSED 1.0'}` : 'checkpatch.pl: linux-source-6.1 is not installed here'),
    );
    results.push({ startup: s });
  }

  // Native binding for CLI batch runs: what share of the batch would it save?
  const bigTree = results.find((r) => r.patch === '~20,000 lines' && r.tree === true) as { fullMs: number; bareParseMs: number; nativeParseMs: number | null };
  if (bigTree.nativeParseMs !== null) {
    const withNative = bigTree.fullMs - bigTree.bareParseMs + bigTree.nativeParseMs;
    const saving = 1 - withNative / bigTree.fullMs;
    console.log(
      `\nnative tree-sitter for CLI batches: parse ${bigTree.bareParseMs.toFixed(1)} ms (wasm) vs ${bigTree.nativeParseMs.toFixed(1)} ms (native), ` +
        `${(bigTree.bareParseMs / bigTree.nativeParseMs).toFixed(2)}× faster parsing; whole analysis ${bigTree.fullMs.toFixed(1)} → ~${withNative.toFixed(1)} ms ` +
        `(${(saving * 100).toFixed(0)}% saved). Decision rule: adopt only if ≥ 25% of the batch is saved → ${saving >= 0.25 ? 'ADOPT' : 'keep web-tree-sitter everywhere'}.`,
    );
    results.push({ nativeDecision: { wasmParseMs: bigTree.bareParseMs, nativeParseMs: bigTree.nativeParseMs, batchSavingPct: +(saving * 100).toFixed(1) } });
  } else {
    console.log('\nnative tree-sitter: not installed here (npm run bench:native-setup installs it into .bench-cache/ to compare).');
  }

  const memNo = await serverMemory(big, undefined);
  const memTree = await serverMemory(big, bt.root);
  console.log(
    `\nlanguage server resident memory: idle ${memNo.idleMiB.toFixed(0)} MiB; after analysing the ~20,000-line patch ${memNo.loadedMiB.toFixed(0)} MiB without a tree ` +
      `(first diagnostics in ${memNo.ms} ms), ${memTree.loadedMiB.toFixed(0)} MiB with the tree (${memTree.ms} ms); ` +
      `growth ×${(memTree.loadedMiB / memTree.idleMiB).toFixed(2)} over idle.`,
  );
  results.push({ serverMemory: { noTree: memNo, tree: memTree } });

  // Diagnostics in the server for a ~1,000-line patch: edit → publishDiagnostics, median of 21 edits
  // (target < 50 ms), hunks only and against the indexed tree (the server builds the index itself
  // in the background, into a fresh cache; its build time and the server's memory are reported).
  const thousand = makePatch(bt, 1000, 7).text;
  const inProcess = time(() => analyzePatchSync(thousand, { tree }).dispose(), 10);
  const cli = join(ROOT, 'out', 'cli.js');
  console.log(`\nlanguage server, ~1,000-line patch (${thousand.split('\n').length} lines), edit → diagnostics, 21 edits, debounce 0:`);
  const latency: Record<string, unknown> = {};
  for (const [label, treeRoot] of [
    ['hunks only', undefined],
    [`indexed tree ${bt.root}`, bt.root],
  ] as const) {
    const r = await serverLatency(cli, thousand, { tree: treeRoot, edits: 21, nodeArgs: [...SERVER_NODE_ARGS] });
    latency[treeRoot ? 'tree' : 'hunks'] = r;
    console.log(
      `  ${label.padEnd(40)} median ${r.medianMs.toFixed(1)} ms (p90 ${r.p90Ms.toFixed(1)}, first open ${r.firstMs.toFixed(0)} ms, ${r.diagnostics} diagnostics) → ${r.medianMs < 50 ? 'ok < 50 ms' : 'MISSED 50 ms'}; ` +
        `${(r.medianMs / inProcess).toFixed(2)}× the in-process analysis with the tree (${inProcess.toFixed(1)} ms)`,
    );
    if (r.index)
      console.log(
        `  ${''.padEnd(40)} server's background index build: ${r.index.files} files in ${(r.index.loggedMs / 1000).toFixed(1)} s (ready ${(r.index.readyMs / 1000).toFixed(1)} s after start); ` +
          `server RSS ${r.rssIdleMiB.toFixed(0)} MiB with the index, ${r.rssEndMiB.toFixed(0)} MiB after the edits`,
      );
  }
  results.push({ serverLatency1000: latency, inProcessMs: inProcess });

  // Code actions on the ~1,000-line patch: the list at each fixable diagnostic and the first offer's edit (target ≤ 50 ms each).
  {
    const ca = await serverCodeActions(cli, thousand, FIXABLE_CODES, { tree: bt.root, rounds: 3, nodeArgs: [...SERVER_NODE_ARGS] });
    const ok = (ms: number) => (Number.isNaN(ms) ? 'none asked' : `${ms.toFixed(1)} ms → ${ms <= 50 ? 'ok ≤ 50 ms' : 'MISSED 50 ms'}`);
    console.log(
      `\ncode actions, ~1,000-line patch, tree ${bt.root}, ${ca.fixable} fixable diagnostics × 3 rounds: ` +
        `list median ${ok(ca.listMedianMs)} (${ca.listMs.length} requests); resolve median ${ok(ca.resolveMedianMs)} (${ca.resolveMs.length} requests)`,
    );
    results.push({ serverCodeActions: ca });
  }

  // The fix driver: one analysis per step, so a step should cost about one analysis.
  {
    const files = fixDriverPatches(ROOT);
    const fd = await fixDriverBench(files);
    console.log(
      `\nfix driver (fix --apply all, hunks only) on ${fd.patches} patches (${files[0]?.includes('corpus') ? 'the corpus fixes' : 'the fixture patches'}): ${fd.applied} fixes applied in ${(fd.totalMs / 1000).toFixed(1)} s; ` +
        `median ${fd.stepMedianMs.toFixed(1)} ms per step (each fix plus two analyses), one analysis of the same patch ${fd.analysisMedianMs.toFixed(1)} ms → ${(fd.stepMedianMs / fd.analysisMedianMs).toFixed(2)}×`,
    );
    results.push({ fixDriver: fd });
  }

  // Resident memory while 500 patches are opened, edited and closed (target: under 10% growth).
  {
    const { readdirSync } = await import('node:fs');
    const dir = join(ROOT, 'test', 'fixtures', 'patches');
    const patches = readdirSync(dir).sort().map((n) => readFileSync(join(dir, n), 'utf8'));
    // as the editor starts the server (SERVER_NODE_ARGS), then plain node, then the old space capped at 48 MiB
    // (a leak would run out of heap there; flat means any growth is V8 sizing its heap, not retained data)
    const c = await serverChurn(cli, patches, 550, 50, [...SERVER_NODE_ARGS]);
    const plain = await serverChurn(cli, patches, 550, 50);
    const capped = await serverChurn(cli, patches, 550, 50, ['--max-old-space-size=48']);
    const row = (r: typeof c) => `${r.rssWarmMiB.toFixed(1)} → ${r.rssEndMiB.toFixed(1)} MiB, growth ${r.growthPct.toFixed(1)}% (${r.msPerCycle.toFixed(1)} ms per cycle)`;
    console.log(
      `\nlanguage server, 500 patches opened, edited and closed one after another after 50 to warm up (the fixture patches, each text new):\n` +
        `  as the editor starts it (node ${SERVER_NODE_ARGS.join(' ')}): resident memory ${row(c)} → ${c.growthPct < 10 ? 'ok < 10%' : 'MISSED 10%'}\n` +
        `  plain node, for comparison: ${row(plain)}\n` +
        `  the heap capped at 48 MiB (node --max-old-space-size=48): ${row(capped)}`,
    );
    results.push({ serverChurn: c, serverChurnPlain: plain, serverChurnCapped: capped });
  }

  // The index on its own (bench/index.ts in a fresh process: peak RSS is the build's alone)
  if (bt.real) {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [join(ROOT, 'out', 'bench', 'index.js'), bt.root], { encoding: 'utf8', timeout: 900_000 });
    const pick = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(key))?.trim() ?? `${key}: (not reported; ${r.stderr.trim().split('\n').pop() ?? ''})`;
    console.log(`\nkernel-tree index of ${bt.root} (node out/bench/index.js for the full report):`);
    for (const key of ['full build', 'peak RSS ', 'cache ', 'no-change build', 'cache-only load', '1,000 queries']) console.log(`  ${pick(key)}`);
    results.push({ index: r.stdout });
  } else {
    console.log('\nkernel-tree index: linux-source-6.1 is not installed here; node out/bench/index.js TREE measures any tree.');
  }

  // The transition simulator (bench/sim.ts in a fresh process).
  {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [join(ROOT, 'out', 'bench', 'sim.js')], { encoding: 'utf8', timeout: 900_000 });
    console.log('\n' + (r.stdout.trim() || `simulator benchmark failed: ${r.stderr.trim().split('\n').pop() ?? ''}`));
    results.push({ simulator: r.stdout });
  }

  // Captures: capture → simulate of a 10,000-task machine, a fleet of 1,000 captures (bench/capture.ts).
  {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [join(ROOT, 'out', 'bench', 'capture.js')], { encoding: 'utf8', timeout: 900_000 });
    console.log('\n' + (r.stdout.trim() || `capture benchmark failed: ${r.stderr.trim().split('\n').pop() ?? ''}`));
    results.push({ capture: r.stdout });
  }

  // The bad inputs of docs/reliability.md: outcome, time and peak memory of each (bench/reliability.ts).
  {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [join(ROOT, 'out', 'bench', 'reliability.js')], { encoding: 'utf8', timeout: 1_800_000 });
    console.log('\n' + (r.stdout.trim() || `bad-input benchmark failed: ${r.stderr.trim().split('\n').pop() ?? ''}`));
    results.push({ reliability: r.stdout });
  }

  const outFile = join(ROOT, 'out', 'bench', 'results.json');
  if (existsSync(join(ROOT, 'out', 'bench'))) writeFileSync(outFile, JSON.stringify(results, null, 2));
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
