/**
 * Preloaded into bench nodes only (`node --expose-gc --require bench/lib/gc-probe.cjs`): on
 * SIGUSR2 the node collects garbage and writes its memory usage to BENCH_MEMORY_FILE, so the
 * bench can read live memory exactly, not heap plus whatever garbage is waiting.
 */
const fs = require("fs");

process.on("SIGUSR2", () => {
  const file = process.env.BENCH_MEMORY_FILE;
  if (!file || typeof globalThis.gc !== "function") return;
  for (let i = 0; i < 3; i++) globalThis.gc();
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(process.memoryUsage()));
  fs.renameSync(`${file}.tmp`, file);
});
