/**
 * Hunks read on their own must name the same entities as the whole file does.
 * Every line of a fixture full of awkward kernel shapes (return type on its own
 * line, long signatures git cuts short, #ifdef'd stubs, do/while, labels,
 * multi-line macros, anonymous unions) is edited in turn; the analysis from the
 * hunks alone is compared with the analysis against the fixture tree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzePatch } from '../../server/src/core/analysis';
import { fixtureTree, gitStyleDiff, TREE_DIR, brief } from '../helpers';

const PATH = 'drivers/misc/lens_shapes.c';

async function entities(text: string, withTree: boolean): Promise<string[]> {
  const a = await analyzePatch(text, { tree: withTree ? fixtureTree() : undefined });
  try {
    return a.files.flatMap((f) => f.entities.map(brief));
  } finally {
    a.dispose();
  }
}

test('every single-line edit of lens_shapes.c: hunks alone agree with the tree', async () => {
  const before = readFileSync(join(TREE_DIR, PATH), 'utf8');
  const lines = before.split('\n');
  let inComment = false;
  let compared = 0;
  const disagreements: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const opens = l.includes('/*') && !l.includes('*/');
    const closes = l.includes('*/');
    const skip = inComment || opens || l.trim() === '' || l.endsWith('\\') || l.startsWith('#') || l.startsWith('//');
    if (opens) inComment = true;
    if (closes) inComment = false;
    if (skip) continue;
    const variants = [l + ' /* lens */'];
    if (/\b0\b/.test(l)) variants.push(l.replace(/\b0\b/, '1'));
    for (const edited of variants) {
      const after = [...lines.slice(0, i), edited, ...lines.slice(i + 1)].join('\n');
      const diff = gitStyleDiff(PATH, before, after);
      const [hunks, tree] = [await entities(diff, false), await entities(diff, true)];
      compared++;
      // A macro whose "#define NAME" line is outside the hunk cannot be named from the hunk: the
      // unnamed macro must match the tree's macro in everything but the name.
      const named = hunks.map((h, k) => (/^macro unnamed macro at patch line \d+ /.test(h) && tree[k]?.startsWith('macro ') ? tree[k].replace(/^macro \S+/, 'macro') === h.replace(/^macro unnamed macro at patch line \d+/, 'macro') ? tree[k] : h : h));
      if (JSON.stringify(named) !== JSON.stringify(tree)) disagreements.push(`line ${i + 1} "${edited.trim()}": hunks ${JSON.stringify(hunks)} tree ${JSON.stringify(tree)}`);
      assert.ok(tree.length > 0, `line ${i + 1}: the tree analysis finds the changed entity`);
    }
  }
  assert.ok(compared > 60, `compared ${compared} edits`);
  assert.deepEqual(disagreements, []);
});
