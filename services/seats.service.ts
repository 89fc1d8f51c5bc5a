/**
 * The seat actors: one per event session, on the node that owns the session (src/seats/routing.ts).
 * The two routes of a sale's rush, which the gateway calls on the session's owner directly (a
 * buyer's hold and the public seat map), and internal actions for the holds facade
 * (holds.service.ts: read, release, extend, block) and the order saga (confirm, unsell).
 *
 * A node activates a session's actor on the first call (new epoch, state rebuilt from the
 * database), passivates it when idle with no live holds, hands it over when membership changes
 * make another node its owner, and every second wakes the actors of its sessions that have holds
 * due, so holds expire on time even after a restart or a failover.
 */
import { randomId } from "../src/platform/random-id";
import { idempotencyKey, idForKey } from "../src/platform/idempotency";
import type { Context, Service, ServiceSchema } from "moleculer";
import type { Knex } from "knex";
import { DbMixin, DbThis } from "../mixins/db.mixin";
import { AuthContext, currentUser } from "../src/platform/auth";
import { ApiError, notFound, unavailable, unprocessable } from "../src/platform/errors";
import { SeatMapError } from "../src/domain/seat-map";
import { ActorUnavailable, SessionActor } from "../src/seats/session-actor";
import { findHold, HoldStatusFinder, onSale, SeatCommitter, sessionsWithHoldsDue } from "../src/seats/store";
import { nodesWith, ownerOf } from "../src/seats/routing";
import { holdJson } from "../src/seats/contract";
import { SeatMapAnswers } from "../src/seats/seat-map-answer";

const SWEEP_MS = 1000;
/** After a membership change, for this long, every call first checks the actor's epoch (see SessionActor.verifyEpoch). */
const SETTLING_MS = 10_000;
// How long an actor without live holds stays in memory without calls (SEATS_IDLE_SECONDS).
const IDLE_MS = Number(process.env.SEATS_IDLE_SECONDS ?? 300) * 1000;

/** HTTP status of each refusal of the seat map. */
const STATUS_OF: Record<string, number> = {
  VALIDATION_ERROR: 400,
  UNKNOWN_SEATS: 400,
  DUPLICATE_SEATS: 400,
  UNKNOWN_AREA: 400,
  UNKNOWN_CATEGORY: 400,
  AREA_REQUIRED: 400,
  HOLD_NOT_FOUND: 404,
  SEAT_TAKEN: 409,
  NOT_ENOUGH_SEATS: 409,
  HOLD_EXPIRED: 409,
  HOLD_CONFIRMED: 409,
  ORDER_CONFIRMED: 409,
  LIMIT_EXCEEDED: 422,
  IDEMPOTENCY_KEY_REUSED: 422,
};

/** "Try again": the session is moving between nodes or its actor just stepped down. Moleculer retries these. */
export function retryLater(message: string): ApiError {
  const err = unavailable(message, 1);
  (err as ApiError & { retryable: boolean }).retryable = true;
  return err;
}

const sessionId = { type: "string", min: 1, max: 100 } as const;
const id = { type: "string", min: 1, max: 100 } as const;

type SeatsThis = Service & DbThis & {
  actors: Map<string, Promise<SessionActor>>;
  live: Map<string, SessionActor>;
  /** Each live actor's encoded seat-map answers. */
  answers: WeakMap<SessionActor, SeatMapAnswers>;
  committer: SeatCommitter;
  holdStatus: HoldStatusFinder;
  sweepTimer?: NodeJS.Timeout;
  sweeping: boolean;
  membershipChangedAt: number;
  actorFor(sessionId: string): Promise<SessionActor>;
  serve<T>(sessionId: string, fn: (actor: SessionActor) => Promise<T>, holdId?: string): Promise<T>;
  handOver(): Promise<void>;
  sweep(): Promise<void>;
  endedHoldError(sessionId: string, holdId: string): Promise<ApiError>;
};

type Ctx<P> = Context<P, Record<string, unknown>>;

