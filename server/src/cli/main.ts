/**
 * klp-lens: the command line on the same core as the language server.
 *
 *   klp-lens check [--tree DIR] [--symbols FILE] [--format text|json|sarif] FILE...
 *   klp-lens simulate FILE [--model NAME|FILE] [--models LIST] [--fleet N] [--seed S] [--format text|json] [--trace]
 *   klp-lens capture [--out FILE] [--samples N --interval MS] [--from RAW] [--print-script]
 *   klp-lens precheck PATCH [--capture FILE] [--format text|json]
 *   klp-lens serve --stdio
 *
 * Exit status: 0 no error-severity finding, 1 at least one, 2 bad usage or
 * unreadable input (one line on stderr, no stack trace). precheck: 0 the
 * transition would complete by itself, 1 it would not, or cannot load.
 *
 * Argument parsing is commander's: subcommands, --help and --version with no
 * code of ours to keep in step.
 */
import { accessSync, constants, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { analyzePatch, DEFAULT_MAX_LENGTH, targetOf } from '../core/analysis';
import { FIXABLE_CODES, fixesFor } from '../core/fixes';
import { fixPatch } from '../core/fixes/driver';
import { buildModule, generateInto, GenerateError, KlpRelocError, klpRelocs, loadSymbols } from '../services/generate';
import type { BuildTool } from '../core/rules';
import { KernelTree } from '../core/tree/kernelTree';
import { TreeIndex, indexCacheFile } from '../core/index/treeIndex';
import { decodeBytes } from '../core/text';
import { CaptureUsageError, runCapture, runPrecheck, type CaptureCliOptions, type PrecheckCliOptions } from './capture';
import { patchWorkload, runSimulate, SimulateUsageError, kernelProfiles, archProfiles, type SimulateCliOptions } from './simulate';
import { PROFILE_NAMES } from '../core/sim/profiles';
import { MODEL_IDS } from '../core/sim/types';
import { MAX_RUNS } from '../core/sim/outcomes';
import { formatJson, formatSarif, formatText, hasErrors, reportFile, type Report } from '../services/report';
import pkg from '../../../package.json';

class UsageError extends Error {}

function readInput(path: string, maxBytes: number): Buffer {
  if (path === '-') return readFileSync(0);
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `cannot read ${path}: no such file` : `cannot read ${path}: ${code ?? String(e)}`);
  }
  if (st.isDirectory()) throw new UsageError(`cannot read ${path}: it is a directory (give the patch files, e.g. ${path}/*.patch)`);
  if (st.size > maxBytes) throw new UsageError(`${path} is ${st.size} bytes, above --max-bytes ${maxBytes}; split the series or raise the limit`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function chooseTree(opt: { tree?: string | false }, log: (s: string) => void): KernelTree | undefined {
  if (opt.tree === false) return undefined;
  if (typeof opt.tree === 'string') {
    const { tree, error } = KernelTree.open(opt.tree);
    if (error) throw new UsageError(error);
    if (tree && !tree.isKernel) log(`klp-lens: note: ${opt.tree} has no kernel Makefile; using it as the tree anyway`);
    return tree;
  }
  const here = KernelTree.detect(process.cwd());
  if (here) log(`klp-lens: using the kernel tree in the current directory (${here.version?.text ?? 'unknown version'}); --no-tree to analyse the hunks alone`);
  return here;
}

interface CheckOptions {
  tree?: string | false;
  index?: boolean;
  config?: string;
  kernelVersion?: string;
  arch?: string;
  symbols?: string;
  format: 'text' | 'json' | 'sarif';
  maxBytes: number;
  color?: boolean;
  progress?: boolean;
  exitZero?: boolean;
}

/** Why a file cannot be read as a regular file, or undefined when it can. */
function unreadableFile(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return 'not a regular file';
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : code ?? String(e);
  }
}

const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;

