/**
 * Starts TicketFlash itself for a scenario, the way an operator would, in child processes:
 * - embedded: one `src/platform/main.ts` with a temp DATA_DIR (PGlite) and a free PORT;
 *   with `pg` the same single node uses a fresh PostgreSQL database instead (no transporter);
 * - cluster: three nodes, every service on each, over NATS, a fresh PostgreSQL database
 *   `tf_bench_<random>` (dropped afterwards) and Redis.
 * Correctness queries read the node's own database: live over `pg` when it is a server, or, for
 * PGlite (in the node's process, owned by it), by opening its data directory after the node
 * has stopped.
 */
import crypto from "crypto";
import fs from "fs";
import path from "path";
import { Client } from "pg";
import { Child, freePort, ROOT } from "./proc";
import { sleep } from "./stats";
import { NODE_FLAGS } from "../../src/platform/node-flags";

export const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const NATS_URL = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

export interface PlatformOptions {
  name: string;
  cluster: boolean;
  /** Embedded node on a real PostgreSQL database (live correctness queries). */
  pg: boolean;
  tmpDir: string;
  /** Directory for the CPU profiles of each node's load phases, when profiling (bench/lib/gc-probe.cjs). */
  cpuProfDir?: string;
  env?: Record<string, string>;
}

export interface BenchNode {
  name: string;
  child: Child;
  baseUrl: string;
}

export type Query = (sql: string, params?: unknown[]) => Promise<Array<Record<string, any>>>;

export class BenchPlatform {
  readonly nodes: BenchNode[] = [];
  readonly jwtSecret = crypto.randomBytes(32).toString("base64url");
  readonly adminEmail = `bench-admin-${crypto.randomBytes(3).toString("hex")}@ticketflash.test`;
  readonly adminPassword = crypto.randomBytes(12).toString("base64url");
  databaseUrl?: string;
  private dbName?: string;
  dataDir?: string;

  private constructor(readonly opts: PlatformOptions) {}

  static async start(opts: PlatformOptions): Promise<BenchPlatform> {
    const p = new BenchPlatform(opts);
    try {
      await p.boot();
    } catch (err) {
      await p.stop().catch(() => undefined);
      throw err;
    }
    return p;
  }

  get baseUrls(): string[] {
    return this.nodes.map((n) => n.baseUrl);
  }

  get live(): boolean {
    return !!this.databaseUrl;
  }

  private async boot() {
    const { opts } = this;
    fs.mkdirSync(path.join(opts.tmpDir, "logs"), { recursive: true });
    const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519");
    const env: Record<string, string> = {
      JWT_SECRET: this.jwtSecret,
      TICKET_PRIVATE_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      TICKET_PUBLIC_KEY: publicKey.export({ type: "spki", format: "pem" }).toString(),
      ADMIN_EMAIL: this.adminEmail,
      ADMIN_PASSWORD: this.adminPassword,
      // The bench is one client hammering from one address; the per-client limit would measure itself.
      RATE_LIMIT_PER_MINUTE: "100000000",
      // Hand-built layouts of 100,000 seats exceed the default body limit.
      BODY_LIMIT: "64mb",
      SEED_DEMO: "0",
      // Idle seat actors passivate after seconds instead of 5 minutes, so one run can watch it happen (bench/run.ts sets it).
      SEATS_IDLE_SECONDS: "10",
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
      NODE_ENV: "production",
      ...(process.env.TF_QUERY_STATS ? { TF_QUERY_STATS: process.env.TF_QUERY_STATS } : {}),
      ...opts.env,
    };
    if (opts.cluster || opts.pg) {
      this.dbName = `tf_bench_${crypto.randomBytes(4).toString("hex")}`;
      const admin = new Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${this.dbName}`);
      await admin.end();
      const url = new URL(PG_ADMIN_URL);
      url.pathname = `/${this.dbName}`;
      this.databaseUrl = url.toString();
      env.DATABASE_URL = this.databaseUrl;
    }
    const count = opts.cluster ? 3 : 1;
    if (opts.cluster) {
      env.TRANSPORTER = NATS_URL;
      env.REDIS_URL = REDIS_URL;
      env.NAMESPACE = `tfbench${crypto.randomBytes(3).toString("hex")}`;
    }
    // The data dir holds secrets.json (and PGlite's files when embedded).
    this.dataDir = path.join(opts.tmpDir, `data-${opts.name}`);
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const name = count === 1 ? `${opts.name}-node` : `${opts.name}-node${i + 1}`;
      this.specs.push({ name, env: { ...env, BENCH_MEMORY_FILE: path.join(opts.tmpDir, `memory-${name}.json`), TF_ORDER_TIMING: path.join(opts.tmpDir, `order-timing-${name}.jsonl`), PORT: String(port), NODE_ID: name, DATA_DIR: count === 1 ? this.dataDir : `${this.dataDir}-${i + 1}` }, baseUrl: `http://127.0.0.1:${port}` });
    }
    await this.startNodes();
  }

