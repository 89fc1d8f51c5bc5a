/**
 * Diagnostics (TF_ORDER_TIMING=<file>): where an order's time goes between POST /api/orders and
 * CONFIRMED on the node that drives it. Each order placed on this node gets the time of each
 * stage below, and the event loop's delay is sampled each second. Once a second, the orders that
 * reached CONFIRMED since the last write and the second's delay are appended to the file as JSON
 * lines (the first line names the stages), so a write costs what that second added. The bench
 * reads it to say which part of the order-to-CONFIRMED time is waiting (bench/run.ts, full
 * purchase). Off unless the variable is set, and then a stage costs one `performance.now()`.
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
  /** seats.confirm answered: the seats are sold to the order. */
  "seatsSold",
  /** payments.capture answered. */
  "captured",
  /** CONFIRMED and `orders.confirmed` written; the buyer's socket is told next. */
  "confirmed",
] as const;
export type OrderStage = (typeof ORDER_STAGES)[number];

/** One order's record: its session, and `performance.now()` at each stage (null: not reached). */
export interface OrderTimes {
  sessionId: string | null;
  at: Array<number | null>;
}

/** The file's lines, one JSON object each. */
export type OrderTimingLine =
  | { stages: readonly string[] }
  | { order: OrderTimes }
  /** [`performance.now()`, mean event-loop delay ms over the second before, its p99 ms]. */
  | { loopDelay: [number, number, number] };

export interface OrderTiming {
  mark(orderId: string, stage: OrderStage, at?: number): void;
  /** The order's session, once it is known. */
  session(orderId: string, sessionId: string): void;
}

const LAST_STAGE: OrderStage = ORDER_STAGES[ORDER_STAGES.length - 1];

/** Orders in progress kept at most (those that never reach CONFIRMED stay until then). */
const MAX_IN_PROGRESS = 100_000;

class RecordingOrderTiming implements OrderTiming {
  private inProgress = new Map<string, OrderTimes>();
  /** Lines not written yet. */
  private pending: OrderTimingLine[] = [];
  private timer: NodeJS.Timeout;
  private delay = monitorEventLoopDelay({ resolution: 10 });

  constructor(private file: string) {
    this.write([{ stages: ORDER_STAGES }], "w");
    this.delay.enable();
    this.timer = setInterval(() => this.flush(), 1000).unref();
  }

  mark(orderId: string, stage: OrderStage, at = performance.now()) {
    let times = this.inProgress.get(orderId);
    if (!times) {
      if (this.inProgress.size >= MAX_IN_PROGRESS) return;
      times = { sessionId: null, at: ORDER_STAGES.map(() => null) };
      this.inProgress.set(orderId, times);
    }
    times.at[ORDER_STAGES.indexOf(stage)] = round(at);
    if (stage === LAST_STAGE) {
      this.inProgress.delete(orderId);
      this.pending.push({ order: times });
    }
  }

  session(orderId: string, sessionId: string) {
    const times = this.inProgress.get(orderId);
    if (times) times.sessionId = sessionId;
  }

  /** Writes what is pending and stops sampling. */
  stop() {
    clearInterval(this.timer);
    this.flush();
    this.delay.disable();
  }

  private flush() {
    const delay = this.delay;
    this.pending.push({ loopDelay: [Math.round(performance.now()), round(delay.mean / 1e6), round(delay.percentile(99) / 1e6)] });
    delay.reset();
    const lines = this.pending;
    this.pending = [];
    this.write(lines, "a");
  }

  private write(lines: OrderTimingLine[], flag: "w" | "a") {
    try {
      fs.writeFileSync(this.file, lines.map((l) => JSON.stringify(l) + "\n").join(""), { flag });
    } catch {
      // A diagnostic never stops the node.
    }
  }
}

const off: OrderTiming = { mark() {}, session() {} };

let shared: OrderTiming | undefined;

/** A recorder appending to `file` each second (which it empties first), or one that records nothing. */
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
