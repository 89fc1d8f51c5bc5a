import fs from "fs";
import os from "os";
import path from "path";
import { createOrderTiming, ORDER_STAGES, OrderTimingFile } from "../../src/platform/order-timing";
import { summarizeOrderTiming } from "../../bench/lib/order-timing";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tf-order-timing-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("order timing (TF_ORDER_TIMING)", () => {
  it("records each order's stages and session, and the event loop's delay, in its file", async () => {
    const file = path.join(tmp, "node.json");
    const timing = createOrderTiming(file);
    timing.mark("o1", "received", 100);
    timing.mark("o1", "holdRead", 130);
    timing.mark("o1", "placed", 150);
    timing.session("o1", "s1");
    await new Promise((r) => setTimeout(r, 1100));
    timing.stop();
    const written: OrderTimingFile = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(written.stages).toEqual(ORDER_STAGES);
    expect(written.orders).toEqual([{ sessionId: "s1", at: [100, 130, 150, null, null, null, null, null] }]);
    expect(written.loopDelay.length).toBeGreaterThanOrEqual(1);
    expect(written.loopDelay[0]).toHaveLength(3);
  });

  it("the bench's summary counts the session's confirmed orders only, stage by stage", () => {
    const at = (...times: number[]) => times;
    const content: OrderTimingFile = {
      stages: ORDER_STAGES,
      orders: [
        { sessionId: "s1", at: at(0, 10, 20, 100, 110, 130, 200, 210) },
        { sessionId: "s1", at: at(1000, 1030, 1050, 1150, 1170, 1200, 1300, 1320) },
        // Another session's order, and one that never reached CONFIRMED.
        { sessionId: "s2", at: at(0, 1, 2, 3, 4, 5, 6, 7) },
        { sessionId: "s1", at: [0, 10, 20, 100, null, null, null, null] },
      ],
      loopDelay: [
        [500, 4, 9],
        [1500, 8, 30],
        [9000, 50, 90],
      ],
    };
    const file = path.join(tmp, "summary.json");
    fs.writeFileSync(file, JSON.stringify(content));
    const summary = summarizeOrderTiming([file, path.join(tmp, "missing.json")], "s1")!;
    expect(summary.orders).toBe(2);
    expect(summary.stages.map((s) => s.stage)).toEqual(ORDER_STAGES.slice(1));
    expect(summary.stages[0]).toEqual({ stage: "holdRead", p50: 10, p99: 30, mean: 20 });
    expect(summary.stages[2]).toEqual({ stage: "authorized", p50: 80, p99: 100, mean: 90 });
    expect(summary.total).toEqual({ p50: 210, p99: 320, mean: 265 });
    // The samples while those orders ran (0 to 1,320 ms, and the second after): not the one at 9 s.
    expect(summary.loopDelayMs).toEqual({ mean: 6, maxP99: 30, seconds: 2 });
    expect(summarizeOrderTiming([file], "s3")).toBeNull();
  });
});
