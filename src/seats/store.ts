/**
 * The seat actor's SQL: reading a session from the catalog, taking ownership (a new epoch) with
 * the committed state, and committing batches of the seat map, each all or nothing and fenced by
 * its actor's epoch (one session's alone, or several sessions' in one call: SeatCommitter).
 */
import type { Knex } from "knex";
import type { VenueLayout } from "../domain/layout";
import type { EventStatus, SessionStatus } from "../domain/catalog";
import { isOnSale } from "../domain/catalog";
import type { Claim, CommitBatch, HoldRow, HoldStatus, Snapshot } from "../domain/seat-map";

/** Another actor took the session over (a higher epoch): this one must stop at once. */
export class FencedError extends Error {
  constructor(sessionId: string, epoch: number) {
    super(`seat actor of session ${sessionId} lost epoch ${epoch}`);
    this.name = "FencedError";
  }
}

/** What the actor needs from the catalog (sessions, events, venues). */
export interface SessionInfo {
  sessionId: string;
  eventId: string;
  organizerId: string | null;
  eventStatus: EventStatus;
  status: SessionStatus;
  startsAt: Date;
  salesOpenAt: Date | null;
  salesCloseAt: Date | null;
  prices: Record<string, number>;
  currency: string;
  maxPerCustomer: number;
  holdSeconds: number;
  /** Only while activating: the actor keeps the compact SeatPlan built from it, not the layout. */
  layout: VenueLayout | null;
}

export function onSale(info: SessionInfo, now: number): boolean {
  return isOnSale(info.eventStatus, info, new Date(now));
}

export async function loadSessionInfo(knex: Knex, sessionId: string, withLayout = true): Promise<SessionInfo | undefined> {
  const row = await knex("sessions as s")
    .join("events as e", "e.id", "s.event_id")
    .join("venues as v", "v.id", "s.venue_id")
    .where("s.id", sessionId)
    .first(
      "s.id", "s.event_id", "e.organizer_id", "e.status as event_status", "s.status", "s.starts_at", "s.sales_open_at",
      "s.sales_close_at", "s.prices", "s.currency", "s.max_per_customer", "s.hold_seconds",
      withLayout ? "v.layout" : knex.raw("null as layout"),
    );
  if (!row) return undefined;
  return {
    sessionId: row.id,
    eventId: row.event_id,
    organizerId: row.organizer_id ?? null,
    eventStatus: row.event_status,
    status: row.status,
    startsAt: new Date(row.starts_at),
    salesOpenAt: row.sales_open_at ? new Date(row.sales_open_at) : null,
    salesCloseAt: row.sales_close_at ? new Date(row.sales_close_at) : null,
    prices: row.prices ?? {},
    currency: String(row.currency).trim(),
    maxPerCustomer: Number(row.max_per_customer),
    holdSeconds: Number(row.hold_seconds),
    layout: row.layout,
  };
}

interface HoldDbRow {
  id: string;
  user_id: string;
  items: HoldRow["items"];
  expires_at: Date;
  created_at: Date;
  status: HoldStatus;
  order_id: string | null;
}

export function holdFromRow(row: HoldDbRow): HoldRow {
  return {
    holdId: row.id,
    userId: row.user_id,
    items: row.items,
    seats: row.items.map((i) => i.seatId),
    createdAt: new Date(row.created_at).getTime(),
    expiresAt: new Date(row.expires_at).getTime(),
    status: row.status,
    orderId: row.order_id,
  };
}

/**
 * Takes ownership of a session: a new epoch (which fences out every earlier owner: their next
 * write finds another epoch) and, after it, the committed state. The epoch update waits for any
 * in-flight commit of the previous owner (row lock), so the state read here includes it.
 */
export async function takeOwnership(knex: Knex, sessionId: string, nodeID: string): Promise<{ epoch: number; snapshot: Snapshot }> {
  return knex.transaction(async (trx) => {
    const { rows } = await trx.raw(
      `INSERT INTO seat_actors (session_id, epoch, node_id, version, activated_at) VALUES (?, 1, ?, 0, now())
       ON CONFLICT (session_id) DO UPDATE SET epoch = seat_actors.epoch + 1, node_id = EXCLUDED.node_id, activated_at = now()
       RETURNING epoch, version`,
      [sessionId, nodeID],
    );
    const holds: HoldDbRow[] = await trx("holds").where({ session_id: sessionId }).whereIn("status", ["ACTIVE", "CONFIRMED"]);
    const claims = await trx("seat_claims").where({ session_id: sessionId }).select("seat_id", "kind", "hold_id", "order_id", "user_id");
    return {
      epoch: Number(rows[0].epoch),
      snapshot: {
        version: Number(rows[0].version),
        holds: holds.map(holdFromRow),
        claims: claims.map((c): Claim => ({ seatId: c.seat_id, kind: c.kind, holdId: c.hold_id, orderId: c.order_id, userId: c.user_id })),
      },
    };
  });
}

