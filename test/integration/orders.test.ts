/**
 * Orders and payments through REST on an embedded node, with a small in-test seats/holds
 * service that keeps the contract of shared/CONTRACTS.md ("Seats"), so that the saga's effects
 * on seats can be observed directly.
 */
import fs from "fs";
import os from "os";
import path from "path";
import { randomUUID } from "crypto";
import type { Context, ServiceSchema } from "moleculer";
import { signAccessToken, AuthUser } from "../../src/platform/auth";
import { conflict, notFound } from "../../src/platform/errors";
import { TEST_CARDS } from "../../src/domain/payments";
import { HttpClient } from "../helpers/node";
import { startTestNode, TestNode } from "../helpers/node";
import { waitFor } from "../helpers/infra";

interface FakeHold {
  holdId: string;
  sessionId: string;
  userId: string;
  items: { seatId: string; label: string; category: string }[];
  expiresAt: number;
  status: "ACTIVE" | "CONFIRMED" | "RELEASED" | "EXPIRED";
  orderId?: string;
}

/** What the fake seat actor knows: holds and which seats are sold to which order. */
class FakeSeats {
  holds = new Map<string, FakeHold>();
  sold = new Map<string, string>(); // seatId -> orderId
  calls: string[] = [];

  hold(userId: string, sessionId: string, seats: { seatId: string; category: string }[], ttlMs = 600_000): FakeHold {
    const hold: FakeHold = {
      holdId: randomUUID(),
      sessionId,
      userId,
      items: seats.map((s) => ({ seatId: s.seatId, label: s.seatId.toUpperCase(), category: s.category })),
      expiresAt: Date.now() + ttlMs,
      status: "ACTIVE",
    };
    this.holds.set(hold.holdId, hold);
    return hold;
  }

  view(h: FakeHold) {
    if (h.status === "ACTIVE" && h.expiresAt <= Date.now()) h.status = "EXPIRED";
    return {
      holdId: h.holdId,
      sessionId: h.sessionId,
      userId: h.userId,
      seats: h.items.map((i) => i.seatId),
      items: h.items,
      expiresAt: new Date(h.expiresAt).toISOString(),
      status: h.status,
    };
  }

  schemas(): ServiceSchema[] {
    const self: FakeSeats = this as FakeSeats;
    return [
      {
        name: "holds",
        actions: {
          get: {
            params: { id: { type: "string", max: 64 } },
            handler(ctx: Context<{ id: string }, { user?: AuthUser }>) {
              const h = self.holds.get(ctx.params.id);
              const user = ctx.meta.user;
              if (!h || !user || (h.userId !== user.id && !user.roles.includes("admin"))) throw notFound("Hold");
              return self.view(h);
            },
          },
        },
      },
      {
        name: "seats",
        actions: {
          confirm: {
            params: { sessionId: "string", holdId: "string", orderId: "string" },
            handler(ctx: Context<{ sessionId: string; holdId: string; orderId: string }>) {
              self.calls.push(`confirm:${ctx.params.orderId}`);
              const h = self.holds.get(ctx.params.holdId);
              if (!h) throw notFound("Hold");
              if (h.status === "CONFIRMED" && h.orderId === ctx.params.orderId) return self.view(h);
              if (self.view(h).status !== "ACTIVE") throw conflict("HOLD_EXPIRED", "The hold expired.");
              h.status = "CONFIRMED";
              h.orderId = ctx.params.orderId;
              for (const i of h.items) {
                if (self.sold.has(i.seatId)) throw new Error(`seat ${i.seatId} sold twice`);
                self.sold.set(i.seatId, ctx.params.orderId);
              }
              return self.view(h);
            },
          },
          release: {
            params: { sessionId: "string", holdId: "string" },
            handler(ctx: Context<{ sessionId: string; holdId: string }>) {
              self.calls.push(`release:${ctx.params.holdId}`);
              const h = self.holds.get(ctx.params.holdId);
              if (h && h.status === "ACTIVE") h.status = "RELEASED";
              return { released: true };
            },
          },
          unsell: {
            params: { sessionId: "string", orderId: "string" },
            handler(ctx: Context<{ sessionId: string; orderId: string }>) {
              self.calls.push(`unsell:${ctx.params.orderId}`);
              const seats = [...self.sold].filter(([, o]) => o === ctx.params.orderId).map(([s]) => s);
              seats.forEach((s) => self.sold.delete(s));
              return { seats };
            },
          },
        },
      },
    ];
  }
}

