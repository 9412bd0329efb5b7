/**
 * shadow-field on a member added to a declaration of several (bitfields, the
 * kernel's usual way of packing flags, as in CVE-2025-71144's
 * `rcvspace_init:1, fastclosing:1;` in struct mptcp_sock): the declaration
 * goes back to what it was, the new member lives in a shadow variable, and
 * the fixed patch applies to the same files with the KLP101 gone. Members the
 * patch packs into bitfields keep their old declarations (keep-old-declaration).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzePatch, targetOf } from '../../server/src/core/analysis';
import { applyFix, fixesFor } from '../../server/src/core/fixes';
import { fixPatch } from '../../server/src/core/fixes/driver';
import { gitApplyCheckOn, gitStyleDiff } from '../helpers';

const C = (...l: string[]) => l.join('\n') + '\n';

/** struct gadget with `pad` plain members between the flags' type line and the flags. */
function header(pad: number, flags: string[]): string {
  const members = Array.from({ length: pad }, (_, i) => `\tint\t\tspare${i};`);
  return C('#ifndef _GADGET_H', '#define _GADGET_H', '', 'struct gadget {', '\tspinlock_t\tlock;', '\tu8\t\tready:1,', ...members.map((m) => m.replace('\tint\t\t', '\t\t\t').replace(';', ':1,')), ...flags.map((f, i) => `\t\t\t${f}:1${i === flags.length - 1 ? ';' : ','}`), '\tint\t\tusers;', '\tint\t\tlimit;', '\tint\t\tdepth;', '};', '', '#endif');
}

const SOURCE = C(
  '// SPDX-License-Identifier: GPL-2.0',
  '#include <linux/gadget.h>',
  '',
  'void gadget_stop(struct gadget *g)',
  '{',
  '\tg->ready = 0;',
  '\tg->users = 0;',
  '}',
  '',
  'bool gadget_busy(struct gadget *g)',
  '{',
  '\treturn g->users > g->limit;',
  '}',
);
const SOURCE2 = SOURCE.replace('\tg->ready = 0;\n', '\tg->ready = 0;\n\tg->stopping = 1;\n').replace('\treturn g->users > g->limit;', '\treturn !g->stopping && g->users > g->limit;');

async function fixed(pad: number) {
  const before = header(pad, ['queued', 'armed']);
  const after = header(pad, ['queued', 'armed', 'stopping']);
  const patch = gitStyleDiff('include/linux/gadget.h', before, after) + gitStyleDiff('drivers/misc/gadget.c', SOURCE, SOURCE2);
  const a = await analyzePatch(patch, { keepSyntax: true });
  try {
    const ctx = { text: patch, analysis: a, target: targetOf({}) };
    const f = a.findings.find((x) => x.code === 'KLP101' && /stopping/.test(x.message));
    assert.ok(f, a.findings.map((x) => `${x.code} ${x.message.slice(0, 80)}`).join('\n'));
    const offer = fixesFor(ctx, f).find((o) => o.fix.id === 'shadow-field');
    assert.ok(offer, `no shadow-field offer: ${fixesFor(ctx, f).map((o) => o.fix.id).join()}`);
    const r = applyFix(ctx, offer.fix, f);
    assert.equal(gitApplyCheckOn({ 'include/linux/gadget.h': before, 'drivers/misc/gadget.c': SOURCE }, r.text), '', r.text);
    const b = await analyzePatch(r.text, {});
    b.dispose();
    return { r, after: b.findings };
  } finally {
    a.dispose();
  }
}

