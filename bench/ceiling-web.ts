/**
 * Ceiling 2: a moleculer-web route calling a no-op action, i.e. what the framework alone costs
 * per request, without auth, validation of real params or a database.
 * Ceiling 3, with JWT_SECRET set: a hold's shape with nothing behind it. `POST /auth/holds/:id`
 * verifies the bearer token as the platform does (src/platform/auth.ts), parses the JSON body and
 * validates it in the one action the route calls (seats.hold's params), which answers a constant:
 * what a hold costs through this design before any seat is looked at.
 *   ROLE=gateway (default): moleculer-web on PORT (0 = any); runs the no-op service too unless
 *                           TRANSPORTER is set (then the action lives on another process).
 *   ROLE=service:           only the no-op service, reached over TRANSPORTER.
 * Prints `{"port": n}` (gateway) or `{"ready": true}` (service) on stdout once started.
 */
import { Context, ServiceBroker } from "moleculer";
import ApiGateway from "moleculer-web";
import { AddressInfo } from "net";
import { verifyAccessToken, type AuthUser } from "../src/platform/auth";

const role = process.env.ROLE ?? "gateway";
const transporter = process.env.TRANSPORTER || undefined;
const jwtSecret = process.env.JWT_SECRET || undefined;

const broker = new ServiceBroker({
  namespace: process.env.NAMESPACE ?? "tf-bench-ceiling",
  nodeID: `ceiling-${role}-${process.pid}`,
  transporter: transporter ? { type: "NATS", options: { url: transporter } } : undefined,
  logger: false,
  // The same registry and timeout choices as the platform (moleculer.config.ts).
  registry: { strategy: "RoundRobin", preferLocal: true },
  requestTimeout: 10_000,
  heartbeatInterval: 1,
  heartbeatTimeout: 3,
});

const holdRequest = {
  seats: { type: "array", optional: true, min: 1, max: 100, items: { type: "string", min: 1, max: 100 } },
  quantity: { type: "number", integer: true, min: 1, max: 100, optional: true },
  category: { type: "string", min: 1, max: 100, optional: true },
  adjacent: { type: "boolean", optional: true },
  area: { type: "string", min: 1, max: 100, optional: true },
  $$strict: true,
} as const;

if (role === "service" || !transporter) {
  broker.createService({
    name: "noop",
    actions: {
      ping: { handler: () => ({ ok: true }) },
      // seats.hold's params, the signed-in user; the answer a hold gets, with no seat actor behind it.
      hold: {
        params: { id: { type: "string", min: 1, max: 100 }, ...holdRequest },
        handler: (ctx: Context<{ id: string; quantity?: number }, { user?: AuthUser; $statusCode?: number; $location?: string }>) => {
          const holdId = "00000000-0000-4000-8000-000000000000";
          ctx.meta.$statusCode = 201;
          ctx.meta.$location = `/api/holds/${holdId}`;
          return {
            holdId,
            sessionId: ctx.params.id,
            userId: ctx.meta.user!.id,
            seats: Array.from({ length: ctx.params.quantity ?? 1 }, (_, i) => `A-1-${i + 1}`),
            expiresAt: new Date(Date.now() + 600_000).toISOString(),
          };
        },
      },
    },
  });
}
if (role === "gateway") {
  broker.createService({
    name: "api",
    mixins: [ApiGateway],
    settings: {
      port: Number(process.env.PORT ?? 0),
      ip: "127.0.0.1",
      routes: [
        { path: "/", mappingPolicy: "restrict", logging: false, aliases: { "GET noop": "noop.ping" } },
        ...(jwtSecret
          ? [{ path: "/auth", mappingPolicy: "restrict", logging: false, authorization: true, mergeParams: true, bodyParsers: { json: { strict: false, limit: "64kb" }, urlencoded: false }, aliases: { "POST holds/:id": "noop.hold" } }]
          : []),
      ],
      logRequest: null,
      logResponse: null,
    },
    methods: {
      /** The platform's check of a bearer token (HS256, pinned algorithm, issuer, expiry). */
      authorize(ctx: Context<unknown, { user?: AuthUser }>, _route: unknown, req: { headers: Record<string, string | undefined> }) {
        const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
        if (!match) throw new ApiGateway.Errors.UnAuthorizedError(ApiGateway.Errors.ERR_NO_TOKEN, null);
        ctx.meta.user = verifyAccessToken(jwtSecret!, match[1]);
      },
    },
  });
}

async function main() {
  await broker.start();
  if (role === "gateway") {
    // Across a transporter, wait until the remote no-op action is known before saying ready.
    await broker.waitForServices(["noop"], 30_000);
    const api = broker.getLocalService("api") as unknown as { server: { address(): AddressInfo } };
    process.stdout.write(JSON.stringify({ port: api.server.address().port }) + "\n");
  } else {
    process.stdout.write(JSON.stringify({ ready: true }) + "\n");
  }
}

process.on("SIGTERM", () => void broker.stop().finally(() => process.exit(0)));
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
