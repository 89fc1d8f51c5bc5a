/**
 * Request metrics tallied per call and written into Moleculer's registry on flush: the numbers an
 * operator reads on /metrics must be the same as Moleculer's own middleware would have written.
 */
import { Errors, ServiceBroker } from "moleculer";
import { RequestMetricsMiddleware, talliesOf } from "../../src/platform/request-metrics";

type Snapshot = Array<{ labels: Record<string, unknown>; value?: number; count?: number; sum?: number; buckets?: Record<string, number> }>;

function names(): Array<string | typeof RequestMetricsMiddleware> {
  const internal = (ServiceBroker as unknown as { INTERNAL_MIDDLEWARES: string[] }).INTERNAL_MIDDLEWARES;
  return internal.map((n) => (n === "Metrics" ? RequestMetricsMiddleware : n));
}

describe("request metrics", () => {
  let broker: ServiceBroker;
  let release: () => void = () => undefined;

  beforeAll(async () => {
    broker = new ServiceBroker({
      logger: false,
      metrics: { enabled: true, reporter: [], collectProcessMetrics: false },
      internalMiddlewares: false,
      middlewares: names() as never,
    });
    broker.createService({
      name: "math",
      actions: {
        add: { handler: (ctx) => (ctx.params as { a: number; b: number }).a + (ctx.params as { a: number; b: number }).b },
        fail: {
          handler() {
            throw new Error("no");
          },
        },
        slow: { handler: () => new Promise<string>((resolve) => (release = () => resolve("done"))) },
        refuse: {
          handler(ctx) {
            throw new Errors.MoleculerClientError("refused", 409, (ctx.params as { code: string }).code);
          },
        },
      },
    });
    broker.createService({
      name: "caller",
      actions: { twice: { handler: async (ctx) => (await ctx.call<number, object>("math.add", { a: 1, b: 2 })) * 2 } },
    });
    await broker.start();
  });
  afterAll(() => broker.stop());

  const snapshot = (name: string): Snapshot => {
    talliesOf(broker).flush();
    return (broker.metrics.getMetric(name) as unknown as { snapshot(): Snapshot }).snapshot();
  };
  const find = (name: string, labels: Record<string, unknown>) =>
    snapshot(name).find((i) => Object.entries(labels).every(([k, v]) => i.labels[k] === v));

  it("counts calls per action and caller, as Moleculer's middleware does", async () => {
    for (let i = 0; i < 5; i++) await broker.call("math.add", { a: i, b: 1 });
    await broker.call("caller.twice");
    expect(find("moleculer.request.total", { action: "math.add", caller: null, type: "local" })?.value).toBe(5);
    expect(find("moleculer.request.total", { action: "math.add", caller: "caller", type: "local" })?.value).toBe(1);
    expect(find("moleculer.request.total", { action: "caller.twice", caller: null })?.value).toBe(1);
    // Level 2 is the nested call.
    expect(find("moleculer.request.levels", { level: 2 })?.value).toBe(1);
    // Counts accumulate across flushes, they are not replaced.
    await broker.call("math.add", { a: 1, b: 1 });
    expect(find("moleculer.request.total", { action: "math.add", caller: null })?.value).toBe(6);
  });

  it("keeps the time histogram's buckets cumulative and its count and sum", async () => {
    const before = find("moleculer.request.time", { action: "math.add", caller: null });
    await broker.call("math.add", { a: 1, b: 1 });
    const item = find("moleculer.request.time", { action: "math.add", caller: null })!;
    expect(item.count).toBe((before?.count ?? 0) + 1);
    expect(item.sum).toBeGreaterThan(0);
    const bounds = Object.keys(item.buckets!).map(Number).sort((a, b) => a - b);
    const counts = bounds.map((b) => item.buckets![String(b)]);
    // Cumulative: never decreasing, and the widest bucket holds every fast call.
    counts.forEach((c, i) => i > 0 && expect(c).toBeGreaterThanOrEqual(counts[i - 1]));
    expect(counts[counts.length - 1]).toBe(item.count);
  });

  it("shows calls in flight as active and counts errors with their name", async () => {
    const pending = broker.call("math.slow");
    await new Promise((r) => setImmediate(r));
    expect(find("moleculer.request.active", { action: "math.slow" })?.value).toBe(1);
    release();
    await pending;
    expect(find("moleculer.request.active", { action: "math.slow" })?.value).toBe(0);

    await expect(broker.call("math.fail")).rejects.toThrow("no");
    expect(find("moleculer.request.error.total", { action: "math.fail", errorName: "Error" })?.value).toBe(1);
    expect(find("moleculer.request.total", { action: "math.fail" })?.value).toBe(1);
  });

  it("counts refusals per error type, across flushes, as Moleculer's own middleware would", async () => {
    const refuse = (code: string) => expect(broker.call("math.refuse", { code })).rejects.toThrow("refused");
    await refuse("SEAT_TAKEN");
    await refuse("SEAT_TAKEN");
    await refuse("NOT_ENOUGH_SEATS");
    const count = (errorType: string) => find("moleculer.request.error.total", { action: "math.refuse", errorType, errorCode: 409, errorName: "MoleculerClientError" })?.value;
    expect(count("SEAT_TAKEN")).toBe(2);
    expect(count("NOT_ENOUGH_SEATS")).toBe(1);
    await refuse("SEAT_TAKEN");
    expect(count("SEAT_TAKEN")).toBe(3);
    expect(find("moleculer.request.total", { action: "math.refuse" })?.value).toBe(4);
  });
});
