/**
 * The whole purchase as a buyer and a door scanner meet it, through REST on one embedded node
 * with the real services: hold -> order -> CONFIRMED -> tickets -> PDF whose QR decodes and
 * verifies with the public key -> check-in once, twice 409 -> cancel -> revoked (410), with the
 * emails on record. A declined card ends in a failure email and no tickets.
 */
import { randomUUID } from "crypto";
import { TEST_CARDS } from "../../src/domain/payments";
import { verifyTicketCode } from "../../src/domain/ticket-code";
import { startTestNode, TestNode } from "../helpers/node";
import { createSession, SessionFixture } from "../helpers/seat-fixtures";
import { decodeQrFromPdf } from "../helpers/qr";
import { TestUser, userOf, waitFor, getBinary } from "../helpers/fulfilment";
import { rowsRead } from "../helpers/infra";

const SERVICES = ["api", "seats", "holds", "orders", "payments", "tickets", "ticket-pdf", "checkin", "notifications"];
const CARD = (number: string) => ({ method: "card", card: { number, expMonth: 12, expYear: new Date().getUTCFullYear() + 2, cvc: "123" } });

describe("purchase to check-in (embedded, real services)", () => {
  let node: TestNode;
  let session: SessionFixture;
  let buyer: TestUser;
  let scanner: TestUser;

  beforeAll(async () => {
    node = await startTestNode({ services: SERVICES });
    session = await createSession(await node.platform.db());
    buyer = userOf(node, ["buyer"], "Ada Lovelace");
    scanner = userOf(node, ["scanner"], "Door 3");
  });
  afterAll(() => node.stop());

  async function buy(seats: string[], card: string) {
    const hold = await buyer.http.post(`/api/sessions/${session.sessionId}/holds`, { seats });
    expect(hold.status).toBe(201);
    const order = await buyer.http.post("/api/orders", { holdId: hold.body.holdId, payment: CARD(card) }, { "idempotency-key": randomUUID() });
    expect(order.status).toBe(202);
    return order.body.orderId as string;
  }

  const orderStatus = (orderId: string, status: string) =>
    waitFor(`order ${orderId} ${status}`, async () => {
      const res = await buyer.http.get(`/api/orders/${orderId}`);
      return res.body.status === status && res.body;
    });

  const notification = (orderId: string, kind: string) =>
    waitFor(`${kind} email for ${orderId}`, async () => {
      const res = await buyer.http.get("/api/notifications/my?pageSize=100");
      return res.body.items.find((n: any) => n.orderId === orderId && n.kind === kind && n.status === "SENT");
    });

  it("a paid order becomes tickets whose PDF QR verifies offline, admitted once, revoked on cancel", async () => {
    const seats = [session.seatIds[40], session.seatIds[41]];
    const orderId = await buy(seats, TEST_CARDS.success);
    await orderStatus(orderId, "CONFIRMED");

    const tickets = await waitFor("tickets", async () => {
      const res = await buyer.http.get(`/api/tickets/my?orderId=${orderId}`);
      return res.body.items.length === 2 && res.body.items;
    });
    expect(tickets.map((t: any) => t.seatId).sort()).toEqual([...seats].sort());
    const publicKey = (await node.http.get("/api/tickets/public-key")).body.publicKey;

    for (const t of tickets) {
      const res = await getBinary(`${node.baseUrl}/api/tickets/${t.id}/pdf`, buyer.token);
      expect(res.status).toBe(200);
      const scanned = decodeQrFromPdf(res.body);
      expect(scanned).toBe(t.code);
      const verified = verifyTicketCode(scanned, publicKey);
      expect(verified.valid && verified.claims).toEqual({ ticketId: t.id, sessionId: session.sessionId, seatId: t.seatId, seatLabel: t.seatLabel, holderName: "Ada Lovelace" });
    }

    const confirmation = await notification(orderId, "order_confirmed");
    expect(confirmation.attachments).toBe(2);

    const first = await scanner.http.post("/api/checkin", { code: tickets[0].code });
    expect(first.status).toBe(200);
    expect(first.body.session).toMatchObject({ id: session.sessionId, eventTitle: "Test Show", venueName: "Test Hall" });
    const again = await scanner.http.post("/api/checkin", { code: tickets[0].code });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: "ALREADY_CHECKED_IN", details: { checkedInAt: first.body.ticket.usedAt } });

    expect((await buyer.http.post(`/api/orders/${orderId}/cancel`)).status).toBe(202);
    await waitFor("tickets revoked", async () => {
      const res = await buyer.http.get(`/api/tickets/my?orderId=${orderId}`);
      return res.body.items.every((t: any) => t.status === "REVOKED");
    });
    const revoked = await scanner.http.post("/api/checkin", { code: tickets[1].code });
    expect(revoked.status).toBe(410);
    expect(revoked.body.error.code).toBe("TICKET_REVOKED");
    await notification(orderId, "order_cancelled");
  });

  it("a declined card ends in a failure email and no tickets", async () => {
    const orderId = await buy([session.seatIds[50]], TEST_CARDS.declined);
    await orderStatus(orderId, "FAILED");
    const mail = await notification(orderId, "order_failed");
    expect(mail.subject).toBe("Your order could not be completed");
    expect((await buyer.http.get(`/api/tickets/my?orderId=${orderId}`)).body.total).toBe(0);
  });

  it("a purchase reads the rows it needs, not every order, payment, ticket or PDF sold before", async () => {
    const db = await node.platform.db();
    const first = await buy([session.seatIds[60], session.seatIds[61]], TEST_CARDS.success);
    await notification(first, "order_confirmed");
    // 1,500 earlier purchases by other buyers: copies of this one's rows under new keys, PDFs included.
    const HISTORY = 1500;
    const copy = async (table: string, where: string, keys: Record<string, string>) => {
      const changed = Object.entries(keys).map(([col, expr]) => `'${col}', ${expr}`).join(", ");
      await db.raw(
        `INSERT INTO ${table} SELECT (jsonb_populate_record(NULL::${table}, to_jsonb(x) || jsonb_build_object(${changed}))).*
           FROM ${table} AS x, generate_series(1, ?) AS g WHERE ${where}`,
        [HISTORY],
      );
    };
    await copy("orders", `x.id = '${first}'`, { id: "x.id || '-' || g", user_id: "x.user_id || '-' || g", hold_id: "x.hold_id || '-' || g", idempotency_key: "x.idempotency_key || '-' || g" });
    await copy("payments", `x.order_id = '${first}'`, { id: "x.id || '-' || g", user_id: "x.user_id || '-' || g", order_id: "x.order_id || '-' || g" });
    await copy("notifications", `x.order_id = '${first}'`, { id: "x.id || '-' || g", user_id: "x.user_id || '-' || g", order_id: "x.order_id || '-' || g" });
    await copy("ticket_files", `x.ticket_id IN (SELECT id FROM tickets WHERE order_id = '${first}')`, { ticket_id: "x.ticket_id || '-' || g" });
    await copy("tickets", `x.order_id = '${first}'`, { id: "x.id || '-' || g", user_id: "x.user_id || '-' || g", order_id: "x.order_id || '-' || g", code: "x.code || '-' || g" });
    await copy("holds", "x.status <> 'ACTIVE'", { id: "x.id || '-' || g", user_id: "x.user_id || '-' || g", order_id: "x.order_id || '-' || g" });
    await copy("outbox", "x.status = 'SENT'", { seq: "nextval('outbox_seq_seq')", id: "x.id || '-' || g", key: "x.key || '-' || g" });
    await copy("channel_inbox", "true", { message_id: "x.message_id || '-' || g" });
    await copy("mock_provider_operations", "true", { idempotency_key: "x.idempotency_key || '-' || g" });
    await copy("mock_provider_authorizations", "true", { id: "x.id || '-' || g" });
    const tables = ["orders", "payments", "notifications", "tickets", "ticket_files", "holds", "outbox", "channel_inbox", "mock_provider_operations", "mock_provider_authorizations"];
    const before = await rowsRead(db, tables);
    const orderId = await buy([session.seatIds[62], session.seatIds[63]], TEST_CARDS.success);
    await notification(orderId, "order_confirmed");
    const ticketIds = (await db("tickets").where({ order_id: orderId }).select("id")).map((t: { id: string }) => t.id);
    await waitFor("both PDFs", async () => (await db("ticket_files").whereIn("ticket_id", ticketIds).select("ticket_id")).length === 2);
    const after = await rowsRead(db, tables);
    const readPerTable = Object.fromEntries(tables.map((t) => [t, after[t] - before[t]]));
    // Each table holds more than 1,500 rows now; a purchase and its polling need a few dozen.
    expect(Object.entries(readPerTable).filter(([, n]) => n >= 300)).toEqual([]);
  });
});
