/**
 * One SQL code path: knex over the ordinary `pg` driver, against either a PostgreSQL server
 * (cluster mode, DATABASE_URL) or PGlite embedded in this process, on a worker thread of its own
 * that the driver reaches through the worker's message port (embedded mode). PGlite has one
 * session: a transaction there holds up every other statement until it ends, so keep
 * transactions short, and never wait inside one for a statement outside it.
 */
import fs from "fs";
import path from "path";
import { Duplex } from "stream";
import { Worker } from "worker_threads";
import knexFactory, { Knex } from "knex";
import type { Config } from "./config";

export interface Database {
  knex: Knex;
  /** "postgres" for a server, "pglite" when embedded. */
  kind: "postgres" | "pglite";
  close(): Promise<void>;
}

/**
 * Connections to the embedded database (all over its one session). More than one lets statements
 * of different callers wait on the PGlite thread, which runs the next as soon as one ends,
 * instead of in the pool for this thread's event loop to hand a single connection on.
 */
const EMBEDDED_CONNECTIONS = 32;

const MIGRATIONS_DIR = path.resolve(__dirname, "../../migrations");

// pg returns BIGINT (int8) and NUMERIC as strings by default; our counters fit in JS numbers.
import pg from "pg";
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

/**
 * The `pg` driver's socket to the embedded database: what the driver writes in one go (a
 * statement's Parse/Bind/Describe/Execute/Sync) is posted to the PGlite thread as one message
 * at the end of the tick, and its answer is pushed back as if read from a socket.
 */
class WorkerWire extends Duplex {
  private pending: Buffer[] = [];
  private flushing = false;
  private shutDown = false;

  constructor(
    private worker: Worker,
    readonly conn: number,
    private forget: (conn: number) => void,
  ) {
    super();
  }

  // What pg.Connection calls on a socket.
  connect() {
    setImmediate(() => this.emit("connect"));
    return this;
  }
  setNoDelay() {
    return this;
  }
  setKeepAlive() {
    return this;
  }
  ref() {
    return this;
  }
  unref() {
    return this;
  }

  _read() {}

  _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void) {
    this.pending.push(chunk);
    if (!this.flushing) {
      this.flushing = true;
      queueMicrotask(() => this.flush());
    }
    done();
  }

  private flush() {
    this.flushing = false;
    const chunks = this.pending;
    this.pending = [];
    if (this.shutDown || !chunks.length) return;
    const size = chunks.reduce((n, c) => n + c.length, 0);
    const data = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      data.set(c, at);
      at += c.length;
    }
    this.worker.postMessage({ type: "wire", conn: this.conn, data }, [data.buffer]);
  }

  /** An answer from the PGlite thread. */
  receive(data: Uint8Array) {
    if (!this.shutDown) this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  _final(done: (err?: Error | null) => void) {
    this.flush();
    this.shut();
    done();
  }

  _destroy(err: Error | null, done: (err?: Error | null) => void) {
    this.shut();
    done(err);
  }

  private shut() {
    if (this.shutDown) return;
    this.shutDown = true;
    this.forget(this.conn);
    this.worker.postMessage({ type: "close", conn: this.conn });
    this.push(null);
    setImmediate(() => this.emit("close"));
  }
}

/**
 * Starts PGlite on a worker thread (src/platform/pglite-worker.mjs) and answers a factory of
 * driver sockets to it. Stopping closes the database cleanly (its files stay consistent).
 */
async function startPglite(dataDir: string, opts: { waitLimitMs?: number; maintenanceMs?: number; replanAfter?: number }): Promise<{ stream: () => WorkerWire; stop: () => Promise<void> }> {
  // No execArgv: the worker needs neither the TypeScript loader nor a bench's preloads.
  const worker = new Worker(path.resolve(__dirname, "pglite-worker.mjs"), { workerData: { dataDir, ...opts }, execArgv: [] });
  await new Promise<void>((resolve, reject) => {
    worker.once("message", (m: { type: string; message?: string }) =>
      m.type === "ready" ? resolve() : reject(new Error(`embedded PostgreSQL did not start: ${m.message ?? m.type}`)),
    );
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`embedded PostgreSQL thread exited (${code}) while starting`)));
  });
  const wires = new Map<number, WorkerWire>();
  let nextConn = 1;
  worker.on("message", (m: { type: string; conn?: number; data?: Uint8Array; message?: string }) => {
    const wire = m.conn === undefined ? undefined : wires.get(m.conn);
    if (m.type === "wire" && wire && m.data) wire.receive(m.data);
    else if (m.type === "failed" && wire) wire.destroy(new Error(`embedded PostgreSQL: ${m.message}`));
  });
  // If the thread dies, every connection fails at once (and new ones at their first write)
  // instead of waiting for answers that will never come.
  let dead: Error | undefined;
  const die = (err: Error) => {
    dead ??= err;
    for (const wire of wires.values()) wire.destroy(dead);
  };
  worker.on("error", (err) => {
    console.error("embedded PostgreSQL thread failed:", err);
    die(err);
  });
  worker.on("exit", (code) => die(new Error(`embedded PostgreSQL thread exited (${code})`)));
  return {
    stream: () => {
      const wire = new WorkerWire(worker, nextConn++, (conn) => wires.delete(conn));
      if (dead) setImmediate(() => wire.destroy(dead));
      else wires.set(wire.conn, wire);
      return wire;
    },
    stop: async () => {
      const stopped = new Promise<void>((resolve) => {
        worker.on("message", (m: { type: string }) => m.type === "stopped" && resolve());
        worker.once("exit", () => resolve());
      });
      worker.postMessage({ type: "stop" });
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 15_000).unref())]);
      await worker.terminate();
    },
  };
}

