/**
 * The bundled server (out/cli.js serve --stdio) driven over stdio by a real
 * LSP client connection: initialize, open a patch, diagnostics, symbols,
 * hover, folding, an incremental edit and its update, configuration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
  PublishDiagnosticsNotification,
  DocumentSymbolRequest,
  HoverRequest,
  FoldingRangeRequest,
  ShutdownRequest,
  ExitNotification,
  ConfigurationRequest,
  WorkDoneProgressCreateRequest,
  type ProtocolConnection,
  type PublishDiagnosticsParams,
  type DocumentSymbol,
  type Hover,
  type FoldingRange,
  TextDocumentSyncKind,
  type InitializeResult,
} from 'vscode-languageserver-protocol/node';
import { ROOT, FIXTURES, TREE_DIR, docLine, indexedTreePatch, hazardZoo } from '../helpers';

interface Session {
  conn: ProtocolConnection;
  child: ChildProcess;
  /** What the server wrote on stderr (a crash shows here). */
  stderr: () => string;
  diagnostics: PublishDiagnosticsParams[];
  waitFor(pred: (p: PublishDiagnosticsParams) => boolean, ms?: number): Promise<PublishDiagnosticsParams>;
}

// the tree index cache of every server here goes to a directory of this run
const CACHE_HOME = mkdtempSync(join(tmpdir(), 'klp-lens-server-cache-'));

function start(config?: Record<string, unknown>, env: Record<string, string> = {}): Session {
  const child = spawn(process.execPath, [join(ROOT, 'out', 'cli.js'), 'serve', '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, XDG_CACHE_HOME: CACHE_HOME, ...env } });
  const conn = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const diagnostics: PublishDiagnosticsParams[] = [];
  const waiters: { pred: (p: PublishDiagnosticsParams) => boolean; resolve: (p: PublishDiagnosticsParams) => void }[] = [];
  conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
    diagnostics.push(p);
    for (const w of waiters.splice(0)) {
      if (w.pred(p)) w.resolve(p);
      else waiters.push(w);
    }
  });
  if (config) conn.onRequest(ConfigurationRequest.type, (params) => params.items.map(() => config));
  conn.onNotification('window/logMessage', () => undefined);
  conn.listen();
  return {
    conn,
    child,
    stderr: () => err,
    diagnostics,
    waitFor(pred, ms = 15000) {
      const hit = diagnostics.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('timed out waiting for diagnostics')), ms);
        waiters.push({
          pred,
          resolve: (p) => {
            clearTimeout(t);
            resolve(p);
          },
        });
      });
    },
  };
}

async function stop(s: Session) {
  if (s.child.exitCode !== null) {
    s.conn.dispose();
    return;
  }
  await s.conn.sendRequest(ShutdownRequest.type);
  await s.conn.sendNotification(ExitNotification.type);
  await new Promise<void>((r) => (s.child.exitCode !== null ? r() : s.child.on('exit', () => r())));
  s.conn.dispose();
}

const patchPath = join(FIXTURES, 'patches', 'body-struct-key.patch');
const uri = pathToFileURL(patchPath).toString();

