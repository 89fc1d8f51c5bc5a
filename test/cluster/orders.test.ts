/**
 * The purchase survives a crash: real processes over NATS JetStream and one PostgreSQL database.
 * Buyers order while the node running `orders` and `payments` is SIGKILLed and started again.
 * Afterwards, counted from the database: every captured payment ended in tickets (or a refund),
 * no authorization is left open, no seat is sold or ticketed twice, and every confirmed order's
 * event reached the tickets service (nothing lost, nothing twice).
 */
import { randomUUID } from "crypto";
import knexFactory, { Knex } from "knex";
import { Cluster, startCluster } from "../helpers/cluster";
import { waitFor } from "../helpers/infra";
import { HttpClient } from "../helpers/node";
import { createSession, SessionFixture } from "../helpers/seat-fixtures";
import { signAccessToken } from "../../src/platform/auth";
import { TEST_CARDS } from "../../src/domain/payments";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BUYERS = 24;

describe("orders in a cluster, with the orders node killed mid-flow", () => {
  let cluster: Cluster;
  let db: Knex;
  let session: SessionFixture;

  beforeAll(async () => {
    cluster = await startCluster({
      nodes: [
        { name: "gw", services: ["api", "holds"] },
        { name: "seats", services: ["seats"] },
        { name: "orders", services: ["orders", "payments"] },
        { name: "tickets", services: ["tickets"] },
      ],
    });
    db = knexFactory({ client: "pg", connection: cluster.database.url, pool: { min: 0, max: 2 } });
    session = await createSession(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await cluster?.stop();
  });

  it("ends every captured payment in tickets or a refund, and loses or repeats nothing", async () => {
    const gw = cluster.node("gw");
    const buyers = Array.from({ length: BUYERS }, (_, i) => {
      const id = randomUUID();
      const user = { id, email: `${id.slice(0, 8)}@example.test`, name: `Buyer ${i}`, roles: ["buyer" as const] };
      return { user, http: new HttpClient(gw.baseUrl).as(signAccessToken(cluster.env.JWT_SECRET, user)), key: randomUUID() };
    });
    // Mostly good cards, some slow (in flight when the node dies), some declined.
    const cardOf = (i: number) => (i % 6 === 0 ? TEST_CARDS.declined : i % 4 === 0 ? TEST_CARDS.slow : TEST_CARDS.success);
    const holds = await Promise.all(
      buyers.map(async (b, i) => {
        const res = await b.http.post(`/api/sessions/${session.sessionId}/holds`, { seats: [session.seatIds[2 * i], session.seatIds[2 * i + 1]] });
        expect(res.status).toBe(201);
        return res.body.holdId as string;
      }),
    );
    const body = (i: number) => ({ holdId: holds[i], payment: { method: "card", card: { number: cardOf(i), expMonth: 12, expYear: new Date().getUTCFullYear() + 2, cvc: "123" } } });
    const post = (i: number) => buyers[i].http.post("/api/orders", body(i), { "idempotency-key": buyers[i].key });

    // Orders keep arriving; the orders node dies once a third of them exist, sagas in flight.
    const first = buyers.map((_, i) => sleep(i * 100).then(() => post(i)));
    await waitFor("some orders placed", async () => Number((await db("orders").count<{ c: number }[]>({ c: "*" }))[0].c) >= BUYERS / 3, 60_000, 20);
    await cluster.node("orders").kill("SIGKILL");
    const answers = await Promise.all(first);
    await cluster.node("orders").start();

    // A buyer whose request failed sends it again with the same Idempotency-Key, as clients do.
    const orderIds: string[] = [];
    for (const [i, answer] of answers.entries()) {
      let res = answer;
      while (res.status !== 202) {
        expect([503, 504, 500]).toContain(res.status);
        await sleep(500);
        res = await post(i);
      }
      orderIds.push(res.body.orderId);
    }
    expect(new Set(orderIds).size).toBe(BUYERS);

    // Every order settles, and its saga finishes (compensation included).
    await waitFor("all orders settled", async () => {
      const open = await db("orders").whereIn("id", orderIds).andWhere((q) => q.where({ status: "PENDING" }).orWhereNot({ step: "DONE" }));
      return open.length === 0;
    }, 120_000, 500);
    const orders = await db("orders").whereIn("id", orderIds);
    const confirmed = orders.filter((o) => o.status === "CONFIRMED");
    const outcome = orders.reduce((n: Record<string, number>, o) => ({ ...n, [o.reason ?? o.status]: (n[o.reason ?? o.status] ?? 0) + 1 }), {});
    console.log(`orders after the crash: ${JSON.stringify(outcome)}; first answers: ${JSON.stringify(answers.map((a) => a.status))}`);
    expect(confirmed.length).toBeGreaterThan(0);
    for (const o of orders) {
      if (o.status === "FAILED") expect(["PAYMENT_DECLINED", "PAYMENT_INTERRUPTED", "HOLD_EXPIRED"]).toContain(o.reason);
      else expect(o.status).toBe("CONFIRMED");
    }
    for (const [i, id] of orderIds.entries()) {
      if (cardOf(i) === TEST_CARDS.declined) expect(orders.find((o) => o.id === id)!.status).toBe("FAILED");
    }

    // Money: every capture belongs to a confirmed order; nothing stays merely authorized; one payment per order.
    const payments = await db("payments").whereIn("order_id", orderIds);
    expect(payments.length).toBe(new Set(payments.map((p) => p.order_id)).size);
    for (const p of payments) {
      const o = orders.find((x) => x.id === p.order_id)!;
      if (p.status === "CAPTURED") expect(o.status).toBe("CONFIRMED");
      if (o.status === "CONFIRMED") expect(p.status).toBe("CAPTURED");
      expect(p.status).not.toBe("AUTHORIZED");
    }
    const authorizations = await db("mock_provider_authorizations");
    expect(authorizations.filter((a) => a.status === "authorized")).toEqual([]);
    expect(authorizations.filter((a) => a.status === "captured")).toHaveLength(confirmed.length);

    // Tickets: exactly one per seat of every confirmed order, none for anything else.
    await waitFor("tickets issued", async () => {
      const [{ c }] = await db("tickets").whereIn("order_id", orderIds).count<{ c: number }[]>({ c: "*" });
      return Number(c) === confirmed.length * 2;
    }, 60_000, 500);
    const tickets = await db("tickets").whereIn("order_id", orderIds);
    expect(new Set(tickets.map((t) => t.seat_id)).size).toBe(tickets.length);
    expect(new Set(tickets.map((t) => t.order_id))).toEqual(new Set(confirmed.map((o) => o.id)));
    for (const o of confirmed) {
      const mine = tickets.filter((t) => t.order_id === o.id).map((t) => t.seat_id).sort();
      expect(mine).toEqual(o.items.map((i: { seatId: string }) => i.seatId).sort());
    }

    // Events: one orders.confirmed per confirmed order, sent, and turned into tickets once by the
    // tickets service (one tickets.issued per order, however often it was delivered).
    const events = await db("outbox").whereIn("key", orderIds).andWhere({ channel: "orders.confirmed" });
    expect(events).toHaveLength(confirmed.length);
    await waitFor("outbox drained", async () => (await db("outbox").where({ status: "PENDING" })).length === 0, 30_000, 500);
    const issued = await db("outbox").whereIn("key", orderIds).andWhere({ channel: "tickets.issued" });
    expect(issued.map((e) => e.key).sort()).toEqual(confirmed.map((o) => o.id).sort());

    // Seats: sold exactly to the confirmed orders; a payment interrupted by the crash keeps its
    // hold for the buyer to pay again; the others are back on sale.
    const map = await new HttpClient(gw.baseUrl).get(`/api/sessions/${session.sessionId}/seat-map`);
    const seatsOf = (status: string, reason?: string) =>
      new Set(orders.filter((o) => o.status === status && (!reason || o.reason === reason)).flatMap((o) => o.items.map((i: { seatId: string }) => i.seatId)));
    const sold = seatsOf("CONFIRMED");
    const held = seatsOf("FAILED", "PAYMENT_INTERRUPTED");
    for (let i = 0; i < BUYERS * 2; i++) {
      const seatId = session.seatIds[i];
      const want = sold.has(seatId) ? "s" : held.has(seatId) ? "h" : "a";
      expect([seatId, map.body.status[map.body.seatIds.indexOf(seatId)]]).toEqual([seatId, want]);
    }
  });
});
