/**
 * Tickets: issued from the durable `orders.confirmed` event (one per order item, each with an
 * Ed25519-signed QR code), revoked on `orders.cancelled`, and served to their owner (or an admin)
 * as JSON, PDF and QR image. Anyone else gets 404, as if the ticket did not exist.
 *
 * GET /api/tickets/:id/pdf serves the PDF the worker (services/ticket-pdf.service.ts) stored; if
 * the buyer is faster than the worker, it is rendered and stored right here, so the route never
 * answers "not ready" for a ticket that exists. Hence the buyer's socket is told `tickets.ready`
 * as soon as the tickets are issued, not once the worker has rendered them.
 */
import { randomUUID } from "crypto";
import type { Knex } from "knex";
import type { ServiceSchema } from "moleculer";
import { DbMixin } from "../mixins/db.mixin";
import { PdfRendererMixin, renderTicketPdfNow } from "../mixins/ticket-files";
import { changeWithOutbox, durable, OutboxMixin } from "../mixins/outbox.mixin";
import { Channels, OrdersCancelled, OrdersConfirmed } from "../channels";
import { signTicketCode } from "../src/domain/ticket-code";
import { renderTicketQrPng } from "../src/domain/ticket-pdf";
import { pageParams } from "../src/platform/pagination";
import { AuthContext, AuthUser, currentUser, hasRole } from "../src/platform/auth";
import { ApiError, notFound } from "../src/platform/errors";

