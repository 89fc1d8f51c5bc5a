/**
 * The shell around one session's SeatMap: the only code between the pure core and the world.
 *
 * - Commands apply to the in-memory map at once (single-threaded, so they are serialised for
 *   free) and are acknowledged only after the batch that contains them is committed.
 * - Group commit: while one commit is in flight, new commands pile up; the next commit takes
 *   them all. One transaction per batch, whatever its size; the node's SeatCommitter may send
 *   several sessions' batches in one call, each still all or nothing.
 * - Fencing: every commit is conditional on this actor's epoch. A refused or failed commit stops
 *   the actor at once: its memory may hold changes that never happened, so it is dropped, the
 *   callers get a retryable error, and the next call rebuilds from the database.
 * - Expiry is data: a timer fires at the earliest expiry, and any command first expires what is due.
 */
import type { Knex } from "knex";
import { HoldRequest, HoldView, SeatMap, SeatMapError, SeatPlan } from "../domain/seat-map";
import { commitBatch, FencedError, loadSessionInfo, SeatCommitter, SessionInfo, takeOwnership } from "./store";
import { CATALOG_READ_TTL_MS } from "../domain/catalog";

export interface ActorEvents {
  changed(payload: { sessionId: string; version: number; changes: Array<{ seatId: string; status: string }> }): void;
  stock(payload: { sessionId: string; available: number; areas: Array<{ id: string; available: number }> }): void;
}

export interface ActorOptions {
  knex: Knex;
  nodeID: string;
  sessionId: string;
  /** The node's committer, which sends several actors' batches in one call; without it, each commit goes alone. */
  committer?: SeatCommitter;
  clock?: () => number;
  events?: ActorEvents;
  logger?: { info(...a: unknown[]): void; warn(...a: unknown[]): void };
  /** Called after each successful commit: how many commands it made durable and how long it took. */
  onCommit?: (commands: number, ms: number) => void;
  /** Called once when the actor stops (passivated, fenced or failed). */
  onStop?: (actor: SessionActor, reason: string) => void;
  /** How long the catalog's session data (sale window, limits) may be cached. */
  infoTtlMs?: number;
  /** Live-update batching window. */
  eventDelayMs?: number;
  /** Commands waiting for a commit, at most; beyond it callers are told to retry. */
  maxQueue?: number;
}

