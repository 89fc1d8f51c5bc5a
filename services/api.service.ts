/**
 * The gateway: REST routes of shared/API.md (generated from each action's `rest`), auth and
 * role checks declared on actions and enforced here, the API error shape for every failure,
 * per-client rate limits, body limits, CORS, health/readiness/metrics, the static UI and
 * socket.io (src/platform/realtime.ts) on the same port.
 */
import path from "path";
import type { IncomingMessage, Server as HttpServer, ServerResponse } from "http";
import ApiGateway from "moleculer-web";
import { MetricReporters, ServiceBroker, ServiceSchema } from "moleculer";
import { platformOf } from "../src/platform/platform";
import { AuthUser, hasRole, Meta, Role } from "../src/platform/auth";
import { verifyBearerToken } from "../src/platform/oidc";
import { ApiError, badRequest, forbidden, toHttpError, unauthorized } from "../src/platform/errors";
import { clientAddress, FallbackRateLimiter, MemoryRateLimiter, parseTrustedProxies, RateLimiter, RedisRateLimiter } from "../src/platform/rate-limit";
import { everySecondAtMost } from "../src/platform/outage";
import { buildOpenApi, openApiPage } from "../src/platform/openapi";
import { Realtime } from "../src/platform/realtime";
import { talliesOf } from "../src/platform/request-metrics";
import { plainQuery } from "../src/platform/query-string";
import { seatMapCopiesOf } from "../src/seats/seat-map-copies";

type Req = IncomingMessage & {
  $params?: Record<string, unknown>;
  $alias?: { method: string; fullPath: string; keys?: Array<{ name: string | number }> };
  $action?: { name: string; params?: unknown; auth?: string; roles?: Role[]; rateLimit?: { limit: number; windowMs: number } };
  $ctx?: { meta: Meta };
  socket: { remoteAddress?: string };
};

/** Request headers copied into `ctx.meta.headers` (lower-case names). */
const FORWARDED_HEADERS = ["if-none-match", "idempotency-key", "accept-encoding", "accept-language"] as const;

function sendError(this: { logger: { error: (...a: unknown[]) => void } }, req: Req, res: ServerResponse, err: unknown) {
  const http = toHttpError(err);
  if (http.status >= 500 && http.status !== 503) this.logger.error("Request failed", req.method, req.url, err);
  if (res.headersSent) return res.end();
  res.statusCode = http.status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  for (const [k, v] of Object.entries(http.headers)) res.setHeader(k, v);
  res.end(JSON.stringify(http.body));
}

function sendJson(res: ServerResponse, status: number, body: unknown, contentType = "application/json; charset=utf-8") {
  res.statusCode = status;
  res.setHeader("Content-Type", contentType);
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

/** Moleculer's Prometheus text format, rendered on our port instead of a second server. */
class InlinePrometheus extends MetricReporters.Prometheus {
  init(registry: unknown) {
    const self = this as unknown as { registry: unknown; broker: unknown; logger: unknown };
    self.registry = registry;
    self.broker = (registry as { broker: unknown }).broker;
    self.logger = (registry as { logger: unknown }).logger;
  }
}

// A probe that hangs is as bad as one that fails: orchestrators time out and restart the pod.
const READY_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Input no action can take, refused for all of them: fields sent to an action that declares no
 * params (the validator only runs when there are params, so they would pass silently), and NUL
 * characters, which PostgreSQL text cannot store (the query would fail with a 500).
 */
function refusedFields(action: { params?: unknown } | undefined, params: Record<string, unknown> | undefined, pathKeys: string[]) {
  const fields: Array<{ field: string; message: string; type: string }> = [];
  if (!params) return fields;
  if (action && !action.params) {
    for (const name of Object.keys(params)) if (!pathKeys.includes(name)) fields.push({ field: name, message: `The field '${name}' is not allowed.`, type: "unknownField" });
    return fields;
  }
  nulFields(params, "", 0, fields);
  return fields;
}

/**
 * Adds the fields of `value` that hold a NUL character to `fields` (20 at most). A function of
 * its own, not a closure: the runner (tsx) names every closure as it is made, and naming this one
 * on every request was 2.7% of a seat-map read.
 */
function nulFields(value: unknown, field: string, depth: number, fields: Array<{ field: string; message: string; type: string }>) {
  if (fields.length >= 20 || depth > 8) return;
  if (typeof value === "string") {
    if (value.includes("\u0000")) fields.push({ field, message: `The field '${field}' contains a NUL character.`, type: "stringNul" });
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) nulFields(value[i], `${field}[${i}]`, depth + 1, fields);
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) nulFields(v, field ? `${field}.${k}` : k, depth + 1, fields);
  }
}

