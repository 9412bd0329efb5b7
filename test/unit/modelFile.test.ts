/**
 * Workspace model files (`*.klpmodel.json`): the schema VS Code validates with,
 * and parseModelFile's positioned errors (syntax, schema, semantic checks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import {
  formatModelFileErrors,
  MODEL_FILE_SCHEMA,
  parseModelFile,
  type ModelFileError,
} from '../../server/src/core/sim/modelFile';
import { PROFILE_NAMES } from '../../server/src/core/sim/profiles';
import { ROOT } from '../helpers';

const STORAGE_BOX = `{
  "$schema": "../schemas/klpmodel.schema.json",
  "name": "storage-box-ext4",
  "kernel": "6.1",
  "arch": { "name": "x86_64", "reliableStacktrace": true, "unwinder": "orc", "maxStackEntries": 100 },
  "cpus": 16,
  "offlineCpus": 2,
  "durationMs": 120000,
  "enableAtMs": 100,
  "seed": 42,
  "patch": {
    "functions": ["jbd2_journal_commit_transaction", "ext4_sync_file"],
    "dataSemantics": false,
    "sharedData": [["jbd2_journal_commit_transaction", "ext4_sync_file"]],
    "traced": [],
    "replace": true,
    "nops": ["ext4_writepages"],
    "callbacks": true
  },
  "tasks": [
    {
      "name": "jbd2/nvme0n1p2-8",
      "kind": "kthread",
      "cpu": 3,
      "program": [
        { "sleep": ["kthread", "kjournald2"], "ms": { "exp": 5000 }, "state": "interruptible", "freezable": true, "onSignal": "resleep" },
        { "kernel": ["kthread", "kjournald2", "jbd2_journal_commit_transaction"], "ms": { "uniform": [1, 20] }, "condResched": 2 },
        { "sleep": ["kthread", "kjournald2", "jbd2_journal_commit_transaction", "jbd2_log_wait_commit"], "ms": 3, "state": "uninterruptible" }
      ]
    },
    {
      "name": "kworker/u32:writeback",
      "kind": "kthread",
      "count": 4,
      "phase": "random",
      "program": [
        { "sleep": ["kthread", "worker_thread"], "ms": { "exp": 200 } },
        { "kernel": ["kthread", "worker_thread", "process_one_work", "wb_workfn", "ext4_writepages"], "ms": 2, "preempted": true, "depth": 6 }
      ]
    },
    {
      "name": "postgres",
      "kind": "user",
      "count": 8,
      "cpu": "any",
      "program": [
        { "user": { "exp": 30 } },
        { "kernel": ["do_syscall_64", "__x64_sys_fsync", "ext4_sync_file"], "ms": 1 },
        { "sleep": ["do_syscall_64", "__x64_sys_fsync", "ext4_sync_file", "jbd2_complete_transaction", "jbd2_log_wait_commit"], "ms": { "exp": 8 }, "state": "uninterruptible" },
        { "fork": { "name": "pg-archiver", "program": [{ "user": 5 }, { "kernel": ["do_syscall_64", "__x64_sys_fsync", "ext4_sync_file"], "ms": 1 }, { "exit": true }] } }
      ]
    }
  ],
  "irqs": [{ "cpus": [0, 1, 2, 3], "everyMs": 0.5, "stack": ["common_interrupt", "nvme_irq", "blk_mq_complete_request"], "ms": 0.01 }],
  "actions": [{ "atMs": 60000, "do": "force" }],
  "timing": { "retryMs": 1000, "signalsEvery": 15 }
}
`;

/** 1-based line and column of the first occurrence of `needle` in `text`. */
function where(text: string, needle: string, nth = 0): { line: number; column: number } {
  let at = -1;
  for (let k = 0; k <= nth; k++) at = text.indexOf(needle, at + 1);
  assert.ok(at >= 0, `${needle} not in the text`);
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return { line, column: at - (before.lastIndexOf('\n') + 1) + 1 };
}

function only(errors: ModelFileError[]): ModelFileError {
  assert.equal(errors.length, 1, `expected one error, got:\n${formatModelFileErrors('m', errors)}`);
  return errors[0];
}

