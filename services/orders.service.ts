/**
 * Orders and the booking saga (src/domain/orders.ts has the states and steps).
 *
 * POST /api/orders answers 202 at once; the saga then runs on this node, driven by the order
 * row's `step` under a short lease. If the node dies, the lease runs out and the recovery sweep of
 * any node running `orders` resumes the order from its step. Every step is idempotent (provider
 * idempotency keys, seats.confirm/unsell/release per order), so resuming a step that already
 * happened changes nothing. Each status change emits `orders.status` for the buyer's socket;
 * confirmed/failed/cancelled are also durable events, written to the outbox in the transaction
 * that changes the status.
 */
import { createHash, randomUUID } from "crypto";
import type { Knex } from "knex";
import type { Service, ServiceSchema } from "moleculer";
import { Channels } from "../channels";
import { DbMixin } from "../mixins/db.mixin";
import { changeWithOutbox, OutboxMixin, writeOutbox } from "../mixins/outbox.mixin";
import { backoffDelay } from "../src/domain/backoff";
import { alreadyCancelled, cancellable, declineReason, FailureReason, OrderStatus, SAGA_BACKOFF, SagaStep } from "../src/domain/orders";
import type { CardInput } from "../src/domain/payments";
import { cardFingerprint, normalizeCardNumber } from "../src/domain/payments";
import { PricedItem, priceOrder, PricingError } from "../src/domain/pricing";
import { AuthContext, currentUser, hasRole } from "../src/platform/auth";
import { conflict, isRefusal, notFound, unprocessable } from "../src/platform/errors";
import { idempotencyKey } from "../src/platform/idempotency";
import { orderTiming } from "../src/platform/order-timing";
import { findHoldToOrder } from "../src/seats/store";
import type { Platform } from "../src/platform/platform";
import { CARD_PARAMS, PaymentOutcome } from "./payments.service";

/** How long a node may drive an order before another may take over. Renewed at every step. */
const LEASE_SECONDS = 15;
const SWEEP_INTERVAL_MS = 1000;
/**
 * How long a node keeps a card whose authorization has not been answered: a step that failed on a
 * passing outage (the database, the payments node) is retried with it. An order whose card is gone
 * by its retry (its node died, or the outage outlasted this) fails as PAYMENT_INTERRUPTED.
 */
const CARD_KEPT_MS = 60_000;
/** A node holding an order's card retries its step itself; its lease outlasts the retry's delay by this. */
const RETRY_HERE_MARGIN_MS = 5_000;
/** Off unless TF_ORDER_TIMING names a file (src/platform/order-timing.ts). */
const timing = orderTiming();

interface OrderRow {
  id: string;
  user_id: string;
  email: string;
  holder_name: string;
  session_id: string;
  event_id: string;
  hold_id: string;
  status: OrderStatus;
  reason: string | null;
  step: SagaStep;
  step_attempts: number;
  saga_owner: string | null;
  saga_locked_until: Date | null;
  total_cents: number;
  currency: string;
  items: PricedItem[];
  refunded_cents: number;
  payment_id: string | null;
  idempotency_key: string;
  request_hash: string;
  created_at: Date;
  updated_at: Date;
}

interface CreateParams {
  holdId: string;
  payment: { method: "card"; card: CardInput };
}

