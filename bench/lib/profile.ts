/**
 * Reads the `.cpuprofile` files that `node --cpu-prof` wrote and lists where the time went:
 * self time per function (name and file:line), largest first, over all profiles in a directory.
 */
import fs from "fs";
import path from "path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  fn: string;
  where: string;
  selfMs: number;
  percent: number;
}

export function summarizeProfiles(dir: string, top = 12): HotSpot[] {
  if (!fs.existsSync(dir)) return [];
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) {
    const prof = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as CpuProfile;
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    prof.samples.forEach((id, i) => {
      const node = byId.get(id);
      if (!node) return;
      const dt = prof.timeDeltas[i] ?? 0;
      const { functionName, url, lineNumber } = node.callFrame;
      const where = url ? `${url.replace(/^file:\/\//, "").replace(/.*node_modules\//, "node_modules/").replace(/.*\/work\/main\//, "")}:${lineNumber + 1}` : "";
      const fn = functionName || "(anonymous)";
      const key = `${fn}@${where}`;
      const entry = self.get(key) ?? { fn, where, us: 0 };
      entry.us += dt;
      self.set(key, entry);
      total += dt;
    });
  }
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: Math.round(e.us / 1000), percent: Math.round((1000 * e.us) / Math.max(total, 1)) / 10 }));
}
