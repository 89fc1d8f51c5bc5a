/**
 * Ceiling 2: a moleculer-web route calling a no-op action, i.e. what the framework alone costs
 * per request, without auth, validation of real params or a database.
 *   ROLE=gateway (default): moleculer-web on PORT (0 = any); runs the no-op service too unless
 *                           TRANSPORTER is set (then the action lives on another process).
 *   ROLE=service:           only the no-op service, reached over TRANSPORTER.
 * Prints `{"port": n}` (gateway) or `{"ready": true}` (service) on stdout once started.
 */
import { ServiceBroker } from "moleculer";
import ApiGateway from "moleculer-web";
import { AddressInfo } from "net";

const role = process.env.ROLE ?? "gateway";
const transporter = process.env.TRANSPORTER || undefined;

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

if (role === "service" || !transporter) {
  broker.createService({ name: "noop", actions: { ping: { handler: () => ({ ok: true }) } } });
}
if (role === "gateway") {
  broker.createService({
    name: "api",
    mixins: [ApiGateway],
    settings: {
      port: Number(process.env.PORT ?? 0),
      ip: "127.0.0.1",
      routes: [{ path: "/", mappingPolicy: "restrict", logging: false, aliases: { "GET noop": "noop.ping" } }],
      logRequest: null,
      logResponse: null,
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
