/**
 * Orders and payments through REST on an embedded node with the real seats and holds services:
 * buyers hold seats, order them, and the saga's effects are observed the way a user would see
 * them (order and payment status, the seat map, the hold).
 */
import fs from "fs";
import os from "os";
import path from "path";
import { randomUUID } from "crypto";
import type { Knex } from "knex";
import { signAccessToken, AuthUser } from "../../src/platform/auth";
import { TEST_CARDS } from "../../src/domain/payments";
import { HttpClient, startTestNode, TestNode } from "../helpers/node";
import { waitFor } from "../helpers/infra";
import { createSession, SessionFixture } from "../helpers/seat-fixtures";

const SERVICES = ["api", "seats", "holds", "orders", "payments"];
const CARD = (number: string) => ({ method: "card", card: { number, expMonth: 12, expYear: new Date().getUTCFullYear() + 2, cvc: "123" } });
const PREMIUM = 9900;
const STANDARD = 4900;

/** Seats of the fixture's 4 x 25 grid handed out one test at a time: row 1 is premium, the rest standard. */
class SeatPool {
  private next = { premium: 0, standard: 25 };
  constructor(private session: SessionFixture) {}
  take(category: "premium" | "standard"): string {
    const i = this.next[category]++;
    if ((category === "premium" && i >= 25) || i >= 100) throw new Error("seat pool exhausted");
    return this.session.seatIds[i];
  }
}

async function seatStatus(node: TestNode, sessionId: string, seatId: string): Promise<string> {
  const map = await node.http.get(`/api/sessions/${sessionId}/seat-map`);
  return map.body.status[map.body.seatIds.indexOf(seatId)];
}

interface Buyer {
  user: AuthUser;
  http: HttpClient;
}

function buyerOf(node: TestNode, name = "Ada Buyer"): Buyer {
  const id = randomUUID();
  const user: AuthUser = { id, email: `${id.slice(0, 8)}@example.test`, name, roles: ["buyer"] };
  return { user, http: node.http.as(signAccessToken(node.platform.secrets.jwtSecret, user)) };
}

async function holdSeats(b: Buyer, sessionId: string, seats: string[]): Promise<{ holdId: string; seats: string[]; expiresAt: string }> {
  const res = await b.http.post(`/api/sessions/${sessionId}/holds`, { seats });
  if (res.status !== 201) throw new Error(`hold failed: ${res.status} ${res.text}`);
  return res.body;
}

