/**
 * The CLI's report model and its three formats: text for people, JSON for
 * scripts (the shape documented in README), SARIF 2.1.0 for code scanning.
 */
import { createHash } from 'node:crypto';
import type { PatchAnalysis } from '../core/analysis';
import { CODES } from '../core/codes';
import type { Finding } from '../core/findings';
import type { Range } from '../core/text';
import type { EntityChange } from '../core/entities/diff';

export interface ReportEntity {
  kind: string;
  name: string;
  change: string;
  aspects: string[];
  /** Source file the entity belongs to. */
  file: string;
  range: Range;
  span: { startLine: number; endLine: number };
  old?: string;
  new?: string;
  annotations?: { old?: string[]; new?: string[] };
  members?: { name: string; change: string; old?: string; new?: string; range?: Range }[];
  synthetic?: boolean;
}

export interface ReportSource {
  path: string;
  oldPath: string | null;
  newPath: string | null;
  status: string;
  language: string;
  confidence: 'tree' | 'hunks';
  hunks: { line: number; status: string; offset: number; fuzz: number; appliedAt?: number }[];
}

export interface ReportDiagnostic {
  code: string;
  category: string;
  severity: string;
  message: string;
  range: Range;
  file?: string;
  related?: { message: string; range: Range; path?: string }[];
}

export interface ReportFile {
  /** The patch file as given on the command line. */
  path: string;
  format: string;
  patches: number;
  /** "tree" when every source file was read from the kernel tree and every hunk applied. */
  confidence: 'tree' | 'hunks';
  kernel?: { root: string; version?: string };
  sources: ReportSource[];
  entities: ReportEntity[];
  diagnostics: ReportDiagnostic[];
}

export interface Report {
  tool: { name: string; version: string };
  files: ReportFile[];
}

function entityOf(e: EntityChange, file: string): ReportEntity {
  const r: ReportEntity = { kind: e.kind, name: e.name, change: e.change, aspects: e.aspects, file, range: e.range, span: e.span };
  if (e.old) r.old = e.old.text;
  if (e.new) r.new = e.new.text;
  if (e.old?.annotations.length || e.new?.annotations.length) r.annotations = { old: e.old?.annotations, new: e.new?.annotations };
  if (e.members?.length) r.members = e.members;
  if (e.synthetic) r.synthetic = true;
  return r;
}

function diagnosticOf(f: Finding): ReportDiagnostic {
  const d: ReportDiagnostic = { code: f.code, category: f.category, severity: f.severity, message: f.message, range: f.range };
  if (f.file) d.file = f.file;
  if (f.related?.length) d.related = f.related;
  return d;
}

export function reportFile(path: string, a: PatchAnalysis): ReportFile {
  const sources: ReportSource[] = a.files.map((f) => ({
    path: f.path,
    oldPath: f.oldPath,
    newPath: f.newPath,
    status: f.status,
    language: f.language,
    confidence: f.confidence,
    hunks: f.applications.map((h) => ({ line: h.hunk.headerLine, status: h.status, offset: h.offset, fuzz: h.fuzz, appliedAt: h.appliedAt })),
  }));
  const allTree = sources.length > 0 && sources.every((s) => s.confidence === 'tree' && s.hunks.every((h) => h.status !== 'failed'));
  return {
    path,
    format: a.set.format,
    patches: a.set.patches.length,
    confidence: allTree ? 'tree' : 'hunks',
    kernel: a.tree ? { root: a.tree.root, version: a.tree.version?.text } : undefined,
    sources,
    entities: a.files.flatMap((f) => f.entities.map((e) => entityOf(e, f.path))),
    diagnostics: a.findings.map(diagnosticOf),
  };
}

export function hasErrors(r: Report): boolean {
  return r.files.some((f) => f.diagnostics.some((d) => d.severity === 'error'));
}

// ---------------------------------------------------------------- text

function where(file: string, r: Range): string {
  return `${file}:${r.start.line + 1}:${r.start.character + 1}`;
}

