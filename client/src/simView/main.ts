/**
 * The simulation view's script (bundled to out/media/simView.js, loaded with
 * the page's nonce). It renders the state the extension sends and turns
 * clicks into messages; the extension validates them.
 */
import { renderView, type ViewState } from './render';

declare function acquireVsCodeApi(): { postMessage(m: unknown): void; setState(s: unknown): void; getState(): unknown };

const vscode = acquireVsCodeApi();
const root = document.getElementById('root') as HTMLElement;
let state = vscode.getState() as ViewState | undefined;

function draw(): void {
  if (state) root.innerHTML = renderView(state);
}

window.addEventListener('message', (e: MessageEvent) => {
  const m = e.data as { type?: string; state?: ViewState };
  if (m?.type !== 'state' || !m.state) return;
  state = m.state;
  vscode.setState(state);
  draw();
});

root.addEventListener('submit', (e) => {
  e.preventDefault();
  const val = (id: string) => (document.getElementById(id) as HTMLInputElement | HTMLSelectElement | null)?.value ?? '';
  vscode.postMessage({ type: 'run', model: val('model'), kernel: val('kernel'), arch: val('arch'), seed: Number(val('seed')) || 0 });
});

root.addEventListener('click', (e) => {
  const t = (e.target as HTMLElement).closest('a, button') as HTMLElement | null;
  if (!t) return;
  if (t.classList.contains('pick')) {
    e.preventDefault();
    vscode.postMessage({ type: 'select', model: t.dataset.model });
  } else if (t.classList.contains('reveal')) {
    e.preventDefault();
    vscode.postMessage({ type: 'reveal', fn: t.dataset.fn });
  } else if (t.id === 'fleet') {
    vscode.postMessage({ type: 'fleet' });
  }
});

draw();
vscode.postMessage({ type: 'ready' });
