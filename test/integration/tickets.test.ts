/**
 * Tickets end to end on a real node: `orders.confirmed` through the outbox and the durable
 * channels -> signed tickets -> PDFs from the worker whose QR a scanner decodes -> check-in;
 * cancellation revokes; redelivery issues nothing twice; only the owner (or an admin) sees a ticket.
 */
import crypto, { randomUUID } from "crypto";
import type { ServiceSchema } from "moleculer";
import { Channels } from "../../channels";
import { signTicketCode, verifyTicketCode } from "../../src/domain/ticket-code";
import { pdfRendererState } from "../../src/platform/pdf-renderer";
import { loadUnrenderedTicketDocuments } from "../../mixins/ticket-files";
import { startTestNode, TestNode } from "../helpers/node";
import { decodeQrFromPdf, decodeQrPng, pdfInfo, pdfText } from "../helpers/qr";
import { CatalogFixture, confirm, confirmedOrder, createCatalog, delivered, publish, TestUser, userOf, waitFor, getBinary } from "../helpers/fulfilment";

const ready: Array<{ ticketId: string; orderId: string; userId: string }> = [];
const spy: ServiceSchema = {
  name: "ready-spy",
  events: {
    "tickets.ready"(ctx: { params: { ticketId: string; orderId: string; userId: string } }) {
      ready.push(ctx.params);
    },
  },
};

