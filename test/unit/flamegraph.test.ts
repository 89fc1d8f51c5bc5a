import path from "path";
import { CpuProfile, flameGraphSvg, mergeProfiles, ownerOf, shortWhere } from "../../bench/lib/flamegraph";
import { byPackage, hotSpots } from "../../bench/lib/profile";

const repo = path.resolve(__dirname, "../..");
const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({ id, callFrame: { functionName, url, lineNumber: 9 }, children });

/**
 * (root) -> handler (own code) -> render (a package) -> deflate (node internals)
 *        -> (idle)
 * Self time, 1 ms per sample: handler 20, render 30, deflate 50, idle 100, and a 0.05 ms blip.
 */
function profile(): CpuProfile {
  const nodes = [
    frame(1, "(root)", "", [2, 5]),
    frame(2, "handler", `file://${repo}/services/orders.service.ts`, [3, 6]),
    frame(3, "render<T>", `file://${repo}/node_modules/pdfkit/js/pdfkit.js`, [4]),
    frame(4, "deflate", "node:zlib"),
    frame(5, "(idle)", ""),
    frame(6, "blip", `file://${repo}/src/x.ts`),
  ];
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  const add = (id: number, n: number, us = 1000) => {
    for (let i = 0; i < n; i++) {
      samples.push(id);
      timeDeltas.push(us);
    }
  };
  add(2, 20);
  add(3, 30);
  add(4, 50);
  add(5, 100);
  add(6, 1, 50);
  return { nodes, samples, timeDeltas };
}

describe("bench flame graph", () => {
  it("merges profiles into one call tree, idle left out, each frame's total its own time plus its callees'", () => {
    const root = mergeProfiles([profile(), profile()]);
    expect(root.totalUs).toBe(2 * 100_050);
    const handler = root.children.get(`handler@services/orders.service.ts:10`)!;
    expect(handler.totalUs).toBe(2 * 100_050);
    expect(handler.selfUs).toBe(2 * 20_000);
    const render = handler.children.get("render<T>@node_modules/pdfkit/js/pdfkit.js:10")!;
    expect(render.totalUs).toBe(2 * 80_000);
    expect(render.owner).toBe("pdfkit");
    expect([...render.children.values()][0]).toMatchObject({ fn: "deflate", owner: "node internals", totalUs: 2 * 50_000 });
    expect([...root.children.keys()].some((k) => k.startsWith("(idle)"))).toBe(false);
  });

  it("draws each frame as wide as its share of the CPU, stacked on its caller, and leaves out frames under the threshold", () => {
    const svg = flameGraphSvg(mergeProfiles([profile()]), { title: "a <test> & more", minPercent: 0.1 });
    const frames = [...svg.matchAll(/<g class="f" data-x="([\d.]+)" data-w="([\d.]+)" data-d="(\d+)" data-n="([^"]*)"/g)].map((m) => ({ x: +m[1], w: +m[2], depth: +m[3], name: m[4] }));
    expect(frames.map((f) => f.name)).toEqual(["all", "handler", "render&lt;T&gt;", "deflate"]);
    const [all, handler, render, deflate] = frames;
    expect(all.w).toBeCloseTo(1200, 1);
    expect(handler).toMatchObject({ depth: 1, x: 0 });
    expect(render.w).toBeCloseTo((1200 * 80_000) / 100_050, 1);
    expect(deflate.w).toBeCloseTo((1200 * 50_000) / 100_050, 1);
    expect(deflate.depth).toBe(3);
    // The root at the bottom: deeper frames are drawn higher up.
    const y = (name: string) => Number(new RegExp(`data-n="${name}" transform="translate\\(0,(\\d+)\\)"`).exec(svg)![1]);
    expect(y("deflate")).toBeLessThan(y("render&lt;T&gt;"));
    expect(y("render&lt;T&gt;")).toBeLessThan(y("all"));
    // The 0.05 ms blip is under 0.1% of the CPU: not drawn, its time still in its caller's width.
    expect(svg).not.toContain('data-n="blip"');
    expect(svg).toContain("a &lt;test&gt; &amp; more");
    expect(svg).toMatch(/<title>render&lt;T&gt; \(node_modules\/pdfkit\/js\/pdfkit\.js:10\)\n80\.0 ms, 79\.96% of CPU; self 30\.0 ms; pdfkit<\/title>/);
  });

  it("ranks functions and owners by self time from the same tree, idle left out", () => {
    const spots = hotSpots(mergeProfiles([profile(), profile()]), 3);
    expect(spots.map((s) => [s.fn, s.selfMs, s.percent])).toEqual([["deflate", 100, 50], ["render<T>", 60, 30], ["handler", 40, 20]]);
    expect(byPackage(spots).map((p) => p.owner)).toEqual(["node internals", "pdfkit", "services"]);
  });

  it("names places relative to the repository and owners by package, folder or runtime", () => {
    expect(shortWhere(`file://${repo}/node_modules/@moleculer/channels/src/index.js`, 175)).toBe("node_modules/@moleculer/channels/src/index.js:176");
    expect(shortWhere(`file://${repo}/src/platform/database.ts`, 0)).toBe("src/platform/database.ts:1");
    expect(ownerOf("x", "node_modules/@moleculer/channels/src/index.js:176")).toBe("@moleculer/channels");
    expect(ownerOf("x", "src/platform/database.ts:1")).toBe("src");
    expect(ownerOf("writev", "")).toBe("v8/native");
    expect(ownerOf("(garbage collector)", "")).toBe("(garbage collector)");
  });
});
