/**
 * A gateway's copies of the seat maps whose sessions another node owns.
 *
 * In a cluster, `GET /api/sessions/:id/seat-map` is answered by the session's owner (the seat
 * actor's node), so on every other gateway each read crossed NATS twice: 0.4 server CPU ms and a
 * p99 of 92 ms against 0.05 ms and 9 ms on the owner itself (bench/fixes.md, twenty-first round).
 * When a sale opens, every buyer on every gateway reads the same few maps, and between two of the
 * actor's `seats.changed` broadcasts (at most every 100 ms) they all read the same bytes.
 *
 * So a gateway keeps the owner's last answer per session, variant (`statusOnly`) and encoding,
 * and answers from it until:
 * - the session's `seats.changed` or `seats.stock` broadcast arrives (the next read asks the
 *   owner again), or its `sessions.changed` (prices, the sale's window);
 * - a call through this gateway that may change the session's seats (a hold, a release) has
 *   returned: its buyer's next read asks the owner, without waiting for the broadcast;
 * - or it is `SEAT_MAP_COPY_TTL_MS` old, whatever happens (a broadcast lost with a connection).
 * A reader thus sees what the `seats` events it gets on its socket say, as on the owner itself.
 * Reads that arrive while the owner is asked share its answer (src/platform/read-cache.ts); an
 * error (unknown session, a session moving) is never kept.
 *
 * It sits on the `remoteAction` hook of `seats.map` (SeatMapCopiesMiddleware): a node that owns
 * the session answers from the actor's own encoded answers (src/seats/seat-map-answer.ts) and
 * never reaches it. The owner is asked without the reader's If-None-Match, so that a copy always
 * has a body; revalidation (304) is decided here against the copy's ETag.
 */
import type { Context, Middleware, ServiceBroker } from "moleculer";
import type { Meta } from "../platform/auth";
import { acceptsGzip, etagMatches } from "../platform/encoded-answer";
import { ReadCache } from "../platform/read-cache";
import { talliesOf } from "../platform/request-metrics";

/** The action whose remote calls are answered from copies. */
export const SEAT_MAP_ACTION = "seats.map";

/** The longest a copy is answered from, even if no broadcast said it changed. */
export const SEAT_MAP_COPY_TTL_MS = 2_000;

/** Reads by who answered them (Prometheus: `seats_map_answers_total{from="copy"|"owner"}`). */
const ANSWERS_METRIC = "seats_map_answers_total";

/**
 * Copies per gateway: four per session (two variants, two encodings), so the 16 sessions read
 * most recently. A flash sale's readers ask for a handful; a 100,000-seat session's four copies
 * are about 2 MB (its full map as plain JSON is most of it), so at most about 32 MB.
 */
const KEPT = 64;

const STATUS_ONLY = new Set(["1", "true"]);
const VARIANTS = new Set(["0", "1", "true", "false"]);

/** The owner's answer, as the gateway sends it. */
interface Copy {
  body: string | Buffer;
  etag: string | undefined;
  type: string | undefined;
  headers: Record<string, string>;
}

type Next = (ctx: Context<unknown, Meta>) => Promise<unknown>;

export class SeatMapCopies {
  private readonly copies: ReadCache<Copy>;
  /** Reads answered from a copy, and reads that asked the owner. */
  readonly counts = { copy: 0, owner: 0 };
  /** Told of each read's answer (the node's metrics). */
  counted?: (from: "copy" | "owner") => void;

  constructor(opts: { ttlMs?: number; clock?: () => number } = {}) {
    this.copies = new ReadCache<Copy>({ kept: KEPT, ttlMs: opts.ttlMs ?? SEAT_MAP_COPY_TTL_MS, clock: opts.clock });
  }