/** The actor cannot serve (stopped, fenced, overloaded): the caller should retry, maybe elsewhere. */
export class ActorUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ActorUnavailable";
  }
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export class SessionActor {
  readonly sessionId: string;
  lastUsed: number;
  private stopped?: string;
  private waiting: Waiter[] = [];
  private committing = false;
  private expiryTimer?: NodeJS.Timeout;
  private expiryAt = Infinity;
  private infoLoadedAt: number;
  private infoRefresh?: Promise<void>;
  /** Changes announced for the session (infoChanged), so that a read begun before one is not taken as fresh. */
  private infoChanges = 0;
  private pendingChanges = new Map<string, string>();
  private stockDirty = false;
  private committedVersion: number;
  private eventTimer?: NodeJS.Timeout;
  /** The epoch check running (verifyEpoch), and the one calls arriving meanwhile wait for. */
  private epochCheck?: Promise<void>;
  private nextEpochCheck?: Promise<void>;
  private readonly clock: () => number;

  private constructor(
    private readonly opts: ActorOptions,
    readonly epoch: number,
    readonly map: SeatMap,
    public info: SessionInfo,
  ) {
    this.sessionId = opts.sessionId;
    this.clock = opts.clock ?? Date.now;
    this.lastUsed = this.clock();
    this.infoLoadedAt = this.clock();
    this.committedVersion = map.version;
  }

  /** Loads the session, takes a new epoch and rebuilds the exact committed state. Undefined: no such session. */
  static async activate(opts: ActorOptions): Promise<SessionActor | undefined> {
    const info = await loadSessionInfo(opts.knex, opts.sessionId);
    if (!info) return undefined;
    if (!info.layout) throw new Error(`session ${opts.sessionId} has no venue layout`);
    const plan = new SeatPlan(info.layout);
    // The parsed layout is several times the size of the plan (ids, labels, coordinates as JS
    // objects: ~11 MB per 100,000 seats); holding it made a session cost 17.8 MB instead of ~6.
    info.layout = null;
    const { epoch, snapshot } = await takeOwnership(opts.knex, opts.sessionId, opts.nodeID);
    const map = SeatMap.restore(plan, rulesOf(info), snapshot);
    const actor = new SessionActor(opts, epoch, map, info);
    opts.logger?.info(`seat actor ${opts.sessionId} active on ${opts.nodeID}, epoch ${epoch}, version ${snapshot.version}`);
    // Holds that ran out while nobody owned the session end now.
    actor.expireDue();
    return actor;
  }

  get active(): boolean {
    return !this.stopped;
  }

  get queueLength(): number {
    return this.waiting.length;
  }

  hold(req: Omit<HoldRequest, "holdId">, holdId: string): Promise<HoldView> {
    return this.command((map, now) => map.hold({ ...req, holdId }, now));
  }

  /** A hold asked for with an idempotency key: the hold with this id if it is here, else a new one (SeatMap.holdOnce). */
  holdOnce(req: Omit<HoldRequest, "holdId">, holdId: string, create = true): Promise<HoldView> {
    return this.command((map, now) => map.holdOnce({ ...req, holdId }, now, create));
  }

  release(holdId: string): Promise<boolean> {
    return this.command((map) => map.release(holdId));
  }

  extend(holdId: string, seconds?: number): Promise<HoldView> {
    return this.command((map, now) => map.extend(holdId, now, seconds));
  }

  confirm(holdId: string, orderId: string): Promise<HoldView> {
    return this.command((map, now) => map.confirm(holdId, orderId, now));
  }

  unsell(orderId: string): Promise<string[]> {
    return this.command((map) => map.unsell(orderId));
  }

  block(seats: string[], blocked: boolean): Promise<string[]> {
    return this.command((map) => (blocked ? map.block(seats) : map.unblock(seats)));
  }

  /** Reads see only committed state: they wait for whatever is being committed. */
  async read<T>(fn: (map: SeatMap) => T): Promise<T> {
    this.use();
    this.expireDue();
    if (this.map.pending || this.committing) await this.sync();
    this.use();
    return fn(this.map);
  }

  /**
   * Re-reads the catalog's session data (sale window, limits, prices) when it is older than the
   * TTL or the session has changed since (`infoChanged`). Holds and seat map reads call it.
   */
  async freshInfo(): Promise<SessionInfo> {
    this.use();
    if (!this.infoStale()) return this.info;
    // A read already running may have begun before the change that made the data stale.
    if (this.infoRefresh) await this.infoRefresh;
    if (this.infoStale()) {
      const changes = this.infoChanges;
      this.infoRefresh ??= loadSessionInfo(this.opts.knex, this.sessionId, false)
        .then((info) => {
          if (info) {
            this.info = info;
            this.map.rules = rulesOf(info);
          }
          // A change announced while the row was read may not be in what was read: stay stale.
          if (this.infoChanges === changes) this.infoLoadedAt = this.clock();
        })
        // The database did not answer: go on with what is known (a seat map is answered from
        // memory, a hold's commit will fail on its own) and read again on the next call.
        .catch((err: Error) => this.opts.logger?.warn(`seat actor ${this.sessionId}: session data not re-read:`, err.message))
        .finally(() => (this.infoRefresh = undefined));
      await this.infoRefresh;
    }
    return this.info;
  }

  /** The catalog says the session changed (`sessions.changed`): the next call re-reads its data. */
  infoChanged(): void {
    this.infoChanges++;
    this.infoLoadedAt = -Infinity;
  }

  private infoStale(): boolean {
    return this.clock() - this.infoLoadedAt > (this.opts.infoTtlMs ?? CATALOG_READ_TTL_MS);
  }

  /**
   * Checks that the stored epoch is still this actor's; stops it if not. Writes need no such check
   * (their commit is fenced), but a read answered from memory would be stale if another node took
   * the session over, so while membership is settling the service checks before serving.
   */
  verifyEpoch(): Promise<void> {
    this.assertActive();
    if (!this.epochCheck) {
      const check: Promise<void> = this.readEpoch().finally(() => {
        if (this.epochCheck === check) this.epochCheck = undefined;
      });
      return (this.epochCheck = check);
    }
    // A check is running, but it may have read the row before this call arrived: share the next
    // one instead, which every call arriving meanwhile shares too. So each call is still answered
    // after a read of the row made after it arrived, and a hot session under a changing membership
    // reads its row once per round trip, not once per call (a sale's seat map reads, a pair per
    // round trip: bench/fixes.md, twenty-first round).
    return (this.nextEpochCheck ??= this.epochCheck.then(
      () => this.afterEpochCheck(),
      () => this.afterEpochCheck(),
    ));
  }

  private afterEpochCheck(): Promise<void> {
    this.nextEpochCheck = undefined;
    return this.verifyEpoch();
  }

  private async readEpoch(): Promise<void> {
    const row = await this.opts.knex("seat_actors").where({ session_id: this.sessionId }).first("epoch");
    if (!row || Number(row.epoch) !== this.epoch) {
      this.stop("fenced: another node took the session over");
      this.assertActive();
    }
  }

  /** Commits what is pending and stops (idle passivation, or handing the session to its owner). */
  async passivate(reason = "passivated"): Promise<void> {
    if (this.stopped) return;
    await this.sync().catch(() => undefined);
    this.stop(reason);
  }

  /** Drops the state at once; waiting callers get a retryable error. */
  stop(reason: string): void {
    if (this.stopped) return;
    this.stopped = reason;
    clearTimeout(this.expiryTimer);
    this.flushEvents();
    clearTimeout(this.eventTimer);
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w.reject(new ActorUnavailable(`session ${this.sessionId} moved (${reason}); retry`));
    this.opts.logger?.info(`seat actor ${this.sessionId} stopped on ${this.opts.nodeID}: ${reason}`);
    this.opts.onStop?.(this, reason);
  }

  /** Resolves when everything applied so far is committed (a fenced empty commit if nothing is pending). */
  sync(): Promise<void> {
    this.assertActive();
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.scheduleCommit();
    });
  }

  // ---- internals ----

  private use(): void {
    this.assertActive();
    this.lastUsed = this.clock();
  }

  private assertActive(): void {
    if (this.stopped) throw new ActorUnavailable(`session ${this.sessionId} is not served here any more (${this.stopped}); retry`);
  }

  private async command<T>(fn: (map: SeatMap, now: number) => T): Promise<T> {
    this.use();
    if (this.waiting.length >= (this.opts.maxQueue ?? 10_000)) throw new ActorUnavailable(`session ${this.sessionId} is busy; retry`);
    this.expireDue();
    let result: T;
    try {
      result = fn(this.map, this.clock());
    } catch (err) {
      if (err instanceof SeatMapError) {
        // A refusal may still have changed state (a hold found expired ends): commit it along.
        if (this.map.pending) this.scheduleCommit();
        throw err;
      }
      // A broken invariant: this memory cannot be trusted. Stop; the next call rebuilds from the database.
      this.stop(`invariant: ${(err as Error).message}`);
      throw err;
    }
    // Even a command that changed nothing (an idempotent repeat) answers only from committed state.
    if (this.map.pending || this.committing) await this.sync();
    return result;
  }

  private scheduleCommit(): void {
    if (this.committing || this.stopped) return;
    this.committing = true;
    void this.commitLoop();
  }

  private async commitLoop(): Promise<void> {
    while (!this.stopped && (this.waiting.length || this.map.pending)) {
      const waiters = this.waiting;
      this.waiting = [];
      const batch = this.map.drain();
      const started = this.clock();
      try {
        if (this.opts.committer) await this.opts.committer.commit(this.sessionId, this.epoch, batch);
        else await commitBatch(this.opts.knex, this.sessionId, this.epoch, batch);
        this.opts.onCommit?.(waiters.length, this.clock() - started);
      } catch (err) {
        this.committing = false;
        const fenced = err instanceof FencedError;
        if (!fenced) this.opts.logger?.warn(`seat actor ${this.sessionId} commit failed:`, (err as Error).message);
        this.stop(fenced ? "fenced: another node took the session over" : `commit failed: ${(err as Error).message}`);
        const failure = new ActorUnavailable(`session ${this.sessionId} could not commit; retry`);
        for (const w of waiters) w.reject(failure);
        return;
      }
      this.committedVersion = batch.version;
      for (const w of waiters) w.resolve();
      this.publish(batch.changes, batch.stockChanged);
    }
    this.committing = false;
    this.armExpiryTimer();
  }

  private expireDue(): void {
    if (this.stopped) return;
    const ended = this.map.expire(this.clock());
    if (ended.length) this.scheduleCommit();
    this.armExpiryTimer();
  }

  private armExpiryTimer(): void {
    if (this.stopped) return;
    const next = this.map.nextExpiry();
    if (next === undefined) {
      clearTimeout(this.expiryTimer);
      this.expiryAt = Infinity;
      return;
    }
    if (next === this.expiryAt && this.expiryTimer) return;
    clearTimeout(this.expiryTimer);
    this.expiryAt = next;
    const delay = Math.min(Math.max(0, next - this.clock()) + 5, 2 ** 31 - 1);
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      this.expiryAt = Infinity;
      this.expireDue();
    }, delay);
    this.expiryTimer.unref?.();
  }

  private publish(changes: Array<{ seatId: string; status: string }>, stockChanged: boolean): void {
    if (!this.opts.events || (!changes.length && !stockChanged)) return;
    for (const c of changes) this.pendingChanges.set(c.seatId, c.status);
    this.stockDirty ||= stockChanged;
    if (!this.eventTimer) {
      this.eventTimer = setTimeout(() => {
        this.eventTimer = undefined;
        this.flushEvents();
      }, this.opts.eventDelayMs ?? 100);
      this.eventTimer.unref?.();
    }
  }

  private flushEvents(): void {
    const events = this.opts.events;
    if (!events) return;
    if (this.pendingChanges.size) {
      const changes = [...this.pendingChanges].map(([seatId, status]) => ({ seatId, status }));
      this.pendingChanges.clear();
      events.changed({ sessionId: this.sessionId, version: this.committedVersion, changes });
    }
    if (this.stockDirty) {
      this.stockDirty = false;
      events.stock({
        sessionId: this.sessionId,
        available: this.map.available,
        areas: this.map.areaAvailability().map((a) => ({ id: a.id, available: a.available })),
      });
    }
  }
}

function rulesOf(info: SessionInfo) {
  return { maxPerCustomer: info.maxPerCustomer, holdMs: info.holdSeconds * 1000 };
}
