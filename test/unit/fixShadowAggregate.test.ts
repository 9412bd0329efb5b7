/**
 * shadow-field on a plain struct added as a field (CVE-2025-71160 adds
 * `struct nft_chain_validate_state vstate;` to struct nft_chain and reads
 * `chain->vstate.depth`, `chain->vstate.hook_mask[type]`): the shadow holds a
 * zeroed copy, reads of its members go through a peek helper that shows a
 * zeroed stand-in for objects without one, writes through klp_shadow_get_or_alloc,
 * and sizeof(x->f) becomes sizeof(T). A work item or a timer is refused: a
 * zeroed copy away from its owner would not work.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzePatch } from '../../server/src/core/analysis';
import { fixPatch } from '../../server/src/core/fixes/driver';
import { gitApplyCheckOn, gitStyleDiff } from '../helpers';

const C = (...l: string[]) => l.join('\n') + '\n';
const HEADER = C('struct port_stats {', '\tu64\t\tdrops;', '\tu32\t\thist[4];', '};', '', 'struct port {', '\tspinlock_t\tlock;', '\tunsigned int\tmtu;', '};');
const SOURCE = C(
  '#include <linux/port.h>',
  '',
  'void port_drop(struct port *p, unsigned int len)',
  '{',
  '\tspin_lock(&p->lock);',
  '\tif (len > p->mtu)',
  '\t\tlen = p->mtu;',
  '\tspin_unlock(&p->lock);',
  '}',
  '',
  'u64 port_drops(const struct port *p)',
  '{',
  '\treturn 0;',
  '}',
  '',
  'void port_reset(struct port *p)',
  '{',
  '\tp->mtu = 1500;',
  '}',
);

async function fixed(member: string, source: string) {
  const header = HEADER.replace('\tunsigned int\tmtu;\n', `\tunsigned int\tmtu;\n${member}\n`);
  const patch = gitStyleDiff('include/linux/port.h', HEADER, header) + gitStyleDiff('drivers/net/port.c', SOURCE, source);
  const run = await fixPatch(patch, new Set(['KLP101']));
  assert.equal(gitApplyCheckOn({ 'include/linux/port.h': HEADER, 'drivers/net/port.c': SOURCE }, run.text), '', run.text);
  return run;
}

test('shadow-field: a plain struct field is a zeroed shadow; member reads peek, member writes allocate, sizeof names the type', async () => {
  const source = SOURCE.replace('\tspin_unlock(&p->lock);\n}', '\tp->stats.drops++;\n\tp->stats.hist[len & 3] += 1;\n\tspin_unlock(&p->lock);\n}')
    .replace('\treturn 0;', '\treturn p->stats.drops + p->stats.hist[0];')
    .replace('\tp->mtu = 1500;', '\tp->mtu = 1500;\n\tmemset(&p->stats, 0, sizeof(p->stats));');
  const run = await fixed('\tstruct port_stats\tstats;', source);
  assert.deepEqual(run.applied.map((a) => a.fix), ['shadow-field']);
  const t = run.text;
  assert.doesNotMatch(t, /port\.h/, 'the struct keeps its layout');
  assert.doesNotMatch(t, /p->stats/, 'every use is rewritten');
  assert.match(t, /\+static const struct port_stats \*klp_port_stats_peek\(const struct port \*obj\)/);
  assert.match(t, /\+\treturn \(\*klp_port_stats_peek\(p\)\)\.drops \+ \(\*klp_port_stats_peek\(p\)\)\.hist\[0\];/);
  // under the spinlock: GFP_ATOMIC; a member write is guarded by the allocation
  assert.match(t, /\+\t\tstruct port_stats \*klp_stats = klp_port_stats\(p, GFP_ATOMIC\);\n\+\n\+\t\tif \(klp_stats\)\n\+\t\t\t\(\*klp_stats\)\.drops\+\+;/);
  assert.match(t, /\+\t\t\t\(\*klp_stats\)\.hist\[len & 3\] \+= 1;/);
  assert.match(t, /\+\t\t\tmemset\(klp_stats, 0, sizeof\(struct port_stats\)\);/);
  assert.ok(run.applied[0].notes.some((n) => /starts zeroed .* give klp_port_stats\(\) a constructor/.test(n)), run.applied[0].notes.join('\n'));
  const after = await analyzePatch(run.text, {});
  after.dispose();
  assert.deepEqual(after.findings.filter((f) => f.code === 'KLP101').map((f) => f.message.slice(0, 80)), []);
});

test('shadow-field: a delayed work item added as a field is refused with the reason', async () => {
  const source = SOURCE.replace('\tp->mtu = 1500;', '\tp->mtu = 1500;\n\tcancel_delayed_work_sync(&p->retry);');
  const run = await fixed('\tstruct delayed_work\tretry;', source);
  assert.deepEqual(run.applied, []);
  assert.match(run.refused.map((r) => r.reason).join('\n'), /retry \(struct delayed_work\) needs its initialiser and its owner \(a zeroed shadow copy would not work\); convert it by hand/);
});
