/**
 * Emails to buyers, driven by the saga's durable channels:
 * - `orders.confirmed` records the confirmation (recipient, amounts) and waits for the PDFs;
 *   `tickets.rendered` then sends it with every ticket of the order attached;
 * - `orders.failed` and `orders.cancelled` send at once.
 * Each email is one `notifications` row, UNIQUE(order_id, kind): a redelivered message never
 * mails twice. A failed send throws, and the durable channel retries it with backoff (then
 * dead-letters it for an operator to replay). No send runs inside a transaction: on the embedded
 * database that would hold up every other statement of the node while the SMTP server answers.
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
  status: "WAITING" | "PENDING" | "SENDING" | "SENT";
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

/** Thrown when another delivery is sending the same mail: the channel tries again later, when it is SENT or its claim ran out. */
class BeingSent extends Error {
  retryable = true;
}

/**
 * How long a claim to send a mail over SMTP lasts: longer than a send can take with the
 * transport's timeouts (10 s to connect, 10 s for the greeting, 30 s of silence).
 */
const SEND_CLAIM_SECONDS = 120;

/**
 * Retries of the consumers that send: patient enough (about five minutes over twelve attempts)
 * to outlast a claim of SEND_CLAIM_SECONDS left by a node that died, and the confirmation's wait
 * for `orders.confirmed` when `tickets.rendered` overtook it. With the channel's default (six
 * attempts over about eight seconds) such a mail was dead-lettered instead.
 */
const SENDING_RETRIES = { maxAttempts: 12, backoff: { baseMs: 500, maxMs: 60_000 } };

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
    // recorded if it overtook it.
    [Channels.TICKETS_RENDERED]: durable<TicketsRendered>(async function (this: any, p, db) {
      await this.sendConfirmation(db, p.orderId);
    }, { group: "notifications", inbox: false, ...SENDING_RETRIES }),
    // Idempotent by UNIQUE(order_id, kind) and the row's move to SENT: no inbox (and no
    // transaction around the send).
    [Channels.ORDERS_FAILED]: durable<OrdersFailed>(async function (this: any, p, db) {
      await this.sendOnce(db, "order_failed", p.orderId, p.userId, p.email, { reason: p.reason });
    }, { group: "notifications", inbox: false, ...SENDING_RETRIES }),
    [Channels.ORDERS_CANCELLED]: durable<OrdersCancelled>(async function (this: any, p, db) {
      await this.sendOnce(db, "order_cancelled", p.orderId, p.userId, p.email, { refundedCents: p.refundedCents });
    }, { group: "notifications", inbox: false, ...SENDING_RETRIES }),
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
     * The confirmation with every ticket attached, once: everything is read and the message
     * composed, then `deliver` sends it once.
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
      await this.deliver(db, row, await this.compose(row, mail, attachments));
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

    /** Failure and cancellation mails: recorded, then sent, once per order. */
    async sendOnce(this: any, db: Knex, kind: NotificationKind, orderId: string, userId: string, email: string, context: Record<string, unknown>) {
      await db("notifications")
        .insert({ id: randomUUID(), user_id: userId, order_id: orderId, kind, recipient: email, status: "PENDING", context: JSON.stringify(context) })
        .onConflict(["order_id", "kind"]).ignore();
      const row: NotificationRow = await db("notifications").where({ order_id: orderId, kind }).first();
      if (row.status === "SENT") return;
      let mail: RenderedMail;
      if (kind === "order_failed") mail = renderOrderFailed({ orderId, reason: String(row.context.reason ?? "") });
      else mail = renderOrderCancelled({ orderId, currency: await this.orderCurrency(db, orderId), refundedCents: Number(row.context.refundedCents ?? 0) });
      await this.deliver(db, row, await this.compose(row, mail, []));
    },

    async orderCurrency(this: any, db: Knex, orderId: string): Promise<string | null> {
      const order = await db("orders").where({ id: orderId }).first("currency");
      return order?.currency ?? null;
    },

    /**
     * Sends once: over SMTP, as DATA_DIR/mail/<id>.eml, or kept in the row, and moves the row to
     * SENT only from another status, so a repeated delivery sends nothing. A file is written
     * before the move: writing it again replaces it (one file per notification, whatever the
     * repeats), and a failed write throws before the move. Kept in the row, the message goes in
     * with the move, in one statement. Over SMTP, see `sendBySmtp`. A failure throws, and the
     * delivery is retried.
     */
    async deliver(this: any, db: Knex, row: NotificationRow, mail: ComposedMail) {
      if (this.transport) return this.sendBySmtp(db, row, mail);
      if (this.mailDir) fs.writeFileSync(path.join(this.mailDir, `${row.id}.eml`), mail.message);
      await db("notifications").where({ id: row.id }).whereNot({ status: "SENT" })
        .update({ ...this.sentColumns(db, mail), raw: this.mailDir ? null : mail.message });
    },

    /**
     * Over SMTP, with no transaction held while the server answers: the row is claimed (SENDING
     * for SEND_CLAIM_SECONDS, from any status but SENT and a live claim), the mail sent, and the
     * row marked SENT. A refused send gives the row its status back; a delivery that finds the
     * mail being sent by another tries again later (the claim runs out if that delivery died).
     * A node that dies after the send and before the mark sends the mail again once its claim
     * runs out: at least once, as with any SMTP client that can die before the server's answer.
     */
    async sendBySmtp(this: any, db: Knex, row: NotificationRow, mail: ComposedMail) {
      const claimed = await db("notifications").where({ id: row.id }).whereNot({ status: "SENT" })
        .andWhere((q) => q.whereNot({ status: "SENDING" }).orWhere("sending_until", "<", db.fn.now()))
        .update({ status: "SENDING", sending_until: db.raw("now() + make_interval(secs => ?)", [SEND_CLAIM_SECONDS]) })
        .returning("id");
      if (!claimed.length) {
        const now = await db("notifications").where({ id: row.id }).first("status");
        if (now?.status === "SENT") return;
        throw new BeingSent(`notification ${row.id} is being sent by another delivery`);
      }
      const back = row.status === "SENDING" ? "PENDING" : row.status;
      try {
        await this.transport.sendMail({ envelope: mail.envelope, raw: mail.message });
      } catch (err) {
        await db("notifications").where({ id: row.id, status: "SENDING" }).update({ status: back, sending_until: null })
          .catch((e: Error) => this.logger.warn(`Notification ${row.id}: could not give back its claim (it runs out):`, e.message));
        throw err;
      }
      await db("notifications").where({ id: row.id }).update({ ...this.sentColumns(db, mail), sending_until: null });
    },

    sentColumns(db: Knex, mail: ComposedMail) {
      return { status: "SENT", subject: mail.subject, sent_at: db.fn.now(), message_id: mail.messageId, attachments: mail.attachments };
    },
  },

  started(this: any) {
    const config = this.platform.config;
    // Builds messages without sending them (a stream transport); `deliver` sends them.
    this.composer = nodemailer.createTransport({ streamTransport: true, buffer: true });
    if (config.smtpUrl) {
      // Short timeouts: an unreachable server must fail fast, and the mail be retried later.
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
