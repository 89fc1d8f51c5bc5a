/**
 * `npm run repl`: an operator's console. Joins the running cluster named by the environment
 * (TRANSPORTER, NAMESPACE) as a node without services and opens moleculer-repl with its usual
 * commands (`nodes`, `services`, `call`, ...) plus the seat actor's:
 *
 *   sessions              which node owns which live session actors
 *   session <id>          one actor's summary (available/held/sold, active holds, epoch, version)
 *   passivate <id>        commit and drop the actor; the next call activates it again
 *   move <id> [nodeID]    make the session's owner serve it now, with a new epoch
 *
 * A failing call prints the service's error (code and message) instead of a stack trace.
 */
import os from "os";
import { ServiceBroker } from "moleculer";
import { brokerOptions } from "../../moleculer.config";
import { loadConfig } from "./config";

type Print = (line: string) => void;

/** moleculer-repl's custom command definition (node_modules/moleculer-repl/src/index.js). */
export interface ReplCommand {
  command: string;
  description: string;
  action(broker: ServiceBroker, args: Record<string, unknown>): Promise<void>;
}

interface OwnersAnswer {
  nodeID: string;
  sessions: Array<{ sessionId: string; [k: string]: unknown }>;
  error?: string;
}

function describeError(err: unknown): string {
  const e = err as { code?: unknown; type?: unknown; message?: string; data?: unknown };
  const code = typeof e.type === "string" ? e.type : "ERROR";
  const status = typeof e.code === "number" ? ` ${e.code}` : "";
  const data = e.data && typeof e.data === "object" && Object.keys(e.data).length ? ` ${JSON.stringify(e.data)}` : "";
  return `error${status} ${code}: ${e.message ?? String(err)}${data}`;
}

/** The nodes that run the seats service right now. */
function seatsNodes(broker: ServiceBroker): string[] {
  const services = broker.registry.getServiceList({ onlyAvailable: true }) as Array<{ name: string; nodeID: string }>;
  return [...new Set(services.filter((s) => s.name === "seats").map((s) => s.nodeID))].sort();
}

export function formatOwners(answers: OwnersAnswer[]): string[] {
  if (!answers.length) return ["no seats nodes"];
  const lines: string[] = [];
  for (const a of answers) {
    const ids = a.sessions.map((s) => s.sessionId);
    lines.push(`${a.nodeID}: ${ids.length} live session${ids.length === 1 ? "" : "s"}${a.error ? ` (${a.error})` : ""}`);
    for (const s of a.sessions) {
      const { sessionId, ...rest } = s;
      lines.push(`  ${sessionId}${Object.keys(rest).length ? "  " + JSON.stringify(rest) : ""}`);
    }
  }
  return lines;
}

/** The command handlers, with their output injectable so that they can be tested without a terminal. */
export function replCommands(print: Print = (line) => console.log(line)): ReplCommand[] {
  const run = async (what: () => Promise<string[]>) => {
    try {
      for (const line of await what()) print(line);
    } catch (err) {
      print(describeError(err));
    }
  };
  const json = (v: unknown) => JSON.stringify(v, null, 2).split("\n");
  return [
    {
      command: "sessions",
      description: "Which node owns which live session actors (seats.owners)",
      action: (broker) =>
        run(async () => {
          const nodes = seatsNodes(broker);
          if (!nodes.length) return ["no seats nodes in the cluster"];
          // seats.owners asks every seats node; ask it on one of them, directly.
          const answers = await broker.call<OwnersAnswer[], Record<string, never>>("seats.owners", {}, { nodeID: nodes[0] });
          return formatOwners(answers);
        }),
    },
    {
      command: "session <id>",
      description: "One session actor's summary (seats.summary)",
      action: (broker, args) => run(async () => json(await broker.call("seats.summary", { sessionId: String(args.id) }))),
    },
    {
      command: "passivate <id>",
      description: "Commit and drop a session's actor (seats.passivate)",
      action: (broker, args) => run(async () => json(await broker.call("seats.passivate", { sessionId: String(args.id) }))),
    },
    {
      command: "move <id> [nodeID]",
      description: "Re-activate a session on its owner with a new epoch (seats.move)",
      action: (broker, args) =>
        run(async () => {
          const params: Record<string, string> = { sessionId: String(args.id) };
          if (args.nodeID) params.nodeID = String(args.nodeID);
          return json(await broker.call("seats.move", params));
        }),
    },
  ];
}

async function main() {
  const config = loadConfig(process.env, []);
  if (!config.transporter) {
    console.error("Set TRANSPORTER (and NAMESPACE, if the cluster uses one) to the cluster's, e.g. TRANSPORTER=nats://127.0.0.1:4222 npm run repl");
    process.exit(2);
  }
  const broker = new ServiceBroker({
    ...brokerOptions({ ...config, logLevel: process.env.LOG_LEVEL || "warn" }),
    nodeID: `repl-${os.hostname()}-${process.pid}`,
  });
  await broker.start();
  // Give the other nodes' INFO packets a moment so that the first command sees the cluster.
  await broker.waitForServices(["seats"], 3000).catch(() => console.log("(no seats service seen yet; `nodes` lists who is there)"));
  const REPL = require("moleculer-repl") as (b: ServiceBroker, opts: { delimiter: string; customCommands: ReplCommand[] }) => unknown;
  REPL(broker, { delimiter: "tf $", customCommands: replCommands() });
}

if (require.main === module) {
  main().catch((err) => {
    console.error("REPL failed to start:", err);
    process.exit(1);
  });
}