describe("tickets", () => {
  let node: TestNode;
  let catalog: CatalogFixture;
  let buyer: TestUser;
  let other: TestUser;
  let scanner: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    node = await startTestNode({ services: ["api", "tickets", "ticket-pdf", "checkin"], schemas: [spy] });
    catalog = await createCatalog(node);
    buyer = userOf(node, ["buyer"], "Ada Lovelace");
    other = userOf(node, ["buyer"], "Mallory");
    scanner = userOf(node, ["scanner"], "Door 1");
    admin = userOf(node, ["admin"], "Root");
  });
  let stopped = false;
  afterAll(() => (stopped ? undefined : node.stop()));

  async function ticketsOf(user: TestUser, orderId: string, count: number) {
    return waitFor(`${count} tickets of order ${orderId}`, async () => {
      const res = await user.http.get(`/api/tickets/my?orderId=${orderId}`);
      return res.status === 200 && res.body.items.length === count ? res.body.items : undefined;
    });
  }

  async function pdfsStored(ticketIds: string[]) {
    const db = await node.platform.db();
    await waitFor("the worker to store the PDFs", async () => (await db("ticket_files").whereIn("ticket_id", ticketIds)).length === ticketIds.length);
  }

  describe("a confirmed order", () => {
    let order: ReturnType<typeof confirmedOrder>;
    let items: any[];

    beforeAll(async () => {
      order = confirmedOrder(buyer, catalog, [1, 2]);
      await confirm(node, order);
      items = await ticketsOf(buyer, order.orderId, 2);
    });

    it("becomes one valid ticket per seat, whose code verifies with the published public key", async () => {
      const key = await node.http.get("/api/tickets/public-key");
      expect(key.status).toBe(200);
      expect(key.body.algorithm).toBe("Ed25519");
      // Usable by any Ed25519 implementation: a plain SPKI PEM.
      expect(crypto.createPublicKey(key.body.publicKey).asymmetricKeyType).toBe("ed25519");

      expect(items.map((t) => t.seatId).sort()).toEqual(["S1-A-1", "S1-A-2"]);
      for (const t of items) {
        const res = await buyer.http.get(`/api/tickets/${t.id}`);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ id: t.id, orderId: order.orderId, sessionId: catalog.sessionId, seatId: t.seatId, seatLabel: t.seatLabel, holderName: "Ada Lovelace", status: "VALID" });
        const verified = verifyTicketCode(res.body.code, key.body.publicKey);
        expect(verified).toEqual({ valid: true, claims: { ticketId: t.id, sessionId: catalog.sessionId, seatId: t.seatId, seatLabel: t.seatLabel, holderName: "Ada Lovelace" } });
      }
    });

    it("gets a PDF from the worker: a real PDF with the event details and a QR that decodes to the verified code", async () => {
      await pdfsStored(items.map((t) => t.id));
      const key = (await node.http.get("/api/tickets/public-key")).body.publicKey;
      const t = items[0];
      const res = await getBinary(`${node.baseUrl}/api/tickets/${t.id}/pdf`, buyer.token);
      expect(res.status).toBe(200);
      expect(res.contentType).toMatch(/^application\/pdf/);
      const pdf = res.body;
      expect(pdf.subarray(0, 5).toString("latin1")).toBe("%PDF-");
      expect(pdfInfo(pdf)).toMatch(/Pages:\s+1/);
      const text = pdfText(pdf);
      for (const s of ["Symphony in the Park", "2027-06-01 19:30 UTC", "Riverside Hall", t.seatLabel, "Ada Lovelace", t.id]) expect(text).toContain(s);
      const scanned = decodeQrFromPdf(pdf);
      expect(scanned).toBe(t.code);
      expect(verifyTicketCode(scanned, key).valid).toBe(true);
    });

    it("tells the buyer's socket once each ticket is ready", async () => {
      await waitFor("tickets.ready for both tickets", async () => items.every((t) => ready.some((r) => r.ticketId === t.id)));
      for (const r of ready.filter((x) => x.orderId === order.orderId)) expect(r.userId).toBe(buyer.id);
    });

    it("serves the QR as a PNG that decodes to the code", async () => {
      const res = await getBinary(`${node.baseUrl}/api/tickets/${items[0].id}/qr.png`, buyer.token);
      expect(res.status).toBe(200);
      expect(res.contentType).toMatch(/^image\/png/);
      expect(decodeQrPng(res.body)).toBe(items[0].code);
    });

    it("a redelivered confirmation issues nothing new and publishes nothing new", async () => {
      const db = await node.platform.db();
      const before = await delivered(node, Channels.ORDERS_CONFIRMED, order.orderId);
      await confirm(node, order);
      await confirm(node, { ...order });
      await waitFor("both redeliveries processed", async () => (await delivered(node, Channels.ORDERS_CONFIRMED, order.orderId)) === before + 2);
      expect(await db("tickets").where({ order_id: order.orderId })).toHaveLength(2);
      const issued = await db("outbox").where({ channel: Channels.TICKETS_ISSUED, key: order.orderId });
      expect(issued).toHaveLength(1);
      expect((await buyer.http.get(`/api/tickets/my?orderId=${order.orderId}`)).body.total).toBe(2);
    });

    it("is listed for its owner only", async () => {
      const mine = await buyer.http.get("/api/tickets/my");
      expect(mine.status).toBe(200);
      expect(mine.body).toMatchObject({ total: expect.any(Number), page: 1, pageSize: 20 });
      expect(mine.body.items.every((t: any) => items.some((i) => i.id === t.id) || t.orderId !== order.orderId)).toBe(true);
      const theirs = await other.http.get("/api/tickets/my");
      expect(theirs.body.items.filter((t: any) => t.orderId === order.orderId)).toHaveLength(0);
      expect((await node.http.get("/api/tickets/my")).status).toBe(401);
    });

    it("another user gets 404 for the ticket, its PDF and its QR; an admin gets them", async () => {
      const id = items[0].id;
      for (const path of [`/api/tickets/${id}`, `/api/tickets/${id}/pdf`, `/api/tickets/${id}/qr.png`]) {
        const res = await other.http.get(path);
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe("NOT_FOUND");
        expect((await node.http.get(path)).status).toBe(401);
        expect((await admin.http.get(path)).status).toBe(200);
      }
    });

    it("path-like or malformed ids are refused before any lookup", async () => {
      for (const id of ["..%2F..%2Fetc%2Fpasswd", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "ticket.pdf", "1 OR 1=1", randomUUID() + "x"]) {
        for (const suffix of ["", "/pdf", "/qr.png"]) {
          const res = await buyer.http.get(`/api/tickets/${id}${suffix}`);
          expect([400, 404]).toContain(res.status);
          expect(res.body.error).toBeDefined();
        }
      }
      const traversal = await buyer.http.get("/api/tickets/../../etc/passwd");
      expect(traversal.status).toBe(404);
      expect(traversal.text).not.toMatch(/root:/);
      expect((await buyer.http.get(`/api/tickets/${randomUUID()}`)).status).toBe(404);
    });
  });

  describe("check-in", () => {
    let tickets: any[];
    let order: ReturnType<typeof confirmedOrder>;

    beforeAll(async () => {
      order = confirmedOrder(buyer, catalog, [3, 4]);
      await confirm(node, order);
      tickets = await ticketsOf(buyer, order.orderId, 2);
    });

    it("admits a ticket once; the second scan gets 409 with the time of the first", async () => {
      const t = tickets[0];
      const first = await scanner.http.post("/api/checkin", { code: t.code });
      expect(first.status).toBe(200);
      expect(first.body.ticket).toMatchObject({ id: t.id, status: "USED", seatLabel: t.seatLabel });
      expect(first.body.seat).toEqual({ id: t.seatId, label: t.seatLabel, category: "standard" });
      expect(first.body.session).toMatchObject({ id: catalog.sessionId, eventTitle: "Symphony in the Park", venueName: "Riverside Hall" });
      const second = await scanner.http.post("/api/checkin", { code: t.code });
      expect(second.status).toBe(409);
      expect(second.body.error.code).toBe("ALREADY_CHECKED_IN");
      expect(second.body.error.details.checkedInAt).toBe(first.body.ticket.usedAt);
      expect((await buyer.http.get(`/api/tickets/${t.id}`)).body.status).toBe("USED");
    });

    it("admits a ticket exactly once when scanned at several doors at the same moment", async () => {
      const t = tickets[1];
      const results = await Promise.all(Array.from({ length: 8 }, () => scanner.http.post("/api/checkin", { code: t.code })));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect(results.filter((r) => r.status === 409)).toHaveLength(7);
    });

    it("refuses forged, altered and unknown codes with 404 UNKNOWN_TICKET", async () => {
      const t = tickets[0];
      const { privateKey } = crypto.generateKeyPairSync("ed25519");
      const otherKey = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
      const claims = { ticketId: t.id, sessionId: catalog.sessionId, seatId: t.seatId, seatLabel: t.seatLabel, holderName: "Ada Lovelace" };
      const forged = signTicketCode(claims, otherKey);
      // Our valid signature replayed with another seat in the payload.
      const altered = signTicketCode({ ...claims, seatId: "S1-A-9", seatLabel: "Stalls A-9" }, otherKey).split(".").slice(0, 2).join(".") + "." + t.code.split(".")[2];
      // A genuine signature for a ticket that does not exist (signed with the platform's own key).
      const unknown = signTicketCode({ ...claims, ticketId: randomUUID() }, node.platform.secrets.ticketPrivateKey);
      for (const code of [forged, altered, unknown, "TF1.garbage.x", t.code.slice(0, -2)]) {
        const res = await scanner.http.post("/api/checkin", { code });
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe("UNKNOWN_TICKET");
      }
    });

    it("validates input and roles", async () => {
      expect((await scanner.http.post("/api/checkin", {})).status).toBe(400);
      expect((await scanner.http.post("/api/checkin", { code: "x".repeat(5000) })).status).toBe(400);
      expect((await scanner.http.post("/api/checkin", { code: tickets[0].code, seat: "x" })).status).toBe(400);
      expect((await buyer.http.post("/api/checkin", { code: tickets[0].code })).status).toBe(403);
      expect((await node.http.post("/api/checkin", { code: tickets[0].code })).status).toBe(401);
      expect((await admin.http.post("/api/checkin", { code: tickets[0].code })).status).toBe(409);
    });
  });

  describe("a cancelled order", () => {
    it("revokes its tickets: check-in 410, PDF and QR 410, status REVOKED", async () => {
      const order = confirmedOrder(buyer, catalog, [1]);
      await confirm(node, order);
      const [t] = await ticketsOf(buyer, order.orderId, 1);
      await publish(node, Channels.ORDERS_CANCELLED, { orderId: order.orderId, userId: buyer.id, email: buyer.email, refundedCents: 4500 });
      await waitFor("revocation", async () => (await buyer.http.get(`/api/tickets/${t.id}`)).body.status === "REVOKED");
      const scan = await scanner.http.post("/api/checkin", { code: t.code });
      expect(scan.status).toBe(410);
      expect(scan.body.error.code).toBe("TICKET_REVOKED");
      expect((await buyer.http.get(`/api/tickets/${t.id}/pdf`)).status).toBe(410);
      expect((await buyer.http.get(`/api/tickets/${t.id}/qr.png`)).status).toBe(410);
    });
  });

  it("tells the buyer at issuance and renders the PDF on demand when they ask before the worker got there", async () => {
    const order = confirmedOrder(other, catalog, [2], "Mallory M.");
    const db = await node.platform.db();
    // Simulates a lagging worker: tickets are issued but the PDF is not stored yet.
    const pdfWorker = node.broker.getLocalService("ticket-pdf");
    await node.broker.destroyService(pdfWorker);
    try {
      await confirm(node, order);
      const [t] = await ticketsOf(other, order.orderId, 1);
      // The buyer's page is told with no worker running: the file is not needed to say so.
      await waitFor("tickets.ready with no PDF worker", async () => ready.some((r) => r.ticketId === t.id && r.orderId === order.orderId && r.userId === other.id));
      expect(await db("ticket_files").where({ ticket_id: t.id })).toHaveLength(0);
      // Every rendering of a ticket, the worker's or a GET's, is dated at its issuance (the same bytes).
      await db("tickets").where({ id: t.id }).update({ created_at: new Date("2026-01-02T03:04:05.000Z") });
      const [doc] = await loadUnrenderedTicketDocuments(db, [t.id]);
      expect(new Date(doc.issuedAt!).toISOString()).toBe("2026-01-02T03:04:05.000Z");
      const res = await getBinary(`${node.baseUrl}/api/tickets/${t.id}/pdf`, other.token);
      expect(res.status).toBe(200);
      expect(res.body.toString("latin1")).toContain("(D:20260102030405Z)");
      expect(decodeQrFromPdf(res.body)).toBe(t.code);
      const stored = await db("ticket_files").where({ ticket_id: t.id });
      expect(stored).toHaveLength(1);
      // The buyer got the file that is stored, and gets it again.
      expect(Buffer.compare(res.body, stored[0].content)).toBe(0);
      expect(Buffer.compare((await getBinary(`${node.baseUrl}/api/tickets/${t.id}/pdf`, other.token)).body, stored[0].content)).toBe(0);

      // Two devices asking at once before any file exists: one render is stored, both get it.
      const order2 = confirmedOrder(other, catalog, [3], "Mallory M.");
      await confirm(node, order2);
      const [t2] = await ticketsOf(other, order2.orderId, 1);
      const both = await Promise.all([1, 2].map(() => getBinary(`${node.baseUrl}/api/tickets/${t2.id}/pdf`, other.token)));
      const [file] = await db("ticket_files").where({ ticket_id: t2.id });
      for (const r of both) {
        expect(r.status).toBe(200);
        expect(Buffer.compare(r.body, file.content)).toBe(0);
      }
    } finally {
      node.broker.createService(require("../../services/ticket-pdf.service").default);
    }
  });

  it("stops the PDF thread with the node (left idle, such threads held up the process's exit)", async () => {
    // The tickets above were rendered on the PDF thread.
    expect(await pdfRendererState()).toBe("thread");
    stopped = true;
    await node.stop();
    expect(await pdfRendererState()).toBe("here");
  });
});
