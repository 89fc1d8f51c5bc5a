/**
 * Durable events over real NATS JetStream and PostgreSQL: brokers in this process, each with its
 * own outbox relay, sharing one database and one consumer group.
 */
import { randomUUID } from "crypto";
import type { Knex } from "knex";
import type { ServiceSchema } from "moleculer";
import { Channels, OrdersFailed } from "../../channels";
import { DbMixin } from "../../mixins/db.mixin";
import { durable, MessageInfo, OutboxMixin, writeOutbox } from "../../mixins/outbox.mixin";
import { startTestNode, TestNode } from "../helpers/node";
import { createTestDatabase, NATS_URL, randomSuffix, TestDatabase, waitFor } from "../helpers/infra";

interface Delivery {
  node: string;
  orderId: string;
  messageId: string;
  attempt: number;
}

function probe(node: string, deliveries: Delivery[], failFirst: Set<string>): ServiceSchema {
  return {
    name: "probe",
    mixins: [DbMixin, OutboxMixin],
    channels: {
      [Channels.ORDERS_FAILED]: durable<OrdersFailed>(
        async function (payload: OrdersFailed, _trx: Knex.Transaction, message: MessageInfo) {
          deliveries.push({ node, orderId: payload.orderId, messageId: message.id, attempt: message.attempt });
          if (failFirst.delete(payload.orderId)) throw new Error("first delivery fails");
        },
        { backoff: { baseMs: 100, maxMs: 1000 } },
      ),
    },
  };
}

describe("durable events over NATS JetStream", () => {
  let database: TestDatabase;
  const nodes: TestNode[] = [];
  const deliveries: Delivery[] = [];
  const failFirst = new Set<string>();
  const previousNamespace = process.env.NAMESPACE;

  beforeAll(async () => {
    process.env.NAMESPACE = `tf-durable-${randomSuffix()}`;
    database = await createTestDatabase("tf_durable");
  });
  afterAll(async () => {
    for (const n of nodes) await n.stop();
    await database.drop();
    process.env.NAMESPACE = previousNamespace;
  });

  const start = async (name: string, withProbe: boolean) => {
    const node = await startTestNode({
      services: ["outbox"],
      env: { TRANSPORTER: NATS_URL, DATABASE_URL: database.url, NODE_ID: `${name}-${randomSuffix()}` },
      schemas: withProbe ? [probe(name, deliveries, failFirst)] : [],
    });
    nodes.push(node);
    return node;
  };

  const publish = async (node: TestNode, orderId: string) => {
    const db = await node.platform.db();
    await db.transaction((trx) => writeOutbox(trx, Channels.ORDERS_FAILED, { orderId, userId: "u", email: "u@example.com", reason: "R" }, { key: orderId }));
  };

  it("delivers events published before any consumer existed, once the consumer starts", async () => {
    const producer = await start("producer", false);
    const early = Array.from({ length: 5 }, () => randomUUID());
    for (const id of early) await publish(producer, id);
    const db = await producer.platform.db();
    // Relayed into JetStream (the relay creates the stream) although nobody listens yet.
    await waitFor("relayed", async () => Number((await db("outbox").where({ status: "PENDING" }).count<{ c: number }[]>({ c: "*" }))[0].c) === 0);
    await start("c1", true);
    await start("c2", true);
    await waitFor("early events delivered", async () => early.every((id) => deliveries.some((d) => d.orderId === id)), 30_000);
  });

  it("shares a consumer group across nodes: each event handled once, failures retried", async () => {
    const ids = Array.from({ length: 60 }, () => randomUUID());
    ids.slice(0, 5).forEach((id) => failFirst.add(id));
    for (const [i, id] of ids.entries()) await publish(nodes[i % nodes.length], id);
    await waitFor("all handled", async () => ids.every((id) => deliveries.some((d) => d.orderId === id && (d.attempt > 1 || !ids.slice(0, 5).includes(id)))), 30_000);
    const db = await nodes[0].platform.db();
    for (const id of ids) {
      const attempts = deliveries.filter((d) => d.orderId === id);
      expect(attempts.map((a) => a.attempt)).toEqual(ids.slice(0, 5).includes(id) ? [1, 2] : [1]);
    }
    const inbox = await db("channel_inbox").where({ consumer_group: "probe" });
    expect(inbox.length).toBe(deliveries.filter((d) => d.attempt === 1).length);
    // Both consumer nodes took part.
    expect(new Set(deliveries.map((d) => d.node))).toEqual(new Set(["c1", "c2"]));
  });
});
