/**
 * `npm start` (embedded: every service, one process) and `npm run node -- api catalog`
 * (cluster: just those services; the environment names the transporter and servers).
 */
import { loadConfig } from "./config";
import { createNode } from "./node";
import { runSeeds } from "./seed";

async function main() {
  const config = loadConfig(process.env, process.argv.slice(2));
  const node = createNode(config);
  const { broker, platform } = node;
  const shutdown = async (signal: string) => {
    broker.logger.info(`${signal} received, stopping`);
    await node.stop().catch((err) => broker.logger.error(err));
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));

  await platform.db();
  await runSeeds(platform, broker.logger);
  await broker.start();
  const where = config.mode === "embedded" ? `embedded, data in ${config.dataDir}` : `cluster via ${config.transporter}`;
  broker.logger.info(`TicketFlash node ${broker.nodeID} up (${where}); services: ${broker.services.map((s) => s.name).join(", ")}`);
  if (broker.getLocalService("api")) broker.logger.info(`Open http://localhost:${config.port}`);
  // A supervisor that started us with an IPC channel (the test cluster, the benchmark) learns we are up.
  process.send?.({ type: "up", nodeID: broker.nodeID });
}

main().catch((err) => {
  console.error("TicketFlash failed to start:", err);
  process.exit(1);
});