const CARD = (number: string) => ({ method: "card", card: { number, expMonth: 12, expYear: new Date().getUTCFullYear() + 2, cvc: "123" } });

async function catalogFixture(node: TestNode) {
  const db = await node.platform.db();
  const venueId = randomUUID();
  const eventId = randomUUID();
  const sessionId = randomUUID();
  await db("venues").insert({ id: venueId, name: "Hall", city: "Berlin", address: "", layout: JSON.stringify({ sections: [] }), seat_count: 0, capacity: 0 });
  await db("events").insert({ id: eventId, title: "Concert", category: "music", city: "Berlin", status: "on_sale" });
  await db("sessions").insert({
    id: sessionId,
    event_id: eventId,
    venue_id: venueId,
    starts_at: new Date(Date.now() + 86_400_000),
    ends_at: new Date(Date.now() + 90_000_000),
    prices: JSON.stringify({ A: 5000, B: 2500 }),
    currency: "EUR",
  });
  return { sessionId, eventId };
}

describe("orders and payments (embedded)", () => {
  let node: TestNode;
  let seats: FakeSeats;
  let sessionId: string;
  let eventId: string;
  let seatCounter = 0;

  const buyer = () => {
    const user: AuthUser = { id: randomUUID(), email: `b${seatCounter++}@example.com`, name: "Ada Buyer", roles: ["buyer"] };
    return { user, http: node.http.as(signAccessToken(node.platform.secrets.jwtSecret, user)) };
  };
  const holdFor = (user: AuthUser, categories = ["A", "B"], ttlMs?: number) =>
    seats.hold(user.id, sessionId, categories.map((category) => ({ seatId: `s${seatCounter++}`, category })), ttlMs);
  const order = (http: HttpClient, holdId: string, number: string = TEST_CARDS.success, key: string | null = randomUUID()) =>
    http.post("/api/orders", { holdId, payment: CARD(number) }, key ? { "idempotency-key": key } : {});
  const settled = async (http: HttpClient, orderId: string, want?: string) =>
    waitFor(`order ${orderId} ${want ?? "settled"}`, async () => {
      const res = await http.get(`/api/orders/${orderId}`);
      return (want ? res.body.status === want : res.body.status !== "PENDING") && res;
    }, 30_000);
  const count = async (table: string, where: Record<string, unknown> = {}) =>
    Number((await (await node.platform.db())(table).where(where).count<{ c: number }[]>({ c: "*" }))[0].c);
  const outboxFor = async (orderId: string) =>
    (await (await node.platform.db())("outbox").where({ key: orderId }).orderBy("seq")).map((r: { channel: string; payload: unknown }) => r);

  beforeAll(async () => {
    seats = new FakeSeats();
    node = await startTestNode({ services: ["api", "orders", "payments"], schemas: seats.schemas() });
    ({ sessionId, eventId } = await catalogFixture(node));
  });
  afterAll(() => node.stop());

  it("confirms an order paid with the success card: priced from the session, captured, seats sold, event written", async () => {
    const { user, http } = buyer();
    const hold = holdFor(user);
    const res = await order(http, hold.holdId);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ orderId: expect.any(String), status: "PENDING" });
    const done = await settled(http, res.body.orderId);
    expect(done.body).toMatchObject({
      id: res.body.orderId,
      status: "CONFIRMED",
      total: 7500,
      currency: "EUR",
      sessionId,
      eventId,
      items: [
        { position: 1, seatId: hold.items[0].seatId, seatLabel: hold.items[0].label, category: "A", amountCents: 5000 },
        { position: 2, seatId: hold.items[1].seatId, seatLabel: hold.items[1].label, category: "B", amountCents: 2500 },
      ],
    });
    expect(hold.status).toBe("CONFIRMED");
    expect(seats.sold.get(hold.items[0].seatId)).toBe(res.body.orderId);

    const payment = await http.get(`/api/payments/${done.body.paymentId}`);
    expect(payment.status).toBe(200);
    expect(payment.body).toMatchObject({ orderId: res.body.orderId, status: "CAPTURED", amountCents: 7500, currency: "EUR", card: { brand: "visa", last4: "4242" } });

    const events = await outboxFor(res.body.orderId);
    expect(events.map((e) => e.channel)).toEqual(["orders.confirmed"]);
    expect(events[0].payload).toMatchObject({ orderId: res.body.orderId, userId: user.id, email: user.email, holderName: "Ada Buyer", totalCents: 7500, sessionId, eventId });

    // The card number and CVC are nowhere in the database.
    const db = await node.platform.db();
    const dump = JSON.stringify([await db("payments"), await db("orders"), await db("mock_provider_operations"), await db("mock_provider_authorizations")]);
    expect(dump).not.toContain(TEST_CARDS.success);
    expect(dump).not.toContain('"123"');
  });

  it("fails a declined card with PAYMENT_DECLINED and puts the seats back on sale", async () => {
    const { user, http } = buyer();
    const hold = holdFor(user);
    const res = await order(http, hold.holdId, TEST_CARDS.declined);
    expect(res.status).toBe(202);
    const done = await settled(http, res.body.orderId);
    expect(done.body).toMatchObject({ status: "FAILED", reason: "PAYMENT_DECLINED" });
    await waitFor("hold released", async () => hold.status === "RELEASED");
    expect(seats.sold.get(hold.items[0].seatId)).toBeUndefined();
    const payment = await http.get(`/api/payments/${done.body.paymentId}`);
    expect(payment.body).toMatchObject({ status: "DECLINED", declineCode: "card_declined", card: { last4: "0002" } });
    expect((await outboxFor(res.body.orderId)).map((e) => e.channel)).toEqual(["orders.failed"]);
  });

  it("fails a card without funds with INSUFFICIENT_FUNDS", async () => {
    const { user, http } = buyer();
    const hold = holdFor(user);
    const res = await order(http, hold.holdId, TEST_CARDS.insufficientFunds);
    const done = await settled(http, res.body.orderId);
    expect(done.body).toMatchObject({ status: "FAILED", reason: "INSUFFICIENT_FUNDS" });
    await waitFor("hold released", async () => hold.status === "RELEASED");
    expect((await outboxFor(res.body.orderId))[0].payload).toMatchObject({ reason: "INSUFFICIENT_FUNDS", email: user.email });
  });

  it("answers at once for the slow card and confirms when the provider does", async () => {
    const { user, http } = buyer();
    const hold = holdFor(user);
    const res = await order(http, hold.holdId, TEST_CARDS.slow);
    expect(res.status).toBe(202);
    expect(res.body.status).toBe("PENDING");
    const done = await settled(http, res.body.orderId);
    expect(done.body.status).toBe("CONFIRMED");
  });

  it("fails with HOLD_EXPIRED and voids the authorization when the hold runs out during payment", async () => {
    const { user, http } = buyer();
    // The slow card takes 3 s to authorize; the hold ends before that.
    const hold = holdFor(user, ["A"], 1500);
    const res = await order(http, hold.holdId, TEST_CARDS.slow);
    expect(res.status).toBe(202);
    const done = await settled(http, res.body.orderId);
    expect(done.body).toMatchObject({ status: "FAILED", reason: "HOLD_EXPIRED" });
    await waitFor("voided", async () => (await http.get(`/api/payments/${done.body.paymentId}`)).body.status === "VOIDED");
    const db = await node.platform.db();
    const payment = await db("payments").where({ order_id: res.body.orderId }).first();
    expect((await db("mock_provider_authorizations").where({ id: payment.authorization_id }).first()).status).toBe("voided");
    expect(seats.sold.get(hold.items[0].seatId)).toBeUndefined();
  });

  it("refuses an already expired hold with 409 HOLD_EXPIRED and writes nothing", async () => {
    const { user, http } = buyer();
    const hold = holdFor(user, ["A"], -1000);
    const before = [await count("orders"), await count("payments")];
    const res = await order(http, hold.holdId);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("HOLD_EXPIRED");
    expect([await count("orders"), await count("payments")]).toEqual(before);
  });

  it("returns the same order for a repeated Idempotency-Key and charges once", async () => {
    const { user, http } = buyer();
    const hold = holdFor(user);
    const key = randomUUID();
    const [a, b] = await Promise.all([order(http, hold.holdId, TEST_CARDS.success, key), order(http, hold.holdId, TEST_CARDS.success, key)]);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.body.orderId).toBe(a.body.orderId);
    await settled(http, a.body.orderId, "CONFIRMED");
    const again = await order(http, hold.holdId, TEST_CARDS.success, key);
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ orderId: a.body.orderId, status: "CONFIRMED" });
    expect(await count("orders", { user_id: user.id })).toBe(1);
    expect(await count("payments", { user_id: user.id })).toBe(1);
    const db = await node.platform.db();
    const auths = await db("mock_provider_operations").where("idempotency_key", "like", `${(await db("payments").where({ user_id: user.id }).first()).id}:%`);
    expect(auths.map((o: { operation: string }) => o.operation).sort()).toEqual(["authorize", "capture"]);

    // The same key for another request is refused, not silently answered with the first order.
    const other = holdFor(user);
    const reused = await order(http, other.holdId, TEST_CARDS.success, key);
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
    // A second order for the same hold under a new key is refused too.
    const twice = await order(http, hold.holdId, TEST_CARDS.success, randomUUID());
    expect(twice.status).toBe(409);
  });

  it("hides another user's order and payment (404) but shows them to an admin", async () => {
    const owner = buyer();
    const res = await order(owner.http, holdFor(owner.user).holdId);
    const done = await settled(owner.http, res.body.orderId);
    const stranger = buyer();
    expect((await stranger.http.get(`/api/orders/${res.body.orderId}`)).status).toBe(404);
    expect((await stranger.http.get(`/api/payments/${done.body.paymentId}`)).status).toBe(404);
    expect((await stranger.http.post(`/api/orders/${res.body.orderId}/cancel`)).status).toBe(404);
    expect((await stranger.http.get("/api/orders/my")).body).toEqual({ items: [], total: 0, page: 1, pageSize: 20 });
    // Someone else's hold cannot be bought either.
    const foreign = await order(stranger.http, holdFor(owner.user).holdId);
    expect(foreign.status).toBe(404);
    const admin = node.http.as(signAccessToken(node.platform.secrets.jwtSecret, { id: randomUUID(), email: "a@example.com", name: "Admin", roles: ["admin"] }));
    expect((await admin.get(`/api/orders/${res.body.orderId}`)).status).toBe(200);
    expect((await admin.get(`/api/payments/${done.body.paymentId}`)).status).toBe(200);
    expect((await node.http.get(`/api/orders/${res.body.orderId}`)).status).toBe(401);
  });

  it("lists the buyer's own orders, newest first", async () => {
    const { user, http } = buyer();
    const first = await order(http, holdFor(user).holdId);
    const second = await order(http, holdFor(user).holdId, TEST_CARDS.declined);
    await settled(http, first.body.orderId);
    await settled(http, second.body.orderId);
    const list = await http.get("/api/orders/my");
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ total: 2, page: 1, pageSize: 20 });
    expect(list.body.items.map((o: { id: string }) => o.id)).toEqual([second.body.orderId, first.body.orderId]);
    const failed = await http.get("/api/orders/my?status=FAILED");
    expect(failed.body.items.map((o: { id: string }) => o.id)).toEqual([second.body.orderId]);
  });

  it("cancels a confirmed order: refund recorded, seats back on sale, cancellation event written", async () => {
    const { user, http } = buyer();
    const hold = holdFor(user);
    const res = await order(http, hold.holdId);
    const done = await settled(http, res.body.orderId, "CONFIRMED");
    const cancel = await http.post(`/api/orders/${res.body.orderId}/cancel`);
    expect(cancel.status).toBe(202);
    expect(cancel.body).toEqual({ orderId: res.body.orderId, status: "CANCELLED" });
    const refunded = await settled(http, res.body.orderId, "REFUNDED");
    expect(refunded.body.refundedCents).toBe(7500);
    const payment = await http.get(`/api/payments/${done.body.paymentId}`);
    expect(payment.body).toMatchObject({ status: "REFUNDED", refundedCents: 7500 });
    expect(seats.sold.get(hold.items[0].seatId)).toBeUndefined();
    expect(seats.sold.get(hold.items[1].seatId)).toBeUndefined();
    const events = await outboxFor(res.body.orderId);
    expect(events.map((e) => e.channel)).toEqual(["orders.confirmed", "orders.cancelled"]);
    expect(events[1].payload).toEqual({ orderId: res.body.orderId, userId: user.id, email: user.email, refundedCents: 7500 });
    // Cancelling again changes nothing; a failed order cannot be cancelled.
    const again = await http.post(`/api/orders/${res.body.orderId}/cancel`);
    expect(again.status).toBe(202);
    expect(again.body.status).toBe("REFUNDED");
    expect(await count("outbox", { key: res.body.orderId })).toBe(2);
    const declined = await order(http, holdFor(user).holdId, TEST_CARDS.declined);
    await settled(http, declined.body.orderId);
    const refused = await http.post(`/api/orders/${declined.body.orderId}/cancel`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("ORDER_NOT_CANCELLABLE");
  });

  it("rejects bad input with a clear 4xx and changes nothing", async () => {
    const { user, http } = buyer();
    const hold = holdFor(user);
    const before = [await count("orders"), await count("payments"), await count("mock_provider_operations")];
    const bad = async (body: unknown, headers: Record<string, string> = { "idempotency-key": randomUUID() }) => http.post("/api/orders", body, headers);

    const luhn = await bad({ holdId: hold.holdId, payment: CARD("4242424242424241") });
    expect(luhn.status).toBe(400);
    expect(luhn.body.error.code).toBe("VALIDATION_ERROR");
    expect(luhn.body.error.details.fields[0].field).toBe("payment.card.number");

    const expired = await bad({ holdId: hold.holdId, payment: { method: "card", card: { number: TEST_CARDS.success, expMonth: 1, expYear: 2020, cvc: "123" } } });
    expect(expired.status).toBe(400);
    expect(expired.body.error.details.fields[0].type).toBe("cardExpired");

    const cvc = await bad({ holdId: hold.holdId, payment: { method: "card", card: { number: TEST_CARDS.success, expMonth: 1, expYear: new Date().getUTCFullYear() + 2, cvc: "12" } } });
    expect(cvc.status).toBe(400);
    expect(cvc.body.error.details.fields[0].field).toBe("payment.card.cvc");

    const noKey = await bad({ holdId: hold.holdId, payment: CARD(TEST_CARDS.success) }, {});
    expect(noKey.status).toBe(400);
    expect(noKey.body.error.details.fields[0].field).toBe("Idempotency-Key");

    const unknownHold = await bad({ holdId: randomUUID(), payment: CARD(TEST_CARDS.success) });
    expect(unknownHold.status).toBe(404);

    const price = await bad({ holdId: hold.holdId, payment: CARD(TEST_CARDS.success), total: 1 });
    expect(price.status).toBe(400);
    const method = await bad({ holdId: hold.holdId, payment: { method: "bitcoin", card: CARD(TEST_CARDS.success).card } });
    expect(method.status).toBe(400);
    const numeric = await bad({ holdId: hold.holdId, payment: { method: "card", card: { ...CARD(TEST_CARDS.success).card, number: 4242424242424242 } } });
    expect(numeric.status).toBe(400);

    expect([await count("orders"), await count("payments"), await count("mock_provider_operations")]).toEqual(before);
    expect(hold.status).toBe("ACTIVE");
  });

  it("fails an order whose node died before authorizing (the card was only in memory) and frees its seats", async () => {
    const { user, http } = buyer();
    const hold = holdFor(user, ["A"]);
    const db = await node.platform.db();
    const orderId = randomUUID();
    // As left by a node killed right after answering 202: no payment yet, lease run out.
    await db("orders").insert({
      id: orderId, user_id: user.id, email: user.email, holder_name: user.name, session_id: sessionId, event_id: eventId, hold_id: hold.holdId,
      status: "PENDING", step: "AUTHORIZE", saga_owner: "dead-node", saga_locked_until: new Date(Date.now() - 1000), total_cents: 5000, currency: "EUR",
      items: JSON.stringify([{ position: 1, seatId: hold.items[0].seatId, seatLabel: "X", category: "A", amountCents: 5000 }]), idempotency_key: randomUUID(), request_hash: "x",
    });
    const done = await settled(http, orderId);
    expect(done.body).toMatchObject({ status: "FAILED", reason: "PAYMENT_INTERRUPTED" });
    await waitFor("hold released", async () => hold.status === "RELEASED");
    expect(await count("mock_provider_authorizations", {})).toBeGreaterThan(0);
    expect((await db("payments").where({ order_id: orderId }).first()).status).toBe("FAILED");
  });
});