function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
}

interface HttpMetrics {
  observe(req: Req, res: ServerResponse, startedNs: bigint): void;
}

/**
 * Per-route HTTP metrics, also for answers no action produced (404, 401, 413, 429, assets).
 * The route label is the alias pattern (`GET /api/events/:id`), so cardinality stays bounded.
 * Each answer adds to tallies that reach the registry once a second and before /metrics renders
 * (src/platform/request-metrics.ts), not to the registry itself.
 */
function registerHttpMetrics(broker: ServiceBroker): HttpMetrics {
  const metrics = broker.metrics;
  const tallies = talliesOf(broker);
  const labelNames = ["method", "route", "status"];
  metrics.register({ name: "http.requests.total", type: "counter", labelNames, description: "HTTP requests answered" });
  metrics.register({
    name: "http.request.duration.seconds", type: "histogram", labelNames: ["method", "route"], unit: "seconds",
    description: "HTTP answer time", buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  return {
    observe(req, res, startedNs) {
      if (req.url?.startsWith("/socket.io/")) return;
      const route = req.$alias ? `${req.$alias.method} ${req.$alias.fullPath}` : res.statusCode < 400 ? "static" : "unmatched";
      const method = req.method ?? "GET";
      const status = String(res.statusCode);
      const routeKey = method + " " + route;
      tallies.counter("http.requests.total", { method, route, status }, routeKey + " " + status).n++;
      tallies.histogram("http.request.duration.seconds", { method, route }, routeKey).observe(Number(process.hrtime.bigint() - startedNs) / 1e9);
    },
  };
}

type EventCtx<P> = { params: P };
type GatewayThis = { realtime?: Realtime; broker: ServiceBroker };

const ApiService: ServiceSchema = {
  name: "api",
  mixins: [ApiGateway],

  settings: {
    port: Number(process.env.PORT ?? 3000),
    ip: process.env.HOST ?? "0.0.0.0",
    // Never serve /api/<service>/<action> by name: only the routes the actions declare.
    routes: [
      {
        path: "/api",
        autoAliases: true,
        mappingPolicy: "restrict",
        authentication: true,
        authorization: true,
        mergeParams: true,
        logging: false,
        bodyParsers: { json: { strict: false, limit: "64kb" }, urlencoded: false },
        aliases: {
          "GET openapi.json"(this: { broker: { registry: unknown } }, _req: Req, res: ServerResponse) {
            const aliases = (this as unknown as { aliases: Array<{ action?: string; _generated?: boolean }> }).aliases;
            const served = new Set(aliases.filter((a) => a._generated && a.action).map((a) => a.action as string));
            sendJson(res, 200, buildOpenApi(this.broker as never, served));
          },
          "GET docs"(_req: Req, res: ServerResponse) {
            sendJson(res, 200, openApiPage("/api/openapi.json"), "text/html; charset=utf-8");
          },
        },
        onBeforeCall(this: { clientAddress(req: Req): string }, ctx: { meta: Meta }, _route: unknown, req: Req) {
          // Only JSON bodies are parsed; any other body would reach the action as "no fields".
          if (hasBody(req) && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(req.headers["content-type"] ?? "")) {
            throw new ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body as application/json.");
          }
          const pathKeys = (req.$alias?.keys ?? []).map((k) => String(k.name));
          const bad = refusedFields(req.$action, req.$params, pathKeys);
          if (bad.length) throw badRequest("Some fields are missing or invalid.", { fields: bad });
          ctx.meta.clientIp = this.clientAddress(req);
          // The few request headers actions may need (conditional GETs, idempotent POSTs, gzip).
          const headers: Record<string, string> = {};
          for (const h of FORWARDED_HEADERS) {
            const v = req.headers[h];
            if (typeof v === "string") headers[h] = v;
          }
          ctx.meta.headers = headers;
        },
        // An action on another node answers bytes as base64 text (see Meta.$base64Body).
        onAfterCall(ctx: { meta: Meta }, _route: unknown, _req: Req, _res: ServerResponse, data: unknown) {
          return ctx.meta.$base64Body && typeof data === "string" ? Buffer.from(data, "base64") : data;
        },
        onError: sendError,
      },
      {
        path: "/",
        mappingPolicy: "restrict",
        logging: false,
        bodyParsers: false,
        aliases: {
          "GET health"(_req: Req, res: ServerResponse) {
            sendJson(res, 200, { status: "ok" });
          },
          async "GET ready"(this: { ready(): Promise<Record<string, string>> }, _req: Req, res: ServerResponse) {
            const checks = await this.ready();
            // Without Redis the node still sells (each gateway counts rate limits alone): degraded,
            // not unready, or an orchestrator would take every gateway out of service at once.
            const ok = Object.entries(checks).every(([name, v]) => v === "ok" || name === "redis");
            if (!ok) res.setHeader("Retry-After", "5");
            sendJson(res, ok ? 200 : 503, { status: !ok ? "not ready" : checks.redis && checks.redis !== "ok" ? "degraded" : "ready", checks });
          },
          "GET metrics"(this: { metricsText(): string }, _req: Req, res: ServerResponse) {
            sendJson(res, 200, this.metricsText(), "text/plain; version=0.0.4; charset=utf-8");
          },
        },
        onError: sendError,
      },
    ],
    // The whole HTTP request runs as this service's `rest` action. The broker's retry policy must
    // not replay it (the body stream is already consumed, and the replay answered 404); the calls
    // it makes to other services are retried on their own.
    rootCallOptions: { retries: 0 },
    assets: { folder: path.resolve(__dirname, "../public"), options: { index: "index.html" } },
    onError: sendError,
  },

  // moleculer-web's own actions have `rest` too; never publish them.
  actions: { listAliases: false, addRoute: false, removeRoute: false },

  // Relayed to the sockets of this node. Payloads are re-shaped so that nothing internal leaks.
  events: {
    /**
     * moleculer-web rebuilds its routes 500 ms (debounced) after the registry changes, so a node
     * would answer 404 for its own routes right after starting. All local services are registered
     * by now: build the routes at once.
     */
    "$broker.started"(this: { routes: Array<{ opts: { autoAliases?: boolean } }>; regenerateAutoAliases(route: unknown): void }) {
      for (const route of this.routes) if (route.opts.autoAliases) this.regenerateAutoAliases(route);
    },
    // The seat map's copies are forgotten before the sockets hear of the change: a page that
    // refreshes its map on an event is answered by the owner (src/seats/seat-map-copies.ts).
    "seats.changed"(this: GatewayThis, ctx: EventCtx<{ sessionId?: unknown; version?: unknown; changes?: unknown }>) {
      const { sessionId, version, changes } = ctx.params ?? {};
      seatMapCopiesOf(this.broker)?.forget(sessionId);
      this.realtime?.toSession(sessionId, "seats", { sessionId, version, changes });
    },
    "seats.stock"(this: GatewayThis, ctx: EventCtx<Record<string, unknown>>) {
      const p = ctx.params ?? {};
      seatMapCopiesOf(this.broker)?.forget(p.sessionId);
      this.realtime?.toSession(p.sessionId, "stock", { ...p });
    },
    // Prices and the sale's window are in the seat map too.
    "sessions.changed"(this: GatewayThis, ctx: EventCtx<{ sessionId?: unknown }>) {
      seatMapCopiesOf(this.broker)?.forget(ctx.params?.sessionId);
    },
    "orders.status"(this: GatewayThis, ctx: EventCtx<{ orderId?: unknown; userId?: unknown; status?: unknown; reason?: unknown }>) {
      const { orderId, userId, status, reason } = ctx.params ?? {};
      this.realtime?.toUser(userId, "order", reason === undefined || reason === null ? { orderId, status } : { orderId, status, reason });
    },
    "tickets.ready"(this: GatewayThis, ctx: EventCtx<{ ticketId?: unknown; orderId?: unknown; userId?: unknown }>) {
      const { ticketId, orderId, userId } = ctx.params ?? {};
      this.realtime?.toUser(userId, "ticket", { ticketId, orderId });
    },
  },

  /**
   * Each gateway node is its own event group: an event sent with `emit` (balanced: one receiver
   * per group) must still reach every gateway node, since the browser may be on any of them.
   */
  merged(schema: ServiceSchema) {
    // moleculer-web builds its routes in its own created(), before ours runs: configure here.
    // New objects, never the module's: several brokers (tests) may share this schema.
    const config = platformOf(this.broker).config;
    const [api, ...rest] = schema.settings!.routes as Array<Record<string, any>>;
    schema.settings = {
      ...schema.settings,
      port: config.port,
      cors: {
        origin: config.corsOrigins === "*" ? "*" : config.corsOrigins.split(","),
        methods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allowedHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match"],
        exposedHeaders: ["ETag", "Retry-After", "X-Rate-Limit-Remaining"],
        maxAge: 600,
      },
      routes: [{ ...api, bodyParsers: { ...api.bodyParsers, json: { ...api.bodyParsers.json, limit: config.bodyLimit } } }, ...rest],
    };

    const group = `api@${this.broker.nodeID}`;
    const events: Record<string, unknown> = {};
    for (const [name, def] of Object.entries(schema.events ?? {})) {
      if (name.startsWith("$")) events[name] = def;
      else events[name] = typeof def === "function" ? { group, handler: def } : { ...(def as object), group };
    }
    schema.events = events as ServiceSchema["events"];
  },

  created() {
    const platform = platformOf(this.broker);
    this.trustedProxies = parseTrustedProxies(platform.config.trustedProxies);
    const redis = platform.redis();
    const warnFallback = everySecondAtMost((err: Error, unlogged) =>
      this.logger.warn(`Rate limits counted on this node alone, Redis not answering: ${err.message}${unlogged ? ` (and ${unlogged} more since the last line)` : ""}`));
    // Counters are per cluster: two clusters (namespaces) sharing one Redis must not share budgets.
    this.rateLimiter = redis
      ? new FallbackRateLimiter(new RedisRateLimiter(redis, `tf:${this.broker.namespace || "default"}:rl:`), new MemoryRateLimiter(), (err: Error) => {
          warnFallback(err);
          if (/timed out/i.test(err.message)) platform.redisUnanswered();
        })
      : new MemoryRateLimiter();
    this.prometheus = new InlinePrometheus({});
    this.httpMetrics = registerHttpMetrics(this.broker);
    // Before moleculer-web's handler (and socket.io's, which wraps it), so every answer is counted.
    (this.server as HttpServer).prependListener("request", (req: Req, res: ServerResponse) => {
      const started = process.hrtime.bigint();
      res.once("finish", () => (this.httpMetrics as HttpMetrics).observe(req, res, started));
    });
  },

  started() {
    this.prometheus.init(this.broker.metrics);
    const platform = platformOf(this.broker);
    this.realtime = new Realtime(this.server, {
      corsOrigins: platform.config.corsOrigins,
      logger: this.logger,
      // The same check as REST (including whatever issuers authenticate() accepts).
      authenticate: async (token: string) => {
        const user = await this.authenticate(null, null, { headers: { authorization: `Bearer ${token}` } });
        if (!user) throw unauthorized("The access token is invalid or expired.", "INVALID_TOKEN");
        return user as AuthUser;
      },
    });
  },

  stopped() {
    (this.realtime as Realtime | undefined)?.close();
    this.realtime = undefined;
  },

  methods: {
    /**
     * moleculer-web's, without its own log line, which logged every 503 at error level with its
     * stack: thousands of lines in a few seconds of a database outage. `sendError` (the routes'
     * onError) logs the faults (a 5xx other than 503); a 503 is logged where it arises
     * (src/platform/outage.ts).
     */
    errorHandler(this: { sendError(req: Req, res: ServerResponse, err: unknown): void }, req: Req, res: ServerResponse, err: unknown) {
      this.sendError(req, res, err);
    },

    /**
     * moleculer-web rebuilds the generated routes whenever a service comes or goes, and drops the
     * routes of a service whose last node just died: buyers would get 404 for a route that exists.
     * Keep those routes; a call to them then answers 503 with Retry-After until a node is back.
     */
    regenerateAutoAliases(route: unknown) {
      type Alias = { route: unknown; _generated?: boolean; method: string; fullPath: string };
      const self = this as unknown as { aliases: Alias[] };
      const before = self.aliases.filter((a) => a.route === route && a._generated);
      (ApiGateway as unknown as { methods: { regenerateAutoAliases(this: unknown, r: unknown): void } }).methods.regenerateAutoAliases.call(this, route);
      const present = new Set(self.aliases.filter((a) => a.route === route && a._generated).map((a) => `${a.method} ${a.fullPath}`));
      for (const alias of before) if (!present.has(`${alias.method} ${alias.fullPath}`)) self.aliases.push(alias);
    },

    /** moleculer-web's query parsing (qs), with a fast path for plain queries that gives the same answer. */
    parseQueryString(req: Req): { query: Record<string, unknown>; url: string } {
      const at = req.url!.indexOf("?", 1);
      const query = at === -1 ? undefined : plainQuery(req.url!.substring(at + 1));
      if (query) return { query, url: req.url!.substring(0, at) };
      return (ApiGateway as unknown as { methods: { parseQueryString(this: unknown, r: Req): { query: Record<string, unknown>; url: string } } }).methods.parseQueryString.call(this, req);
    },

    /** A bearer token, when present, must be valid; no token means an anonymous caller. */
    async authenticate(_ctx: unknown, _route: unknown, req: Req): Promise<AuthUser | null> {
      const header = req.headers.authorization;
      if (!header) return null;
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) throw unauthorized("Send the access token as 'Authorization: Bearer <token>'.", "INVALID_TOKEN");
      const platform = platformOf(this.broker);
      return verifyBearerToken(platform, match[1]);
    },

    /** Enforces the action's declared `auth`/`roles`, then the caller's rate limit. */
    async authorize(ctx: { meta: Meta }, _route: unknown, req: Req) {
      const action = req.$action;
      const user = ctx.meta.user ?? null;
      if (action) {
        const auth = action.auth ?? "required";
        if (auth === "required" && !user) throw unauthorized();
        if (action.roles && action.roles.length && !hasRole(user, action.roles)) {
          if (!user) throw unauthorized();
          throw forbidden();
        }
      }
      const platform = platformOf(this.broker);
      const address = this.clientAddress(req);
      const client = user ? `u:${user.id}` : `ip:${address}`;
      const limiter = this.rateLimiter as RateLimiter;
      const checks: Array<[string, number, number]> = [[client, platform.config.rateLimitPerMinute, 60_000]];
      // Actions may add a tighter limit of their own (login, register), per address.
      if (action?.rateLimit) {
        checks.push([`${action.name}:ip:${address}`, action.rateLimit.limit, action.rateLimit.windowMs]);
      }
      for (const [key, limit, windowMs] of checks) {
        const decision = await limiter.hit(key, limit, windowMs);
        if (!decision.allowed) {
          throw new ApiError(429, "RATE_LIMITED", "Too many requests, slow down.", { retryAfter: decision.retryAfterSeconds });
        }
      }
    },

    /** The caller's address: the socket's, or X-Forwarded-For's when the socket is a trusted proxy. */
    clientAddress(req: Req): string {
      return clientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"], this.trustedProxies);
    },

    async ready(): Promise<Record<string, string>> {
      const platform = platformOf(this.broker);
      const checks: Record<string, string> = {};
      try {
        await withTimeout(platform.db().then((db) => db.raw("select 1")), READY_TIMEOUT_MS);
        checks.database = "ok";
      } catch (err) {
        checks.database = (err as Error).message;
      }
      const redis = platform.redis();
      if (redis) {
        try {
          await withTimeout(redis.ping(), READY_TIMEOUT_MS);
          checks.redis = "ok";
        } catch (err) {
          checks.redis = (err as Error).message;
        }
      }
      if (this.broker.transit) checks.transporter = this.broker.transit.connected ? "ok" : "disconnected";
      return checks;
    },

    metricsText(): string {
      talliesOf(this.broker).flush();
      return (this.prometheus as { generatePrometheusResponse(): string }).generatePrometheusResponse();
    },
  },
};

export default ApiService;