interface OrdersThis {
  db: Knex;
  platform: Platform;
  broker: import("moleculer").ServiceBroker;
  logger: import("moleculer").LoggerInstance;
  driving: Set<string>;
  /** Rows written by advance() (or by the capture that ends the saga), picked up by drive() for the next step. */
  advanced: Map<string, OrderRow>;
  /** What payments.authorize answered while this node drives the order, handed to the capture (memory only, like the card). */
  authorized: Map<string, { id: string; authorizationId: string; amountCents: number }>;
  /** Cards of orders this node placed, until their authorization is answered (CARD_KEPT_MS at most). */
  cards: Map<string, { card: CardInput; timer: NodeJS.Timeout }>;
  sweeping?: NodeJS.Timeout;
  stopping: boolean;
  /** `leased`: the order's row as this node just wrote it, lease included (skips the first read). */
  drive(orderId: string, leased?: OrderRow): Promise<void>;
  runStep(order: OrderRow): Promise<void>;
  keepCard(orderId: string, card: CardInput): void;
  forgetCard(orderId: string): void;
  retryHere(orderId: string, delayMs: number): void;
  sellAndCapture(order: OrderRow): Promise<void>;
  captureAndConfirm(order: OrderRow): Promise<void>;
  advance(order: OrderRow, patch: Partial<OrderRow>): Promise<boolean>;
  fail(order: OrderRow, reason: FailureReason): Promise<boolean>;
  sweep(): Promise<void>;
  announce(order: Pick<OrderRow, "id" | "user_id">, status: OrderStatus, reason?: string | null): void;
  tickets(orderIds: string[]): Promise<Map<string, unknown[]>>;
}

function present(order: OrderRow, tickets?: unknown[]) {
  return {
    id: order.id,
    status: order.status,
    ...(order.reason ? { reason: order.reason } : {}),
    sessionId: order.session_id,
    eventId: order.event_id,
    holdId: order.hold_id,
    items: order.items,
    total: order.total_cents,
    currency: order.currency,
    ...(order.refunded_cents ? { refundedCents: order.refunded_cents } : {}),
    paymentId: order.payment_id,
    ...(tickets && tickets.length ? { tickets } : {}),
    createdAt: new Date(order.created_at).toISOString(),
    updatedAt: new Date(order.updated_at).toISOString(),
  };
}

const errorType = (err: unknown) => (err as { type?: string })?.type;
/** Compensation must get through a hold that already expired or seats that were never sold. */
async function tolerateGone(work: Promise<unknown>) {
  try {
    await work;
  } catch (err) {
    if (!isRefusal(err, 404, 409)) throw err;
  }
}
const leaseUntil = (db: Knex, seconds = LEASE_SECONDS) => db.raw("now() + make_interval(secs => ?)", [seconds]);

async function startSweeping(self: OrdersThis) {
  // Embedded mode is one node: leases left by the previous run of this process are void now.
  if (self.platform.embedded) {
    await self.db("orders").whereNot({ step: "DONE" }).update({ saga_locked_until: self.db.fn.now() });
  }
  const tick = async () => {
    if (self.stopping) return;
    await self.sweep().catch((err) => self.logger.warn("Order recovery sweep failed:", (err as Error).message));
    if (!self.stopping) self.sweeping = setTimeout(tick, SWEEP_INTERVAL_MS);
  };
  self.sweeping = setTimeout(tick, 0);
}

async function stopSweeping(self: OrdersThis) {
  self.stopping = true;
  if (self.sweeping) clearTimeout(self.sweeping);
  // Let running steps finish; whatever is left is resumed by the next node from its step.
  for (let i = 0; i < 100 && self.driving.size; i++) await new Promise((r) => setTimeout(r, 50));
  for (const orderId of [...self.cards.keys()]) self.forgetCard(orderId);
}

