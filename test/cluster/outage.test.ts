/**
 * A sale through an outage of what the cluster depends on: the PostgreSQL database refusing
 * connections for a few seconds (its backends killed, as a restart or failover does), the NATS
 * server (transporter and JetStream channels) killed and started again 25 s later on its stored
 * data, Redis (the rate limits' counters) killed and started again empty, the database stalled
 * (a partition: no byte through, nothing closed) or its open connections stranded for good by a
 * failover, the same failover of NATS and of Redis; an operator's rolling restart of every node
 * behind the gateway, and a node replaced while the database is down. Buyers keep holding and
 * ordering through it, as browsers do: a 503 is waited out and the hold or order sent again with
 * its Idempotency-Key.
 *
 * The buyers may see 503 (with Retry-After) while it lasts, nothing else of the 5xx kind. Afterwards,
 * counted from the database: every acknowledged hold and order is stored, no other hold holds
 * seats, every order ends CONFIRMED with its tickets, no payment is left merely authorized,
 * nothing is sold twice, the outbox empties, and the sale goes on.
 */
import { ChildProcess, spawn } from "child_process";
import fs from "fs";
import net from "net";
import os from "os";
import path from "path";
import { randomUUID } from "crypto";
import knexFactory, { Knex } from "knex";
import { io as connect } from "socket.io-client";
import { Cluster, ClusterNodeSpec, startCluster } from "../helpers/cluster";
import IORedis from "ioredis";
import { freePort, NATS_URL, REDIS_URL, TestDatabase, waitFor, whileDatabaseClosed } from "../helpers/infra";
import { randomLoopbackAddress } from "../helpers/accounts";
import { HttpClient, HttpResponse } from "../helpers/node";
import { createSession, gridLayout, SessionFixture } from "../helpers/seat-fixtures";
import { signAccessToken } from "../../src/platform/auth";
import { TEST_CARDS } from "../../src/domain/payments";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const BUYERS = 16;
const NODES = [
  { name: "gw", services: ["api", "holds", "accounts", "catalog"] },
  { name: "seats", services: ["seats"] },
  { name: "orders", services: ["orders", "payments", "outbox"] },
  { name: "fulfilment", services: ["fulfilment"] },
];

interface SaleLog {
  /** holdId -> seats, for every 201. */
  holds: Map<string, string[]>;
  /** Every 202's orderId. */
  orders: Set<string>;
  /** Answers other than the expected ones: a 5xx other than 503, a network error, an error body off the API's shape. */
  faults: string[];
  statuses: Record<string, number>;
  /** Orders a buyer saw reach CONFIRMED, and when. */
  confirmedAt: number[];
  /** The longest answer, in ms (for the test's log line: how an outage felt to a buyer). */
  slowestMs: number;
}

/**
 * What every request of the sale goes through: counts the answer, and notes as a fault any answer
 * but the expected ones and 503 (with Retry-After, in the API's error shape), and no answer at all.
 */
async function call(log: SaleLog, what: string, expected: number[], send: () => Promise<HttpResponse>): Promise<HttpResponse | undefined> {
  let res: HttpResponse;
  const t0 = Date.now();
  try {
    res = await send();
  } catch (err) {
    log.faults.push(`${what}: ${(err as Error).message}`);
    return undefined;
  }
  log.slowestMs = Math.max(log.slowestMs, Date.now() - t0);
  const code = res.body?.error?.code;
  const key = `${what} ${res.status}${code ? ` ${code}` : ""}`;
  log.statuses[key] = (log.statuses[key] ?? 0) + 1;
  if (!expected.includes(res.status) && res.status !== 503) log.faults.push(`${key}: ${res.text.slice(0, 300)}`);
  if (res.status === 503 && !res.headers.get("retry-after")) log.faults.push(`${key} without Retry-After`);
  if (res.status >= 400 && typeof code !== "string") log.faults.push(`${key} off the error shape: ${res.text.slice(0, 300)}`);
  return res;
}

/**
 * One buyer after another on each of BUYERS lanes until `stop()`: best-available hold of two, an
 * order (sent again with its key while it gets 503 or no answer), then its status until settled.
 */
