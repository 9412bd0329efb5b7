/**
 * A status bar item with the hazard counts of the active patch (the server's
 * diagnostics, source "livepatch-lens"); a click opens the Problems view,
 * whose entries link to each code's docs page.
 */
import * as vscode from 'vscode';

const LANGS = new Set(['kernel-patch', 'diff']);

export class HazardStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('livepatchLens.hazards', vscode.StatusBarAlignment.Left, 50);
  private readonly subs: vscode.Disposable[] = [];

  constructor() {
    this.item.name = 'Livepatch hazards';
    this.item.command = 'workbench.actions.view.problems';
    this.subs.push(
      vscode.languages.onDidChangeDiagnostics(() => this.update()),
      vscode.window.onDidChangeActiveTextEditor(() => this.update()),
    );
    this.update();
  }

  private update(): void {
    const doc = vscode.window.activeTextEditor?.document;
    if (!doc || !LANGS.has(doc.languageId)) {
      this.item.hide();
      return;
    }
    const ds = vscode.languages.getDiagnostics(doc.uri).filter((d) => d.source === 'livepatch-lens');
    const n = (sev: vscode.DiagnosticSeverity) => ds.filter((d) => d.severity === sev).length;
    const [e, w, i] = [n(vscode.DiagnosticSeverity.Error), n(vscode.DiagnosticSeverity.Warning), n(vscode.DiagnosticSeverity.Information) + n(vscode.DiagnosticSeverity.Hint)];
    this.item.text = `$(flame) ${e} $(warning) ${w} $(info) ${i}`;
    this.item.tooltip = `Livepatch hazards in this patch: ${e} error${e === 1 ? '' : 's'}, ${w} warning${w === 1 ? '' : 's'}, ${i} note${i === 1 ? '' : 's'}. Click for the Problems view.`;
    this.item.accessibilityInformation = { label: this.item.tooltip };
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
    for (const s of this.subs.splice(0)) s.dispose();
  }
}