/**
 * Commits one batch, all or nothing, and only while `epoch` is still the session's: one call of
 * the `seat_commit` function (migrations/20261122000300_seats.ts), so a batch of any size costs one
 * round trip. The claim deletes must each match exactly one stored claim and the inserts must find
 * the seat free: a mismatch means this actor's memory diverged from the database, and the whole
 * batch fails.
 */
export async function commitBatch(knex: Knex, sessionId: string, epoch: number, batch: CommitBatch): Promise<void> {
  const { version, deletes, inserts, holds } = batchJson(batch);
  try {
    await knex.raw("SELECT seat_commit(?, ?, ?, ?::jsonb, ?::jsonb, ?::jsonb)", [
      sessionId,
      epoch,
      version,
      JSON.stringify(deletes),
      JSON.stringify(inserts),
      JSON.stringify(holds),
    ]);
  } catch (err) {
    if ((err as { code?: string }).code === "TF001") throw new FencedError(sessionId, epoch);
    throw err;
  }
}

/** A batch refused inside a shared call: the database's code and message, as a lone call would throw them. */
export class SeatCommitError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = "SeatCommitError";
  }
}

interface QueuedCommit {
  sessionId: string;
  epoch: number;
  batch: CommitBatch;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * The node's seat actors commit through one SeatCommitter. Each actor already gathers its own
 * commands into one batch per commit; this gathers the batches of several actors: while a call
 * is out, the batches that arrive wait, and the next call carries up to `maxBatches` of them (`seat_commit_many`, migrations/20261202030000_seat_commit_many.ts). A
 * batch alone goes as before (`seat_commit`). A refused batch fails only its own actor: each
 * batch is a subtransaction of the call, fenced by its own epoch. Batches go in session order,
 * so that two nodes' calls lock the sessions' rows in the same order.
 */
export class SeatCommitter {
  private queue: QueuedCommit[] = [];
  private sending = false;
  private readonly maxBatches: number;
  private readonly onCall?: (batches: number) => void;

  constructor(
    private readonly knex: Knex,
    /** `onCall`: told of every call and how many batches it carries (metrics). */
    opts: { maxBatches?: number; onCall?: (batches: number) => void } = {},
  ) {
    this.maxBatches = Math.max(1, opts.maxBatches ?? 100);
    this.onCall = opts.onCall;
  }

  commit(sessionId: string, epoch: number, batch: CommitBatch): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ sessionId, epoch, batch, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.sending || !this.queue.length) return;
    this.sending = true;
    void this.send(this.queue.splice(0, this.maxBatches)).finally(() => {
      this.sending = false;
      this.pump();
    });
  }

  private async send(items: QueuedCommit[]): Promise<void> {
    this.onCall?.(items.length);
    if (items.length === 1) {
      const [one] = items;
      return commitBatch(this.knex, one.sessionId, one.epoch, one.batch).then(one.resolve, one.reject);
    }
    items.sort((a, b) => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0));
    let refused: Array<{ i: number; code: string; message: string }>;
    try {
      const payload = items.map((c) => ({ session: c.sessionId, epoch: c.epoch, ...batchJson(c.batch) }));
      const { rows } = await this.knex.raw("SELECT seat_commit_many(?::jsonb) AS refused", [JSON.stringify(payload)]);
      refused = rows[0].refused ?? [];
    } catch (err) {
      for (const c of items) c.reject(err as Error);
      return;
    }
    const failed = new Map(refused.map((r) => [r.i, r]));
    items.forEach((c, i) => {
      const r = failed.get(i);
      if (!r) c.resolve();
      else c.reject(r.code === "TF001" ? new FencedError(c.sessionId, c.epoch) : new SeatCommitError(r.message, r.code));
    });
  }
}

