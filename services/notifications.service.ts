/**
 * Emails to buyers, driven by the saga's durable channels:
 * - `orders.confirmed` records the confirmation (recipient, amounts) and waits for the PDFs;
 *   `tickets.rendered` then sends it with every ticket of the order attached;
 * - `orders.failed` and `orders.cancelled` send at once.
 * Each email is one `notifications` row, UNIQUE(order_id, kind): a redelivered message never
 * mails twice. A failed send throws: the consumer's transaction rolls back and the durable
 * channel retries it with backoff (then dead-letters it for an operator to replay).
 *
 * Transport (nodemailer): SMTP when SMTP_URL is set (e.g. Mailpit: smtp://localhost:1025);
 * otherwise the message is written as DATA_DIR/mail/<notification id>.eml, or, with
 * DATA_DIR=memory, kept in the row (`raw`) only.
 */
import fs from "fs";
import path from "path";
import { randomUUID } from "crypto";
import type { Knex } from "knex";
import type { ServiceSchema } from "moleculer";
import nodemailer from "nodemailer";
import { DbMixin } from "../mixins/db.mixin";
import { durable, OutboxMixin } from "../mixins/outbox.mixin";
import { sessionCatalog } from "../mixins/ticket-files";
import { Channels, OrdersCancelled, OrdersConfirmed, OrdersFailed, TicketsRendered } from "../channels";
import {
  NotificationKind,
  RenderedMail,
  renderOrderCancelled,
  renderOrderConfirmed,
  renderOrderFailed,
} from "../src/domain/notification-templates";
import { pageParams } from "../src/platform/pagination";
import { AuthContext, currentUser } from "../src/platform/auth";

interface NotificationRow {
  id: string;
  user_id: string;
  order_id: string;
  kind: NotificationKind;
  channel: string;
  recipient: string;
  subject: string | null;
  status: "WAITING" | "PENDING" | "SENT";
  context: Record<string, unknown>;
  attachments: number;
  message_id: string | null;
  sent_at: Date | null;
  created_at: Date;
}

/** A message built by `compose`, ready for `deliver`. */
interface ComposedMail {
  message: Buffer;
  messageId: string | null;
  envelope: { from: string; to: string[] };
  subject: string;
  attachments: number;
}

interface Attachment {
  filename: string;
  content: Buffer;
  contentType: string;
}

function notificationView(n: NotificationRow) {
  return {
    id: n.id,
    kind: n.kind,
    channel: n.channel,
    orderId: n.order_id,
    recipient: n.recipient,
    subject: n.subject,
    status: n.status,
    attachments: n.attachments,
    createdAt: new Date(n.created_at).toISOString(),
    sentAt: n.sent_at ? new Date(n.sent_at).toISOString() : null,
  };
}

/** Thrown when `tickets.rendered` overtakes `orders.confirmed`: the channel redelivers it later. */
class ConfirmationNotRecorded extends Error {
  retryable = true;
}

