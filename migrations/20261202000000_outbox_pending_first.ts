import type { Knex } from "knex";

/**
 * The relay claims the channels a buyer waits on ahead of the rest (RELAYED_FIRST in
 * channels/index.ts, the same list as here: a change there needs a migration that rebuilds this
 * index, and a test in test/helpers/outbox.ts compares the two). On PostgreSQL it reads their
 * oldest pending rows from this index in commit order with a limit, so the claim stays an index
 * scan however long the backlog.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("CREATE INDEX IF NOT EXISTS outbox_pending_first_idx ON outbox (seq) WHERE status = 'PENDING' AND channel IN ('orders.confirmed', 'orders.cancelled')");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("DROP INDEX IF EXISTS outbox_pending_first_idx");
}