test('server over stdio: initialize, diagnostics, symbols, hover, folding, incremental edit', async () => {
  const s = start();
  try {
    const init: InitializeResult = await s.conn.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      capabilities: { textDocument: { publishDiagnostics: { relatedInformation: true } } },
      workspaceFolders: null,
    });
    assert.equal(init.capabilities.textDocumentSync, TextDocumentSyncKind.Incremental);
    assert.equal(init.serverInfo?.name, 'livepatch-lens');
    assert.ok(init.capabilities.documentSymbolProvider && init.capabilities.hoverProvider && init.capabilities.foldingRangeProvider);
    await s.conn.sendNotification(InitializedNotification.type, {});

    const text = readFileSync(patchPath, 'utf8');
    await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'kernel-patch', version: 1, text } });
    const first = await s.waitFor((p) => p.uri === uri && p.version === 1);
    const summary = first.diagnostics.find((d) => d.code === 'KLP010');
    assert.ok(summary, JSON.stringify(first.diagnostics));
    assert.equal(summary.severity, 3);
    assert.equal(summary.range.start.line, docLine(text, 'diff --git'));
    assert.match(summary.message, /replaces 1 function: lens_read\(\) \(body\)/);
    assert.match(summary.codeDescription?.href ?? '', /docs\/hazards\/KLP010\.md$/);
    assert.equal(summary.source, 'livepatch-lens');

    const symbols = (await s.conn.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri } })) as DocumentSymbol[];
    assert.equal(symbols.length, 1);
    assert.equal(symbols[0].name, 'drivers/misc/lens_demo.c');
    assert.deepEqual(
      symbols[0].children?.map((c) => [c.name, c.detail]),
      [
        ['lens_dev', 'struct changed (layout)'],
        ['lens_debug_key', 'variable added'],
        ['lens_read', 'function changed (body)'],
      ],
    );

    const line = docLine(text, '+\t\tr->dev->nr_errors++;');
    const hover = (await s.conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line, character: 4 } })) as Hover;
    const value = (hover.contents as { value: string }).value;
    assert.match(value, /\*\*function `lens_read`\*\* — changed \(body\) in `drivers\/misc\/lens_demo\.c`/);
    assert.match(value, /Hunk `@@ -72,6 \+74,10 @@`/);

    const folds = (await s.conn.sendRequest(FoldingRangeRequest.type, { textDocument: { uri } })) as FoldingRange[];
    const hunkLines = text.split('\n').flatMap((l, i) => (l.startsWith('@@') ? [i] : []));
    for (const h of hunkLines) assert.ok(folds.some((f) => f.startLine === h), `fold for hunk at ${h}`);
    assert.ok(folds.some((f) => f.startLine === docLine(text, 'diff --git')), 'fold for the file');

    // Incremental edit: delete the '+\t\treturn -EINVAL;' line; the hunk's counts no longer match.
    const del = docLine(text, '+\t\treturn -EINVAL;');
    await s.conn.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version: 2 },
      contentChanges: [{ range: { start: { line: del, character: 0 }, end: { line: del + 1, character: 0 } }, text: '' }],
    });
    const second = await s.waitFor((p) => p.uri === uri && p.version === 2);
    const err = second.diagnostics.find((d) => d.code === 'KLP001');
    assert.ok(err, JSON.stringify(second.diagnostics));
    assert.equal(err.severity, 1);
    assert.equal(err.range.start.line, docLine(text, '@@ -72,6 +74,10 @@'));

    // Put it back: the error goes away.
    await s.conn.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri, version: 3 },
      contentChanges: [{ range: { start: { line: del, character: 0 }, end: { line: del, character: 0 } }, text: '+\t\treturn -EINVAL;\n' }],
    });
    const third = await s.waitFor((p) => p.uri === uri && p.version === 3);
    assert.deepEqual(
      third.diagnostics.filter((d) => d.severity === 1).map((d) => d.code),
      ['KLP101'],
      'only the hazard of the new field remains',
    );
  } finally {
    await stop(s);
  }
});

test('server reads livepatchLens.kernelTree from the client and applies hunks to that tree', async () => {
  const s = start({ kernelTree: TREE_DIR, debounceMs: 10 });
  try {
    await s.conn.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      capabilities: { workspace: { configuration: true } },
      workspaceFolders: null,
    });
    await s.conn.sendNotification(InitializedNotification.type, {});
    // A hunk placed 2 lines off: only a tree can tell it applies with an offset.
    const text = readFileSync(patchPath, 'utf8').replace('@@ -72,6 +74,10 @@', '@@ -70,6 +72,10 @@');
    await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'diff', version: 1, text } });
    const d = await s.waitFor((p) => p.uri === uri && p.diagnostics.some((x) => x.code === 'KLP003'));
    const off = d.diagnostics.find((x) => x.code === 'KLP003')!;
    assert.match(off.message, /applies 2 lines below where its header says/);
    const model = (await s.conn.sendRequest('livepatchLens/patchModel', { uri })) as { confidence: string; kernel: { version: string } };
    assert.equal(model.confidence, 'tree');
    assert.equal(model.kernel.version, '6.1.0');
  } finally {
    await stop(s);
  }
});

test('diagnostics use livepatchLens.kernelSymbols: a patched function the target kernel lacks gets KLP340, as in klp-lens check --symbols', async () => {
  const symbols = join(CACHE_HOME, 'System.map-target');
  writeFileSync(symbols, 'ffffffff81000000 T _stext\nffffffff81200000 t lens_open\nffffffff81200100 t lens_release\n');
  const s = start({ kernelTree: TREE_DIR, kernelSymbols: symbols, debounceMs: 10 });
  try {
    await s.conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null });
    await s.conn.sendNotification(InitializedNotification.type, {});
    await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'diff', version: 1, text: readFileSync(patchPath, 'utf8') } });
    const d = await s.waitFor((p) => p.uri === uri && p.diagnostics.some((x) => x.code === 'KLP340'));
    assert.match(d.diagnostics.find((x) => x.code === 'KLP340')!.message, /^lens_read\(\) has no symbol in the target kernel \(.*System\.map-target\)/);
  } finally {
    await stop(s);
  }
});