/** A batch as seat_commit takes it: the claims let go of and taken, and the holds written. */
function batchJson(batch: CommitBatch) {
  return {
    version: batch.version,
    deletes: batch.claimDeletes.map(claimJson),
    inserts: batch.claimInserts.map(claimJson),
    holds: batch.holds.map((h) => ({
      id: h.holdId,
      user_id: h.userId,
      items: h.items,
      quantity: h.items.length,
      expires_at: new Date(h.expiresAt).toISOString(),
      created_at: new Date(h.createdAt).toISOString(),
      status: h.status,
      order_id: h.orderId,
    })),
  };
}

function claimJson(c: Claim) {
  return { seat_id: c.seatId, kind: c.kind, hold_id: c.holdId, order_id: c.orderId, user_id: c.userId };
}

/**
 * Sessions with an active hold due by `before` (ms): the expiry sweep activates their owners.
 * It runs every second, so it must read the active holds only, from holds_expiry_idx: the status
 * is written into the statement (a bound value cannot match the index's WHERE in a generic plan),
 * and it is planned on every run (`custom plan`, src/platform/pglite-worker.mjs), since a plan
 * made while the table was recorded as empty went on reading every hold ever made (2,000 per
 * sweep in test/integration/seats.test.ts).
 */
export async function sessionsWithHoldsDue(knex: Knex, before: number, limit = 500): Promise<string[]> {
  const rows = await knex("holds")
    .comment("custom plan")
    .whereRaw("status = 'ACTIVE'")
    .andWhere("expires_at", "<=", new Date(before))
    .distinct("session_id")
    .limit(limit);
  return rows.map((r: { session_id: string }) => r.session_id);
}

/** What an order needs of its hold's session, read with the hold. */
export interface HoldSession {
  eventId: string;
  prices: Record<string, unknown> | null;
  currency: string;
}

/**
 * One hold as stored, with its session's event, prices and currency (undefined if the session is
 * gone), in one read: what POST /api/orders needs before it prices the order.
 */
export async function findHoldToOrder(knex: Knex, holdId: string): Promise<{ hold: HoldRow & { sessionId: string }; session?: HoldSession } | undefined> {
  const row = await knex("holds as h")
    .leftJoin("sessions as s", "s.id", "h.session_id")
    .where("h.id", holdId)
    .first("h.*", "s.id as session_found", "s.event_id as session_event_id", "s.prices as session_prices", "s.currency as session_currency");
  if (!row) return undefined;
  return {
    hold: { ...holdFromRow(row), sessionId: row.session_id },
    session: row.session_found ? { eventId: row.session_event_id, prices: row.session_prices, currency: String(row.session_currency).trim() } : undefined,
  };
}

/** One hold as stored, for readers that do not need the actor (GET /api/holds/:id). */
export async function findHold(knex: Knex, holdId: string): Promise<(HoldRow & { sessionId: string }) | undefined> {
  const row = await knex("holds").where({ id: holdId }).first();
  return row ? { ...holdFromRow(row), sessionId: row.session_id } : undefined;
}

/**
 * The stored status of holds by id, for holds asked for with an Idempotency-Key (was this key's
 * hold made, and has it ended?). Every buyer of the web UI sends one, so in a sale's rush this is
 * a lookup per hold: the ids asked for while a query is out go together in the next one, as the
 * committer gathers commits, so the lookups cost a query per round trip, not per hold.
 */
export class HoldStatusFinder {
  private asked = new Map<string, Array<{ resolve(status: HoldStatus | undefined): void; reject(err: Error): void }>>();
  private querying = false;

  constructor(private readonly knex: Knex) {}

  find(holdId: string): Promise<HoldStatus | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.asked.get(holdId);
      if (waiting) waiting.push({ resolve, reject });
      else this.asked.set(holdId, [{ resolve, reject }]);
      if (!this.querying) void this.query();
    });
  }

  private async query(): Promise<void> {
    this.querying = true;
    while (this.asked.size) {
      const batch = this.asked;
      this.asked = new Map();
      try {
        const rows: Array<{ id: string; status: HoldStatus }> = await this.knex("holds").whereIn("id", [...batch.keys()]).select("id", "status");
        const found = new Map(rows.map((r) => [r.id, r.status]));
        for (const [id, waiters] of batch) for (const w of waiters) w.resolve(found.get(id));
      } catch (err) {
        for (const waiters of batch.values()) for (const w of waiters) w.reject(err as Error);
      }
    }
    this.querying = false;
  }
}
