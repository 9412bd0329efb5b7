/**
 * The language server: wiring only. Documents, configuration, debounced and
 * cancellable re-analysis, and handlers that ask the core and convert.
 * Diagnostics are pushed (publishDiagnostics), which every client supports,
 * Neovim 0.7 included.
 */
import { runRequest, SimRequestError, validateSimRequest, workloadOf } from '../core/sim/session';
import { precheck, precheckText } from '../core/sim/precheck';
import { CaptureLoadError, loadCapture } from '../core/capture/load';
import { statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createConnection,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type Connection,
  type InitializeParams,
  type InitializeResult,
  type Hover,
  type CodeLens,
  MarkupKind,
  CodeActionKind,
  MessageType,
  ShowMessageNotification,
  type CodeAction,
  type WorkspaceEdit,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { analyzePatch, CancelledError, DEFAULT_MAX_LENGTH, targetOf, type PatchAnalysis } from '../core/analysis';
import { applyFix, FIXABLE_CODES, FIXES, fixesFor, FixError, type FixContext } from '../core/fixes';
import { lineReplacements } from '../core/fixes/patchEdit';
import type { BuildTool } from '../core/rules';
import { range, type Range } from '../core/text';
import { finding } from '../core/findings';
import { KernelTree } from '../core/tree/kernelTree';
import { ParseCache } from '../core/syntax/cache';
import { FileResultCache } from '../core/resultCache';
import { TreeIndex } from '../core/index/treeIndex';
import { lineContext } from '../core/query';
import { reportFile } from '../services/report';
import { generateInto, GenerateError } from '../services/generate';
import { readSymbolTable, SymbolTableError, type SymbolTable } from '../core/symbols/table';
import { changeLabel, documentSymbols, foldingRanges, toDiagnostic, type ConvertContext } from './convert';
import { CloseCollector } from './closeGc';
import { FixAnalyses } from './fixAnalyses';
import { FIX_NOTES_COMMAND, GenerateModuleRequest, PatchModelRequest, PrecheckRequest, SimulateRequest, type GenerateModuleResult, type PrecheckResponse, type SimulateResponse } from '../protocol';
import pkg from '../../../package.json';

function isReadableFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export interface Settings {
  kernelTree: string;
  kernelConfig: string;
  kernelVersion: string;
  arch: string;
  debounceMs: number;
  maxPatchBytes: number;
  /** A document's analysis past this long stops with a KLP011 finding (checked between files). */
  analysisTimeoutMs: number;
  /** A document's analysis that grows the heap by more than this stops with a KLP011 finding (checked between files). */
  analysisMemoryMiB: number;
  /** The livepatch build tool fixes write for; empty: from the kernel version. */
  buildTool: '' | BuildTool;
  /** The target kernel's headers folder (Module.symvers, .config) for generated modules. */
  kernelHeaders: string;
  /** The target kernel's symbol table (System.map, a /proc/kallsyms copy, vmlinux) for generated modules. */
  kernelSymbols: string;
}

const DEFAULTS: Settings = { kernelTree: '', kernelConfig: '', kernelVersion: '', arch: '', debounceMs: 250, maxPatchBytes: DEFAULT_MAX_LENGTH, analysisTimeoutMs: 10_000, analysisMemoryMiB: 2048, buildTool: '', kernelHeaders: '', kernelSymbols: '' };

/** What a code action carries until it is resolved (the finding it answers, in that document version). */
interface FixActionData {
  uri: string;
  version: number;
  fix: string;
  code: string;
  range: Range;
  message: string;
  /** The finding's file: only its syntax is rebuilt for the edit, the other files come from the caches. */
  file?: string;
}

const notesCommand = (notes: string[]) => (notes.length ? { title: 'What the fix left to check', command: FIX_NOTES_COMMAND, arguments: notes } : undefined);

const overlaps = (a: Range, b: Range) => !(a.end.line < b.start.line || (a.end.line === b.start.line && a.end.character < b.start.character) || b.end.line < a.start.line || (b.end.line === a.start.line && b.end.character < a.start.character));


/** The answer to a request that needs workspace trust. */
const UNTRUSTED = (what: string) => `this needs a trusted workspace: ${what}. In Restricted Mode Livepatch Lens analyses, fixes and simulates only (Manage Workspace Trust to allow it)`;

interface DocState {
  timer?: NodeJS.Timeout;
  /** Analysis of `version`, with its trees already released. */
  analysis?: PatchAnalysis;
  version?: number;
  running?: { version: number; cancelled: boolean; promise: Promise<PatchAnalysis | undefined> };
}

/**
 * A document analysis's time and heap budget. `exceeded()` says which was
 * passed, and how; the first answer sticks (the heap may shrink after the stop,
 * and the stop must still be reported as the budget's).
 */
function analysisBudget(settings: Settings): { exceeded: () => string | undefined } {
  const t0 = performance.now();
  const heap0 = process.memoryUsage().heapUsed;
  let over: string | undefined;
  const check = (): string | undefined => {
    const ms = performance.now() - t0;
    if (ms > settings.analysisTimeoutMs) return `The analysis of this patch took more than ${settings.analysisTimeoutMs} ms (setting livepatchLens.analysisTimeoutMs) and was stopped; the other open patches are not affected. Split the series, or raise the setting.`;
    const grown = (process.memoryUsage().heapUsed - heap0) / 1048576;
    if (grown > settings.analysisMemoryMiB) return `The analysis of this patch grew the server's heap by ${grown.toFixed(0)} MiB, past ${settings.analysisMemoryMiB} MiB (setting livepatchLens.analysisMemoryMiB), and was stopped; the other open patches are not affected. Split the series, or raise the setting.`;
    return undefined;
  };
  return { exceeded: () => (over ??= check()) };
}

/**
 * Test-only fault injection: with KLP_LENS_TEST_FAULT set, a document that
 * contains its value makes the analysis throw (the protocol test checks that
 * the failure stays with that document).
 */
function injectedFault(text: string): void {
  const marker = process.env.KLP_LENS_TEST_FAULT;
  if (marker && text.includes(marker)) throw new Error(`injected fault (${marker})`);
}

export function runServer(): void {
  const connection = createConnection(ProposedFeatures.all);
  startServer(connection);
  connection.listen();
}

export function startServer(connection: Connection): void {
  const documents = new TextDocuments(TextDocument);
  // A full GC after documents close (with --expose-gc, as clients start it).
  const collector = new CloseCollector();
  // The analysis with syntax that code-action edits of one document version share.
  const fixAnalyses = new FixAnalyses();
  const states = new Map<string, DocState>();
  let settings: Settings = { ...DEFAULTS };
  let workspaceRoots: string[] = [];
  let canPullConfig = false;
  let relatedInformation = false;
  let simulateLens = false;
  /** VS Code's workspace trust (other clients have none: trusted). Generating, building and capture files need it. */
  let trusted = true;
  let tree: KernelTree | undefined;
  let treeNote: string | undefined;
  // parsed tree files, reused while the author edits a patch (see core/syntax/cache.ts)
  let parseCache = new ParseCache();
  // per-file results of the last analyses: an edit re-analyses only the file it touches
  const resultCache = new FileResultCache();
  // the tree's index: built in the background; until it is ready, findings come from the patch alone
  let index: TreeIndex | undefined;
  let indexAbort: AbortController | undefined;
  let workDoneProgress = false;
  /**
   * A message for the user: the window/showMessage notification, which every client takes
   * (window.show*Message sends a request, and a client that does not answer it would
   * leave a rejected promise behind).
   */
  const tell = (type: MessageType, message: string) => void connection.sendNotification(ShowMessageNotification.type, { type, message });
  // a failure in some handler must not take the server (and every open document's diagnostics) down
  process.on('unhandledRejection', (e) => connection.console.error(`unhandled rejection: ${(e as Error)?.stack ?? String(e)}`));
  // what the client can do with code actions
  let resolveEdits = false;
  let annotatedEdits = false;

  const buildIndex = async (forTree: KernelTree) => {
    indexAbort?.abort();
    const abort = new AbortController();
    indexAbort = abort;
    let configFile = settings.kernelConfig || undefined;
    if (configFile && !isReadableFile(configFile)) {
      tell(MessageType.Warning, `livepatchLens.kernelConfig: cannot read ${configFile}; using the tree's own .config, if any.`);
      configFile = undefined;
    }
    // a cached index answers at once; the build below then only rescans what changed on disk
    const cached = TreeIndex.loadCached(forTree, undefined, { configFile });
    if (cached && tree === forTree) {
      index = cached;
      reanalyseAll();
    }
    const progress = workDoneProgress ? await connection.window.createWorkDoneProgress().catch(() => undefined) : undefined;
    progress?.begin('Livepatch Lens: indexing the kernel tree', 0, forTree.root, true);
    progress?.token.onCancellationRequested(() => abort.abort());
    let last = 0;
    try {
      const built = await TreeIndex.build(forTree, {
        signal: abort.signal,
        configFile,
        onProgress: (p) => {
          const pct = p.total ? Math.floor((100 * p.done) / p.total) : 0;
          if (pct !== last) progress?.report(pct, `${p.phase} ${p.done}/${p.total}`);
          last = pct;
        },
      });
      if (abort.signal.aborted || tree !== forTree) return;
      index = built;
      // what the build held (file records, merge buffers) is garbage now: give it back before the re-analysis
      collector.freed();
      const st = built.stats();
      connection.console.log(`kernel tree index: ${st.files} files (${st.rescanned} scanned, ${st.fromCache} from cache) in ${st.buildMs} ms${st.cacheError ? `; cache not written: ${st.cacheError}` : ''}`);
      reanalyseAll();
    } catch (e) {
      if (!abort.signal.aborted) connection.console.error(`kernel tree index failed: ${(e as Error).message}; findings use the patch and the tree files only`);
    } finally {
      progress?.done();
    }
  };
  // out/cli.js → the package root holds docs/
  const convert = (): ConvertContext => ({ docsRoot: dirname(__dirname), treeRoot: tree?.root, relatedInformation });

  const chooseTree = () => {
    tree = undefined;
    treeNote = undefined;
    parseCache.dispose();
    parseCache = new ParseCache();
    resultCache.clear();
    if (settings.kernelTree) {
      const opened = KernelTree.open(settings.kernelTree);
      if (opened.error) treeNote = `livepatchLens.kernelTree: ${opened.error}; analysing hunks alone.`;
      tree = opened.tree;
    } else {
      for (const root of workspaceRoots) {
        tree = KernelTree.detect(root);
        if (tree) break;
      }
    }
    if (treeNote) tell(MessageType.Warning, treeNote);
    connection.console.log(`kernel tree: ${tree ? `${tree.root} (${tree.version?.text ?? 'version unknown'})` : 'none (hunks only)'}`);
    index = undefined;
    indexAbort?.abort();
    // only a kernel tree is indexed: a folder named by hand could be anything (a home directory)
    if (tree?.isKernel) void buildIndex(tree);
  };

  const readSettings = async () => {
    if (!canPullConfig) return;
    try {
      const s = (await connection.workspace.getConfiguration('livepatchLens')) as Partial<Settings> | null;
      settings = { ...DEFAULTS, ...(s ?? {}) };
    } catch {
      settings = { ...DEFAULTS };
    }
  };

  const state = (uri: string): DocState => {
    let s = states.get(uri);
    if (!s) states.set(uri, (s = {}));
    return s;
  };

  /** Analyse the current version of a document (or join the run already doing it). */
  const analyse = (uri: string): Promise<PatchAnalysis | undefined> => {
    const doc = documents.get(uri);
    if (!doc) return Promise.resolve(undefined);
    const s = state(uri);
    if (s.analysis && s.version === doc.version) return Promise.resolve(s.analysis);
    if (s.running && s.running.version === doc.version && !s.running.cancelled) return s.running.promise;
    if (s.running) s.running.cancelled = true;
    const run = { version: doc.version, cancelled: false, promise: Promise.resolve<PatchAnalysis | undefined>(undefined) };
    s.running = run;
    run.promise = (async () => {
      const budget = analysisBudget(settings);
      try {
        const text = doc.getText();
        injectedFault(text);
        const a = await analyzePatch(text, {
          ...analyzeOptions(),
          resultCache,
          isCancelled: () => run.cancelled || budget.exceeded() !== undefined,
          yieldBetweenFiles: () => new Promise((r) => setImmediate(r)),
        });
        // Keep plain data only; the syntax trees are released at once.
        a.dispose();
        if (run.cancelled) return undefined;
        s.analysis = a;
        s.version = run.version;
        const diagnostics = a.findings.map((f) => toDiagnostic(f, uri, convert()));
        void connection.sendDiagnostics({ uri, version: run.version, diagnostics });
        return a;
      } catch (e) {
        if (run.cancelled) return undefined;
        // One document's failure or budget stays with it: it says so, the others are served as before.
        const over = e instanceof CancelledError ? budget.exceeded() : undefined;
        if (!over) connection.console.error(`analysis of ${uri} failed: ${(e as Error)?.stack ?? String(e)}`);
        const f = over ? finding('KLP011', over, range(0, 0, 0, 0)) : finding('KLP012', `The analysis of this patch failed (${(e as Error)?.message ?? String(e)}); its diagnostics are missing, the other open patches are not affected. Please report it with the patch (the server log has the stack).`, range(0, 0, 0, 0));
        void connection.sendDiagnostics({ uri, version: run.version, diagnostics: [toDiagnostic(f, uri, convert())] });
        return undefined;
      } finally {
        if (s.running === run) s.running = undefined;
      }
    })();
    return run.promise;
  };

  /** Why a request on `uri` has no analysis to work on. */
  const noAnalysis = (uri: string) => (documents.get(uri) ? 'the patch has no analysis: it failed or passed its budget (its diagnostic says which)' : 'the patch is not open');

  const schedule = (uri: string, delay: number) => {
    const s = state(uri);
    if (s.timer) clearTimeout(s.timer);
    if (s.running) s.running.cancelled = true;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      void analyse(uri);
    }, delay);
  };

  /** The analysis for the document's current version, waiting for it if needed. */
  const current = async (uri: string): Promise<PatchAnalysis | undefined> => {
    const s = states.get(uri);
    if (s?.timer) {
      clearTimeout(s.timer);
      s.timer = undefined;
    }
    return analyse(uri);
  };

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    canPullConfig = params.capabilities.workspace?.configuration === true;
    workDoneProgress = params.capabilities.window?.workDoneProgress === true;
    relatedInformation = params.capabilities.textDocument?.publishDiagnostics?.relatedInformation === true;
    resolveEdits = params.capabilities.textDocument?.codeAction?.resolveSupport?.properties.includes('edit') === true;
    annotatedEdits = params.capabilities.workspace?.workspaceEdit?.documentChanges === true && params.capabilities.workspace?.workspaceEdit?.changeAnnotationSupport !== undefined;
    const folders = params.workspaceFolders ?? [];
    workspaceRoots = folders.map((f) => f.uri).filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u));
    if (workspaceRoots.length === 0 && params.rootUri?.startsWith('file:')) workspaceRoots = [fileURLToPath(params.rootUri)];
    const init = (params.initializationOptions ?? {}) as Partial<Settings> & { simulateLens?: boolean; trusted?: boolean };
    // The VS Code client has the "Livepatch: Simulate Patch" command a code lens can run; other clients do not.
    simulateLens = init.simulateLens === true;
    trusted = init.trusted !== false;
    delete init.simulateLens;
    delete init.trusted;
    settings = { ...DEFAULTS, ...init };
    chooseTree();
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        documentSymbolProvider: true,
        hoverProvider: true,
        foldingRangeProvider: true,
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix], resolveProvider: true },
        executeCommandProvider: { commands: [FIX_NOTES_COMMAND] },
        ...(simulateLens ? { codeLensProvider: { resolveProvider: false } } : {}),
      },
      serverInfo: { name: 'livepatch-lens', version: pkg.version },
    };
  });

  /** Settings or the tree changed: every open document is analysed again. */
  const reanalyseAll = () => {
    // new settings, tree or index: the findings the kept fix analysis knows may have changed
    fixAnalyses.drop();
    for (const st of states.values()) st.version = undefined;
    for (const d of documents.all()) schedule(d.uri, 0);
  };

  connection.onInitialized(async () => {
    await readSettings();
    chooseTree();
    reanalyseAll();
  });

  connection.onDidChangeConfiguration(async (change) => {
    const before = settings;
    if (canPullConfig) await readSettings();
    else {
      const s = (change.settings as { livepatchLens?: Partial<Settings> } | undefined)?.livepatchLens;
      settings = { ...DEFAULTS, ...(s ?? {}) };
    }
    // the tree, its parse cache and its index stay unless the tree or its .config changed
    if (before.kernelTree !== settings.kernelTree || before.kernelConfig !== settings.kernelConfig) chooseTree();
    reanalyseAll();
  });

  // Fired on open too: a document seen for the first time is analysed at once, edits after a pause.
  documents.onDidChangeContent((e) => {
    fixAnalyses.drop(e.document.uri);
    schedule(e.document.uri, state(e.document.uri).analysis ? settings.debounceMs : 0);
  });
  documents.onDidClose((e) => {
    fixAnalyses.drop(e.document.uri);
    collector.freed();
    const s = states.get(e.document.uri);
    if (s?.timer) clearTimeout(s.timer);
    if (s?.running) s.running.cancelled = true;
    states.delete(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onDocumentSymbol(async (p) => {
    const a = await current(p.textDocument.uri);
    return a ? documentSymbols(a) : [];
  });

  connection.onCodeLens(async (p): Promise<CodeLens[]> => {
    if (!simulateLens) return [];
    const a = await current(p.textDocument.uri);
    if (!a) return [];
    const fns = new Set<string>();
    for (const f of a.files) for (const e of f.entities) if (e.kind === 'function' && e.change === 'changed') fns.add(e.name);
    if (fns.size === 0) return [];
    const title = `$(pulse) Simulate the transition (${fns.size} patched function${fns.size === 1 ? '' : 's'})`;
    return [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, command: { title, command: 'livepatchLens.simulate', arguments: [p.textDocument.uri] } }];
  });

  connection.onFoldingRanges(async (p) => {
    const a = await current(p.textDocument.uri);
    return a ? foldingRanges(a) : [];
  });

  connection.onHover(async (p): Promise<Hover | null> => {
    const a = await current(p.textDocument.uri);
    if (!a) return null;
    const ctx = lineContext(a, p.position.line);
    if (!ctx.file) return null;
    const md: string[] = [];
    const f = ctx.file;
    if (ctx.entities.length > 0) {
      const e = ctx.entities[0];
      md.push(`**${e.kind} \`${e.name}\`** — ${changeLabel(e)} in \`${f.path}\`${e.synthetic ? ' (name from the hunk header)' : ''}`);
      for (const m of e.members ?? []) md.push(`- member \`${m.name}\` ${m.change}${m.new ? `: \`${m.new}\`` : m.old ? `: \`${m.old}\`` : ''}`);
      for (const outer of ctx.entities.slice(1, 3)) md.push(`- inside ${outer.kind} \`${outer.name}\` (${changeLabel(outer)})`);
    } else if (ctx.onFileHeader || !ctx.hunk) {
      const n = f.entities.length;
      md.push(`**${f.path}** — ${f.status}, ${f.language}, ${f.confidence === 'tree' ? 'read from the kernel tree' : 'from the hunks alone'}; ${n} changed entit${n === 1 ? 'y' : 'ies'}`);
    }
    if (ctx.hunk) {
      const h = ctx.hunk;
      const app = ctx.application;
      const where = app
        ? app.status === 'failed'
          ? 'does **not** apply to the kernel tree'
          : app.status === 'exact'
            ? f.confidence === 'tree'
              ? `applies at line ${app.appliedAt}`
              : 'hunks only: no kernel tree'
            : `applies at line ${app.appliedAt} (${app.status}${app.offset ? `, offset ${app.offset > 0 ? '+' : ''}${app.offset}` : ''}${app.fuzz ? `, fuzz ${app.fuzz}` : ''})`
        : '';
      md.push(`Hunk \`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@\`${h.section ? ` \`${h.section}\`` : ''} — ${where}`);
    }
    if (md.length === 0) return null;
    return { contents: { kind: MarkupKind.Markdown, value: md.join('\n\n') } };
  });

  // the target's symbol table (livepatchLens.kernelSymbols): read once per path and mtime
  let symbolsLoaded: { key: string; table?: SymbolTable } | undefined;
  const targetSymbols = (): SymbolTable | undefined => {
    const path = settings.kernelSymbols;
    if (!path) return undefined;
    let key: string;
    try {
      key = `${path}:${statSync(path).mtimeMs}`;
    } catch {
      key = `${path}:missing`;
    }
    if (symbolsLoaded?.key === key) return symbolsLoaded.table;
    symbolsLoaded = { key };
    try {
      symbolsLoaded.table = readSymbolTable(path);
    } catch (e) {
      tell(MessageType.Warning, `livepatchLens.kernelSymbols: ${e instanceof SymbolTableError ? e.message : String(e)}; the checks against the target's symbols (KLP340–KLP342) are skipped.`);
    }
    return symbolsLoaded.table;
  };

  /** The options of every analysis of a document: diagnostics, code actions and their edits. */
  const analyzeOptions = () => ({
    tree,
    index,
    parseCache,
    symbols: targetSymbols(),
    kernelVersion: settings.kernelVersion || undefined,
    arch: settings.arch || undefined,
    tool: settings.buildTool || undefined,
    maxLength: settings.maxPatchBytes,
  });

  /** The fix's edit of the document, or a message saying why there is none. */
  const resolveFix = async (data: FixActionData, title: string): Promise<{ edit?: WorkspaceEdit; notes: string[]; error?: string }> => {
    const doc = documents.get(data.uri);
    if (!doc) return { notes: [], error: 'the document is closed' };
    if (doc.version !== data.version) return { notes: [], error: 'the document changed since the fix was offered; ask for it again' };
    const text = doc.getText();
    // Its own syntax trees, not the parse cache's: the cache deletes the trees it evicts, and this analysis is kept.
    const options = { ...analyzeOptions(), parseCache: undefined, ...(data.file ? { syntaxFor: data.file, resultCache } : { keepSyntax: true }) };
    const a = await fixAnalyses.get(data.uri, doc.version, data.file, () => analyzePatch(text, options));
    try {
      const finding = a.findings.find((f) => f.code === data.code && f.message === data.message && f.range.start.line === data.range.start.line && f.range.start.character === data.range.start.character);
      const fix = FIXES.find((x) => x.id === data.fix);
      if (!finding || !fix) return { notes: [], error: 'the finding is gone' };
      const ctx: FixContext = { text, analysis: a, tree, index, target: targetOf(analyzeOptions()) };
      const r = applyFix(ctx, fix, finding);
      const edits = lineReplacements(text, r.text);
      if (fix.preview && annotatedEdits) {
        const id = `livepatch-lens.${fix.id}`;
        return {
          notes: r.notes,
          edit: {
            documentChanges: [{ textDocument: { uri: data.uri, version: doc.version }, edits: edits.map((e) => ({ ...e, annotationId: id })) }],
            changeAnnotations: { [id]: { label: title, description: r.notes.join(' '), needsConfirmation: true } },
          },
        };
      }
      return { notes: r.notes, edit: { changes: { [data.uri]: edits } } };
    } catch (e) {
      if (e instanceof FixError) return { notes: [], error: e.message };
      throw e;
    }
  };

  connection.onCodeAction(async (p) => {
    const uri = p.textDocument.uri;
    const doc = documents.get(uri);
    const a = await current(uri);
    if (!a || !doc) return [];
    const ctx: FixContext = { text: doc.getText(), analysis: a, tree, index, target: targetOf(analyzeOptions()) };
    const actions: CodeAction[] = [];
    for (const f of a.findings) {
      if (!FIXABLE_CODES.has(f.code) || !overlaps(f.range, p.range)) continue;
      for (const offer of fixesFor(ctx, f)) {
        const data: FixActionData = { uri, version: doc.version, fix: offer.fix.id, code: f.code, range: f.range, message: f.message, ...(f.file ? { file: f.file } : {}) };
        actions.push({ title: offer.title, kind: CodeActionKind.QuickFix, diagnostics: [toDiagnostic(f, uri, convert())], data });
      }
    }
    if (actions.length === 1) actions[0].isPreferred = true;
    if (resolveEdits) return actions;
    // clients that cannot resolve get the edits now
    const out: CodeAction[] = [];
    for (const action of actions) {
      const r = await resolveFix(action.data as FixActionData, action.title);
      if (r.edit) out.push({ ...action, edit: r.edit, command: notesCommand(r.notes) });
      else out.push({ ...action, disabled: { reason: r.error ?? 'cannot be applied' } });
    }
    return out;
  });

  connection.onCodeActionResolve(async (action) => {
    const data = action.data as FixActionData | undefined;
    if (!data?.fix) return action;
    const r = await resolveFix(data, action.title);
    if (r.error) {
      tell(MessageType.Warning, `Livepatch Lens: ${action.title}: ${r.error}.`);
      return action;
    }
    // what the fix leaves to the author is said once it is applied (the client runs the command after the edit)
    return { ...action, edit: r.edit, command: notesCommand(r.notes) };
  });

  connection.onExecuteCommand((p) => {
    if (p.command === FIX_NOTES_COMMAND) {
      const notes = (p.arguments ?? []).filter((x): x is string => typeof x === 'string');
      if (notes.length) tell(MessageType.Info, `Livepatch Lens: ${notes.join(' ')}`);
    }
    return null;
  });

  connection.onRequest(PatchModelRequest, async (p) => {
    const a = await current(p.uri);
    return a ? reportFile(p.uri, a) : null;
  });

  connection.onRequest(SimulateRequest, async (p, token): Promise<SimulateResponse> => {
    try {
      const uri = typeof p?.uri === 'string' ? p.uri : undefined;
      if (!uri) return { ok: false, message: 'the simulation request names no document ("uri")' };
      const req = validateSimRequest(p);
      const a = await current(uri);
      if (!a) return { ok: false, message: noAnalysis(uri) };
      const workload = workloadOf(a, uri.startsWith('file:') ? fileURLToPath(uri) : uri);
      if (token.isCancellationRequested) return { ok: false, message: 'cancelled' };
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      // On a worker thread: the server keeps answering, and a cancel stops the run outright.
      const r = await runRequest(workload, req, undefined, undefined, abort.signal, true);
      // Where each changed function shows in the patch, for links from the simulation view.
      const locations: Record<string, number> = {};
      for (const f of a.files) for (const e of f.entities) if (e.kind === 'function' && !(e.name in locations)) locations[e.name] = e.range.start.line;
      return r.kind === 'run' ? { ok: true, kind: 'run', result: r.result, notes: workload.notes, locations } : { ok: true, kind: 'fleet', fleet: r.result, notes: workload.notes, locations };
    } catch (e) {
      if (e instanceof SimRequestError) return { ok: false, message: e.message };
      if (e instanceof CancelledError) return { ok: false, message: 'cancelled' };
      throw e;
    }
  });

  connection.onRequest(PrecheckRequest, async (p): Promise<PrecheckResponse> => {
    try {
      if (typeof p?.uri !== 'string' || typeof p?.capture !== 'string') return { ok: false, message: 'the precheck request needs "uri" and "capture"' };
      if (!trusted) return { ok: false, message: UNTRUSTED('precheck reads a capture file the workspace names') };
      const a = await current(p.uri);
      if (!a) return { ok: false, message: noAnalysis(p.uri) };
      const name = p.uri.startsWith('file:') ? fileURLToPath(p.uri) : p.uri;
      const result = precheck(loadCapture(p.capture), workloadOf(a, name).patch);
      return { ok: true, text: precheckText(result, basename(name)), result };
    } catch (e) {
      if (e instanceof SimRequestError || e instanceof CaptureLoadError) return { ok: false, message: e.message };
      throw e;
    }
  });

  connection.onRequest(GenerateModuleRequest, async (p): Promise<GenerateModuleResult> => {
    const doc = documents.get(p.uri);
    if (!doc) return { ok: false, message: 'the patch is not open' };
    if (!trusted) return { ok: false, message: UNTRUSTED('generating a module writes files and runs kbuild (make)') };
    if (!tree?.isKernel) return { ok: false, message: 'generating a module needs the kernel tree the patch applies to (setting livepatchLens.kernelTree)' };
    try {
      const headers = settings.kernelHeaders || undefined;
      const r = await generateInto({
        text: doc.getText(),
        source: p.uri.startsWith('file:') ? fileURLToPath(p.uri) : p.uri,
        tree,
        index,
        out: p.out,
        headers,
        symbols: settings.kernelSymbols || undefined,
        options: { kernelVersion: settings.kernelVersion || undefined, arch: settings.arch || undefined, maxLength: settings.maxPatchBytes },
        generator: `Livepatch Lens ${pkg.version}`,
      });
      const m = r.module;
      const errors = m.problems.filter((x) => x.severity === 'error');
      return {
        ok: errors.length === 0,
        message: `${m.name}: ${m.functions.length} function${m.functions.length === 1 ? '' : 's'}, ${m.relocations.length} klp relocation candidate${m.relocations.length === 1 ? '' : 's'}, ${r.written.length} files written${m.problems.length ? `; ${m.problems.length} problem${m.problems.length === 1 ? '' : 's'} (see README.md)` : ''}`,
        files: r.written,
        problems: m.problems.map((x) => `${x.severity}: ${x.message}`),
      };
    } catch (e) {
      if (e instanceof GenerateError) return { ok: false, message: e.message };
      throw e;
    }
  });

  documents.listen(connection);
}