test('the server publishes the same hazards as klp-lens check (every category the patch triggers)', async () => {
  const { spawnSync } = await import('node:child_process');
  const path = join(FIXTURES, 'patches', 'entities.patch');
  const cli = spawnSync(process.execPath, [join(ROOT, 'out', 'cli.js'), 'check', '--no-tree', '--format', 'json', path], { encoding: 'utf8' });
  const expected = (JSON.parse(cli.stdout).files[0].diagnostics as { code: string; range: { start: { line: number } } }[]).map((d) => `${d.code}@${d.range.start.line}`).sort();
  assert.ok(expected.length >= 10, expected.join(' '));
  const s = start();
  try {
    await s.conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: {}, workspaceFolders: null });
    await s.conn.sendNotification(InitializedNotification.type, {});
    const u = pathToFileURL(path).toString();
    await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'kernel-patch', version: 1, text: readFileSync(path, 'utf8') } });
    const d = await s.waitFor((p) => p.uri === u && p.version === 1);
    const got = d.diagnostics.map((x) => `${x.code}@${x.range.start.line}`).sort();
    assert.deepEqual(got, expected);
    const categories = new Set(d.diagnostics.map((x) => (x.data as { category: string }).category));
    for (const c of ['data-structure', 'static-data', 'static-local', 'exported-symbol', 'header-wide', 'syscall', 'inline-ripple']) assert.ok(categories.has(c), `${c} in the server's diagnostics`);
  } finally {
    await stop(s);
  }
});

test('the server indexes the kernel tree in the background with progress, then refines the diagnostics', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'klp-lens-server-cache-'));
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-server-'));
  const path = join(dir, 'extra.patch');
  const text = indexedTreePatch();
  writeFileSync(path, text);
  const u = pathToFileURL(path).toString();
  const run = async () => {
    const child = spawn(process.execPath, [join(ROOT, 'out', 'cli.js'), 'serve', '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, XDG_CACHE_HOME: cache } });
    const conn = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    const published: PublishDiagnosticsParams[] = [];
    const progress: string[] = [];
    const logs: string[] = [];
    conn.onRequest(ConfigurationRequest.type, (params) => params.items.map(() => ({ kernelTree: TREE_DIR, debounceMs: 10 })));
    conn.onRequest(WorkDoneProgressCreateRequest.type, () => null);
    conn.onNotification('$/progress', (p: { value: { kind: string } }) => progress.push(p.value.kind));
    conn.onNotification('window/logMessage', (p: { message: string }) => logs.push(p.message));
    let resolve!: () => void;
    const seen = new Promise<void>((r) => (resolve = r));
    conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
      published.push(p);
      if (p.diagnostics.some((d) => d.code === 'KLP192')) resolve();
    });
    conn.listen();
    await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true }, window: { workDoneProgress: true } }, workspaceFolders: null });
    await conn.sendNotification(InitializedNotification.type, {});
    await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'diff', version: 1, text } });
    await Promise.race([seen, new Promise((_, reject) => setTimeout(() => reject(new Error(`no KLP192 after the index: ${JSON.stringify(published.map((p) => p.diagnostics.map((d) => d.code)))}`)), 20000))]);
    await conn.sendRequest(ShutdownRequest.type);
    await conn.sendNotification(ExitNotification.type);
    await new Promise<void>((r) => (child.exitCode !== null ? r() : child.on('exit', () => r())));
    conn.dispose();
    return { published, progress, logs };
  };
  const first = await run();
  const last = first.published[first.published.length - 1];
  const helper = last.diagnostics.find((d) => d.code === 'KLP192')!;
  assert.match(helper.message, /lens_trace_on\(\).*static key lens_trace_enabled/);
  assert.equal(helper.range.start.line, docLine(text, '+\tif (lens_trace_on())'));
  assert.ok(last.diagnostics.some((d) => d.code === 'KLP300'), 'module placement from the index');
  // the index reported its progress: begin … end
  assert.equal(first.progress[0], 'begin');
  assert.equal(first.progress[first.progress.length - 1], 'end');
  assert.ok(first.logs.some((l) => /kernel tree index: \d+ files \(\d+ scanned, 0 from cache\)/.test(l)), first.logs.join('\n'));
  // a second server starts from the on-disk cache: nothing rescanned
  const second = await run();
  assert.ok(second.logs.some((l) => /kernel tree index: \d+ files \(0 scanned, \d+ from cache\)/.test(l)), second.logs.join('\n'));
});

