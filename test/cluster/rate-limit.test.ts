/**
 * The gateways' shared rate limit on a real Redis, as the platform's client talks to it: the
 * counting script by its SHA (EVALSHA), and the calls of one event-loop turn pipelined into one
 * write. A burst at once still counts every request exactly once, a Redis that forgot the script
 * (SCRIPT FLUSH, a restart) is given it again, and two gateways share one count.
 */
import { randomUUID } from "crypto";
import { connectRedis } from "../../src/platform/platform";
import { RedisRateLimiter } from "../../src/platform/rate-limit";
import { REDIS_URL } from "../helpers/infra";

describe("the rate limit in Redis", () => {
  // One client per gateway, as the platform makes it.
  const clients = [0, 1].map(() => connectRedis(REDIS_URL));
  const prefix = `tf:test-${randomUUID()}:rl:`;
  const [gw1, gw2] = clients.map((c) => new RedisRateLimiter(c, prefix));
  afterAll(async () => {
    const keys = await clients[0].keys(`${prefix}*`);
    if (keys.length) await clients[0].del(...keys);
    for (const c of clients) c.disconnect();
  });

  it("counts a burst of requests through two gateways exactly, one count, and goes on after Redis forgets the script", async () => {
    // The platform's client fails a command at once while it is not connected (no offline queue).
    await Promise.all(clients.map((c) => (c.status === "ready" ? undefined : new Promise((resolve) => c.once("ready", resolve)))));
    const writes: number[] = [];
    const stream = (clients[0] as unknown as { stream: { write: (...a: unknown[]) => boolean } }).stream;
    const write = stream.write.bind(stream);
    stream.write = (...a: unknown[]) => {
      writes.push(1);
      return write(...a);
    };
    const decisions = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 3 ? gw1 : gw2).hit("u:burst", 45, 60_000)));
    stream.write = write;
    expect(decisions.filter((d) => d.allowed)).toHaveLength(45);
    // Every request got its own count: the remaining budgets 44..0 once each, then 0 for the 15 refused.
    expect(decisions.map((d) => d.remaining).sort((a, b) => a - b)).toEqual([...Array(16).fill(0), ...Array.from({ length: 44 }, (_, i) => i + 1)]);
    // The 40 calls this gateway made at once went out in far fewer writes.
    expect(writes.length).toBeLessThan(10);

    await clients[1].script("FLUSH");
    const after = await gw2.hit("u:burst", 45, 60_000);
    expect(after).toMatchObject({ allowed: false, remaining: 0 });
    expect(Number(await clients[0].get(`${prefix}u:burst`))).toBe(61);
    const other = await gw1.hit("u:other", 45, 60_000);
    expect(other).toMatchObject({ allowed: true, remaining: 44 });
    expect(await clients[0].pttl(`${prefix}u:other`)).toBeGreaterThan(59_000);
  });
});
