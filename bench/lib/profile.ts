/**
 * Reads the `.cpuprofile` files that `node --cpu-prof` wrote and lists where the time went:
 * self time per function (name and file:line), largest first, over all profiles in a directory.
 */
import fs from "fs";
import path from "path";
import { CpuProfile, ownerOf, shortWhere } from "./flamegraph";

export interface HotSpot {
  fn: string;
  where: string;
  selfMs: number;
  percent: number;
}

/** Self time grouped by package (node_modules/<name>), by our own top-level folder, or by Node/V8 internals. */
export function byPackage(spots: HotSpot[]): Array<{ owner: string; selfMs: number; percent: number }> {
  const acc = new Map<string, { selfMs: number; percent: number }>();
  for (const s of spots) {
    const owner = ownerOf(s.fn, s.where);
    const e = acc.get(owner) ?? { selfMs: 0, percent: 0 };
    e.selfMs += s.selfMs;
    e.percent = Math.round((e.percent + s.percent) * 10) / 10;
    acc.set(owner, e);
  }
  return [...acc.entries()].map(([owner, v]) => ({ owner, ...v })).sort((a, b) => b.selfMs - a.selfMs);
}

export function summarizeProfiles(dirs: string[], top = 12): HotSpot[] {
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  const files = dirs.filter((d) => fs.existsSync(d)).flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith(".cpuprofile")).map((f) => path.join(d, f)));
  for (const file of files) {
    const prof = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    prof.samples.forEach((id, i) => {
      const node = byId.get(id);
      if (!node) return;
      const dt = prof.timeDeltas[i] ?? 0;
      const { functionName, url, lineNumber } = node.callFrame;
      const where = shortWhere(url, lineNumber);
      const fn = functionName || "(anonymous)";
      const key = `${fn}@${where}`;
      const entry = self.get(key) ?? { fn, where, us: 0 };
      entry.us += dt;
      self.set(key, entry);
      total += dt;
    });
  }
  // Idle time says the thread waited; the ranking is about where the CPU went.
  const idle = self.get("(idle)@")?.us ?? 0;
  total -= idle;
  self.delete("(idle)@");
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: Math.round(e.us / 1000), percent: Math.round((1000 * e.us) / Math.max(total, 1)) / 10 }));
}
