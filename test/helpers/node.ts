/**
 * Broker-level test harness: a real TicketFlash node (the same createNode as `npm start`) on an
 * in-memory embedded database, or (TEST_CLUSTER=1) on NATS + a fresh PostgreSQL database + Redis
 * with a peer broker.
 * `http` is a tiny JSON client for the gateway when the node runs `api`.
 */
import http from "http";
import { AddressInfo } from "net";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import { loadConfig } from "../../src/platform/config";
import { availableServices, createNode, NodeHandle } from "../../src/platform/node";
import { createTestDatabase, NATS_URL, randomSuffix, REDIS_URL, sharedSecretsEnv } from "./infra";
import { runSeeds } from "../../src/platform/seed";

export interface TestNode extends NodeHandle {
  baseUrl: string;
  http: HttpClient;
}

export interface StartOptions {
  services?: string[];
  env?: Record<string, string>;
  /** Run the seeds in src/seed (admin account; demo data when SEED_DEMO=1). */
  seed?: boolean;
  /** Extra service schemas started with the node (test fixtures, e.g. a route with given auth/roles). */
  schemas?: ServiceSchema[];
}

export async function startTestNode(opts: StartOptions = {}): Promise<TestNode> {
  let env: Record<string, string> = { DATA_DIR: "memory", LOG_LEVEL: "warn", PORT: "0", SEED_DEMO: "0", ...opts.env };
  let peer: NodeHandle | undefined;
  let release: () => Promise<void> = async () => undefined;
  if (process.env.TEST_CLUSTER === "1") ({ env, release } = await clusterEnv(env));

  const config = loadConfig({ ...env } as NodeJS.ProcessEnv, opts.services ?? []);
  const node = createNode(config, { logger: env.LOG_LEVEL === "silent" ? false : undefined });
  await node.platform.db();
  if (opts.seed) await runSeeds(node.platform, node.broker.logger);
  for (const schema of opts.schemas ?? []) node.broker.createService(schema);

  if (process.env.TEST_CLUSTER === "1") {
    // A second broker in the same namespace runs another instance of every backend service, so
    // calls, channel deliveries and events really cross brokers over NATS.
    const backend = node.broker.services.map((s) => s.name).filter((n) => n !== "api" && availableServices().includes(n));
    if (backend.length) {
      peer = createNode(loadConfig({ ...env, NODE_ID: `${config.nodeID}-peer`, PORT: "0" } as NodeJS.ProcessEnv, backend), {
        logger: env.LOG_LEVEL === "silent" ? false : undefined,
      });
      await peer.broker.start();
    }
  }
  await node.broker.start();
  if (peer) await node.broker.waitForServices(peer.broker.services.map((s) => s.name), 30_000);
  await routesBuilt(node.broker);
  const api = node.broker.getLocalService("api") as unknown as { server?: { address(): AddressInfo } } | undefined;
  const port = api?.server?.address().port;
  const baseUrl = port ? `http://127.0.0.1:${port}` : "";
  return {
    ...node,
    baseUrl,
    http: new HttpClient(baseUrl),
    async stop() {
      await peer?.stop();
      await node.stop();
      await release();
    },
  };
}

/**
 * moleculer-web builds the generated routes shortly after services appear; a test must not meet
 * the 404s of that moment. Waits until every published `rest` of every visible service has a route.
 */
async function routesBuilt(broker: ServiceBroker): Promise<void> {
  const api = broker.getLocalService("api") as unknown as { aliases?: Array<{ _generated?: boolean }> } | undefined;
  if (!api) return;
  type Svc = { name: string; actions?: Record<string, { rest?: unknown; visibility?: string }> };
  const expected = () => {
    const seen = new Set<string>();
    let n = 0;
    for (const svc of broker.registry.getServiceList({ withActions: true, grouping: true }) as Svc[]) {
      if (seen.has(svc.name) || svc.name === "api") continue;
      seen.add(svc.name);
      for (const action of Object.values(svc.actions ?? {})) {
        if (!action.rest || (action.visibility && action.visibility !== "published")) continue;
        n += Array.isArray(action.rest) ? action.rest.length : 1;
      }
    }
    return n;
  };
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (api.aliases ?? []).filter((a) => a._generated).length < expected()) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Cluster mode (`npm run test:cluster` sets TEST_CLUSTER=1): the same tests on NATS, a PostgreSQL
 * server and Redis. A test that restarts a node on the same DATA_DIR (or passes DATABASE_URL)
 * gets the same database again; each run's databases are dropped by the cluster teardown.
 */
