/**
 * The order's life, as data. Status is what the buyer sees; step is what the saga still has to
 * do, stored on the order row so that any node can resume it after a crash:
 *
 *   PENDING  AUTHORIZE -> CONFIRMED (DONE)                                orders.confirmed
 *     AUTHORIZE: authorize, sell the hold's seats to the order, then capture; no step is written
 *     between them. The payment record says how far the money got, and selling and capturing are
 *     idempotent for the order, so a saga resumed at AUTHORIZE finds the authorization (or the
 *     capture) and does the rest again. CONFIRM_SEATS and CAPTURE are the same work, as written by
 *     earlier versions, which stored a step between them.
 *   decline / hold expired / capture refused:  FAILED (COMPENSATE -> DONE)  orders.failed
 *     COMPENSATE: seats back on sale (release the hold, unsell if sold), void the authorization;
 *     PAYMENT_INTERRUPTED (the node died before authorizing; the card was only in its memory)
 *     keeps the hold so that the buyer can simply pay again
 *   cancel of a CONFIRMED order:  CANCELLED (REFUND -> REFUNDED, DONE)      orders.cancelled
 *     REFUND: seats back on sale (unsell), refund the capture
 *
 * Capture happens only after the seats are sold to the order, and the order turns CONFIRMED in the
 * same transaction that writes `orders.confirmed`: a captured payment always ends in tickets (or,
 * after a cancel, in a refund).
 */
import type { BackoffPolicy } from "./backoff";

export type OrderStatus = "PENDING" | "CONFIRMED" | "FAILED" | "CANCELLED" | "REFUNDED";
export type SagaStep = "AUTHORIZE" | "CONFIRM_SEATS" | "CAPTURE" | "COMPENSATE" | "REFUND" | "DONE";
export type FailureReason = "PAYMENT_DECLINED" | "INSUFFICIENT_FUNDS" | "PAYMENT_FAILED" | "PAYMENT_INTERRUPTED" | "HOLD_EXPIRED";

/** Saga steps that fail for a passing reason (a node left, a timeout) are retried with this backoff. */
export const SAGA_BACKOFF: BackoffPolicy = { baseMs: 200, maxMs: 15_000 };

/** The failure reason the buyer sees for a provider's decline code. */
export function declineReason(code: string | null | undefined): FailureReason {
  if (code === "insufficient_funds") return "INSUFFICIENT_FUNDS";
  if (code === "interrupted") return "PAYMENT_INTERRUPTED";
  return "PAYMENT_DECLINED";
}

export function cancellable(status: OrderStatus): boolean {
  return status === "CONFIRMED";
}

/** A cancel repeated after it was accepted answers the same, it does not fail. */
export function alreadyCancelled(status: OrderStatus): boolean {
  return status === "CANCELLED" || status === "REFUNDED";
}