test('every hazard category shows up in klp-lens check and in the server, with the same findings', async () => {
  const { spawnSync } = await import('node:child_process');
  const zoo = hazardZoo();
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-zoo-patch-'));
  const path = join(dir, 'zoo.patch');
  writeFileSync(path, zoo.patch);
  const cli = spawnSync(process.execPath, [join(ROOT, 'out', 'cli.js'), 'check', '--tree', zoo.root, '--arch', 'ppc64le', '--format', 'json', path], {
    encoding: 'utf8',
    env: { ...process.env, XDG_CACHE_HOME: CACHE_HOME },
  });
  assert.equal(cli.status, 1, cli.stderr);
  const cliDiags = JSON.parse(cli.stdout).files[0].diagnostics as { code: string; category: string; severity: string; range: { start: { line: number } } }[];
  const categories = ['data-structure', 'static-data', 'static-local', 'once-macro', 'dynamic-data-semantic', 'shadow-variable', 'init-code', 'shared-section', 'untraceable', 'static-key', 'static-call', 'special-section', 'line-macro', 'inline-ripple', 'sibling-call', 'exported-symbol', 'syscall', 'symbol-namespace', 'symbol-identity', 'header-wide', 'module', 'callback', 'kpatch-macro', 'kernel-config'];
  const cliCats = new Set(cliDiags.map((d) => d.category));
  assert.deepEqual(categories.filter((c) => !cliCats.has(c)), [], 'categories missing from klp-lens check');

  const s = start({ kernelTree: zoo.root, arch: 'ppc64le', debounceMs: 10 });
  try {
    await s.conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null });
    await s.conn.sendNotification(InitializedNotification.type, {});
    const u = pathToFileURL(path).toString();
    await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'kernel-patch', version: 1, text: zoo.patch } });
    // the module and .config findings need the index, which the server builds in the background
    const d = await s.waitFor((p) => p.uri === u && p.diagnostics.some((x) => x.code === 'KLP300') && p.diagnostics.some((x) => x.code === 'KLP330'), 30000);
    const serverCats = new Set(d.diagnostics.map((x) => (x.data as { category: string }).category));
    assert.deepEqual(categories.filter((c) => !serverCats.has(c)), [], 'categories missing from the server');
    const key = (code: string, line: number, severity: string) => `${code}@${line}:${severity}`;
    const sev = ['', 'error', 'warning', 'information', 'hint'];
    assert.deepEqual(
      d.diagnostics.map((x) => key(String(x.code), x.range.start.line, sev[x.severity ?? 0])).sort(),
      cliDiags.map((x) => key(x.code, x.range.start.line, x.severity)).sort(),
    );
  } finally {
    await stop(s);
  }
});