const SeatsService: ServiceSchema = {
  name: "seats",
  mixins: [DbMixin],
  // The seat map's route is /api/sessions/..., not /api/seats/sessions/...
  settings: { rest: "/" },

  actions: {
    /**
     * POST /api/sessions/:id/holds: a buyer holds seats (explicit, or best available). The gateway
     * calls the session's owner directly, as for the seat map: one action call per hold. The holder
     * is the signed-in user (the token's, never a field of the body), answered 201 with Location.
     */
    hold: {
      // The route's own name for the session (`:id`, as in shared/API.md), so the key is `id` here.
      rest: "POST /sessions/:id/holds",
      sessionKey: "id",
      params: {
        id: sessionId,
        seats: { type: "array", optional: true, min: 1, max: 100, items: { type: "string", min: 1, max: 100 } },
        quantity: { type: "number", integer: true, min: 1, max: 100, optional: true },
        category: { type: "string", min: 1, max: 100, optional: true },
        adjacent: { type: "boolean", optional: true },
        area: { type: "string", min: 1, max: 100, optional: true },
      },
      async handler(this: SeatsThis, ctx: AuthContext<{ id: string; seats?: string[]; quantity?: number; category?: string; adjacent?: boolean; area?: string }>) {
        const user = currentUser(ctx);
        const { id: sid, ...req } = ctx.params;
        // With an Idempotency-Key, a request sent again (its answer lost to a timeout, a 503, a
        // dropped connection) answers with the hold the first one made: its id is derived from
        // the buyer, the session and the key. Without one, each request is a new hold.
        const key = idempotencyKey(ctx, false);
        // Either way 128 unguessable bits: hold ids are capabilities for whoever holds them.
        const holdId = key ? idForKey(this.platform.secrets.jwtSecret, "hold", user.id, sid, key) : randomId();
        const hold = await this.serve(sid, async (actor) => {
          const here = () => key !== undefined && actor.map.getHold(holdId) !== undefined;
          let repeat = here();
          let create = !repeat;
          if (key && !repeat) {
            const stored = await this.holdStatus.find(holdId);
            // The same key's other request may have made it meanwhile: that one is answered.
            repeat = here();
            // Made by this key once and ended since: not made again (SeatMap.holdOnce answers HOLD_EXPIRED).
            create = !repeat && !stored;
          }
          const info = await actor.freshInfo();
          if (!repeat && !onSale(info, Date.now())) throw unprocessable("SALES_CLOSED", "This session is not on sale right now.");
          const asked = { ...req, userId: user.id };
          return holdJson(sid, await (key ? actor.holdOnce(asked, holdId, create) : actor.hold(asked, holdId)));
        });
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/holds/${hold.holdId}`;
        return hold;
      },
    },

    release: {
      sessionKey: "sessionId",
      params: { sessionId, holdId: id },
      async handler(this: SeatsThis, ctx: Ctx<{ sessionId: string; holdId: string }>) {
        return this.serve(ctx.params.sessionId, async (actor) => {
          await actor.release(ctx.params.holdId);
          return { released: true };
        });
      },
    },

    extend: {
      sessionKey: "sessionId",
      params: { sessionId, holdId: id, seconds: { type: "number", integer: true, min: 1, max: 3600, optional: true } },
      async handler(this: SeatsThis, ctx: Ctx<{ sessionId: string; holdId: string; seconds?: number }>) {
        const { sessionId: sid, holdId, seconds } = ctx.params;
        return this.serve(sid, async (actor) => holdJson(sid, await actor.extend(holdId, seconds)), holdId);
      },
    },

    confirm: {
      sessionKey: "sessionId",
      params: { sessionId, holdId: id, orderId: id },
      async handler(this: SeatsThis, ctx: Ctx<{ sessionId: string; holdId: string; orderId: string }>) {
        const { sessionId: sid, holdId, orderId } = ctx.params;
        return this.serve(sid, async (actor) => holdJson(sid, await actor.confirm(holdId, orderId)), holdId);
      },
    },

    unsell: {
      sessionKey: "sessionId",
      params: { sessionId, orderId: id },
      async handler(this: SeatsThis, ctx: Ctx<{ sessionId: string; orderId: string }>) {
        return this.serve(ctx.params.sessionId, async (actor) => ({ seats: await actor.unsell(ctx.params.orderId) }));
      },
    },

    /** Organizer: take seats off sale or put them back. */
    block: {
      sessionKey: "sessionId",
      params: { sessionId, seats: { type: "array", min: 1, max: 10_000, items: { type: "string", min: 1, max: 100 } }, blocked: "boolean" },
      async handler(this: SeatsThis, ctx: Ctx<{ sessionId: string; seats: string[]; blocked: boolean }>) {
        return this.serve(ctx.params.sessionId, async (actor) => ({ seats: await actor.block(ctx.params.seats, ctx.params.blocked) }));
      },
    },

    /**
     * GET /api/sessions/:id/seat-map: the live status of every seat, GA availability, prices.
     * Public, so there is nobody to check and no facade: the gateway calls the session's owner
     * directly (one call for the most-read route of a sale). The answer is encoded once per
     * version (src/seats/seat-map-answer.ts); `statusOnly` leaves out the seat ids, which never
     * change. ETag / If-None-Match (304) and gzip.
     */
    map: {
      // The route's own name for the session (`:id`, as in shared/API.md), so the key is `id` here.
      rest: "GET /sessions/:id/seat-map",
      auth: "public",
      sessionKey: "id",
      params: { id: sessionId, statusOnly: { type: "enum", values: ["0", "1", "true", "false"], optional: true } },
      async handler(this: SeatsThis, ctx: Ctx<{ id: string; statusOnly?: string }>) {
        const statusOnly = ctx.params.statusOnly === "1" || ctx.params.statusOnly === "true";
        const answer = await this.serve(ctx.params.id, async (actor) => {
          // Prices and currency are in the answer: re-read after a change or the TTL.
          const info = await actor.freshInfo();
          return actor.read((map) => {
            let answers = this.answers.get(actor);
            if (!answers) this.answers.set(actor, (answers = new SeatMapAnswers()));
            return answers.answer(map.version, info, statusOnly, () => ({
              sessionId: actor.sessionId,
              version: map.version,
              ...(statusOnly ? {} : { seatIds: map.plan.ids }),
              status: map.encodeStatus(),
              prices: info.prices,
              currency: info.currency,
              areas: map.areaAvailability(),
            }));
          });
        });
        return answer.send(ctx, this.broker.nodeID);
      },
    },

    /** Operators: one actor's state. */
    summary: {
      sessionKey: "sessionId",
      params: { sessionId },
      async handler(this: SeatsThis, ctx: Ctx<{ sessionId: string }>) {
        return this.serve(ctx.params.sessionId, async (actor) => {
          const info = await actor.freshInfo();
          return actor.read((map) => ({
            sessionId: actor.sessionId,
            nodeID: this.broker.nodeID,
            epoch: actor.epoch,
            version: map.version,
            ...map.summary(),
            activeHolds: map.activeHolds,
            nextExpiry: map.nextExpiry() ? new Date(map.nextExpiry()!).toISOString() : null,
            onSale: onSale(info, Date.now()),
          }));
        });
      },
    },

    /** Operators: commit and drop a session's actor; the next call activates it again (new epoch). */
    passivate: {
      sessionKey: "sessionId",
      params: { sessionId },
      async handler(this: SeatsThis, ctx: Ctx<{ sessionId: string }>) {
        const actor = this.live.get(ctx.params.sessionId);
        if (actor) await actor.passivate("passivated by an operator");
        return { sessionId: ctx.params.sessionId, nodeID: this.broker.nodeID, passivated: !!actor };
      },
    },

    /**
     * Operators: make the session's owner (by hashing) serve it now, taking a new epoch. Placement
     * is rendezvous hashing, so a session cannot be pinned to another node: asking for one that is
     * not the owner is refused with the owner's name.
     */
    move: {
      sessionKey: "sessionId",
      params: { sessionId, nodeID: { type: "string", min: 1, max: 200, optional: true } },
      async handler(this: SeatsThis, ctx: Ctx<{ sessionId: string; nodeID?: string }>) {
        const { sessionId: sid, nodeID } = ctx.params;
        if (nodeID && nodeID !== this.broker.nodeID) {
          throw new ApiError(409, "NOT_OWNER", `Sessions are placed by hashing; ${sid} belongs on ${this.broker.nodeID}, not ${nodeID}.`, { owner: this.broker.nodeID });
        }
        const current = this.live.get(sid);
        if (current) await current.passivate("moved by an operator");
        return this.serve(sid, async (actor) => ({ sessionId: sid, nodeID: this.broker.nodeID, epoch: actor.epoch }));
      },
    },

    /** Operators: which node owns which active sessions (asks every seats node). */
    owners: {
      params: {},
      async handler(this: SeatsThis, ctx: Ctx<Record<string, never>>) {
        const nodes = nodesWith(this.broker, "seats.actors");
        const answers = await Promise.all(
          nodes.map((nodeID) =>
            ctx.call<Array<Record<string, unknown>>, Record<string, never>>("seats.actors", {}, { nodeID }).then(
              (sessions) => ({ nodeID, sessions }),
              (err: Error) => ({ nodeID, error: err.message, sessions: [] }),
            ),
          ),
        );
        return answers.sort((a, b) => a.nodeID.localeCompare(b.nodeID));
      },
    },

    /** This node's live actors (seats.owners asks each node). */
    actors: {
      visibility: "public",
      params: {},
      handler(this: SeatsThis) {
        return [...this.live.values()].map((a) => ({
          sessionId: a.sessionId,
          epoch: a.epoch,
          version: a.map.version,
          activeHolds: a.map.activeHolds,
          idleSeconds: Math.round((Date.now() - a.lastUsed) / 1000),
        }));
      },
    },
  },

  events: {
    // An organizer changed the session (prices, the sale's window, limits) or cancelled its
    // event: its actor, if it lives here, re-reads the session on its next call.
    "sessions.changed"(this: SeatsThis, ctx: { params?: { sessionId?: unknown } }) {
      const sid = ctx.params?.sessionId;
      if (typeof sid === "string") this.live.get(sid)?.infoChanged();
    },
    // Membership changed: sessions this node no longer owns go to their new owner.
    "$services.changed"(this: SeatsThis) {
      this.membershipChangedAt = Date.now();
      void this.handOver();
    },
    "$node.disconnected"(this: SeatsThis) {
      this.membershipChangedAt = Date.now();
      void this.handOver();
    },
  },

  methods: {
    /**
     * The session's actor, activated if need be. Calls arrive here because the caller's view of the
     * membership says this node owns the session; after a node dies the caller may notice before
     * this node does, so this node serves rather than bounce the call back and forth. Two nodes
     * that both serve a session for a moment cannot both write (fencing), and reads are checked
     * against the stored epoch while membership settles.
     */
    async actorFor(this: SeatsThis, sid: string): Promise<SessionActor> {
      let pending = this.actors.get(sid);
      if (!pending) {
        pending = SessionActor.activate({
          knex: this.db as Knex,
          committer: this.committer,
          nodeID: this.broker.nodeID,
          sessionId: sid,
          logger: this.logger,
          events: {
            changed: (payload) => void this.broker.broadcast("seats.changed", payload),
            stock: (payload) => void this.broker.broadcast("seats.stock", payload),
          },
          onCommit: (commands) => {
            if (!this.broker.isMetricsEnabled()) return;
            this.broker.metrics.increment("seats_commits_total");
            this.broker.metrics.increment("seats_commands_committed_total", undefined, commands);
          },
          onStop: (actor, reason) => {
            if (this.broker.isMetricsEnabled()) this.broker.metrics.increment("seats_actor_stops_total", { reason: reason.split(":")[0].split(" ")[0] });
            if (this.live.get(sid) === actor) {
              this.live.delete(sid);
              this.actors.delete(sid);
            }
          },
        }).then(
          (actor) => {
            if (!actor) {
              this.actors.delete(sid);
              throw notFound("Session");
            }
            this.live.set(sid, actor);
            if (this.broker.isMetricsEnabled()) this.broker.metrics.increment("seats_actor_activations_total");
            return actor;
          },
          (err) => {
            this.actors.delete(sid);
            throw err;
          },
        );
        this.actors.set(sid, pending);
      }
      const actor = await pending;
      if (!actor.active) throw retryLater("The session is moving; try again.");
      return actor;
    },

    /** Runs a command on the session's actor and speaks the API's errors. */
    async serve<T>(this: SeatsThis, sid: string, fn: (actor: SessionActor) => Promise<T>, holdId?: string): Promise<T> {
      try {
        const actor = await this.actorFor(sid);
        // A node without a transporter is alone with its database: nobody else can take a session over.
        if (this.broker.transit && Date.now() - this.membershipChangedAt < SETTLING_MS) await actor.verifyEpoch();
        return await fn(actor);
      } catch (err) {
        if (err instanceof SeatMapError) {
          if (err.code === "HOLD_NOT_FOUND" && holdId) throw await this.endedHoldError(sid, holdId);
          throw new ApiError(STATUS_OF[err.code] ?? 400, err.code, err.message, err.details);
        }
        if (err instanceof ActorUnavailable) throw retryLater(err.message);
        throw err;
      }
    },

    /** A hold the actor no longer knows either ended (409 HOLD_EXPIRED, as the contract says) or never existed here (404). */
    async endedHoldError(this: SeatsThis, sid: string, holdId: string): Promise<ApiError> {
      const hold = await findHold(this.db, holdId);
      if (hold && hold.sessionId === sid && (hold.status === "RELEASED" || hold.status === "EXPIRED")) {
        return new ApiError(409, "HOLD_EXPIRED", "The hold has expired or was released; its seats are back on sale.");
      }
      return new ApiError(404, "NOT_FOUND", "Hold not found.");
    },

    async handOver(this: SeatsThis) {
      for (const [sid, actor] of this.live) {
        if (ownerOf(this.broker, sid) !== this.broker.nodeID) await actor.passivate("membership changed: another node owns the session");
      }
    },

    /** Wakes the actors of owned sessions with holds due, and passivates idle ones. */
    async sweep(this: SeatsThis) {
      if (this.sweeping) return;
      this.sweeping = true;
      try {
        if (this.broker.isMetricsEnabled()) this.broker.metrics.set("seats_actors_active", this.live.size);
        const now = Date.now();
        for (const sid of await sessionsWithHoldsDue(this.db, now + SWEEP_MS)) {
          if (!this.live.has(sid) && ownerOf(this.broker, sid) === this.broker.nodeID) {
            await this.actorFor(sid).catch((err) => this.logger.warn(`could not wake session ${sid}:`, (err as Error).message));
          }
        }
        for (const actor of this.live.values()) {
          if (now - actor.lastUsed > IDLE_MS && actor.map.activeHolds === 0 && actor.queueLength === 0) await actor.passivate("idle");
        }
      } catch (err) {
        this.logger.warn("seat sweep failed:", (err as Error).message);
      } finally {
        this.sweeping = false;
      }
    },
  },

  created(this: Service) {
    const self = this as SeatsThis;
    const metrics = this.broker.metrics;
    if (this.broker.isMetricsEnabled()) {
      metrics.register({ name: "seats_actors_active", type: "gauge", description: "Seat actors live on this node" });
      metrics.register({ name: "seats_actor_activations_total", type: "counter", description: "Seat actors activated (each takes a new epoch)" });
      metrics.register({ name: "seats_actor_stops_total", type: "counter", labelNames: ["reason"], description: "Seat actors stopped, by reason" });
      metrics.register({ name: "seats_commits_total", type: "counter", description: "Group commits of seat actors" });
      metrics.register({ name: "seats_commit_calls_total", type: "counter", description: "Database calls that carried those commits (several sessions' in one)" });
      metrics.register({ name: "seats_commands_committed_total", type: "counter", description: "Commands made durable by those commits" });
    }
    self.actors = new Map();
    self.live = new Map();
    self.answers = new WeakMap();
    self.sweeping = false;
    self.membershipChangedAt = 0;
  },

  async started(this: Service) {
    const self = this as SeatsThis;
    // One committer per node: its actors' batches share calls (src/seats/store.ts).
    self.committer = new SeatCommitter(self.db as Knex, {
      onCall: () => {
        if (self.broker.isMetricsEnabled()) self.broker.metrics.increment("seats_commit_calls_total");
      },
    });
    self.holdStatus = new HoldStatusFinder(self.db as Knex);
    self.sweepTimer = setInterval(() => void self.sweep(), SWEEP_MS);
    self.sweepTimer.unref?.();
  },

  async stopped(this: Service) {
    const self = this as SeatsThis;
    clearInterval(self.sweepTimer);
    await Promise.all([...self.live.values()].map((a) => a.passivate("node stopping")));
  },
};

export default SeatsService;
