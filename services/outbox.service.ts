/**
 * The operator's view of durable events: dead letters (deliveries that failed every retry) and
 * their replay, plus the outbox backlog. Internal actions, also published to admins over REST.
 * The relay and the retries themselves run in every service that uses OutboxMixin.
 */
import type { Knex } from "knex";
import type { Context, ServiceSchema } from "moleculer";
import { DbMixin } from "../mixins/db.mixin";
import { OutboxMixin } from "../mixins/outbox.mixin";
import { notFound } from "../src/platform/errors";

interface DeadLetterRow {
  id: string;
  message_id: string;
  consumer_group: string;
  channel: string;
  payload: unknown;
  attempts: number;
  status: string;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

function present(row: DeadLetterRow) {
  return {
    id: row.id,
    messageId: row.message_id,
    channel: row.channel,
    group: row.consumer_group,
    payload: row.payload,
    attempts: row.attempts,
    status: row.status,
    lastError: row.last_error,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

const OutboxService: ServiceSchema = {
  name: "outbox",
  mixins: [DbMixin, OutboxMixin],
  settings: { rest: "/" },

  actions: {
    deadLetters: {
      rest: "GET /admin/dead-letters",
      roles: ["admin"],
      params: {
        channel: { type: "string", max: 100, optional: true },
        group: { type: "string", max: 200, optional: true },
        page: { type: "number", integer: true, min: 1, max: 10_000, optional: true, convert: true },
        pageSize: { type: "number", integer: true, min: 1, max: 200, optional: true, convert: true },
      },
      async handler(this: { db: Knex }, ctx: Context<{ channel?: string; group?: string; page?: number; pageSize?: number }>) {
        const { channel, group, page = 1, pageSize = 50 } = ctx.params;
        const base = this.db("failed_messages").where({ status: "DEAD" });
        if (channel) base.andWhere({ channel });
        if (group) base.andWhere({ consumer_group: group });
        const [{ count }] = await base.clone().count<{ count: number }[]>({ count: "*" });
        const rows = await base.orderBy("created_at", "asc").offset((page - 1) * pageSize).limit(pageSize);
        return { items: (rows as DeadLetterRow[]).map(present), total: Number(count), page, pageSize };
      },
    },

    replay: {
      rest: "POST /admin/dead-letters/:id/replay",
      roles: ["admin"],
      params: { id: { type: "string", max: 64 } },
      async handler(this: { db: Knex }, ctx: Context<{ id: string }>) {
        // Back to RETRYING with a fresh attempt budget; any node running the consumer picks it up.
        const [row] = await this.db("failed_messages")
          .where({ id: ctx.params.id, status: "DEAD" })
          .update({ status: "RETRYING", attempts: 0, next_attempt_at: this.db.fn.now(), locked_until: null, updated_at: this.db.fn.now() })
          .returning("*");
        if (!row) throw notFound("Dead letter");
        return present(row as DeadLetterRow);
      },
    },

    backlog: {
      rest: "GET /admin/outbox",
      roles: ["admin"],
      async handler(this: { db: Knex }) {
        const rows = await this.db("outbox")
          .where({ status: "PENDING" })
          .select("channel")
          .count({ count: "*" })
          .min({ oldest: "created_at" })
          .groupBy("channel") as unknown as { channel: string; count: number; oldest: Date }[];
        return { pending: rows.map((r) => ({ channel: r.channel, count: Number(r.count), oldest: r.oldest })) };
      },
    },
  },
};

export default OutboxService;