describe("orders and payments (embedded)", () => {
  let node: TestNode;
  let db: Knex;
  let session: SessionFixture;
  let shortSession: SessionFixture;
  let pool: SeatPool;
  let shortPool: SeatPool;

  const buyer = () => buyerOf(node);
  /** A hold of one premium and one standard seat (or the given seats) in the main session. */
  const holdFor = async (b: Buyer, categories: ("premium" | "standard")[] = ["premium", "standard"]) =>
    holdSeats(b, session.sessionId, categories.map((c) => pool.take(c)));
  const order = (http: HttpClient, holdId: string, number: string = TEST_CARDS.success, key: string | null = randomUUID()) =>
    http.post("/api/orders", { holdId, payment: CARD(number) }, key ? { "idempotency-key": key } : {});
  const settled = async (http: HttpClient, orderId: string, want?: string) =>
    waitFor(`order ${orderId} ${want ?? "settled"}`, async () => {
      const res = await http.get(`/api/orders/${orderId}`);
      return (want ? res.body.status === want : res.body.status !== "PENDING") && res;
    }, 30_000);
  const count = async (table: string, where: Record<string, unknown> = {}) => Number((await db(table).where(where).count<{ c: number }[]>({ c: "*" }))[0].c);
  const outboxFor = async (orderId: string) => (await db("outbox").where({ key: orderId }).orderBy("seq")) as { channel: string; payload: any }[];
  const status = (seatId: string, s = session) => seatStatus(node, s.sessionId, seatId);
  /** The payment of one premium seat authorized with the success card, as the saga's first step does it. */
  const authorizePremium = (b: Buyer, orderId: string) =>
    node.broker.call<{ id: string; status: string }, object>("payments.authorize", {
      orderId, userId: b.user.id, amountCents: PREMIUM, currency: "EUR", card: CARD(TEST_CARDS.success).card,
    });
  /** An order of one premium seat as a node killed mid-saga left it: PENDING at `step`, its lease run out. */
  const leftByDeadNode = (b: Buyer, hold: { holdId: string; seats: string[] }, orderId: string, step: string, extra: Record<string, unknown> = {}) =>
    db("orders").insert({
      id: orderId, user_id: b.user.id, email: b.user.email, holder_name: b.user.name, session_id: session.sessionId, event_id: session.eventId, hold_id: hold.holdId,
      status: "PENDING", step, saga_owner: "dead-node", saga_locked_until: new Date(Date.now() - 1000), total_cents: PREMIUM, currency: "EUR",
      items: JSON.stringify([{ position: 1, seatId: hold.seats[0], seatLabel: "X", category: "premium", amountCents: PREMIUM }]), idempotency_key: randomUUID(), request_hash: "x",
      ...extra,
    });
  /** `orders.status` events as the gateway receives them for the buyer's socket. */
  const statusEvents: { orderId: string; userId: string; status: string; reason?: string }[] = [];
  const eventsOf = (orderId: string) => statusEvents.filter((e) => e.orderId === orderId).map(({ orderId: _o, ...e }) => e);

  beforeAll(async () => {
    node = await startTestNode({
      services: SERVICES,
      schemas: [{ name: "status-listener", events: { "orders.status": (ctx: { params: (typeof statusEvents)[number] }) => void statusEvents.push(ctx.params) } }],
    });
    db = await node.platform.db();
    session = await createSession(db);
    shortSession = await createSession(db, { holdSeconds: 1 });
    pool = new SeatPool(session);
    shortPool = new SeatPool(shortSession);
  });
  afterAll(() => node.stop());

  it("confirms an order paid with the success card: priced from the session, captured, seats sold, event written", async () => {
    const b = buyer();
    const hold = await holdFor(b);
    const res = await order(b.http, hold.holdId);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ orderId: expect.any(String), status: "PENDING" });
    const done = await settled(b.http, res.body.orderId);
    expect(done.body).toMatchObject({
      id: res.body.orderId,
      status: "CONFIRMED",
      total: PREMIUM + STANDARD,
      currency: "EUR",
      sessionId: session.sessionId,
      eventId: session.eventId,
      items: [
        { position: 1, seatId: hold.seats[0], category: "premium", amountCents: PREMIUM },
        { position: 2, seatId: hold.seats[1], category: "standard", amountCents: STANDARD },
      ],
    });
    expect(await status(hold.seats[0])).toBe("s");
    expect(await status(hold.seats[1])).toBe("s");
    expect((await b.http.get(`/api/holds/${hold.holdId}`)).body.status).toBe("CONFIRMED");
    expect(eventsOf(res.body.orderId)).toEqual([{ userId: b.user.id, status: "PENDING" }, { userId: b.user.id, status: "CONFIRMED" }]);

    const payment = await b.http.get(`/api/payments/${done.body.paymentId}`);
    expect(payment.status).toBe(200);
    expect(payment.body).toMatchObject({ orderId: res.body.orderId, status: "CAPTURED", amountCents: PREMIUM + STANDARD, currency: "EUR", card: { brand: "visa", last4: "4242" } });

    const events = await outboxFor(res.body.orderId);
    expect(events.map((e) => e.channel)).toEqual(["orders.confirmed"]);
    expect(events[0].payload).toMatchObject({
      orderId: res.body.orderId, userId: b.user.id, email: b.user.email, holderName: "Ada Buyer", totalCents: PREMIUM + STANDARD, sessionId: session.sessionId, eventId: session.eventId,
    });

    // The card number and CVC are nowhere in the database.
    const dump = JSON.stringify([await db("payments"), await db("orders"), await db("mock_provider_operations"), await db("mock_provider_authorizations")]);
    expect(dump).not.toContain(TEST_CARDS.success);
    expect(dump).not.toContain('"123"');
  });

  it("fails a declined card with PAYMENT_DECLINED and puts the seats back on sale", async () => {
    const b = buyer();
    const hold = await holdFor(b);
    const res = await order(b.http, hold.holdId, TEST_CARDS.declined);
    expect(res.status).toBe(202);
    const done = await settled(b.http, res.body.orderId);
    expect(done.body).toMatchObject({ status: "FAILED", reason: "PAYMENT_DECLINED" });
    expect(eventsOf(res.body.orderId)).toEqual([
      { userId: b.user.id, status: "PENDING" },
      { userId: b.user.id, status: "FAILED", reason: "PAYMENT_DECLINED" },
    ]);
    await waitFor("seats back on sale", async () => (await status(hold.seats[0])) === "a" && (await status(hold.seats[1])) === "a");
    const payment = await b.http.get(`/api/payments/${done.body.paymentId}`);
    expect(payment.body).toMatchObject({ status: "DECLINED", declineCode: "card_declined", card: { last4: "0002" } });
    expect((await outboxFor(res.body.orderId)).map((e) => e.channel)).toEqual(["orders.failed"]);
  });

  it("fails a card without funds with INSUFFICIENT_FUNDS", async () => {
    const b = buyer();
    const hold = await holdFor(b);
    const res = await order(b.http, hold.holdId, TEST_CARDS.insufficientFunds);
    const done = await settled(b.http, res.body.orderId);
    expect(done.body).toMatchObject({ status: "FAILED", reason: "INSUFFICIENT_FUNDS" });
    await waitFor("seats back on sale", async () => (await status(hold.seats[0])) === "a");
    expect((await outboxFor(res.body.orderId))[0].payload).toMatchObject({ reason: "INSUFFICIENT_FUNDS", email: b.user.email });
  });

  it("answers at once for the slow card and confirms when the provider does", async () => {
    const b = buyer();
    const hold = await holdFor(b);
    const res = await order(b.http, hold.holdId, TEST_CARDS.slow);
    expect(res.status).toBe(202);
    expect(res.body.status).toBe("PENDING");
    const done = await settled(b.http, res.body.orderId);
    expect(done.body.status).toBe("CONFIRMED");
  });

  it("fails with HOLD_EXPIRED and voids the authorization when the hold runs out during payment", async () => {
    const b = buyer();
    // One-second holds; the slow card takes 3 s to authorize.
    const hold = await holdSeats(b, shortSession.sessionId, [shortPool.take("premium")]);
    const res = await order(b.http, hold.holdId, TEST_CARDS.slow);
    expect(res.status).toBe(202);
    const done = await settled(b.http, res.body.orderId);
    expect(done.body).toMatchObject({ status: "FAILED", reason: "HOLD_EXPIRED" });
    await waitFor("voided", async () => (await b.http.get(`/api/payments/${done.body.paymentId}`)).body.status === "VOIDED");
    const payment = await db("payments").where({ order_id: res.body.orderId }).first();
    expect((await db("mock_provider_authorizations").where({ id: payment.authorization_id }).first()).status).toBe("voided");
    expect(await status(hold.seats[0], shortSession)).toBe("a");
  });

  it("refuses an already expired hold with 409 HOLD_EXPIRED and writes nothing", async () => {
    const b = buyer();
    const hold = await holdSeats(b, shortSession.sessionId, [shortPool.take("premium")]);
    await waitFor("hold expired", async () => Date.parse(hold.expiresAt) < Date.now() - 200);
    const before = [await count("orders"), await count("payments")];
    const res = await order(b.http, hold.holdId);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("HOLD_EXPIRED");
    expect([await count("orders"), await count("payments")]).toEqual(before);
  });

  it("returns the same order for a repeated Idempotency-Key and charges once", async () => {
    const b = buyer();
    const hold = await holdFor(b);
    const key = randomUUID();
    const [first, second] = await Promise.all([order(b.http, hold.holdId, TEST_CARDS.success, key), order(b.http, hold.holdId, TEST_CARDS.success, key)]);
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(second.body.orderId).toBe(first.body.orderId);
    await settled(b.http, first.body.orderId, "CONFIRMED");
    const again = await order(b.http, hold.holdId, TEST_CARDS.success, key);
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ orderId: first.body.orderId, status: "CONFIRMED" });
    expect(await count("orders", { user_id: b.user.id })).toBe(1);
    expect(await count("payments", { user_id: b.user.id })).toBe(1);
    const paymentId = (await db("payments").where({ user_id: b.user.id }).first()).id;
    const operations = await db("mock_provider_operations").where("idempotency_key", "like", `${paymentId}:%`);
    expect(operations.map((o: { operation: string }) => o.operation).sort()).toEqual(["authorize", "capture"]);

    // The same key for another request is refused, not silently answered with the first order.
    const other = await holdFor(b, ["standard"]);
    const reused = await order(b.http, other.holdId, TEST_CARDS.success, key);
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
    // A second order for the same hold under a new key is refused too.
    const twice = await order(b.http, hold.holdId, TEST_CARDS.success, randomUUID());
    expect(twice.status).toBe(409);
    expect(await count("payments", { user_id: b.user.id })).toBe(1);
  });

  it("hides another user's order and payment (404) but shows them to an admin", async () => {
    const owner = buyer();
    const res = await order(owner.http, (await holdFor(owner)).holdId);
    const done = await settled(owner.http, res.body.orderId);
    const stranger = buyer();
    expect((await stranger.http.get(`/api/orders/${res.body.orderId}`)).status).toBe(404);
    expect((await stranger.http.get(`/api/payments/${done.body.paymentId}`)).status).toBe(404);
    expect((await stranger.http.post(`/api/orders/${res.body.orderId}/cancel`)).status).toBe(404);
    expect((await stranger.http.get("/api/orders/my")).body).toEqual({ items: [], total: 0, page: 1, pageSize: 20 });
    // Someone else's hold cannot be bought either.
    const foreign = await order(stranger.http, (await holdFor(owner, ["standard"])).holdId);
    expect(foreign.status).toBe(404);
    const admin = node.http.as(signAccessToken(node.platform.secrets.jwtSecret, { id: randomUUID(), email: "a@example.com", name: "Admin", roles: ["admin"] }));
    expect((await admin.get(`/api/orders/${res.body.orderId}`)).status).toBe(200);
    expect((await admin.get(`/api/payments/${done.body.paymentId}`)).status).toBe(200);
    expect((await node.http.get(`/api/orders/${res.body.orderId}`)).status).toBe(401);
  });

  it("lists the buyer's own orders, newest first", async () => {
    const b = buyer();
    const first = await order(b.http, (await holdFor(b, ["standard"])).holdId);
    await settled(b.http, first.body.orderId);
    const second = await order(b.http, (await holdFor(b, ["standard"])).holdId, TEST_CARDS.declined);
    await settled(b.http, second.body.orderId);
    const list = await b.http.get("/api/orders/my");
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ total: 2, page: 1, pageSize: 20 });
    expect(list.body.items.map((o: { id: string }) => o.id)).toEqual([second.body.orderId, first.body.orderId]);
    const failed = await b.http.get("/api/orders/my?status=FAILED");
    expect(failed.body.items.map((o: { id: string }) => o.id)).toEqual([second.body.orderId]);
  });

  it("cancels a confirmed order: refund recorded, seats back on sale, cancellation event written", async () => {
    const b = buyer();
    const hold = await holdFor(b);
    const res = await order(b.http, hold.holdId);
    const done = await settled(b.http, res.body.orderId, "CONFIRMED");
    expect(await status(hold.seats[0])).toBe("s");
    const cancel = await b.http.post(`/api/orders/${res.body.orderId}/cancel`);
    expect(cancel.status).toBe(202);
    expect(cancel.body).toEqual({ orderId: res.body.orderId, status: "CANCELLED" });
    const refunded = await settled(b.http, res.body.orderId, "REFUNDED");
    expect(refunded.body.refundedCents).toBe(PREMIUM + STANDARD);
    expect(eventsOf(res.body.orderId).map((e) => e.status)).toEqual(["PENDING", "CONFIRMED", "CANCELLED", "REFUNDED"]);
    const payment = await b.http.get(`/api/payments/${done.body.paymentId}`);
    expect(payment.body).toMatchObject({ status: "REFUNDED", refundedCents: PREMIUM + STANDARD });
    expect(await status(hold.seats[0])).toBe("a");
    expect(await status(hold.seats[1])).toBe("a");
    const events = await outboxFor(res.body.orderId);
    expect(events.map((e) => e.channel)).toEqual(["orders.confirmed", "orders.cancelled"]);
    expect(events[1].payload).toEqual({ orderId: res.body.orderId, userId: b.user.id, email: b.user.email, refundedCents: PREMIUM + STANDARD });
    // Cancelling again changes nothing; a failed order cannot be cancelled.
    const again = await b.http.post(`/api/orders/${res.body.orderId}/cancel`);
    expect(again.status).toBe(202);
    expect(again.body.status).toBe("REFUNDED");
    expect(await count("outbox", { key: res.body.orderId })).toBe(2);
    const declined = await order(b.http, (await holdFor(b, ["standard"])).holdId, TEST_CARDS.declined);
    await settled(b.http, declined.body.orderId);
    const refused = await b.http.post(`/api/orders/${declined.body.orderId}/cancel`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("ORDER_NOT_CANCELLABLE");
  });

  it("rejects bad input with a clear 4xx and changes nothing", async () => {
    const b = buyer();
    const hold = await holdFor(b, ["standard"]);
    const before = [await count("orders"), await count("payments"), await count("mock_provider_operations")];
    const bad = async (body: unknown, headers: Record<string, string> = { "idempotency-key": randomUUID() }) => b.http.post("/api/orders", body, headers);
    const year = new Date().getUTCFullYear();

    const luhn = await bad({ holdId: hold.holdId, payment: CARD("4242424242424241") });
    expect(luhn.status).toBe(400);
    expect(luhn.body.error.code).toBe("VALIDATION_ERROR");
    expect(luhn.body.error.details.fields[0].field).toBe("payment.card.number");

    const expired = await bad({ holdId: hold.holdId, payment: { method: "card", card: { number: TEST_CARDS.success, expMonth: 1, expYear: 2020, cvc: "123" } } });
    expect(expired.status).toBe(400);
    expect(expired.body.error.details.fields[0].type).toBe("cardExpired");

    const cvc = await bad({ holdId: hold.holdId, payment: { method: "card", card: { number: TEST_CARDS.success, expMonth: 1, expYear: year + 2, cvc: "12" } } });
    expect(cvc.status).toBe(400);
    expect(cvc.body.error.details.fields[0].field).toBe("payment.card.cvc");

    const noKey = await bad({ holdId: hold.holdId, payment: CARD(TEST_CARDS.success) }, {});
    expect(noKey.status).toBe(400);
    expect(noKey.body.error.details.fields[0].field).toBe("Idempotency-Key");

    const unknownHold = await bad({ holdId: randomUUID(), payment: CARD(TEST_CARDS.success) });
    expect(unknownHold.status).toBe(404);
    // Another buyer's hold is not theirs to pay for, and they cannot tell it exists.
    const theirs = await buyer().http.post("/api/orders", { holdId: hold.holdId, payment: CARD(TEST_CARDS.success) }, { "idempotency-key": randomUUID() });
    expect(theirs.status).toBe(404);
    expect(theirs.body.error).toEqual(unknownHold.body.error);

    const price = await bad({ holdId: hold.holdId, payment: CARD(TEST_CARDS.success), total: 1 });
    expect(price.status).toBe(400);
    const method = await bad({ holdId: hold.holdId, payment: { method: "bitcoin", card: CARD(TEST_CARDS.success).card } });
    expect(method.status).toBe(400);
    const numeric = await bad({ holdId: hold.holdId, payment: { method: "card", card: { ...CARD(TEST_CARDS.success).card, number: 4242424242424242 } } });
    expect(numeric.status).toBe(400);

    expect([await count("orders"), await count("payments"), await count("mock_provider_operations")]).toEqual(before);
    expect((await b.http.get(`/api/holds/${hold.holdId}`)).body.status).toBe("ACTIVE");
  });

  it("fails an order whose node died before authorizing (the card was only in memory); the buyer keeps the hold and pays again", async () => {
    const b = buyer();
    const hold = await holdFor(b, ["premium"]);
    const orderId = randomUUID();
    // As left by a node killed right after answering 202: no payment yet, lease run out.
    await leftByDeadNode(b, hold, orderId, "AUTHORIZE");
    const done = await settled(b.http, orderId);
    expect(done.body).toMatchObject({ status: "FAILED", reason: "PAYMENT_INTERRUPTED" });
    await waitFor("saga finished", async () => (await db("orders").where({ id: orderId }).first()).step === "DONE");
    expect((await db("payments").where({ order_id: orderId }).first()).status).toBe("FAILED");
    expect(await status(hold.seats[0])).toBe("h");
    const retry = await order(b.http, hold.holdId);
    expect(retry.status).toBe(202);
    expect((await settled(b.http, retry.body.orderId)).body.status).toBe("CONFIRMED");
    expect(await status(hold.seats[0])).toBe("s");
  });

  it("retries an authorization cut off by a passing outage with the card it kept: confirmed, charged once, not interrupted", async () => {
    const b = buyer();
    const hold = await holdFor(b, ["premium"]);
    // The provider's connection is cut on the first attempt (a network blip), as it may be in a sale.
    const provider = (node.broker.getLocalService("payments") as unknown as { provider: { authorize: (...a: unknown[]) => Promise<unknown> } }).provider;
    const authorize = provider.authorize;
    let cut = 0;
    provider.authorize = async function (this: unknown, ...args: unknown[]) {
      if (!cut++) throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
      return authorize.apply(this, args);
    };
    try {
      const placed = await order(b.http, hold.holdId);
      expect(placed.status).toBe(202);
      expect((await settled(b.http, placed.body.orderId)).body).toMatchObject({ status: "CONFIRMED" });
      expect(cut).toBe(2);
      const payment = await db("payments").where({ order_id: placed.body.orderId }).first();
      expect(payment.status).toBe("CAPTURED");
      expect(await count("mock_provider_operations", { idempotency_key: `${payment.id}:capture` })).toBe(1);
    } finally {
      provider.authorize = authorize;
    }
  });

  it.each(["AUTHORIZE", "CONFIRM_SEATS", "CAPTURE"])("resumes an order its node left at %s with the seats sold and the payment authorized: confirmed, charged once", async (step) => {
    const b = buyer();
    const hold = await holdFor(b, ["premium"]);
    const orderId = randomUUID();
    // As left by a node killed after selling the seats and before the capture: authorized, seats sold, lease run out.
    const authorized = await authorizePremium(b, orderId);
    expect(authorized.status).toBe("AUTHORIZED");
    await node.broker.call("seats.confirm", { sessionId: session.sessionId, holdId: hold.holdId, orderId });
    expect(await status(hold.seats[0])).toBe("s");
    await leftByDeadNode(b, hold, orderId, step, { payment_id: authorized.id });
    expect((await settled(b.http, orderId)).body).toMatchObject({ status: "CONFIRMED", paymentId: authorized.id });
    expect((await db("payments").where({ order_id: orderId }).first()).status).toBe("CAPTURED");
    expect(await db("mock_provider_operations").where("idempotency_key", "like", `${authorized.id}:%`).pluck("operation")).toEqual(expect.arrayContaining(["authorize", "capture"]));
    expect(await count("mock_provider_operations", { idempotency_key: `${authorized.id}:capture` })).toBe(1);
    expect(await status(hold.seats[0])).toBe("s");
    expect((await outboxFor(orderId)).map((r) => r.channel)).toEqual(["orders.confirmed"]);
  });

  it("resumes an order its node left at AUTHORIZE once the provider had authorized: sells the seats, captures once, confirmed", async () => {
    const b = buyer();
    const hold = await holdFor(b, ["premium"]);
    const orderId = randomUUID();
    // As left by a node killed right after the authorization was stored: seats still held, no capture.
    const authorized = await authorizePremium(b, orderId);
    expect(await status(hold.seats[0])).toBe("h");
    await leftByDeadNode(b, hold, orderId, "AUTHORIZE");
    expect((await settled(b.http, orderId)).body).toMatchObject({ status: "CONFIRMED", paymentId: authorized.id });
    expect((await db("payments").where({ order_id: orderId }).first()).status).toBe("CAPTURED");
    expect(await count("mock_provider_operations", { idempotency_key: `${authorized.id}:authorize` })).toBe(1);
    expect(await count("mock_provider_operations", { idempotency_key: `${authorized.id}:capture` })).toBe(1);
    expect(await status(hold.seats[0])).toBe("s");
    expect((await outboxFor(orderId)).map((r) => r.channel)).toEqual(["orders.confirmed"]);
  });

  it("resumes an order its node left at AUTHORIZE after the capture: confirmed, neither charged again nor refunded", async () => {
    const b = buyer();
    const hold = await holdFor(b, ["premium"]);
    const orderId = randomUUID();
    // As left by a node killed between the capture and CONFIRMED.
    const authorized = await authorizePremium(b, orderId);
    await node.broker.call("seats.confirm", { sessionId: session.sessionId, holdId: hold.holdId, orderId });
    expect((await node.broker.call<{ status: string }, object>("payments.capture", { orderId })).status).toBe("CAPTURED");
    await leftByDeadNode(b, hold, orderId, "AUTHORIZE");
    expect((await settled(b.http, orderId)).body).toMatchObject({ status: "CONFIRMED", paymentId: authorized.id });
    const payment = await db("payments").where({ order_id: orderId }).first();
    expect(payment).toMatchObject({ status: "CAPTURED", refunded_cents: 0 });
    expect(await count("mock_provider_operations", { idempotency_key: `${authorized.id}:capture` })).toBe(1);
    expect(await count("mock_provider_operations", { idempotency_key: `${authorized.id}:refund` })).toBe(0);
    expect(await status(hold.seats[0])).toBe("s");
    // Its tickets follow from this event (test/integration/tickets.test.ts).
    expect((await outboxFor(orderId)).map((r) => r.channel)).toEqual(["orders.confirmed"]);
  });

  it("captures from the authorization the saga was answered, and the provider still decides: once, and never a voided one", async () => {
    const b = buyer();
    const capture = (orderId: string, authorized: { id: string; authorizationId: string | null; amountCents: number }) =>
      node.broker.call<{ id: string; status: string }, object>("payments.capture", {
        orderId, authorized: { id: authorized.id, authorizationId: authorized.authorizationId, amountCents: authorized.amountCents },
      });
    const authorize = async (orderId: string) => node.broker.call<{ id: string; status: string; authorizationId: string | null; amountCents: number }, object>("payments.authorize", {
      orderId, userId: b.user.id, amountCents: STANDARD, currency: "EUR", card: CARD(TEST_CARDS.success).card,
    });
    const paid = randomUUID();
    const first = await authorize(paid);
    expect(first).toMatchObject({ status: "AUTHORIZED", authorizationId: expect.stringMatching(/^auth_/), amountCents: STANDARD });
    const captured = await capture(paid, first);
    expect(captured.status).toBe("CAPTURED");
    expect(await capture(paid, first)).toEqual(captured);
    expect(await count("mock_provider_operations", { idempotency_key: `${first.id}:capture` })).toBe(1);

    const voided = randomUUID();
    const second = await authorize(voided);
    await node.broker.call("payments.void", { orderId: voided });
    await expect(capture(voided, second)).rejects.toMatchObject({ code: 422, type: "PAYMENT_FAILED" });
    expect((await db("payments").where({ order_id: voided }).first()).status).toBe("VOIDED");
  });
});

