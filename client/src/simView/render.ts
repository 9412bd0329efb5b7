/**
 * The simulation view's markup, as strings: the pickers, the comparison
 * table, the per-task timeline (plain SVG), the violations with links to the
 * patch, and the fleet histogram. Pure functions of the view state (no DOM),
 * so the extension tests can check them; every string from the data is
 * escaped. Colours are VS Code theme variables (light, dark, high contrast).
 */
import type { Lane, ModelResult, SimResult, TraceEvent } from '../../../server/src/core/sim/types';
import type { FleetResult } from '../../../server/src/core/sim/fleet';

export interface ViewState {
  /** The patch's file name. */
  patch: string;
  model: string;
  kernel: string;
  arch: string;
  seed: number;
  profiles: string[];
  kernels: string[];
  arches: string[];
  running: boolean;
  error?: string;
  result?: SimResult;
  notes: string[];
  /** Function name → line of the patch where it changes. */
  locations: Record<string, number>;
  /** The model whose timeline is shown. */
  selected?: string;
  fleet?: FleetResult;
  fleetRunning?: boolean;
  /** How many runs have finished (a refresh after an edit counts one more). */
  runs?: number;
}

export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const sec = (ms: number | null | undefined) => (ms === null || ms === undefined ? '—' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

function outcome(m: ModelResult): { text: string; cls: string } {
  if (m.failed) return { text: 'load failed', cls: 'bad' };
  if (m.completed) return { text: `done in ${sec(m.completionTimeMs)}`, cls: 'good' };
  const u = m.unpatching;
  if (u?.trigger === 'reverse') return u.completed ? { text: `reversed, back in ${sec(u.completionTimeMs)}`, cls: 'warn' } : { text: 'reversed, stuck', cls: 'bad' };
  return { text: 'stuck', cls: 'bad' };
}

export function renderControls(s: ViewState): string {
  const opt = (v: string, cur: string, label = v) => `<option value="${esc(v)}"${v === cur ? ' selected' : ''}>${esc(label)}</option>`;
  return `<form class="controls" id="controls">
  <label>Machine <select id="model">${s.profiles.map((p) => opt(p, s.model)).join('')}</select></label>
  <label>Kernel <select id="kernel">${opt('', s.kernel, "machine's")}${s.kernels.map((k) => opt(k, s.kernel)).join('')}</select></label>
  <label>Arch <select id="arch">${opt('', s.arch, "machine's")}${s.arches.map((a) => opt(a, s.arch)).join('')}</select></label>
  <label>Seed <input id="seed" type="number" min="0" max="4294967295" step="1" value="${esc(s.seed)}"></label>
  <button type="submit" id="run"${s.running ? ' disabled' : ''}>${s.running ? 'Simulating…' : 'Simulate'}</button>
  <button type="button" id="fleet"${s.fleetRunning ? ' disabled' : ''}>${s.fleetRunning ? 'Fleet…' : 'Fleet of 1,000'}</button>
</form>`;
}

export function renderTable(r: SimResult, selected: string | undefined, runs = 1): string {
  const rows = r.models
    .map((m) => {
      const o = outcome(m);
      const v = m.violationCounts;
      const viol = (['U', 'V1', 'V2', 'V3', 'V4'] as const).filter((c) => v[c] > 0).map((c) => `<span class="viol v-${c}">${c} ${v[c]}</span>`).join(' ') || '—';
      const stall = m.stalledCount ? `${m.stalledCount} · ${esc(m.stalledTasks[0].reason)}${m.stalledTasks[0].function ? ` (${esc(m.stalledTasks[0].function)})` : ''}` : '—';
      return `<tr data-model="${esc(m.name)}"${m.name === selected ? ' class="selected"' : ''}>
  <th scope="row"><a href="#" class="pick" data-model="${esc(m.name)}">${esc(m.name)}</a></th>
  <td class="${o.cls}"${m.failed ? ` title="${esc(m.failed)}"` : ''}>${esc(o.text)}${m.failed ? `<div class="sub">${esc(m.failed.length > 60 ? `${m.failed.slice(0, 59)}…` : m.failed)}</div>` : ''}</td>
  <td>${m.pauses.count ? `${m.pauses.count} · max ${esc(m.pauses.maxMs)} ms` : '—'}</td>
  <td>${m.retries || '—'}</td>
  <td>${m.signalsSent || '—'}</td>
  <td>${stall}</td>
  <td>${viol}</td>
  <td>${m.removable ? 'yes' : '<span class="bad">no (forced)</span>'}</td>
</tr>`;
    })
    .join('\n');
  return `<table class="compare" data-run="${esc(runs)}"><caption>Kernel ${esc(r.kernel)}, ${esc(r.arch)}, seed ${esc(r.seed)}</caption>
<thead><tr><th>Model</th><th>Outcome</th><th>stop_machine pauses</th><th>Retries</th><th>Fake signals</th><th>Stalled</th><th>Violations</th><th>Removable</th></tr></thead>
<tbody>
${rows}
</tbody></table>`;
}

const STATE_CLASS: Record<string, string> = { old: 's-old', pending: 's-pending', new: 's-new', gone: 's-gone' };
const MARKERS: Record<string, string> = { attempt: 'transition attempt', check: 'kGraft check', signal: 'fake signals', stop_machine: 'stop_machine', force: 'force', reverse: 'reverse', disable: 'disable', revert: 'revert', complete: 'complete', finalize: 'finalize', switch: '' };

/** The timeline of one model: a lane per context (old / pending / new), with the run's events as markers. */
export function renderTimeline(m: ModelResult, horizonMs: number, maxLanes = 40): string {
  const lanes: Lane[] = (m.timeline ?? []).slice(0, maxLanes);
  if (lanes.length === 0) return `<p class="muted">No timeline for ${esc(m.name)} (run with the trace on).</p>`;
  const marks = (m.trace ?? []).filter((e: TraceEvent) => MARKERS[e.event] && e.task === undefined);
  const last = Math.max(1000, ...lanes.flatMap((l) => l.changes.map((c) => c.timeMs)), ...marks.map((e) => e.timeMs));
  const end = Math.min(horizonMs, last * 1.15 + 200);
  const W = 900;
  const label = 170;
  const H = 16;
  const top = 22;
  const x = (t: number) => label + Math.max(0, Math.min(1, t / end)) * (W - label - 10);
  const rows = lanes
    .map((l, i) => {
      const y = top + i * (H + 4);
      const segs: string[] = [];
      let from = 0;
      let state = 'old';
      for (const c of [...l.changes, { timeMs: end, state: '__end' }]) {
        if (c.timeMs > from) segs.push(`<rect class="${STATE_CLASS[state] ?? 's-old'}" x="${x(from).toFixed(1)}" y="${y}" width="${Math.max(0.5, x(c.timeMs) - x(from)).toFixed(1)}" height="${H}"><title>${esc(l.task)}: ${esc(state)} from ${esc(sec(from))}</title></rect>`);
        from = c.timeMs;
        state = c.state;
      }
      return `<text class="lane-label" x="${label - 6}" y="${y + H - 4}" text-anchor="end">${esc(l.task.length > 24 ? `${l.task.slice(0, 23)}…` : l.task)}</text>${segs.join('')}`;
    })
    .join('\n');
  const height = top + lanes.length * (H + 4) + 24;
  const seen = new Set<string>();
  const markers = marks
    .filter((e) => {
      const k = `${e.event}@${Math.round(x(e.timeMs))}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .slice(0, 60)
    .map((e) => `<line class="mark m-${esc(e.event)}" x1="${x(e.timeMs).toFixed(1)}" x2="${x(e.timeMs).toFixed(1)}" y1="${top - 6}" y2="${height - 20}"><title>${esc(sec(e.timeMs))}: ${esc(MARKERS[e.event])}${e.detail ? ` — ${esc(e.detail)}` : ''}</title></line>`)
    .join('\n');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text class="tick" x="${x(f * end).toFixed(1)}" y="${height - 6}" text-anchor="middle">${esc(sec(f * end))}</text>`).join('');
  const more = (m.timelineLanes ?? lanes.length) > lanes.length ? `<p class="muted">${lanes.length} of ${m.timelineLanes} contexts shown: the ones that held the transition and the ones that call patched code come first.</p>` : '';
  return `<svg class="timeline" viewBox="0 0 ${W} ${height}" role="img" aria-label="Timeline of ${esc(m.name)}">
<text class="tick" x="${label}" y="12">${esc(m.name)}: time after enable → </text>
${rows}
${markers}
${ticks}
</svg>
<div class="legend"><span class="key s-old"></span> old code <span class="key s-pending"></span> pending (must switch) <span class="key s-new"></span> new code <span class="key s-gone"></span> gone <span class="key k-attempt"></span> attempts <span class="key k-mark"></span> signals, stop_machine windows, force, reverse</div>${more}`;
}

/** The violations of one model, each in words, with links that reveal the patched functions in the patch. */
export function renderViolations(m: ModelResult, locations: Record<string, number>): string {
  if (m.violations.length === 0) return `<p class="muted">${esc(m.name)}: no violation seen.</p>`;
  const fnLink = (f: string) => {
    const name = f.replace(/ \((old|new)\)$/, '');
    return name in locations ? `<a href="#" class="reveal" data-fn="${esc(name)}">${esc(f)}</a>` : esc(f);
  };
  return `<ul class="violations">${m.violations
    .map(
      (v) => `<li><span class="viol v-${esc(v.class)}">${esc(v.class)}</span> <strong>${esc(v.task)}</strong> at ${esc(sec(v.timeMs))} — ${v.functions.map(fnLink).join(', ')}
<div>${esc(v.explanation)}</div>
<ol class="steps">${v.steps.map((s) => `<li>${esc(sec(s.timeMs))} ${esc(s.task)}: ${esc(s.event)}</li>`).join('')}</ol></li>`,
    )
    .join('\n')}</ul>`;
}

const BUCKETS = ['<1 s', '1–2 s', '2–5 s', '5–10 s', '10–20 s', '20–30 s', '30–60 s', '1–2 min', '≥2 min', 'not done'];
const SHORT = ['<1s', '1–2', '2–5', '5–10', '10–20', '20–30', '30–60', '1–2m', '≥2m', 'never'];

/** The fleet: one histogram of completion times per model, with the operator's shares. */
export function renderFleet(f: FleetResult): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  return `<p>${esc(f.machines)} machines: ${f.mix.map((m) => `${esc(m.machines)} ${esc(m.profile)}`).join(', ')} (seed ${esc(f.seed)})</p>
<div class="fleet">${f.models
    .map((m) => {
      const max = Math.max(1, ...m.histogram);
      const bars = m.histogram
        .map((n, i) => {
          const h = Math.round((n / max) * 60);
          return `<g><rect class="${i === m.histogram.length - 1 ? 'bar-bad' : 'bar'}" x="${i * 40 + 4}" y="${70 - h}" width="32" height="${h}"><title>${esc(BUCKETS[i])}: ${esc(n)} machines</title></rect><text class="tick" x="${i * 40 + 20}" y="84" text-anchor="middle">${esc(SHORT[i])}</text></g>`;
        })
        .join('');
      return `<figure><figcaption><strong>${esc(m.name)}</strong> p50 ${esc(sec(m.p50Ms))}, p99 ${esc(sec(m.p99Ms))}, max ${esc(sec(m.maxMs))}; &gt;60 s ${pct(m.stalledPast60s)}, needs force ${pct(m.needsForce)}, load failed ${pct(m.failed)}</figcaption>
<svg viewBox="0 0 ${m.histogram.length * 40 + 8} 90" class="hist" role="img" aria-label="Completion times under ${esc(m.name)}">${bars}</svg></figure>`;
    })
    .join('\n')}</div>`;
}

export function renderView(s: ViewState): string {
  const parts = [`<h1>Transition of ${esc(s.patch)}</h1>`, renderControls(s)];
  if (s.error) parts.push(`<p class="error" role="alert">${esc(s.error)}</p>`);
  if (s.notes.length) parts.push(`<details class="notes"><summary>How the machine was built from the patch (${s.notes.length})</summary><ul>${s.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul></details>`);
  const r = s.result;
  if (r) {
    parts.push(renderTable(r, s.selected, s.runs ?? 1));
    const m = r.models.find((x) => x.name === s.selected) ?? r.models.find((x) => x.name === 'hybrid') ?? r.models[0];
    if (m) {
      const horizon = Math.max(...r.models.map((x) => x.completionTimeMs ?? 0), 0) + 120_000;
      parts.push(`<h2>${esc(m.name)}: timeline</h2>`, renderTimeline(m, horizon), `<h2>${esc(m.name)}: violations</h2>`, renderViolations(m, s.locations));
    }
  } else if (!s.error) parts.push(`<p class="muted">${s.running ? 'Simulating…' : 'Press Simulate.'}</p>`);
  if (s.fleet) parts.push('<h2>Fleet</h2>', renderFleet(s.fleet));
  return parts.join('\n');
}