/** Build (or refresh) the tree's index, with progress on stderr when asked or on a terminal. */
async function treeIndex(tree: KernelTree, opt: { config?: string; progress?: boolean }): Promise<TreeIndex> {
  if (opt.config) {
    const why = unreadableFile(opt.config);
    if (why) throw new UsageError(`--config: cannot read ${opt.config}: ${why}`);
  }
  const show = opt.progress ?? process.stderr.isTTY === true;
  let last = '';
  const index = await TreeIndex.build(tree, {
    configFile: opt.config,
    onProgress: (p) => {
      if (!show) return;
      const line = `indexing ${tree.root}: ${p.phase} ${p.done}/${p.total}`;
      if (line === last) return;
      last = line;
      process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}` : `${line}\n`);
    },
  });
  if (show && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  return index;
}

/** The target's symbol table for check; a bad one is a usage error with its reason. */
function loadCheckSymbols(path: string) {
  try {
    return loadSymbols(resolve(path));
  } catch (e) {
    if (e instanceof GenerateError) throw new UsageError(`--symbols: ${e.message}`);
    throw e;
  }
}

async function check(files: string[], opt: CheckOptions): Promise<number> {
  const err = (s: string) => process.stderr.write(s + '\n');
  const tree = chooseTree(opt, err);
  const index = tree?.isKernel && opt.index !== false ? await treeIndex(tree, opt) : undefined;
  if (tree && !tree.isKernel) err(`klp-lens: ${tree.root} is not a kernel source tree: its files are used, but it is not indexed (no checks that need the rest of the kernel)`);
  else if (tree && !index) err('klp-lens: --no-index: checks that need the rest of the tree (exports, static keys in headers, callers, module placement, .config) are skipped');
  const symbols = opt.symbols ? loadCheckSymbols(opt.symbols) : undefined;
  const report: Report = { tool: { name: 'klp-lens', version: pkg.version }, files: [] };
  const texts = new Map<string, string[]>();
  const showProgress = opt.progress ?? (files.length > 1 && process.stderr.isTTY === true);
  for (let i = 0; i < files.length; i++) {
    const path = files[i];
    if (showProgress) process.stderr.write(process.stderr.isTTY ? `\r\x1b[K[${i + 1}/${files.length}] ${path}` : `[${i + 1}/${files.length}] ${path}\n`);
    const decoded = decodeBytes(readInput(path, opt.maxBytes));
    const analysis = await analyzePatch(decoded.text, { tree, index, kernelVersion: opt.kernelVersion, arch: opt.arch, symbols, decoded: decoded.encoding === 'utf-8' && !decoded.nulAt ? undefined : decoded, maxLength: opt.maxBytes });
    try {
      report.files.push(reportFile(path === '-' ? '<stdin>' : path, analysis));
      texts.set(path === '-' ? '<stdin>' : path, analysis.set.lines);
    } finally {
      analysis.dispose();
    }
  }
  if (showProgress && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  let out: string;
  if (opt.format === 'json') out = formatJson(report);
  else if (opt.format === 'sarif') {
    const uriOf = (p: string) => (p === '<stdin>' ? 'stdin.patch' : relative(process.cwd(), resolve(p)).split(sep).join('/'));
    out = formatSarif(report, uriOf, (p, line) => texts.get(p)?.[line] ?? '');
  } else out = formatText(report, opt.color !== false && !process.env.NO_COLOR && process.stdout.isTTY === true);
  process.stdout.write(out);
  return hasErrors(report) && !opt.exitZero ? 1 : 0;
}

interface FixOptions {
  apply?: string;
  out?: string;
  tree?: string | false;
  index?: boolean;
  config?: string;
  kernelVersion?: string;
  arch?: string;
  tool?: BuildTool;
  maxBytes: number;
}

async function fix(file: string, opt: FixOptions): Promise<number> {
  const err = (s: string) => process.stderr.write(s + '\n');
  if (opt.apply !== undefined && !opt.out) throw new UsageError('fix --apply needs --out FILE (or --out - for standard output)');
  const codes = opt.apply === undefined ? undefined : opt.apply.trim() === 'all' ? new Set(FIXABLE_CODES) : new Set(opt.apply.split(',').map((c) => c.trim().toUpperCase()).filter(Boolean));
  for (const c of codes ?? []) if (!FIXABLE_CODES.has(c)) throw new UsageError(`--apply: no fix for ${c}; fixable: ${[...FIXABLE_CODES].sort().join(', ')}`);
  const tree = chooseTree(opt, err);
  const index = tree?.isKernel && opt.index !== false ? await treeIndex(tree, opt) : undefined;
  const decoded = decodeBytes(readInput(file, opt.maxBytes));
  if (decoded.encoding !== 'utf-8' || decoded.nulAt) throw new UsageError(`${file} is not UTF-8 text; convert it before fixing`);
  const options = { tree, index, kernelVersion: opt.kernelVersion, arch: opt.arch, tool: opt.tool, maxLength: opt.maxBytes };
  const name = file === '-' ? '<stdin>' : file;
  if (!codes) {
    // list what is on offer
    const a = await analyzePatch(decoded.text, { ...options, keepSyntax: true });
    try {
      const ctx = { text: decoded.text, analysis: a, tree, index, target: targetOf(options) };
      let n = 0;
      for (const f of a.findings) {
        for (const o of fixesFor(ctx, f)) {
          process.stdout.write(`${name}:${f.range.start.line + 1}:${f.range.start.character + 1}: ${f.code}: ${o.title} [--apply ${f.code}]\n`);
          n++;
        }
      }
      if (n === 0) process.stdout.write(`${name}: no fix on offer for its findings\n`);
    } finally {
      a.dispose();
    }
    return 0;
  }
  const run = await fixPatch(decoded.text, codes, options);
  for (const a of run.applied) {
    err(`fixed ${a.code}: ${a.title}`);
    for (const n of a.notes) err(`  ${n}`);
  }
  for (const r of run.refused) err(`not fixed ${r.code} (line ${r.line + 1}): ${r.title}: ${r.reason}`);
  for (const f of run.remaining) err(`${name}:${f.range.start.line + 1}:${f.range.start.character + 1}: still ${f.code}: ${f.message}`);
  if (opt.out === '-') process.stdout.write(run.text);
  else writeFileSync(opt.out!, run.text);
  if (run.applied.length === 0 && run.refused.length === 0) err(`${name}: no finding of ${[...codes].join(', ')} to fix`);
  return run.remaining.length ? 1 : 0;
}

interface GenerateCliOptions {
  out: string;
  tree?: string | false;
  headers?: string;
  symvers?: string;
  symbols?: string;
  config?: string;
  name?: string;
  build?: boolean;
  fix?: boolean;
  kernelVersion?: string;
  maxBytes: number;
}

async function generate(file: string, opt: GenerateCliOptions): Promise<number> {
  const err = (s: string) => process.stderr.write(s + '\n');
  const tree = chooseTree(opt, err);
  if (!tree?.isKernel) throw new UsageError('generate needs the kernel source tree the patch applies to (--tree DIR): the patched functions are compiled with their whole file around them');
  if (opt.headers && !existsSync(join(opt.headers, 'Makefile'))) throw new UsageError(`--headers: ${opt.headers} is not a kernel headers folder (no Makefile)`);
  if (opt.build && !opt.headers) throw new UsageError('--build needs --headers DIR (the kbuild folder of the target kernel)');
  const config = opt.config ?? (opt.headers && existsSync(join(opt.headers, '.config')) ? join(opt.headers, '.config') : undefined);
  const index = await treeIndex(tree, { config });
  const decoded = decodeBytes(readInput(file, opt.maxBytes));
  if (decoded.encoding !== 'utf-8' || decoded.nulAt) throw new UsageError(`${file} is not UTF-8 text`);
  let outcome;
  try {
    outcome = await generateInto({
      text: decoded.text,
      source: file === '-' ? '<stdin>' : file,
      tree,
      index,
      out: opt.out,
      name: opt.name,
      headers: opt.headers,
      symvers: opt.symvers,
      symbols: opt.symbols,
      options: { kernelVersion: opt.kernelVersion, maxLength: opt.maxBytes },
      generator: `klp-lens ${pkg.version}`,
      fix: opt.fix,
    });
  } catch (e) {
    if (e instanceof GenerateError) throw new UsageError(e.message);
    throw e;
  }
  const m = outcome.module;
  const funcs = m.functions.map((f) => `${f.object}:${f.oldName}${f.sympos ? `,${f.sympos}` : ''}`).join(', ');
  process.stdout.write(`${m.name}: ${m.functions.length} function${m.functions.length === 1 ? '' : 's'}${funcs ? ` (${funcs})` : ''}, ${m.relocations.length} klp relocation candidate${m.relocations.length === 1 ? '' : 's'}; wrote ${outcome.written.length} files to ${opt.out}\n`);
  if (outcome.symbols) err(`symbols: ${outcome.symbols}`);
  for (const a of outcome.applied) err(`applied ${a.code} first: ${a.title}`);
  const where = (p: { file?: string; line?: number }) => (p.line !== undefined ? `${file}:${p.line + 1}: ` : '');
  for (const p of m.problems) err(`${where(p)}${p.severity}: ${p.message}`);
  let failed = m.problems.some((p) => p.severity === 'error');
  if (opt.build && !failed) {
    const b = buildModule(resolve(opt.out), opt.headers!, [process.execPath, resolve(process.argv[1])]);
    for (const p of b.problems) err(`build ${p.severity}: ${p.message}`);
    if (!b.ok) err(b.log.split('\n').slice(-25).join('\n'));
    process.stdout.write(b.ok ? `built ${join(opt.out, m.name + '.ko')}\n` : `build failed (make -C ${opt.out} KDIR=${opt.headers})\n`);
    failed = !b.ok;
  }
  return failed ? 1 : 0;
}

function parseBytes(v: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(v.trim());
  if (!m) throw new UsageError(`--max-bytes: expected a number like 16M, got "${v}"`);
  return +m[1] * (m[2].toLowerCase() === 'k' ? 1024 : m[2].toLowerCase() === 'm' ? 1048576 : 1);
}

function parseSeed(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new UsageError(`--seed: a whole number from 0 to 4294967295, got "${v}"`);
  return n;
}

const count = (flag: string, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag}: a whole number from 1 to ${max}, got "${v}"`);
  return n;
};

/** A positive number of seconds up to `max`. */
const seconds = (flag: string, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new UsageError(`${flag}: seconds, more than 0 and up to ${max}, got "${v}"`);
  return n;
};

/** Bad input found by simulate, capture or precheck becomes a usage error (one line, exit 2). */
function usage(e: unknown): never {
  if (e instanceof CaptureUsageError || e instanceof SimulateUsageError) throw new UsageError(e.message);
  throw e;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  let result: Promise<number> = Promise.resolve(0);
  program
    .name('klp-lens')
    .description('Livepatch Lens: livepatch hazards of a Linux kernel patch, without building the kernel.')
    .version(pkg.version, '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run klp-lens --help for usage)');

  program
    .command('check')
    .description('analyse patch files (.patch, .diff, .mbox; "-" reads stdin) and report entities and findings')
    .argument('<files...>', 'patch files')
    .option('--tree <dir>', 'kernel source tree the patch applies to (default: the current directory if it is one)')
    .option('--no-tree', 'do not use a kernel tree: analyse the hunks alone')
    .option('--no-index', 'with a tree, do not build or use its index (cross-file checks are skipped)')
    .option('--config <file>', "the kernel .config (default: the tree's .config)")
    .option('--kernel-version <version>', 'kernel version the livepatch targets, e.g. 5.4 (default: the tree\'s)', (v: string) => {
      if (!/^\d+\.\d+/.test(v)) throw new UsageError(`--kernel-version: expected a version like 6.1, got "${v}"`);
      return v;
    })
    .addOption(new Option('--arch <arch>', "architecture the livepatch targets (default: the tree's .config, else x86_64)").choices(['x86_64', 'ppc64le', 's390x', 'arm64', 'loongarch64']))
    .option('--symbols <file>', "the target kernel's symbol table (System.map, a copy of /proc/kallsyms, or vmlinux): patched functions the target inlined or lacks are reported (KLP340-342)")
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'sarif']).default('text'))
    .option('--max-bytes <n>', 'largest patch to analyse (e.g. 16M)', parseBytes, DEFAULT_MAX_LENGTH)
    .option('--no-color', 'no ANSI colours in text output')
    .option('--progress', 'print progress on stderr (default: when stderr is a terminal and there are several files)')
    .option('--exit-zero', 'exit 0 even when error-severity hazards are found (reports, demos); bad usage still exits 2')
    .action((files: string[], opts: CheckOptions) => {
      result = check(files, opts);
    });

  program
    .command('fix')
    .description('rewrite a patch so that the chosen hazards are gone (without --apply: list the fixes on offer)')
    .argument('<file>', 'patch file ("-" reads stdin)')
    .option('--apply <codes>', `codes to fix, comma-separated (${[...FIXABLE_CODES].sort().join(', ')}), or "all"`)
    .option('--out <file>', 'where to write the fixed patch ("-" for standard output); required with --apply')
    .option('--tree <dir>', 'kernel source tree the patch applies to (default: the current directory if it is one)')
    .option('--no-tree', 'do not use a kernel tree: fix from the hunks alone (fewer fixes can be made)')
    .option('--no-index', 'with a tree, do not build or use its index')
    .option('--config <file>', "the kernel .config (default: the tree's .config)")
    .option('--kernel-version <version>', "kernel version the livepatch targets (default: the tree's)", (v: string) => {
      if (!/^\d+\.\d+/.test(v)) throw new UsageError(`--kernel-version: expected a version like 6.1, got "${v}"`);
      return v;
    })
    .addOption(new Option('--arch <arch>', "architecture the livepatch targets (default: the tree's .config, else x86_64)").choices(['x86_64', 'ppc64le', 's390x', 'arm64', 'loongarch64']))
    .addOption(new Option('--tool <tool>', 'the livepatch build tool the fixes write for (default: klp-build from kernel 6.19, else kpatch-build)').choices(['kpatch-build', 'klp-build']))
    .option('--max-bytes <n>', 'largest patch to read (e.g. 16M)', parseBytes, DEFAULT_MAX_LENGTH)
    .action((file: string, opts: FixOptions) => {
      result = fix(file, opts);
    });

  program
    .command('generate')
    .description('write a livepatch module source folder (units, klp tables, Kbuild, Makefile) for a patch; needs the kernel tree')
    .argument('<file>', 'patch file ("-" reads stdin)')
    .requiredOption('--out <dir>', 'folder to write the module into (created; nothing is written elsewhere)')
    .option('--tree <dir>', 'kernel source tree the patch applies to (default: the current directory if it is one)')
    .option('--no-tree', 'no kernel tree (refused: generation needs the patched files whole)')
    .option('--headers <dir>', "the target kernel's headers (Module.symvers for exports, .config, and the build with --build), e.g. /usr/src/linux-headers-6.1.0-56-amd64")
    .option('--symvers <file>', "the target's Module.symvers (default: the headers')")
    .option('--symbols <file>', "the target kernel's symbol table: System.map, a copy of its /proc/kallsyms, or its vmlinux (every reference is resolved against it)")
    .option('--config <file>', "the kernel .config (default: the headers' or the tree's)")
    .option('--name <name>', 'module name (default: from the patch subject, else its files and a hash)', (v: string) => {
      if (!/^[a-z0-9_]{1,55}$/.test(v)) throw new UsageError(`--name: use 1 to 55 of [a-z0-9_], got "${v}"`);
      return v;
    })
    .option('--build', 'build the folder with kbuild against --headers and report the result')
    .option('--no-fix', 'generate the patch as it is (default: apply the KLP101 shadow-variable and KLP110 callback fixes first)')
    .option('--kernel-version <version>', "kernel version the livepatch targets (default: the tree's)")
    .option('--max-bytes <n>', 'largest patch to read (e.g. 16M)', parseBytes, DEFAULT_MAX_LENGTH)
    .action((file: string, opts: GenerateCliOptions) => {
      result = generate(file, opts);
    });

  program
    .command('simulate')
    .description('preview the transition of a patch (or a .klpmodel.json machine) under the consistency models, on one modeled machine or a fleet')
    .argument('<file>', 'patch file, or a *.klpmodel.json model')
    .option('--model <name|file>', `machine to model: ${PROFILE_NAMES.join(', ')}, or a .klpmodel.json file (default: idle-server)`)
    .option('--models <list>', `consistency models, comma-separated: ${MODEL_IDS.join(', ')} or all (default: all)`)
    .option('--fleet <n|dir|glob>', 'simulate n machines drawn from a workload mix, or the machines captured in a folder (or matching a glob) of klp-lens capture files, and report distributions', (v: string) => {
      if (!/^\d+$/.test(v.trim())) return v;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 10_000_000) throw new UsageError(`--fleet: a whole number of machines from 1, got "${v}"`);
      return n;
    })
    .option('--prevalence <share>', "with --fleet from the built-in mix: the share of machines that carry the patch's workload, 0 to 1 (default: each profile's)", (v: string) => {
      const n = Number(v);
      if (!(v.trim() !== '' && n >= 0 && n <= 1)) throw new UsageError(`--prevalence: a share from 0 to 1, got "${v}"`);
      return n;
    })
    .option('--seed <s>', 'random seed (same seed, same output)', parseSeed)
    .option('--kernel <version>', `kernel profile: ${kernelProfiles.join(', ')} (default: the model's)`, (v: string) => {
      if (!(kernelProfiles as string[]).includes(v)) throw new UsageError(`--kernel: one of ${kernelProfiles.join(', ')}, got "${v}"`);
      return v;
    })
    .option('--arch <name>', `arch profile in place of the machine's: ${Object.keys(archProfiles).join(', ')}`, (v: string) => {
      if (!Object.hasOwn(archProfiles, v)) throw new UsageError(`--arch: one of ${Object.keys(archProfiles).join(', ')}, got "${v}"`);
      return v;
    })
    .option('--threads <n>', 'worker threads for --fleet (default: the cores available; 0 runs inline)', (v: string) => Number(v))
    .option('--runs <n>', 'also run the machine with n seeds from --seed and report each outcome (completion, first signal, last holder) and how often it came out', count('--runs', MAX_RUNS))
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--trace', 'add the per-task timeline (switches, attempts, signals, windows) to the output')
    .option('--tree <dir>', 'kernel source tree the patch applies to: whole function bodies tell which changed functions sleep (default: the current directory if it is one)')
    .option('--no-tree', 'analyse the hunks alone')
    .option('--max-bytes <n>', 'largest patch to read (e.g. 16M)', parseBytes, DEFAULT_MAX_LENGTH)
    .action((file: string, opts: SimulateCliOptions & { tree?: string | false; maxBytes: number }) => {
      const run = async () => {
        const tree = file.endsWith('.klpmodel.json') ? undefined : chooseTree(opts, (m) => process.stderr.write(m + '\n'));
        return runSimulate(file, opts, tree, opts.maxBytes, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
      };
      result = run().catch(usage);
    });

  program
    .command('capture')
    .description('snapshot this machine (run as root) into a *.klpmodel.json: kernel, CPUs, every task with its state and kernel stack, loaded livepatches')
    .option('--out <file>', 'where to write the model (default: standard output)')
    .option('--samples <n>', 'snapshots to take: how often each task sleeps where', count('--samples', 1000), 3)
    .option('--interval <ms>', 'time between snapshots', count('--interval', 60_000), 200)
    .option('--from <raw>', 'convert a raw snapshot taken elsewhere with the printed script instead of capturing here')
    .option('--raw <file>', 'also keep the raw snapshot')
    .option('--print-script', 'print the POSIX sh snapshot script (for machines without node: sh capture.sh [SAMPLES] [SECONDS] > raw)')
    .action((opts: CaptureCliOptions) => {
      result = (async () => runCapture(opts, (s) => process.stdout.write(s), (s) => process.stderr.write(s)))().catch(usage);
    });

  program
    .command('precheck')
    .description('before the load: which tasks of this machine (or a capture) would hold the patch transition, for how long, and why; exit 0 when it would complete by itself, 1 when it would not or cannot load, 2 on bad input')
    .argument('<patch>', 'patch file')
    .option('--capture <file>', 'a capture (*.klpmodel.json from klp-lens capture, or a raw snapshot) instead of capturing this machine now')
    .option('--samples <n>', 'without --capture: snapshots to take', count('--samples', 1000), 3)
    .option('--interval <ms>', 'without --capture: time between snapshots', count('--interval', 60_000), 200)
    .option('--seed <s>', 'random seed (same seed, same output)', parseSeed)
    .option('--runs <n>', 'also precheck with n seeds from --seed and count the verdicts and longest holders they give', count('--runs', MAX_RUNS))
    .option('--within <seconds>', 'how long you would wait for the transition after the enable before forcing or reverting it (default 120)', seconds('--within', 3600))
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--tree <dir>', 'kernel source tree the patch applies to (default: the current directory if it is one)')
    .option('--no-tree', 'analyse the hunks alone')
    .option('--max-bytes <n>', 'largest patch to read (e.g. 16M)', parseBytes, DEFAULT_MAX_LENGTH)
    .action((file: string, opts: PrecheckCliOptions & { tree?: string | false; maxBytes: number }) => {
      result = (async () => {
        const tree = chooseTree(opts, (m) => process.stderr.write(m + '\n'));
        const workload = await patchWorkload(file, tree, opts.maxBytes);
        return runPrecheck(workload, file, opts, (s) => process.stdout.write(s));
      })().catch(usage);
    });

  program
    .command('klp-relocs')
    .description("turn a built livepatch module's references to unexported symbols into klp relocations (the generated Makefile runs this)")
    .argument('<module>', 'the linked .ko')
    .requiredOption('--map <file>', 'klp-relocs.json written by klp-lens generate')
    .option('--symvers <file>', "the target's Module.symvers: anything undefined that is neither listed nor exported is an error")
    .option('--out <file>', 'write the converted module here (default: in place)')
    .action((ko: string, opts: { map: string; symvers?: string; out?: string }) => {
      result = (async () => {
        try {
          const r = klpRelocs(ko, opts.map, opts.symvers, opts.out);
          process.stdout.write(`${ko}: ${r.moved} relocation${r.moved === 1 ? '' : 's'} of ${r.converted.length} symbol${r.converted.length === 1 ? '' : 's'} made klp relocations${r.converted.length ? ` (${r.converted.join(', ')})` : ''}\n`);
          for (const w of r.warnings) process.stderr.write(`klp-lens: ${w}\n`);
          if (r.missing.length) {
            process.stderr.write(`klp-lens: ${ko} still needs ${r.missing.join(', ')}: neither exported by the target nor listed in ${opts.map}; the module would not load\n`);
            return 1;
          }
          return r.warnings.length > r.notes.length ? 1 : 0;
        } catch (e) {
          if (e instanceof KlpRelocError || e instanceof GenerateError) throw new UsageError(e.message);
          throw e;
        }
      })();
    });

  program
    .command('index')
    .description('build or refresh the index of a kernel tree (cached on disk; check --tree uses it)')
    .requiredOption('--tree <dir>', 'kernel source tree')
    .option('--config <file>', "the kernel .config (default: the tree's .config)")
    .option('--json', 'print the statistics as JSON')
    .option('--progress', 'print progress on stderr (default: when stderr is a terminal)')
    .action((opts: { tree: string; config?: string; json?: boolean; progress?: boolean }) => {
      result = (async () => {
        const { tree, error } = KernelTree.open(opts.tree);
        if (!tree) throw new UsageError(error ?? `no kernel tree at ${opts.tree}`);
        if (!tree.isKernel) throw new UsageError(`${opts.tree} is not a kernel source tree (no top-level Makefile with VERSION and PATCHLEVEL, Kconfig and kernel/)`);
        const index = await treeIndex(tree, opts);
        const st = index.stats();
        if (opts.json) process.stdout.write(JSON.stringify({ root: tree.root, cache: indexCacheFile(tree.root), ...st }, null, 2) + '\n');
        else
          process.stdout.write(
            `indexed ${tree.root}${tree.version ? ` (${tree.version.text})` : ''}: ${st.files} files (${st.rescanned} scanned, ${st.fromCache} from the cache) in ${st.buildMs} ms; ` +
              `${n(st.exports, 'export')}, ${n(st.keys, 'static key')}, ${n(st.staticCalls, 'static call')}, ${n(st.helpers, 'inline helper')}, ${n(st.macros, 'function-like macro')}, ${n(st.kbuildObjects, 'Kbuild object')}; ` +
              `${index.hasConfig ? 'with a .config' : 'no .config'}; cache ${indexCacheFile(tree.root)} (${(st.cacheBytes / 1048576).toFixed(1)} MiB)${st.cacheError ? `, not written: ${st.cacheError}` : ''}\n`,
          );
        return 0;
      })();
    });

  program
    .command('serve')
    .description('run the language server (the VS Code extension and other editors start this)')
    .option('--stdio', 'talk LSP over stdin/stdout')
    .option('--node-ipc', 'talk LSP over a Node IPC channel')
    .option('--socket <port>', 'talk LSP over a socket')
    .option('--clientProcessId <pid>', 'process id of the client (set by vscode-languageclient)')
    .action(async (opts: { stdio?: boolean; nodeIpc?: boolean; socket?: string }) => {
      if (!opts.stdio && !opts.nodeIpc && !opts.socket) throw new UsageError('serve: choose a transport, e.g. --stdio');
      const { runServer } = await import('../lsp/server');
      runServer();
      result = new Promise<number>(() => {
        /* the server runs until the client sends exit */
      });
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return await result;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`klp-lens: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`klp-lens: internal error: ${(e as Error)?.message ?? String(e)}\n`);
    if (process.env.KLP_LENS_DEBUG) process.stderr.write(String((e as Error)?.stack) + '\n');
    return 2;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    // Let stdout drain before exiting (large JSON through a pipe).
    process.stdout.write('', () => process.exit(code));
  });
}