const OrdersService: ServiceSchema = {
  name: "orders",
  mixins: [DbMixin, OutboxMixin],
  settings: { rest: "/" },

  created(this: Service) {
    const self = this as unknown as OrdersThis;
    self.driving = new Set();
    self.advanced = new Map();
    self.authorized = new Map();
    self.cards = new Map();
    self.stopping = false;
  },

  async started(this: Service) {
    await startSweeping(this as unknown as OrdersThis);
  },

  async stopped(this: Service) {
    await stopSweeping(this as unknown as OrdersThis);
  },

  actions: {
    create: {
      rest: "POST /orders",
      rateLimit: { limit: 60, windowMs: 60_000 },
      params: {
        holdId: { type: "string", min: 1, max: 64 },
        payment: {
          type: "object",
          strict: true,
          props: { method: { type: "equal", value: "card" }, card: CARD_PARAMS },
        },
      },
      async handler(this: OrdersThis, ctx: AuthContext<CreateParams>) {
        const receivedAt = performance.now();
        const user = currentUser(ctx);
        const key = idempotencyKey(ctx, "order")!;
        const { holdId, payment } = ctx.params;
        const requestHash = createHash("sha256")
          .update(JSON.stringify([holdId, cardFingerprint(normalizeCardNumber(payment.card.number), this.platform.secrets.jwtSecret)]))
          .digest("hex");

        const replay = async (): Promise<{ orderId: string; status: OrderStatus } | undefined> => {
          const existing: OrderRow | undefined = await this.db("orders").where({ user_id: user.id, idempotency_key: key }).first();
          if (!existing) return undefined;
          if (existing.request_hash !== requestHash) {
            throw unprocessable("IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already used for a different order.");
          }
          ctx.meta.$statusCode = 202;
          return { orderId: existing.id, status: existing.status };
        };
        // A repeated request answers with its order. It is looked up only when this request cannot
        // make a new order (its hold is gone or already ordered, its card refused...): a new
        // order's first statement is its insert, whose conflict on (user, key) replays as well.
        const refuse = async (err: unknown) => {
          const earlier = await replay();
          if (earlier) return earlier;
          throw err;
        };

        // Card format and velocity before anything is written or charged, checked while the hold is
        // read (neither writes anything); a bad hold is still answered first.
        const cardRefused = ctx.call("payments.check", { userId: user.id, card: payment.card }).then(() => undefined, (err: unknown) => err ?? new Error("card check failed"));
        // The hold and its session's prices in one read.
        const found = await findHoldToOrder(this.db, holdId);
        if (!found || found.hold.userId !== user.id) return refuse(notFound("Hold"));
        const { hold, session } = found;
        if (hold.status === "CONFIRMED") return refuse(conflict("HOLD_ALREADY_ORDERED", "These seats are already being ordered."));
        if (hold.status !== "ACTIVE" || hold.expiresAt <= Date.now()) {
          return refuse(conflict("HOLD_EXPIRED", "The hold has expired; choose your seats again."));
        }
        const refusal = await cardRefused;
        if (refusal) return refuse(refusal);
        const holdReadAt = performance.now();

        if (!session) return refuse(notFound("Session"));
        let priced;
        try {
          priced = priceOrder(hold.items, session.prices ?? {}, session.currency);
        } catch (err) {
          if (err instanceof PricingError) return refuse(conflict("PRICE_UNAVAILABLE", err.message, err.details));
          throw err;
        }

        const orderId = randomUUID();
        let created: OrderRow;
        try {
          const inserted = await this.db("orders")
            .insert({
              id: orderId,
              user_id: user.id,
              email: user.email,
              holder_name: user.name || user.email,
              session_id: hold.sessionId,
              event_id: session.eventId,
              hold_id: holdId,
              status: "PENDING",
              step: "AUTHORIZE",
              saga_owner: this.broker.nodeID,
              saga_locked_until: leaseUntil(this.db),
              total_cents: priced.totalCents,
              currency: priced.currency,
              items: JSON.stringify(priced.items),
              idempotency_key: key,
              request_hash: requestHash,
            })
            .onConflict(["user_id", "idempotency_key"])
            .ignore()
            .returning("*");
          if (!inserted.length) return (await replay())!;
          created = inserted[0];
        } catch (err) {
          if ((err as { constraint?: string }).constraint === "orders_live_hold_idx") {
            return refuse(conflict("HOLD_ALREADY_ORDERED", "These seats are already being ordered."));
          }
          throw err;
        }
        timing.mark(orderId, "received", receivedAt);
        timing.mark(orderId, "holdRead", holdReadAt);
        timing.mark(orderId, "placed");
        timing.session(orderId, hold.sessionId);
        this.announce({ id: orderId, user_id: user.id }, "PENDING");
        // The card stays in this process's memory only, for the authorization.
        // The new row already carries this node's lease: the first step needs no read.
        this.keepCard(orderId, payment.card);
        void this.drive(orderId, created);
        ctx.meta.$statusCode = 202;
        return { orderId, status: "PENDING" };
      },
    },

    my: {
      rest: "GET /orders/my",
      params: {
        status: { type: "enum", values: ["PENDING", "CONFIRMED", "FAILED", "CANCELLED", "REFUNDED"], optional: true },
        page: { type: "number", integer: true, min: 1, max: 10_000, optional: true, convert: true },
        pageSize: { type: "number", integer: true, min: 1, max: 100, optional: true, convert: true },
      },
      async handler(this: OrdersThis, ctx: AuthContext<{ status?: OrderStatus; page?: number; pageSize?: number }>) {
        const user = currentUser(ctx);
        const { page = 1, pageSize = 20, status } = ctx.params;
        const base = this.db("orders").where({ user_id: user.id });
        if (status) base.andWhere({ status });
        const [{ count }] = await base.clone().count<{ count: number }[]>({ count: "*" });
        const rows: OrderRow[] = await base.orderBy("created_at", "desc").orderBy("id").offset((page - 1) * pageSize).limit(pageSize);
        return { items: rows.map((r) => present(r)), total: Number(count), page, pageSize };
      },
    },

    get: {
      rest: "GET /orders/:id",
      params: { id: { type: "string", max: 64 } },
      async handler(this: OrdersThis, ctx: AuthContext<{ id: string }>) {
        const user = currentUser(ctx);
        const order: OrderRow | undefined = await this.db("orders").where({ id: ctx.params.id }).first();
        if (!order || (order.user_id !== user.id && !hasRole(user, ["admin"]))) throw notFound("Order");
        const tickets = await this.tickets([order.id]);
        return present(order, tickets.get(order.id));
      },
    },

    cancel: {
      rest: "POST /orders/:id/cancel",
      params: { id: { type: "string", max: 64 } },
      async handler(this: OrdersThis, ctx: AuthContext<{ id: string }>) {
        const user = currentUser(ctx);
        const order: OrderRow | undefined = await this.db("orders").where({ id: ctx.params.id }).first();
        if (!order || (order.user_id !== user.id && !hasRole(user, ["admin"]))) throw notFound("Order");
        ctx.meta.$statusCode = 202;
        if (alreadyCancelled(order.status)) return { orderId: order.id, status: order.status };
        if (!cancellable(order.status)) {
          throw conflict("ORDER_NOT_CANCELLABLE", `A ${order.status.toLowerCase()} order cannot be cancelled.`, { status: order.status });
        }
        const changed = await this.db.transaction(async (trx) => {
          const rows = await trx("orders")
            .where({ id: order.id, status: "CONFIRMED" })
            .update({ status: "CANCELLED", step: "REFUND", step_attempts: 0, saga_owner: this.broker.nodeID, saga_locked_until: leaseUntil(trx), updated_at: trx.fn.now() })
            .returning("id");
          if (!rows.length) return false;
          // Tickets are revoked from this event on; the refund and the seats follow in the REFUND step.
          await writeOutbox(trx, Channels.ORDERS_CANCELLED, { orderId: order.id, userId: order.user_id, email: order.email, refundedCents: order.total_cents }, { key: order.id });
          return true;
        });
        if (!changed) {
          const now: OrderRow = await this.db("orders").where({ id: order.id }).first();
          if (alreadyCancelled(now.status)) return { orderId: order.id, status: now.status };
          throw conflict("ORDER_NOT_CANCELLABLE", `A ${now.status.toLowerCase()} order cannot be cancelled.`, { status: now.status });
        }
        this.announce(order, "CANCELLED");
        void this.drive(order.id);
        return { orderId: order.id, status: "CANCELLED" };
      },
    },
  },

  methods: {
    /** Runs the order's remaining steps while this node holds its lease. */
    async drive(this: OrdersThis, orderId: string, leased?: OrderRow) {
      if (this.driving.has(orderId) || this.stopping) return;
      this.driving.add(orderId);
      try {
        // The row a step's advance() wrote: its lease is already renewed, so the next step needs
        // neither a read nor a renewal (two statements fewer per step on one busy connection).
        let carried: OrderRow | undefined = leased;
        for (let guard = 0; guard < 10 && !this.stopping; guard++) {
          let order = carried;
          carried = undefined;
          if (!order) {
            order = await this.db("orders").where({ id: orderId }).first();
            if (!order || order.step === "DONE") return;
            const mine = await this.db("orders")
              .where({ id: orderId, step: order.step, saga_owner: this.broker.nodeID })
              .update({ saga_locked_until: leaseUntil(this.db) });
            if (!mine) return;
          } else if (order.step === "DONE" || order.saga_owner !== this.broker.nodeID) return;
          try {
            this.advanced.delete(orderId);
            await this.runStep(order);
            carried = this.advanced.get(orderId);
            this.advanced.delete(orderId);
          } catch (err) {
            const attempt = order.step_attempts + 1;
            const delay = backoffDelay(attempt, SAGA_BACKOFF);
            // The node holding the order's card retries the step itself, before its lease runs
            // out: another node's sweep, without the card, would fail it as PAYMENT_INTERRUPTED.
            const here = this.cards.has(orderId);
            this.logger.warn(`Order ${orderId}: step ${order.step} failed (attempt ${attempt}), retrying in ${delay} ms:`, (err as Error).message);
            await this.db("orders")
              .where({ id: orderId, step: order.step })
              .update({ step_attempts: attempt, saga_locked_until: leaseUntil(this.db, (here ? delay + RETRY_HERE_MARGIN_MS : delay) / 1000) });
            if (here) this.retryHere(orderId, delay);
            return;
          }
        }
      } catch (err) {
        // Not even the retry could be written (the database out of reach): the lease still stands.
        const here = this.cards.has(orderId);
        this.logger.error(`Order ${orderId}: saga stopped, ${here ? "retried here in 1 s" : "the sweep resumes it"}:`, (err as Error).message);
        if (here) this.retryHere(orderId, 1000);
      } finally {
        this.driving.delete(orderId);
        this.advanced.delete(orderId);
        this.authorized.delete(orderId);
      }
    },

    async runStep(this: OrdersThis, order: OrderRow) {
      const call = <T>(action: string, params: object) => this.broker.call(action, params) as Promise<T>;
      switch (order.step) {
        case "AUTHORIZE": {
          const card = this.cards.get(order.id)?.card;
          const payment = await call<PaymentOutcome>("payments.authorize", {
            orderId: order.id,
            userId: order.user_id,
            amountCents: order.total_cents,
            currency: order.currency,
            ...(card ? { card } : {}),
          });
          // Answered (authorized, declined, or interrupted for want of a card): the card's work is done.
          this.forgetCard(order.id);
          timing.mark(order.id, "authorized");
          const paid = { ...order, payment_id: payment.id };
          // CAPTURED: a saga resumed here after its node captured; the rest is idempotent.
          if (payment.status === "AUTHORIZED" || payment.status === "CAPTURED") {
            if (payment.status === "AUTHORIZED" && payment.authorizationId) {
              this.authorized.set(order.id, { id: payment.id, authorizationId: payment.authorizationId, amountCents: payment.amountCents });
            }
            // On to the seats and the capture with no step written between: the payment record
            // says how far the money got, so a saga resumed at AUTHORIZE finds the authorization
            // (or the capture) there, and selling the seats and capturing are idempotent for the order.
            // A twin resumed meanwhile by another node gets this same outcome (the record leaves
            // PENDING once), so the two go the same way and CONFIRMED is written once.
            await this.sellAndCapture(paid);
            return;
          }
          await this.fail(paid, declineReason(payment.declineCode));
          return;
        }
        case "CONFIRM_SEATS":
        case "CAPTURE": {
          // Written by versions that stored a step after the authorization (and, for CAPTURE,
          // another between the seats and the capture).
          await this.sellAndCapture(order);
          return;
        }
        case "COMPENSATE": {
          // Seats first: they are back on sale at once; then the money.
          await tolerateGone(call("seats.unsell", { sessionId: order.session_id, orderId: order.id }));
          // Our crash is not the buyer's fault: an interrupted payment keeps the hold, so the buyer
          // can pay again (new Idempotency-Key) until it expires. Every other failure frees the seats.
          if (order.reason !== "PAYMENT_INTERRUPTED") {
            await tolerateGone(call("seats.release", { sessionId: order.session_id, holdId: order.hold_id }));
          }
          await call("payments.void", { orderId: order.id });
          await this.advance(order, { step: "DONE", saga_locked_until: null });
          return;
        }
        case "REFUND": {
          await call("seats.unsell", { sessionId: order.session_id, orderId: order.id });
          const payment = await call<PaymentOutcome | null>("payments.refund", { orderId: order.id });
          const refunded = payment?.refundedCents ?? 0;
          const moved = await this.advance(order, { status: "REFUNDED", step: "DONE", refunded_cents: refunded, saga_locked_until: null });
          if (moved) this.announce(order, "REFUNDED");
          return;
        }
        default:
          return;
      }
    },

    keepCard(this: OrdersThis, orderId: string, card: CardInput) {
      const timer = setTimeout(() => this.cards.delete(orderId), CARD_KEPT_MS);
      timer.unref();
      this.cards.set(orderId, { card, timer });
    },

    retryHere(this: OrdersThis, orderId: string, delayMs: number) {
      setTimeout(() => void this.drive(orderId), delayMs).unref();
    },

    forgetCard(this: OrdersThis, orderId: string) {
      const kept = this.cards.get(orderId);
      if (!kept) return;
      clearTimeout(kept.timer);
      this.cards.delete(orderId);
    },

    /** Sells the hold's seats to the order, then captures and confirms (HOLD_EXPIRED fails the order). */
    async sellAndCapture(this: OrdersThis, order: OrderRow) {
      try {
        await this.broker.call("seats.confirm", { sessionId: order.session_id, holdId: order.hold_id, orderId: order.id });
      } catch (err) {
        // 409 HOLD_EXPIRED, or the hold is gone: final. Anything else (a moving actor, a timeout,
        // the seats service out of reach) is retried.
        if (isRefusal(err, 404, 409)) {
          await this.fail(order, "HOLD_EXPIRED");
          return;
        }
        throw err;
      }
      timing.mark(order.id, "seatsSold");
      await this.captureAndConfirm(order);
    },

    /** Captures the payment, then CONFIRMED with `orders.confirmed` in one statement, only from the step this node read. */
    async captureAndConfirm(this: OrdersThis, order: OrderRow) {
      const authorized = this.authorized.get(order.id);
      this.authorized.delete(order.id);
      try {
        // A saga resumed by another node (or after a retry) has no answer in memory: the payment is read.
        await this.broker.call("payments.capture", { orderId: order.id, ...(authorized ? { authorized } : {}) });
      } catch (err) {
        if (errorType(err) === "PAYMENT_FAILED") {
          await this.fail(order, "PAYMENT_FAILED");
          return;
        }
        throw err;
      }
      timing.mark(order.id, "captured");
      const confirmed = await changeWithOutbox(
        this.db,
        this.db("orders")
          .where({ id: order.id, step: order.step, status: "PENDING" })
          .update({ status: "CONFIRMED", step: "DONE", step_attempts: 0, saga_locked_until: null, payment_id: order.payment_id, updated_at: this.db.fn.now() })
          .returning("id"),
        Channels.ORDERS_CONFIRMED,
        {
          orderId: order.id,
          userId: order.user_id,
          email: order.email,
          holderName: order.holder_name,
          sessionId: order.session_id,
          eventId: order.event_id,
          currency: order.currency,
          totalCents: order.total_cents,
          items: order.items,
        },
        { key: order.id },
      );
      if (confirmed) {
        timing.mark(order.id, "confirmed");
        this.announce(order, "CONFIRMED");
        // The row as this node just wrote it: drive() stops without reading it back to find DONE.
        this.advanced.set(order.id, { ...order, status: "CONFIRMED", step: "DONE", step_attempts: 0, saga_locked_until: null });
      }
    },

    /** Moves the saga on, only from the step this node read (a concurrent twin cannot move it twice). */
    async advance(this: OrdersThis, order: OrderRow, patch: Partial<OrderRow>): Promise<boolean> {
      const rows: OrderRow[] = await this.db("orders")
        .where({ id: order.id, step: order.step })
        .update({ step_attempts: 0, saga_locked_until: leaseUntil(this.db), ...patch, updated_at: this.db.fn.now() } as Record<string, unknown>)
        .returning("*");
      if (rows.length) this.advanced.set(order.id, rows[0]);
      return rows.length > 0;
    },

    /** PENDING -> FAILED with its reason (and the payment, once there is one) and the durable event, then compensation. */
    async fail(this: OrdersThis, order: OrderRow, reason: FailureReason): Promise<boolean> {
      const failed = await changeWithOutbox(
        this.db,
        this.db("orders")
          .where({ id: order.id, step: order.step, status: "PENDING" })
          .update({ status: "FAILED", reason, step: "COMPENSATE", step_attempts: 0, payment_id: order.payment_id, updated_at: this.db.fn.now() })
          .returning("id"),
        Channels.ORDERS_FAILED,
        { orderId: order.id, userId: order.user_id, email: order.email, reason },
        { key: order.id },
      );
      if (failed) this.announce(order, "FAILED", reason);
      return failed;
    },

    /** Resumes orders whose lease ran out (their node died, or a step is due for a retry). */
    async sweep(this: OrdersThis) {
      const claimed = await this.db.raw<{ rows: { id: string }[] }>(
        `UPDATE orders SET saga_owner = ?, saga_locked_until = now() + make_interval(secs => ?)
          WHERE id IN (
            SELECT id FROM orders
             WHERE step <> 'DONE' AND (saga_locked_until IS NULL OR saga_locked_until < now())
             ORDER BY saga_locked_until NULLS FIRST
             LIMIT 20
             FOR UPDATE SKIP LOCKED)
          RETURNING id`,
        [this.broker.nodeID, LEASE_SECONDS],
      );
      for (const { id } of claimed.rows) void this.drive(id);
    },

    announce(this: OrdersThis, order: Pick<OrderRow, "id" | "user_id">, status: OrderStatus, reason?: string | null) {
      this.broker.emit("orders.status", { orderId: order.id, userId: order.user_id, status, ...(reason ? { reason } : {}) });
    },

    /** The order's tickets (tickets area's table), when that area runs against this database. */
    async tickets(this: OrdersThis & { ticketsTable?: boolean }, orderIds: string[]) {
      const byOrder = new Map<string, unknown[]>();
      if (this.ticketsTable === undefined || this.ticketsTable === false) this.ticketsTable = await this.db.schema.hasTable("tickets");
      if (!this.ticketsTable || !orderIds.length) return byOrder;
      const rows = await this.db("tickets").whereIn("order_id", orderIds).orderBy("position").select("id", "order_id", "seat_id", "seat_label", "status");
      for (const r of rows) {
        byOrder.set(r.order_id, [...(byOrder.get(r.order_id) ?? []), { id: r.id, seatId: r.seat_id, seatLabel: r.seat_label, status: r.status }]);
      }
      return byOrder;
    },
  },
};

export default OrdersService;
