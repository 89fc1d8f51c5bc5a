/**
 * Durable events end to end on a real node: outbox -> relay -> @moleculer/channels -> idempotent
 * consumer; retries with backoff; dead letters and their replay; a crash between commit and
 * publish; the relay's order across channels. On PostgreSQL (several relays sharing one outbox):
 * test/cluster/outbox-postgres.test.ts.
 */
import fs from "fs";
import os from "os";
import path from "path";
import { randomUUID } from "crypto";
import type { Knex } from "knex";
import { Channels } from "../../channels";
import { changeWithOutbox, durableRuntime, writeOutbox } from "../../mixins/outbox.mixin";
import { signAccessToken } from "../../src/platform/auth";
import { startTestNode, TestNode } from "../helpers/node";
import { waitFor } from "../helpers/infra";
import { Delivery, describeRelayOrder, Prepared, preparer, probe } from "../helpers/outbox";

async function publish(node: TestNode, orderId: string, key?: string) {
  const db = await node.platform.db();
  await db.transaction((trx) =>
    writeOutbox(trx, Channels.ORDERS_FAILED, { orderId, userId: "u1", email: "u1@example.com", reason: "PAYMENT_DECLINED" }, { key }),
  );
}

describe("durable events (embedded)", () => {
  let node: TestNode;
  const deliveries: Delivery[] = [];
  const failures = new Map<string, number>();
  const prepared: Prepared[] = [];
  const failFirst = new Set<string>();
  let adminToken: string;

  beforeAll(async () => {
    node = await startTestNode({ services: ["api", "outbox"], schemas: [probe(deliveries, failures), preparer(prepared, failFirst)] });
    adminToken = signAccessToken(node.platform.secrets.jwtSecret, { id: randomUUID(), email: "admin@example.com", name: "Admin", roles: ["admin"] });
  });
  afterAll(() => node.stop());

  const of = (orderId: string) => deliveries.filter((d) => d.orderId === orderId);

  it("delivers an event written in a committed transaction exactly once and marks it sent", async () => {
    const orderId = randomUUID();
    await publish(node, orderId);
    await waitFor("delivery", async () => of(orderId).length === 1);
    const db = await node.platform.db();
    await waitFor("sent", async () => (await db("outbox").where({ status: "PENDING" }).count<{ c: number }[]>({ c: "*" }))[0].c == 0);
    const row = await db("outbox").whereRaw("payload->>'orderId' = ?", [orderId]).first();
    expect(row.status).toBe("SENT");
    expect(await db("channel_inbox").where({ message_id: row.id })).toHaveLength(1);
    expect(of(orderId)).toHaveLength(1);
  });

  it("publishes nothing when the transaction rolls back", async () => {
    const orderId = randomUUID();
    const db = await node.platform.db();
    await expect(
      db.transaction(async (trx) => {
        await writeOutbox(trx, Channels.ORDERS_FAILED, { orderId, userId: "u1", email: "x@example.com", reason: "X" });
        throw new Error("business rule failed");
      }),
    ).rejects.toThrow("business rule failed");
    const marker = randomUUID();
    await publish(node, marker);
    await waitFor("later event", async () => of(marker).length === 1);
    expect(of(orderId)).toHaveLength(0);
    expect(await db("outbox").whereRaw("payload->>'orderId' = ?", [orderId])).toHaveLength(0);
  });

  it("relays an event written in a transaction, nested or not, only once the outermost one commits", async () => {
    const db = await node.platform.db();
    const [kept, dropped] = [randomUUID(), randomUUID()];
    const nested = (orderId: string) => (trx: Knex.Transaction) =>
      trx.transaction((inner) => writeOutbox(inner, Channels.ORDERS_FAILED, { orderId, userId: "u1", email: "u1@example.com", reason: "PAYMENT_DECLINED" }));
    await expect(
      db.transaction(async (trx) => {
        await nested(dropped)(trx);
        // The savepoint is released; a relay told of the row now would publish an event that never was.
        await new Promise((r) => setTimeout(r, 300));
        throw new Error("business rule failed");
      }),
    ).rejects.toThrow("business rule failed");
    // A change and its event in one statement, made inside a transaction that then rolls back.
    const alsoDropped = randomUUID();
    await expect(
      db.transaction(async (trx) => {
        const change = trx("channel_inbox").insert({ message_id: randomUUID(), consumer_group: "test", channel: "test" }).returning("message_id");
        await changeWithOutbox(trx, change, Channels.ORDERS_FAILED, { orderId: alsoDropped, userId: "u1", email: "u1@example.com", reason: "PAYMENT_DECLINED" });
        await new Promise((r) => setTimeout(r, 300));
        throw new Error("business rule failed");
      }),
    ).rejects.toThrow("business rule failed");
    await db.transaction(nested(kept));
    await waitFor("the committed one", async () => of(kept).length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(of(dropped)).toHaveLength(0);
    expect(of(alsoDropped)).toHaveLength(0);
    expect(await db("outbox").whereRaw("payload->>'orderId' = ANY(?)", [[dropped, alsoDropped]])).toHaveLength(0);
  });

  it("drops a redelivered message: the handler's effect happens once", async () => {
    const orderId = randomUUID();
    await publish(node, orderId);
    await waitFor("delivery", async () => of(orderId).length === 1);
    const db = await node.platform.db();
    // The relay crashed after publishing but before marking the row sent: it publishes again.
    await db("outbox").whereRaw("payload->>'orderId' = ?", [orderId]).update({ status: "PENDING", sent_at: null });
    durableRuntime(node.broker).wake();
    await waitFor("re-sent", async () => (await db("outbox").whereRaw("payload->>'orderId' = ?", [orderId]).first()).status === "SENT");
    const inbox = await db("channel_inbox").where({ consumer_group: "probe", channel: Channels.ORDERS_FAILED });
    expect(inbox.filter((r: { message_id: string }) => r.message_id === of(orderId)[0].messageId)).toHaveLength(1);
    expect(of(orderId)).toHaveLength(1);
  });

  it("retries a failing consumer with growing backoff until it succeeds", async () => {
    const orderId = randomUUID();
    failures.set(orderId, 2);
    await publish(node, orderId);
    const db = await node.platform.db();
    await waitFor("third attempt", async () => of(orderId).length === 3, 20_000);
    const attempts = of(orderId);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    // Backoff: at least base (150 ms), then at least twice the base, before each retry.
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(150);
    expect(attempts[2].at - attempts[1].at).toBeGreaterThanOrEqual(300);
    await waitFor("done", async () => (await db("failed_messages").where({ message_id: attempts[0].messageId }).first())?.status === "DONE");
    const record = await db("failed_messages").where({ message_id: attempts[0].messageId }).first();
    expect(record.attempts).toBe(3);
    expect(await db("channel_inbox").where({ message_id: attempts[0].messageId })).toHaveLength(1);
  });

  it("dead-letters a message that always fails; an admin lists it and replays it", async () => {
    const orderId = randomUUID();
    failures.set(orderId, 4);
    await publish(node, orderId);
    const db = await node.platform.db();
    await waitFor("dead letter", async () => (await db("failed_messages").where({ status: "DEAD" }).whereRaw("payload->>'orderId' = ?", [orderId]).first()), 20_000);
    expect(of(orderId)).toHaveLength(4);

    const api = node.http.as(adminToken);
    const list = await api.get("/api/admin/dead-letters?channel=orders.failed");
    expect(list.status).toBe(200);
    const letter = list.body.items.find((l: { payload: { orderId: string } }) => l.payload.orderId === orderId);
    expect(letter).toMatchObject({ channel: "orders.failed", group: "probe", attempts: 4, status: "DEAD" });
    expect(letter.lastError).toContain("probe refuses");

    // Buyers cannot see or replay dead letters.
    const buyer = node.http.as(signAccessToken(node.platform.secrets.jwtSecret, { id: randomUUID(), email: "b@example.com", name: "B", roles: ["buyer"] }));
    expect((await buyer.get("/api/admin/dead-letters")).status).toBe(403);
    expect((await buyer.post(`/api/admin/dead-letters/${letter.id}/replay`)).status).toBe(403);

    // The operator fixed the cause; replay delivers it once more and it succeeds.
    const replay = await api.post(`/api/admin/dead-letters/${letter.id}/replay`);
    expect(replay.status).toBe(200);
    await waitFor("replayed", async () => of(orderId).length === 5, 20_000);
    await waitFor("done", async () => (await db("failed_messages").where({ id: letter.id }).first()).status === "DONE");
    expect((await api.post(`/api/admin/dead-letters/${letter.id}/replay`)).status).toBe(404);
    expect(await db("channel_inbox").where({ message_id: letter.messageId })).toHaveLength(1);
  });

  it("runs a consumer's prepare step before its transaction and again on each retry", async () => {
    const orderId = randomUUID();
    failFirst.add(orderId);
    const db = await node.platform.db();
    await db.transaction((trx) => writeOutbox(trx, Channels.ORDERS_CANCELLED, { orderId, userId: "u1", email: "u1@example.com", refundedCents: 500 }));
    await waitFor("second attempt", async () => prepared.filter((p) => p.orderId === orderId).length === 2, 20_000);
    const mine = prepared.filter((p) => p.orderId === orderId);
    // Each attempt got its own prepared value, read through the pool while no transaction held the connection.
    expect(mine.map((p) => p.attempt)).toEqual([1, 2]);
    expect(mine.every((p) => Number.isInteger(p.ordersSeen))).toBe(true);
    await waitFor("processed", async () => (await db("channel_inbox").where({ consumer_group: "preparer", channel: Channels.ORDERS_CANCELLED })).length >= 1);
    expect(await db("failed_messages").where({ consumer_group: "preparer", status: "DEAD" })).toHaveLength(0);
  });

  it("acknowledges a message whose prepare step finds nothing to do without a transaction or inbox row", async () => {
    const db = await node.platform.db();
    const skipped = randomUUID();
    const handled = randomUUID();
    await db.transaction(async (trx) => {
      await writeOutbox(trx, Channels.ORDERS_CANCELLED, { orderId: skipped, userId: "u1", email: "u1@example.com", refundedCents: 0 });
      await writeOutbox(trx, Channels.ORDERS_CANCELLED, { orderId: handled, userId: "u1", email: "u1@example.com", refundedCents: 100 });
    });
    await waitFor("the later message handled", async () => prepared.some((p) => p.orderId === handled));
    await waitFor("both sent", async () => (await db("outbox").whereRaw("payload->>'orderId' in (?, ?)", [skipped, handled]).where({ status: "SENT" })).length === 2);
    expect(prepared.some((p) => p.orderId === skipped)).toBe(false);
    const skippedRow = await db("outbox").whereRaw("payload->>'orderId' = ?", [skipped]).first();
    expect(await db("channel_inbox").where({ message_id: skippedRow.id })).toHaveLength(0);
    expect(await db("failed_messages").where({ message_id: skippedRow.id })).toHaveLength(0);
  });

  it("publishes events with the same key in commit order, even when one of them is retried", async () => {
    const db = await node.platform.db();
    const key = randomUUID();
    const ids: string[] = [randomUUID(), randomUUID(), randomUUID()];
    durableRuntime(node.broker).pauseRelay();
    for (const id of ids) await publish(node, id, key);
    // The first one cannot be published for now: the other two must wait behind it.
    await db("outbox").whereRaw("payload->>'orderId' = ?", [ids[0]]).update({ next_attempt_at: db.raw("now() + interval '400 milliseconds'") });
    durableRuntime(node.broker).pauseRelay(false);
    await waitFor("all three", async () => ids.every((id) => of(id).length === 1), 10_000);
    const order = deliveries.filter((d) => ids.includes(d.orderId)).map((d) => d.orderId);
    expect(order).toEqual(ids);
  });

  it("publishes again a row whose publish failed, after a backoff, once, with the rest of its key behind it", async () => {
    const db = await node.platform.db();
    const key = randomUUID();
    const ids: string[] = [randomUUID(), randomUUID()];
    const broker = node.broker as unknown as { sendToChannel: (name: string, payload: { orderId?: string }, opts: object) => Promise<void> };
    const send = broker.sendToChannel;
    let refused = 0;
    broker.sendToChannel = async function (name, payload, opts) {
      if (payload?.orderId === ids[0] && refused++ === 0) throw new Error("broker unreachable");
      return send.call(this, name, payload, opts);
    };
    try {
      for (const id of ids) await publish(node, id, key);
      await waitFor("both delivered", async () => ids.every((id) => of(id).length === 1), 10_000);
      const row = await db("outbox").whereRaw("payload->>'orderId' = ?", [ids[0]]).first();
      expect(refused).toBeGreaterThanOrEqual(2);
      expect(row).toMatchObject({ attempts: 1, last_error: "broker unreachable" });
      await waitFor("sent", async () => (await db("outbox").whereRaw("payload->>'orderId' = ?", [ids[0]]).first()).status === "SENT");
      expect(deliveries.filter((d) => ids.includes(d.orderId)).map((d) => d.orderId)).toEqual(ids);
    } finally {
      broker.sendToChannel = send;
    }
  });

  it("gathers the events of commits made one after another into fewer claims than commits", async () => {
    // The relay's own 5 ms gathered 17-22 claims here on a quiet machine, but a commit every 5 ms or
    // more (a loaded CI machine: 31 claims) leaves nothing to gather: a wider window shows the
    // mechanism whatever the machine's speed.
    const runtime = durableRuntime(node.broker);
    const gatherMs = runtime.relayGatherMs;
    runtime.relayGatherMs = 200;
    const before = runtime.relayClaims;
    try {
      const ids = Array.from({ length: 30 }, () => randomUUID());
      // Thirty buyers' commits, one after another, each its own transaction, each waking the relay.
      for (const id of ids) await publish(node, id);
      await waitFor("all thirty", async () => ids.every((id) => of(id).length === 1), 10_000);
      // 30 claims when each wake claimed at once (a claim per commit).
      expect(runtime.relayClaims - before).toBeLessThan(ids.length);
    } finally {
      runtime.relayGatherMs = gatherMs;
    }
  });

  it("relays what this process committed without reading it back from the outbox", async () => {
    const db = await node.platform.db();
    const reads: string[] = [];
    const count = (q: { sql?: string }) => {
      if (q.sql && /\bfrom outbox\b/i.test(q.sql) && /^\s*(\/\*.*?\*\/)?\s*select/is.test(q.sql)) reads.push(q.sql);
    };
    // The relay's idle read (after a second with nothing to do) is not what this test is about.
    await publish(node, randomUUID());
    db.on("query", count);
    try {
      const ids: string[] = Array.from({ length: 30 }, () => randomUUID());
      const key = randomUUID();
      // Ten with one key (in commit order), the rest with none.
      for (const [i, id] of ids.entries()) await publish(node, id, i < 10 ? key : undefined);
      await waitFor("all thirty", async () => ids.every((id) => of(id).length === 1), 10_000);
      expect(reads).toEqual([]);
      expect(deliveries.filter((d) => ids.slice(0, 10).includes(d.orderId)).map((d) => d.orderId)).toEqual(ids.slice(0, 10));
      await waitFor("sent", async () => (await db("outbox").whereRaw("payload->>'orderId' = ANY(?)", [ids]).where({ status: "SENT" }).count<{ c: number }[]>({ c: "*" }))[0].c == ids.length);
    } finally {
      db.removeListener("query", count);
    }
  });

  it("relays a row written to the outbox without its writer's hand-off (by hand, say) once it is idle", async () => {
    const db = await node.platform.db();
    // The relay has read the outbox and relays from memory.
    const first = randomUUID();
    await publish(node, first);
    await waitFor("delivered", async () => of(first).length === 1);
    const orderId = randomUUID();
    await db("outbox").insert({ id: randomUUID(), channel: Channels.ORDERS_FAILED, key: orderId, payload: JSON.stringify({ orderId, userId: "u1", email: "u1@example.com", reason: "PAYMENT_DECLINED" }) });
    await waitFor("delivered", async () => of(orderId).length === 1, 10_000);
  });

  it("claims from the table while more rows are pending than it keeps in memory, each once and in key order, then from memory again", async () => {
    const db = await node.platform.db();
    const runtime = durableRuntime(node.broker);
    const memoryRows = runtime.relayMemoryRows;
    let claims = 0;
    const count = (q: { sql?: string }) => {
      if (q.sql?.includes("SELECT o.seq, o.id, o.channel")) claims++;
    };
    db.on("query", count);
    runtime.relayMemoryRows = 10;
    try {
      runtime.pauseRelay();
      const keys = [randomUUID(), randomUUID(), randomUUID()];
      const ids: string[] = Array.from({ length: 45 }, () => randomUUID());
      for (const [i, id] of ids.entries()) await publish(node, id, keys[i % 3]);
      runtime.pauseRelay(false);
      await waitFor("all forty-five", async () => ids.every((id) => of(id).length === 1), 15_000);
      expect(claims).toBeGreaterThan(0);
      for (const key of keys) {
        const mine = ids.filter((_, i) => keys[i % 3] === key);
        expect(deliveries.filter((d) => mine.includes(d.orderId)).map((d) => d.orderId)).toEqual(mine);
      }
      // Once the backlog fits, the relay reads it into memory again: a commit is then relayed without a claim.
      await waitFor("relayed from memory again", async () => {
        claims = 0;
        const id = randomUUID();
        await publish(node, id);
        await waitFor("delivered", async () => of(id).length === 1, 5_000);
        return claims === 0;
      }, 15_000);
    } finally {
      runtime.relayMemoryRows = memoryRows;
      db.removeListener("query", count);
    }
  });
});

describeRelayOrder("embedded");

describe("two embedded nodes in one process", () => {
  it("each relays only what was committed to its own database", async () => {
    const mine: Delivery[] = [];
    const theirs: Delivery[] = [];
    const a = await startTestNode({ services: ["outbox"], schemas: [probe(mine, new Map())] });
    const b = await startTestNode({ services: ["outbox"], schemas: [probe(theirs, new Map())] });
    try {
      const ids: string[] = Array.from({ length: 5 }, () => randomUUID());
      for (const id of ids) await publish(a, id);
      await waitFor("delivered by the node that wrote them", async () => ids.every((id) => mine.filter((d) => d.orderId === id).length === 1));
      // A relay that took rows committed to another database would publish them on its own node.
      await publish(b, randomUUID());
      await waitFor("the other node's own event", async () => theirs.length === 1);
      expect(theirs.filter((d) => ids.includes(d.orderId))).toEqual([]);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe("a crash between commit and publish", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-outbox-"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("loses nothing: the next node on the same database delivers the event once", async () => {
    const first: Delivery[] = [];
    const node1 = await startTestNode({ services: ["outbox"], env: { DATA_DIR: dir }, schemas: [probe(first, new Map())] });
    durableRuntime(node1.broker).pauseRelay();
    const orderId = randomUUID();
    await publish(node1, orderId);
    await node1.stop();
    expect(first).toHaveLength(0);

    const second: Delivery[] = [];
    const node2 = await startTestNode({ services: ["outbox"], env: { DATA_DIR: dir }, schemas: [probe(second, new Map())] });
    try {
      await waitFor("delivery after restart", async () => second.some((d) => d.orderId === orderId));
      const db = await node2.platform.db();
      await waitFor("sent", async () => (await db("outbox").whereRaw("payload->>'orderId' = ?", [orderId]).first()).status === "SENT");
      expect(second.filter((d) => d.orderId === orderId)).toHaveLength(1);
    } finally {
      await node2.stop();
    }
  });
});

/** Several relays (nodes) on one PostgreSQL server share the outbox: each row is published once, per key in order. */
