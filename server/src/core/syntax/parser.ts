/**
 * Loads web-tree-sitter and the C grammar shipped by tree-sitter-c (its
 * `tree-sitter-c.wasm`). The two wasm files are copied next to every bundle by
 * scripts/build.mjs; the lookup below also finds them from the test bundles one
 * or two folders deeper.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Parser, Language } from 'web-tree-sitter';
import type { Tree, Node } from 'web-tree-sitter';

export type { Tree, Node };

let ready: Promise<Language> | undefined;
let language: Language | undefined;

/** Find a file shipped next to the bundle (out/), searching upward from this module. */
export function locateAsset(name: string, from: string = __dirname): string {
  let dir = from;
  for (let k = 0; k < 5; k++) {
    for (const candidate of [join(dir, name), join(dir, 'out', name)]) if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`cannot find ${name} near ${from}; run "npm run build" first`);
}

/** Initialise tree-sitter once per process. */
export function initParser(): Promise<Language> {
  if (!ready) {
    ready = (async () => {
      const runtime = locateAsset('tree-sitter.wasm');
      await Parser.init({ locateFile: () => runtime });
      language = await Language.load(locateAsset('tree-sitter-c.wasm'));
      return language;
    })();
  }
  return ready;
}

let shared: Parser | undefined;

/** The process-wide C parser; initParser() must have resolved. */
export function cParser(): Parser {
  if (!language) throw new Error('initParser() has not completed');
  if (!shared) {
    shared = new Parser();
    shared.setLanguage(language);
  }
  return shared;
}

export function cLanguage(): Language {
  if (!language) throw new Error('initParser() has not completed');
  return language;
}

/** Parse C text; never returns null (an empty tree is parsed instead if tree-sitter gives up). */
export function parseC(text: string, oldTree?: Tree): Tree {
  const p = cParser();
  const t = p.parse(text, oldTree ?? null);
  if (t) return t;
  p.reset();
  const empty = p.parse('');
  if (!empty) throw new Error('tree-sitter failed to parse an empty text');
  return empty;
}

