/**
 * The durable channels of the booking saga: names and payload types, in one place
 * (shared/CONTRACTS.md "Orders and the saga").
 *
 * Publish only through the outbox (`writeOutbox(trx, ...)` in mixins/outbox.mixin.ts), inside the
 * transaction that makes the change, never with `broker.sendToChannel` directly: a direct send
 * is lost if the process dies before it, and is sent even when the transaction rolls back.
 * Consume with `durable(...)` from the same file, which makes the handler idempotent and gives it
 * retries with backoff and a dead-letter table.
 */

export const Channels = {
  ORDERS_CONFIRMED: "orders.confirmed",
  ORDERS_FAILED: "orders.failed",
  ORDERS_CANCELLED: "orders.cancelled",
  TICKETS_ISSUED: "tickets.issued",
  TICKETS_RENDERED: "tickets.rendered",
} as const;

export type ChannelName = (typeof Channels)[keyof typeof Channels];

/**
 * What a buyer is waiting on: tickets issued when an order confirms, cancelled when it is
 * refunded. The outbox relays these before the other channels (PDFs stored, mail sent, which
 * nobody watches happen) whenever both are waiting, so a burst of orders does not queue the
 * buyers' tickets behind the mail of the orders before them.
 */
export const RELAYED_FIRST: readonly ChannelName[] = [Channels.ORDERS_CONFIRMED, Channels.ORDERS_CANCELLED];

export interface OrderItemPayload {
  /** 1-based position of the item in the order; tickets are unique per (orderId, position). */
  position: number;
  seatId: string;
  seatLabel: string;
  category: string;
  amountCents: number;
}

export interface OrdersConfirmed {
  orderId: string;
  userId: string;
  email: string;
  holderName: string;
  sessionId: string;
  eventId: string;
  currency: string;
  totalCents: number;
  items: OrderItemPayload[];
}

export interface OrdersFailed {
  orderId: string;
  userId: string;
  email: string;
  reason: string;
}

export interface OrdersCancelled {
  orderId: string;
  userId: string;
  email: string;
  refundedCents: number;
}

export interface TicketsIssued {
  orderId: string;
  userId: string;
  ticketIds: string[];
}

export interface TicketsRendered {
  orderId: string;
  userId: string;
  ticketIds: string[];
}

export interface ChannelPayloads {
  [Channels.ORDERS_CONFIRMED]: OrdersConfirmed;
  [Channels.ORDERS_FAILED]: OrdersFailed;
  [Channels.ORDERS_CANCELLED]: OrdersCancelled;
  [Channels.TICKETS_ISSUED]: TicketsIssued;
  [Channels.TICKETS_RENDERED]: TicketsRendered;
}

/** Message headers set by the outbox relay; consumers key their inbox on the message id. */
export const MESSAGE_ID_HEADER = "tf-message-id";
export const CHANNEL_HEADER = "tf-channel";
