/**
 * Payments: card checks, the velocity check, and one payment record per order moved through the
 * provider (authorize -> capture, or void; refund). Every provider call carries an idempotency key
 * derived from the payment id and the operation, so a repeated saga step never moves money twice.
 * The card number and CVC pass through memory only: the record keeps brand, last four digits
 * and a keyed fingerprint.
 *
 * Internal actions (the order saga): check, authorize, capture, void, refund.
 * REST: GET /api/payments/:id (owner or admin; anyone else gets 404).
 */
import { randomUUID } from "crypto";
import type { Knex } from "knex";
import type { Context, Service, ServiceSchema } from "moleculer";
import { DbMixin } from "../mixins/db.mixin";
import {
  CardInput,
  cardFingerprint,
  checkVelocity,
  createPaymentProvider,
  DEFAULT_VELOCITY_LIMITS,
  PaymentProvider,
  PaymentProviderError,
  validateCard,
  ValidCard,
} from "../src/domain/payments";
import { AuthContext, currentUser, hasRole } from "../src/platform/auth";
import { ApiError, badRequest, notFound, unprocessable } from "../src/platform/errors";
import type { Platform } from "../src/platform/platform";

export const CARD_PARAMS = {
  type: "object",
  strict: true,
  props: {
    number: { type: "string", min: 1, max: 32 },
    expMonth: { type: "number", integer: true, min: 1, max: 12 },
    expYear: { type: "number", integer: true, min: 0, max: 9999 },
    cvc: { type: "string", min: 1, max: 4 },
  },
} as const;

export type PaymentStatus = "PENDING" | "AUTHORIZED" | "DECLINED" | "FAILED" | "CAPTURED" | "VOIDED" | "REFUNDED";

interface PaymentRow {
  id: string;
  order_id: string;
  user_id: string;
  amount_cents: number;
  currency: string;
  status: PaymentStatus;
  decline_code: string | null;
  provider: string;
  authorization_id: string | null;
  capture_id: string | null;
  refund_id: string | null;
  refunded_cents: number;
  card_brand: string | null;
  card_last4: string | null;
  card_fingerprint: string | null;
  created_at: Date;
  updated_at: Date;
}

/** What the order saga gets back from every internal action. */
export interface PaymentOutcome {
  id: string;
  status: PaymentStatus;
  /** The provider's authorization, once there is one. */
  authorizationId: string | null;
  declineCode: string | null;
  amountCents: number;
  refundedCents: number;
}

interface PaymentsThis {
  db: Knex;
  platform: Platform;
  provider: PaymentProvider;
  validCard(card: CardInput): ValidCard;
  enforceVelocity(userId: string, fingerprint: string): Promise<void>;
  decline(id: string, code: string): Promise<PaymentRow>;
  byOrder(orderId: string): Promise<PaymentRow | undefined>;
  update(id: string, from: PaymentStatus[], patch: Partial<PaymentRow>): Promise<PaymentRow>;
  providerCall<T>(work: () => Promise<T>): Promise<T>;
}

const outcome = (row: PaymentRow): PaymentOutcome => ({
  id: row.id,
  status: row.status,
  authorizationId: row.authorization_id,
  declineCode: row.decline_code,
  amountCents: row.amount_cents,
  refundedCents: row.refunded_cents,
});