function edit(from: string, to: string, text = STORAGE_BOX): string {
  assert.ok(text.includes(from), `${from} not in the text`);
  return text.replace(from, to);
}

test('a realistic storage-box model parses with no errors', () => {
  const { model, errors } = parseModelFile(STORAGE_BOX, 'storage.klpmodel.json');
  assert.deepEqual(errors, []);
  assert.ok(model);
  assert.equal(model.name, 'storage-box-ext4');
  assert.equal(model.cpus, 16);
  assert.equal(model.seed, 42);
  assert.equal(model.tasks.length, 3);
  assert.deepEqual(model.patch.functions, ['jbd2_journal_commit_transaction', 'ext4_sync_file']);
  assert.deepEqual(model.tasks[0].program[1], {
    kernel: ['kthread', 'kjournald2', 'jbd2_journal_commit_transaction'],
    ms: { uniform: [1, 20] },
    condResched: 2,
  });
});

test('a misspelled segment key gives one error at the key', () => {
  const text = edit('{ "sleep": ["kthread", "worker_thread"]', '{ "sleeep": ["kthread", "worker_thread"]');
  const e = only(parseModelFile(text).errors);
  assert.equal(e.message, 'tasks[1].program[0]: unknown key "sleeep"; expected one of user, kernel, sleep, fork, exit');
  assert.deepEqual({ line: e.line, column: e.column }, where(text, '"sleeep"'));
  assert.equal(text.slice(e.offset, e.offset + e.length), '"sleeep"');
});

test('a misspelled key inside a forked child is one error too', () => {
  const text = edit('[{ "user": 5 }', '[{ "usr": 5 }');
  const e = only(parseModelFile(text).errors);
  assert.equal(e.message, 'tasks[2].program[3].fork.program[0]: unknown key "usr"; expected one of user, kernel, sleep, fork, exit');
  assert.deepEqual({ line: e.line, column: e.column }, where(text, '"usr"'));
});

test('a known segment with a bad field reports that field only', () => {
  // A kernel step with a sleep-only field, and a sleep state that does not exist.
  let text = edit('"ms": { "uniform": [1, 20] }, "condResched": 2', '"ms": { "uniform": [1, 20] }, "state": "interruptible"');
  let e = only(parseModelFile(text).errors);
  assert.match(e.message, /^tasks\[0\]\.program\[1\]: unknown key "state"; expected one of kernel, ms, condResched/);
  assert.equal(text.slice(e.offset, e.offset + e.length), '"state"');

  text = edit('"ms": 3, "state": "uninterruptible"', '"ms": 3, "state": "sleeping"');
  e = only(parseModelFile(text).errors);
  assert.equal(e.message, 'tasks[0].program[2].state: unknown value "sleeping"; expected one of "interruptible", "uninterruptible", "killable"');
  assert.equal(text.slice(e.offset, e.offset + e.length), '"sleeping"');

  // A kernel step without its duration.
  text = edit(', "ms": 2, "preempted": true', ', "preempted": true');
  e = only(parseModelFile(text).errors);
  assert.equal(e.message, 'tasks[1].program[1]: missing required property "ms"');

  // Two kinds in one step.
  text = edit('{ "user": { "exp": 30 } }', '{ "user": { "exp": 30 }, "exit": true }');
  e = only(parseModelFile(text).errors);
  assert.match(e.message, /^tasks\[2\]\.program\[0\]: "user" and "exit" cannot be combined/);
});

test('durations: a bad exp, a string, an unknown shape and min > max', () => {
  let e = only(parseModelFile(edit('"ms": { "exp": 200 }', '"ms": { "exp": -1 }')).errors);
  assert.equal(e.message, 'tasks[1].program[0].ms.exp: must be >= 0; found -1');

  e = only(parseModelFile(edit('"ms": { "exp": 200 }', '"ms": "200"')).errors);
  assert.equal(e.message, 'tasks[1].program[0].ms: expected a number of milliseconds, {"exp": mean} or {"uniform": [min, max]}; found "200"');

  e = only(parseModelFile(edit('"ms": { "exp": 200 }', '"ms": { "mean": 200 }')).errors);
  assert.match(e.message, /^tasks\[1\]\.program\[0\]\.ms: unknown key "mean"; expected a number of milliseconds/);

  const text = edit('{ "uniform": [1, 20] }', '{ "uniform": [20, 1] }');
  e = only(parseModelFile(text).errors);
  assert.equal(e.message, 'tasks[0].program[1].ms.uniform: min (20) is greater than max (1)');
  assert.equal(text.slice(e.offset, e.offset + e.length), '[20, 1]');
});

