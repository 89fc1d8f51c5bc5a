/**
 * Durable events on a PostgreSQL server (needs the local server, like the rest of test:cluster):
 * several relays sharing one outbox publish each row once and each key in order, and the relay's
 * claim puts the channels a buyer waits on first there too (it reads them through an index of
 * their own on a server).
 */
import { randomUUID } from "crypto";
import { Channels } from "../../channels";
import { durableRuntime, writeOutbox } from "../../mixins/outbox.mixin";
import { startTestNode, TestNode } from "../helpers/node";
import { createTestDatabase, TestDatabase, waitFor } from "../helpers/infra";
import { Delivery, describeRelayOrder, probe } from "../helpers/outbox";

describeRelayOrder("PostgreSQL", () => createTestDatabase("tf_outbox_order"));

describe("relays on several nodes (PostgreSQL)", () => {
  let database: TestDatabase;
  const nodes: TestNode[] = [];
  const deliveries: Delivery[] = [];

  beforeAll(async () => {
    database = await createTestDatabase("tf_outbox");
    for (let i = 0; i < 3; i++) {
      nodes.push(await startTestNode({ services: ["outbox"], env: { DATABASE_URL: database.url }, schemas: [probe(deliveries, new Map(), `probe-${i}`)] }));
    }
  });
  afterAll(async () => {
    for (const n of nodes) await n.stop();
    await database.drop();
  });

  it("claims each row on exactly one node and keeps each key's order", async () => {
    for (const n of nodes) durableRuntime(n.broker).pauseRelay();
    const db = await nodes[0].platform.db();
    const keys = Array.from({ length: 10 }, () => randomUUID());
    const expected = new Map<string, string[]>();
    for (let i = 0; i < 200; i++) {
      const key = keys[i % keys.length];
      const orderId = randomUUID();
      expected.set(key, [...(expected.get(key) ?? []), orderId]);
      await db.transaction((trx) => writeOutbox(trx, Channels.ORDERS_FAILED, { orderId, userId: key, email: "k@example.com", reason: "R" }, { key }));
    }
    // All three relays race for the same rows. Each node's consumer is its own group, so a row
    // published by two nodes would be handled twice instead of being dropped by the inbox.
    await Promise.all(nodes.map((n) => durableRuntime(n.broker).pauseRelay(false)));
    await waitFor("all delivered", async () => deliveries.length >= 200, 30_000);
    await waitFor("all sent", async () => Number((await db("outbox").where({ status: "PENDING" }).count<{ c: number }[]>({ c: "*" }))[0].c) === 0);
    expect(new Set(deliveries.map((d) => d.messageId)).size).toBe(200);
    expect(deliveries).toHaveLength(200);
    for (const key of keys) {
      const seen = deliveries.filter((d) => expected.get(key)!.includes(d.orderId)).map((d) => d.orderId);
      expect(seen).toEqual(expected.get(key));
    }
  });
});