test('code actions: every fixable diagnostic offers a fix; resolved and applied, its diagnostic is gone', async () => {
  const { CodeActionRequest, CodeActionResolveRequest, ExecuteCommandRequest, DidChangeTextDocumentNotification: Change } = await import('vscode-languageserver-protocol/node');
  const { TextDocument } = await import('vscode-languageserver-textdocument');
  const zoo = hazardZoo();
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-actions-'));
  const path = join(dir, 'zoo.patch');
  writeFileSync(path, zoo.patch);
  const u = pathToFileURL(path).toString();
  const s = start({ kernelTree: zoo.root, debounceMs: 10 });
  try {
    await s.conn.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      capabilities: {
        workspace: { configuration: true, workspaceEdit: { documentChanges: true, changeAnnotationSupport: {} } },
        textDocument: { codeAction: { resolveSupport: { properties: ['edit'] }, codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix'] } } } },
      },
      workspaceFolders: null,
    });
    await s.conn.sendNotification(InitializedNotification.type, {});
    const shown: string[] = [];
    s.conn.onNotification('window/showMessage', (m: { message: string }) => shown.push(m.message));
    let doc = TextDocument.create(u, 'kernel-patch', 1, zoo.patch);
    await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'kernel-patch', version: 1, text: zoo.patch } });
    // the index refines the diagnostics (module placement makes the zoo's static key an error)
    let d = await s.waitFor((p) => p.uri === u && p.version === 1 && p.diagnostics.some((x) => x.code === 'KLP300'), 30000);
    const fixed: string[] = [];
    for (const code of ['KLP190', 'KLP200', 'KLP210', 'KLP110', 'KLP101', 'KLP230']) {
      // the errors and warnings; KLP230 (line numbering) is information but has its fix too
      const diag = d.diagnostics.find((x) => x.code === code && ((x.severity ?? 0) <= 2 || code === 'KLP230'));
      assert.ok(diag, `${code} in ${d.diagnostics.map((x) => x.code).join(' ')}`);
      const actions = (await s.conn.sendRequest(CodeActionRequest.type, { textDocument: { uri: u }, range: diag.range, context: { diagnostics: [diag] } }).catch((e) => assert.fail(`${e}\n${s.stderr()}`))) as import('vscode-languageserver-protocol').CodeAction[];
      const action = actions.find((a) => a.diagnostics?.some((x) => x.code === code));
      assert.ok(action, `a code action for ${code}: ${actions.map((a) => a.title).join(' | ')}`);
      assert.equal(action.kind, 'quickfix');
      assert.equal(action.edit, undefined, 'the edit comes on resolve');
      const resolved = (await s.conn.sendRequest(CodeActionResolveRequest.type, action)) as import('vscode-languageserver-protocol').CodeAction;
      const edit = resolved.edit!;
      assert.ok(edit, `${code}: resolved with an edit`);
      const edits = edit.documentChanges
        ? (edit.documentChanges as { edits: import('vscode-languageserver-protocol').TextEdit[] }[]).flatMap((c) => c.edits)
        : edit.changes![u];
      if (code === 'KLP101') {
        // the shadow conversion is large: it asks for a preview
        assert.ok(edit.changeAnnotations && Object.values(edit.changeAnnotations).every((a) => a.needsConfirmation), 'KLP101 asks for confirmation');
        // what it leaves to the author is told after the edit, by a command the client runs then (not on resolve)
        assert.equal(shown.length, 0, 'nothing is shown while a fix is only resolved');
        assert.equal(resolved.command?.command, 'livepatchLens.fixNotes');
        await s.conn.sendRequest(ExecuteCommandRequest.type, { command: resolved.command!.command, arguments: resolved.command!.arguments });
        await new Promise((r) => setTimeout(r, 100));
        assert.match(shown.join('\n'), /moved into shadow variable KLP_SHADOW_ZOO_DEV_ERRORS|simply left out/);
      }
      const text = TextDocument.applyEdits(doc, edits);
      doc = TextDocument.create(u, 'kernel-patch', doc.version + 1, text);
      await s.conn.sendNotification(Change.type, { textDocument: { uri: u, version: doc.version }, contentChanges: [{ text }] });
      d = await s.waitFor((p) => p.uri === u && p.version === doc.version);
      const still = d.diagnostics.filter((x) => x.code === code && x.message === diag.message);
      assert.deepEqual(still.map((x) => x.message), [], `${code} is gone after its fix`);
      fixed.push(code);
    }
    assert.equal(fixed.length, 6, s.stderr());
    // the fixed patch still applies to the tree
    const { spawnSync } = await import('node:child_process');
    writeFileSync(join(dir, 'fixed.patch'), doc.getText());
    const r = spawnSync('git', ['apply', '--check', join(dir, 'fixed.patch')], { cwd: zoo.root, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  } catch (e) {
    throw new Error(`${(e as Error).message}\nserver stderr:\n${s.stderr()}`);
  } finally {
    await stop(s);
  }
});

test('livepatchLens/generateModule writes the module folder for the open patch (the "Generate Module" command)', async () => {
  const { readFileSync: read, existsSync: exists } = await import('node:fs');
  const before = read(join(TREE_DIR, 'drivers/misc/lens_demo.c'), 'utf8');
  const after = before.replace('void lens_put(struct lens_stats *st)\n{\n\tst->reads--;', 'void lens_put(struct lens_stats *st)\n{\n\tif (st->reads)\n\t\tst->reads--;');
  assert.notEqual(after, before);
  const { gitStyleDiff } = await import('../helpers');
  const text = gitStyleDiff('drivers/misc/lens_demo.c', before, after);
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-genreq-'));
  const u = pathToFileURL(join(dir, 'put.patch')).toString();
  const s = start({ kernelTree: TREE_DIR, debounceMs: 10 });
  try {
    await s.conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null });
    await s.conn.sendNotification(InitializedNotification.type, {});
    await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'kernel-patch', version: 1, text } });
    await s.waitFor((p) => p.uri === u);
    const out = join(dir, 'module');
    const r = (await s.conn.sendRequest('livepatchLens/generateModule', { uri: u, out })) as { ok: boolean; message: string; files: string[] };
    assert.ok(r.ok, r.message);
    assert.match(r.message, /^livepatch_lens_demo_[0-9a-f]{6}: 1 function, \d+ klp relocation candidates?, \d+ files written/);
    assert.ok(exists(join(out, 'livepatch-main.c')) && exists(join(out, 'Kbuild')) && exists(join(out, 'Makefile')));
    assert.match(read(join(out, 'drivers_misc_lens_demo.c'), 'utf8'), /^void livepatch_lens_put\(struct lens_stats \*st\)\n\{\n\tif \(st->reads\)/m);
    assert.ok(r.files.every((f) => f.startsWith(out)), 'nothing written outside the chosen folder');
    // without a tree the server says why instead of writing
    const s2 = start({ debounceMs: 10 });
    try {
      await s2.conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null });
      await s2.conn.sendNotification(InitializedNotification.type, {});
      await s2.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'kernel-patch', version: 1, text } });
      const r2 = (await s2.conn.sendRequest('livepatchLens/generateModule', { uri: u, out: join(dir, 'none') })) as { ok: boolean; message: string };
      assert.equal(r2.ok, false);
      assert.match(r2.message, /needs the kernel tree/);
      assert.ok(!exists(join(dir, 'none')));
    } finally {
      await stop(s2);
    }
  } finally {
    await stop(s);
  }
});

