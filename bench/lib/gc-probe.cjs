/**
 * Preloaded into bench nodes only (`node --expose-gc --require bench/lib/gc-probe.cjs`):
 * - on SIGUSR2 the node collects garbage and writes its memory usage to BENCH_MEMORY_FILE, so the
 *   bench can read live memory exactly, not heap plus whatever garbage is waiting;
 * - with BENCH_PROFILE_DIR set, SIGWINCH starts a CPU profile and the next SIGWINCH writes it
 *   there (`<node>-<n>.cpuprofile`), so `--profile` covers each scenario's load and nothing else
 *   (start-up, seeding and fixtures would otherwise dominate a whole-lifetime `--cpu-prof`).
 */
const fs = require("fs");
const path = require("path");

process.on("SIGUSR2", () => {
  const file = process.env.BENCH_MEMORY_FILE;
  if (!file || typeof globalThis.gc !== "function") return;
  for (let i = 0; i < 3; i++) globalThis.gc();
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(process.memoryUsage()));
  fs.renameSync(`${file}.tmp`, file);
});

const profileDir = process.env.BENCH_PROFILE_DIR;
if (profileDir) {
  const inspector = require("inspector");
  const session = new inspector.Session();
  session.connect();
  let running = false;
  let seq = 0;
  process.on("SIGWINCH", () => {
    if (!running) {
      running = true;
      session.post("Profiler.enable", () => session.post("Profiler.setSamplingInterval", { interval: 1000 }, () => session.post("Profiler.start")));
      return;
    }
    running = false;
    session.post("Profiler.stop", (err, res) => {
      if (err || !res) return;
      fs.mkdirSync(profileDir, { recursive: true });
      const file = path.join(profileDir, `${process.env.NODE_ID || process.pid}-${++seq}.cpuprofile`);
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(res.profile));
      fs.renameSync(`${file}.tmp`, file);
    });
  });
}
