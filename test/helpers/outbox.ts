/**
 * Test consumers of durable events and the relay-order suite, shared by the embedded tests
 * (test/integration/outbox.test.ts) and the PostgreSQL ones (test/cluster/outbox-postgres.test.ts).
 */
import { randomUUID } from "crypto";
import type { Knex } from "knex";
import type { ServiceSchema } from "moleculer";
import { Channels, OrdersCancelled, OrdersFailed, RELAYED_FIRST, TicketsRendered } from "../../channels";
import { DbMixin } from "../../mixins/db.mixin";
import { durable, durableRuntime, MessageInfo, NOTHING_TO_DO, OutboxMixin, writeOutbox } from "../../mixins/outbox.mixin";
import { startTestNode, TestNode } from "./node";
import { TestDatabase, waitFor } from "./infra";

export interface Delivery {
  orderId: string;
  messageId: string;
  attempt: number;
  at: number;
  /** Place among all deliveries to both test consumers, in the order they happened. */
  n: number;
}

let deliveredSoFar = 0;

/** A consumer of `orders.failed` whose behaviour per order id the test decides. */
export function probe(deliveries: Delivery[], failures: Map<string, number>, group?: string): ServiceSchema {
  return {
    name: "probe",
    mixins: [DbMixin, OutboxMixin],
    channels: {
      [Channels.ORDERS_FAILED]: durable<OrdersFailed>(
        async function (payload: OrdersFailed, trx: Knex.Transaction, message: MessageInfo) {
          deliveries.push({ orderId: payload.orderId, messageId: message.id, attempt: message.attempt, at: Date.now(), n: ++deliveredSoFar });
          // An effect in the same transaction: rolled back when the handler fails.
          await trx.raw("SELECT 1");
          const left = failures.get(payload.orderId) ?? 0;
          if (left > 0) {
            failures.set(payload.orderId, left - 1);
            throw new Error(`probe refuses ${payload.orderId}`);
          }
        },
        { maxAttempts: 4, backoff: { baseMs: 150, maxMs: 2000 }, group },
      ),
    },
  };
}

export interface Prepared {
  orderId: string;
  attempt: number;
  /** What prepare read through the service's own pool: impossible inside the consumer's transaction on PGlite's one session. */
  ordersSeen: number;
  /** Place among all deliveries to both test consumers (set when the handler runs). */
  n?: number;
}

/**
 * A consumer of `orders.cancelled` with a prepare step (the PDF worker's pattern): slow work before
 * the transaction, its result handed to the handler. `failFirst` makes the first attempt's handler throw.
 */
export function preparer(received: Prepared[], failFirst: Set<string>): ServiceSchema {
  return {
    name: "preparer",
    mixins: [DbMixin, OutboxMixin],
    channels: {
      [Channels.ORDERS_CANCELLED]: durable<OrdersCancelled>(
        async function (payload: OrdersCancelled, trx: Knex.Transaction, message: MessageInfo, prepared: Prepared) {
          received.push({ ...prepared, n: ++deliveredSoFar });
          await trx.raw("SELECT 1");
          if (failFirst.delete(payload.orderId)) throw new Error(`preparer refuses ${payload.orderId} once`);
        },
        {
          maxAttempts: 3,
          backoff: { baseMs: 100, maxMs: 500 },
          async prepare(this: { db: Knex }, payload: OrdersCancelled, message: MessageInfo): Promise<Prepared | typeof NOTHING_TO_DO> {
            // Nothing refunded: nothing for this consumer to do (the webhooks' "no subscriber" case).
            if (payload.refundedCents === 0) return NOTHING_TO_DO;
            const [{ c }] = await this.db("orders").count<{ c: number }[]>({ c: "*" });
            return { orderId: payload.orderId, attempt: message.attempt, ordersSeen: Number(c) };
          },
        },
      ),
    },
  };
}

/**
 * A consumer of `tickets.rendered` and `tickets.issued` (no inbox) that records each order it
 * starts on and finishes only once the order's promise in `stalled` settles: a consumer that is slow.
 */
export function slowConsumer(started: string[], stalled: Map<string, Promise<void>>): ServiceSchema {
  const handler = durable<TicketsRendered>(async function (payload: TicketsRendered) {
    started.push(payload.orderId);
    await stalled.get(payload.orderId);
  }, { inbox: false });
  return {
    name: "slow-consumer",
    mixins: [DbMixin, OutboxMixin],
    channels: { [Channels.TICKETS_RENDERED]: handler, [Channels.TICKETS_ISSUED]: handler },
  };
}