describe("velocity check", () => {
  let node: TestNode;
  let session: SessionFixture;
  let pool: SeatPool;
  beforeAll(async () => {
    node = await startTestNode({ services: SERVICES });
    session = await createSession(await node.platform.db());
    pool = new SeatPool(session);
  });
  afterAll(() => node.stop());

  const attempt = async (b: Buyer, card: string) => {
    const hold = await holdSeats(b, session.sessionId, [pool.take("standard")]);
    const res = await b.http.post("/api/orders", { holdId: hold.holdId, payment: CARD(card) }, { "idempotency-key": randomUUID() });
    if (res.status === 202) await waitFor("settled", async () => (await b.http.get(`/api/orders/${res.body.orderId}`)).body.status !== "PENDING");
    return res;
  };
  const ordersOf = async (userId: string) => (await (await node.platform.db())("orders").where({ user_id: userId })).length;

  it("refuses a user after five failed payments in the window, whatever the card", async () => {
    const b = buyerOf(node);
    for (const card of [TEST_CARDS.declined, TEST_CARDS.insufficientFunds, TEST_CARDS.declined, TEST_CARDS.insufficientFunds, TEST_CARDS.declined]) {
      expect((await attempt(b, card)).status).toBe(202);
    }
    const refused = await attempt(b, TEST_CARDS.success);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: "TOO_MANY_PAYMENT_ATTEMPTS", details: { scope: "user" } });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await ordersOf(b.user.id)).toBe(5);
    // Another buyer with a good card is not affected.
    expect((await attempt(buyerOf(node), TEST_CARDS.success)).status).toBe(202);
  });

  it("refuses a card that failed five times, for any user", async () => {
    for (let i = 0; i < 3; i++) expect((await attempt(buyerOf(node), TEST_CARDS.insufficientFunds)).status).toBe(202);
    // Two failures of this card happened in the previous test: five in all now.
    const b = buyerOf(node);
    const refused = await attempt(b, TEST_CARDS.insufficientFunds);
    expect(refused.status).toBe(429);
    expect(refused.body.error.details.scope).toBe("card");
    expect(await ordersOf(b.user.id)).toBe(0);
  });
});

