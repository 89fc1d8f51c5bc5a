import { ReadCache } from "../../src/platform/read-cache";

/** A read() that counts its calls and resolves, with the value the test names, when the test says so. */
function reader<V>() {
  const r = { calls: 0, release: (_v: V) => undefined as void, fail: (_e: Error) => undefined as void };
  const read = () => {
    r.calls++;
    return new Promise<V>((resolve, reject) => {
      r.release = resolve;
      r.fail = reject;
    });
  };
  return { r, read };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe("a node's read cache", () => {
  it("reads once for everyone who asks while the read runs, then answers from it", async () => {
    const cache = new ReadCache<{ title: string }>({ kept: 4, ttlMs: 2000 });
    const { r, read } = reader<{ title: string }>();
    const waiting = Array.from({ length: 20 }, () => cache.get("s1", read));
    r.release({ title: "Hamlet" });
    const got = await Promise.all(waiting);
    expect(r.calls).toBe(1);
    expect(new Set(got).size).toBe(1);
    expect(await cache.get("s1", read)).toBe(got[0]);
    expect(r.calls).toBe(1);
  });

  it("reads again once the value is ttlMs old", async () => {
    let now = 1_000;
    const cache = new ReadCache<number>({ kept: 4, ttlMs: 2000, clock: () => now });
    let reads = 0;
    const read = () => Promise.resolve(++reads);
    expect(await cache.get("s1", read)).toBe(1);
    now += 1_999;
    expect(await cache.get("s1", read)).toBe(1);
    now += 1;
    expect(await cache.get("s1", read)).toBe(2);
  });

  it("reads again for another version of the source, and keeps no age limit without a TTL", async () => {
    let now = 0;
    const cache = new ReadCache<string>({ kept: 4, clock: () => now });
    const calls: string[] = [];
    const read = (v: string) => () => (calls.push(v), Promise.resolve(`layout ${v}`));
    expect(await cache.get("venue", read("a"), '"a"')).toBe("layout a");
    now += 86_400_000;
    expect(await cache.get("venue", read("a"), '"a"')).toBe("layout a");
    expect(await cache.get("venue", read("b"), '"b"')).toBe("layout b");
    expect(calls).toEqual(["a", "b"]);
  });

  it("after forget, the next request reads again while one already waiting keeps its read", async () => {
    const cache = new ReadCache<string>({ kept: 4, ttlMs: 60_000 });
    const first = reader<string>();
    const waiting = cache.get("s1", first.read);
    cache.forget("s1");
    const second = reader<string>();
    const fresh = cache.get("s1", second.read);
    first.r.release("before the change");
    second.r.release("after the change");
    expect(await waiting).toBe("before the change");
    expect(await fresh).toBe("after the change");
    // The older read, finishing last or first, does not replace the fresh one.
    expect(await cache.get("s1", () => Promise.resolve("unexpected read"))).toBe("after the change");
    cache.clear();
    expect(await cache.get("s1", () => Promise.resolve("read after clear"))).toBe("read after clear");
  });

  it("keeps neither a failed read nor one that found nothing", async () => {
    const cache = new ReadCache<string | null>({ kept: 4, ttlMs: 60_000 });
    await expect(cache.get("s1", () => Promise.reject(new Error("database gone")))).rejects.toThrow("database gone");
    await settled();
    expect(cache.size).toBe(0);
    expect(await cache.get("s2", () => Promise.resolve(null))).toBeNull();
    await settled();
    expect(cache.size).toBe(0);
    expect(await cache.get("s2", () => Promise.resolve("created since"))).toBe("created since");
    expect(cache.size).toBe(1);
  });

  it("keeps at most `kept` keys, dropping the least recently read", async () => {
    const cache = new ReadCache<string>({ kept: 2 });
    const calls: string[] = [];
    const read = (key: string) => () => (calls.push(key), Promise.resolve(key));
    await cache.get("a", read("a"));
    await cache.get("b", read("b"));
    await cache.get("a", read("a")); // read again: now b is the least recent
    await cache.get("c", read("c"));
    expect(cache.size).toBe(2);
    await cache.get("a", read("a"));
    await cache.get("b", read("b"));
    expect(calls).toEqual(["a", "b", "c", "b"]);
  });
});
