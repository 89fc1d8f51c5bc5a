/**
 * One SQL code path: knex over the ordinary `pg` driver, against either a PostgreSQL server
 * (cluster mode, DATABASE_URL) or PGlite embedded in this process and served on a loopback port
 * by pglite-socket (embedded mode). PGlite is single-connection, so the embedded pool has one
 * connection: keep transactions short.
 */
import fs from "fs";
import path from "path";
import knexFactory, { Knex } from "knex";
import type { Config } from "./config";

export interface Database {
  knex: Knex;
  /** "postgres" for a server, "pglite" when embedded. */
  kind: "postgres" | "pglite";
  close(): Promise<void>;
}

const MIGRATIONS_DIR = path.resolve(__dirname, "../../migrations");

// pg returns BIGINT (int8) and NUMERIC as strings by default; our counters fit in JS numbers.
import pg from "pg";
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

async function startPglite(dataDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { PGLiteSocketServer } = await import("@electric-sql/pglite-socket");
  let dbPath: string | undefined;
  if (dataDir !== "memory") {
    dbPath = path.join(dataDir, "pg");
    fs.mkdirSync(dbPath, { recursive: true });
  }
  const db = await PGlite.create(dbPath ? { dataDir: dbPath } : {});
  const server = new PGLiteSocketServer({ db, port: 0, host: "127.0.0.1" });
  await server.start();
  const address = (server as unknown as { server?: { address(): { port: number } } }).server?.address();
  const port = address?.port;
  if (!port) throw new Error("pglite-socket did not report its port");
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}

export async function openDatabase(config: Config, opts: { pool?: number } = {}): Promise<Database> {
  if (config.databaseUrl) {
    const knex = knexFactory({
      client: "pg",
      connection: config.databaseUrl,
      pool: { min: 0, max: opts.pool ?? 10 },
    });
    return { knex, kind: "postgres", close: () => knex.destroy() };
  }
  const embedded = await startPglite(config.dataDir);
  const knex = knexFactory({
    client: "pg",
    connection: embedded.url,
    pool: { min: 1, max: 1 },
    acquireConnectionTimeout: 60000,
  });
  return {
    knex,
    kind: "pglite",
    close: async () => {
      await knex.destroy();
      await embedded.stop();
    },
  };
}

/** Applies migrations; several nodes starting at once wait for whoever holds knex's lock. */
export async function migrate(knex: Knex): Promise<void> {
  const config: Knex.MigratorConfig = { directory: MIGRATIONS_DIR, loadExtensions: [".ts"], tableName: "knex_migrations" };
  for (let attempt = 0; ; attempt++) {
    try {
      await knex.migrate.latest(config);
      return;
    } catch (err) {
      const message = (err as Error).message ?? "";
      const racing = /already locked|duplicate key|already exists/i.test(message);
      if (!racing || attempt > 50) throw err;
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 300));
    }
  }
}
