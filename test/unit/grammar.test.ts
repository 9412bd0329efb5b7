/**
 * The TextMate grammar, run by vscode-textmate (the engine VS Code uses) with
 * a small stand-in C grammar for the embedded source.c.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, parseRawGrammar, INITIAL, type IGrammar, type StateStack } from 'vscode-textmate';
import { loadWASM, OnigScanner, OnigString } from 'vscode-oniguruma';
import { ROOT } from '../helpers';

const C_STUB = {
  scopeName: 'source.c',
  patterns: [
    { begin: '/\\*', end: '\\*/', name: 'comment.block.c' },
    { match: '"(?:[^"\\\\]|\\\\.)*"', name: 'string.quoted.double.c' },
    { match: '\\b(if|else|return|static|int|unsigned|struct)\\b', name: 'keyword.control.c' },
  ],
};

let grammar: IGrammar;

async function load(): Promise<IGrammar> {
  if (grammar) return grammar;
  await loadWASM(readFileSync(join(ROOT, 'node_modules/vscode-oniguruma/release/onig.wasm')).buffer as ArrayBuffer);
  const registry = new Registry({
    onigLib: Promise.resolve({ createOnigScanner: (p: string[]) => new OnigScanner(p), createOnigString: (s: string) => new OnigString(s) }),
    loadGrammar: async (scope: string) => {
      if (scope === 'source.kernel-patch') {
        const path = join(ROOT, 'syntaxes/kernel-patch.tmLanguage.json');
        return parseRawGrammar(readFileSync(path, 'utf8'), path);
      }
      if (scope === 'source.c') return parseRawGrammar(JSON.stringify(C_STUB), 'c.json');
      return null;
    },
  });
  grammar = (await registry.loadGrammar('source.kernel-patch'))!;
  return grammar;
}

/** Scopes of the token covering `needle` on each line. */
function tokenize(g: IGrammar, lines: string[]): { line: string; scopesAt(needle: string): string[] }[] {
  let state: StateStack = INITIAL;
  return lines.map((line) => {
    const r = g.tokenizeLine(line, state);
    state = r.ruleStack;
    return {
      line,
      scopesAt(needle: string) {
        const at = line.indexOf(needle);
        assert.ok(at >= 0, `"${needle}" not in "${line}"`);
        const t = r.tokens.find((tok) => tok.startIndex <= at && at < tok.endIndex)!;
        return t.scopes;
      },
    };
  });
}

test('mail headers, diffstat, file and hunk headers keep their own scopes', async () => {
  const g = await load();
  const lines = readFileSync(join(ROOT, 'test/fixtures/patches/body-struct-key.patch'), 'utf8').split('\n');
  const t = tokenize(g, lines);
  const find = (prefix: string) => t.find((x) => x.line.startsWith(prefix))!;
  assert.ok(find('From: ').scopesAt('From').includes('keyword.other.mail-header.kernel-patch'));
  assert.ok(find('Signed-off-by:').scopesAt('Signed').includes('keyword.other.trailer.kernel-patch'));
  const stat = find(' drivers/misc/lens_demo.c |');
  assert.ok(stat.scopesAt('lens_demo').includes('meta.diffstat.kernel-patch'));
  assert.ok(stat.scopesAt('+').includes('markup.inserted.diff'));
  assert.ok(find('diff --git').scopesAt('diff').includes('meta.diff.header.git'));
  assert.ok(find('--- a/').scopesAt('---').includes('punctuation.definition.from-file.diff'));
  assert.ok(find('+++ b/').scopesAt('+++').includes('punctuation.definition.to-file.diff'));
  const hunk = find('@@ -72,6');
  assert.ok(hunk.scopesAt('@@').includes('meta.diff.range.unified'));
  assert.ok(hunk.scopesAt('lens_read').includes('entity.name.function.hunk-heading.kernel-patch'));
  assert.ok(find('-- ').scopesAt('-- ').includes('comment.line.signature.kernel-patch'));
});

test('added, removed and context lines are highlighted as C, markers stay diff', async () => {
  const g = await load();
  const t = tokenize(g, [
    '@@ -1,6 +1,7 @@ static int lens_open(struct inode *inode, struct file *file)',
    ' \tif (dev->nr_readers >= LENS_MAX_READERS) {',
    '-\t\treturn -EBUSY;',
    '+\t\treturn -EAGAIN; /* retry',
    '+\t\t * later */',
    ' \t}',
    '--- a/next.c',
  ]);
  assert.ok(t[1].scopesAt('if').includes('keyword.control.c'));
  assert.ok(t[1].scopesAt('if').includes('meta.diff.context.kernel-patch'));
  assert.ok(t[2].scopesAt('-').includes('punctuation.definition.deleted.diff'));
  assert.ok(t[2].scopesAt('return').includes('keyword.control.c'));
  assert.ok(t[2].scopesAt('return').includes('markup.deleted.diff'));
  assert.ok(t[3].scopesAt('+').includes('punctuation.definition.inserted.diff'));
  assert.ok(t[3].scopesAt('return').includes('meta.embedded.block.c'));
  // a comment opened on one '+' line continues on the next, whose marker is still a marker
  assert.ok(t[4].scopesAt('later').includes('comment.block.c'));
  assert.ok(t[4].scopesAt('+').includes('punctuation.definition.inserted.diff'));
  // the next file header is not a removed line
  assert.ok(t[6].scopesAt('---').includes('punctuation.definition.from-file.diff'));
  assert.ok(!t[6].scopesAt('next').includes('markup.deleted.diff'));
});
