/**
 * The language server as an editor sees it: spawn `klp-lens serve --stdio`,
 * open a patch, then time edit → publishDiagnostics round trips. With a tree,
 * the server's own background index build is timed too (from the
 * `initialized` notification to its "kernel tree index:" log line).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  InitializeRequest,
  InitializedNotification,
  DidOpenTextDocumentNotification,
  DidChangeTextDocumentNotification,
  DidCloseTextDocumentNotification,
  PublishDiagnosticsNotification,
  ConfigurationRequest,
  ShutdownRequest,
  ExitNotification,
  CodeActionRequest,
  CodeActionResolveRequest,
  type CodeAction,
  type PublishDiagnosticsParams,
} from 'vscode-languageserver-protocol/node';

export interface ServerLatency {
  /** open → first diagnostics (tree files read and parsed for the first time) */
  firstMs: number;
  /** edit → diagnostics, every edit */
  editMs: number[];
  medianMs: number;
  p90Ms: number;
  diagnostics: number;
  /** with a tree: the background index build, as the server logged it */
  index?: { readyMs: number; loggedMs: number; files: number };
  rssIdleMiB: number;
  rssEndMiB: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];

/** A `klp-lens serve --stdio` process for a bench: its connection, its resident memory, and a clean stop. */
interface BenchServer {
  conn: ReturnType<typeof createProtocolConnection>;
  rss: () => number;
  stop: () => Promise<void>;
}

function startBenchServer(cli: string, nodeArgs: string[], config: Record<string, unknown>): BenchServer {
  const cacheHome = mkdtempSync(join(tmpdir(), 'klp-lens-bench-cache-'));
  const child = spawn(process.execPath, [...nodeArgs, cli, 'serve', '--stdio'], { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, XDG_CACHE_HOME: cacheHome } });
  const conn = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  conn.onRequest(ConfigurationRequest.type, (p) => p.items.map(() => config));
  const rss = () => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return m ? +m[1] / 1024 : NaN;
  };
  const stop = async () => {
    await conn.sendRequest(ShutdownRequest.type).catch(() => undefined);
    await conn.sendNotification(ExitNotification.type).catch(() => undefined);
    // let the server exit by itself (it writes a --cpu-prof profile then), kill it after 5 s
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      const t = setTimeout(() => {
        child.kill();
        resolve();
      }, 5000);
      child.on('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
    conn.dispose();
    rmSync(cacheHome, { recursive: true, force: true });
  };
  return { conn, rss, stop };
}

/**
 * Each edit rewrites one `+` line of the patch (a numbered comment at its
 * end), on lines spread through the document, so every round trip
 * re-analyses a patch text the server has not seen before.
 */
export async function serverLatency(cli: string, patch: string, opts: { tree?: string; edits: number; nodeArgs?: string[] }): Promise<ServerLatency> {
  const server = startBenchServer(cli, opts.nodeArgs ?? [], { kernelTree: opts.tree ?? '', debounceMs: 0 });
  const { conn, rss } = server;
  let indexLog: { at: number; ms: number; files: number } | undefined;
  let indexSeen: () => void = () => undefined;
  conn.onNotification('window/logMessage', (p: { message: string }) => {
    const m = /^kernel tree index: (\d+) files .* in (\d+) ms/.exec(p.message);
    if (m) {
      indexLog = { at: performance.now(), ms: +m[2], files: +m[1] };
      indexSeen();
    }
  });
  let waiting: { version: number; resolve: (p: PublishDiagnosticsParams) => void } | undefined;
  conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
    if (waiting && p.version === waiting.version) waiting.resolve(p);
  });
  const published = (version: number) => new Promise<PublishDiagnosticsParams>((resolve) => (waiting = { version, resolve }));
  conn.listen();
  try {
    await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null });
    const t0 = performance.now();
    await conn.sendNotification(InitializedNotification.type, {});
    let index: ServerLatency['index'];
    if (opts.tree) {
      // diagnostics are measured against the indexed tree: wait for the background build
      await new Promise<void>((resolve, reject) => {
        if (indexLog) return resolve();
        const timer = setTimeout(() => reject(new Error('the server did not finish indexing the tree in 10 minutes')), 600_000);
        indexSeen = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      index = { readyMs: indexLog!.at - t0, loggedMs: indexLog!.ms, files: indexLog!.files };
    }
    await new Promise((r) => setTimeout(r, 300));
    const rssIdleMiB = rss();
    const uri = pathToFileURL(join(tmpdir(), 'klp-lens-bench.patch')).toString();
    let lines = patch.split('\n');
    const plus = lines.flatMap((l, i) => (l.startsWith('+') && !l.startsWith('+++') && l.trim().length > 1 ? [i] : []));
    let version = 1;
    let t = performance.now();
    let wait = published(version);
    await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'kernel-patch', version, text: patch } });
    const first = await wait;
    const firstMs = performance.now() - t;
    const editMs: number[] = [];
    for (let k = 0; k < opts.edits; k++) {
      // a new text every time (no edit returns to a state the server has seen)
      const line = plus[(k * 7919) % plus.length];
      const old = lines[line];
      const next = `${old.replace(/ \/\* edit \d+ \*\/$/, '')} /* edit ${k} */`;
      lines = [...lines.slice(0, line), next, ...lines.slice(line + 1)];
      version++;
      wait = published(version);
      t = performance.now();
      await conn.sendNotification(DidChangeTextDocumentNotification.type, {
        textDocument: { uri, version },
        contentChanges: [{ range: { start: { line, character: 0 }, end: { line, character: old.length } }, text: next }],
      });
      await wait;
      editMs.push(performance.now() - t);
    }
    const rssEndMiB = rss();
    return { firstMs, editMs, medianMs: median(editMs), p90Ms: quantile(editMs, 0.9), diagnostics: first.diagnostics.length, index, rssIdleMiB, rssEndMiB };
  } finally {
    await server.stop();
  }
}

