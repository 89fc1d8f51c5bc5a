import fs from "fs";
import os from "os";
import path from "path";
import { createOrderTiming, ORDER_STAGES, OrderStage, OrderTimingLine } from "../../src/platform/order-timing";
import { summarizeOrderTiming } from "../../bench/lib/order-timing";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tf-order-timing-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const readLines = (file: string): OrderTimingLine[] =>
  fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l)
    .map((l) => JSON.parse(l));

describe("order timing (TF_ORDER_TIMING)", () => {
  it("writes each order once it is CONFIRMED, with its session and stages, and the event loop's delay each second", async () => {
    const file = path.join(tmp, "node.jsonl");
    fs.writeFileSync(file, "left from an earlier run\n");
    const timing = createOrderTiming(file);
    ORDER_STAGES.forEach((stage, i) => {
      timing.mark("done", stage as OrderStage, 100 + 10 * i);
      if (stage === "placed") timing.session("done", "s1");
    });
    // Still on its way: not written.
    timing.mark("pending", "received", 500);
    timing.session("pending", "s1");
    await new Promise((r) => setTimeout(r, 1100));
    // Resumed here from another node: only its last stages are known.
    timing.mark("resumed", "captured", 880);
    timing.mark("resumed", "confirmed", 900);
    timing.stop();

    const lines = readLines(file);
    expect(lines[0]).toEqual({ stages: ORDER_STAGES });
    const orders = lines.filter((l): l is { order: any } => "order" in l).map((l) => l.order);
    expect(orders).toEqual([
      { sessionId: "s1", at: [100, 110, 120, 130, 140, 150, 160] },
      { sessionId: null, at: [null, null, null, null, null, 880, 900] },
    ]);
    const delays = lines.filter((l): l is { loopDelay: [number, number, number] } => "loopDelay" in l);
    expect(delays.length).toBeGreaterThanOrEqual(2);
    expect(delays[0].loopDelay).toHaveLength(3);
  });

  it("the bench's summary counts the session's complete orders only, stage by stage", () => {
    const lines: OrderTimingLine[] = [
      { stages: ORDER_STAGES },
      { order: { sessionId: "s1", at: [0, 10, 20, 100, 130, 200, 210] } },
      { loopDelay: [500, 4, 9] },
      { order: { sessionId: "s1", at: [1000, 1030, 1050, 1150, 1200, 1300, 1320] } },
      // Another session's order, and one resumed here from another node.
      { order: { sessionId: "s2", at: [0, 1, 2, 3, 4, 5, 6] } },
      { order: { sessionId: "s1", at: [null, null, null, null, 100, 120, 130] } },
      { loopDelay: [1500, 8, 30] },
      { loopDelay: [9000, 50, 90] },
    ];
    const file = path.join(tmp, "summary.jsonl");
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const summary = summarizeOrderTiming([file, path.join(tmp, "missing.jsonl")], "s1")!;
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