test('a wrong enum value names the allowed values and points at the value', () => {
  const text = edit('"kernel": "6.1"', '"kernel": "5.2"');
  const e = only(parseModelFile(text).errors);
  assert.equal(e.message, 'kernel: unknown value "5.2"; expected one of "4.0", "4.12", "4.15", "5.1", "5.16", "6.1", "6.4", "6.16"');
  assert.deepEqual({ line: e.line, column: e.column }, where(text, '"5.2"'));

  const e2 = only(parseModelFile(edit('"unwinder": "orc"', '"unwinder": "dwarf"')).errors);
  assert.equal(e2.message, 'arch.unwinder: unknown value "dwarf"; expected one of "orc", "fp"');
  const e3 = only(parseModelFile(edit('"do": "force"', '"do": "kill"')).errors);
  assert.equal(e3.message, 'actions[0].do: unknown value "kill"; expected one of "force", "reverse", "disable"');
  const e4 = only(parseModelFile(edit('"cpu": "any"', '"cpu": "all"')).errors);
  assert.equal(e4.message, 'tasks[2].cpu: expected a CPU number or "any"; found "all"');
});

test('semantic checks: CPUs out of range, offline CPUs, duplicate names, empty fork, duplicate keys', () => {
  let text = edit('"cpu": 3', '"cpu": 16');
  let e = only(parseModelFile(text).errors);
  assert.equal(e.message, 'tasks[0].cpu: CPU 16 does not exist: the model has 16 CPUs (0–15)');
  assert.deepEqual({ line: e.line, column: e.column }, where(text, '16', 1));

  e = only(parseModelFile(edit('"offlineCpus": 2', '"offlineCpus": 16')).errors);
  assert.match(e.message, /^offlineCpus: must be less than cpus \(16\)/);
  // Offline CPUs are the highest-numbered ones (the simulator's world.ts).
  e = only(parseModelFile(edit('"cpu": 3', '"cpu": 14')).errors);
  assert.equal(e.message, 'tasks[0].cpu: CPU 14 is offline (offlineCpus 2 takes CPUs 14–15); a task cannot run there');

  text = edit('"cpus": [0, 1, 2, 3]', '"cpus": [0, 1, 2, 31]');
  e = only(parseModelFile(text).errors);
  assert.equal(e.message, 'irqs[0].cpus[3]: CPU 31 does not exist: the model has 16 CPUs (0–15)');
  assert.equal(text.slice(e.offset, e.offset + e.length), '31');

  text = edit('"name": "postgres"', '"name": "jbd2/nvme0n1p2-8"');
  e = only(parseModelFile(text).errors);
  assert.equal(e.message, 'tasks[2].name: duplicate task name "jbd2/nvme0n1p2-8" (also tasks[0]); task names must be unique');

  e = only(parseModelFile(edit('"program": [{ "user": 5 }, { "kernel": ["do_syscall_64", "__x64_sys_fsync", "ext4_sync_file"], "ms": 1 }, { "exit": true }]', '"program": []')).errors);
  assert.equal(e.message, 'tasks[2].program[3].fork.program: a program needs at least one step');

  text = edit('"cpus": 16,', '"cpus": 16, "cpus": 8,');
  const errs = parseModelFile(text).errors;
  assert.ok(errs.some((x) => x.message.startsWith('duplicate key "cpus"')), formatModelFileErrors('m', errs));

  e = only(parseModelFile(edit('"atMs": 60000', '"atMs": -5')).errors);
  assert.equal(e.message, 'actions[0].atMs: must be >= 0; found -5');
});

