/**
 * Flame graphs from the `.cpuprofile` files that the bench nodes write (`--profile`), drawn as
 * one self-contained SVG: no dependency, no download, opens in any browser. Like clinic's and
 * Brendan Gregg's: the root at the bottom, each frame as wide as the CPU time spent in it and in
 * what it called, the callers below their callees. Hover a frame for its function, file, total
 * and self time; click it to zoom in on it, click the title (or press Escape) to zoom out.
 * Frames are coloured by owner: our own code, each package, Node's internals, V8 and the
 * garbage collector, so a glance says whose code the time went to.
 */
import fs from "fs";
import path from "path";

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One frame of the merged call tree: a function at one place in the stacks. */
export interface Frame {
  fn: string;
  where: string;
  owner: string;
  selfUs: number;
  totalUs: number;
  children: Map<string, Frame>;
}

const ROOT_DIR = path.resolve(__dirname, "../..");

/** A profile URL as a path a reader recognises: relative to the repository or to node_modules. */
export function shortWhere(url: string, lineNumber: number): string {
  if (!url) return "";
  const file = url
    .replace(/^file:\/\//, "")
    .replace(/.*\/node_modules\//, "node_modules/")
    .split(`${ROOT_DIR}/`)
    .join("");
  return `${file}:${lineNumber + 1}`;
}

/** Whose code a frame is: a package, our own top-level folder, Node's internals, or V8 itself. */
export function ownerOf(fn: string, where: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where);
  if (m) return m[1];
  if (where.startsWith("wasm:")) return "PGlite WASM (embedded PostgreSQL)";
  if (where.startsWith("node:")) return "node internals";
  if (where) return where.split("/")[0];
  return fn.startsWith("(") ? fn : "v8/native";
}

function newFrame(fn: string, where: string): Frame {
  return { fn, where, owner: ownerOf(fn, where), selfUs: 0, totalUs: 0, children: new Map() };
}

/**
 * The call trees of several profiles merged into one (same function at the same place in the
 * stack = one frame), with idle time left out: the graph is about where the CPU went.
 */
export function mergeProfiles(profiles: CpuProfile[]): Frame {
  const root = newFrame("all", "");
  for (const prof of profiles) {
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const self = new Map<number, number>();
    prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
    const childIds = new Set(prof.nodes.flatMap((n) => n.children ?? []));
    const walk = (node: ProfileNode, into: Frame) => {
      const { functionName, url, lineNumber } = node.callFrame;
      if (functionName === "(idle)") return;
      const fn = functionName || "(anonymous)";
      const where = shortWhere(url, lineNumber);
      // The profile's own root is "(root)": its children hang from ours.
      let frame = into;
      if (fn !== "(root)") {
        const key = `${fn}@${where}`;
        frame = into.children.get(key) ?? newFrame(fn, where);
        into.children.set(key, frame);
        frame.selfUs += self.get(node.id) ?? 0;
      }
      for (const c of node.children ?? []) {
        const child = byId.get(c);
        if (child) walk(child, frame);
      }
    };
    for (const n of prof.nodes) if (!childIds.has(n.id)) walk(n, root);
  }
  const total = (f: Frame): number => (f.totalUs = f.selfUs + [...f.children.values()].reduce((a, c) => a + total(c), 0));
  total(root);
  return root;
}

const OWN_CODE = new Set(["src", "services", "mixins", "channels", "bench"]);

/** Our own code blue-green, packages warm (a stable hue per package), Node yellow, V8 and GC grey/red. */
function colour(owner: string): string {
  if (OWN_CODE.has(owner)) return "hsl(170, 55%, 62%)";
  if (owner === "node internals") return "hsl(50, 80%, 62%)";
  if (owner === "(garbage collector)") return "hsl(0, 65%, 66%)";
  if (owner.startsWith("(") || owner === "v8/native") return "hsl(0, 0%, 72%)";
  let h = 0;
  for (const ch of owner) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${10 + (h % 35)}, ${70 + (h % 20)}%, ${58 + (h % 10)}%)`;
}

/** A frame's label: its function's name, or for an anonymous function its file and line. */
function frameName(f: Frame): string {
  return f.fn === "(anonymous)" && f.where ? `(anonymous) ${path.basename(f.where)}` : f.fn;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

const WIDTH = 1200;
const FRAME_H = 17;
const TOP = 56;
const CHAR_W = 6.4;

/**
 * The SVG. Frames narrower than `minPercent` of the total are left out (with everything they
 * called), which keeps the file small; their time still counts in their callers' widths.
 */
export function flameGraphSvg(root: Frame, opts: { title: string; subtitle?: string; minPercent?: number }): string {
  const minUs = (root.totalUs * (opts.minPercent ?? 0.1)) / 100;
  const visible = (f: Frame) => [...f.children.values()].filter((c) => c.totalUs >= minUs);
  const depthOf = (f: Frame): number => 1 + Math.max(-1, ...visible(f).map(depthOf));
  const maxDepth = depthOf(root);
  const owners = new Map<string, number>();
  const tally = (f: Frame) => {
    owners.set(f.owner, (owners.get(f.owner) ?? 0) + f.selfUs);
    f.children.forEach(tally);
  };
  tally(root);
  const rects: string[] = [];
  const place = (f: Frame, x: number, depth: number) => {
    const w = (f.totalUs / root.totalUs) * WIDTH;
    const pct = (100 * f.totalUs) / root.totalUs;
    const tip = `${f.fn}${f.where ? ` (${f.where})` : ""}\n${(f.totalUs / 1000).toFixed(1)} ms, ${pct.toFixed(2)}% of CPU; self ${(f.selfUs / 1000).toFixed(1)} ms; ${f.owner}`;
    const chars = Math.floor((w - 6) / CHAR_W);
    const name = frameName(f);
    const label = chars >= 3 ? (name.length > chars ? `${name.slice(0, chars - 2)}..` : name) : "";
    // The root at the bottom: y from the depth.
    const y = TOP + (maxDepth - depth) * FRAME_H;
    rects.push(
      `<g class="f" data-x="${x.toFixed(2)}" data-w="${w.toFixed(2)}" data-d="${depth}" data-n="${escapeXml(name)}" transform="translate(0,${y})"><title>${escapeXml(tip)}</title>` +
        `<rect x="${x.toFixed(2)}" y="0" width="${Math.max(w - 0.5, 0.1).toFixed(2)}" height="${FRAME_H - 1}" fill="${colour(f.owner)}"/>` +
        `<text x="${(x + 3).toFixed(2)}" y="12">${escapeXml(label)}</text></g>`,
    );
    let cx = x;
    for (const c of [...f.children.values()].sort((a, b) => b.totalUs - a.totalUs)) {
      if (c.totalUs >= minUs) place(c, cx, depth + 1);
      cx += (c.totalUs / root.totalUs) * WIDTH;
    }
  };
  place(root, 0, 0);
  const height = TOP + (maxDepth + 1) * FRAME_H + 40;
  const body = rects;
  const legend = [...owners.entries()]
    .filter(([, us]) => us > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)
    .map(([owner, us]) => `<tspan fill="${colour(owner)}">■</tspan> ${escapeXml(owner)} ${((100 * us) / root.totalUs).toFixed(1)}%`)
    .join("   ");
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Verdana, sans-serif" font-size="11">
<style>
  .f text { pointer-events: none; fill: #222; }
  .f:hover rect { stroke: #000; stroke-width: 0.8; }
  .f { cursor: pointer; }
  #title { cursor: pointer; font-size: 15px; }
</style>
<rect width="100%" height="100%" fill="#fdfdf8"/>
<text id="title" x="8" y="20">${escapeXml(opts.title)}</text>
<text x="8" y="36" fill="#555">${escapeXml(opts.subtitle ?? "")} ${(root.totalUs / 1000).toFixed(0)} ms of CPU sampled. Hover a frame for details; click to zoom, click the title or press Escape to zoom out.</text>
<text x="8" y="${height - 12}" fill="#333">self time by owner: ${legend}</text>
<g id="frames">
${body.join("\n")}
</g>
<script><![CDATA[
(function () {
  var W = ${WIDTH}, CH = ${CHAR_W};
  var frames = Array.prototype.slice.call(document.querySelectorAll(".f"));
  function show(zx, zw, zd) {
    frames.forEach(function (g) {
      var x = +g.getAttribute("data-x"), w = +g.getAttribute("data-w"), d = +g.getAttribute("data-d");
      // Intervals nest: what overlaps the zoomed frame is it, its callees, or (below) its callers.
      var inside = x + w > zx + 0.01 && x < zx + zw - 0.01;
      var below = d < zd;
      g.style.display = inside ? "" : "none";
      var nx = below ? 0 : ((x - zx) * W) / zw, nw = below ? W : (w * W) / zw;
      var r = g.querySelector("rect"), t = g.querySelector("text"), n = g.getAttribute("data-n");
      r.setAttribute("x", nx); r.setAttribute("width", Math.max(nw - 0.5, 0.1));
      t.setAttribute("x", nx + 3);
      var c = Math.floor((nw - 6) / CH);
      t.textContent = c >= 3 ? (n.length > c ? n.slice(0, c - 2) + ".." : n) : "";
      r.style.opacity = below ? 0.5 : 1;
    });
  }
  frames.forEach(function (g) {
    g.addEventListener("click", function () { show(+g.getAttribute("data-x"), +g.getAttribute("data-w"), +g.getAttribute("data-d")); });
  });
  document.getElementById("title").addEventListener("click", function () { show(0, W, 0); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") show(0, W, 0); });
})();
]]></script>
</svg>
`;
}

/** Every `.cpuprofile` in `dirs`, merged into one call tree. */
export function readProfiles(dirs: string[]): Frame {
  const files = dirs.filter((d) => fs.existsSync(d)).flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith(".cpuprofile")).map((f) => path.join(d, f)));
  return mergeProfiles(files.map((f) => JSON.parse(fs.readFileSync(f, "utf8")) as CpuProfile));
}
