/**
 * Webhooks for integrators. Organizers register a URL for some of the saga's events and receive
 * them for their own events' orders (an admin's hooks receive every order), signed with
 * `X-TicketFlash-Signature: sha256=<hex HMAC-SHA256 of the body>` (src/domain/webhooks.ts).
 *
 * Delivery is durable: consuming a channel message only queues a row in `webhook_deliveries`
 * (UNIQUE(webhook_id, event_key), so a redelivered message queues nothing new); a worker loop on
 * every node running this service claims due rows (FOR UPDATE SKIP LOCKED, with a lease) and
 * POSTs them, retrying failures with exponential backoff until `maxAttempts`, then FAILED.
 */
import { randomUUID } from "crypto";
import dns from "dns";
import type { Knex } from "knex";
import type { ServiceSchema } from "moleculer";
import { DbMixin } from "../mixins/db.mixin";
import { durable, NOTHING_TO_DO, OutboxMixin } from "../mixins/outbox.mixin";
import type { ChannelPayloads } from "../channels";
import {
  DEFAULT_RETRY_POLICY,
  isPrivateAddress,
  newWebhookSecret,
  nextRetryDelayMs,
  parseWebhookUrl,
  SIGNATURE_HEADER,
  signWebhookBody,
  WEBHOOK_EVENTS,
  WebhookEvent,
} from "../src/domain/webhooks";
import { pageParams } from "../src/platform/pagination";
import { AuthContext, currentUser, hasRole } from "../src/platform/auth";
import { badRequest, conflict, notFound } from "../src/platform/errors";

interface WebhookRow {
  id: string;
  owner_id: string;
  all_events: boolean;
  url: string;
  events: WebhookEvent[];
  secret: string;
  created_at: Date;
}

interface DeliveryRow {
  id: string;
  webhook_id: string;
  event: WebhookEvent;
  body: string;
  attempts: number;
}

function webhookView(w: WebhookRow) {
  return { id: w.id, url: w.url, events: w.events, allEvents: w.all_events, createdAt: new Date(w.created_at).toISOString() };
}

const MAX_HOOKS_PER_OWNER = 20;

// One consumer per webhook event, all doing the same thing: queue deliveries. The matching hooks
// are found before the transaction; with none (the common case) the message needs no transaction
// at all: deliveries are idempotent by UNIQUE(webhook_id, event_key), not by the inbox.
const channels = Object.fromEntries(
  WEBHOOK_EVENTS.map((event) => [
    event,
    durable<ChannelPayloads[WebhookEvent]>(async function (this: any, payload, trx, _message, hooks: WebhookRow[]) {
      await this.enqueue(trx, event, payload, hooks);
    }, {
      group: "webhooks",
      async prepare(this: any, payload: { orderId: string; eventId?: string }) {
        const hooks: WebhookRow[] = await this.matchingHooks(event, payload);
        return hooks.length ? hooks : NOTHING_TO_DO;
      },
    }),
  ]),
);

/** How long the in-memory list of hooks may be used before it is read again. */
const HOOKS_TTL_MS = 2000;

/** Entries kept by the order -> event and event -> organizer caches (both never change). */
const CACHE_ENTRIES = 10_000;

function remember<K, V>(cache: Map<K, V>, key: K, value: V): V {
  cache.set(key, value);
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as K);
  return value;
}

