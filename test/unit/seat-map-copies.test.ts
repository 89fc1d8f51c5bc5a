import zlib from "zlib";
import type { Context } from "moleculer";
import type { Meta } from "../../src/platform/auth";
import { EncodedAnswer } from "../../src/platform/encoded-answer";
import { SeatMapCopies } from "../../src/seats/seat-map-copies";

type Ctx = Context<unknown, Meta>;

/**
 * A session's owner across the transporter, as the gateway's `remoteAction` hook sees it: it gets
 * a copy of the call's meta, answers with the seat map's encoded answer (gzip as base64 text to
 * another node), and its meta comes back merged into the call's.
 */
function owner() {
  const o = {
    version: 1,
    calls: 0,
    askedWith: [] as Array<Record<string, string>>,
    fail: undefined as Error | undefined,
    gate: undefined as Promise<void> | undefined,
    next: async (ctx: Ctx): Promise<unknown> => {
      o.calls++;
      o.askedWith.push({ ...(ctx.meta.headers ?? {}) });
      const version = o.version;
      if (o.gate) await o.gate;
      if (o.fail) throw o.fail;
      const remote = { nodeID: "gateway", params: ctx.params, meta: JSON.parse(JSON.stringify(ctx.meta)) } as Ctx;
      const params = ctx.params as { id: string; statusOnly?: string };
      const answer = EncodedAnswer.of({ sessionId: params.id, version, statusOnly: params.statusOnly ?? "0", status: "aahs" });
      const body = answer.send(remote, "owner");
      Object.assign(ctx.meta, remote.meta);
      return body;
    },
  };
  return o;
}

function read(params: Record<string, unknown>, headers: Record<string, string> = { "accept-encoding": "gzip" }) {
  return { params, meta: { headers: { ...headers } } } as unknown as Ctx;
}

/** The JSON a reader gets, whatever its encoding. */
function json(body: unknown, ctx: Ctx): { version: number; statusOnly: string } {
  const gzipped = ctx.meta.$responseHeaders?.["Content-Encoding"] === "gzip";
  return JSON.parse(gzipped ? zlib.gunzipSync(body as Buffer).toString() : String(body));
}

