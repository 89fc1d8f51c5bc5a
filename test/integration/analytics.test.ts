/**
 * Sales analytics as an organizer meets them: a buyer buys through REST, and the organizer's
 * dashboard figures (tickets sold, revenue, live held/available, orders by status, sales over
 * time, activity) agree with what happened. Other organizers see nothing (404).
 */
import { randomUUID } from "crypto";
import { TEST_CARDS } from "../../src/domain/payments";
import { startTestNode, TestNode } from "../helpers/node";
import { TestUser, userOf, waitFor } from "../helpers/fulfilment";

const SERVICES = ["api", "venues", "events", "sessions", "seats", "holds", "orders", "payments", "tickets", "analytics"];
const CARD = (number: string) => ({ method: "card", card: { number, expMonth: 12, expYear: new Date().getUTCFullYear() + 2, cvc: "123" } });

describe("analytics", () => {
  let node: TestNode;
  let organizer: TestUser;
  let rival: TestUser;
  let buyer: TestUser;
  let eventId: string;
  let sessionId: string;
  let seatIds: string[];

  beforeAll(async () => {
    node = await startTestNode({ services: SERVICES });
    organizer = userOf(node, ["organizer"], "Olga Organizer");
    rival = userOf(node, ["organizer"], "Rita Rival");
    buyer = userOf(node, ["buyer"], "Bea Buyer");
    const venue = await organizer.http.post("/api/venues", {
      name: "Analytics Hall",
      city: "Bremen",
      address: "Markt 1",
      layout: { generate: { sections: [{ name: "Stalls", rows: 2, seatsPerRow: 10, category: "A" }] } },
    });
    expect(venue.status).toBe(201);
    const event = await organizer.http.post("/api/events", { title: "Counted Night", category: "concert", city: "Bremen", status: "on_sale" });
    expect(event.status).toBe(201);
    eventId = event.body.id;
    const startsAt = new Date(Date.now() + 86400_000);
    const session = await organizer.http.post("/api/sessions", {
      eventId,
      venueId: venue.body.id,
      startsAt: startsAt.toISOString(),
      endsAt: new Date(startsAt.getTime() + 7200_000).toISOString(),
      prices: { A: 2500 },
      currency: "EUR",
    });
    expect(session.status).toBe(201);
    sessionId = session.body.id;
    seatIds = (await node.http.get(`/api/sessions/${sessionId}/seat-map`)).body.seatIds;
  });
  afterAll(() => node.stop());

  it("records the activity stream, anonymous or signed in, and refuses junk", async () => {
    expect((await node.http.post("/api/analytics/events", { type: "session_view", sessionId, eventId })).status).toBe(202);
    expect((await buyer.http.post("/api/analytics/events", { type: "checkout_start", sessionId, props: { seats: 2 } })).status).toBe(202);
    const bad = await node.http.post("/api/analytics/events", { type: "<script>", sessionId });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("VALIDATION_ERROR");
    expect((await node.http.post("/api/analytics/events", { type: "x", props: { nested: { a: 1 } } })).status).toBe(400);
  });

  it("counts a confirmed sale, its revenue and the live seat state for the organizer", async () => {
    const hold = await buyer.http.post(`/api/sessions/${sessionId}/holds`, { seats: seatIds.slice(0, 2) });
    expect(hold.status).toBe(201);
    const order = await buyer.http.post("/api/orders", { holdId: hold.body.holdId, payment: CARD(TEST_CARDS.success) }, { "idempotency-key": randomUUID() });
    expect(order.status).toBe(202);
    await waitFor("confirmed", async () => (await buyer.http.get(`/api/orders/${order.body.orderId}`)).body.status === "CONFIRMED");
    // A second buyer's hold is live but unpaid.
    expect((await buyer.http.post(`/api/sessions/${sessionId}/holds`, { seats: [seatIds[5]] })).status).toBe(201);

    const sales = await waitFor("tickets counted", async () => {
      const res = await organizer.http.get(`/api/analytics/sales?sessionId=${sessionId}`);
      return res.status === 200 && res.body.sold === 2 && res.body;
    });
    expect(sales).toMatchObject({ sold: 2, revenueCents: 5000, currency: "EUR", held: 1, available: 17, live: true });
    expect(sales.orders).toEqual({ CONFIRMED: 1 });
    expect(sales.activity).toEqual({ session_view: 1, checkout_start: 1 });
    expect(sales.series.reduce((n: number, p: { sold: number }) => n + p.sold, 0)).toBe(2);
    expect(sales.series.reduce((n: number, p: { revenueCents: number }) => n + p.revenueCents, 0)).toBe(5000);

    const byEvent = await organizer.http.get(`/api/analytics/sales?eventId=${eventId}`);
    expect(byEvent.body).toMatchObject({ sold: 2, revenueCents: 5000, sessions: 1 });
    const admin = userOf(node, ["admin"], "Ada Admin");
    expect((await admin.http.get(`/api/analytics/sales?eventId=${eventId}`)).body.sold).toBe(2);
  });

  it("a window before the sale counts nothing", async () => {
    const to = new Date(Date.now() - 3600_000).toISOString();
    const res = await organizer.http.get(`/api/analytics/sales?sessionId=${sessionId}&to=${encodeURIComponent(to)}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ sold: 0, revenueCents: 0 });
  });

  it("shows nothing to anyone else, and asks for a scope", async () => {
    const rivalView = await rival.http.get(`/api/analytics/sales?eventId=${eventId}`);
    expect(rivalView.status).toBe(404);
    expect((await rival.http.get(`/api/analytics/sales?sessionId=${sessionId}`)).status).toBe(404);
    expect((await buyer.http.get(`/api/analytics/sales?eventId=${eventId}`)).status).toBe(403);
    expect((await node.http.get(`/api/analytics/sales?eventId=${eventId}`)).status).toBe(401);
    const noScope = await organizer.http.get("/api/analytics/sales");
    expect(noScope.status).toBe(400);
    expect((await organizer.http.get(`/api/analytics/sales?sessionId=${sessionId}&from=2030-01-02&to=2030-01-01`)).status).toBe(400);
    expect((await organizer.http.get("/api/analytics/sales?sessionId=..%2F..%2Fetc%2Fpasswd")).status).toBe(400);
  });
});