describe("velocity check", () => {
  let node: TestNode;
  let seats: FakeSeats;
  let sessionId: string;
  beforeAll(async () => {
    seats = new FakeSeats();
    node = await startTestNode({ services: ["api", "orders", "payments"], schemas: seats.schemas() });
    ({ sessionId } = await catalogFixture(node));
  });
  afterAll(() => node.stop());

  let n = 0;
  const buyer = () => {
    const user: AuthUser = { id: randomUUID(), email: `v${n++}@example.com`, name: "V", roles: ["buyer"] };
    return { user, http: node.http.as(signAccessToken(node.platform.secrets.jwtSecret, user)) };
  };
  const attempt = async (b: ReturnType<typeof buyer>, card: string) => {
    const hold = seats.hold(b.user.id, sessionId, [{ seatId: `v${n++}`, category: "B" }]);
    const res = await b.http.post("/api/orders", { holdId: hold.holdId, payment: CARD(card) }, { "idempotency-key": randomUUID() });
    if (res.status === 202) {
      await waitFor("settled", async () => (await b.http.get(`/api/orders/${res.body.orderId}`)).body.status !== "PENDING");
    }
    return res;
  };
  const ordersOf = async (userId: string) => (await (await node.platform.db())("orders").where({ user_id: userId })).length;

  it("refuses a user after five failed payments in the window, whatever the card", async () => {
    const b = buyer();
    for (const card of [TEST_CARDS.declined, TEST_CARDS.insufficientFunds, TEST_CARDS.declined, TEST_CARDS.insufficientFunds, TEST_CARDS.declined]) {
      expect((await attempt(b, card)).status).toBe(202);
    }
    const refused = await attempt(b, TEST_CARDS.success);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: "TOO_MANY_PAYMENT_ATTEMPTS", details: { scope: "user" } });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await ordersOf(b.user.id)).toBe(5);
    // Another buyer with a good card is not affected.
    expect((await attempt(buyer(), TEST_CARDS.success)).status).toBe(202);
  });

  it("refuses a card that failed five times, for any user", async () => {
    for (let i = 0; i < 3; i++) expect((await attempt(buyer(), TEST_CARDS.insufficientFunds)).status).toBe(202);
    // Two failures of this card happened in the previous test: five in all now.
    const b = buyer();
    const refused = await attempt(b, TEST_CARDS.insufficientFunds);
    expect(refused.status).toBe(429);
    expect(refused.body.error.details.scope).toBe("card");
    expect(await ordersOf(b.user.id)).toBe(0);
  });
});

