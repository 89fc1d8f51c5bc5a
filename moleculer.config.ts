/**
 * Builds the broker options from the environment (src/platform/config.ts).
 *
 * Registry choices, and why:
 * - The default strategy is RoundRobin with `preferLocal: true`: stateless services (api, auth,
 *   catalog, orders, ...) are cheaper served in-process when the node has them.
 * - The `seats` service must NOT use preferLocal or random balancing: one actor per session lives
 *   on exactly one node. Its actions declare `sessionKey: "sessionId"` and the SessionRouting call
 *   middleware (src/seats/routing.ts), registered here so every node and the REPL load it, sends
 *   each call to the session's owner by rendezvous hashing over the nodes running `seats`, as a
 *   direct `nodeID` call. Not an action-level strategy: Moleculer 0.14 answers from a local
 *   endpoint before consulting any strategy when preferLocal is on, and the built-in Shard ring
 *   moves many sessions on a membership change. A call without a session key is refused. The
 *   middleware also checks for silent nodes twice a second (Moleculer's own check runs once per
 *   heartbeatTimeout, so a killed node could go unnoticed for two timeouts).
 * - Heartbeats every second, a node is declared dead after 3 s of silence (Moleculer's default
 *   is ~10 s / 30 s), so the sessions of a killed node move within a few seconds.
 * - requestTimeout is 10 s (Moleculer's default is none) and retryable errors (a node that just
 *   left, a service not yet started) are retried a few times with backoff.
 * - A gateway answers the seat maps of sessions another node owns from its copy of the owner's
 *   last answer, until the session's next `seats.changed` broadcast (src/seats/seat-map-copies.ts).
 * - Metrics are on (Prometheus text on the gateway's /metrics, the REPL's `metrics`), but action
 *   calls are tallied in plain numbers and written to the registry once a second: Moleculer's own
 *   Metrics middleware writes the registry on every call, and that halved a route's rate.
 */
import type { BrokerOptions } from "moleculer";
import { Middleware, ServiceBroker, Validators } from "moleculer";
import type { Config } from "./src/platform/config";
import { loadConfig } from "./src/platform/config";
import { SessionRoutingMiddleware } from "./src/seats/routing";
import { SeatMapCopiesMiddleware } from "./src/seats/seat-map-copies";
import { channelMiddlewares } from "./channels/adapter";
import { RequestMetricsMiddleware } from "./src/platform/request-metrics";
import { NATS_LIVENESS, OutageMiddleware } from "./src/platform/outage";
import { nullParamsCheck } from "./src/platform/null-params";

type ParamSchema = Record<string, unknown>;

type ParamCheck = ((params: unknown, opts?: unknown) => unknown) & { async?: boolean };

/**
 * fastest-validator that rejects unknown fields by default (`$$strict: true`), so that
 * `{"price": 1}` sent to a route that does not take a price is a 400, not silently ignored; and
 * null on a field that does not allow it (src/platform/null-params.ts).
 */
class StrictValidator extends Validators.Fastest {
  compile(schema: ParamSchema) {
    const strict = schema && typeof schema === "object" && !("$$strict" in schema) ? { $$strict: true, ...schema } : schema;
    const check = super.compile(strict) as ParamCheck;
    const nulls = nullParamsCheck(schema);
    if (!nulls) return check;
    const checked: ParamCheck = (params, opts) => {
      const refused = nulls(params);
      if (!refused.length) return check(params, opts);
      return check.async ? Promise.resolve(refused) : refused;
    };
    checked.async = check.async;
    return checked;
  }
}

/**
 * Retry only what certainly did not run: no node had the service, the node left before taking
 * the call, a seat actor stepped down before committing. A timeout is "maybe done": retrying it
 * ran holds and orders twice (seen in the benchmark), so callers get the 503 instead.
 */
function retryable(err: Error): boolean {
  if (!(err as { retryable?: boolean }).retryable) return false;
  return err.name !== "RequestTimeoutError";
}

/** Moleculer's internal middlewares, in Moleculer's order, with Metrics replaced. */
function internalMiddlewares(): Array<string | Middleware> {
  const names = (ServiceBroker as unknown as { INTERNAL_MIDDLEWARES: string[] }).INTERNAL_MIDDLEWARES;
  return names.map((name) => (name === "Metrics" ? (RequestMetricsMiddleware as unknown as Middleware) : name));
}

export function brokerOptions(config: Config = loadConfig()): BrokerOptions {
  return {
    namespace: config.namespace,
    nodeID: config.nodeID,
    transporter: config.transporter
      ? { type: "NATS", options: { url: config.transporter, maxReconnectAttempts: -1, ...NATS_LIVENESS } }
      : undefined,
    logger: {
      type: "Console",
      options: { level: config.logLevel, formatter: "short", colors: process.stdout.isTTY },
    },
    logLevel: config.logLevel as BrokerOptions["logLevel"],
    heartbeatInterval: 1,
    heartbeatTimeout: 3,
    requestTimeout: 10_000,
    retryPolicy: { enabled: true, retries: 5, delay: 100, maxDelay: 1000, factor: 2, check: retryable },
    registry: { strategy: "RoundRobin", preferLocal: true },
    tracking: { enabled: true, shutdownTimeout: 5000 },
    metrics: { enabled: true, reporter: [] },
    validator: new StrictValidator(),
    // @moleculer/channels (NATS JetStream in cluster, in-process when embedded) + the outbox relay,
    // a dependency out of reach answered as 503 instead of 500 (src/platform/outage.ts), then
    // Moleculer's own middlewares in their usual order, with request metrics that tally instead of
    // writing the registry on every call (src/platform/request-metrics.ts).
    middlewares: [SeatMapCopiesMiddleware(), SessionRoutingMiddleware(), ...channelMiddlewares(config), OutageMiddleware() as unknown as Middleware, ...internalMiddlewares()],
    internalMiddlewares: false,
    errorRegenerator: undefined,
  };
}

export default brokerOptions();
