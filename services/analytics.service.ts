/**
 * Analytics: the buyers' activity stream in, sales figures out.
 * - POST /api/analytics/events: page views, seat selections, checkout starts (anyone; rate-limited).
 * - GET /api/analytics/sales: tickets sold, revenue, orders by status and sales over time for a
 *   session or a whole event, from the database; live available/held counts from the seat actor.
 *   Organizers see their own events only (404 for others'), admins all.
 */
import { randomUUID } from "crypto";
import type { ServiceSchema } from "moleculer";
import type { Knex } from "knex";
import { DbMixin, DbThis } from "../mixins/db.mixin";
import { AuthContext, hasRole } from "../src/platform/auth";
import { badRequest, notFound } from "../src/platform/errors";
import { bucketFor, fillSeries } from "../src/domain/sales-series";

const id = { type: "string", min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/ };
const optionalId = { ...id, optional: true };

interface SalesParams {
  eventId?: string;
  sessionId?: string;
  from?: Date;
  to?: Date;
}

type Live = { available: number; held: number; sold: number; blocked: number };

const AnalyticsService: ServiceSchema = {
  name: "analytics",
  mixins: [DbMixin],
  settings: { rest: "/" },

  actions: {
    track: {
      rest: "POST /analytics/events",
      auth: "optional",
      rateLimit: { limit: 120, windowMs: 60_000 },
      params: {
        type: { type: "string", min: 1, max: 40, pattern: /^[a-z][a-z0-9_.]*$/ },
        eventId: optionalId,
        sessionId: optionalId,
        props: { type: "record", optional: true, key: { type: "string", max: 40 }, value: { type: "multi", rules: [{ type: "string", max: 200 }, { type: "number" }, { type: "boolean" }] } },
      },
      async handler(this: DbThis, ctx: AuthContext<{ type: string; eventId?: string; sessionId?: string; props?: Record<string, unknown> }>) {
        const p = ctx.params;
        if (p.props && Object.keys(p.props).length > 20) throw badRequest("At most 20 props.", { fields: [{ field: "props", message: "too many props" }] });
        const row = { id: randomUUID(), type: p.type, event_id: p.eventId ?? null, session_id: p.sessionId ?? null, user_id: ctx.meta.user?.id ?? null, props: JSON.stringify(p.props ?? {}) };
        await this.db("analytics_events").insert(row);
        ctx.meta.$statusCode = 202;
        return { id: row.id };
      },
    },

    sales: {
      rest: "GET /analytics/sales",
      roles: ["organizer", "admin"],
      params: {
        eventId: optionalId,
        sessionId: optionalId,
        from: { type: "date", convert: true, optional: true },
        to: { type: "date", convert: true, optional: true },
      },
      async handler(this: DbThis & { scope(ctx: AuthContext<SalesParams>, p: SalesParams): Promise<string[]> }, ctx: AuthContext<SalesParams>) {
        const p = ctx.params;
        if (!p.eventId && !p.sessionId) {
          throw badRequest("Give an eventId or a sessionId.", { fields: [{ field: "eventId", message: "eventId or sessionId is required" }] });
        }
        if (p.from && p.to && p.from > p.to) throw badRequest("'from' is after 'to'.", { fields: [{ field: "from", message: "must not be after 'to'" }] });
        const sessionIds = await this.scope(ctx, p);
        const db = this.db;
        const inWindow = (qb: Knex.QueryBuilder, column: string) => {
          if (p.from) qb.where(column, ">=", p.from);
          if (p.to) qb.where(column, "<=", p.to);
          return qb;
        };

        // A ticket's price is its order item's amount (prices are fixed when the order is made).
        const soldRows = inWindow(
          db("tickets as t")
            .join("orders as o", "o.id", "t.order_id")
            .joinRaw("CROSS JOIN LATERAL jsonb_array_elements(o.items) AS item")
            .whereRaw("(item->>'position')::int = t.position")
            .whereIn("t.session_id", sessionIds)
            .whereNot("t.status", "REVOKED"),
          "t.created_at",
        );
        const totals = await soldRows.clone().select(db.raw("count(*)::int AS sold"), db.raw("coalesce(sum((item->>'amountCents')::bigint), 0)::bigint AS revenue"), db.raw("min(t.created_at) AS first"), "o.currency").groupBy("o.currency");
        const orders = await inWindow(db("orders").whereIn("session_id", sessionIds), "created_at").select("status").count({ n: "*" }).groupBy("status");
        const activity = await inWindow(db("analytics_events").whereIn("session_id", sessionIds), "created_at").select("type").count({ n: "*" }).groupBy("type");

        const now = Date.now();
        const firstSale = totals.reduce((m: number, r: { first: Date | null }) => (r.first ? Math.min(m, new Date(r.first).getTime()) : m), now);
        const fromMs = p.from ? p.from.getTime() : Math.min(firstSale, now - 3600_000);
        const toMs = p.to ? Math.min(p.to.getTime(), now) : now;
        const bucket = bucketFor(fromMs, toMs);
        const seriesRows = await soldRows
          .clone()
          .select(db.raw(`date_trunc('${bucket}', t.created_at) AS bucket`), db.raw("count(*)::int AS sold"), db.raw("coalesce(sum((item->>'amountCents')::bigint), 0)::bigint AS revenue"))
          .groupByRaw("1");

        // Live seat counts come from each session's actor (the only place that knows holds).
        const live: Live = { available: 0, held: 0, sold: 0, blocked: 0 };
        let liveComplete = true;
        await Promise.all(
          sessionIds.map(async (sessionId) => {
            try {
              const s = (await ctx.call("seats.summary", { sessionId })) as Live;
              for (const k of Object.keys(live) as Array<keyof Live>) live[k] += Number(s[k] ?? 0);
            } catch {
              liveComplete = false;
            }
          }),
        );

        const currencies = totals.map((r: { currency: string; revenue: number }) => ({ currency: r.currency, amountCents: Number(r.revenue) }));
        return {
          eventId: p.eventId ?? null,
          sessionId: p.sessionId ?? null,
          sessions: sessionIds.length,
          from: new Date(fromMs).toISOString(),
          to: new Date(toMs).toISOString(),
          sold: totals.reduce((n: number, r: { sold: number }) => n + Number(r.sold), 0),
          revenueCents: currencies.reduce((n: number, c: { amountCents: number }) => n + c.amountCents, 0),
          currency: currencies.length === 1 ? currencies[0].currency : null,
          revenue: currencies,
          held: live.held,
          available: live.available,
          blocked: live.blocked,
          live: liveComplete,
          orders: Object.fromEntries(orders.map((r: { status: string; n: number | string }) => [r.status, Number(r.n)])),
          activity: Object.fromEntries(activity.map((r: { type: string; n: number | string }) => [r.type, Number(r.n)])),
          bucket,
          series: fillSeries(
            seriesRows.map((r: { bucket: Date; sold: number; revenue: number }) => ({ bucketMs: new Date(r.bucket).getTime(), sold: Number(r.sold), revenueCents: Number(r.revenue) })),
            fromMs,
            toMs,
            bucket,
          ),
        };
      },
    },
  },

  methods: {
    /** The sessions the caller may see figures for; 404 when the event/session is unknown or not theirs. */
    async scope(this: DbThis, ctx: AuthContext<SalesParams>, p: SalesParams): Promise<string[]> {
      const user = ctx.meta.user;
      const admin = hasRole(user, ["admin"]);
      const q = this.db("sessions as s").join("events as e", "e.id", "s.event_id").select("s.id", "e.organizer_id");
      if (p.sessionId) q.where("s.id", p.sessionId);
      if (p.eventId) q.where("s.event_id", p.eventId);
      const rows: Array<{ id: string; organizer_id: string | null }> = await q;
      if (p.eventId && rows.length === 0) {
        // An event without sessions yet: still the organizer's to look at.
        const event = await this.db("events").where({ id: p.eventId }).first("organizer_id");
        if (event && (admin || event.organizer_id === user?.id)) return [];
        throw notFound("Event");
      }
      if (rows.length === 0 || (!admin && rows.some((r) => r.organizer_id !== user?.id))) throw notFound(p.sessionId ? "Session" : "Event");
      return rows.map((r) => r.id);
    },
  },
};

export default AnalyticsService;
