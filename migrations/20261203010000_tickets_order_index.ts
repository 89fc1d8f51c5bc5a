import type { Knex } from "knex";

/**
 * `tickets (order_id)` repeated what UNIQUE(order_id, position) already indexes by its first
 * column: every ticket issued wrote one index entry for nothing (2.7 per order in a sale). Reads
 * by order (an order's tickets, in position order; revocation) use the unique index.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("DROP INDEX IF EXISTS tickets_order_id_index");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("CREATE INDEX IF NOT EXISTS tickets_order_id_index ON tickets (order_id)");
}
