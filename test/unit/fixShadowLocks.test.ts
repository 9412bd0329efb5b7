/**
 * The one-global-lock conversion from the hunks alone, in the shapes real
 * fixes have: a lock retyped (CVE-2025-38104 turns struct amdgpu_virt's
 * `struct mutex rlcg_reg_lock` into a spinlock_t), and a lock whose only use
 * in one file is its initialisation (CVE-2026-31446 adds a mutex to struct
 * ext4_sb_info, initialised in super.c and taken in sysfs.c).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzePatch } from '../../server/src/core/analysis';
import { fixPatch } from '../../server/src/core/fixes/driver';
import { gitApplyCheckOn, gitStyleDiff } from '../helpers';

const C = (...l: string[]) => l.join('\n') + '\n';
/** A function body long enough that a hunk deep inside it shows neither its head nor the file's includes. */
const filler = (n: number) => Array.from({ length: n }, (_, i) => `\tval = readl(base + ${4 * i});`);

const HEADER = C('struct dev_virt {', '\tvoid\t\t*regs;', '\tstruct mutex\treg_lock;', '\tu32\t\tflags;', '};', '', 'struct dev {', '\tstruct dev_virt\tvirt;', '};');
const INIT = C('#include <linux/dev.h>', '', ...Array.from({ length: 12 }, (_, i) => `/* filler ${i} */`), 'int dev_init(struct dev *d)', '{', ...filler(8).map((l) => l.replace('val =', 'd->virt.flags |=')), '\tmutex_init(&d->virt.reg_lock);', '\treturn 0;', '}');
const RW = C(
  '#include <linux/dev.h>',
  '',
  ...Array.from({ length: 12 }, (_, i) => `/* filler ${i} */`),
  'u32 dev_reg_rw(struct dev *d, void __iomem *base)',
  '{',
  '\tu32 val;',
  '\tvoid *spare;',
  '',
  ...filler(8),
  '\tmutex_lock(&d->virt.reg_lock);',
  ...filler(8),
  '\tval = readl(base);',
  ...filler(8),
  '\tmutex_unlock(&d->virt.reg_lock);',
  '\treturn val;',
  '}',
);

test('shadow-field, retyped lock: the old mutex stays (with its mutex_init), one global spinlock takes its place, a static inside the only function that takes it', async () => {
  const header2 = HEADER.replace('\tstruct mutex\treg_lock;', '\t/* Spinlock: the register path runs in atomic context */\n\tspinlock_t\treg_lock;');
  const init2 = INIT.replace('\tmutex_init(&d->virt.reg_lock);', '\tspin_lock_init(&d->virt.reg_lock);');
  const rw2 = RW.replace('\tvoid *spare;\n', '\tvoid *spare;\n\tunsigned long irqflags;\n')
    .replace('\tmutex_lock(&d->virt.reg_lock);', '\tspin_lock_irqsave(&d->virt.reg_lock, irqflags);')
    .replace('\tmutex_unlock(&d->virt.reg_lock);', '\tspin_unlock_irqrestore(&d->virt.reg_lock, irqflags);');
  const files = { 'include/linux/dev.h': HEADER, 'drivers/dev/init.c': INIT, 'drivers/dev/rw.c': RW };
  const patch = gitStyleDiff('include/linux/dev.h', HEADER, header2) + gitStyleDiff('drivers/dev/init.c', INIT, init2) + gitStyleDiff('drivers/dev/rw.c', RW, rw2);
  const run = await fixPatch(patch, new Set(['KLP101']));
  assert.deepEqual(run.applied.map((a) => a.fix), ['shadow-field'], run.refused.map((r) => r.reason).join('\n'));
  assert.match(run.applied[0].title, /keep reg_lock as it was \(struct mutex\) and take one global spinlock_t in its place/);
  assert.equal(gitApplyCheckOn(files, run.text), '', run.text);
  const t = run.text;
  assert.doesNotMatch(t, /dev\.h/, 'the struct keeps its layout');
  assert.doesNotMatch(t, /init\.c/, 'dev_init() keeps its mutex_init()');
  assert.match(t, /\+\tunsigned long irqflags;\n\+\t\/\* Livepatch: one global lock stands for the new lock of struct dev_virt::reg_lock, .*\*\/\n\+\tstatic DEFINE_SPINLOCK\(klp_dev_virt_reg_lock_lock\);/);
  assert.match(t, /\+\tspin_lock_irqsave\(&klp_dev_virt_reg_lock_lock, irqflags\);/);
  assert.match(t, /\+\tspin_unlock_irqrestore\(&klp_dev_virt_reg_lock_lock, irqflags\);/);
  assert.ok(run.applied[0].notes.some((n) => /every use of the lock is in dev_reg_rw\(\), so the lock is a static at the top of dev_reg_rw\(\)/.test(n)));
  const after = await analyzePatch(t, {});
  after.dispose();
  assert.deepEqual(after.findings.filter((f) => f.code === 'KLP101').map((f) => f.message.slice(0, 80)), []);
});

test('shadow-field, added lock taken in two functions of a file whose scope is out of view: refused with the reason (a static per function would be two locks)', async () => {
  const header2 = HEADER.replace('\tu32\t\tflags;', '\tu32\t\tflags;\n\tspinlock_t\tstat_lock;');
  const rw2 = RW.replace('\tval = readl(base);', '\tspin_lock(&d->virt.stat_lock);\n\tval = readl(base);\n\tspin_unlock(&d->virt.stat_lock);');
  const more = RW.replace('dev_reg_rw', 'dev_reg_peek');
  const more2 = rw2.replace('dev_reg_rw', 'dev_reg_peek');
  const patch = gitStyleDiff('include/linux/dev.h', HEADER, header2) + gitStyleDiff('drivers/dev/rw.c', RW + more, rw2 + more2);
  const run = await fixPatch(patch, new Set(['KLP101']));
  assert.deepEqual(run.applied, []);
  assert.match(run.refused.map((r) => r.reason).join('\n'), /no place at file scope of drivers\/dev\/rw\.c is in the patch/);
});