const databasesByDataDir = new Map<string, string>();
let sharedKeys: Record<string, string> | undefined;

async function clusterEnv(env: Record<string, string>): Promise<{ env: Record<string, string>; release: () => Promise<void> }> {
  let databaseUrl: string | undefined = env.DATABASE_URL;
  if (!databaseUrl) {
    const dir = env.DATA_DIR !== "memory" ? env.DATA_DIR : undefined;
    databaseUrl = dir ? databasesByDataDir.get(dir) : undefined;
    if (!databaseUrl) {
      databaseUrl = (await createTestDatabase(`tf_it_${process.env.TF_TEST_RUN ?? "x"}`)).url;
      if (dir) databasesByDataDir.set(dir, databaseUrl);
    }
  }
  sharedKeys ??= sharedSecretsEnv();
  const suffix = randomSuffix();
  return {
    env: {
      ...sharedKeys,
      ...env,
      DATABASE_URL: databaseUrl,
      TRANSPORTER: env.TRANSPORTER ?? NATS_URL,
      REDIS_URL: env.REDIS_URL ?? REDIS_URL,
      NAMESPACE: env.NAMESPACE ?? `tf-it-${process.env.TF_TEST_RUN ?? "x"}-${suffix}`,
      NODE_ID: env.NODE_ID ?? `it-${suffix}`,
    },
    release: async () => undefined,
  };
}

export interface HttpResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export class HttpClient {
  constructor(readonly baseUrl: string, private token?: string, private localAddress?: string) {}

  as(token: string | undefined): HttpClient {
    return new HttpClient(this.baseUrl, token, this.localAddress);
  }

  /**
   * The same client sending from `address`, a loopback address of its own (Linux routes all of
   * 127/8 to `lo`): routes limited per address (POST /api/orders: 60 a minute) see another client.
   */
  from(address: string): HttpClient {
    return new HttpClient(this.baseUrl, this.token, address);
  }

  async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === "string" ? body : JSON.stringify(body);
      h["content-type"] = h["content-type"] ?? "application/json";
    }
    const res = this.localAddress ? await this.send(method, path, h, payload, this.localAddress) : await fetch(this.baseUrl + path, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep text */
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }

  /** fetch cannot choose the source address; this is the part of its answer that `request` reads. */
  private send(method: string, path: string, headers: Record<string, string>, payload: string | undefined, localAddress: string) {
    return new Promise<{ status: number; headers: Headers; text(): Promise<string> }>((resolve, reject) => {
      const req = http.request(this.baseUrl + path, { method, headers, localAddress, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const h = new Headers();
          for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) h.set(name, Array.isArray(value) ? value.join(", ") : value);
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: h, text: async () => text });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(payload);
    });
  }

  get<T = any>(path: string, headers?: Record<string, string>) {
    return this.request<T>("GET", path, undefined, headers);
  }
  /** A GET's bytes as the server sent them: fetch would decompress a gzip body transparently. */
  raw(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = http.get(this.baseUrl + path, { headers: { ...headers, ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("error", reject);
    });
  }
  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request<T>("POST", path, body ?? {}, headers);
  }
  put<T = any>(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request<T>("PUT", path, body ?? {}, headers);
  }
  delete<T = any>(path: string, headers?: Record<string, string>) {
    return this.request<T>("DELETE", path, undefined, headers);
  }
}
