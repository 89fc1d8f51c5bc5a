/**
 * What TicketFlash needs from a card payment provider. Every call carries an idempotency key:
 * repeating a call with the same key (after a timeout, a crash, a redelivery) returns the first
 * result and never moves money twice. A real provider (Stripe, Adyen, ...) is added by
 * implementing this interface and returning it from `createPaymentProvider` (./index.ts).
 */
import type { ValidCard } from "./card";

export type DeclineCode = "card_declined" | "insufficient_funds";

export type AuthorizeResult =
  | { status: "authorized"; authorizationId: string }
  | { status: "declined"; code: DeclineCode; message: string };

export interface AuthorizeRequest {
  idempotencyKey: string;
  amountCents: number;
  currency: string;
  card: ValidCard;
}

export interface PaymentProvider {
  readonly name: string;
  /** Reserves the amount on the card. */
  authorize(req: AuthorizeRequest): Promise<AuthorizeResult>;
  /** The result of an earlier `authorize` with this key, or null if the provider never saw it. */
  findAuthorization(idempotencyKey: string): Promise<AuthorizeResult | null>;
  /** Takes the reserved money. */
  capture(req: { idempotencyKey: string; authorizationId: string; amountCents: number }): Promise<{ captureId: string }>;
  /** Releases an authorization that will not be captured. */
  void(req: { idempotencyKey: string; authorizationId: string }): Promise<void>;
  /** Gives captured money back. */
  refund(req: { idempotencyKey: string; authorizationId: string; amountCents: number }): Promise<{ refundId: string }>;
}

/**
 * A provider's refusal that retrying will not change (unknown or voided authorization, amount
 * above the authorized one, idempotency key reused for another request). Anything else a
 * provider throws (timeouts, 5xx) is treated as transient and retried.
 */
export class PaymentProviderError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "PaymentProviderError";
  }
}