function sale(cluster: Cluster, session: SessionFixture) {
  const log: SaleLog = { holds: new Map(), orders: new Set(), faults: [], statuses: {}, confirmedAt: [], slowestMs: 0 };
  let stopped = false;
  const base = cluster.node("gw").baseUrl;
  const lane = async () => {
    while (!stopped) {
      const id = randomUUID();
      const http = new HttpClient(base).from(randomLoopbackAddress()).as(signAccessToken(cluster.env.JWT_SECRET, { id, email: `${id.slice(0, 8)}@example.test`, name: "Buyer", roles: ["buyer"] }));
      // The hold too is sent again with its key while it gets 503 or no answer: one whose answer
      // was lost (committed after its caller gave up) is the one the retry gets, not a second.
      const holdKey = randomUUID();
      let hold: HttpResponse | undefined;
      for (let tries = 0; tries < 200 && hold?.status !== 201 && hold?.status !== 409; tries++) {
        if (tries) await sleep(300);
        hold = await call(log, "hold", [201, 409], () => http.post(`/api/sessions/${session.sessionId}/holds`, { quantity: 2 }, { "idempotency-key": holdKey }));
      }
      if (hold?.status === 409) return; // sold out
      if (hold?.status !== 201) continue;
      log.holds.set(hold.body.holdId, hold.body.seats);
      const key = randomUUID();
      const body = { holdId: hold.body.holdId, payment: { method: "card", card: { number: TEST_CARDS.success, expMonth: 12, expYear: new Date().getUTCFullYear() + 2, cvc: "123" } } };
      let orderId: string | undefined;
      for (let tries = 0; !orderId && tries < 100; tries++) {
        const res = await call(log, "order", [202], () => http.post("/api/orders", body, { "idempotency-key": key }));
        if (res?.status === 202) orderId = res.body.orderId;
        else if (!res || res.status === 503) await sleep(300);
        else break;
      }
      if (!orderId) continue;
      log.orders.add(orderId);
      for (let polls = 0; polls < 300; polls++) {
        const res = await call(log, "status", [200], () => http.get(`/api/orders/${orderId}`));
        if (res?.status === 200 && res.body.status !== "PENDING") {
          if (res.body.status === "CONFIRMED") log.confirmedAt.push(Date.now());
          break;
        }
        await sleep(200);
      }
      // The next buyer takes a moment on the page: the session lasts through the longest outage.
      await sleep(500);
    }
  };
  const lanes = Promise.all(Array.from({ length: BUYERS }, lane));
  return {
    log,
    /** Waits for `count` orders confirmed after `since`; says what the buyers and nodes saw if they do not come. */
    async confirmed(count: number, since: number, what: string) {
      await waitFor(what, async () => log.confirmedAt.filter((t) => t > since).length >= count, 60_000, 200).catch((err) => {
        console.log(`${what}: answers ${JSON.stringify(log.statuses)}, faults ${JSON.stringify(log.faults.slice(0, 5))}`);
        for (const n of cluster.nodes) console.log(`${n.spec.name}:\n${n.logs().slice(-2000)}`);
        throw err;
      });
    },
    async stop() {
      stopped = true;
      await lanes;
      return log;
    },
  };
}

