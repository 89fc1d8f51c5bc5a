/**
 * Ticket fulfilment across real processes (NATS JetStream, one PostgreSQL database): the tickets
 * service, two stateless PDF workers on nodes of their own, notifications and a gateway. While
 * confirmed orders stream in, the tickets node and one PDF worker are SIGKILLed; the tickets node
 * comes back. Counted from the database afterwards: one ticket per seat, none twice, every ticket
 * has its PDF, one tickets.issued per order, one confirmation email per order with its PDFs; and
 * any gateway serves a PDF the workers stored.
 */
import { randomUUID } from "crypto";
import knexFactory, { Knex } from "knex";
import { Channels, OrdersConfirmed } from "../../channels";
import { writeOutbox } from "../../mixins/outbox.mixin";
import { signAccessToken } from "../../src/platform/auth";
import { verifyTicketCode } from "../../src/domain/ticket-code";
import { Cluster, startCluster } from "../helpers/cluster";
import { waitFor } from "../helpers/infra";
import { HttpClient } from "../helpers/node";
import { decodeQrFromPdf } from "../helpers/qr";
import { getBinary } from "../helpers/fulfilment";
import { createSession, SessionFixture } from "../helpers/seat-fixtures";

const ORDERS = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("tickets in a cluster, with the tickets node and a PDF worker killed mid-flow", () => {
  let cluster: Cluster;
  let db: Knex;
  let session: SessionFixture;

  beforeAll(async () => {
    cluster = await startCluster({
      nodes: [
        { name: "gw", services: ["api"] },
        { name: "tickets", services: ["tickets"] },
        { name: "pdf1", services: ["ticket-pdf"] },
        { name: "pdf2", services: ["ticket-pdf"] },
        { name: "mail", services: ["notifications"] },
      ],
    });
    db = knexFactory({ client: "pg", connection: cluster.database.url, pool: { min: 0, max: 2 } });
    session = await createSession(db);
  }, 240_000);
  afterAll(async () => {
    await db?.destroy();
    await cluster?.stop();
  });

  it("issues, renders and mails every order exactly once", async () => {
    const buyerId = randomUUID();
    const orders: OrdersConfirmed[] = Array.from({ length: ORDERS }, (_, i) => ({
      orderId: randomUUID(),
      userId: buyerId,
      email: "buyer@example.test",
      holderName: `Buyer ${i}`,
      sessionId: session.sessionId,
      eventId: session.eventId,
      currency: "EUR",
      totalCents: 9800,
      items: [0, 1].map((k) => ({ position: k + 1, seatId: session.seatIds[2 * i + k], seatLabel: `Seat ${2 * i + k}`, category: "standard", amountCents: 4900 })),
    }));
    // Published as the orders service does: into the outbox, relayed by whichever node runs a relay.
    const publishing = (async () => {
      for (const order of orders) {
        await db.transaction((trx) => writeOutbox(trx, Channels.ORDERS_CONFIRMED, order, { key: order.orderId }));
        await sleep(40);
      }
    })();
    await sleep(ORDERS * 15);
    await Promise.all([cluster.node("tickets").kill("SIGKILL"), cluster.node("pdf1").kill("SIGKILL")]);
    await publishing;
    await cluster.node("tickets").start();

    const orderIds = orders.map((o) => o.orderId);
    await waitFor("every order mailed", async () => {
      const sent = await db("notifications").whereIn("order_id", orderIds).andWhere({ kind: "order_confirmed", status: "SENT" });
      return sent.length === ORDERS;
    }, 180_000, 1000);

    const tickets = await db("tickets").whereIn("order_id", orderIds);
    expect(tickets).toHaveLength(ORDERS * 2);
    expect(new Set(tickets.map((t) => t.seat_id)).size).toBe(ORDERS * 2);
    for (const o of orders) {
      expect(tickets.filter((t) => t.order_id === o.orderId).map((t) => t.seat_id).sort()).toEqual(o.items.map((i) => i.seatId).sort());
    }
    const files = await db("ticket_files").whereIn("ticket_id", tickets.map((t) => t.id)).select("ticket_id");
    expect(files).toHaveLength(ORDERS * 2);
    const issued = await db("outbox").whereIn("key", orderIds).andWhere({ channel: Channels.TICKETS_ISSUED });
    expect(issued).toHaveLength(ORDERS);
    const mails = await db("notifications").whereIn("order_id", orderIds);
    expect(mails).toHaveLength(ORDERS);
    for (const m of mails) expect(m.attachments).toBe(2);

    // Served through the gateway from the database, whichever worker rendered it (one is dead).
    const token = signAccessToken(cluster.env.JWT_SECRET, { id: buyerId, email: "buyer@example.test", name: "Buyer", roles: ["buyer"] });
    const res = await getBinary(`${cluster.node("gw").baseUrl}/api/tickets/${tickets[0].id}/pdf`, token);
    expect(res.status).toBe(200);
    const scanned = decodeQrFromPdf(res.body);
    const publicKey = (await new HttpClient(cluster.node("gw").baseUrl).get("/api/tickets/public-key")).body.publicKey;
    expect(verifyTicketCode(scanned, publicKey)).toMatchObject({ valid: true, claims: { ticketId: tickets[0].id } });
  }, 400_000);
});
