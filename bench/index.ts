/**
 * The kernel-tree index on a real tree:
 *   node out/bench/index.js [tree] [--workers N] [--config .config]
 *
 * Builds the index of linux-source-6.1 (or the tree given) into a fresh
 * temporary cache directory, then measures a no-change incremental build,
 * a cache-only load and the latency of 1,000 mixed queries.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelTree } from '../server/src/core/tree/kernelTree';
import { TreeIndex, indexCacheFile, type IndexProgress } from '../server/src/core/index/treeIndex';

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

/**
 * Peak resident memory of this process (workers included: they are threads).
 * VmHWM, not getrusage's maxRSS: Linux carries maxRSS over from the parent
 * across fork and exec, so a benchmark started by a big process would report
 * the parent's peak.
 */
function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return +m[1] * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}

void (async () => {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const k = args.indexOf(name);
    return k >= 0 ? args[k + 1] : undefined;
  };
  const workers = opt('--workers') === undefined ? undefined : +opt('--workers')!;
  const configFile = opt('--config');
  const dir =
    args.find((a, k) => !a.startsWith('--') && !args[k - 1]?.startsWith('--')) ?? process.env.KLP_LENS_LINUX_SOURCE ?? '/usr/src/linux-source-6.1';
  const tree = KernelTree.open(dir).tree;
  if (!tree) {
    console.error(`no tree at ${dir}`);
    process.exit(2);
  }
  const cacheDir = mkdtempSync(join(tmpdir(), 'klp-index-bench-'));
  try {
    let last = '';
    const onProgress = (p: IndexProgress) => {
      const line = `${p.phase} ${p.total ? Math.floor((100 * p.done) / p.total) : 100}%`;
      if (line !== last && process.stderr.isTTY) process.stderr.write(`\r${line}   `);
      last = line;
    };
    const t0 = performance.now();
    const full = await TreeIndex.build(tree, { cacheDir, workers, onProgress, configFile });
    const fullMs = performance.now() - t0;
    if (process.stderr.isTTY) process.stderr.write('\r');
    const rssFull = peakRss();
    const mem = process.memoryUsage();
    const s = full.stats();
    console.log(`tree           ${tree.root} (${tree.version?.text ?? 'no version'})`);
    console.log(`full build     ${(fullMs / 1000).toFixed(2)} s  (workers: ${workers ?? 'default'})`);
    console.log(`peak RSS       ${mb(rssFull)}   heap used ${mb(mem.heapUsed)} / total ${mb(mem.heapTotal)}, external ${mb(mem.external)}, array buffers ${mb(mem.arrayBuffers)}`);
    console.log(`cache          ${mb(s.cacheBytes)}  ${indexCacheFile(tree.root, cacheDir)}`);
    console.log(
      `counts         files ${s.files} (skipped ${s.skipped}), exports ${s.exports}, static keys ${s.keys}, static calls ${s.staticCalls}, ` +
        `inline helpers ${s.helpers}, function-like macros ${s.macros}, called API names ${s.calledNames}, call postings ${s.callPostings}, ` +
        `include edges ${s.includeEdges}, kbuild objects ${s.kbuildObjects}, kconfig symbols ${s.kconfigSymbols}`,
    );

    const t1 = performance.now();
    const again = await TreeIndex.build(tree, { cacheDir, workers, configFile });
    const incMs = performance.now() - t1;
    const s2 = again.stats();
    console.log(`no-change build ${(incMs / 1000).toFixed(2)} s  (rescanned ${s2.rescanned}, from cache ${s2.fromCache})`);

    const t2 = performance.now();
    const loaded = TreeIndex.loadCached(tree, cacheDir, { configFile });
    const loadMs = performance.now() - t2;
    console.log(`cache-only load ${(loadMs / 1000).toFixed(2)} s  (${loaded ? 'ok' : 'FAILED'})`);
    const index = loaded ?? again;

    // 1,000 mixed queries over names and files that exist
    const names = ['kmalloc', 'mutex_lock', 'spin_lock', 'schedule', 'printk', 'copy_from_user', 'list_add', 'READ_ONCE', 'rcu_read_lock', 'kfree'];
    const keys = ['sched_schedstats', 'memcg_kmem_enabled_key', 'cpusets_enabled_key', 'tcp_have_smc', 'preempt_notifier_key'];
    const files = ['kernel/sched/core.c', 'mm/slub.c', 'fs/ext4/inode.c', 'drivers/net/ethernet/intel/e1000e/netdev.c', 'net/ipv4/tcp.c', 'drivers/gpu/drm/i915/i915_drv.h'];
    const headers = ['include/linux/sched.h', 'include/linux/jump_label.h', 'include/linux/slab.h', 'include/net/tcp.h'];
    const ops: [string, () => unknown][] = [];
    for (let k = 0; k < 1000; k++) {
      const n = names[k % names.length];
      const f = files[k % files.length];
      switch (k % 10) {
        case 0: ops.push(['exportOf', () => index.exportOf(n)]); break;
        case 1: ops.push(['staticKey', () => index.staticKey(keys[k % keys.length])]); break;
        case 2: ops.push(['inlineHelper', () => index.inlineHelper(n)]); break;
        case 3: ops.push(['isFunctionMacro', () => index.isFunctionMacro(n)]); break;
        case 4: ops.push(['callersOf', () => index.callersOf(n)]); break;
        case 5: ops.push(['objectKind', () => index.objectKind(f)]); break;
        case 6: ops.push(['moduleName', () => index.moduleName(f)]); break;
        case 7: ops.push(['kconfigType', () => index.kconfigType('EXT4_FS')]); break;
        case 8: ops.push(['includersOf', () => index.includersOf(headers[k % headers.length])]); break;
        default: ops.push(['staticCall', () => index.staticCall('preempt_schedule')]); break;
      }
    }
    const times: number[] = [];
    const byKind = new Map<string, number[]>();
    let sink = 0;
    for (const [kind, op] of ops) {
      const q0 = performance.now();
      const r = op();
      const dt = performance.now() - q0;
      times.push(dt);
      if (!byKind.has(kind)) byKind.set(kind, []);
      byKind.get(kind)!.push(dt);
      if (r) sink++;
    }
    times.sort((a, b) => a - b);
    const total = times.reduce((a, b) => a + b, 0);
    const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
    console.log(`1,000 queries  total ${total.toFixed(2)} ms, mean ${us(total / 1000)}, median ${us(times[500])}, p99 ${us(times[990])}, max ${us(times[999])} (${sink} non-empty)`);
    for (const [kind, t] of byKind) {
      const first = t[0];
      const rest = t.slice(1).sort((a, b) => a - b);
      console.log(`  ${kind.padEnd(16)} first ${us(first).padStart(10)}, then median ${us(rest[rest.length >> 1]).padStart(8)}, max ${us(rest[rest.length - 1]).padStart(9)}`);
    }
    const tt = performance.now();
    const trans = index.includersOf('include/linux/jump_label.h', true);
    console.log(`transitive     includersOf(include/linux/jump_label.h) → ${trans.length} .c files in ${(performance.now() - tt).toFixed(1)} ms (first call; memoised after)`);
    for (const h of ['include/linux/list.h', 'include/linux/cpuset.h', 'include/net/tcp.h']) {
      const t3 = performance.now();
      const n = index.includersOf(h, true).length;
      console.log(`               includersOf(${h}, true) → ${n} .c files in ${(performance.now() - t3).toFixed(1)} ms`);
    }

    // samples
    const show = (label: string, v: unknown) => console.log(`  ${label.padEnd(44)} ${JSON.stringify(v)}`);
    show("exportOf('kmalloc_trace')", index.exportOf('kmalloc_trace'));
    show("exportOf('usb_stor_suspend')", index.exportOf('usb_stor_suspend'));
    show("staticKey('sched_schedstats')", index.staticKey('sched_schedstats'));
    show("staticCall('preempt_schedule')", index.staticCall('preempt_schedule'));
    show("inlineHelper('cpusets_enabled')", index.inlineHelper('cpusets_enabled'));
    show("isFunctionMacro('schedstat_enabled')", index.isFunctionMacro('schedstat_enabled'));
    show("isFunctionMacro('READ_ONCE')", index.isFunctionMacro('READ_ONCE'));
    show("callersOf('schedstat_enabled').length", index.callersOf('schedstat_enabled').length);
    show("callersOf('kmalloc').length", index.callersOf('kmalloc').length);
    show("includersOf('include/linux/jump_label.h').length", index.includersOf('include/linux/jump_label.h').length);
    show("objectKind('kernel/sched/core.c')", index.objectKind('kernel/sched/core.c'));
    show("objectKind('fs/ext4/inode.c')", [index.objectKind('fs/ext4/inode.c'), index.moduleName('fs/ext4/inode.c')]);
    show("objectKind('drivers/net/ethernet/intel/e1000e/netdev.c')", [index.objectKind('drivers/net/ethernet/intel/e1000e/netdev.c'), index.moduleName('drivers/net/ethernet/intel/e1000e/netdev.c')]);
    show("kconfigType('EXT4_FS'), kconfigType('SMP')", [index.kconfigType('EXT4_FS'), index.kconfigType('SMP')]);
    const rssEnd = peakRss();
    console.log(`peak RSS (end) ${mb(rssEnd)}`);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
})();