describe("a node stopped in the middle of the saga", () => {
  it("resumes on the next node from the order's step: the paid order ends confirmed, charged once", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-orders-"));
    try {
      const node1 = await startTestNode({ services: SERVICES, env: { DATA_DIR: dir } });
      const session = await createSession(await node1.platform.db());
      const b = buyerOf(node1);
      const hold = await holdSeats(b, session.sessionId, [session.seatIds[0]]);
      const res = await b.http.post("/api/orders", { holdId: hold.holdId, payment: CARD(TEST_CARDS.slow) }, { "idempotency-key": "k1" });
      expect(res.status).toBe(202);
      // Stopped while the slow authorization is in flight: that step finishes, nothing after it runs.
      await node1.stop();

      const node2 = await startTestNode({ services: SERVICES, env: { DATA_DIR: dir } });
      try {
        const db = await node2.platform.db();
        const http = node2.http.as(signAccessToken(node2.platform.secrets.jwtSecret, b.user));
        const done = await waitFor("settled after restart", async () => {
          const r = await http.get(`/api/orders/${res.body.orderId}`);
          return r.body.status !== "PENDING" && r;
        }, 30_000);
        expect(done.body.status).toBe("CONFIRMED");
        expect(await seatStatus(node2, session.sessionId, session.seatIds[0])).toBe("s");
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
