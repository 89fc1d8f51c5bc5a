/**
 * Creates a TicketFlash node: a broker with the services it should run. Used by `npm start`,
 * `npm run node -- <services>` and by the broker-level tests, so all three share one code path.
 */
import fs from "fs";
import path from "path";
import { ServiceBroker, ServiceSchema } from "moleculer";
import { brokerOptions } from "../../moleculer.config";
import { Config } from "./config";
import { attachPlatform, Platform } from "./platform";

export const SERVICES_DIR = path.resolve(__dirname, "../../services");

/** Every service name with a file `services/<name>.service.ts`. */
export function availableServices(): string[] {
  return fs
    .readdirSync(SERVICES_DIR)
    .filter((f) => f.endsWith(".service.ts"))
    .map((f) => f.replace(/\.service\.ts$/, ""))
    .sort();
}

export function loadServiceSchema(name: string): ServiceSchema {
   
  const mod = require(path.join(SERVICES_DIR, `${name}.service.ts`));
  return (mod.default ?? mod) as ServiceSchema;
}

export interface NodeHandle {
  broker: ServiceBroker;
  platform: Platform;
  stop(): Promise<void>;
}

/**
 * Names that stand for several services on the command line: `npm run node -- api catalog`.
 * Members without a service file yet are skipped.
 */
export const SERVICE_GROUPS: Record<string, string[]> = {
  accounts: ["auth", "users"],
  catalog: ["venues", "events", "sessions"],
  sales: ["seats", "holds", "orders", "payments", "outbox"],
  fulfilment: ["tickets", "ticket-pdf", "checkin", "notifications", "webhooks", "analytics"],
};

export function expandServices(names: string[]): string[] {
  const known = availableServices();
  const out = new Set<string>();
  for (const name of names) {
    if (SERVICE_GROUPS[name]) SERVICE_GROUPS[name].filter((s) => known.includes(s)).forEach((s) => out.add(s));
    else out.add(name);
  }
  return [...out];
}

export function createNode(config: Config, overrides: Record<string, unknown> = {}): NodeHandle {
  const wanted = config.services.length ? expandServices(config.services) : availableServices();
  const unknown = wanted.filter((s) => !availableServices().includes(s));
  if (unknown.length) throw new Error(`Unknown service(s): ${unknown.join(", ")}. Known: ${availableServices().join(", ")}`);

  const platform = new Platform(config);
  const broker = new ServiceBroker({ ...brokerOptions(config), ...overrides });
  attachPlatform(broker, platform);
  for (const name of wanted) broker.createService(loadServiceSchema(name));

  let stopped = false;
  return {
    broker,
    platform,
    async stop() {
      if (stopped) return;
      stopped = true;
      await broker.stop();
      await platform.close();
    },
  };
}
