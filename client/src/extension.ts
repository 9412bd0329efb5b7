/**
 * The VS Code side: starts the language server (the same `klp-lens serve`
 * entry the CLI has) and registers the commands, the simulation view and the
 * status bar item. No analysis happens here.
 */
import * as vscode from 'vscode';
import { CloseAction, ErrorAction, LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { SERVER_NODE_ARGS } from '../../server/src/lsp/launch';
import { GenerateModuleRequest, PatchModelRequest, PrecheckRequest } from '../../server/src/protocol';
import { RestartPolicy } from './restarts';
import { SimulationPanel } from './simulationPanel';
import { HazardStatus } from './status';

let client: LanguageClient | undefined;

function settings() {
  const c = vscode.workspace.getConfiguration('livepatchLens');
  return { kernelTree: c.get<string>('kernelTree', ''), kernelConfig: c.get<string>('kernelConfig', ''), kernelVersion: c.get<string>('kernelVersion', ''), arch: c.get<string>('arch', ''), debounceMs: c.get<number>('debounceMs', 250), maxPatchBytes: c.get<number>('maxPatchBytes', 16 * 1024 * 1024), buildTool: c.get<string>('buildTool', ''), kernelHeaders: c.get<string>('kernelHeaders', ''), kernelSymbols: c.get<string>('kernelSymbols', '') };
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const module = context.asAbsolutePath('out/cli.js');
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.stdio, args: ['serve'], options: { execArgv: [...SERVER_NODE_ARGS] } },
    debug: { module, transport: TransportKind.stdio, args: ['serve'], options: { execArgv: [...SERVER_NODE_ARGS, '--nolazy', '--inspect=6009'] } },
  };
  const output = vscode.window.createOutputChannel('Livepatch Lens');
  const restarts = new RestartPolicy();
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'kernel-patch' },
      { scheme: 'untitled', language: 'kernel-patch' },
      { scheme: 'file', language: 'diff' },
      { scheme: 'untitled', language: 'diff' },
    ],
    synchronize: { configurationSection: 'livepatchLens' },
    initializationOptions: { ...settings(), simulateLens: true, trusted: vscode.workspace.isTrusted },
    outputChannel: output,
    errorHandler: {
      error: () => ({ action: ErrorAction.Continue }),
      closed: () => {
        const d = restarts.onClosed();
        if (d.restart) void vscode.window.showWarningMessage(d.message);
        else
          void vscode.window.showErrorMessage(d.message, 'Restart Server').then((pick) => {
            if (pick) void vscode.commands.executeCommand('livepatchLens.restartServer');
          });
        return { action: d.restart ? CloseAction.Restart : CloseAction.DoNotRestart, handled: true };
      },
    },
  };
  client = new LanguageClient('livepatchLens', 'Livepatch Lens', serverOptions, clientOptions);

  context.subscriptions.push(
    vscode.commands.registerCommand('livepatchLens.restartServer', async () => {
      restarts.reset();
      if (client?.isRunning()) await client.restart();
      else await client?.start();
    }),
    vscode.commands.registerCommand('livepatchLens.showPatchModel', async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor || !client) {
        void vscode.window.showInformationMessage('Open a patch first.');
        return;
      }
      const model = await client.sendRequest(PatchModelRequest, { uri: editor.document.uri.toString() });
      const doc = await vscode.workspace.openTextDocument({ language: 'json', content: JSON.stringify(model, null, 2) });
      await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
    }),
    vscode.commands.registerCommand('livepatchLens.generateModule', async () => {
      if (!(await needsTrust('Generating a module writes files and runs kbuild (make)'))) return;
      const editor = vscode.window.activeTextEditor;
      if (!editor || !client) {
        void vscode.window.showInformationMessage('Open a patch first.');
        return;
      }
      const base = vscode.workspace.workspaceFolders?.[0]?.uri;
      const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Generate the module here', defaultUri: base });
      if (!picked?.[0]) return;
      const r = await client.sendRequest(GenerateModuleRequest, { uri: editor.document.uri.toString(), out: picked[0].fsPath });
      for (const p of r.problems ?? []) output.appendLine(p);
      const main = r.files?.find((f) => f.endsWith('livepatch-main.c'));
      const choice = await (r.ok ? vscode.window.showInformationMessage(r.message, ...(main ? ['Open'] : [])) : vscode.window.showWarningMessage(r.message, ...(main ? ['Open'] : [])));
      if (choice === 'Open' && main) await vscode.window.showTextDocument(vscode.Uri.file(main));
    }),
    vscode.commands.registerCommand('livepatchLens.simulate', async (uri?: string) => {
      // From the code lens the patch's URI comes along; from the palette or the title bar, the active editor.
      const doc = typeof uri === 'string' ? vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri) : vscode.window.activeTextEditor?.document;
      if (!doc || !client) {
        void vscode.window.showInformationMessage('Open a patch first.');
        return;
      }
      SimulationPanel.show(context.extensionUri, client, doc);
    }),
    vscode.commands.registerCommand('livepatchLens.precheck', (capture?: vscode.Uri) => precheckCommand(capture, output)),
    new HazardStatus(),
    // The server learns of trust at start: granting it restarts the server with the new state.
    vscode.workspace.onDidGrantWorkspaceTrust(() => void client?.restart()),
  );
  await client.start();
}

/** True in a trusted workspace; in Restricted Mode says why `what` needs trust and offers to manage it. */
async function needsTrust(what: string): Promise<boolean> {
  if (vscode.workspace.isTrusted) return true;
  const manage = 'Manage Workspace Trust';
  const pick = await vscode.window.showWarningMessage(`Livepatch Lens: ${what}, so it needs a trusted workspace. In Restricted Mode patches are analysed, fixed and simulated only.`, manage);
  if (pick === manage) await vscode.commands.executeCommand('workbench.trust.manage');
  return false;
}

const CAPTURE_FILTERS = { 'Captures (klp-lens capture)': ['json', 'raw'] };

/**
 * Precheck the active patch on a capture file: from the palette (a capture is asked for) or from
 * the explorer's menu on a capture (the active patch, or one asked for, is checked).
 */
async function precheckCommand(capture: vscode.Uri | undefined, output: vscode.OutputChannel): Promise<void> {
  if (!client || !(await needsTrust('Precheck reads a capture of a machine'))) return;
  let doc = vscode.window.activeTextEditor?.document;
  if (!doc || !['kernel-patch', 'diff'].includes(doc.languageId)) {
    const patch = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Precheck this patch', filters: { Patches: ['patch', 'diff', 'mbox', 'eml'] } });
    if (!patch?.[0]) return;
    doc = await vscode.workspace.openTextDocument(patch[0]);
  }
  const file = capture ?? (await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Precheck on this capture', filters: CAPTURE_FILTERS }))?.[0];
  if (!file) return;
  const r = await client.sendRequest(PrecheckRequest, { uri: doc.uri.toString(), capture: file.fsPath });
  if (!r.ok) {
    void vscode.window.showWarningMessage(`Livepatch Lens precheck: ${r.message}`);
    return;
  }
  output.appendLine(r.text);
  output.show(true);
  const say = r.result.verdict === 'ready' || r.result.verdict === 'after-signals' ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
  void say(r.text.split('\n')[0]);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