/** What must hold once the dust has settled, counted from the database. */
async function checkAfterwards(db: Knex, cluster: Cluster, session: SessionFixture, log: SaleLog, outageEndedAt: number) {
  if (log.faults.length) for (const n of cluster.nodes) console.log(`${n.spec.name}'s errors:\n${n.logs().split("\n").filter((l) => /ERROR|Error:/.test(l)).slice(-30).join("\n")}`);
  expect(log.faults).toEqual([]);
  const orderIds = [...log.orders];
  expect(orderIds.length).toBeGreaterThan(0);

  // Every acknowledged hold is stored with the seats it was answered with.
  const holds = await db("holds").whereIn("id", [...log.holds.keys()]);
  expect(holds).toHaveLength(log.holds.size);
  for (const h of holds) expect(h.items.map((i: { seatId: string }) => i.seatId).sort()).toEqual([...log.holds.get(h.id)!].sort());
  // And no hold holds seats that no buyer was told of.
  const unknown = await db("holds").where({ session_id: session.sessionId }).whereIn("status", ["ACTIVE", "CONFIRMED"]).whereNotIn("id", [...log.holds.keys()]);
  expect(unknown.map((h) => [h.id, h.status, h.created_at])).toEqual([]);

  // Every acknowledged order is stored and settles; its saga finishes.
  await waitFor("every order settled", async () => {
    const open = await db("orders").whereIn("id", orderIds).andWhere((q) => q.where({ status: "PENDING" }).orWhereNot({ step: "DONE" }));
    return open.length === 0;
  }, 90_000, 500);
  const orders = await db("orders").whereIn("id", orderIds);
  expect(orders).toHaveLength(orderIds.length);
  const outcome = orders.reduce((n: Record<string, number>, o) => ({ ...n, [o.reason ?? o.status]: (n[o.reason ?? o.status] ?? 0) + 1 }), {});
  console.log(`sale through the outage: ${log.holds.size} holds, ${orderIds.length} orders ${JSON.stringify(outcome)}; answers ${JSON.stringify(log.statuses)}, the slowest in ${log.slowestMs} ms`);
  // Holds last ten minutes here, every card is good and no node dies: every order is confirmed. (A
  // step cut off by the outage is retried, the authorization with the card its node kept.)
  expect(orders.filter((o) => o.status !== "CONFIRMED").map((o) => [o.id, o.status, o.reason])).toEqual([]);
  const confirmed = orders.filter((o) => o.status === "CONFIRMED");
  // The sale went on after the outage, not only before it.
  expect(log.confirmedAt.filter((t) => t > outageEndedAt).length).toBeGreaterThan(0);

  // Money: a capture for every confirmed order and for nothing else; nothing left merely authorized.
  const payments = await db("payments").whereIn("order_id", orderIds);
  for (const p of payments) {
    const o = orders.find((x) => x.id === p.order_id)!;
    expect([o.id, p.status === "CAPTURED"]).toEqual([o.id, o.status === "CONFIRMED"]);
    expect(p.status).not.toBe("AUTHORIZED");
  }
  const open = await db("mock_provider_authorizations").where({ status: "authorized" });
  expect(open).toEqual([]);

  // Tickets: one per seat of each confirmed order, each seat once.
  const seatsConfirmed = confirmed.reduce((n, o) => n + o.items.length, 0);
  await waitFor("tickets issued", async () => {
    const [{ c }] = await db("tickets").whereIn("order_id", orderIds).count<{ c: number }[]>({ c: "*" });
    return Number(c) === seatsConfirmed;
  }, 60_000, 500);
  const tickets = await db("tickets").where({ session_id: session.sessionId });
  expect(new Set(tickets.map((t) => t.seat_id)).size).toBe(tickets.length);
  expect(tickets).toHaveLength(seatsConfirmed);

  // The events went out: the outbox empties.
  await waitFor("outbox drained", async () => (await db("outbox").where({ status: "PENDING" })).length === 0, 60_000, 500);

  // The seat map agrees: sold seats are the confirmed orders', no seat sold that no order paid for.
  const map = await new HttpClient(cluster.node("gw").baseUrl).get(`/api/sessions/${session.sessionId}/seat-map`);
  const sold = new Set(confirmed.flatMap((o) => o.items.map((i: { seatId: string }) => i.seatId)));
  const soldOnMap = (map.body.seatIds as string[]).filter((_, i) => map.body.status[i] === "s");
  expect(soldOnMap.sort()).toEqual([...sold].sort());
}