describe("a gateway's seat map copies", () => {
  it("asks the owner once for everyone who reads meanwhile, then answers from the copy", async () => {
    const o = owner();
    const copies = new SeatMapCopies();
    const readers = Array.from({ length: 20 }, () => read({ id: "s1", statusOnly: "1" }));
    const bodies = await Promise.all(readers.map((ctx) => copies.answer(ctx, o.next)));
    expect(o.calls).toBe(1);
    for (const [i, ctx] of readers.entries()) {
      expect(Buffer.isBuffer(bodies[i])).toBe(true);
      expect(ctx.meta.$base64Body).toBe(false);
      expect(ctx.meta.$responseHeaders).toMatchObject({ "Content-Encoding": "gzip", "Cache-Control": "no-cache", Vary: "Accept-Encoding" });
      expect(json(bodies[i], ctx)).toMatchObject({ version: 1, statusOnly: "1" });
    }
    const later = read({ id: "s1", statusOnly: "true" });
    expect(json(await copies.answer(later, o.next), later).version).toBe(1);
    expect(o.calls).toBe(1);
    expect(copies.counts).toEqual({ copy: 20, owner: 1 });
  });

  it("asks the owner again once the session's change is heard", async () => {
    const o = owner();
    const copies = new SeatMapCopies();
    const once = read({ id: "s1" });
    expect(json(await copies.answer(once, o.next), once).version).toBe(1);
    o.version = 2;
    const stale = read({ id: "s1" });
    expect(json(await copies.answer(stale, o.next), stale).version).toBe(1);
    copies.forget("s1");
    const fresh = read({ id: "s1" });
    expect(json(await copies.answer(fresh, o.next), fresh).version).toBe(2);
    expect(o.calls).toBe(2);
  });

  it("asks the owner again once the copy is as old as the TTL, change heard or not", async () => {
    let now = 0;
    const o = owner();
    const copies = new SeatMapCopies({ ttlMs: 2_000, clock: () => now });
    await copies.answer(read({ id: "s1" }), o.next);
    o.version = 2;
    now = 1_999;
    const before = read({ id: "s1" });
    expect(json(await copies.answer(before, o.next), before).version).toBe(1);
    now = 2_000;
    const after = read({ id: "s1" });
    expect(json(await copies.answer(after, o.next), after).version).toBe(2);
  });

  it("does not keep what the owner answered before a change heard while it was asked", async () => {
    const o = owner();
    const copies = new SeatMapCopies();
    let open!: () => void;
    o.gate = new Promise<void>((r) => (open = r));
    const asking = copies.answer(read({ id: "s1" }), o.next);
    copies.forget("s1");
    o.gate = undefined;
    o.version = 2;
    open();
    await asking;
    const next = read({ id: "s1" });
    expect(json(await copies.answer(next, o.next), next).version).toBe(2);
    expect(o.calls).toBe(2);
  });

  it("keeps a copy per variant and per encoding, and sends plain JSON to readers without gzip", async () => {
    const o = owner();
    const copies = new SeatMapCopies();
    const plain = read({ id: "s1", statusOnly: "1" }, {});
    const body = await copies.answer(plain, o.next);
    expect(typeof body).toBe("string");
    expect(plain.meta.$responseHeaders?.["Content-Encoding"]).toBeUndefined();
    expect(json(body, plain)).toMatchObject({ statusOnly: "1" });
    const full = read({ id: "s1" });
    expect(json(await copies.answer(full, o.next), full).statusOnly).toBe("0");
    await copies.answer(read({ id: "s1", statusOnly: "0" }), o.next);
    await copies.answer(read({ id: "s1", statusOnly: "false" }, { "accept-encoding": "gzip;q=0" }), o.next);
    expect(o.calls).toBe(3);
    expect(copies.size).toBe(3);
    copies.forget("s1");
    expect(copies.size).toBe(0);
  });

  it("revalidates against the copy's ETag, and asks the owner for the whole answer", async () => {
    const o = owner();
    const copies = new SeatMapCopies();
    const first = read({ id: "s1" }, { "accept-encoding": "gzip", "if-none-match": '"not-it"' });
    expect(await copies.answer(first, o.next)).not.toBeNull();
    expect(first.meta.$statusCode).toBeUndefined();
    // The owner was asked without the reader's If-None-Match; the reader's headers are its own again.
    expect(o.askedWith).toEqual([{ "accept-encoding": "gzip" }]);
    expect(first.meta.headers).toEqual({ "accept-encoding": "gzip", "if-none-match": '"not-it"' });
    const etag = first.meta.$responseHeaders!.ETag;
    const again = read({ id: "s1" }, { "accept-encoding": "gzip", "if-none-match": `W/${etag}` });
    expect(await copies.answer(again, o.next)).toBeNull();
    expect(again.meta.$statusCode).toBe(304);
    expect(again.meta.$responseHeaders?.ETag).toBe(etag);
    expect(o.calls).toBe(1);
  });

  it("keeps no error: the next read asks the owner again", async () => {
    const o = owner();
    const copies = new SeatMapCopies();
    o.fail = Object.assign(new Error("Session not found"), { code: 404 });
    await expect(copies.answer(read({ id: "nope" }), o.next)).rejects.toThrow("Session not found");
    await expect(copies.answer(read({ id: "nope" }), o.next)).rejects.toThrow("Session not found");
    o.fail = undefined;
    const ok = read({ id: "nope" });
    expect(json(await copies.answer(ok, o.next), ok).version).toBe(1);
    expect(o.calls).toBe(3);
  });

  it("passes what the owner's validation may refuse straight to it", async () => {
    const o = owner();
    const copies = new SeatMapCopies();
    for (const params of [{ id: "s1", statusOnly: "yes" }, { id: "s1", extra: 1 }, { id: 42 }]) {
      await copies.answer(read(params), o.next);
      await copies.answer(read(params), o.next);
    }
    expect(o.calls).toBe(6);
    expect(copies.size).toBe(0);
  });
});