test('shadow-field: a bitfield added to a declaration of several goes to a shadow, and the declaration is restored', async () => {
  const { r, after } = await fixed(0);
  // the header is unchanged now: no hunk of it is left
  assert.doesNotMatch(r.text, /gadget\.h/);
  // the declared type (u8) is in the hunk: the shadow holds a u8
  assert.match(r.text, /\+\treturn klp_shadow_get_or_alloc\(obj, KLP_SHADOW_GADGET_STOPPING, sizeof\(u8\),/);
  assert.match(r.text, /\+\t\tu8 \*klp_stopping = klp_gadget_stopping\(g, GFP_ATOMIC\);\n\+\n\+\t\tif \(klp_stopping\)\n\+\t\t\t\(\*klp_stopping\) = 1;/);
  assert.match(r.text, /\+\treturn !klp_gadget_stopping_read\(g\) && g->users > g->limit;/);
  assert.deepEqual(after.filter((x) => x.code === 'KLP101').map((x) => x.message.slice(0, 80)), []);
  assert.ok(!r.notes.some((n) => /before the hunk/.test(n)), r.notes.join('\n'));
});

test('shadow-field: when the declaration starts before the hunk, the bitfield is held as unsigned int and the note says so', async () => {
  const { r, after } = await fixed(6);
  assert.doesNotMatch(r.text, /gadget\.h/);
  assert.match(r.text, /sizeof\(unsigned int\)/);
  assert.ok(r.notes.some((n) => /The type of stopping's declaration is before the hunk: the shadow holds the bitfield as unsigned int/.test(n)), r.notes.join('\n'));
  assert.deepEqual(after.filter((x) => x.code === 'KLP101').map((x) => x.message.slice(0, 80)), []);
});

/** A header that declares struct relay's flags as `old` before and `now` after, and a user of them. */
async function relay(old: string[], now: string[], use: string) {
  const H = (flags: string[]) => C('struct relay {', '\tstruct sock\t*sk;', ...flags, '\tunsigned int\tlen;', '};');
  const src = C('#include <linux/relay.h>', '', 'int relay_send(struct relay *r)', '{', '\tif (r->more)', '\t\treturn -EAGAIN;', '\treturn r->len;', '}');
  const src2 = src.replace('\tif (r->more)\n', use);
  const patch = gitStyleDiff('include/linux/relay.h', H(old), H(now)) + gitStyleDiff('net/relay.c', src, src2);
  const run = await fixPatch(patch, new Set(['KLP101']));
  assert.equal(gitApplyCheckOn({ 'include/linux/relay.h': H(old), 'net/relay.c': src }, run.text), '', run.text);
  return run;
}

test('keep-old-declaration: members packed into bitfields beside a new flag keep their old bools, the flag goes to a shadow (CVE-2025-39964 shape)', async () => {
  const run = await relay(['\tbool\t\tmore;', '\tbool\t\tmerge;'], ['\tu32\t\tmore:1,', '\t\t\tmerge:1,', '\t\t\twrite:1;'], '\tif (r->write)\n\t\treturn -EBUSY;\n\tr->write = true;\n\tif (r->more)\n');
  assert.deepEqual(run.applied.map((a) => a.fix), ['shadow-field', 'keep-old-declaration']);
  assert.match(run.applied[1].title, /restore the old declaration of more \(bool\); it holds every value of the 1-bit bitfield/);
  // the header keeps its layout: no hunk of it is left
  assert.doesNotMatch(run.text, /relay\.h/);
  assert.deepEqual(run.remaining.map((f) => f.message.slice(0, 60)), []);
});

test('keep-old-declaration: unpacking a bitfield (a data-race fix) is not offered; a bitfield wider than the old type is refused', async () => {
  const unpack = await relay(['\tbool\t\tmore:1;', '\tbool\t\tmerge:1;'], ['\tbool\t\tmore;', '\tbool\t\tmerge;'], '\tif (READ_ONCE(r->more))\n');
  assert.ok(!unpack.applied.some((a) => a.fix === 'keep-old-declaration') && !unpack.refused.some((r) => r.fix === 'keep-old-declaration'));
  assert.match(unpack.text, /^-\tbool\t\tmore:1;\n-\tbool\t\tmerge:1;\n\+\tbool\t\tmore;/m, 'the header change stays');
  const wide = await relay(['\tu8\t\tmore;'], ['\tu32\t\tmore:9;'], '\tif (READ_ONCE(r->more))\n');
  assert.match(wide.refused.find((r) => r.fix === 'keep-old-declaration')!.reason, /more:9 holds more than u8 did/);
});
