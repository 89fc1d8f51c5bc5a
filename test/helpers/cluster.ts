/**
 * A real TicketFlash cluster for tests: each node is its own OS process (`src/platform/main.ts`,
 * exactly what `npm run node -- <services>` runs), talking over NATS, on a fresh PostgreSQL
 * database, with Redis. Nodes can be SIGKILLed and started again.
 */
import { ChildProcess, spawn } from "child_process";
import path from "path";
import { HttpClient } from "./node";
import { expandServices, loadServiceSchema } from "../../src/platform/node";
import { createTestDatabase, freePort, NATS_URL, randomSuffix, REDIS_URL, sharedSecretsEnv, TestDatabase, waitFor } from "./infra";

const ROOT = path.resolve(__dirname, "../..");
// Run node itself with tsx's loader (not the tsx wrapper): a SIGKILL must hit the real node process.
const NODE_ARGS = ["--import", "tsx", "src/platform/main.ts"];

export interface ClusterNodeSpec {
  name: string;
  services: string[];
  env?: Record<string, string>;
}

export class ClusterNode {
  process?: ChildProcess;
  port?: number;
  readonly nodeID: string;
  private output: string[] = [];
  private generation = 0;

  constructor(readonly spec: ClusterNodeSpec, private baseEnv: Record<string, string>, namespaceSuffix: string) {
    this.nodeID = `${spec.name}-${namespaceSuffix}`;
  }

  get hasApi(): boolean {
    return this.spec.services.includes("api");
  }

  get baseUrl(): string {
    return this.port ? `http://127.0.0.1:${this.port}` : "";
  }

  get http(): HttpClient {
    return new HttpClient(this.baseUrl);
  }

  get running(): boolean {
    return !!this.process && this.process.exitCode === null && this.process.signalCode === null;
  }

  logs(): string {
    return this.output.join("");
  }

  /** Starts the process and resolves once the node reports it is up (and /ready answers, for api nodes). */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.hasApi && !this.port) this.port = await freePort();
    const generation = ++this.generation;
    const env = {
      ...process.env,
      ...this.baseEnv,
      ...this.spec.env,
      NODE_ID: this.nodeID,
      NODE_OPTIONS: "",
      ...(this.port ? { PORT: String(this.port) } : {}),
    };
    const child = spawn(process.execPath, [...NODE_ARGS, ...this.spec.services], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe", "ipc"] });
    this.process = child;
    const up = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        this.output.push(text);
        if (this.output.length > 2000) this.output.splice(0, 1000);
      };
      child.on("message", (msg: { type?: string }) => msg?.type === "up" && resolve());
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("exit", (code, signal) => {
        if (generation === this.generation) reject(new Error(`node ${this.spec.name} exited (${code ?? signal}) while starting:\n${this.logs().slice(-3000)}`));
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`node ${this.spec.name} did not start in 60 s:\n${this.logs().slice(-3000)}`)), 60_000)));
    try {
      await Promise.race([up, late]);
    } finally {
      clearTimeout(timer);
    }
    if (this.hasApi) await waitFor(`${this.spec.name} /ready`, async () => (await this.http.get("/ready")).status === 200, 30_000);
  }

  /** SIGKILL by default: the node gets no chance to clean up, like a crashed machine. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.process;
    if (!child || !this.running) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 15_000)))]);
    clearTimeout(timer);
    if (this.running) {
      child.kill("SIGKILL");
      await exited;
    }
  }

  /** Graceful stop (SIGTERM), as an operator's rolling restart would do. */
  stop(): Promise<void> {
    return this.kill("SIGTERM");
  }
}

/** The services among `names` (groups expanded) that publish REST routes. */
function restServices(names: string[]): string[] {
  return expandServices(names).filter((name) => {
    if (name === "api") return false;
    const actions = (loadServiceSchema(name).actions ?? {}) as Record<string, unknown>;
    return Object.values(actions).some((a) => !!a && typeof a === "object" && "rest" in (a as object));
  });
}

/** Waits until a gateway serves the routes of every given service (discovery takes a moment). */
async function routesServed(node: ClusterNode, services: string[]): Promise<void> {
  await waitFor(`${node.spec.name} serving routes of ${services.join(", ")}`, async () => {
    const spec = await node.http.get("/api/openapi.json");
    const tags = new Set<string>();
    for (const ops of Object.values((spec.body?.paths ?? {}) as Record<string, Record<string, { tags?: string[] }>>)) {
      for (const op of Object.values(ops)) for (const t of op.tags ?? []) tags.add(t);
    }
    return services.every((s) => tags.has(s));
  }, 30_000, 200);
}

export interface Cluster {
  database: TestDatabase;
  namespace: string;
  env: Record<string, string>;
  nodes: ClusterNode[];
  node(name: string): ClusterNode;
  /** The first running node with the gateway. */
  api(): ClusterNode;
  add(spec: ClusterNodeSpec): Promise<ClusterNode>;
  stop(): Promise<void>;
}

/** `env` may depend on the test database made for the cluster (to reach it through a proxy, say). */
export async function startCluster(opts: { nodes: ClusterNodeSpec[]; env?: Record<string, string> | ((database: TestDatabase) => Record<string, string>) }): Promise<Cluster> {
  const database = await createTestDatabase(`tf_cluster_${process.env.TF_TEST_RUN ?? "x"}`);
  const suffix = randomSuffix();
  const namespace = `tf-test-${process.env.TF_TEST_RUN ?? "x"}-${suffix}`;
  const env: Record<string, string> = {
    TRANSPORTER: NATS_URL,
    DATABASE_URL: database.url,
    REDIS_URL,
    NAMESPACE: namespace,
    LOG_LEVEL: "warn",
    SEED_DEMO: "0",
    ADMIN_EMAIL: "admin@cluster.test",
    ADMIN_PASSWORD: "cluster-admin-password",
    RATE_LIMIT_PER_MINUTE: "100000",
    ...sharedSecretsEnv(),
    ...(typeof opts.env === "function" ? opts.env(database) : opts.env),
  };
  const nodes: ClusterNode[] = [];
  const cluster: Cluster = {
    database,
    namespace,
    env,
    nodes,
    node(name) {
      const n = nodes.find((x) => x.spec.name === name);
      if (!n) throw new Error(`no node ${name}`);
      return n;
    },
    api() {
      const n = nodes.find((x) => x.hasApi && x.running);
      if (!n) throw new Error("no running api node");
      return n;
    },
    async add(spec) {
      const node = new ClusterNode(spec, env, suffix);
      nodes.push(node);
      await node.start();
      return node;
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.kill("SIGTERM")));
      await database.drop().catch(() => undefined);
    },
  };
  try {
    // The first node migrates and seeds; the rest start together.
    const [first, ...rest] = opts.nodes;
    if (first) await cluster.add(first);
    await Promise.all(rest.map((spec) => cluster.add(spec)));
    const expected = restServices(opts.nodes.flatMap((n) => n.services));
    await Promise.all(nodes.filter((n) => n.hasApi).map((n) => routesServed(n, expected)));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