export function formatText(r: Report, color: boolean): string {
  const c = (code: number, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const sev: Record<string, string> = { error: c(31, 'error'), warning: c(33, 'warning'), information: c(36, 'info'), hint: c(2, 'hint') };
  const out: string[] = [];
  for (const f of r.files) {
    const kernel = f.kernel ? `kernel tree ${f.kernel.root}${f.kernel.version ? ` (${f.kernel.version})` : ''}` : 'no kernel tree: from the hunks alone';
    out.push(c(1, `${f.path}`) + ` — ${f.format}, ${f.patches} patch${f.patches === 1 ? '' : 'es'}, ${f.sources.length} file${f.sources.length === 1 ? '' : 's'}; ${kernel}`);
    for (const s of f.sources) {
      out.push(`  ${s.path} (${s.status}, ${s.language}, ${s.confidence})`);
      for (const e of f.entities.filter((x) => x.file === s.path)) {
        const aspects = e.aspects.length ? ` (${e.aspects.join(', ')})` : '';
        out.push(`    ${e.kind.padEnd(12)} ${e.name.padEnd(32)} ${e.change}${aspects}  @${e.range.start.line + 1}:${e.range.start.character + 1}`);
        for (const m of e.members ?? []) out.push(`      ${m.change.padEnd(8)} ${m.name}${m.new ? `: ${m.new}` : m.old ? `: ${m.old}` : ''}`);
      }
    }
    for (const d of f.diagnostics) {
      out.push(`${where(f.path, d.range)}: ${sev[d.severity] ?? d.severity}: ${d.message} [${d.code}]`);
      for (const rel of d.related ?? []) out.push(`    ${where(rel.path ?? f.path, rel.range)}: note: ${rel.message}`);
    }
    const counts = ['error', 'warning', 'information'].map((s) => f.diagnostics.filter((d) => d.severity === s).length);
    out.push(`${counts[0]} error${counts[0] === 1 ? '' : 's'}, ${counts[1]} warning${counts[1] === 1 ? '' : 's'}, ${counts[2]} note${counts[2] === 1 ? '' : 's'}`);
    out.push('');
  }
  return out.join('\n');
}

// ---------------------------------------------------------------- JSON

export function formatJson(r: Report): string {
  return JSON.stringify(r, null, 2) + '\n';
}

// ---------------------------------------------------------------- SARIF

const LEVEL: Record<string, string> = { error: 'error', warning: 'warning', information: 'note', hint: 'note' };

function region(r: Range) {
  const reg: Record<string, number> = { startLine: r.start.line + 1, startColumn: r.start.character + 1 };
  reg.endLine = r.end.line + 1;
  reg.endColumn = Math.max(r.end.character + 1, r.end.line > r.start.line ? 1 : r.start.character + 1);
  return reg;
}

/** SARIF 2.1.0 log; `uriOf` turns a patch path into the URI code scanning should show (repository-relative). */
export function formatSarif(r: Report, uriOf: (path: string) => string, lineText: (path: string, line: number) => string): string {
  const used = [...new Set(r.files.flatMap((f) => f.diagnostics.map((d) => d.code)))].sort();
  const rules = used.map((code) => {
    const info = CODES.get(code);
    return {
      id: code,
      name: (info?.title ?? code).replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ? ch.toUpperCase() : '')).replace(/^./, (s) => s.toUpperCase()),
      shortDescription: { text: info?.title ?? code },
      fullDescription: { text: `${info?.title ?? code}. See docs/hazards/${code}.md in Livepatch Lens.` },
      help: { text: `Documentation: docs/hazards/${code}.md`, markdown: `See [docs/hazards/${code}.md](docs/hazards/${code}.md).` },
      defaultConfiguration: { level: LEVEL[info?.severity ?? 'warning'] },
      properties: { category: info?.category ?? 'input', tags: ['livepatch', info?.category ?? 'input'] },
    };
  });
  const index = new Map(used.map((code, i) => [code, i]));
  const results = r.files.flatMap((f) =>
    f.diagnostics.map((d) => {
      const uri = uriOf(f.path);
      const text = lineText(f.path, d.range.start.line).trim();
      const fp = createHash('sha256').update(`${d.code}\0${uri}\0${text}\0${d.message}`).digest('hex').slice(0, 32);
      const res: Record<string, unknown> = {
        ruleId: d.code,
        ruleIndex: index.get(d.code),
        level: LEVEL[d.severity] ?? 'warning',
        message: { text: d.message },
        locations: [{ physicalLocation: { artifactLocation: { uri, uriBaseId: '%SRCROOT%' }, region: region(d.range) } }],
        partialFingerprints: { 'klpLens/v1': fp },
        properties: { category: d.category, ...(d.file ? { sourceFile: d.file } : {}) },
      };
      if (d.related?.length) {
        res.relatedLocations = d.related.map((rel, i) => ({
          id: i + 1,
          message: { text: rel.message },
          physicalLocation: rel.path ? { artifactLocation: { uri: rel.path }, region: region(rel.range) } : { artifactLocation: { uri, uriBaseId: '%SRCROOT%' }, region: region(rel.range) },
        }));
      }
      return res;
    }),
  );
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: r.tool.name, version: r.tool.version, semanticVersion: r.tool.version, rules } },
        columnKind: 'utf16CodeUnits',
        results,
      },
    ],
  };
  return JSON.stringify(log, null, 2) + '\n';
}