export interface TicketRow {
  id: string;
  order_id: string;
  position: number;
  user_id: string;
  session_id: string;
  event_id: string | null;
  seat_id: string;
  seat_label: string;
  category: string | null;
  holder_name: string;
  status: "VALID" | "USED" | "REVOKED";
  code: string;
  used_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

export function ticketView(t: TicketRow) {
  return {
    id: t.id,
    orderId: t.order_id,
    sessionId: t.session_id,
    eventId: t.event_id,
    seatId: t.seat_id,
    seatLabel: t.seat_label,
    category: t.category,
    holderName: t.holder_name,
    status: t.status,
    code: t.code,
    usedAt: t.used_at ? new Date(t.used_at).toISOString() : null,
    createdAt: new Date(t.created_at).toISOString(),
  };
}

/** Ticket ids are UUIDs; anything else (`../../etc/passwd`) is refused before any lookup. */
export const TICKET_ID = { type: "string", pattern: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, max: 36 } as const;

export const ticketRevoked = (ticketId: string) =>
  new ApiError(410, "TICKET_REVOKED", "This ticket was revoked (its order was cancelled).", { ticketId });

// An order cancelled before its confirmation reached us gets revoked tickets, never valid ones.
const CANCELLED_ORDER_STATUSES = ["CANCELLED", "REFUNDED"];
/** True when the order (the one binding) was cancelled: its tickets are born revoked. */
const ORDER_CANCELLED_SQL = `EXISTS (SELECT 1 FROM orders WHERE id = ? AND status IN (${CANCELLED_ORDER_STATUSES.map((s) => `'${s}'`).join(", ")}))`;

const TicketsService: ServiceSchema = {
  name: "tickets",
  mixins: [DbMixin, OutboxMixin, PdfRendererMixin],
  settings: { rest: "/" },

  channels: {
    [Channels.ORDERS_CONFIRMED]: durable<OrdersConfirmed>(async function (this: any, order, db) {
      const ticketIds: string[] = await this.issueTickets(db, order);
      // Committed (one statement, no transaction): the buyer's page shows them now, and their PDFs
      // answer at once (rendered here on demand if the worker has not stored them yet). Waiting
      // for the worker cost buyers a second trip through the outbox: 2.9 s at the median under
      // the purchase benchmark's load (bench/fixes.md, seventh round).
      for (const ticketId of ticketIds) this.broker.emit("tickets.ready", { ticketId, orderId: order.orderId, userId: order.userId });
    }, { group: "tickets", inbox: false }),
    [Channels.ORDERS_CANCELLED]: durable<OrdersCancelled>(async function (this: any, order, trx) {
      await this.revokeTickets(trx, order.orderId);
    }, { group: "tickets" }),
  },

  actions: {
    my: {
      rest: "GET /tickets/my",
      params: {
        ...pageParams,
        orderId: { type: "string", max: 64, optional: true },
      },
      async handler(this: any, ctx: AuthContext<{ page: number; pageSize: number; orderId?: string }>) {
        const user = currentUser(ctx);
        const { page, pageSize, orderId } = ctx.params;
        const base = () => {
          const q = (this.db as Knex)("tickets").where({ user_id: user.id });
          if (orderId) q.andWhere({ order_id: orderId });
          return q;
        };
        const [{ count }] = await base().count<{ count: number }[]>({ count: "*" });
        const rows: TicketRow[] = await base().orderBy([{ column: "created_at", order: "desc" }, { column: "position" }])
          .limit(pageSize).offset((page - 1) * pageSize);
        return { items: rows.map(ticketView), total: Number(count), page, pageSize };
      },
    },

    publicKey: {
      rest: "GET /tickets/public-key",
      auth: "public",
      handler(this: any) {
        return { algorithm: "Ed25519", format: "spki-pem", publicKey: this.platform.secrets.ticketPublicKey };
      },
    },

    get: {
      rest: "GET /tickets/:id",
      params: { id: TICKET_ID },
      async handler(this: any, ctx: AuthContext<{ id: string }>) {
        return ticketView(await this.ownTicket(ctx));
      },
    },

    pdf: {
      rest: "GET /tickets/:id/pdf",
      params: { id: TICKET_ID },
      async handler(this: any, ctx: AuthContext<{ id: string }>) {
        // The ticket and its stored PDF in one statement.
        const ticket: TicketRow & { pdf?: Buffer | null } = await this.ownTicket(ctx, { withPdf: true });
        if (ticket.status === "REVOKED") throw ticketRevoked(ticket.id);
        let pdf: Buffer | undefined = ticket.pdf ?? undefined;
        // Not rendered yet: render it here, from the row just read.
        if (!pdf) pdf = await renderTicketPdfNow(this.db, ticket);
        ctx.meta.$responseType = "application/pdf";
        ctx.meta.$responseHeaders = {
          "Content-Disposition": `inline; filename="ticket-${ticket.id}.pdf"`,
          "Cache-Control": "private, no-store",
        };
        return pdf;
      },
    },

    qr: {
      rest: "GET /tickets/:id/qr.png",
      params: { id: TICKET_ID },
      async handler(this: any, ctx: AuthContext<{ id: string }>) {
        const ticket: TicketRow = await this.ownTicket(ctx);
        if (ticket.status === "REVOKED") throw ticketRevoked(ticket.id);
        ctx.meta.$responseType = "image/png";
        ctx.meta.$responseHeaders = { "Cache-Control": "private, no-store" };
        return renderTicketQrPng(ticket.code);
      },
    },
  },

  methods: {
    /** The caller's ticket (an admin's: any), else 404; `withPdf` adds the stored PDF as `pdf`. */
    async ownTicket(this: any, ctx: AuthContext<{ id: string }>, opts: { withPdf?: boolean } = {}): Promise<TicketRow & { pdf?: Buffer | null }> {
      const user: AuthUser = currentUser(ctx);
      const ticket: (TicketRow & { pdf?: Buffer | null }) | undefined = opts.withPdf
        ? await this.db("tickets as t").leftJoin("ticket_files as f", "f.ticket_id", "t.id").where("t.id", ctx.params.id).first("t.*", "f.content as pdf")
        : await this.db("tickets").where({ id: ctx.params.id }).first();
      if (!ticket || (ticket.user_id !== user.id && !hasRole(user, ["admin"]))) throw notFound("Ticket");
      return ticket;
    },

    /**
     * One ticket per order item and the `tickets.issued` outbox record, in one statement (no
     * inbox, no transaction: UNIQUE(order_id, position) makes a second confirmation of the same
     * order, whatever its message id, insert nothing and publish nothing). A cancellation that
     * overtook the confirmation: its tickets are born revoked, decided in the same statement.
     */
    async issueTickets(this: any, db: Knex, order: OrdersConfirmed): Promise<string[]> {
      if (!order.items.length) return [];
      const privateKey: string = this.platform.secrets.ticketPrivateKey;
      const rows = order.items.map((item) => {
        const id = randomUUID();
        const claims = { ticketId: id, sessionId: order.sessionId, seatId: item.seatId, seatLabel: item.seatLabel, holderName: order.holderName ?? "" };
        return {
          id,
          order_id: order.orderId,
          position: item.position,
          user_id: order.userId,
          session_id: order.sessionId,
          event_id: order.eventId ?? null,
          seat_id: item.seatId,
          seat_label: item.seatLabel,
          category: item.category ?? null,
          holder_name: order.holderName ?? "",
          status: db.raw(`CASE WHEN ${ORDER_CANCELLED_SQL} THEN 'REVOKED' ELSE 'VALID' END`, [order.orderId]),
          revoked_at: db.raw(`CASE WHEN ${ORDER_CANCELLED_SQL} THEN now() END`, [order.orderId]),
          code: signTicketCode(claims, privateKey),
        };
      });
      // One statement inserts all of them or none, so the event lists exactly the ids made here.
      const ticketIds = [...rows].sort((a, b) => a.position - b.position).map((r) => r.id);
      const issued = await changeWithOutbox(
        db,
        db("tickets").insert(rows).onConflict(["order_id", "position"]).ignore().returning("id"),
        Channels.TICKETS_ISSUED,
        { orderId: order.orderId, userId: order.userId, ticketIds },
        { key: order.orderId },
      );
      return issued ? ticketIds : [];
    },

    async revokeTickets(this: any, trx: Knex.Transaction, orderId: string): Promise<string[]> {
      const rows: Array<{ id: string }> = await trx("tickets")
        .where({ order_id: orderId }).whereNot({ status: "REVOKED" })
        .update({ status: "REVOKED", revoked_at: trx.fn.now() }).returning("id");
      return rows.map((r) => r.id);
    },
  },
};

export default TicketsService;