  private readonly specs: Array<{ name: string; env: Record<string, string>; baseUrl: string }> = [];
  private starts = 0;

  /** Spawns every node; the first migrates and seeds alone, the others then start together. */
  private async startNodes() {
    const logDir = path.join(this.opts.tmpDir, "logs");
    this.nodes.length = 0;
    const round = ++this.starts;
    for (let i = 0; i < this.specs.length; i++) {
      const spec = this.specs[i];
      const profName = `${spec.name}-${round}`;
      // The platform's own flags first; TF_BENCH_NODE_FLAGS after them, so that it can override them.
      const nodeFlags = ["--expose-gc", ...NODE_FLAGS, ...(process.env.TF_BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean), "--require", path.join(__dirname, "gc-probe.cjs")];
      // gc-probe.cjs profiles between two SIGWINCH (see profileLoad), one directory per node lifetime.
      const env = this.opts.cpuProfDir ? { ...spec.env, BENCH_PROFILE_DIR: path.join(this.opts.cpuProfDir, profName) } : spec.env;
      const child = new Child({ name: spec.name, script: path.join(ROOT, "src/platform/main.ts"), logDir, nodeFlags, env });
      this.nodes.push({ name: spec.name, child, baseUrl: spec.baseUrl });
      if (i === 0 || i === this.specs.length - 1) await Promise.all(this.nodes.map((n) => waitReady(n)));
    }
  }

  /** Stops the nodes and starts them again on the same data and ports. */
  async restart(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.child.stop()));
    await this.startNodes();
  }

  /** Memory of node `i` right after a full garbage collection (see gc-probe.cjs). */
  async memoryAfterGc(i = 0): Promise<NodeJS.MemoryUsage | undefined> {
    const node = this.nodes[i];
    const file = this.specs[i].env.BENCH_MEMORY_FILE;
    fs.rmSync(file, { force: true });
    node.child.proc.kill("SIGUSR2");
    for (let t = 0; t < 100; t++) {
      await sleep(100);
      if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, "utf8")) as NodeJS.MemoryUsage;
    }
    return undefined;
  }

  /** Each node's TF_ORDER_TIMING file (src/platform/order-timing.ts), written every second. */
  orderTimingFiles(): string[] {
    return this.specs.map((s) => s.env.TF_ORDER_TIMING);
  }

  /** Prometheus text of one node. */
  async metrics(i = 0): Promise<string> {
    const res = await fetch(`${this.nodes[i].baseUrl}/metrics`);
    return res.text();
  }

  /** SIGTERM every node (they stop their services and close the database). */
  async stopNodes(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.child.stop()));
  }

  /** Stops the nodes, then drops the bench database. */
  async stop(): Promise<void> {
    await this.stopNodes();
    if (this.dbName) {
      const admin = new Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${this.dbName} WITH (FORCE)`).catch(() => admin.query(`DROP DATABASE IF EXISTS ${this.dbName}`));
      await admin.end();
      this.dbName = undefined;
    }
  }

  /**
   * Runs `fn` with a query function on the platform's database: live over pg when it is a server,
   * otherwise (PGlite) only once the node has stopped, by opening its data directory here.
   */
  async withDatabase<T>(fn: (q: Query) => Promise<T>): Promise<T> {
    if (this.databaseUrl) {
      const client = new Client({ connectionString: this.databaseUrl });
      await client.connect();
      try {
        return await fn(async (sql, params) => (await client.query(sql, params as unknown[])).rows);
      } finally {
        await client.end();
      }
    }
    if (this.nodes.some((n) => n.child.running)) throw new Error("PGlite belongs to the running node: stop it first");
    const { PGlite } = await import("@electric-sql/pglite");
    const db = await PGlite.create({ dataDir: path.join(this.dataDir!, "pg") });
    try {
      return await fn(async (sql, params) => (await db.query<Record<string, any>>(sql, params as unknown[])).rows);
    } finally {
      await db.close();
    }
  }
}

async function waitReady(node: BenchNode, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  let readySince = 0;
  while (Date.now() < deadline) {
    if (!node.child.running) throw new Error(`${node.name} exited while starting:\n${node.child.lastLines()}`);
    try {
      const res = await fetch(`${node.baseUrl}/ready`);
      if (res.status === 200) {
        // The gateway builds its REST aliases a moment after the services start: wait for them
        // (the catalog's POST /api/venues answers 401 rather than 404 once routed).
        const probe = await fetch(`${node.baseUrl}/api/venues`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
        readySince ||= Date.now();
        // Without a catalog at all, give up waiting after 10 s: the scenarios then report "skipped".
        if (probe.status !== 404 || Date.now() - readySince > 10_000) return;
        last = "REST routes not registered yet";
      } else last = `${res.status} ${await res.text()}`;
      await sleep(250);
      continue;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`${node.name} not ready after ${timeoutMs} ms (${last}):\n${node.child.lastLines()}`);
}

/** A Prometheus sample value by metric name (first series), or undefined. */
export function metricValue(text: string, name: string): number | undefined {
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)`, "m");
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}
