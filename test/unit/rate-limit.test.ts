import { FallbackRateLimiter, MemoryRateLimiter, RateLimiter } from "../../src/platform/rate-limit";

describe("rate limits while the shared store is down", () => {
  // A store that answers until `down` is set, as Redis does until it stops.
  class Store implements RateLimiter {
    down = false;
    inner = new MemoryRateLimiter();
    hit(key: string, limit: number, windowMs: number) {
      return this.down ? Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false")) : this.inner.hit(key, limit, windowMs);
    }
  }

  it("counts in the shared store while it answers, and on this node alone while it does not, limits still applied", async () => {
    const store = new Store();
    const misses: string[] = [];
    const limiter = new FallbackRateLimiter(store, new MemoryRateLimiter(), (err) => misses.push(err.message));
    const allowed = async (n: number) => {
      const out: boolean[] = [];
      for (let i = 0; i < n; i++) out.push((await limiter.hit("ip:203.0.113.9", 3, 60_000)).allowed);
      return out;
    };
    expect(await allowed(2)).toEqual([true, true]);
    expect(misses).toEqual([]);
    store.down = true;
    // Not refused for the store's sake, and not unlimited either: the node's own count applies.
    expect(await allowed(4)).toEqual([true, true, true, false]);
    expect(misses).toHaveLength(4);
    store.down = false;
    expect(await allowed(2)).toEqual([true, false]);
  });
});
