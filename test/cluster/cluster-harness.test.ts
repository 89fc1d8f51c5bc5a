import { Cluster, startCluster } from "../helpers/cluster";
import { waitFor } from "../helpers/infra";
import { ServiceBroker } from "moleculer";

/** The harness itself: real processes over NATS on a fresh PostgreSQL database. */
describe("cluster harness", () => {
  let cluster: Cluster;
  let observer: ServiceBroker;

  beforeAll(async () => {
    cluster = await startCluster({ nodes: [{ name: "gw1", services: ["api"] }, { name: "gw2", services: ["api"] }] });
    observer = new ServiceBroker({ namespace: cluster.namespace, nodeID: `observer-${cluster.namespace}`, transporter: cluster.env.TRANSPORTER, logger: false, heartbeatInterval: 1, heartbeatTimeout: 3 });
    await observer.start();
  });
  afterAll(async () => {
    await observer?.stop();
    await cluster?.stop();
  });

  it("starts gateway nodes that are ready against PostgreSQL and NATS", async () => {
    for (const name of ["gw1", "gw2"]) {
      const ready = await cluster.node(name).http.get("/ready");
      expect(ready.status).toBe(200);
      expect(ready.body.checks).toEqual({ database: "ok", redis: "ok", transporter: "ok" });
    }
  });

  it("notices a SIGKILLed node within a few seconds, and sees it come back", async () => {
    const nodeIds = async () => ((await observer.call("$node.list", { onlyAvailable: true })) as Array<{ id: string }>).map((n) => n.id);
    await waitFor("both gateways visible", async () => (await nodeIds()).includes(cluster.node("gw2").nodeID));
    const killedAt = Date.now();
    await cluster.node("gw2").kill("SIGKILL");
    await waitFor("gw2 declared dead", async () => !(await nodeIds()).includes(cluster.node("gw2").nodeID), 15_000);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect((await cluster.node("gw1").http.get("/health")).status).toBe(200);
    await cluster.node("gw2").start();
    await waitFor("gw2 back", async () => (await nodeIds()).includes(cluster.node("gw2").nodeID));
  });
});
