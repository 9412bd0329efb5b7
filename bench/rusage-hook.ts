/**
 * Preloaded with `node --require out/bench/rusage-hook.js out/cli.js …` by the
 * bad-input runs (test/badinputs/run.ts): on exit the process writes its own
 * peak resident memory and lifetime to stderr, on a line of its own.
 */
process.on('exit', () => {
  const r = process.resourceUsage();
  process.stderr.write(`\nKLP_RUSAGE ${JSON.stringify({ maxRssKiB: r.maxRSS, ms: performance.now() })}\n`);
});
