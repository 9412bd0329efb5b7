/**
 * Functions forced into a shared text section (H09): __sched, __lockfunc,
 * noinstr, __kprobes, __cpuidle, __irq_entry, __softirq_entry, __section(...).
 * kpatch-build and klp-build work per function section; these functions share
 * one, so a change cannot be isolated ("changed section .sched.text not selected
 * for inclusion").
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { cFiles, changedCode } from './util';

const SHARED: Record<string, string> = {
  __sched: '.sched.text',
  __lockfunc: '.spinlock.text',
  noinstr: '.noinstr.text',
  __kprobes: '.kprobes.text',
  __cpuidle: '.cpuidle.text',
  __irq_entry: '.irqentry.text',
  __softirq_entry: '.softirqentry.text',
  __head: '.head.text',
  __entry_text: '.entry.text',
  __section: 'a named section',
};

export const sharedSectionRule: Rule = {
  id: 'shared-section',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      for (const e of changedCode(f)) {
        const ann = [...new Set([...(e.old?.annotations ?? []), ...(e.new?.annotations ?? [])])].filter((a) => a in SHARED);
        if (ann.length === 0) continue;
        const sec = SHARED[ann[0]];
        const unpatchable = ann.some((a) => a === 'noinstr' || a === '__entry_text' || a === '__cpuidle');
        out.push(
          finding(
            'KLP170',
            unpatchable
              ? `${e.name}() is ${ann.join(' ')} code (${sec}): entry, idle and non-instrumentable code cannot be livepatched at all. Fix the callers, or ship this fix with a reboot.`
              : `${e.name}() is placed in ${sec} by ${ann.join(' ')}: kpatch-build cannot isolate one function of a shared section ("changed section ${sec} not selected for inclusion"). Drop ${ann[0]} from the patched copy and add KPATCH_IGNORE_SECTION("${sec}"), after review, or patch the callers instead.`,
            e.range,
            { file: f.path, data: { entity: e.key, section: sec, annotations: ann } },
          ),
        );
      }
    }
    return out;
  },
};
