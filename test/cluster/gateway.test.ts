/**
 * Two gateway processes in one cluster (NATS, PostgreSQL, Redis): the per-client rate limit is one
 * counter across both, real-time events reach a browser whichever gateway it is connected to, and
 * /ready turns 503 while the database refuses connections (and 200 again after).
 */
import { randomUUID } from "crypto";
import { io as connect, Socket } from "socket.io-client";
import { ServiceBroker } from "moleculer";
import { signAccessToken } from "../../src/platform/auth";
import { Cluster, startCluster } from "../helpers/cluster";
import { NATS_URL, waitFor, whileDatabaseClosed } from "../helpers/infra";

const LIMIT = 8;

describe("gateways in a cluster", () => {
  let cluster: Cluster;
  let emitter: ServiceBroker;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    cluster = await startCluster({
      nodes: [
        { name: "gw1", services: ["api"] },
        { name: "gw2", services: ["api"] },
      ],
      env: { RATE_LIMIT_PER_MINUTE: String(LIMIT) },
    });
    // Stands in for the seats actor and the saga: any node that emits these events.
    emitter = new ServiceBroker({ namespace: cluster.namespace, nodeID: `emitter-${randomUUID()}`, transporter: NATS_URL, logger: false });
    await emitter.start();
    await emitter.waitForServices(["api"], 30_000);
    await waitFor("both gateways seen by the emitter", async () =>
      (emitter.registry.getServiceList({ onlyAvailable: true }) as Array<{ name: string }>).filter((s) => s.name === "api").length === 2);
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await emitter?.stop();
    await cluster?.stop();
  });

  const token = (id = randomUUID()) => signAccessToken(cluster.env.JWT_SECRET, { id, email: `${id}@example.test`, name: "B", roles: ["buyer"] });

  async function open(baseUrl: string, auth: Record<string, string> = {}): Promise<Socket> {
    const s = connect(baseUrl, { transports: ["websocket"], auth, reconnection: false, forceNew: true });
    sockets.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once("connect", () => resolve());
      s.once("connect_error", reject);
    });
    return s;
  }

  it("counts one user's requests across both gateways in one Redis counter", async () => {
    const t = token();
    const [gw1, gw2] = [cluster.node("gw1").http.as(t), cluster.node("gw2").http.as(t)];
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 2; i++) statuses.push((await (i % 2 ? gw2 : gw1).get("/api/openapi.json", { "x-forwarded-for": `203.0.113.${i}` })).status);
    expect(statuses).toEqual([...Array(LIMIT).fill(200), 429, 429]);
    const limited = await gw2.get("/api/openapi.json");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Another user is unaffected.
    expect((await cluster.node("gw1").http.as(token()).get("/api/openapi.json")).status).toBe(200);
  });

  it("delivers seat and order events to sockets on either gateway, whether emitted or broadcast", async () => {
    const user = randomUUID();
    const onGw1 = await open(cluster.node("gw1").baseUrl, { token: token(user) });
    const onGw2 = await open(cluster.node("gw2").baseUrl, { token: token(user) });
    const stranger = await open(cluster.node("gw2").baseUrl, { token: token() });
    for (const s of [onGw1, onGw2]) expect(await s.timeout(5000).emitWithAck("subscribe", { sessionId: "hot" })).toMatchObject({ ok: true });

    const seats = [onGw1, onGw2].map((s) => new Promise((resolve) => s.once("seats", resolve)));
    await emitter.broadcast("seats.changed", { sessionId: "hot", version: 3, changes: [{ seatId: "A-1", status: "s" }] });
    expect(await Promise.all(seats)).toEqual([1, 2].map(() => ({ sessionId: "hot", version: 3, changes: [{ seatId: "A-1", status: "s" }] })));

    const strangerOrders: unknown[] = [];
    stranger.on("order", (o) => strangerOrders.push(o));
    const orders = [onGw1, onGw2].map((s) => new Promise((resolve) => s.once("order", resolve)));
    // `emit` is balanced to one node per group: each gateway is its own group, so both get it.
    await emitter.emit("orders.status", { orderId: "o-9", userId: user, status: "CONFIRMED" });
    expect(await Promise.all(orders)).toEqual([{ orderId: "o-9", status: "CONFIRMED" }, { orderId: "o-9", status: "CONFIRMED" }]);

    // Barrier for the stranger's connection: a later event on its own gateway arrives after the order would have.
    expect(await stranger.timeout(5000).emitWithAck("subscribe", { sessionId: "barrier" })).toMatchObject({ ok: true });
    const barrier = new Promise((resolve) => stranger.once("stock", resolve));
    await emitter.broadcast("seats.stock", { sessionId: "barrier", available: 1 });
    await barrier;
    expect(strangerOrders).toEqual([]);
  });

  it("answers /ready 503 while the database refuses connections, and 200 again after", async () => {
    const gw = cluster.node("gw1").http;
    expect((await gw.get("/ready")).status).toBe(200);
    await whileDatabaseClosed(cluster.database.name, async () => {
      const down = await waitFor("/ready to report the database", async () => {
        const r = await gw.get("/ready");
        return r.status === 503 ? r : undefined;
      }, 30_000);
      expect(down.body.status).toBe("not ready");
      expect(down.body.checks.database).not.toBe("ok");
      expect(down.headers.get("retry-after")).toBeTruthy();
      // Liveness is not readiness: the process is fine, an orchestrator must not restart it.
      expect((await gw.get("/health")).status).toBe(200);
    });
    await waitFor("/ready to recover", async () => (await gw.get("/ready")).status === 200, 30_000);
  });
});
