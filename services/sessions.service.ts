/**
 * Sessions: one performance of an event at a venue, with its prices (one per price category of
 * the venue's layout, in integer minor units), sales window and per-customer rules. `onSale` in
 * every answer follows the rule of shared/CONTRACTS.md. Visibility follows the session's event.
 */
import type { Knex } from "knex";
import type { Service, ServiceSchema } from "moleculer";
import { FOREIGN_KEY_VIOLATION, KnexDbMixin, KnexDbThis } from "../mixins/knex-db.mixin";
import { AuthContext } from "../src/platform/auth";
import { badRequest, conflict, notFound } from "../src/platform/errors";
import { FieldProblem, priceProblems, scheduleProblems, SessionStatus } from "../src/domain/catalog";
import { layoutCategories } from "../src/domain/layout-validation";
import type { VenueLayout } from "../src/domain/layout";
import {
  canManageEvent,
  canSeeEvent,
  catalogReadCache,
  eventJson,
  EventRow,
  idParam,
  langParam,
  listedEvents,
  pageParams,
  SessionRow,
  sessionJson,
  venueSummaries,
  VenueSummary,
} from "../src/catalog/shared";
import type { ReadCache } from "../src/platform/read-cache";

const rules = {
  date: { type: "date", convert: true },
  nullableDate: { type: "date", convert: true, optional: true, nullable: true },
  prices: {
    type: "record",
    key: { type: "string", min: 1, max: 40 },
    value: { type: "number", integer: true, min: 0, max: 100_000_000 },
  },
  currency: { type: "string", length: 3, pattern: /^[A-Za-z]{3}$/, uppercase: true },
  maxPerCustomer: { type: "number", integer: true, min: 1, max: 100, optional: true },
  holdSeconds: { type: "number", integer: true, min: 60, max: 3600, optional: true },
} as const;

const optional = <T extends object>(rule: T) => ({ ...rule, optional: true });

interface SessionFields {
  startsAt?: Date;
  endsAt?: Date;
  prices?: Record<string, number>;
  currency?: string;
  salesOpenAt?: Date | null;
  salesCloseAt?: Date | null;
  maxPerCustomer?: number;
  holdSeconds?: number;
  status?: SessionStatus;
}

/** What `GET /sessions/:id` is made of, whoever asks. */
interface SessionView {
  session: SessionRow;
  event: EventRow;
  venue: VenueSummary | undefined;
}

type This = KnexDbThis & {
  /** `GET /sessions/:id`'s rows by session id: every buyer opening a session's page asks for them. */
  views: ReadCache<SessionView | null>;
  readView(id: string): Promise<SessionView | null>;
  loadEvent(id: string): Promise<EventRow | null>;
  checkPrices(knex: Knex, venueId: string, prices: Record<string, number>): Promise<void>;
};

const invalid = (message: string, fields: FieldProblem[]) => badRequest(message, { fields });

