/**
 * Diagnostics (TF_ORDER_TIMING=<file>): where an order's time goes between POST /api/orders and
 * CONFIRMED on the node that drives it. Each order placed on this node gets the time of each
 * stage below, and the event loop's delay is sampled each second; both are written to the file
 * every second. The bench reads it to say which part of the order-to-CONFIRMED time is waiting
 * (bench/run.ts, full purchase). Off unless the variable is set, and then a stage costs one
 * `performance.now()`.
 */
import fs from "fs";
import { monitorEventLoopDelay } from "perf_hooks";

/** In order: each stage's time is measured from the one before. */
export const ORDER_STAGES = [
  /** POST /api/orders reached its handler (after the gateway, the token and the rate limit). */
  "received",
  /** The hold (with its session's prices) and the card check were read. */
  "holdRead",
  /** The order was written: the 202 is on its way. */
  "placed",
  /** payments.authorize answered (payment record, the provider, its answer stored). */
  "authorized",
  /** The saga's step after the authorization was written. */
  "stepWritten",
  /** seats.confirm answered: the seats are sold to the order. */
  "seatsSold",
  /** payments.capture answered. */
  "captured",
  /** CONFIRMED and `orders.confirmed` written; the buyer's socket is told next. */
  "confirmed",
] as const;
export type OrderStage = (typeof ORDER_STAGES)[number];

/** What the file holds. */
export interface OrderTimingFile {
  stages: readonly string[];
  /** Per order: its session, and `performance.now()` at each stage reached (null: not reached). */
  orders: Array<{ sessionId: string | null; at: Array<number | null> }>;
  /** Per second: [`performance.now()`, mean event-loop delay ms, p99 ms]. */
  loopDelay: Array<[number, number, number]>;
}

export interface OrderTiming {
  mark(orderId: string, stage: OrderStage, at?: number): void;
  /** The order's session, once it is known. */
  session(orderId: string, sessionId: string): void;
}

/** Orders kept at most: a long run stops recording rather than grow. */
const MAX_ORDERS = 200_000;

class RecordingOrderTiming implements OrderTiming {
  private orders = new Map<string, { sessionId: string | null; at: Array<number | null> }>();
  private loopDelay: Array<[number, number, number]> = [];
  private timer: NodeJS.Timeout;
  private delay = monitorEventLoopDelay({ resolution: 10 });

  constructor(private file: string) {
    const delay = this.delay;
    delay.enable();
    this.timer = setInterval(() => {
      this.loopDelay.push([Math.round(performance.now()), round(delay.mean / 1e6), round(delay.percentile(99) / 1e6)]);
      delay.reset();
      this.write();
    }, 1000).unref();
  }

  mark(orderId: string, stage: OrderStage, at = performance.now()) {
    let entry = this.orders.get(orderId);
    if (!entry) {
      if (this.orders.size >= MAX_ORDERS) return;
      entry = { sessionId: null, at: ORDER_STAGES.map(() => null) };
      this.orders.set(orderId, entry);
    }
    entry.at[ORDER_STAGES.indexOf(stage)] = round(at);
  }

  session(orderId: string, sessionId: string) {
    const entry = this.orders.get(orderId);
    if (entry) entry.sessionId = sessionId;
  }

  /** Writes the file a last time and stops sampling. */
  stop() {
    clearInterval(this.timer);
    this.delay.disable();
    this.write();
  }

  private write() {
    const content: OrderTimingFile = { stages: ORDER_STAGES, orders: [...this.orders.values()], loopDelay: this.loopDelay };
    try {
      fs.writeFileSync(this.file, JSON.stringify(content));
    } catch {
      // A diagnostic never stops the node.
    }
  }
}

const off: OrderTiming = { mark() {}, session() {} };

let shared: OrderTiming | undefined;

/** A recorder writing to `file` each second, or one that records nothing. */
export function createOrderTiming(file: string | undefined): OrderTiming & { stop(): void } {
  return file ? new RecordingOrderTiming(file) : { ...off, stop() {} };
}

/** This process's recorder (TF_ORDER_TIMING): one file per process, whichever service asks first. */
export function orderTiming(): OrderTiming {
  shared ??= createOrderTiming(process.env.TF_ORDER_TIMING);
  return shared;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
