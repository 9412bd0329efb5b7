/**
 * `out/cli.js`: the entry node runs. It loads the CLI and server bundle
 * (`out/klp-lens.js`) through a V8 code cache, so a `klp-lens check` does not
 * compile 3 MB of JavaScript on every start (node 20 has no
 * module.enableCompileCache). The cache lives in
 * $XDG_CACHE_HOME/livepatch-lens/compile/, keyed by the node version and the
 * bundle's size and time; V8 checks it against the source and rejects a stale
 * one; only the newest four caches are kept. Any failure to read or write it
 * only costs the compile.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';

interface Cli {
  main(argv: string[]): Promise<number>;
}

function cacheFileFor(bundle: string): string | undefined {
  if (process.env.KLP_LENS_NO_COMPILE_CACHE) return undefined;
  try {
    const st = statSync(bundle);
    const root = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
    return join(root, 'livepatch-lens', 'compile', `klp-lens-${process.version}-${st.size}-${Math.round(st.mtimeMs)}.v8cache`);
  } catch {
    return undefined;
  }
}

function readCache(file: string | undefined): Buffer | undefined {
  try {
    return file ? readFileSync(file) : undefined;
  } catch {
    return undefined;
  }
}

/** Caches kept: one per bundle a user runs (an editor's copy, a checkout, an upgrade in between). */
const KEEP = 4;

/** Each build of the bundle has its own cache file: keep the newest few, drop the rest. */
function prune(dir: string, keep: number): void {
  const files = readdirSync(dir)
    .filter((f) => f.startsWith('klp-lens-') && f.endsWith('.v8cache'))
    .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of files.slice(keep)) unlinkSync(join(dir, f));
}

/** After the run, so the functions the run compiled are in the cache too. */
function writeCacheAtExit(script: Script, file: string): void {
  process.once('exit', () => {
    try {
      const data = script.createCachedData();
      mkdirSync(join(file, '..'), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, data);
      renameSync(tmp, file);
      prune(join(file, '..'), KEEP);
    } catch {
      // a read-only or full cache folder: the next start compiles again
    }
  });
}

function load(bundle: string): Cli {
  const file = cacheFileFor(bundle);
  const cachedData = readCache(file);
  // The bundle has no import() (the build turns them into require), so the script needs no module loader.
  const script = new Script(Module.wrap(readFileSync(bundle, 'utf8')), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  if (file && (!cachedData || script.cachedDataRejected)) writeCacheAtExit(script, file);
  const m = new Module(bundle, module);
  m.filename = bundle;
  m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(__dirname);
  (script.runInThisContext() as (...a: unknown[]) => void).call(m.exports, m.exports, createRequire(bundle), m, bundle, __dirname);
  return m.exports as Cli;
}

void load(join(__dirname, 'klp-lens.js'))
  .main(process.argv.slice(2))
  .then((code) => {
    // Let stdout drain before exiting (large JSON through a pipe).
    process.stdout.write('', () => process.exit(code));
  });