function present(row: PaymentRow) {
  return {
    id: row.id,
    orderId: row.order_id,
    status: row.status,
    amountCents: row.amount_cents,
    currency: row.currency,
    refundedCents: row.refunded_cents,
    ...(row.decline_code ? { declineCode: row.decline_code } : {}),
    card: row.card_last4 ? { brand: row.card_brand, last4: row.card_last4 } : null,
    provider: row.provider,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

const PaymentsService: ServiceSchema = {
  name: "payments",
  mixins: [DbMixin],
  settings: {
    rest: "/",
    /** Which PaymentProvider to use (src/domain/payments/index.ts). */
    provider: "mock",
  },

  async started(this: Service) {
    const self = this as unknown as PaymentsThis;
    self.provider = createPaymentProvider(this.settings.provider, { db: self.db });
  },

  actions: {
    get: {
      rest: "GET /payments/:id",
      params: { id: { type: "string", max: 64 } },
      async handler(this: PaymentsThis, ctx: AuthContext<{ id: string }>) {
        const user = currentUser(ctx);
        const row: PaymentRow | undefined = await this.db("payments").where({ id: ctx.params.id }).first();
        if (!row || (row.user_id !== user.id && !hasRole(user, ["admin"]))) throw notFound("Payment");
        return present(row);
      },
    },

    /** Validates the card and the velocity limits; no side effects. 400 / 429. */
    check: {
      params: { userId: { type: "string", max: 64 }, card: CARD_PARAMS },
      async handler(this: PaymentsThis, ctx: Context<{ userId: string; card: CardInput }>) {
        const card = this.validCard(ctx.params.card);
        await this.enforceVelocity(ctx.params.userId, cardFingerprint(card.number, this.platform.secrets.jwtSecret));
        return { brand: card.brand, last4: card.last4 };
      },
    },

    /**
     * Authorizes the order's amount. Without `card` (a saga resumed after a crash: the card was
     * only ever in memory) it can only find out what the provider already decided.
     */
    authorize: {
      params: {
        orderId: { type: "string", max: 64 },
        userId: { type: "string", max: 64 },
        amountCents: { type: "number", integer: true, min: 0 },
        currency: { type: "string", length: 3 },
        card: { ...CARD_PARAMS, optional: true },
      },
      async handler(this: PaymentsThis, ctx: Context<{ orderId: string; userId: string; amountCents: number; currency: string; card?: CardInput }>) {
        const { orderId, userId, amountCents, currency } = ctx.params;
        const card = ctx.params.card ? this.validCard(ctx.params.card) : undefined;
        // A first authorization writes its record and reads it back in one statement; a resumed
        // or repeated one finds the record already there.
        let row: PaymentRow | undefined = (
          await this.db("payments")
            .insert({
              id: randomUUID(),
              order_id: orderId,
              user_id: userId,
              amount_cents: amountCents,
              currency,
              status: card ? "PENDING" : "FAILED",
              decline_code: card ? null : "interrupted",
              provider: this.provider.name,
              card_brand: card?.brand ?? null,
              card_last4: card?.last4 ?? null,
              card_fingerprint: card ? cardFingerprint(card.number, this.platform.secrets.jwtSecret) : null,
            })
            .onConflict("order_id")
            .ignore()
            .returning("*")
        )[0];
        row ??= (await this.byOrder(orderId))!;
        if (row.status !== "PENDING") return outcome(row);

        const idempotencyKey = `${row.id}:authorize`;
        const result = card
          ? await this.providerCall(() => this.provider.authorize({ idempotencyKey, amountCents: row!.amount_cents, currency: row!.currency, card }))
          : await this.providerCall(() => this.provider.findAuthorization(idempotencyKey));
        if (!result) return outcome(await this.update(row.id, ["PENDING"], { status: "FAILED", decline_code: "interrupted" }));
        if (result.status === "declined") return outcome(await this.decline(row.id, result.code));
        return outcome(await this.update(row.id, ["PENDING"], { status: "AUTHORIZED", authorization_id: result.authorizationId }));
      },
    },

    /**
     * Takes the authorized money. 422 PAYMENT_FAILED if the provider refuses for good.
     * `authorized`: what `authorize` answered this caller a moment ago, so the record is not read
     * again. Whatever happened to the payment since, the provider's answer for the same key and
     * the update from an expected state decide, as they do after a read.
     */
    capture: {
      params: {
        orderId: { type: "string", max: 64 },
        authorized: {
          type: "object",
          strict: true,
          optional: true,
          props: { id: { type: "string", max: 64 }, authorizationId: { type: "string", max: 200 }, amountCents: { type: "number", integer: true, min: 0 } },
        },
      },
      async handler(this: PaymentsThis, ctx: Context<{ orderId: string; authorized?: { id: string; authorizationId: string; amountCents: number } }>) {
        let payment = ctx.params.authorized;
        if (!payment) {
          const row = await this.byOrder(ctx.params.orderId);
          if (!row) throw notFound("Payment");
          if (row.status === "CAPTURED") return outcome(row);
          if (row.status !== "AUTHORIZED") throw unprocessable("PAYMENT_FAILED", `The payment is ${row.status.toLowerCase()} and cannot be captured.`);
          payment = { id: row.id, authorizationId: row.authorization_id!, amountCents: row.amount_cents };
        }
        const { id, authorizationId, amountCents } = payment;
        const { captureId } = await this.providerCall(() => this.provider.capture({ idempotencyKey: `${id}:capture`, authorizationId, amountCents }));
        return outcome(await this.update(id, ["AUTHORIZED", "CAPTURED"], { status: "CAPTURED", capture_id: captureId }));
      },
    },

    /** Undoes whatever the payment reached: an authorization is voided, a capture refunded. Idempotent. */
    void: {
      params: { orderId: { type: "string", max: 64 } },
      async handler(this: PaymentsThis, ctx: Context<{ orderId: string }>) {
        const row = await this.byOrder(ctx.params.orderId);
        if (!row) return null;
        if (row.status === "CAPTURED") return ctx.call("payments.refund", { orderId: ctx.params.orderId });
        if (row.status !== "AUTHORIZED") return outcome(row);
        await this.providerCall(() => this.provider.void({ idempotencyKey: `${row.id}:void`, authorizationId: row.authorization_id! }));
        return outcome(await this.update(row.id, ["AUTHORIZED", "VOIDED"], { status: "VOIDED" }));
      },
    },

    /** Refunds a captured payment in full (an authorization only is voided). Idempotent. */
    refund: {
      params: { orderId: { type: "string", max: 64 } },
      async handler(this: PaymentsThis, ctx: Context<{ orderId: string }>) {
        const row = await this.byOrder(ctx.params.orderId);
        if (!row) return null;
        if (row.status === "AUTHORIZED") return ctx.call("payments.void", { orderId: ctx.params.orderId });
        if (row.status !== "CAPTURED") return outcome(row);
        const { refundId } = await this.providerCall(() =>
          this.provider.refund({ idempotencyKey: `${row.id}:refund`, authorizationId: row.authorization_id!, amountCents: row.amount_cents }),
        );
        return outcome(await this.update(row.id, ["CAPTURED", "REFUNDED"], { status: "REFUNDED", refund_id: refundId, refunded_cents: row.amount_cents }));
      },
    },
  },

  methods: {
    validCard(this: PaymentsThis, input: CardInput): ValidCard {
      const result = validateCard(input, new Date());
      if (!result.ok) throw badRequest("The card details are invalid.", { fields: result.errors });
      return result.card;
    },

    async enforceVelocity(this: PaymentsThis, userId: string, fingerprint: string) {
      const limits = DEFAULT_VELOCITY_LIMITS;
      const since = new Date(Date.now() - limits.windowMs);
      // The recent declines of this user or this card, in one query.
      const declines: Array<{ user_id: string; card_fingerprint: string | null; created_at: Date }> = await this.db("payment_declines")
        .where("created_at", ">", since)
        .andWhere((q) => q.where({ user_id: userId }).orWhere({ card_fingerprint: fingerprint }))
        .select("user_id", "card_fingerprint", "created_at");
      const when = (rows: typeof declines) => rows.map((r) => new Date(r.created_at));
      const verdict = checkVelocity(
        { userFailures: when(declines.filter((r) => r.user_id === userId)), cardFailures: when(declines.filter((r) => r.card_fingerprint === fingerprint)) },
        new Date(),
        limits,
      );
      if (!verdict.allowed) {
        throw new ApiError(429, "TOO_MANY_PAYMENT_ATTEMPTS", "Too many failed payment attempts; try again later.", {
          retryAfter: verdict.retryAfterSeconds,
          scope: verdict.scope,
        });
      }
    },

    byOrder(this: PaymentsThis, orderId: string) {
      return this.db("payments").where({ order_id: orderId }).first();
    },

    /** Moves the record on only from an expected state, so a concurrent twin cannot move it back. */
    async update(this: PaymentsThis, id: string, from: PaymentStatus[], patch: Partial<PaymentRow>): Promise<PaymentRow> {
      const [row] = await this.db("payments")
        .where({ id })
        .whereIn("status", from)
        .update({ ...patch, updated_at: this.db.fn.now() })
        .returning("*");
      return row ?? (await this.db("payments").where({ id }).first());
    },

    /** PENDING -> DECLINED, and the decline noted for the velocity check, in one statement. */
    async decline(this: PaymentsThis, id: string, code: string): Promise<PaymentRow> {
      const { rows } = await this.db.raw<{ rows: PaymentRow[] }>(
        `WITH changed AS (
           UPDATE payments SET status = 'DECLINED', decline_code = ?, updated_at = now() WHERE id = ? AND status = 'PENDING' RETURNING *
         ), noted AS (
           INSERT INTO payment_declines (payment_id, user_id, card_fingerprint, created_at)
           SELECT id, user_id, card_fingerprint, created_at FROM changed
         )
         SELECT * FROM changed`,
        [code, id],
      );
      return rows[0] ?? (await this.db("payments").where({ id }).first());
    },

    /** Provider refusals that a retry cannot change become 422 PAYMENT_FAILED; the rest stay retryable. */
    async providerCall<T>(work: () => Promise<T>): Promise<T> {
      try {
        return await work();
      } catch (err) {
        if (err instanceof PaymentProviderError) throw unprocessable("PAYMENT_FAILED", err.message, { providerCode: err.code });
        throw err;
      }
    },
  },
};

export default PaymentsService;