  /** Answers a `seats.map` call from a copy, asking the owner (`next`) when there is none. */
  async answer(ctx: Context<unknown, Meta>, next: Next): Promise<unknown> {
    const params = ctx.params as Record<string, unknown> | undefined;
    const id = params?.id;
    const variant = params?.statusOnly ?? "0";
    // Anything the owner's validation might refuse goes to it as it is.
    if (typeof id !== "string" || typeof variant !== "string" || !VARIANTS.has(variant) || Object.keys(params!).some((k) => k !== "id" && k !== "statusOnly")) {
      return next(ctx);
    }
    const headers = ctx.meta.headers ?? {};
    const gzip = acceptsGzip(headers["accept-encoding"]);
    const key = `${id}\u0000${STATUS_ONLY.has(variant) ? 1 : 0}\u0000${gzip ? 1 : 0}`;
    let asked = false;
    const copy = await this.copies.get(key, () => {
      asked = true;
      return this.ask(ctx, next, gzip);
    });
    const from = asked ? "owner" : "copy";
    this.counts[from]++;
    this.counted?.(from);
    ctx.meta.$responseHeaders = { ...copy.headers };
    ctx.meta.$responseType = copy.type;
    ctx.meta.$base64Body = false;
    if (copy.etag && etagMatches(headers["if-none-match"], copy.etag)) {
      ctx.meta.$statusCode = 304;
      return null;
    }
    return copy.body;
  }

  /** Makes the session's next reads ask its owner again. */
  forget(sessionId: unknown): void {
    if (typeof sessionId !== "string") return;
    for (const variant of [0, 1]) for (const gzip of [0, 1]) this.copies.forget(`${sessionId}\u0000${variant}\u0000${gzip}`);
  }

  get size(): number {
    return this.copies.size;
  }

  /** The owner's full answer in the reader's encoding: without If-None-Match, so it has a body. */
  private async ask(ctx: Context<unknown, Meta>, next: Next, gzip: boolean): Promise<Copy> {
    const readers = ctx.meta.headers;
    ctx.meta.headers = gzip ? { "accept-encoding": "gzip" } : {};
    try {
      const body = await next(ctx);
      const meta = ctx.meta;
      if (meta.$statusCode !== undefined && meta.$statusCode !== 200) throw new Error(`seat map answered ${meta.$statusCode}`);
      if (typeof body !== "string" && !Buffer.isBuffer(body)) throw new Error("seat map answered no body");
      const headers = { ...(meta.$responseHeaders ?? {}) };
      return {
        body: meta.$base64Body && typeof body === "string" ? Buffer.from(body, "base64") : body,
        etag: headers.ETag,
        type: meta.$responseType,
        headers,
      };
    } finally {
      ctx.meta.headers = readers;
    }
  }
}

const copiesByBroker = new WeakMap<ServiceBroker, SeatMapCopies>();

/** This node's copies (made by the middleware; a broker without it has none to forget). */
export function seatMapCopiesOf(broker: ServiceBroker): SeatMapCopies | undefined {
  return copiesByBroker.get(broker);
}

/**
 * The broker middleware (moleculer.config.ts registers it first, so that it wraps the transit's
 * request directly: request metrics, timeouts and retries still see every read).
 */
export function SeatMapCopiesMiddleware(): Middleware {
  return function (this: unknown, broker: ServiceBroker) {
    const copies = new SeatMapCopies();
    copiesByBroker.set(broker, copies);
    return {
      name: "SeatMapCopies",
      created() {
        if (!broker.isMetricsEnabled()) return;
        broker.metrics.register({ name: ANSWERS_METRIC, type: "counter", labelNames: ["from"], description: "Seat map reads of sessions other nodes own, by who answered: this gateway's copy or the owner" });
        const tallies = talliesOf(broker);
        const fromCopy = tallies.counter(ANSWERS_METRIC, { from: "copy" });
        const fromOwner = tallies.counter(ANSWERS_METRIC, { from: "owner" });
        copies.counted = (from) => (from === "copy" ? fromCopy : fromOwner).n++;
      },
      remoteAction(next: Next, action: { name?: string; sessionKey?: string }) {
        if (action.name === SEAT_MAP_ACTION) return (ctx: Context<unknown, Meta>) => copies.answer(ctx, next);
        // A hold, release, sale... made through this gateway: its buyer's next read asks the owner,
        // without waiting for the broadcast (read your own writes, as on the owner's gateway).
        const key = action.sessionKey;
        if (!key) return next;
        return (ctx: Context<unknown, Meta>) => next(ctx).finally(() => copies.forget((ctx.params as Record<string, unknown> | undefined)?.[key]));
      },
    };
  } as unknown as Middleware;
}
