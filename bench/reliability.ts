/**
 * The bad inputs of docs/reliability.md (test/badinputs/cases.ts), each run
 * once through the real CLI with a resource hook: the outcome, the whole
 * process's wall time and its peak resident memory. `--write FILE` puts the
 * table between the markers of FILE (docs/reliability.md).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BAD_INPUTS, type BadInput } from '../test/badinputs/cases';
import { runBadInput, type BadInputRun } from '../test/badinputs/run';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'out', 'cli.js');
const HOOK = join(ROOT, 'out', 'bench', 'rusage-hook.js');

/** The answer's first telling line: a finding with its code, or the CLI's message. */
function outcome(c: BadInput, r: BadInputRun): string {
  if (r.timedOut) return `no answer within ${c.timeoutMs / 1000} s`;
  const lines = r.out.split('\n').map((l) => l.trim()).filter(Boolean);
  const pick = lines.find((l) => c.expect[0].test(l) && /KLP0\d\d|error|klp-lens:/.test(l)) ?? lines.find((l) => c.expect[0].test(l)) ?? lines[0] ?? '';
  const short = pick.replace(/^\S*\/(klp-bad-[^/]+\/)?/, '').replace(/\/tmp\/klp-bad-[^/ ]+\//g, '');
  return `exit ${r.code}: ${short.length > 190 ? `${short.slice(0, 187)}…` : short}`;
}

function main(): void {
  const write = process.argv.indexOf('--write');
  const rows: string[] = ['| input | command | outcome | time | peak memory |', '|---|---|---|---:|---:|'];
  console.log('bad inputs through the CLI (whole process; docs/reliability.md):');
  for (const c of BAD_INPUTS) {
    const dir = mkdtempSync(join(tmpdir(), `klp-bad-${c.id}-`));
    try {
      const r = runBadInput(c, CLI, dir, HOOK);
      const ok = !r.timedOut && c.exit.includes(r.code ?? -1) && c.expect.every((re) => re.test(r.out));
      const mem = r.peakMiB !== undefined ? `${r.peakMiB.toFixed(0)} MiB` : '?';
      const cmd = r.args.map((a) => a.replace(dir + '/', '').replace(/^\/.*\/test\/fixtures\/tree$/, 'FIXTURE_TREE')).join(' ');
      console.log(`  ${c.id.padEnd(18)} ${(r.ms / 1000).toFixed(2).padStart(6)} s ${mem.padStart(8)}  ${ok ? 'as documented' : 'NOT AS DOCUMENTED'}`);
      rows.push(`| ${c.input} | \`klp-lens ${cmd}\` | ${outcome(c, r).replace(/\|/g, '\\|')} | ${(r.ms / 1000).toFixed(2)} s | ${mem} |`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (write > 0) {
    const file = process.argv[write + 1];
    const doc = readFileSync(file, 'utf8');
    const begin = '<!-- table:begin -->';
    const end = '<!-- table:end -->';
    const a = doc.indexOf(begin);
    const b = doc.indexOf(end);
    if (a < 0 || b < a) throw new Error(`${file} has no ${begin} … ${end} markers`);
    writeFileSync(file, `${doc.slice(0, a + begin.length)}\n${rows.join('\n')}\n${doc.slice(b)}`);
    console.log(`  table written to ${file}`);
  }
}

main();