const SessionsService: ServiceSchema = {
  name: "sessions",
  mixins: [KnexDbMixin({ table: "sessions" })],
  settings: { rest: "/" },

  actions: {
    list: {
      rest: "GET /sessions",
      auth: "optional",
      params: {
        eventId: optional(idParam),
        from: optional(rules.date),
        to: optional(rules.date),
        ...pageParams,
      },
      async handler(this: This, ctx: AuthContext<{ eventId?: string; from?: Date; to?: Date; page: number; pageSize: number }>) {
        const { eventId, from, to, page, pageSize } = ctx.params;
        const user = ctx.meta.user;
        if (eventId) {
          const event = await this.loadEvent(eventId);
          if (!event || !canSeeEvent(user, event)) throw notFound("Event");
        }
        const visible = listedEvents(user, "e");
        const where = (qb: Knex.QueryBuilder) => {
          if (eventId) qb.where("sessions.event_id", eventId);
          else if (visible) qb.whereExists((e) => e.select(this.adapter.knex.raw("1")).from("events as e").whereRaw("e.id = sessions.event_id").where(visible));
          if (from) qb.where("sessions.starts_at", ">=", from);
          if (to) qb.where("sessions.starts_at", "<=", to);
        };
        const [rows, total] = await Promise.all([
          this.adapter.find({ query: where, sort: ["startsAt", "id"], limit: pageSize, offset: (page - 1) * pageSize }),
          this.adapter.count({ query: where }),
        ]);
        const sessions = rows as unknown as SessionRow[];
        const statuses = new Map<string, EventRow["status"]>(
          (await this.adapter.knex("events").select("id", "status").whereIn("id", [...new Set(sessions.map((s) => s.eventId))])).map(
            (r: { id: string; status: EventRow["status"] }) => [r.id, r.status],
          ),
        );
        const venues = await venueSummaries(this.adapter.knex, sessions.map((s) => s.venueId));
        const now = new Date();
        const items = sessions.map((s) => sessionJson(s, statuses.get(s.eventId) ?? "draft", venues.get(s.venueId), now));
        return { items, total, page, pageSize };
      },
    },

    get: {
      rest: "GET /sessions/:id",
      auth: "optional",
      params: { id: idParam, lang: langParam },
      async handler(this: This, ctx: AuthContext<{ id: string; lang?: string }>) {
        const view = await this.views.get(ctx.params.id, () => this.readView(ctx.params.id));
        if (!view || !canSeeEvent(ctx.meta.user, view.event)) throw notFound("Session");
        const { session, event, venue } = view;
        const e = eventJson(event, { lang: ctx.params.lang, acceptLanguage: ctx.meta.headers?.["accept-language"] });
        return {
          ...sessionJson(session, event.status, venue),
          event: { id: e.id, title: e.title, lang: e.lang, category: e.category, city: e.city, images: e.images, status: e.status },
        };
      },
    },

    create: {
      rest: "POST /sessions",
      roles: ["organizer", "admin"],
      // Not idempotent: a retried timeout could create it twice.
      retryPolicy: { enabled: false },
      params: {
        eventId: idParam,
        venueId: idParam,
        startsAt: rules.date,
        endsAt: rules.date,
        prices: rules.prices,
        currency: rules.currency,
        salesOpenAt: rules.nullableDate,
        salesCloseAt: rules.nullableDate,
        maxPerCustomer: rules.maxPerCustomer,
        holdSeconds: rules.holdSeconds,
      },
      async handler(this: This, ctx: AuthContext<SessionFields & { eventId: string; venueId: string; startsAt: Date; endsAt: Date }>) {
        const p = ctx.params;
        const event = await this.loadEvent(p.eventId);
        if (!event || !canManageEvent(ctx.meta.user, event)) throw notFound("Event");
        if (event.status === "cancelled") throw conflict("EVENT_CANCELLED", "The event is cancelled; it cannot get new sessions.");
        const problems = scheduleProblems(p);
        if (problems.length) throw invalid("The session's times are inconsistent.", problems);
        await this.checkPrices(this.adapter.knex, p.venueId, p.prices!);
        const saved = (await this.adapter.insert({
          eventId: p.eventId,
          venueId: p.venueId,
          startsAt: p.startsAt,
          endsAt: p.endsAt,
          prices: p.prices,
          currency: p.currency,
          salesOpenAt: p.salesOpenAt ?? null,
          salesCloseAt: p.salesCloseAt ?? null,
          maxPerCustomer: p.maxPerCustomer ?? 10,
          holdSeconds: p.holdSeconds ?? 600,
          status: "scheduled",
        }).catch((err: { code?: string }) => {
          // The event was deleted between the check above and this insert.
          if (err.code === FOREIGN_KEY_VIOLATION) throw notFound("Event");
          throw err;
        })) as unknown as SessionRow;
        ctx.broadcast("sessions.changed", { sessionId: saved.id, eventId: saved.eventId, status: saved.status });
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/sessions/${saved.id}`;
        const venues = await venueSummaries(this.adapter.knex, [saved.venueId]);
        return sessionJson(saved, event.status, venues.get(saved.venueId));
      },
    },

    update: {
      rest: "PUT /sessions/:id",
      roles: ["organizer", "admin"],
      params: {
        id: idParam,
        startsAt: optional(rules.date),
        endsAt: optional(rules.date),
        prices: optional(rules.prices),
        currency: optional(rules.currency),
        salesOpenAt: rules.nullableDate,
        salesCloseAt: rules.nullableDate,
        maxPerCustomer: rules.maxPerCustomer,
        holdSeconds: rules.holdSeconds,
        status: { type: "enum", values: ["scheduled", "cancelled"], optional: true },
      },
      async handler(this: This, ctx: AuthContext<SessionFields & { id: string }>) {
        const { id, ...changes } = ctx.params;
        const session = (await this.adapter.findById(id)) as SessionRow | null;
        const event = session && (await this.loadEvent(session.eventId));
        if (!session || !event || !canManageEvent(ctx.meta.user, event)) throw notFound("Session");
        if (session.status === "cancelled") throw conflict("SESSION_CANCELLED", "This session is cancelled and can no longer be changed.");
        if (event.status === "cancelled") throw conflict("EVENT_CANCELLED", "The event is cancelled; its sessions can no longer be changed.");
        const date = (v: Date | string | null | undefined) => (v == null ? null : new Date(v));
        const merged = {
          startsAt: changes.startsAt ?? new Date(session.startsAt),
          endsAt: changes.endsAt ?? new Date(session.endsAt),
          salesOpenAt: "salesOpenAt" in changes ? changes.salesOpenAt : date(session.salesOpenAt),
          salesCloseAt: "salesCloseAt" in changes ? changes.salesCloseAt : date(session.salesCloseAt),
        };
        const problems = scheduleProblems(merged);
        if (problems.length) throw invalid("The session's times are inconsistent.", problems);
        if (changes.prices) await this.checkPrices(this.adapter.knex, session.venueId, changes.prices);
        const saved = (await this.adapter.updateById(id, { $set: changes })) as unknown as SessionRow;
        if (!saved) throw notFound("Session");
        ctx.broadcast("sessions.changed", { sessionId: saved.id, eventId: saved.eventId, status: saved.status });
        const venues = await venueSummaries(this.adapter.knex, [saved.venueId]);
        return sessionJson(saved, event.status, venues.get(saved.venueId));
      },
    },
  },

  events: {
    "sessions.changed"(this: This, ctx: { params: { sessionId: string } }) {
      this.views.forget(ctx.params.sessionId);
    },
    // An event's status and text are part of each of its sessions' answers.
    "events.changed"(this: This) {
      this.views.clear();
    },
  },

  created(this: Service) {
    (this as unknown as This).views = catalogReadCache<SessionView | null>();
  },

  methods: {
    async readView(this: This, id: string): Promise<SessionView | null> {
      const session = (await this.adapter.findById(id)) as SessionRow | null;
      const event = session && (await this.loadEvent(session.eventId));
      if (!session || !event) return null;
      const venues = await venueSummaries(this.adapter.knex, [session.venueId]);
      return { session, event, venue: venues.get(session.venueId) };
    },

    async loadEvent(this: This, id: string): Promise<EventRow | null> {
      const row = await this.adapter.knex("events").where({ id }).first();
      return this.adapter.fromRow(row) as unknown as EventRow | null;
    },

    /** A session prices every category of its venue, and nothing else: buyers never meet a seat without a price. */
    async checkPrices(this: This, knex: Knex, venueId: string, prices: Record<string, number>) {
      const venue = await knex("venues").select("layout").where({ id: venueId }).first();
      if (!venue) throw notFound("Venue");
      const { missing, unknown } = priceProblems(prices, layoutCategories(venue.layout as VenueLayout));
      if (missing.length || unknown.length) {
        const fields: FieldProblem[] = [];
        if (missing.length) fields.push({ field: "prices", message: `missing a price for: ${missing.join(", ")}` });
        if (unknown.length) fields.push({ field: "prices", message: `the venue has no category: ${unknown.join(", ")}` });
        throw badRequest("The prices must cover exactly the venue's categories.", { fields, missing, unknown });
      }
    },
  },
};

export default SessionsService;