const NotificationsService: ServiceSchema = {
  name: "notifications",
  mixins: [DbMixin, OutboxMixin],
  settings: { rest: "/" },

  channels: {
    // One insert, idempotent by UNIQUE(order_id, kind): no inbox needed.
    [Channels.ORDERS_CONFIRMED]: durable<OrdersConfirmed>(async function (this: any, p, db) {
      await this.recordConfirmation(db, p);
    }, { group: "notifications", inbox: false }),
    // Idempotent by the row's move to SENT, which happens once. Waits for orders.confirmed to be
    // recorded if it overtook it: more patient retries.
    [Channels.TICKETS_RENDERED]: durable<TicketsRendered>(async function (this: any, p, db) {
      await this.sendConfirmation(db, p.orderId);
    }, { group: "notifications", inbox: false, maxAttempts: 12, backoff: { baseMs: 500, maxMs: 60_000 } }),
    [Channels.ORDERS_FAILED]: durable<OrdersFailed>(async function (this: any, p, trx) {
      await this.sendOnce(trx, "order_failed", p.orderId, p.userId, p.email, { reason: p.reason });
    }, { group: "notifications" }),
    [Channels.ORDERS_CANCELLED]: durable<OrdersCancelled>(async function (this: any, p, trx) {
      await this.sendOnce(trx, "order_cancelled", p.orderId, p.userId, p.email, { refundedCents: p.refundedCents });
    }, { group: "notifications" }),
  },

  actions: {
    my: {
      rest: "GET /notifications/my",
      params: {
        ...pageParams,
      },
      async handler(this: any, ctx: AuthContext<{ page: number; pageSize: number }>) {
        const user = currentUser(ctx);
        const { page, pageSize } = ctx.params;
        const db: Knex = this.db;
        const [{ count }] = await db("notifications").where({ user_id: user.id }).count<{ count: number }[]>({ count: "*" });
        const rows: NotificationRow[] = await db("notifications").where({ user_id: user.id })
          .orderBy([{ column: "created_at", order: "desc" }, { column: "id" }]).limit(pageSize).offset((page - 1) * pageSize);
        return { items: rows.map(notificationView), total: Number(count), page, pageSize };
      },
    },
  },

  methods: {
    async recordConfirmation(this: any, db: Knex, p: OrdersConfirmed) {
      const context = {
        holderName: p.holderName,
        sessionId: p.sessionId,
        eventId: p.eventId,
        currency: p.currency,
        totalCents: p.totalCents,
        items: p.items.map((i) => ({ seatLabel: i.seatLabel, category: i.category, amountCents: i.amountCents })),
      };
      await db("notifications")
        .insert({ id: randomUUID(), user_id: p.userId, order_id: p.orderId, kind: "order_confirmed", recipient: p.email, status: "WAITING", context: JSON.stringify(context) })
        .onConflict(["order_id", "kind"]).ignore();
    },

    /**
     * The confirmation with every ticket attached, once. Everything is read and the message
     * composed before the transaction; in it, the row moves to SENT (only from another status:
     * this is what makes a repeated delivery send nothing) and the message is sent, so a failed
     * send rolls the move back and the delivery is retried.
     */
    async sendConfirmation(this: any, db: Knex, orderId: string) {
      const row: NotificationRow | undefined = await db("notifications").where({ order_id: orderId, kind: "order_confirmed" }).first();
      if (!row) throw new ConfirmationNotRecorded(`order ${orderId}: tickets rendered before the confirmation was recorded`);
      if (row.status === "SENT") return;
      const ctx = row.context as { holderName: string; sessionId: string; currency: string; totalCents: number; items: [] };
      // Each ticket's PDF by its key, as a subquery: as a join, its generic plan (no planner
      // statistics when embedded) read every stored PDF and hashed them, 17 ms with 5,870 stored.
      const rows: Array<{ ticket_id: string; content: Buffer | null; seat_label: string }> = await db("tickets as t")
        .where("t.order_id", orderId).whereNot("t.status", "REVOKED").orderBy("t.position")
        .select("t.id as ticket_id", "t.seat_label", db.raw("(SELECT f.content FROM ticket_files AS f WHERE f.ticket_id = t.id) AS content"));
      const files = rows.filter((r): r is typeof r & { content: Buffer } => r.content !== null);
      // The session's names as its tickets' PDFs print them (read once per session every few seconds).
      const session = await sessionCatalog(db, ctx.sessionId);
      const mail = renderOrderConfirmed({
        holderName: ctx.holderName,
        orderId,
        eventTitle: session.eventTitle ?? "your event",
        startsAt: session.startsAt,
        venueName: session.venueName,
        currency: ctx.currency,
        totalCents: ctx.totalCents,
        items: ctx.items,
        ticketCount: files.length,
      });
      const attachments: Attachment[] = files.map((f, i) => ({
        filename: `ticket-${i + 1}-${f.ticket_id.slice(0, 8)}.pdf`,
        content: f.content,
        contentType: "application/pdf",
      }));
      const composed = await this.compose(row, mail, attachments);
      // A transaction only over SMTP (see `deliver`): on the embedded database one holds up every
      // other statement, and this one, once per order, stalled the relay (bench/fixes.md, seventh round).
      if (this.transport) await db.transaction((trx) => this.deliver(trx, row, composed));
      else await this.deliver(db, row, composed);
    },

    /** The whole message, built without sending it (CPU only: done outside any transaction where it can). */
    async compose(this: any, row: NotificationRow, mail: RenderedMail, attachments: Attachment[]): Promise<ComposedMail> {
      const built = await this.composer.sendMail({
        from: this.platform.config.mailFrom,
        to: row.recipient,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        attachments,
        headers: { "X-TicketFlash-Notification": row.id },
        // One Message-ID per notification: a message written or sent again is the same message.
        messageId: `<${row.id}@ticketflash>`,
      });
      return { message: built.message, messageId: built.messageId ?? null, envelope: built.envelope, subject: mail.subject, attachments: attachments.length };
    },

    /** Failure and cancellation mails: recorded and sent in one step, once per order. */
    async sendOnce(this: any, trx: Knex.Transaction, kind: NotificationKind, orderId: string, userId: string, email: string, context: Record<string, unknown>) {
      const db = trx;
      await db("notifications")
        .insert({ id: randomUUID(), user_id: userId, order_id: orderId, kind, recipient: email, status: "PENDING", context: JSON.stringify(context) })
        .onConflict(["order_id", "kind"]).ignore();
      const row: NotificationRow = await db("notifications").where({ order_id: orderId, kind }).first();
      if (row.status === "SENT") return;
      let mail: RenderedMail;
      if (kind === "order_failed") mail = renderOrderFailed({ orderId, reason: String(row.context.reason ?? "") });
      else mail = renderOrderCancelled({ orderId, currency: await this.orderCurrency(trx, orderId), refundedCents: Number(row.context.refundedCents ?? 0) });
      await this.deliver(trx, row, await this.compose(row, mail, []));
    },

    async orderCurrency(this: any, trx: Knex.Transaction, orderId: string): Promise<string | null> {
      const order = await trx("orders").where({ id: orderId }).first("currency");
      return order?.currency ?? null;
    },

    /**
     * Sends once: moves the row to SENT (only from another status, so a repeated delivery sends
     * nothing) and sends, over SMTP, as DATA_DIR/mail/<id>.eml, or kept in the row. Over SMTP,
     * `db` is a transaction: the move comes first and a failed send rolls it back. A file is
     * written before the move, with no transaction needed: writing it again replaces it (one
     * file per notification, whatever the repeats), and a failed write throws before the move.
     * Kept in the row, the message goes in with the move, in one statement. Either way a failure
     * throws, and the delivery is retried.
     */
    async deliver(this: any, db: Knex, row: NotificationRow, mail: ComposedMail) {
      if (!this.transport && this.mailDir) fs.writeFileSync(path.join(this.mailDir, `${row.id}.eml`), mail.message);
      const claimed = await db("notifications").where({ id: row.id }).whereNot({ status: "SENT" }).update({
        status: "SENT", subject: mail.subject, sent_at: db.fn.now(), message_id: mail.messageId, attachments: mail.attachments,
        raw: this.transport || this.mailDir ? null : mail.message,
      }).returning("id");
      if (claimed.length && this.transport) await this.transport.sendMail({ envelope: mail.envelope, raw: mail.message });
    },
  },

  started(this: any) {
    const config = this.platform.config;
    // Builds messages without sending them (a stream transport); `deliver` sends them.
    this.composer = nodemailer.createTransport({ streamTransport: true, buffer: true });
    if (config.smtpUrl) {
      // Short timeouts: a send runs inside a transaction (on the embedded database that holds up
      // every other statement), so an unreachable server must fail fast and be retried later.
      this.transport = nodemailer.createTransport({ url: config.smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 });
      this.mailDir = undefined;
    } else {
      this.transport = undefined;
      this.mailDir = config.dataDir === "memory" ? undefined : path.join(config.dataDir, "mail");
      if (this.mailDir) fs.mkdirSync(this.mailDir, { recursive: true });
    }
  },

  stopped(this: any) {
    this.transport?.close?.();
  },
};

export default NotificationsService;