/**
 * Diagnostics (TF_QUERY_STATS=<file>): every 2 s, writes each statement's count and total time
 * on its connection, largest first. How the bench found what the saga spends its queries on.
 */
function recordQueryStats(knex: Knex, file: string): void {
  const stats = new Map<string, { count: number; ms: number }>();
  const started = new Map<string, { sql: string; at: number }>();
  knex.on("query", (q: { sql: string; __knexQueryUid: string }) => started.set(q.__knexQueryUid, { sql: q.sql.slice(0, 200), at: performance.now() }));
  knex.on("query-response", (_r: unknown, q: { __knexQueryUid: string }) => {
    const s = started.get(q.__knexQueryUid);
    if (!s) return;
    started.delete(q.__knexQueryUid);
    const e = stats.get(s.sql) ?? { count: 0, ms: 0 };
    e.count++;
    e.ms += performance.now() - s.at;
    stats.set(s.sql, e);
  });
  knex.on("query-error", (_e: unknown, q: { __knexQueryUid: string }) => started.delete(q.__knexQueryUid));
  setInterval(() => {
    const rows = [...stats].map(([sql, e]) => ({ sql, count: e.count, ms: Math.round(e.ms) })).sort((a, b) => b.ms - a.ms);
    fs.writeFileSync(file, JSON.stringify(rows, null, 1));
  }, 2000).unref();
}

export interface OpenOptions {
  /** Connections in the pool (a PostgreSQL server; default 10). */
  pool?: number;
  /** A PostgreSQL server: how long a statement may go without an answer (default: the config's; 0: no bound). */
  queryTimeoutMs?: number;
  /** Embedded: how long a statement may wait behind another connection's transaction (default 60 s). */
  embeddedWaitLimitMs?: number;
  /** Embedded: how often the PGlite thread vacuums its tables while in use (default 60 s; PGlite has no autovacuum). */
  embeddedMaintenanceMs?: number;
  /** Embedded: statements run before cached plans are first dropped, then twice as many, and so on (default 1,000). */
  embeddedReplanAfter?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;

type PgClientClass = new (config: Knex.Config) => { _query(connection: PgConnection, obj: unknown): Promise<unknown> };
interface PgConnection {
  connection?: { stream?: { destroy(err?: Error): void } };
}

/**
 * knex's PostgreSQL client with a bound on how long a statement may go without an answer. When a
 * failover leaves connections open to a server that vanished, they get no byte and no reset, and
 * TCP gives up on them only after about 15 minutes: a seat actor's commit waited on one that long,
 * and its session sold nothing (test/cluster/outage.test.ts). At the bound the connection's socket
 * is destroyed: pg fails what was sent on it (the outage middleware answers 503), knex drops the
 * connection, and the next statement gets a new one. pg's own query_timeout is no help here: it
 * fails the statement but leaves the connection stuck behind it.
 */
function boundedPgClient(timeoutMs: number): PgClientClass {
  const ClientPG = require("knex/lib/dialects/postgres") as PgClientClass;
  return class BoundedPgClient extends ClientPG {
    _query(connection: PgConnection, obj: unknown): Promise<unknown> {
      const timer = setTimeout(() => {
        const err = Object.assign(new Error(`PostgreSQL did not answer a statement in ${timeoutMs} ms; its connection is dropped`), { code: "ETIMEDOUT" });
        connection.connection?.stream?.destroy(err);
      }, timeoutMs);
      return super._query(connection, obj).finally(() => clearTimeout(timer));
    }
  };
}

export async function openDatabase(config: Config, opts: OpenOptions = {}): Promise<Database> {
  if (config.databaseUrl) {
    const queryTimeoutMs = opts.queryTimeoutMs ?? config.databaseQueryTimeoutMs;
    const knex = knexFactory({
      client: queryTimeoutMs > 0 ? (boundedPgClient(queryTimeoutMs) as unknown as typeof Knex.Client) : "pg",
      // A server that does not answer the connect (a failed-over host gone) is given up on.
      connection: { connectionString: config.databaseUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS },
      pool: { min: 0, max: opts.pool ?? 10 },
    });
    if (process.env.TF_QUERY_STATS) recordQueryStats(knex, process.env.TF_QUERY_STATS);
    return { knex, kind: "postgres", close: () => knex.destroy() };
  }
  const embedded = await startPglite(config.dataDir, { waitLimitMs: opts.embeddedWaitLimitMs, maintenanceMs: opts.embeddedMaintenanceMs, replanAfter: opts.embeddedReplanAfter });
  const knex = knexFactory({
    client: "pg",
    // A function, so that knex does not copy the settings (and the stream factory with them).
    connection: () => ({ user: "postgres", database: "postgres", stream: embedded.stream }),
    // Several connections, one session: the PGlite thread runs their statements back to back and
    // keeps a transaction to the connection that opened it (src/platform/pglite-worker.mjs).
    pool: { min: EMBEDDED_CONNECTIONS, max: EMBEDDED_CONNECTIONS },
    acquireConnectionTimeout: 60000,
  });
  if (process.env.TF_QUERY_STATS) recordQueryStats(knex, process.env.TF_QUERY_STATS);
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
