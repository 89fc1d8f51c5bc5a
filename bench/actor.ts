/**
 * The seat actor alone (src/seats/session-actor.ts): no HTTP, no Moleculer, but the real durable
 * path: every command is acknowledged only after its batch is committed to PostgreSQL in one
 * fenced transaction (group commit). `clients` concurrent callers each loop hold(1..4 seats,
 * explicit, side by side) -> confirm until `holds` holds are done.
 *
 * Run: `node --import tsx bench/actor.ts [--quick]` (prints one JSON line). It uses DATABASE_URL
 * when set, else a fresh database on TEST_PG_ADMIN_URL (default the local server), dropped after.
 * Or call `runActorBench(options)` from another script.
 */
import { randomUUID } from "crypto";
import knexFactory, { Knex } from "knex";
import { Client } from "pg";
import { migrate } from "../src/platform/database";
import { SessionActor } from "../src/seats/session-actor";
import { createSession, gridLayout } from "../test/helpers/seat-fixtures";

export interface ActorBenchOptions {
  /** PostgreSQL URL; omitted: a throwaway database on the local server. */
  databaseUrl?: string;
  /** Hold+confirm pairs to run. */
  holds?: number;
  /** Concurrent callers (what the group commit can batch). */
  clients?: number;
}

export interface ActorBenchResult {
  source: string;
  commandsPerSecond: number;
  /** Commands per second of CPU the actor's process used (its event loop, the pg driver, JSON): its one-core ceiling. */
  commandsPerActorCpuSecond: number;
  holdConfirmPairsPerSecond: number;
  seatsSold: number;
  commands: number;
  seconds: number;
  clients: number;
  commits: number;
  commandsPerCommit: number;
  activationMs: number;
}

async function throwawayDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = process.env.TEST_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `tf_bench_actor_${Date.now().toString(36)}`;
  const c = new Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const d = new Client({ connectionString: admin });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    },
  };
}

export async function runActorBench(options: ActorBenchOptions = {}): Promise<ActorBenchResult> {
  const holds = options.holds ?? 20_000;
  const clients = options.clients ?? 1024;
  const temp = options.databaseUrl ? undefined : await throwawayDatabase();
  const knex: Knex = knexFactory({ client: "pg", connection: options.databaseUrl ?? temp!.url, pool: { min: 1, max: 4 } });
  try {
    await migrate(knex);
    // 400 x 250 = 100,000 seats: enough that the run never sells out.
    const session = await createSession(knex, { layout: gridLayout(400, 250), maxPerCustomer: 10 });
    // One seat_commit call per batch.
    let commits = 0;
    knex.on("query", (q: { sql?: string }) => {
      if (q.sql?.startsWith("SELECT seat_commit")) commits++;
    });
    const t0 = performance.now();
    const actor = (await SessionActor.activate({ knex, nodeID: "bench", sessionId: session.sessionId }))!;
    const activationMs = performance.now() - t0;

    let next = 0;
    let seatCursor = 0;
    let commands = 0;
    let seatsSold = 0;
    const ids = session.seatIds;
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < holds) {
          next++;
          const k = 1 + (next % 4);
          const seats = ids.slice(seatCursor, seatCursor + k);
          seatCursor += k;
          const holdId = randomUUID();
          const hold = await actor.hold({ userId: randomUUID(), seats }, holdId);
          await actor.confirm(hold.holdId, randomUUID());
          commands += 2;
          seatsSold += seats.length;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    await actor.passivate("bench done");
    return {
      source: "bench/actor.ts (SessionActor + PostgreSQL group commit, no HTTP)",
      commandsPerSecond: Math.round(commands / seconds),
      commandsPerActorCpuSecond: Math.round(commands / cpuSeconds),
      holdConfirmPairsPerSecond: Math.round(commands / 2 / seconds),
      seatsSold,
      commands,
      seconds: Math.round(seconds * 100) / 100,
      clients,
      commits,
      commandsPerCommit: Math.round((commands / Math.max(1, commits)) * 10) / 10,
      activationMs: Math.round(activationMs),
    };
  } finally {
    await knex.destroy();
    await temp?.drop();
  }
}

if (require.main === module) {
  const quick = process.argv.includes("--quick");
  runActorBench({ databaseUrl: process.env.DATABASE_URL || undefined, holds: quick ? 5_000 : 20_000 })
    .then((r) => process.stdout.write(JSON.stringify(r) + "\n"))
    .catch((err) => {
      process.stdout.write(JSON.stringify({ error: (err as Error).message }) + "\n");
      process.exit(1);
    });
}