test('livepatchLens/simulate answers with the CLI\'s JSON for the open patch, validates its params, and agrees with the CLI', async () => {
  const { readFileSync: read } = await import('node:fs');
  const { spawnSync } = await import('node:child_process');
  const file = join(FIXTURES, 'patches', 'sim-sleeping-func.patch');
  const text = read(file, 'utf8');
  const u = pathToFileURL(file).toString();
  const s = start({ debounceMs: 10 });
  try {
    await s.conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null });
    await s.conn.sendNotification(InitializedNotification.type, {});
    await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'kernel-patch', version: 1, text } });
    await s.waitFor((p) => p.uri === u);
    const r = (await s.conn.sendRequest('livepatchLens/simulate', { uri: u, models: ['hybrid', 'kpatch'], seed: 4 })) as { ok: true; kind: 'run'; result: { models: { name: string; completed: boolean; completionTimeMs: number | null }[] }; notes: string[] };
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.kind, 'run');
    assert.deepEqual(r.result.models.map((m) => [m.name, m.completed]), [['hybrid', true], ['kpatch', false]]);
    assert.match(r.notes[0], /lens_fifo_read sleeps in wait_event_interruptible/);
    const cli = spawnSync(process.execPath, [join(ROOT, 'out', 'cli.js'), 'simulate', file, '--no-tree', '--models', 'hybrid,kpatch', '--seed', '4', '--format', 'json'], { cwd: ROOT, encoding: 'utf8' });
    assert.deepEqual(r.result, JSON.parse(cli.stdout), 'server and CLI give the same result');
    // Bad params come back as a message, not an error or a crash.
    const bad = (await s.conn.sendRequest('livepatchLens/simulate', { uri: u, models: ['hybrid', 'kpach'] })) as { ok: false; message: string };
    assert.equal(bad.ok, false);
    assert.match(bad.message, /unknown model "kpach"/);
    const junk = (await s.conn.sendRequest('livepatchLens/simulate', { uri: u, seed: -1, evil: '<script>' })) as { ok: false; message: string };
    assert.equal(junk.ok, false);
    assert.match(junk.message, /unknown field "evil"/);
    const closed = (await s.conn.sendRequest('livepatchLens/simulate', { uri: 'file:///nowhere.patch' })) as { ok: false; message: string };
    assert.equal(closed.ok, false);
    const fleet = (await s.conn.sendRequest('livepatchLens/simulate', { uri: u, models: ['hybrid'], fleet: 30, threads: 0 })) as { ok: true; kind: 'fleet'; fleet: { machines: number } };
    assert.equal(fleet.kind, 'fleet');
    assert.equal(fleet.fleet.machines, 30);
  } finally {
    await stop(s);
  }
});

