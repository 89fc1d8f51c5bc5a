/**
 * Broker-level test harness: a real TicketFlash node (the same createNode as `npm start`) on an
 * in-memory embedded database, or on a fresh PostgreSQL database when TEST_DATABASE_URL is set.
 * `http` is a tiny JSON client for the gateway when the node runs `api`.
 */
import { AddressInfo } from "net";
import type { ServiceSchema } from "moleculer";
import { loadConfig } from "../../src/platform/config";
import { createNode, NodeHandle } from "../../src/platform/node";
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
  const env = { DATA_DIR: "memory", LOG_LEVEL: "warn", PORT: "0", SEED_DEMO: "0", ...opts.env };
  const config = loadConfig({ ...env } as NodeJS.ProcessEnv, opts.services ?? []);
  const node = createNode(config, { logger: env.LOG_LEVEL === "silent" ? false : undefined });
  await node.platform.db();
  if (opts.seed) await runSeeds(node.platform, node.broker.logger);
  for (const schema of opts.schemas ?? []) node.broker.createService(schema);
  await node.broker.start();
  const api = node.broker.getLocalService("api") as unknown as { server?: { address(): AddressInfo } } | undefined;
  const port = api?.server?.address().port;
  const baseUrl = port ? `http://127.0.0.1:${port}` : "";
  return { ...node, baseUrl, http: new HttpClient(baseUrl) };
}

export interface HttpResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export class HttpClient {
  constructor(readonly baseUrl: string, private token?: string) {}

  as(token: string | undefined): HttpClient {
    return new HttpClient(this.baseUrl, token);
  }

  async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === "string" ? body : JSON.stringify(body);
      h["content-type"] = h["content-type"] ?? "application/json";
    }
    const res = await fetch(this.baseUrl + path, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep text */
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }

  get<T = any>(path: string, headers?: Record<string, string>) {
    return this.request<T>("GET", path, undefined, headers);
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