test('syntax errors are positioned; comments and trailing commas are not JSON', () => {
  let text = edit('"cpus": 16,', '"cpus": 16');
  let r = parseModelFile(text, 'box.klpmodel.json');
  assert.equal(r.model, undefined);
  let e = r.errors[0];
  assert.match(e.message, /^expected a comma/);
  assert.deepEqual({ line: e.line, column: e.column }, where(text, '"offlineCpus"'));
  assert.equal(formatModelFileErrors('box.klpmodel.json', [e]).split(':').slice(0, 4).join(':'), `box.klpmodel.json:${e.line}:${e.column}: error`);

  text = edit('"timing": { "retryMs": 1000, "signalsEvery": 15 }', '"timing": { "retryMs": 1000, "signalsEvery": 15, }');
  e = only(parseModelFile(text).errors);
  assert.match(e.message, /^trailing comma before "}"/);
  assert.deepEqual({ line: e.line, column: e.column }, where(text, ', }'));

  text = edit('"cpus": 16,', '"cpus": 16, // sixteen');
  e = parseModelFile(text).errors[0];
  assert.match(e.message, /comments are not allowed/);
  assert.deepEqual({ line: e.line, column: e.column }, where(text, '// sixteen'));

  e = parseModelFile('{ "name": "x", ').errors[0];
  assert.ok(e.line === 1 && e.column >= 1);
});

test('CRLF line endings give the same lines and columns', () => {
  const lf = edit('{ "sleep": ["kthread", "worker_thread"]', '{ "sleeep": ["kthread", "worker_thread"]');
  const crlf = lf.replace(/\n/g, '\r\n');
  const a = only(parseModelFile(lf).errors);
  const b = only(parseModelFile(crlf).errors);
  assert.deepEqual([b.line, b.column, b.message], [a.line, a.column, a.message]);
  assert.equal(crlf.slice(b.offset, b.offset + b.length), '"sleeep"');
  // Syntax errors too.
  const s = only(parseModelFile(edit('"cpus": 16,', '"cpus": 16 16,').replace(/\n/g, '\r\n')).errors);
  assert.equal(s.line, where(STORAGE_BOX, '"cpus": 16').line);
  assert.deepEqual(parseModelFile(STORAGE_BOX.replace(/\n/g, '\r\n')).errors, []);
});

test('a UTF-8 BOM is skipped: columns do not count it, offsets index the text given', () => {
  assert.deepEqual(parseModelFile('\uFEFF' + STORAGE_BOX).errors, []);
  const text = '\uFEFF{"name": "x", "kernel": "9.9", "extends": "storage-box"}';
  const e = only(parseModelFile(text).errors);
  assert.equal(e.line, 1);
  assert.equal(e.column, text.indexOf('"9.9"'));
  assert.equal(text.slice(e.offset, e.offset + e.length), '"9.9"');
});

test('binary garbage, empty files, a top-level array and huge files give one positioned error', () => {
  let s = 0x2545f491;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const bytes = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(rand() * 256)));
  for (const text of [bytes.toString('latin1'), bytes.toString('utf8'), 'PK\u0003\u0004\u0000\u0000garbage', '\u0000']) {
    const r = parseModelFile(text, 'junk.klpmodel.json');
    const e = only(r.errors);
    assert.equal(r.model, undefined);
    assert.ok(e.line >= 1 && e.column >= 1 && e.offset <= text.length);
  }
  assert.match(only(parseModelFile('\u0000\u0001\u0002', 'x.bin').errors).message, /x\.bin is not a text file/);

  for (const text of ['', '   \n\r\n', '\uFEFF']) {
    const e = only(parseModelFile(text, 'empty.klpmodel.json').errors);
    assert.equal(e.message, 'empty.klpmodel.json is empty; a model file holds one JSON object');
    assert.deepEqual([e.line, e.column], [1, 1]);
  }

  let e = only(parseModelFile('[{"name": "x"}]').errors);
  assert.equal(e.message, 'a model file holds one JSON object; found an array');
  e = only(parseModelFile('\n\n  "model"').errors);
  assert.deepEqual([e.line, e.column, e.message], [3, 3, 'a model file holds one JSON object; found a string']);

  const huge = `{"name": "${'x'.repeat(4 * 1024 * 1024)}"}`;
  e = only(parseModelFile(huge, 'huge.klpmodel.json').errors);
  assert.match(e.message, /^huge\.klpmodel\.json is too large \(4\.0 MB\); a model file may be at most 4 MB$/);
});

