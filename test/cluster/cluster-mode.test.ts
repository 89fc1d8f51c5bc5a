import { startTestNode, TestNode } from "../helpers/node";

// The same switch the replayed integration tests get from test/helpers/cluster-env.ts.
process.env.TEST_CLUSTER = "1";

/** The replayed integration tests are only worth something if they really run on the servers. */
describe("integration tests in cluster mode", () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode({ services: ["api", "auth", "users"] });
  });
  afterAll(() => node.stop());

  it("run on NATS, a PostgreSQL server and Redis, with a peer broker serving the backend", async () => {
    expect(node.platform.config.mode).toBe("cluster");
    const ready = await node.http.get("/ready");
    expect(ready.body.checks).toEqual({ database: "ok", redis: "ok", transporter: "ok" });
    const db = await node.platform.db();
    const { rows } = await db.raw("select version()");
    expect(rows[0].version).toMatch(/PostgreSQL/);
    const nodes = (await node.broker.call("$node.list", { onlyAvailable: true })) as Array<{ id: string }>;
    expect(nodes.map((n) => n.id)).toContain(`${node.broker.nodeID}-peer`);
    const endpoints = (node.broker.registry as unknown as { getActionEndpoints(n: string): { count(): number } }).getActionEndpoints("users.get");
    expect(endpoints?.count()).toBe(2);
  });
});