/** A server of the test's own (NATS with JetStream on disk, or Redis), so that stopping it touches nobody else. */
class LocalServer {
  process?: ChildProcess;
  private constructor(readonly port: number, readonly dir: string, private command: string, private args: string[]) {}
  static async nats(): Promise<LocalServer> {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-nats-"));
    return new LocalServer(port, dir, "nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir]);
  }
  static async redis(): Promise<LocalServer> {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-redis-"));
    return new LocalServer(port, dir, "redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir]);
  }
  url(scheme: string): string {
    return `${scheme}://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    // Debian puts nats-server in /usr/sbin, which a non-root PATH may lack.
    const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"].filter(Boolean);
    const binary = dirs.map((d) => path.join(d, this.command)).find((f) => fs.existsSync(f));
    if (!binary) throw new Error(`${this.command} is not installed (the machine's servers come from Debian's packages)`);
    this.process = spawn(binary, this.args, { stdio: "ignore" });
    this.process.on("error", (err) => console.error(`${this.command}: ${err.message}`));
    await waitFor(`${this.command} listening`, () => new Promise<boolean>((resolve) => {
      const s = net.connect(this.port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    }), 10_000, 50);
  }
  async stop(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill(signal);
    });
  }
  async remove(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A sale on a cluster of NODES through one outage: ten orders confirmed, then `outage()` (which
 * resolves once the dependency is back), then ten more, then the checks.
 */
function saleThrough(title: string, opts: { nodes?: ClusterNodeSpec[]; server?: () => Promise<LocalServer>; env?: (server: LocalServer | undefined, database: TestDatabase) => Record<string, string>; outage: (ctx: { cluster: Cluster; server?: LocalServer; sale: ReturnType<typeof sale> }) => Promise<void> }) {
  describe(title, () => {
    let server: LocalServer | undefined;
    let cluster: Cluster;
    let db: Knex;
    let session: SessionFixture;

    beforeAll(async () => {
      server = await opts.server?.();
      await server?.start();
      cluster = await startCluster({ nodes: opts.nodes ?? NODES, env: (database) => opts.env?.(server, database) ?? {} });
      db = knexFactory({ client: "pg", connection: cluster.database.url, pool: { min: 0, max: 2 } });
      session = await createSession(db, { layout: gridLayout(80, 25), maxPerCustomer: 4 });
    });
    afterAll(async () => {
      await db?.destroy();
      await cluster?.stop();
      await server?.remove();
    });

    it("answers 503 while it lasts, loses nothing acknowledged, and sells on after", async () => {
      // A browser on the session page, connected before the outage, as buyers are.
      const socket = connect(cluster.node("gw").baseUrl, { transports: ["websocket"], reconnection: false, forceNew: true });
      const seatEventsAt: number[] = [];
      socket.on("seats", () => seatEventsAt.push(Date.now()));
      try {
        await new Promise<void>((resolve, reject) => (socket.once("connect", () => resolve()), socket.once("connect_error", reject)));
        expect(await socket.timeout(5000).emitWithAck("subscribe", { sessionId: session.sessionId })).toMatchObject({ ok: true });
        const running = sale(cluster, session);
        await running.confirmed(10, 0, "a few orders confirmed");
        await opts.outage({ cluster, server, sale: running });
        const endedAt = Date.now();
        await running.confirmed(10, endedAt, "orders confirmed after the outage");
        // The live seat map kept up: the same socket hears of seats taken after the outage. (Waited
        // for while buyers still come: the ten confirmations may all be of holds from before it,
        // seen by buyers who polled through it.)
        await waitFor("the socket to hear of seats taken after the outage", async () => seatEventsAt.some((t) => t > endedAt), 30_000, 100);
        await checkAfterwards(db, cluster, session, await running.stop(), endedAt);
      } finally {
        socket.disconnect();
      }
    });
  });
}

saleThrough("a sale through a database outage (PostgreSQL refusing connections for 5 s)", {
  outage: ({ cluster }) => whileDatabaseClosed(cluster.database.name, () => sleep(5_000)),
});

// An orchestrator replacing a node while the database is down: the replacement waits for
// PostgreSQL instead of exiting (which would put it in a restart back-off longer than the outage).
saleThrough("a sale through a database outage during which a node is replaced (PostgreSQL refusing connections for 10 s)", {
  async outage({ cluster }) {
    let starting: Promise<unknown> | undefined;
    await whileDatabaseClosed(cluster.database.name, async () => {
      await cluster.node("fulfilment").stop();
      starting = cluster.add({ name: "fulfilment-2", services: ["fulfilment"] });
      starting.catch(() => undefined);
      await sleep(10_000);
      const late = cluster.node("fulfilment-2");
      expect(late.running).toBe(true);
      expect(late.logs()).toContain("PostgreSQL is out of reach");
    });
    // Up once the database is back; from here on only it can issue the tickets.
    await starting;
  },
});

// 25 s: longer than the NATS client's default reconnection (10 attempts 2 s apart), after which a
// connection that kept that default stayed closed for good.
saleThrough("a sale through a NATS outage (the server killed, started again 25 s later on its stored streams)", {
  server: LocalServer.nats,
  env: (nats) => ({ TRANSPORTER: nats!.url("nats") }),
  async outage({ server }) {
    await server!.stop();
    await sleep(25_000);
    await server!.start();
  },
});

// Redis holds only the rate limits' counters: without it each gateway counts alone, and the sale
// does not wait for it.
saleThrough("a sale through a Redis outage (killed, started again empty once 20 more orders are confirmed)", {
  server: LocalServer.redis,
  env: (redis) => ({ REDIS_URL: redis!.url("redis") }),
  async outage({ cluster, server, sale }) {
    await server!.stop();
    await sale.confirmed(20, Date.now(), "orders confirmed while Redis is down");
    // The gateway sells on without Redis: degraded, not unready (an orchestrator would take
    // every gateway out of service).
    const ready = await cluster.node("gw").http.get("/ready");
    expect([ready.status, ready.body.status]).toEqual([200, "degraded"]);
    expect(ready.body.checks.redis).not.toBe("ok");
    await server!.start();
  },
});

// What an operator's rolling deploy does: every node but the gateway stopped (SIGTERM) and started
// again, one after the other, with two of each so that the other serves meanwhile.
saleThrough("a sale through a rolling restart of every node behind the gateway", {
  nodes: [
    { name: "gw", services: ["api", "holds", "accounts", "catalog"] },
    { name: "seats-1", services: ["seats"] },
    { name: "seats-2", services: ["seats"] },
    { name: "orders-1", services: ["orders", "payments", "outbox"] },
    { name: "orders-2", services: ["orders", "payments", "outbox"] },
    { name: "fulfilment", services: ["fulfilment"] },
  ],
  async outage({ cluster }) {
    for (const node of cluster.nodes.filter((n) => n.spec.name !== "gw")) {
      await node.stop();
      await node.start();
      await sleep(1_000);
    }
  },
});

/**
 * A TCP proxy (to PostgreSQL, or NATS) that can stall: while `stalled`, it passes no bytes either
 * way and closes nothing, as a network partition does to open connections (and new ones get no answer).
 */
class StallingProxy {
  constructor(private readonly targetPort: number) {}
  private server = net.createServer((client) => this.pipe(client));
  private pairs = new Set<[net.Socket, net.Socket]>();
  stalled = false;
  port = 0;
  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  private pipe(client: net.Socket) {
    const upstream = net.connect(this.targetPort, "127.0.0.1");
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    if (this.stalled) for (const s of pair) s.pause();
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  }
  stall(on: boolean) {
    this.stalled = on;
    for (const pair of this.pairs) for (const s of pair) if (on) s.pause(); else s.resume();
  }
  /**
   * A failover whose old server vanished: the clients' open connections get no byte ever again
   * and are never closed, and the server they reach now never had them (here: it sees them
   * closed, and drops their sessions, locks and subscriptions). New connections go through.
   */
  strand() {
    for (const [client, upstream] of this.pairs) {
      client.unpipe();
      upstream.unpipe();
      client.pause();
      upstream.removeAllListeners("close").removeAllListeners("error").on("error", () => undefined);
      upstream.destroy();
      this.stranded.push(client);
    }
    this.pairs.clear();
  }
  private stranded: net.Socket[] = [];
  url(database: TestDatabase): string {
    const url = new URL(database.url);
    url.port = String(this.port);
    return url.toString();
  }
  async close(): Promise<void> {
    for (const s of [...[...this.pairs].flat(), ...this.stranded]) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const proxy = new StallingProxy(5432);
const natsProxy = new StallingProxy(Number(new URL(NATS_URL).port || 4222));
const redisProxy = new StallingProxy(Number(new URL(REDIS_URL).port || 6379));
const proxies = [proxy, natsProxy, redisProxy];
beforeAll(() => Promise.all(proxies.map((p) => p.listen())));
afterAll(() => Promise.all(proxies.map((p) => p.close())));

saleThrough("a sale through a stalled database (no byte through for 15 s, nothing closed)", {
  env: (_, database) => ({ DATABASE_URL: proxy.url(database) }),
  async outage() {
    proxy.stall(true);
    try {
      await sleep(15_000);
    } finally {
      proxy.stall(false);
    }
  },
});

// A failover whose old server vanished: the connections open to it get no byte and no reset (TCP
// would give up on them only after about 15 minutes), while new connections reach the new server.
saleThrough("a sale through a failover that strands every open database connection", {
  env: (_, database) => ({ DATABASE_URL: proxy.url(database) }),
  async outage() {
    proxy.strand();
  },
});

// The same failover of NATS: every node's connections (transporter and JetStream) stranded, new
// ones reach the server. The NATS clients' pings must find the dead connections (their default:
// a ping every 2 minutes, dead after two unanswered).
saleThrough("a sale through a NATS failover that strands every open NATS connection", {
  env: () => ({ TRANSPORTER: `nats://127.0.0.1:${natsProxy.port}` }),
  async outage() {
    natsProxy.strand();
  },
});

// And of Redis. Each command on the stranded connection would wait out its 500 ms timeout before
// the gateway counted alone, for as long as TCP takes to give up: the gateway makes a new one.
saleThrough("a sale through a Redis failover that strands its open connections", {
  env: () => ({ REDIS_URL: `redis://127.0.0.1:${redisProxy.port}` }),
  async outage({ cluster }) {
    const redis = new IORedis(REDIS_URL);
    try {
      const counters = async () => (await redis.keys(`tf:${cluster.namespace}:rl:*`)).length;
      redisProxy.strand();
      await sleep(1_000);
      const before = await counters();
      // New buyers keep coming: their requests are counted in Redis again once the gateway has a
      // connection that answers.
      await waitFor("rate limits counted in Redis again", async () => (await counters()) > before + 5, 30_000, 500);
    } finally {
      redis.disconnect();
    }
  },
});