test('absurd nesting and thousands of bad steps are refused or capped quickly', () => {
  const deep = `{"name": ${'['.repeat(100000)}${']'.repeat(100000)}}`;
  const e = only(parseModelFile(deep).errors);
  assert.match(e.message, /^nested too deeply/);
  assert.equal(e.line, 1);

  // ajv with allErrors is quadratic in the error count across $ref calls; the checking goes in pieces and stops early.
  const steps = Array.from({ length: 100000 }, () => '{"x": 1}').join(',');
  const text = `{"name": "x", "kernel": "6.1", "arch": {"name": "a", "reliableStacktrace": true, "unwinder": "fp"}, "cpus": 1,
  "tasks": [{"name": "t", "kind": "user", "program": [${steps}]}]}`;
  const t0 = Date.now();
  const errors = parseModelFile(text).errors;
  assert.ok(Date.now() - t0 < 15000, `${Date.now() - t0} ms`);
  assert.equal(errors.length, 100);
  assert.equal(errors[0].message, 'tasks[0].program[0]: unknown key "x"; expected one of user, kernel, sleep, fork, exit');
  assert.equal(errors[99].message, 'too many errors; the rest are not shown');
});

test('seeded mutations of a model never throw and keep errors inside the text', () => {
  let s = 7;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (let k = 0; k < 300; k++) {
    const chars = [...STORAGE_BOX];
    for (let m = 0; m < 1 + Math.floor(rand() * 4); m++) {
      const at = Math.floor(rand() * chars.length);
      switch (Math.floor(rand() * 4)) {
        case 0:
          chars.splice(at, 1 + Math.floor(rand() * 10));
          break;
        case 1:
          chars.splice(at, 0, '{}[],:"1-x\r\n'[Math.floor(rand() * 12)]);
          break;
        case 2:
          chars.splice(at, 1, String.fromCharCode(Math.floor(rand() * 128)));
          break;
        default:
          chars.length = at;
      }
    }
    const text = chars.join('');
    const r = parseModelFile(text);
    assert.ok(r.model !== undefined || r.errors.length > 0);
    for (const e of r.errors) {
      assert.ok(e.line >= 1 && e.column >= 1 && e.offset >= 0 && e.offset + e.length <= text.length, JSON.stringify(e));
      assert.ok(!e.message.includes('internal error'), e.message);
    }
  }
});

test('extends: a base profile makes kernel, arch, cpus, tasks and patch optional', () => {
  assert.deepEqual(parseModelFile('{"name": "my-box", "extends": "storage-box"}').errors, []);
  const { model, errors } = parseModelFile('{"name": "slow-signals", "extends": "web-server-64", "kernel": "5.1", "timing": {"signalsEvery": 30}, "seed": 7}');
  assert.deepEqual(errors, []);
  assert.equal(model?.extends, 'web-server-64');

  const e = only(parseModelFile('{"name": "x", "extends": "big-box"}').errors);
  assert.match(e.message, /^extends: unknown value "big-box"; expected one of "idle-server", "web-server-64", "storage-box", "no-reliable-stacktrace"$/);

  const missing = parseModelFile('{"name": "x", "kernel": "6.1", "arch": {"name": "x86_64", "reliableStacktrace": true, "unwinder": "orc"}, "cpus": 4}').errors;
  assert.deepEqual(
    missing.map((x) => x.message),
    ['missing required property "tasks" (required unless "extends" names a base profile)'],
  );
  // Without extends a patch is optional (it comes from the patch being simulated).
  assert.deepEqual(parseModelFile('{"name": "x", "kernel": "6.1", "arch": {"name": "x86_64", "reliableStacktrace": true, "unwinder": "orc"}, "cpus": 4, "tasks": []}').errors, []);
});