/**
 * The relay's order across channels: what a buyer waits on (RELAYED_FIRST) ahead of a backlog of
 * other events, and the rest by commit order again once it waited 30 s. `database` gives the node
 * its DATABASE_URL (PostgreSQL) and drops it after, or nothing for the embedded database.
 */
export function describeRelayOrder(mode: string, database?: () => Promise<TestDatabase>) {
  describe(`the relay's order across channels (${mode})`, () => {
    let node: TestNode;
    let server: TestDatabase | undefined;
    const deliveries: Delivery[] = [];
    const cancelled: Prepared[] = [];
    const rendered: string[] = [];
    const stalled = new Map<string, Promise<void>>();

    beforeAll(async () => {
      server = await database?.();
      const schemas = [probe(deliveries, new Map()), preparer(cancelled, new Set()), slowConsumer(rendered, stalled)];
      node = await startTestNode({ services: ["outbox"], env: server ? { DATABASE_URL: server.url } : {}, schemas });
    });
    afterAll(async () => {
      await node.stop();
      await server?.drop();
    });

    /** Writes `count` orders.failed events (mail only) in one transaction, with keys of their own. */
    async function backlog(count: number) {
      const db = await node.platform.db();
      const ids: string[] = Array.from({ length: count }, () => randomUUID());
      await db.transaction(async (trx) => {
        for (const orderId of ids) await writeOutbox(trx, Channels.ORDERS_FAILED, { orderId, userId: "u1", email: "u1@example.com", reason: "PAYMENT_DECLINED" }, { key: orderId });
      });
      return ids;
    }

    it("relays what a buyer waits on (a refund's ticket cancellation) ahead of a backlog of mail committed before it", async () => {
      const db = await node.platform.db();
      durableRuntime(node.broker).pauseRelay();
      const mail = await backlog(150);
      const refunded = randomUUID();
      await db.transaction((trx) => writeOutbox(trx, Channels.ORDERS_CANCELLED, { orderId: refunded, userId: "u1", email: "u1@example.com", refundedCents: 500 }, { key: refunded }));
      durableRuntime(node.broker).pauseRelay(false);
      await waitFor("everything delivered", async () => cancelled.some((p) => p.orderId === refunded) && mail.every((id) => deliveries.some((d) => d.orderId === id)), 30_000);
      const at = cancelled.find((p) => p.orderId === refunded)!.n!;
      // In commit order it would come after at least 100 of them: the relay has 100 rows in flight at
      // most. It goes out in the first 32 published, but its consumer reads the database before it
      // runs, so the mails of that batch and of the next can be delivered first on a busy machine
      // (32 of them once in CI): fewer than two batches' worth.
      expect(deliveries.filter((d) => mail.includes(d.orderId) && d.n < at).length).toBeLessThan(64);
    });

    it("keeps delivering the other channels while one channel's consumer is slow: it holds half the publishing slots at most", async () => {
      const db = await node.platform.db();
      // Forty orders whose `tickets.rendered` consumer does not finish (more than the relay's 32
      // slots: mails over an SMTP server that does not answer) ...
      let finish!: () => void;
      const slow = new Promise<void>((resolve) => (finish = resolve));
      const orders: string[] = Array.from({ length: 40 }, () => randomUUID());
      for (const id of orders) stalled.set(id, slow);
      try {
        await db.transaction(async (trx) => {
          for (const orderId of orders) await writeOutbox(trx, Channels.TICKETS_RENDERED, { orderId, userId: "u1", ticketIds: [] }, { key: orderId });
        });
        await waitFor("the slow consumer holding its slots", async () => orders.filter((id) => rendered.includes(id)).length >= 16, 15_000);
        // ... then mail on another channel: it is delivered while they wait. With every slot open
        // to every channel, the slow one took them all and the mail waited for it.
        const mail = await backlog(10);
        await waitFor("the mail delivered while the slow consumer waits", async () => mail.every((id) => deliveries.some((d) => d.orderId === id)), 15_000);
        expect(orders.filter((id) => rendered.includes(id))).toHaveLength(16);
      } finally {
        finish();
      }
      await waitFor("every order's event handled once the slow consumer goes on", async () => orders.every((id) => rendered.filter((r) => r === id).length === 1), 30_000);
    });

    it("keeps a quarter of the publishing slots for what a buyer waits on while the other channels are slow", async () => {
      const db = await node.platform.db();
      let finish!: () => void;
      const slow = new Promise<void>((resolve) => (finish = resolve));
      // Fifty orders' tickets.rendered and fifty others' tickets.issued whose consumer does not
      // finish (more than the relay's 32 slots, and as many as it claims at once) ...
      const orders: Array<[string, typeof Channels.TICKETS_RENDERED | typeof Channels.TICKETS_ISSUED]> = Array.from({ length: 100 }, (_, i) => [randomUUID(), i % 2 ? Channels.TICKETS_RENDERED : Channels.TICKETS_ISSUED]);
      for (const [id] of orders) stalled.set(id, slow);
      const refunds: string[] = Array.from({ length: 5 }, () => randomUUID());
      try {
        await db.transaction(async (trx) => {
          for (const [orderId, channel] of orders) await writeOutbox(trx, channel, { orderId, userId: "u1", ticketIds: [] }, { key: orderId });
        });
        const held = () => orders.filter(([id]) => rendered.includes(id)).length;
        await waitFor("the slow consumer holding its slots", async () => held() >= 24, 15_000);
        // ... then refunds: their ticket cancellations are claimed and delivered while the rest
        // wait. With every slot open to every channel, the slow ones took them all; with the
        // claimed rows counted whatever their channel, the refunds were not even claimed.
        await db.transaction(async (trx) => {
          for (const orderId of refunds) await writeOutbox(trx, Channels.ORDERS_CANCELLED, { orderId, userId: "u1", email: "u1@example.com", refundedCents: 500 }, { key: orderId });
        });
        await waitFor("the refunds delivered while the slow consumer waits", async () => refunds.every((id) => cancelled.some((p) => p.orderId === id)), 15_000);
        expect(held()).toBe(24);
      } finally {
        finish();
      }
      await waitFor("every order's event handled once the slow consumer goes on", async () => orders.every(([id]) => rendered.filter((r) => r === id).length === 1), 30_000);
    });

    it("has the index the claim reads the channels relayed first from, with the same channels", async () => {
      const db = await node.platform.db();
      const { rows } = await db.raw<{ rows: Array<{ indexdef: string }> }>("SELECT indexdef FROM pg_indexes WHERE indexname = 'outbox_pending_first_idx'");
      expect(rows).toHaveLength(1);
      const channels = [...rows[0].indexdef.matchAll(/'([^']+)'::text/g)].map((m) => m[1]).filter((c) => c !== "PENDING");
      expect(channels.sort()).toEqual([...RELAYED_FIRST].sort());
    });

    it("lets the rest wait at most 30 s: a row that waited that long goes by commit order again", async () => {
      const db = await node.platform.db();
      durableRuntime(node.broker).pauseRelay();
      const old = await backlog(3);
      const mail = await backlog(150);
      const refunds: string[] = Array.from({ length: 40 }, () => randomUUID());
      await db.transaction(async (trx) => {
        for (const orderId of refunds) await writeOutbox(trx, Channels.ORDERS_CANCELLED, { orderId, userId: "u1", email: "u1@example.com", refundedCents: 500 }, { key: orderId });
      });
      await db("outbox").whereRaw("payload->>'orderId' = ANY(?)", [old]).update({ created_at: db.raw("now() - interval '31 seconds'") });
      durableRuntime(node.broker).pauseRelay(false);
      const all = [...old, ...mail];
      await waitFor("everything delivered", async () => refunds.every((id) => cancelled.some((p) => p.orderId === id)) && all.every((id) => deliveries.some((d) => d.orderId === id)), 30_000);
      const n = (id: string) => deliveries.find((d) => d.orderId === id)?.n ?? cancelled.find((p) => p.orderId === id)!.n!;
      // The three that waited go with the refunds (behind all 40 of them if they had not waited), and
      // the rest of the mail after the refunds (all 150 before them in commit order). The refunds'
      // consumer reads the database before it runs, so mail published after them can overtake the
      // last few: fewer than two publishing batches' worth.
      const lastOld = Math.max(...old.map(n));
      expect(refunds.filter((id) => n(id) < lastOld).length).toBeLessThan(32);
      expect(mail.filter((id) => n(id) < Math.max(...refunds.map(n))).length).toBeLessThan(64);
    });
  });
}
