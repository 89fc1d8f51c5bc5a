/**
 * Events: what a buyer browses. Everyone sees events on sale; organizers also their own drafts;
 * admins everything. Text is English with per-language translations (`lang=de` or
 * Accept-Language picks one, English fills the gaps). Organizers change only their own events
 * (someone else's answers 404, like anything that is not yours).
 */
import type { Knex } from "knex";
import type { Service, ServiceSchema } from "moleculer";
import { escapeLike, FOREIGN_KEY_VIOLATION, KnexDbMixin, KnexDbThis } from "../mixins/knex-db.mixin";
import { AuthContext, AuthUser, currentUser } from "../src/platform/auth";
import { badRequest, conflict, notFound } from "../src/platform/errors";
import { CATALOG_READ_TTL_MS, EventStatus, Translation } from "../src/domain/catalog";
import {
  canManageEvent,
  canSeeEvent,
  catalogReadCache,
  eventJson,
  EventRow,
  idParam,
  isAdmin,
  langParam,
  listedEvents,
  pageParams,
  SessionRow,
  sessionJson,
  venueSummaries,
  VenueSummary,
} from "../src/catalog/shared";
import { ReadCache } from "../src/platform/read-cache";

const MAX_TRANSLATIONS = 20;

const text = {
  title: { type: "string", trim: true, min: 1, max: 200 },
  description: { type: "string", trim: true, max: 5000 },
  category: { type: "string", trim: true, lowercase: true, min: 1, max: 40, pattern: /^[a-z0-9][a-z0-9-]*$/ },
  city: { type: "string", trim: true, min: 1, max: 100 },
  images: { type: "array", max: 10, items: { type: "url", max: 500 } },
  translations: {
    type: "record",
    key: { type: "string", pattern: /^[a-z]{2}$/ },
    value: {
      type: "object",
      strict: true,
      props: {
        title: { type: "string", trim: true, min: 1, max: 200 },
        description: { type: "string", trim: true, max: 5000, optional: true },
      },
    },
  },
} as const;

const optional = <T extends object>(rule: T) => ({ ...rule, optional: true });

interface EventFields {
  title?: string;
  description?: string;
  category?: string;
  city?: string;
  images?: string[];
  translations?: Record<string, Translation>;
  status?: EventStatus;
}

interface ListParams {
  q?: string;
  category?: string;
  city?: string;
  from?: Date;
  to?: Date;
  lang?: string;
  status?: EventStatus;
  page: number;
  pageSize: number;
}

/** An event as listings show it: with its next session's start. */
type ListedEvent = EventRow & { nextSessionAt: Date | string | null };

/** A page of a listing, and how many events match in all. */
interface Listing {
  rows: ListedEvent[];
  total: number;
}

/** Listing pages kept per node are at most this long (the web UI's front page asks for 24). */
const LISTING_PAGE_SIZE_KEPT = 24;

/** What `GET /events/:id` is made of, whoever asks. */
interface EventView {
  event: EventRow;
  sessions: SessionRow[];
  venues: Map<string, VenueSummary>;
}

type This = KnexDbThis & {
  /** `GET /events/:id`'s rows by event id: every buyer opening a session's page asks for them. */
  views: ReadCache<EventView | null>;
  readView(id: string): Promise<EventView | null>;
  /** Pages of what everyone is shown (`GET /events` without a search or dates), by their filters. */
  listings: ReadCache<Listing>;
  /** Who organizes an event (they are shown their own drafts too), under the key "all". */
  organizers: ReadCache<Set<string>>;
  findListed(p: ListParams, user: AuthUser | null | undefined): Promise<Listing>;
  seesPublicListing(user: AuthUser | null | undefined): Promise<boolean>;
  language(ctx: AuthContext<{ lang?: string }>): { lang?: string; acceptLanguage?: string };
  manageable(ctx: AuthContext<{ id: string }>): Promise<EventRow>;
  checkTranslations(translations: Record<string, Translation> | undefined): void;
  cancel(ctx: AuthContext<any>, event: EventRow): Promise<ReturnType<typeof eventJson>>;
};