const WebhooksService: ServiceSchema = {
  name: "webhooks",
  mixins: [DbMixin, OutboxMixin],
  settings: {
    rest: "/",
    /** How often each node looks for due deliveries. */
    pollMs: 1000,
    /** A claimed delivery not finished within this time (node died) becomes due again. */
    leaseMs: 60_000,
    requestTimeoutMs: 10_000,
    retry: { ...DEFAULT_RETRY_POLICY },
    batchSize: 20,
  },

  channels,

  actions: {
    create: {
      rest: "POST /webhooks",
      roles: ["organizer"],
      params: {
        url: { type: "string", min: 8, max: 2048 },
        events: { type: "array", min: 1, max: WEBHOOK_EVENTS.length, unique: true, items: { type: "enum", values: [...WEBHOOK_EVENTS] } },
      },
      async handler(this: any, ctx: AuthContext<{ url: string; events: WebhookEvent[] }>) {
        const user = currentUser(ctx);
        const url = parseWebhookUrl(ctx.params.url);
        const refuse = (message: string) => badRequest(message, { fields: [{ field: "url", message, type: "url" }] });
        if (!url) throw refuse("The webhook URL must be an absolute http(s) URL without credentials.");
        if (await this.reachesPrivateNetwork(url)) throw refuse("The webhook URL must resolve to a public address.");
        const db: Knex = this.db;
        const [{ count }] = await db("webhooks").where({ owner_id: user.id }).count<{ count: number }[]>({ count: "*" });
        if (Number(count) >= MAX_HOOKS_PER_OWNER) throw conflict("TOO_MANY_WEBHOOKS", `At most ${MAX_HOOKS_PER_OWNER} webhooks per account: delete one first.`);
        const row = {
          id: randomUUID(),
          owner_id: user.id,
          all_events: hasRole(user, ["admin"]),
          url,
          events: JSON.stringify(ctx.params.events),
          secret: newWebhookSecret(),
        };
        const [saved]: WebhookRow[] = await db("webhooks").insert(row).returning("*");
        this.hooksChanged(ctx);
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/webhooks/${saved.id}`;
        // The secret is shown once, here; lists never include it.
        return { ...webhookView(saved), secret: saved.secret };
      },
    },

    list: {
      rest: "GET /webhooks",
      roles: ["organizer"],
      params: {
        ...pageParams,
      },
      async handler(this: any, ctx: AuthContext<{ page: number; pageSize: number }>) {
        const user = currentUser(ctx);
        const { page, pageSize } = ctx.params;
        const db: Knex = this.db;
        const [{ count }] = await db("webhooks").where({ owner_id: user.id }).count<{ count: number }[]>({ count: "*" });
        const rows: WebhookRow[] = await db("webhooks").where({ owner_id: user.id }).orderBy("created_at", "desc")
          .limit(pageSize).offset((page - 1) * pageSize);
        return { items: rows.map(webhookView), total: Number(count), page, pageSize };
      },
    },

    get: {
      rest: "GET /webhooks/:id",
      roles: ["organizer"],
      params: { id: { type: "string", max: 64 } },
      async handler(this: any, ctx: AuthContext<{ id: string }>) {
        return webhookView(await this.ownHook(ctx));
      },
    },

    deliveries: {
      rest: "GET /webhooks/:id/deliveries",
      roles: ["organizer"],
      params: {
        id: { type: "string", max: 64 },
        ...pageParams,
      },
      async handler(this: any, ctx: AuthContext<{ id: string; page: number; pageSize: number }>) {
        const hook: WebhookRow = await this.ownHook(ctx);
        const { page, pageSize } = ctx.params;
        const db: Knex = this.db;
        const [{ count }] = await db("webhook_deliveries").where({ webhook_id: hook.id }).count<{ count: number }[]>({ count: "*" });
        const rows = await db("webhook_deliveries").where({ webhook_id: hook.id }).orderBy("created_at", "desc")
          .limit(pageSize).offset((page - 1) * pageSize);
        const items = rows.map((d: any) => ({
          id: d.id,
          event: d.event,
          status: d.status,
          attempts: d.attempts,
          lastStatus: d.last_status,
          lastError: d.last_error,
          nextAttemptAt: d.status === "PENDING" ? new Date(d.next_attempt_at).toISOString() : null,
          deliveredAt: d.delivered_at ? new Date(d.delivered_at).toISOString() : null,
          createdAt: new Date(d.created_at).toISOString(),
        }));
        return { items, total: Number(count), page, pageSize };
      },
    },

    remove: {
      rest: "DELETE /webhooks/:id",
      roles: ["organizer"],
      params: { id: { type: "string", max: 64 } },
      async handler(this: any, ctx: AuthContext<{ id: string }>) {
        const hook: WebhookRow = await this.ownHook(ctx);
        await (this.db as Knex).transaction(async (trx) => {
          await trx("webhook_deliveries").where({ webhook_id: hook.id, status: "PENDING" })
            .update({ status: "FAILED", last_error: "webhook deleted" });
          await trx("webhooks").where({ id: hook.id }).delete();
        });
        this.hooksChanged(ctx);
        ctx.meta.$statusCode = 204;
        return null;
      },
    },

    /** Internal: run one delivery pass now (operators, tests); the loop does it every pollMs. */
    deliverDue: {
      async handler(this: any) {
        return this.deliverDue();
      },
    },
  },

  methods: {
    async ownHook(this: any, ctx: AuthContext<{ id: string }>): Promise<WebhookRow> {
      const user = currentUser(ctx);
      const hook: WebhookRow | undefined = await this.db("webhooks").where({ id: ctx.params.id }).first();
      if (!hook || (hook.owner_id !== user.id && !hasRole(user, ["admin"]))) throw notFound("Webhook");
      return hook;
    },

    /**
     * The SSRF guard: unless WEBHOOK_ALLOW_PRIVATE_NETWORKS, a hook may not reach loopback,
     * private or link-local addresses. Checked at registration and again before every attempt
     * (DNS can change); an unresolvable name counts as private.
     */
    async reachesPrivateNetwork(this: any, url: string): Promise<boolean> {
      if (this.platform.config.webhookAllowPrivateNetworks) return false;
      const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
      try {
        const addresses = await dns.promises.lookup(host, { all: true, verbatim: true });
        return !addresses.length || addresses.some((a) => isPrivateAddress(a.address));
      } catch {
        return true;
      }
    },

    /** The organizer whose event the order belongs to, for scoping hooks. */
    /** The organizer of the order's event: an order's event and an event's organizer never change, so both are cached. */
    async organizerOf(this: any, payload: { orderId: string; eventId?: string }): Promise<string | undefined> {
      const db: Knex = this.db;
      let eventId = payload.eventId ?? this.orderEvents.get(payload.orderId);
      if (!eventId) {
        eventId = (await db("orders").where({ id: payload.orderId }).first("event_id"))?.event_id
          ?? (await db("tickets").where({ order_id: payload.orderId }).first("event_id"))?.event_id;
        if (!eventId) return undefined;
        remember(this.orderEvents, payload.orderId, eventId);
      }
      if (this.eventOrganizers.has(eventId)) return this.eventOrganizers.get(eventId) ?? undefined;
      const organizerId: string | null = (await db("events").where({ id: eventId }).first("organizer_id"))?.organizer_id ?? null;
      return remember(this.eventOrganizers, eventId, organizerId) ?? undefined;
    },

    /** Hooks that want this event of this order: the admins' (every order) and its organizer's. */
    async matchingHooks(this: any, event: WebhookEvent, payload: { orderId: string; eventId?: string }): Promise<WebhookRow[]> {
      const hooks: WebhookRow[] = (await this.subscribers()).filter((h: WebhookRow) => h.events.includes(event));
      if (!hooks.length) return hooks;
      const organizerId: string | undefined = await this.organizerOf(payload);
      return hooks.filter((h) => h.all_events || h.owner_id === organizerId);
    },

    /**
     * Every registered hook, read at most every HOOKS_TTL_MS (and at once after a change on any
     * node, see hooksChanged): each order's events asked the table three times, at ~5 ms a query
     * on the embedded database, almost always to learn that nobody listens.
     */
    async subscribers(this: any): Promise<WebhookRow[]> {
      const now = Date.now();
      if (!this.hooks || now - this.hooks.loadedAt > HOOKS_TTL_MS) {
        // A read that began before a change must not be kept as the fresh list.
        const generation = this.hooksGeneration;
        this.hooksLoad ??= (this.db as Knex)("webhooks").select("*").then((rows: WebhookRow[]) => {
          if (generation === this.hooksGeneration) this.hooks = { rows, loadedAt: now };
          return rows;
        }).finally(() => (this.hooksLoad = undefined));
        return this.hooksLoad;
      }
      return this.hooks.rows;
    },

    forgetHooks(this: any) {
      this.hooks = undefined;
      this.hooksLoad = undefined;
      this.hooksGeneration++;
    },

    /** A hook was added or removed: every webhooks node reloads before matching the next event. */
    hooksChanged(this: any, ctx: AuthContext) {
      this.forgetHooks();
      void ctx.broadcast("webhooks.changed", {});
    },

    /** Queues one delivery per matching hook, in the consumer's transaction. */
    async enqueue(this: any, trx: Knex.Transaction, event: WebhookEvent, payload: { orderId: string; eventId?: string }, hooks: WebhookRow[]) {
      if (!hooks.length) return 0;
      const rows = hooks.map((hook) => {
        const id = randomUUID();
        return {
          id,
          webhook_id: hook.id,
          event,
          event_key: `${event}:${payload.orderId}`,
          body: JSON.stringify({ id, event, createdAt: new Date().toISOString(), data: payload }),
        };
      });
      const inserted = await trx("webhook_deliveries").insert(rows).onConflict(["webhook_id", "event_key"]).ignore().returning("id");
      if (inserted.length) trx.executionPromise.then(() => this.kick(), () => undefined);
      return inserted.length;
    },

    /** Runs a delivery pass soon, without waiting for the next poll. */
    kick(this: any) {
      if (this.stopping) return;
      setImmediate(() => this.deliverDue().catch((err: Error) => this.logger.warn("Webhook delivery pass failed", err.message)));
    },

    async claimDue(this: any): Promise<Array<DeliveryRow & { url: string; secret: string }>> {
      const db: Knex = this.db;
      const { leaseMs, batchSize } = this.settings;
      // The lease: a claimed row is not due again until leaseMs passed (or we record the outcome).
      const claimed: DeliveryRow[] = (await db.raw(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = now() + (? * interval '1 millisecond')
         WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'PENDING' AND next_attempt_at <= now()
                      ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED)
         RETURNING id, webhook_id, event, body, attempts`,
        [leaseMs, batchSize],
      )).rows;
      if (!claimed.length) return [];
      const hooks: WebhookRow[] = await db("webhooks").whereIn("id", [...new Set(claimed.map((d) => d.webhook_id))]);
      const byId = new Map(hooks.map((h) => [h.id, h]));
      const out: Array<DeliveryRow & { url: string; secret: string }> = [];
      for (const d of claimed) {
        const hook = byId.get(d.webhook_id);
        if (hook) out.push({ ...d, url: hook.url, secret: hook.secret });
        else await db("webhook_deliveries").where({ id: d.id }).update({ status: "FAILED", last_error: "webhook deleted" });
      }
      return out;
    },

    deliverDue(this: any): Promise<number> {
      // One pass at a time per node; the next poll or kick picks up what arrives meanwhile.
      if (this.pass) return Promise.resolve(0);
      this.pass = this.deliveryPass().finally(() => (this.pass = undefined));
      return this.pass;
    },

    async deliveryPass(this: any): Promise<number> {
      let done = 0;
      while (!this.stopping) {
        const batch = await this.claimDue();
        if (!batch.length) break;
        await Promise.all(batch.map((d: DeliveryRow & { url: string; secret: string }) => this.attempt(d)));
        done += batch.length;
      }
      return done;
    },

    async attempt(this: any, d: DeliveryRow & { url: string; secret: string }) {
      const db: Knex = this.db;
      let status: number | null = null;
      let error: string | null = null;
      try {
        if (await this.reachesPrivateNetwork(d.url)) throw new Error("the URL resolves to a private address");
        const res = await fetch(d.url, {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            "User-Agent": "TicketFlash-Webhooks/1",
            [SIGNATURE_HEADER]: signWebhookBody(d.secret, d.body),
            "X-TicketFlash-Event": d.event,
            "X-TicketFlash-Delivery": d.id,
          },
          body: d.body,
          // A redirect could point anywhere; integrators register the final URL.
          redirect: "manual",
          signal: AbortSignal.timeout(this.settings.requestTimeoutMs),
        });
        status = res.status;
        await res.body?.cancel().catch(() => undefined);
        if (res.status >= 200 && res.status < 300) {
          await db("webhook_deliveries").where({ id: d.id }).update({ status: "DELIVERED", delivered_at: db.fn.now(), last_status: status, last_error: null });
          return;
        }
        error = `HTTP ${res.status}`;
      } catch (err) {
        error = String((err as Error).message ?? err).slice(0, 500);
      }
      const delay = nextRetryDelayMs(d.attempts, this.settings.retry);
      await db("webhook_deliveries").where({ id: d.id }).update(
        delay === undefined
          ? { status: "FAILED", last_status: status, last_error: error }
          : { next_attempt_at: db.raw("now() + (? * interval '1 millisecond')", [delay]), last_status: status, last_error: error },
      );
    },
  },

  events: {
    "webhooks.changed"(this: any) {
      this.forgetHooks();
    },
  },

  created(this: any) {
    this.hooksGeneration = 0;
    this.orderEvents = new Map<string, string>();
    this.eventOrganizers = new Map<string, string | null>();
  },

  started(this: any) {
    this.stopping = false;
    this.timer = setInterval(() => this.kick(), this.settings.pollMs);
    this.timer.unref?.();
  },

  async stopped(this: any) {
    this.stopping = true;
    clearInterval(this.timer);
    // Let an attempt in flight record its outcome before the database closes.
    await this.pass?.catch(() => undefined);
  },
};

export default WebhooksService;