test('formatModelFileErrors prints file:line:col: error: message', () => {
  const errors: ModelFileError[] = [
    { line: 4, column: 12, offset: 40, length: 1, message: 'expected a comma' },
    { line: 9, column: 3, offset: 90, length: 5, message: 'tasks[0].cpu: CPU 16 does not exist' },
  ];
  assert.equal(formatModelFileErrors('a.klpmodel.json', errors), 'a.klpmodel.json:4:12: error: expected a comma\na.klpmodel.json:9:3: error: tasks[0].cpu: CPU 16 does not exist');
});

test('the schema compiles in strict ajv and every property has a description', () => {
  const warnings: string[] = [];
  const ajv = new Ajv({ allErrors: true, strictSchema: true, strictTypes: true, strictTuples: true, logger: { log() {}, warn: (m: unknown) => warnings.push(String(m)), error: (m: unknown) => warnings.push(String(m)) } });
  ajv.addVocabulary(['markdownDescription', 'defaultSnippets', 'markdownEnumDescriptions', 'enumDescriptions']);
  const validate = ajv.compile(MODEL_FILE_SCHEMA);
  assert.deepEqual(warnings, []);
  assert.equal(validate(JSON.parse(STORAGE_BOX)), true, JSON.stringify(validate.errors));

  const schema = MODEL_FILE_SCHEMA as Record<string, unknown>;
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  const missing: string[] = [];
  let count = 0;
  const walk = (node: unknown, at: string) => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}/${i}`));
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (o.properties && typeof o.properties === 'object') {
      for (const [k, v] of Object.entries(o.properties as Record<string, Record<string, unknown>>)) {
        count++;
        if (typeof v.description !== 'string' || !v.description || typeof v.markdownDescription !== 'string') missing.push(`${at}/properties/${k}`);
      }
    }
    for (const [k, v] of Object.entries(o)) if (k !== 'defaultSnippets') walk(v, `${at}/${k}`);
  };
  walk(schema, '#');
  for (const [name, def] of Object.entries(schema.definitions as Record<string, Record<string, unknown>>)) {
    if (typeof def.description !== 'string') missing.push(`#/definitions/${name}`);
  }
  assert.ok(count > 60, `walked ${count} properties`);
  // `extends` offers exactly the simulator's built-in profiles.
  assert.deepEqual((schema.properties as Record<string, { enum: string[] }>).extends.enum, [...PROFILE_NAMES]);
  assert.deepEqual(missing, []);

  // Snippets exist for a whole file, a task and a step, and each is valid where it goes (placeholders aside).
  const defs = schema.definitions as Record<string, { defaultSnippets?: unknown[] }>;
  assert.ok((schema.defaultSnippets as unknown[]).length >= 1);
  assert.ok((defs.TaskSpec.defaultSnippets ?? []).length >= 1);
  assert.ok((defs.Segment.defaultSnippets ?? []).length >= 1);
});

test('package.json validates *.klpmodel.json with the shipped schema', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const entry = (pkg.contributes.jsonValidation as { fileMatch: string; url: string }[]).find((v) => v.fileMatch === '*.klpmodel.json');
  assert.ok(entry, 'jsonValidation entry for *.klpmodel.json');
  const file = join(ROOT, entry.url);
  assert.ok(existsSync(file), `${file} exists`);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), MODEL_FILE_SCHEMA);
  // The .vsix ships it: .vscodeignore excludes everything but what it re-includes.
  const ignore = readFileSync(join(ROOT, '.vscodeignore'), 'utf8').split(/\r?\n/);
  assert.ok(ignore.includes('!schemas/**'), '.vscodeignore re-includes schemas/');
});

test('runner: a CPU the model lacks and a task it does not have are errors at the field; a good runner parses', () => {
  const withRunner = (r: string) => STORAGE_BOX.replace(/^\{/, `{\n  "runner": ${r},`);
  assert.deepEqual(parseModelFile(withRunner('{ "cpu": 3 }')).errors, []);
  const cpu = only(parseModelFile(withRunner('{ "cpu": 16 }')).errors);
  assert.match(cpu.message, /^runner\.cpu: CPU 16 does not exist/);
  const task = only(parseModelFile(withRunner('{ "task": "insmod" }')).errors);
  assert.equal(task.message, 'runner.task: no task is named "insmod"');
  assert.equal(only(parseModelFile(withRunner('{ "cpus": 1 }')).errors).message.startsWith('runner'), true);
});
