/**
 * A dependency out of reach is "try again shortly" (503 with Retry-After), not a fault (500).
 *
 * When PostgreSQL restarts, fails over or refuses connections, a service's query throws the
 * driver's error: `pg` with the server's SQLSTATE (connection exceptions, shutdown, "cannot
 * connect now", too many connections), Node's socket errors, or knex's pool timing out. Left as
 * they are, they reach the buyer as 500 INTERNAL_ERROR, which API.md calls a bug, and which a
 * client has no reason to retry. The middleware below turns them into the API's 503 on the node
 * where they happen. The 503 is not retried inside the cluster (the Retry middleware retries only
 * what certainly did not run, moleculer.config.ts): a client sends the request again, with its
 * Idempotency-Key where the route takes one.
 */
import type { Context, LoggerInstance, ServiceBroker } from "moleculer";
import { unavailable } from "./errors";

/** SQLSTATE codes of a server that cannot take the query now, whatever the query. */
const SERVER_CODES = new Set([
  "57P01", // admin_shutdown: the backend was terminated (restart, failover, pg_terminate_backend)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: starting up or shutting down
  "53300", // too_many_connections
  "53400", // configuration_limit_exceeded
]);

/** Socket errors of a connection that could not be made or was cut. */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND"]);

/**
 * `pg` and knex say so in words only. knex puts the statement in front of the driver's message
 * ("select ... - Connection terminated unexpectedly"), so each is matched at the start or after " - ".
 */
const MESSAGES = [
  "Connection terminated", // pg: the server closed the connection (unexpectedly, or the connect timed out)
  "timeout exceeded when trying to connect", // pg-pool
  "Client has encountered a connection error and is not queryable", // pg: a client used after its socket broke
  "Knex: Timeout acquiring a connection", // knex's pool: nothing to be had before acquireConnectionTimeout
  'database "[^"]*" is not currently accepting connections', // 55000 with ALLOW_CONNECTIONS false (maintenance)
].map((words) => new RegExp(`(?:^| - )${words}`));

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
}

/** Whether `err` says a dependency cannot be reached right now (rather than that the request is wrong). */
export function isOutage(thrown: unknown): boolean {
  if (!thrown || typeof thrown !== "object") return false;
  const err = thrown as ErrorLike;
  const code = typeof err.code === "string" ? err.code : "";
  // Class 08 is "connection exception" (08000, 08003, 08006, 08001, 08004, ...).
  if (code.startsWith("08") && code.length === 5) return true;
  if (SERVER_CODES.has(code) || SOCKET_CODES.has(code)) return true;
  if (err.name === "KnexTimeoutError") return true;
  const message = typeof err.message === "string" ? err.message : "";
  return MESSAGES.some((re) => re.test(message));
}

/**
 * `log`, called at most once a second with what it was last given and how many calls it skipped
 * since: an outage in a sale is thousands of requests, which should not be thousands of log lines.
 */
export function everySecondAtMost<A>(log: (arg: A, skipped: number) => void, clock: () => number = Date.now): (arg: A) => void {
  let loggedAt = -Infinity;
  let skipped = 0;
  return (arg: A) => {
    const now = clock();
    if (now - loggedAt < 1000) {
      skipped++;
      return;
    }
    log(arg, skipped);
    loggedAt = now;
    skipped = 0;
  };
}

type Handler = (ctx: Context) => unknown;

/**
 * Local actions answer an outage as 503 SERVICE_UNAVAILABLE with Retry-After, everything else as
 * it was. What the driver said is logged as a warning, once a second at most.
 */
export function OutageMiddleware() {
  let logger: LoggerInstance | undefined;
  const note = everySecondAtMost(({ action, err }: { action: string; err: Error }, skipped) =>
    logger?.warn(`${action}: ${err.message}; answered 503${skipped ? ` (and ${skipped} more since the last line)` : ""}`));
  return {
    name: "Outage",
    created(broker: ServiceBroker) {
      logger = broker.getLogger("outage");
    },
    localAction(handler: Handler, action: { name: string }): Handler {
      const mapped = (err: unknown) => {
        if (!isOutage(err)) throw err;
        note({ action: action.name, err: err as Error });
        throw unavailable("A service this request needs is not reachable right now; try again shortly.", 2);
      };
      return function outageAware(ctx: Context) {
        let result: unknown;
        try {
          result = handler(ctx);
        } catch (err) {
          return mapped(err);
        }
        return result && typeof (result as Promise<unknown>).then === "function" ? (result as Promise<unknown>).then(undefined, mapped) : result;
      };
    },
  };
}

/**
 * How a NATS connection (the transporter's, and JetStream's for the channels) finds out that its
 * server is gone when nothing says so: a failover whose old server vanished leaves the connection
 * open with no byte and no reset. The client's default pings every 2 minutes and gives up after two
 * unanswered, so the node heard and sent nothing for over 4 minutes; here a dead connection is
 * found within 10-15 s and the client reconnects (test/cluster/outage.test.ts).
 */
export const NATS_LIVENESS = { pingInterval: 5000, maxPingOut: 2 } as const;