test('a code lens at the top of a patch runs "Livepatch: Simulate Patch" (only for a client that has the command)', async () => {
  const { readFileSync: read } = await import('node:fs');
  const file = join(FIXTURES, 'patches', 'sim-sleeping-func.patch');
  const u = pathToFileURL(file).toString();
  const s = start({ debounceMs: 10 });
  try {
    const init = (await s.conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null, initializationOptions: { simulateLens: true } })) as InitializeResult;
    assert.ok(init.capabilities.codeLensProvider);
    await s.conn.sendNotification(InitializedNotification.type, {});
    await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'kernel-patch', version: 1, text: read(file, 'utf8') } });
    await s.waitFor((p) => p.uri === u);
    const lenses = (await s.conn.sendRequest('textDocument/codeLens', { textDocument: { uri: u } })) as { range: { start: { line: number } }; command: { title: string; command: string; arguments: unknown[] } }[];
    assert.equal(lenses.length, 1);
    assert.equal(lenses[0].range.start.line, 0);
    assert.equal(lenses[0].command.command, 'livepatchLens.simulate');
    assert.deepEqual(lenses[0].command.arguments, [u]);
    assert.match(lenses[0].command.title, /Simulate the transition \(1 patched function\)/);
  } finally {
    await stop(s);
  }
  const plain = start({ debounceMs: 10 });
  try {
    const init = (await plain.conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: {}, workspaceFolders: null })) as InitializeResult;
    assert.equal(init.capabilities.codeLensProvider, undefined, 'no lens for clients without the command (Neovim)');
  } finally {
    await stop(plain);
  }
});

test('livepatchLens/precheck answers for the open patch on a capture file with the CLI\'s text, and a message for a broken capture', async () => {
  const { readFileSync: read } = await import('node:fs');
  const { spawnSync } = await import('node:child_process');
  const file = join(FIXTURES, 'capture', 'pipe-read.patch');
  const capture = join(FIXTURES, 'capture', 'debian-6.1-qemu.raw');
  const u = pathToFileURL(file).toString();
  const s = start({ debounceMs: 10 });
  try {
    await s.conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null });
    await s.conn.sendNotification(InitializedNotification.type, {});
    await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'kernel-patch', version: 1, text: read(file, 'utf8') } });
    await s.waitFor((p) => p.uri === u);
    const r = (await s.conn.sendRequest('livepatchLens/precheck', { uri: u, capture })) as { ok: true; text: string; result: { verdict: string } };
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.result.verdict, 'after-signals');
    assert.match(r.text, /pid 91 cat asleep interruptibly in pipe_read: the fake signal at ~15\.\d s moves it/);
    const cli = spawnSync(process.execPath, [join(ROOT, 'out', 'cli.js'), 'precheck', file, '--capture', capture, '--no-tree'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.text.split('\n').slice(1).join('\n'), cli.stdout.split('\n').slice(1).join('\n'), 'server and CLI name the same holders');
    const bad = (await s.conn.sendRequest('livepatchLens/precheck', { uri: u, capture: file })) as { ok: false; message: string };
    assert.equal(bad.ok, false);
    assert.match(bad.message, /pipe-read\.patch:1:1: error: /);
  } finally {
    await stop(s);
  }
});

test('an untrusted workspace (VS Code Restricted Mode) gets analysis and simulation, not module generation or precheck, and is told why', async () => {
  const { readFileSync: read } = await import('node:fs');
  const file = join(FIXTURES, 'capture', 'pipe-read.patch');
  const capture = join(FIXTURES, 'capture', 'debian-6.1-qemu.raw');
  const u = pathToFileURL(file).toString();
  const s = start({ debounceMs: 10 });
  try {
    await s.conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null, initializationOptions: { trusted: false } });
    await s.conn.sendNotification(InitializedNotification.type, {});
    await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'kernel-patch', version: 1, text: read(file, 'utf8') } });
    const diags = await s.waitFor((p) => p.uri === u);
    assert.ok(diags.diagnostics.some((d) => d.code === 'KLP010'), 'the analysis runs');
    const sim = (await s.conn.sendRequest('livepatchLens/simulate', { uri: u, models: ['hybrid'] })) as { ok: boolean };
    assert.equal(sim.ok, true, 'simulation runs');
    const pre = (await s.conn.sendRequest('livepatchLens/precheck', { uri: u, capture })) as { ok: false; message: string };
    assert.equal(pre.ok, false);
    assert.match(pre.message, /needs a trusted workspace: precheck reads a capture file/);
    const gen = (await s.conn.sendRequest('livepatchLens/generateModule', { uri: u, out: '/tmp/should-not-exist' })) as { ok: false; message: string };
    assert.equal(gen.ok, false);
    assert.match(gen.message, /needs a trusted workspace: generating a module writes files and runs kbuild/);
  } finally {
    await stop(s);
  }
});

async function openAll(s: Session, docs: [string, string][]): Promise<void> {
  await s.conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } }, workspaceFolders: null });
  await s.conn.sendNotification(InitializedNotification.type, {});
  for (const [u, text] of docs) await s.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'kernel-patch', version: 1, text } });
}

