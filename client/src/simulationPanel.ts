/**
 * The simulation view: a webview panel per patch that shows the transition
 * under every consistency model (the server's livepatchLens/simulate does the
 * work). Long runs show progress and can be cancelled; the view refreshes,
 * debounced, when the patch changes. The page has a strict CSP with a nonce,
 * loads only the extension's own files, and every message it sends is
 * validated (simView/messages.ts).
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { parseViewMessage, type Allowed } from './simView/messages';
import type { ViewState } from './simView/render';
import { SimulateRequest, type SimulateParams, type SimulateResponse } from '../../server/src/protocol';
import { makeNonce, viewHtml } from './simView/page';
import { ARCH_PROFILES, KERNEL_PROFILES, MODEL_IDS, PROFILE_NAMES } from '../../server/src/core/sim/types';
import { randomBytes } from 'node:crypto';

// The simulator's own lists (types.ts has no dependencies: only these constants enter the client bundle).
const PROFILES: string[] = [...PROFILE_NAMES];
const KERNELS: string[] = [...KERNEL_PROFILES];
const ARCHES = Object.keys(ARCH_PROFILES);
const MODELS: string[] = [...MODEL_IDS];
const REFRESH_MS = 800;
const FLEET_MACHINES = 1000;


export class SimulationPanel {
  private static readonly panels = new Map<string, SimulationPanel>();
  private readonly disposables: vscode.Disposable[] = [];
  private state: ViewState;
  private timer: NodeJS.Timeout | undefined;
  private running: vscode.CancellationTokenSource | undefined;
  private readonly allowed: Allowed = { profiles: PROFILES, kernels: KERNELS, arches: ARCHES, models: MODELS };

  static show(extensionUri: vscode.Uri, client: LanguageClient, doc: vscode.TextDocument): SimulationPanel {
    const key = doc.uri.toString();
    const open = SimulationPanel.panels.get(key);
    if (open) {
      open.panel.reveal(vscode.ViewColumn.Beside);
      void open.run();
      return open;
    }
    const panel = vscode.window.createWebviewPanel('livepatchLens.simulation', `Simulation: ${doc.uri.path.split('/').pop()}`, vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'out', 'media'), vscode.Uri.joinPath(extensionUri, 'client', 'media')],
    });
    const p = new SimulationPanel(panel, extensionUri, client, doc);
    SimulationPanel.panels.set(key, p);
    void p.run();
    return p;
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly client: LanguageClient,
    private readonly doc: vscode.TextDocument,
  ) {
    const c = vscode.workspace.getConfiguration('livepatchLens.simulation');
    const model = c.get<string>('model', 'idle-server');
    this.state = {
      patch: doc.uri.path.split('/').pop() ?? doc.uri.toString(),
      model: PROFILES.includes(model) ? model : 'idle-server',
      kernel: KERNELS.includes(c.get<string>('kernel', '')) ? c.get<string>('kernel', '') : '',
      arch: '',
      seed: Math.max(0, Math.floor(c.get<number>('seed', 1))),
      profiles: PROFILES,
      kernels: KERNELS,
      arches: ARCHES,
      running: false,
      notes: [],
      locations: {},
    };
    const w = panel.webview;
    const script = w.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'out', 'media', 'simView.js')).toString();
    const style = w.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'client', 'media', 'simView.css')).toString();
    w.html = viewHtml(w.cspSource, script, style, makeNonce((n) => randomBytes(n)));
    panel.onDidDispose(() => this.dispose(), null, this.disposables);
    panel.webview.onDidReceiveMessage((m) => this.onMessage(m), null, this.disposables);
    vscode.workspace.onDidChangeTextDocument(
      (e) => {
        if (e.document.uri.toString() !== this.doc.uri.toString() || e.contentChanges.length === 0) return;
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => {
          if (this.panel.visible) void this.run();
        }, REFRESH_MS);
      },
      null,
      this.disposables,
    );
  }

  private post(): void {
    void this.panel.webview.postMessage({ type: 'state', state: this.state });
  }

  private onMessage(raw: unknown): void {
    const m = parseViewMessage(raw, this.allowed);
    if (!m) return; // not a message this view sends: ignored
    switch (m.type) {
      case 'ready':
        this.post();
        return;
      case 'run':
        this.state = { ...this.state, model: m.model, kernel: m.kernel, arch: m.arch, seed: m.seed };
        void this.run();
        return;
      case 'select':
        this.state = { ...this.state, selected: m.model };
        this.post();
        return;
      case 'reveal': {
        const line = this.state.locations[m.fn];
        if (line === undefined) return;
        const pos = new vscode.Position(line, 0);
        void vscode.window.showTextDocument(this.doc, { viewColumn: vscode.ViewColumn.One, selection: new vscode.Range(pos, pos) });
        return;
      }
      case 'fleet':
        void this.runFleet();
    }
  }

  private request(extra: Record<string, unknown>, title: string): Promise<SimulateResponse | undefined> {
    this.running?.cancel();
    const cts = new vscode.CancellationTokenSource();
    this.running = cts;
    const params: SimulateParams = { uri: this.doc.uri.toString(), model: this.state.model, seed: this.state.seed, ...(this.state.kernel ? { kernel: this.state.kernel } : {}), ...(this.state.arch ? { arch: this.state.arch } : {}), ...extra };
    for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
    return Promise.resolve(
      vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (_progress, token) => {
        token.onCancellationRequested(() => cts.cancel());
        try {
          return await this.client.sendRequest(SimulateRequest, params, cts.token);
        } catch (e) {
          if (cts.token.isCancellationRequested) return undefined;
          return { ok: false as const, message: e instanceof Error ? e.message : String(e) };
        }
      }),
    );
  }

  async run(): Promise<void> {
    this.state = { ...this.state, running: true, error: undefined };
    this.post();
    const r = await this.request({ trace: true }, `Simulating ${this.state.patch}…`);
    this.state = { ...this.state, running: false };
    if (!r) this.state.error = 'Cancelled.';
    else if (!r.ok) this.state.error = r.message;
    else if (r.kind === 'run') this.state = { ...this.state, result: r.result, notes: r.notes, locations: r.locations, error: undefined, runs: (this.state.runs ?? 0) + 1 };
    this.post();
  }

  async runFleet(): Promise<void> {
    this.state = { ...this.state, fleetRunning: true };
    this.post();
    // The fleet is drawn from the built-in mix of machines (the operator's view), not copies of the one picked.
    const prevalence = vscode.workspace.getConfiguration('livepatchLens.simulation').get<number | null>('fleetPrevalence', null);
    const share = typeof prevalence === 'number' && prevalence >= 0 && prevalence <= 1 ? { prevalence } : {};
    const r = await this.request({ fleet: FLEET_MACHINES, model: undefined, ...share }, `Simulating a fleet of ${FLEET_MACHINES} machines…`);
    this.state = { ...this.state, fleetRunning: false };
    if (r?.ok && r.kind === 'fleet') this.state.fleet = r.fleet;
    else if (r && !r.ok) this.state.error = r.message;
    this.post();
  }

  dispose(): void {
    SimulationPanel.panels.delete(this.doc.uri.toString());
    this.running?.cancel();
    if (this.timer) clearTimeout(this.timer);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