describe("a node stopped in the middle of the saga", () => {
  it("resumes on the next node from the order's step: paid orders end confirmed, never charged twice", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-orders-"));
    const seats = new FakeSeats();
    try {
      const node1 = await startTestNode({ services: ["api", "orders", "payments"], env: { DATA_DIR: dir }, schemas: seats.schemas() });
      const { sessionId } = await catalogFixture(node1);
      const user: AuthUser = { id: randomUUID(), email: "r@example.com", name: "R", roles: ["buyer"] };
      const token = signAccessToken(node1.platform.secrets.jwtSecret, user);
      const hold = seats.hold(user.id, sessionId, [{ seatId: "r1", category: "A" }]);
      const res = await node1.http.as(token).post("/api/orders", { holdId: hold.holdId, payment: CARD(TEST_CARDS.slow) }, { "idempotency-key": "k1" });
      expect(res.status).toBe(202);
      // Stop while the slow authorization is in flight: the step finishes, nothing after it runs.
      await node1.stop();
      const db1Status = seats.calls.filter((c) => c.startsWith("confirm"));
      expect(db1Status).toHaveLength(0);

      const node2 = await startTestNode({ services: ["api", "orders", "payments"], env: { DATA_DIR: dir }, schemas: seats.schemas() });
      try {
        const http = node2.http.as(signAccessToken(node2.platform.secrets.jwtSecret, user));
        const done = await waitFor("confirmed after restart", async () => {
          const r = await http.get(`/api/orders/${res.body.orderId}`);
          return r.body.status !== "PENDING" && r;
        }, 30_000);
        expect(done.body.status).toBe("CONFIRMED");
        expect(seats.sold.get("r1")).toBe(res.body.orderId);
        const db = await node2.platform.db();
        expect(await db("mock_provider_authorizations")).toHaveLength(1);
        expect((await db("outbox").where({ key: res.body.orderId })).map((r: { channel: string }) => r.channel)).toEqual(["orders.confirmed"]);
      } finally {
        await node2.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