export interface ServerChurn {
  cycles: number;
  /** Resident memory after the warm-up cycles and after the last one (both after a short settle). */
  rssWarmMiB: number;
  rssEndMiB: number;
  growthPct: number;
  msPerCycle: number;
}

/**
 * Open, edit and close `cycles` patches, one after the other, each under its
 * own URI and with its own text (the kind of day a reviewer has): resident
 * memory after `warm` cycles against after the last. A server that kept
 * per-document state, caches without bounds or listeners past close grows.
 */
export async function serverChurn(cli: string, patches: string[], cycles = 500, warm = 50, nodeArgs: string[] = []): Promise<ServerChurn> {
  const server = startBenchServer(cli, nodeArgs, { debounceMs: 0 });
  const { conn, rss } = server;
  let waiting: { uri: string; version: number; resolve: () => void } | undefined;
  conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
    if (waiting && p.uri === waiting.uri && p.version === waiting.version) waiting.resolve();
  });
  const published = (uri: string, version: number) => new Promise<void>((resolve) => (waiting = { uri, version, resolve }));
  const settle = () => new Promise((r) => setTimeout(r, 500));
  conn.listen();
  try {
    await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null });
    await conn.sendNotification(InitializedNotification.type, {});
    let rssWarmMiB = NaN;
    let tWarm = performance.now();
    for (let k = 0; k < cycles; k++) {
      const uri = pathToFileURL(join(tmpdir(), `klp-lens-churn-${k}.patch`)).toString();
      const text = patches[k % patches.length].replace(/^(\+.*\S)$/m, `$1 /* cycle ${k} */`);
      let wait = published(uri, 1);
      await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'kernel-patch', version: 1, text } });
      await wait;
      wait = published(uri, 2);
      await conn.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version: 2 }, contentChanges: [{ text: `${text}\n` }] });
      await wait;
      await conn.sendNotification(DidCloseTextDocumentNotification.type, { textDocument: { uri } });
      if (k + 1 === warm) {
        await settle();
        rssWarmMiB = rss();
        tWarm = performance.now();
      }
    }
    const msPerCycle = (performance.now() - tWarm) / (cycles - warm);
    await settle();
    const rssEndMiB = rss();
    return { cycles, rssWarmMiB, rssEndMiB, growthPct: ((rssEndMiB - rssWarmMiB) / rssWarmMiB) * 100, msPerCycle };
  } finally {
    await server.stop();
  }
}

export interface ServerCodeActions {
  /** Fixable diagnostics of the patch, and code-action lists asked for (one per such diagnostic, repeated). */
  fixable: number;
  listMs: number[];
  resolveMs: number[];
  listMedianMs: number;
  resolveMedianMs: number;
}

/**
 * Code actions on an open patch as an editor asks for them: the list at each fixable diagnostic
 * (textDocument/codeAction) and the edit of the first offer (codeAction/resolve), `rounds` times over.
 */
export async function serverCodeActions(cli: string, patch: string, fixable: ReadonlySet<string>, opts: { tree?: string; rounds: number; nodeArgs?: string[] }): Promise<ServerCodeActions> {
  const server = startBenchServer(cli, opts.nodeArgs ?? [], { kernelTree: opts.tree ?? '', debounceMs: 0 });
  const { conn } = server;
  let first: PublishDiagnosticsParams | undefined;
  let seen: () => void = () => undefined;
  conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
    if (p.version === 1 && !first) {
      first = p;
      seen();
    }
  });
  conn.listen();
  try {
    await conn.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      capabilities: { workspace: { configuration: true }, textDocument: { codeAction: { resolveSupport: { properties: ['edit'] }, codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix'] } } } } },
      workspaceFolders: null,
    });
    await conn.sendNotification(InitializedNotification.type, {});
    const uri = pathToFileURL(join(tmpdir(), 'klp-lens-bench-actions.patch')).toString();
    const published = new Promise<void>((r) => (seen = r));
    await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'kernel-patch', version: 1, text: patch } });
    await published;
    const targets = first!.diagnostics.filter((d) => fixable.has(String(d.code)));
    const listMs: number[] = [];
    const resolveMs: number[] = [];
    for (let k = 0; k < opts.rounds; k++)
      for (const d of targets) {
        let t = performance.now();
        const actions = ((await conn.sendRequest(CodeActionRequest.type, { textDocument: { uri }, range: d.range, context: { diagnostics: [d] } })) ?? []) as CodeAction[];
        listMs.push(performance.now() - t);
        if (!actions[0]) continue;
        t = performance.now();
        await conn.sendRequest(CodeActionResolveRequest.type, actions[0]);
        resolveMs.push(performance.now() - t);
      }
    return { fixable: targets.length, listMs, resolveMs, listMedianMs: listMs.length ? median(listMs) : NaN, resolveMedianMs: resolveMs.length ? median(resolveMs) : NaN };
  } finally {
    await server.stop();
  }
}
