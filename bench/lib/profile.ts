/**
 * Where the time of the bench nodes' CPU profiles went: self time per function (name and
 * file:line) and per owner, largest first, from the call tree that bench/lib/flamegraph.ts merges.
 */
import { Frame, ownerOf } from "./flamegraph";

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

/** Self time per function (name and file:line) over a merged call tree, largest first; idle is not in it. */
export function hotSpots(root: Frame, top = 12): HotSpot[] {
  const self = new Map<string, { fn: string; where: string; us: number }>();
  const walk = (f: Frame) => {
    if (f !== root) {
      const key = `${f.fn}@${f.where}`;
      const entry = self.get(key) ?? { fn: f.fn, where: f.where, us: 0 };
      entry.us += f.selfUs;
      self.set(key, entry);
    }
    f.children.forEach(walk);
  };
  walk(root);
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: Math.round(e.us / 1000), percent: Math.round((1000 * e.us) / Math.max(root.totalUs, 1)) / 10 }));
}
