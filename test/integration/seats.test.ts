import fs from "fs";
import os from "os";
import path from "path";
import zlib from "zlib";
import type { Knex } from "knex";
import { startTestNode, TestNode } from "../helpers/node";
import { rowsRead } from "../helpers/infra";
import { createSession, gridLayout, tokenFor } from "../helpers/seat-fixtures";
import { SessionActor } from "../../src/seats/session-actor";
import { HoldStatusFinder, SeatCommitter, sessionsWithHoldsDue } from "../../src/seats/store";
import { ownerOf } from "../../src/seats/routing";
import { CATALOG_READ_TTL_MS } from "../../src/domain/catalog";

const SERVICES = ["api", "seats", "holds"];

async function eventually<T>(what: string, fn: () => Promise<T | false | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("seats and holds (one node)", () => {
  let node: TestNode;
  let db: Knex;
  let secret: string;
  const changes: Array<{ sessionId: string; version: number; changes: Array<{ seatId: string; status: string }> }> = [];

  beforeAll(async () => {
    node = await startTestNode({ services: SERVICES });
    db = await node.platform.db();
    secret = node.platform.secrets.jwtSecret;
    await node.broker.createService({
      name: "seat-listener",
      events: {
        "seats.changed"(ctx: { params: (typeof changes)[number] }) {
          changes.push(ctx.params);
        },
      },
    });
  });
  afterAll(() => node.stop());

  it("500 buyers racing for 100 seats: exactly 100 holds, the rest 409, and the database agrees", async () => {
    const session = await createSession(db);
    const buyers = Array.from({ length: 500 }, (_, i) => ({ ...tokenFor(secret), seat: session.seatIds[i % 100] }));
    const answers = await Promise.all(
      buyers.map((b) => node.http.as(b.token).post(`/api/sessions/${session.sessionId}/holds`, { seats: [b.seat] })),
    );
    const won = answers.filter((a) => a.status === 201);
    const lost = answers.filter((a) => a.status !== 201);
    expect(won).toHaveLength(100);
    expect(lost.every((a) => a.status === 409 && a.body.error.code === "SEAT_TAKEN")).toBe(true);
    expect(new Set(won.map((a) => a.body.seats[0])).size).toBe(100);

    const claims = await db("seat_claims").where({ session_id: session.sessionId });
    expect(claims).toHaveLength(100);
    expect(claims.every((c) => c.kind === "hold")).toBe(true);
    const holds = await db("holds").where({ session_id: session.sessionId });
    expect(holds).toHaveLength(100);
    const byHold = new Map(won.map((a) => [a.body.holdId, a.body.seats[0]]));
    for (const c of claims) expect(byHold.get(c.hold_id)).toBe(c.seat_id);

    const map = await node.http.get(`/api/sessions/${session.sessionId}/seat-map`);
    expect(map.body.status).toBe("h".repeat(100));

    // /metrics tells operators how the actors' commits reached the database (in cluster mode,
    // the metrics of the node that owns the session; this node serves only its own).
    if (ownerOf(node.broker, session.sessionId) !== node.broker.nodeID) return;
    const metrics = (await node.http.get("/metrics")).text;
    const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, "m").exec(metrics)?.[1]);
    expect(value("seats_commits_total")).toBeGreaterThan(0);
    expect(value("seats_commit_calls_total")).toBeGreaterThan(0);
    expect(value("seats_commit_calls_total")).toBeLessThanOrEqual(value("seats_commits_total"));
  });

  it("holds best available seats side by side, and GA places per area", async () => {
    const session = await createSession(db, { layout: gridLayout(2, 10, [{ id: "floor", name: "Floor", capacity: 3, category: "floor" }]) });
    const { token } = tokenFor(secret);
    const best = await node.http.as(token).post(`/api/sessions/${session.sessionId}/holds`, { quantity: 2, category: "standard", adjacent: true });
    expect(best.status).toBe(201);
    expect(best.body.seats).toEqual(["S1-2-5", "S1-2-6"]);
    expect(best.body.items[0]).toEqual({ seatId: "S1-2-5", label: "Stalls 2-5", category: "standard" });
    const ga = await node.http.as(token).post(`/api/sessions/${session.sessionId}/holds`, { quantity: 2, area: "floor" });
    expect(ga.status).toBe(201);
    expect(ga.body.seats).toEqual(["floor", "floor"]);
    const tooMany = await node.http.as(tokenFor(secret).token).post(`/api/sessions/${session.sessionId}/holds`, { quantity: 2, area: "floor" });
    expect(tooMany.status).toBe(409);
    const map = await node.http.get(`/api/sessions/${session.sessionId}/seat-map`);
    expect(map.body.areas).toEqual([{ id: "floor", capacity: 3, available: 1 }]);
  });

  it("serves the seat map with a version, ETag/304, gzip and a status-only form", async () => {
    const session = await createSession(db, { layout: gridLayout(1, 5) });
    const first = await node.http.get(`/api/sessions/${session.sessionId}/seat-map`);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ sessionId: session.sessionId, seatIds: session.seatIds, status: "aaaaa", prices: { premium: 9900 } });
    const etag = first.headers.get("etag")!;
    expect((await node.http.get(`/api/sessions/${session.sessionId}/seat-map`, { "if-none-match": etag })).status).toBe(304);

    const { token } = tokenFor(secret);
    await node.http.as(token).post(`/api/sessions/${session.sessionId}/holds`, { seats: [session.seatIds[2]] });
    const after = await node.http.get(`/api/sessions/${session.sessionId}/seat-map?statusOnly=1`, { "if-none-match": etag });
    expect(after.status).toBe(200);
    expect(after.body.seatIds).toBeUndefined();
    expect(after.body.status).toBe("aahaa");
    expect(after.body.version).toBeGreaterThan(first.body.version);

    const raw = await node.http.raw(`/api/sessions/${session.sessionId}/seat-map`, { "accept-encoding": "gzip" });
    expect(raw.headers["content-encoding"]).toBe("gzip");
    expect(JSON.parse(zlib.gunzipSync(raw.body).toString()).status).toBe("aahaa");

    await eventually("seats.changed event", async () => changes.some((c) => c.sessionId === session.sessionId && c.changes.some((x) => x.seatId === session.seatIds[2] && x.status === "h")));
  });

  it("follows an organizer's change of a session (prices, the sale's window) at once on its broadcast, within the TTL without it", async () => {
    const session = await createSession(db, { layout: gridLayout(1, 5) });
    const url = `/api/sessions/${session.sessionId}/seat-map?statusOnly=1`;
    const prices = async () => (await node.http.get(url)).body.prices;
    expect(await prices()).toEqual({ premium: 9900, standard: 4900, floor: 2900 });
    // What the sessions service does on an organizer's change: the row, then the broadcast.
    await db("sessions").where({ id: session.sessionId }).update({ prices: JSON.stringify({ premium: 12000, standard: 4900, floor: 2900 }) });
    await node.broker.broadcast("sessions.changed", { sessionId: session.sessionId, eventId: session.eventId, status: "scheduled" });
    const started = Date.now();
    await eventually("the new price in the seat map", async () => (await prices()).premium === 12000);
    expect(Date.now() - started).toBeLessThan(CATALOG_READ_TTL_MS / 2);
    // A change whose broadcast was lost (a node's connection dropped) shows once the TTL has run,
    // though nobody holds a seat meanwhile: readers alone keep the actor alive.
    await db("sessions").where({ id: session.sessionId }).update({ prices: JSON.stringify({ premium: 15000, standard: 4900, floor: 2900 }) });
    await new Promise((r) => setTimeout(r, CATALOG_READ_TTL_MS + 100));
    await eventually("the unannounced price in the seat map", async () => (await prices()).premium === 15000);

    // A sale put off by its organizer stops at once: the next hold is refused, operators see it.
    const { token } = tokenFor(secret);
    await db("sessions").where({ id: session.sessionId }).update({ sales_open_at: new Date(Date.now() + 3_600_000) });
    await node.broker.broadcast("sessions.changed", { sessionId: session.sessionId, eventId: session.eventId, status: "scheduled" });
    await eventually("the put-off sale in the summary", async () => {
      const summary = (await node.broker.call("seats.summary", { sessionId: session.sessionId })) as { onSale: boolean };
      return !summary.onSale;
    });
    const refused = await node.http.as(token).post(`/api/sessions/${session.sessionId}/holds`, { seats: [session.seatIds[0]] });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe("SALES_CLOSED");
  });

  it("lets only the holder (or an admin) read, extend or release a hold", async () => {
    const session = await createSession(db);
    const ann = tokenFor(secret);
    const bob = tokenFor(secret);
    const admin = tokenFor(secret, ["admin"]);
    const made = await node.http.as(ann.token).post(`/api/sessions/${session.sessionId}/holds`, { seats: [session.seatIds[0]] });
    expect(made.status).toBe(201);
    const hold = made.body;
    expect(made.headers.get("location")).toBe(`/api/holds/${hold.holdId}`);
    expect((await node.http.as(bob.token).get(`/api/holds/${hold.holdId}`)).status).toBe(404);
    expect((await node.http.as(bob.token).delete(`/api/holds/${hold.holdId}`)).status).toBe(404);
    expect((await node.http.as(bob.token).post(`/api/holds/${hold.holdId}/extend`)).status).toBe(404);
    expect((await node.http.get(`/api/holds/${hold.holdId}`)).status).toBe(401);
    const mine = await node.http.as(ann.token).get(`/api/holds/${hold.holdId}`);
    expect(mine.body).toMatchObject({ holdId: hold.holdId, sessionId: session.sessionId, userId: ann.user.id, status: "ACTIVE", seats: [session.seatIds[0]] });
    expect((await node.http.as(admin.token).get(`/api/holds/${hold.holdId}`)).status).toBe(200);
    const extended = await node.http.as(ann.token).post(`/api/holds/${hold.holdId}/extend`, { seconds: 900 });
    expect(extended.status).toBe(200);
    expect(Date.parse(extended.body.expiresAt)).toBeGreaterThan(Date.parse(hold.expiresAt));
    expect((await node.http.as(ann.token).delete(`/api/holds/${hold.holdId}`)).status).toBe(204);
    expect((await node.http.as(ann.token).get(`/api/holds/${hold.holdId}`)).body.status).toBe("RELEASED");
    const again = await node.http.as(bob.token).post(`/api/sessions/${session.sessionId}/holds`, { seats: [session.seatIds[0]] });
    expect(again.status).toBe(201);
  });

  it("a hold sent again with its Idempotency-Key answers with the same hold and never holds seats twice", async () => {
    const session = await createSession(db, { maxPerCustomer: 4 });
    const ann = tokenFor(secret);
    const bob = tokenFor(secret);
    const holds = `/api/sessions/${session.sessionId}/holds`;
    const key = { "Idempotency-Key": "ann-1" };
    // A buyer whose answer was lost sends again, several times at once.
    const sent = await Promise.all(Array.from({ length: 8 }, () => node.http.as(ann.token).request("POST", holds, { quantity: 2 }, key)));
    expect(sent.map((r) => r.status)).toEqual(Array(8).fill(201));
    const hold = sent[0].body;
    expect(new Set(sent.map((r) => r.body.holdId))).toEqual(new Set([hold.holdId]));
    expect(sent.every((r) => JSON.stringify(r.body.seats) === JSON.stringify(hold.seats))).toBe(true);
    expect(await db("holds").where({ session_id: session.sessionId, user_id: ann.user.id })).toHaveLength(1);
    expect(await db("seat_claims").where({ session_id: session.sessionId, kind: "hold" })).toHaveLength(2);

    // The node forgets the session (a restart, a move): the key still names the stored hold.
    await node.broker.call("seats.passivate", { sessionId: session.sessionId });
    const afterRestart = await node.http.as(ann.token).request("POST", holds, { quantity: 2 }, key);
    expect(afterRestart.status).toBe(201);
    expect(afterRestart.body).toMatchObject({ holdId: hold.holdId, seats: hold.seats, status: "ACTIVE" });

    // The same key for another request is refused; another buyer's same key is theirs alone.
    const reused = await node.http.as(ann.token).request("POST", holds, { quantity: 3 }, key);
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
    const bobs = await node.http.as(bob.token).request("POST", holds, { quantity: 2 }, key);
    expect(bobs.status).toBe(201);
    expect(bobs.body.holdId).not.toBe(hold.holdId);
    expect(bobs.body.seats.some((s: string) => hold.seats.includes(s))).toBe(false);
    // Without a key, every request is a hold of its own.
    const plain = await Promise.all([1, 2].map(() => node.http.as(ann.token).post(holds, { quantity: 1 })));
    expect(new Set(plain.map((r) => r.body.holdId)).size).toBe(2);

    // Released, the key does not hold the seats again: the buyer starts over with a new key.
    expect((await node.http.as(ann.token).delete(`/api/holds/${hold.holdId}`)).status).toBe(204);
    const ended = await node.http.as(ann.token).request("POST", holds, { quantity: 2 }, key);
    expect(ended.status).toBe(409);
    expect(ended.body.error.code).toBe("HOLD_EXPIRED");
    expect(await db("holds").where({ session_id: session.sessionId, user_id: ann.user.id, status: "ACTIVE" })).toHaveLength(2);
    const fresh = await node.http.as(ann.token).request("POST", holds, { quantity: 2 }, { "Idempotency-Key": "ann-2" });
    expect(fresh.status).toBe(201);

    const tooLong = await node.http.as(ann.token).request("POST", holds, { quantity: 1 }, { "Idempotency-Key": "k".repeat(201) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.details.fields[0].field).toBe("Idempotency-Key");
  });

  it("looks keyed holds up together: the ids asked for while one query is out go in the next", async () => {
    const session = await createSession(db);
    const ann = tokenFor(secret);
    const made = (await node.http.as(ann.token).post(`/api/sessions/${session.sessionId}/holds`, { quantity: 1 })).body.holdId as string;
    const finder = new HoldStatusFinder(db);
    const lookups: string[] = [];
    const onQuery = (q: { sql: string }) => {
      if (/from "holds" where "id" in/.test(q.sql)) lookups.push(q.sql);
    };
    db.on("query", onQuery);
    try {
      const ids = [made, ...Array.from({ length: 49 }, (_, i) => `never-made-${i}`), made];
      const found = await Promise.all(ids.map((id) => finder.find(id)));
      expect(found[0]).toBe("ACTIVE");
      expect(found[50]).toBe("ACTIVE");
      expect(found.slice(1, 50).every((s) => s === undefined)).toBe(true);
      // 51 look-ups: the first goes alone, the 50 asked for while it was out in one more.
      expect(lookups).toHaveLength(2);
    } finally {
      db.removeListener("query", onQuery);
    }
  });

  it("confirms a hold for an order idempotently, counts purchases against the limit, and unsells", async () => {
    const session = await createSession(db, { maxPerCustomer: 3 });
    const ann = tokenFor(secret);
    const hold = (await node.http.as(ann.token).post(`/api/sessions/${session.sessionId}/holds`, { quantity: 2 })).body;
    const sold = await node.broker.call<any, any>("seats.confirm", { sessionId: session.sessionId, holdId: hold.holdId, orderId: "order-1" });
    expect(sold.status).toBe("CONFIRMED");
    expect((await node.broker.call<any, any>("seats.confirm", { sessionId: session.sessionId, holdId: hold.holdId, orderId: "order-1" })).status).toBe("CONFIRMED");
    const over = await node.http.as(ann.token).post(`/api/sessions/${session.sessionId}/holds`, { quantity: 2 });
    expect(over.status).toBe(422);
    expect(over.body.error.code).toBe("LIMIT_EXCEEDED");
    expect(await db("seat_claims").where({ session_id: session.sessionId, kind: "sold", order_id: "order-1" })).toHaveLength(2);
    const unsold = await node.broker.call<any, any>("seats.unsell", { sessionId: session.sessionId, orderId: "order-1" });
    expect(unsold.seats).toEqual(hold.seats);
    expect(await node.broker.call<any, any>("seats.unsell", { sessionId: session.sessionId, orderId: "order-1" })).toEqual({ seats: [] });
    expect((await node.http.as(ann.token).post(`/api/sessions/${session.sessionId}/holds`, { quantity: 2 })).status).toBe(201);
    expect(await db("seat_claims").where({ session_id: session.sessionId, kind: "sold" })).toHaveLength(0);
  });

  it("answers bad input with a clear 4xx and changes nothing", async () => {
    const session = await createSession(db, { maxPerCustomer: 4 });
    const closed = await createSession(db, { eventStatus: "draft" });
    const notYet = await createSession(db, { salesOpenAt: new Date(Date.now() + 3600_000) });
    const { token } = tokenFor(secret);
    const buyer = node.http.as(token);
    const before = (await node.http.get(`/api/sessions/${session.sessionId}/seat-map`)).body;
    const holdsUrl = `/api/sessions/${session.sessionId}/holds`;
    const cases: Array<[string, unknown, number, string]> = [
      [holdsUrl, { seats: ["S1-1-1", "nope"] }, 400, "UNKNOWN_SEATS"],
      [holdsUrl, { seats: ["S1-1-1", "S1-1-1"] }, 400, "DUPLICATE_SEATS"],
      [holdsUrl, { seats: [] }, 400, "VALIDATION_ERROR"],
      [holdsUrl, { quantity: 0 }, 400, "VALIDATION_ERROR"],
      [holdsUrl, { quantity: 1_000_000 }, 400, "VALIDATION_ERROR"],
      [holdsUrl, { quantity: 1.5 }, 400, "VALIDATION_ERROR"],
      [holdsUrl, { quantity: 5 }, 422, "LIMIT_EXCEEDED"],
      [holdsUrl, { quantity: 2, category: "vip" }, 400, "UNKNOWN_CATEGORY"],
      [holdsUrl, { quantity: 2, area: "nowhere" }, 400, "UNKNOWN_AREA"],
      [holdsUrl, { seats: ["S1-1-1"], quantity: 1 }, 400, "VALIDATION_ERROR"],
      [holdsUrl, {}, 400, "VALIDATION_ERROR"],
      [holdsUrl, { seats: ["S1-1-1"], price: 1 }, 400, "VALIDATION_ERROR"],
      // The holder is the token's user: a body cannot name another one.
      [holdsUrl, { quantity: 1, userId: "someone-else" }, 400, "VALIDATION_ERROR"],
      [`/api/sessions/no-such-session/holds`, { quantity: 1 }, 404, "NOT_FOUND"],
      [`/api/sessions/${closed.sessionId}/holds`, { quantity: 1 }, 422, "SALES_CLOSED"],
      [`/api/sessions/${notYet.sessionId}/holds`, { quantity: 1 }, 422, "SALES_CLOSED"],
    ];
    for (const [url, body, status, code] of cases) {
      const res = await buyer.post(url, body);
      expect({ url, body, status: res.status, code: res.body?.error?.code }).toEqual({ url, body, status, code });
    }
    expect((await node.http.post(holdsUrl, { quantity: 1 })).status).toBe(401);
    expect((await buyer.get("/api/holds/not-a-hold")).status).toBe(404);
    expect((await buyer.delete("/api/holds/not-a-hold")).status).toBe(404);
    expect((await node.http.get("/api/sessions/no-such-session/seat-map")).status).toBe(404);
    const after = (await node.http.get(`/api/sessions/${session.sessionId}/seat-map`)).body;
    expect(after).toEqual(before);
    expect(await db("holds").where({ session_id: session.sessionId })).toHaveLength(0);
    // Internal calls without a session key are refused, not routed at random.
    await expect(node.broker.call("seats.hold", { quantity: 1 })).rejects.toMatchObject({ name: "ValidationError" });
  });

  it("releases expired holds on its own; an expired hold cannot be confirmed or extended", async () => {
    const session = await createSession(db, { holdSeconds: 1 });
    const ann = tokenFor(secret);
    const hold = (await node.http.as(ann.token).post(`/api/sessions/${session.sessionId}/holds`, { seats: [session.seatIds[0], session.seatIds[1]] })).body;
    expect(hold.seats).toHaveLength(2);
    await eventually("the hold to expire in the database", async () => (await db("holds").where({ id: hold.holdId }).first()).status === "EXPIRED");
    expect(await db("seat_claims").where({ session_id: session.sessionId })).toHaveLength(0);
    expect((await node.http.get(`/api/sessions/${session.sessionId}/seat-map?statusOnly=1`)).body.status.slice(0, 2)).toBe("aa");
    expect((await node.http.as(ann.token).get(`/api/holds/${hold.holdId}`)).body.status).toBe("EXPIRED");
    const ext = await node.http.as(ann.token).post(`/api/holds/${hold.holdId}/extend`);
    expect([ext.status, ext.body.error.code]).toEqual([409, "HOLD_EXPIRED"]);
    await expect(node.broker.call("seats.confirm", { sessionId: session.sessionId, holdId: hold.holdId, orderId: "late-order" })).rejects.toMatchObject({
      code: 409,
      type: "HOLD_EXPIRED",
    });
    expect((await node.http.as(ann.token).delete(`/api/holds/${hold.holdId}`)).status).toBe(409);
  });

  it("lets the organizer block and unblock seats", async () => {
    const organizer = tokenFor(secret, ["organizer"]);
    const other = tokenFor(secret, ["organizer"]);
    const session = await createSession(db, { layout: gridLayout(1, 4), organizerId: organizer.user.id });
    const url = `/api/sessions/${session.sessionId}/blocks`;
    expect((await node.http.as(other.token).post(url, { seats: ["S1-1-1"], blocked: true })).status).toBe(404);
    expect((await node.http.as(tokenFor(secret).token).post(url, { seats: ["S1-1-1"], blocked: true })).status).toBe(403);
    expect((await node.http.as(organizer.token).post(url, { seats: ["S1-1-1", "S1-1-2"], blocked: true })).status).toBe(200);
    expect((await node.http.get(`/api/sessions/${session.sessionId}/seat-map`)).body.status).toBe("bbaa");
    const buy = await node.http.as(tokenFor(secret).token).post(`/api/sessions/${session.sessionId}/holds`, { seats: ["S1-1-1"] });
    expect(buy.status).toBe(409);
    await node.http.as(organizer.token).post(url, { seats: ["S1-1-1"], blocked: false });
    expect((await node.http.get(`/api/sessions/${session.sessionId}/seat-map`)).body.status).toBe("abaa");
  });

  it("fencing: an actor whose epoch was taken over cannot commit, and steps down", async () => {
    const session = await createSession(db);
    const opts = { knex: db, sessionId: session.sessionId };
    const old = (await SessionActor.activate({ ...opts, nodeID: "old-owner" }))!;
    await old.hold({ userId: "u1", seats: [session.seatIds[0]] }, "fence-h1");
    const usurper = (await SessionActor.activate({ ...opts, nodeID: "new-owner" }))!;
    expect(usurper.epoch).toBe(old.epoch + 1);
    await expect(old.hold({ userId: "u2", seats: [session.seatIds[1]] }, "fence-h2")).rejects.toMatchObject({ name: "ActorUnavailable" });
    expect(old.active).toBe(false);
    // The old owner's write never landed; the new owner has the committed state and can sell the seat.
    expect(await db("holds").where({ id: "fence-h2" })).toHaveLength(0);
    expect(usurper.map.encodeStatus().slice(0, 2)).toBe("ha");
    await usurper.hold({ userId: "u3", seats: [session.seatIds[1]] }, "fence-h3");
    expect((await db("seat_claims").where({ session_id: session.sessionId, seat_id: session.seatIds[1] }).first()).hold_id).toBe("fence-h3");
    await usurper.passivate();
  });

  it("a session's data that cannot be re-read (the database not answering) leaves the actor answering with what it knows", async () => {
    const session = await createSession(db, { layout: gridLayout(1, 5) });
    let refuse = false;
    // The node's database, refusing the session's row while `refuse` is set.
    const flaky = new Proxy(db, {
      apply(target, self, args: [string]) {
        if (refuse && args[0] === "sessions as s") throw new Error("connection terminated");
        return Reflect.apply(target, self, args);
      },
      get(target, key) {
        const v = Reflect.get(target, key);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const actor = (await SessionActor.activate({ knex: flaky, sessionId: session.sessionId, nodeID: "flaky" }))!;
    try {
      refuse = true;
      await db("sessions").where({ id: session.sessionId }).update({ prices: JSON.stringify({ premium: 11000, standard: 4900, floor: 2900 }) });
      actor.infoChanged();
      expect((await actor.freshInfo()).prices).toEqual({ premium: 9900, standard: 4900, floor: 2900 });
      expect(await actor.read((map) => map.encodeStatus())).toBe("aaaaa");
      // Once the database answers, the next call reads the change.
      refuse = false;
      expect((await actor.freshInfo()).prices.premium).toBe(11000);
    } finally {
      await actor.passivate();
    }
  });

  it("epoch checks while membership settles: calls at once share a read of the row, and a takeover still fences every one", async () => {
    const session = await createSession(db);
    const opts = { knex: db, sessionId: session.sessionId };
    const old = (await SessionActor.activate({ ...opts, nodeID: "old-owner" }))!;
    let reads = 0;
    const count = (q: { sql: string }) => void (/seat_actors/.test(q.sql) && /^select/i.test(q.sql) && reads++);
    db.on("query", count);
    try {
      await Promise.all(Array.from({ length: 40 }, () => old.verifyEpoch()));
      // The first call's read, and one read after it for the 39 that arrived while it ran.
      expect(reads).toBeLessThanOrEqual(2);
      expect(old.active).toBe(true);
      const usurper = (await SessionActor.activate({ ...opts, nodeID: "new-owner" }))!;
      reads = 0;
      const checks = await Promise.allSettled(Array.from({ length: 40 }, () => old.verifyEpoch()));
      expect(checks.every((c) => c.status === "rejected" && (c.reason as Error).name === "ActorUnavailable")).toBe(true);
      expect(reads).toBeLessThanOrEqual(2);
      expect(old.active).toBe(false);
      await usurper.passivate();
    } finally {
      db.off("query", count);
    }
  });

  it("several sessions' commits share one call, and a fenced session's batch fails alone", async () => {
    const [a, b, c] = await Promise.all([createSession(db), createSession(db), createSession(db)]);
    const calls: number[] = [];
    const committer = new SeatCommitter(db, { onCall: (batches) => calls.push(batches) });
    const actor = async (s: typeof a) => (await SessionActor.activate({ knex: db, sessionId: s.sessionId, nodeID: "shared", committer }))!;
    const [actorA, actorB, actorC] = [await actor(a), await actor(b), await actor(c)];
    // Another node takes session B over: actorB's next batch must be refused, and only it.
    const usurper = (await SessionActor.activate({ knex: db, sessionId: b.sessionId, nodeID: "usurper" }))!;

    // A's commit goes out alone; B's and C's, arriving while it is in flight, go out together.
    const results = await Promise.allSettled([
      actorA.hold({ userId: "u1", seats: [a.seatIds[0]] }, "shared-a"),
      actorB.hold({ userId: "u2", seats: [b.seatIds[0]] }, "shared-b"),
      actorC.hold({ userId: "u3", seats: [c.seatIds[0], c.seatIds[1]] }, "shared-c"),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ name: "ActorUnavailable" });
    expect(calls).toEqual([1, 2]);

    expect(actorB.active).toBe(false);
    expect(await db("holds").whereIn("id", ["shared-a", "shared-b", "shared-c"]).orderBy("id").pluck("id")).toEqual(["shared-a", "shared-c"]);
    expect(await db("seat_claims").where({ session_id: c.sessionId }).orderBy("seat_id").pluck("seat_id")).toEqual([c.seatIds[0], c.seatIds[1]].sort());
    expect(await db("seat_claims").where({ session_id: b.sessionId })).toHaveLength(0);
    expect(Number((await db("seat_actors").where({ session_id: c.sessionId }).first()).version)).toBe(actorC.map.version);
    // The survivors go on committing through the same committer; B's new owner sells B's seat.
    await actorC.release("shared-c");
    await usurper.hold({ userId: "u4", seats: [b.seatIds[0]] }, "shared-b2");
    expect(await db("seat_claims").where({ session_id: c.sessionId })).toHaveLength(0);
    await Promise.all([actorA.passivate(), actorC.passivate(), usurper.passivate()]);
  });

  it("a hold on each of 40 sessions at once: fewer calls than commits, every hold stored", async () => {
    const sessions = await Promise.all(Array.from({ length: 40 }, () => createSession(db, { layout: gridLayout(1, 10) })));
    const calls: number[] = [];
    const committer = new SeatCommitter(db, { onCall: (batches) => calls.push(batches) });
    const actors = await Promise.all(sessions.map(async (s) => (await SessionActor.activate({ knex: db, sessionId: s.sessionId, nodeID: "many", committer }))!));
    const holds = await Promise.all(actors.map((a, i) => a.hold({ userId: `u${i}`, quantity: 2 }, `many-sessions-${i}`)));
    expect(holds.every((h) => h.seats.length === 2)).toBe(true);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(40);
    expect(calls.length).toBeLessThan(10);
    const stored = await db("seat_claims").whereIn("session_id", sessions.map((s) => s.sessionId)).count<{ n: string }[]>({ n: "*" });
    expect(Number(stored[0].n)).toBe(80);
    await Promise.all(actors.map((a) => a.passivate()));
  });

  it("a confirm reads only the claims it changes, however many seats the session has taken", async () => {
    const session = await createSession(db, { layout: gridLayout(20, 50) });
    const actor = (await SessionActor.activate({ knex: db, sessionId: session.sessionId, nodeID: "n" }))!;
    try {
      for (let i = 0; i < 100; i++) await actor.hold({ userId: `u${i}`, seats: session.seatIds.slice(i * 10, i * 10 + 10) }, `many-h${i}`);
      const read = async () => (await rowsRead(db, ["seat_claims"])).seat_claims;
      // Three confirms, each counted alone; the fewest counted, in case another reader (a sweep of
      // the node under test) ran meanwhile. seat_commit's DELETE once read all 1,000 every time.
      const counted: number[] = [];
      for (const i of [42, 43, 44]) {
        await read();
        const before = await read();
        await actor.confirm(`many-h${i}`, `many-order-${i}`);
        counted.push((await read()) - before);
      }
      expect(await db("seat_claims").where({ session_id: session.sessionId })).toHaveLength(1000);
      expect(await db("seat_claims").where({ session_id: session.sessionId, kind: "sold" })).toHaveLength(30);
      // The 10 claims each replaced, not the session's 1,000.
      expect(Math.min(...counted)).toBeLessThan(100);
    } finally {
      await actor.passivate();
    }
  });

  it("the database refuses a second claim on a seat even from a buggy actor", async () => {
    const session = await createSession(db);
    const actor = (await SessionActor.activate({ knex: db, sessionId: session.sessionId, nodeID: "n" }))!;
    await actor.hold({ userId: "u1", seats: [session.seatIds[0]] }, "dup-h1");
    await expect(
      db("seat_claims").insert({ session_id: session.sessionId, seat_id: session.seatIds[0], kind: "hold", hold_id: "dup-h2", user_id: "u2" }),
    ).rejects.toThrow(/duplicate key/);
    await actor.passivate();
  });
});

describe("the expiry sweep on a new node", () => {
  it("reads the active holds only, however many holds have ended since its plan was made", async () => {
    const node = await startTestNode({ services: SERVICES });
    try {
      const db = await node.platform.db();
      const session = await createSession(db);
      // The sweep (every second) plans its statement while the table is recorded as empty (a
      // VACUUM of the empty table, as maintenance rounds did on a new node), then 2,000 holds end.
      await db.raw("VACUUM holds");
      for (let i = 0; i < 8; i++) await sessionsWithHoldsDue(db, Date.now());
      await db.raw(
        `INSERT INTO holds (id, session_id, user_id, items, quantity, expires_at, status)
         SELECT 'ended-' || g, ?, 'u', '[]'::jsonb, 1, now(), 'RELEASED' FROM generate_series(1, 2000) AS g`,
        [session.sessionId],
      );
      const read = async () => (await rowsRead(db, ["holds"])).holds;
      const counted: number[] = [];
      for (let i = 0; i < 3; i++) {
        await read();
        const before = await read();
        await sessionsWithHoldsDue(db, Date.now());
        counted.push((await read()) - before);
      }
      // A plan made on the empty table read all 2,000 on every sweep.
      expect(Math.min(...counted)).toBeLessThan(100);
    } finally {
      await node.stop();
    }
  });
});

describe("seats across a node restart (same database)", () => {
  it("keeps holds and their expiry", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-seats-"));
    try {
      let node = await startTestNode({ services: SERVICES, env: { DATA_DIR: dataDir, JWT_SECRET: "seats-restart-test-secret-0123456789" } });
      let db = await node.platform.db();
      const secret = node.platform.secrets.jwtSecret;
      const session = await createSession(db, { holdSeconds: 4 });
      const keeper = await createSession(db);
      const ann = tokenFor(secret);
      const hold = (await node.http.as(ann.token).post(`/api/sessions/${session.sessionId}/holds`, { seats: [session.seatIds[0]] })).body;
      const kept = (await node.http.as(ann.token).post(`/api/sessions/${keeper.sessionId}/holds`, { seats: [keeper.seatIds[5]] })).body;
      await node.stop();

      node = await startTestNode({ services: SERVICES, env: { DATA_DIR: dataDir, JWT_SECRET: "seats-restart-test-secret-0123456789" } });
      db = await node.platform.db();
      const again = await node.http.as(ann.token).get(`/api/holds/${kept.holdId}`);
      expect(again.body).toMatchObject({ status: "ACTIVE", expiresAt: kept.expiresAt, seats: [keeper.seatIds[5]] });
      const rival = await node.http.as(tokenFor(secret).token).post(`/api/sessions/${keeper.sessionId}/holds`, { seats: [keeper.seatIds[5]] });
      expect(rival.status).toBe(409);
      // Nobody touches the short session after the restart: its hold still expires, from the data.
      await eventually("the short hold to expire after the restart", async () => (await db("holds").where({ id: hold.holdId }).first()).status === "EXPIRED");
      expect(await db("seat_claims").where({ session_id: session.sessionId })).toHaveLength(0);
      await node.stop();
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