const EventsService: ServiceSchema = {
  name: "events",
  mixins: [KnexDbMixin({ table: "events" })],
  settings: { rest: "/" },

  actions: {
    list: {
      rest: "GET /events",
      auth: "optional",
      params: {
        q: { type: "string", trim: true, max: 200, optional: true },
        category: optional(text.category),
        city: { type: "string", trim: true, max: 100, optional: true },
        from: { type: "date", convert: true, optional: true },
        to: { type: "date", convert: true, optional: true },
        lang: langParam,
        status: { type: "enum", values: ["draft", "on_sale", "cancelled"], optional: true },
        ...pageParams,
      },
      async handler(this: This, ctx: AuthContext<ListParams>) {
        const p = ctx.params;
        if (p.from && p.to && p.from > p.to) throw badRequest("'from' must not be after 'to'.", { fields: [{ field: "to", message: "is before from" }] });
        // What everyone is shown alike (no search, no dates: the front page and its filters) is
        // read once per node for all who ask meanwhile; an organizer's or admin's own is not.
        const shared = !p.q && !p.from && !p.to && p.pageSize <= LISTING_PAGE_SIZE_KEPT && (await this.seesPublicListing(ctx.meta.user));
        const { rows, total } = shared
          ? await this.listings.get(JSON.stringify([p.status, p.category, p.city?.toLowerCase(), p.page, p.pageSize]), () => this.findListed(p, undefined))
          : await this.findListed(p, ctx.meta.user);
        const language = this.language(ctx);
        const items = rows.map((e) => ({ ...eventJson(e, language), nextSessionAt: e.nextSessionAt ? new Date(e.nextSessionAt).toISOString() : null }));
        return { items, total, page: p.page, pageSize: p.pageSize };
      },
    },

    get: {
      rest: "GET /events/:id",
      auth: "optional",
      params: { id: idParam, lang: langParam },
      async handler(this: This, ctx: AuthContext<{ id: string; lang?: string }>) {
        const view = await this.views.get(ctx.params.id, () => this.readView(ctx.params.id));
        if (!view || !canSeeEvent(ctx.meta.user, view.event)) throw notFound("Event");
        const { event, sessions, venues } = view;
        const now = new Date();
        return {
          ...eventJson(event, this.language(ctx)),
          sessions: sessions.map((s) => sessionJson(s, event.status, venues.get(s.venueId), now)),
        };
      },
    },

    create: {
      rest: "POST /events",
      roles: ["organizer", "admin"],
      // Not idempotent: a retried timeout could create it twice.
      retryPolicy: { enabled: false },
      params: {
        title: text.title,
        description: optional(text.description),
        category: text.category,
        city: text.city,
        images: optional(text.images),
        translations: optional(text.translations),
        status: { type: "enum", values: ["draft", "on_sale"], optional: true },
      },
      async handler(this: This, ctx: AuthContext<EventFields>) {
        const user = currentUser(ctx);
        this.checkTranslations(ctx.params.translations);
        const saved = (await this.adapter.insert({
          title: ctx.params.title,
          description: ctx.params.description ?? "",
          category: ctx.params.category,
          city: ctx.params.city,
          images: ctx.params.images ?? [],
          translations: ctx.params.translations ?? {},
          status: ctx.params.status ?? "draft",
          organizerId: user.id,
        })) as unknown as EventRow;
        ctx.broadcast("events.changed", { eventId: saved.id, status: saved.status });
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/events/${saved.id}`;
        return eventJson(saved, {});
      },
    },

    update: {
      rest: "PUT /events/:id",
      roles: ["organizer", "admin"],
      params: {
        id: idParam,
        title: optional(text.title),
        description: optional(text.description),
        category: optional(text.category),
        city: optional(text.city),
        images: optional(text.images),
        translations: optional(text.translations),
        status: { type: "enum", values: ["draft", "on_sale", "cancelled"], optional: true },
      },
      async handler(this: This, ctx: AuthContext<EventFields & { id: string }>) {
        const event = await this.manageable(ctx);
        if (event.status === "cancelled") throw conflict("EVENT_CANCELLED", "This event is cancelled and can no longer be changed.");
        const { id, ...changes } = ctx.params;
        this.checkTranslations(changes.translations);
        if (changes.status === "cancelled") return this.cancel(ctx, event);
        const saved = (await this.adapter.updateById(id, { $set: changes })) as unknown as EventRow;
        if (!saved) throw notFound("Event");
        ctx.broadcast("events.changed", { eventId: saved.id, status: saved.status });
        return eventJson(saved, {});
      },
    },

    remove: {
      rest: "DELETE /events/:id",
      roles: ["organizer", "admin"],
      params: { id: idParam },
      async handler(this: This, ctx: AuthContext<{ id: string }>) {
        const event = await this.manageable(ctx);
        // An event with sessions may have buyers: keep it, cancelled, so tickets and orders still resolve.
        const deleted = await this.adapter.knex
          .transaction(async (trx) => {
            const hasSessions = await trx("sessions").where({ event_id: event.id }).first("id");
            if (hasSessions) return false;
            await this.adapter.removeById(event.id, trx);
            return true;
          })
          // A session created meanwhile makes the delete violate sessions' foreign key: cancel instead.
          .catch((err: { code?: string }) => {
            if (err.code === FOREIGN_KEY_VIOLATION) return false;
            throw err;
          });
        if (!deleted) return this.cancel(ctx, event);
        ctx.broadcast("events.changed", { eventId: event.id, status: "deleted" });
        ctx.meta.$statusCode = 204;
        return null;
      },
    },
  },

  events: {
    "events.changed"(this: This, ctx: { params: { eventId: string } }) {
      this.views.forget(ctx.params.eventId);
      this.listings.clear();
      this.organizers.clear();
    },
    // A session is part of its event's answer, and its start orders the listings.
    "sessions.changed"(this: This, ctx: { params: { eventId: string } }) {
      this.views.forget(ctx.params.eventId);
      this.listings.clear();
    },
  },

  created(this: Service) {
    const self = this as unknown as This;
    self.views = catalogReadCache<EventView | null>();
    self.listings = new ReadCache<Listing>({ ttlMs: CATALOG_READ_TTL_MS, kept: 32 });
    self.organizers = catalogReadCache<Set<string>>();
  },

  methods: {
    /** A page of the events `user` may see that match `p` (anonymous: what everyone sees). */
    async findListed(this: This, p: ListParams, user: AuthUser | null | undefined): Promise<Listing> {
      const visible = listedEvents(user);
      const where = (qb: Knex.QueryBuilder) => {
        if (visible) qb.where(visible);
        if (p.status) qb.where("events.status", p.status);
        if (p.category) qb.where("events.category", p.category);
        if (p.city) qb.whereRaw("lower(events.city) = lower(?)", [p.city]);
        if (p.q) {
          // Any language: the English fields or any translation's title/description.
          const like = `%${escapeLike(p.q)}%`;
          qb.where((b) =>
            b
              .whereRaw("events.title ILIKE ? ESCAPE '\\'", [like])
              .orWhereRaw("events.description ILIKE ? ESCAPE '\\'", [like])
              .orWhereRaw(
                "EXISTS (SELECT 1 FROM jsonb_each(events.translations) AS t(lang, tr) WHERE tr->>'title' ILIKE ? ESCAPE '\\' OR tr->>'description' ILIKE ? ESCAPE '\\')",
                [like, like],
              ),
          );
        }
        if (p.from || p.to) {
          qb.whereExists((s) => {
            s.select(this.adapter.knex.raw("1")).from("sessions").whereRaw("sessions.event_id = events.id").where("sessions.status", "scheduled");
            if (p.from) s.where("sessions.starts_at", ">=", p.from);
            if (p.to) s.where("sessions.starts_at", "<=", p.to);
          });
        }
      };
      const knex = this.adapter.knex;
      const rowsQuery = this.adapter
        .applyQuery(this.adapter.qb(), where)
        .select(
          "events.*",
          knex.raw(
            "(SELECT min(s.starts_at) FROM sessions s WHERE s.event_id = events.id AND s.status = 'scheduled' AND s.starts_at >= now()) AS next_session_at",
          ),
        )
        // Soonest first; events with nothing coming up last, newest of those first.
        .orderByRaw("next_session_at ASC NULLS LAST, events.created_at DESC, events.id")
        .limit(p.pageSize)
        .offset((p.page - 1) * p.pageSize);
      const [rows, total] = await Promise.all([rowsQuery, this.adapter.count({ query: where })]);
      return { rows: (rows as Record<string, unknown>[]).map((r) => this.adapter.fromRow(r) as unknown as ListedEvent), total: Number(total) };
    },

    /** Whether `user` is shown what everyone is: not an admin, and the organizer of no event. */
    async seesPublicListing(this: This, user: AuthUser | null | undefined): Promise<boolean> {
      if (!user) return true;
      if (isAdmin(user)) return false;
      const organizers = await this.organizers.get("all", async () => {
        const rows = await this.adapter.knex("events").distinct("organizer_id").whereNotNull("organizer_id");
        return new Set(rows.map((r: { organizer_id: string }) => r.organizer_id));
      });
      return !organizers.has(user.id);
    },

    async readView(this: This, id: string): Promise<EventView | null> {
      const event = (await this.adapter.findById(id)) as EventRow | null;
      if (!event) return null;
      const sessions = (await this.adapter.knex("sessions").where({ event_id: event.id }).orderBy([{ column: "starts_at" }, { column: "id" }])).map(
        (r: Record<string, unknown>) => this.adapter.fromRow(r) as unknown as SessionRow,
      );
      return { event, sessions, venues: await venueSummaries(this.adapter.knex, sessions.map((s) => s.venueId)) };
    },

    language(ctx: AuthContext<{ lang?: string }>) {
      return { lang: ctx.params.lang, acceptLanguage: ctx.meta.headers?.["accept-language"] };
    },

    /** The event if the caller may change it; 404 otherwise (someone else's event is "not found"). */
    async manageable(this: This, ctx: AuthContext<{ id: string }>): Promise<EventRow> {
      const event = (await this.adapter.findById(ctx.params.id)) as EventRow | null;
      if (!event || !canManageEvent(ctx.meta.user, event)) throw notFound("Event");
      return event;
    },

    checkTranslations(translations: Record<string, Translation> | undefined) {
      if (!translations) return;
      const langs = Object.keys(translations);
      if (langs.length > MAX_TRANSLATIONS) {
        throw badRequest(`At most ${MAX_TRANSLATIONS} translations.`, { fields: [{ field: "translations", message: "too many languages" }] });
      }
      if (langs.includes("en")) {
        throw badRequest("English is the event's own title and description, not a translation.", {
          fields: [{ field: "translations.en", message: "not allowed" }],
        });
      }
    },

    /** Cancels the event and its sessions together; sales stop because the event is no longer on sale. */
    async cancel(this: This, ctx: AuthContext<any>, event: EventRow) {
      const { saved, sessionIds } = await this.adapter.knex.transaction(async (trx) => {
        const saved = (await this.adapter.updateById(event.id, { $set: { status: "cancelled" } }, trx)) as unknown as EventRow;
        const cancelled = await trx("sessions")
          .where({ event_id: event.id, status: "scheduled" })
          .update({ status: "cancelled", updated_at: new Date() })
          .returning("id");
        return { saved, sessionIds: cancelled.map((r: { id: string }) => r.id) };
      });
      ctx.broadcast("events.changed", { eventId: event.id, status: "cancelled" });
      for (const sessionId of sessionIds) ctx.broadcast("sessions.changed", { sessionId, eventId: event.id, status: "cancelled" });
      return eventJson(saved, {});
    },
  },
};

export default EventsService;
