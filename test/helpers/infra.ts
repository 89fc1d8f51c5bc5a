/**
 * The real servers cluster tests use (the machine's PostgreSQL, Redis, NATS on localhost).
 * Every run gets its own database and Moleculer namespace, so runs never see each other.
 */
import crypto from "crypto";
import net from "net";
import type { Knex } from "knex";
import { Client } from "pg";

export const PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const NATS_URL = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";
export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export function randomSuffix(): string {
  return crypto.randomBytes(4).toString("hex");
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = "tf_test"): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomSuffix()}`;
  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * Runs `during` while database `name` refuses connections, its open ones terminated (as a restart
 * or failover does to the platform's pools), and opens it again afterwards, whatever happened.
 */
export async function whileDatabaseClosed<T>(name: string, during: () => Promise<T>): Promise<T> {
  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
    return await during();
  } finally {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    await admin.end();
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Key material every node of one test cluster shares (as a real deployment's Secret would). */
export function sharedSecretsEnv(): Record<string, string> {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519");
  return {
    JWT_SECRET: crypto.randomBytes(32).toString("base64url"),
    TICKET_PRIVATE_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    TICKET_PUBLIC_KEY: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Rows of each table read so far by index or by scan, as PostgreSQL counts them
 * (`pg_stat_user_tables`): a test compares two readings to see what the work between them read.
 * The session's own counts are flushed to the view first.
 */
export async function rowsRead(db: Knex, tables: string[]): Promise<Record<string, number>> {
  await db.raw("SELECT pg_stat_force_next_flush()");
  const { rows } = await db.raw<{ rows: Array<{ relname: string; n: string }> }>(
    "SELECT relname, idx_tup_fetch + seq_tup_read AS n FROM pg_stat_user_tables WHERE relname = ANY(?)",
    [tables],
  );
  return Object.fromEntries(rows.map((r) => [r.relname, Number(r.n)]));
}