test('a failure while analysing one patch stays with it: it says so, the other patches keep their diagnostics and updates', async () => {
  const text = readFileSync(patchPath, 'utf8');
  const good = 'file:///work/good.patch';
  const bad = 'file:///work/bad.patch';
  const s = start({ debounceMs: 10 }, { KLP_LENS_TEST_FAULT: 'LENS-FAULT-MARKER' });
  try {
    await openAll(s, [[bad, `${text}\nLENS-FAULT-MARKER\n`], [good, text]]);
    const b = await s.waitFor((p) => p.uri === bad);
    assert.deepEqual(b.diagnostics.map((d) => d.code), ['KLP012']);
    assert.match(b.diagnostics[0].message, /analysis of this patch failed \(injected fault \(LENS-FAULT-MARKER\)\).*other open patches are not affected/);
    const g = await s.waitFor((p) => p.uri === good);
    assert.ok(g.diagnostics.some((d) => d.code === 'KLP101'), JSON.stringify(g.diagnostics.map((d) => d.code)));
    // the server goes on: an edit of the good patch is analysed again, hover answers
    const edited = text.replace('nr_errors', 'nr_failures');
    await s.conn.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri: good, version: 2 }, contentChanges: [{ text: edited }] });
    const g2 = await s.waitFor((p) => p.uri === good && p.version === 2);
    assert.ok(g2.diagnostics.some((d) => /nr_failures/.test(d.message)));
    assert.equal(s.child.exitCode, null, 'the server is still running');
  } finally {
    await stop(s);
  }
});

test('a patch past its time or memory budget gets a finding that says so; the server keeps serving the others', async () => {
  const one = readFileSync(join(FIXTURES, 'patches', 'plain-u.diff'), 'utf8');
  // 40 files: the budget is checked between files
  const many = Array.from({ length: 40 }, (_, i) => one.replace(/lens_demo\.c/g, `lens_demo_${i}.c`)).join('');
  const small = readFileSync(patchPath, 'utf8');
  for (const [config, re] of [
    [{ debounceMs: 10, analysisTimeoutMs: 1 }, /took more than 1 ms \(setting livepatchLens\.analysisTimeoutMs\) and was stopped/],
    [{ debounceMs: 10, analysisMemoryMiB: 0.0001 }, /grew the server's heap by \d+ MiB, past 0\.0001 MiB \(setting livepatchLens\.analysisMemoryMiB\)/],
  ] as const) {
    const s = start(config);
    try {
      await openAll(s, [['file:///work/many.patch', many], ['file:///work/small.patch', small]]);
      const big = await s.waitFor((p) => p.uri === 'file:///work/many.patch');
      assert.deepEqual(big.diagnostics.map((d) => d.code), ['KLP011']);
      assert.match(big.diagnostics[0].message, re);
      // the other patch gets its own answer (with budgets this small, maybe the same finding), and the server goes on serving
      const other = await s.waitFor((p) => p.uri === 'file:///work/small.patch');
      assert.ok(other.diagnostics.length > 0);
      const sim = (await s.conn.sendRequest('livepatchLens/simulate', { uri: 'file:///work/small.patch', models: ['hybrid'], seed: 1 })) as { ok: boolean; message?: string };
      if (!sim.ok) assert.match(sim.message ?? '', /analys/i, 'a request on a stopped patch is answered with why');
      assert.equal(s.child.exitCode, null);
    } finally {
      await stop(s);
    }
  }
});

test('cancellation is honoured: a cancelled fleet simulation answers "cancelled" and the server goes on', async () => {
  const file = join(FIXTURES, 'patches', 'sim-sleeping-func.patch');
  const u = pathToFileURL(file).toString();
  const s = start({ debounceMs: 10 });
  try {
    await openAll(s, [[u, readFileSync(file, 'utf8')]]);
    await s.waitFor((p) => p.uri === u);
    const { CancellationTokenSource } = await import('vscode-languageserver-protocol/node');
    const cts = new CancellationTokenSource();
    const t0 = performance.now();
    const pending = s.conn.sendRequest('livepatchLens/simulate', { uri: u, models: ['hybrid'], fleet: 5000, threads: 1 }, cts.token) as Promise<{ ok: boolean; message?: string }>;
    setTimeout(() => cts.cancel(), 300);
    const r = await pending.catch((e: Error) => ({ ok: false, message: e.message }));
    assert.equal(r.ok, false);
    assert.match(r.message ?? '', /cancel/i);
    assert.ok(performance.now() - t0 < 30_000);
    const after = (await s.conn.sendRequest('livepatchLens/simulate', { uri: u, models: ['hybrid'], seed: 1 })) as { ok: boolean };
    assert.equal(after.ok, true);
  } finally {
    await stop(s);
  }
});
