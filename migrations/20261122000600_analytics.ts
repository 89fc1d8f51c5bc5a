import type { Knex } from "knex";

/** The activity stream (POST /api/analytics/events): what buyers look at and do, for the funnel. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("analytics_events", (t) => {
    t.text("id").primary();
    t.text("type").notNullable();
    t.text("event_id");
    t.text("session_id");
    t.text("user_id");
    t.jsonb("props").notNullable().defaultTo("{}");
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(["session_id", "created_at"]);
    t.index(["event_id", "created_at"]);
  });
  // Sales over time are counted from tickets; scope queries by session and time.
  await knex.raw("CREATE INDEX IF NOT EXISTS tickets_session_created_idx ON tickets (session_id, created_at)");
  await knex.raw("CREATE INDEX IF NOT EXISTS orders_session_status_idx ON orders (session_id, status)");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("DROP INDEX IF EXISTS orders_session_status_idx");
  await knex.raw("DROP INDEX IF EXISTS tickets_session_created_idx");
  await knex.schema.dropTable("analytics_events");
}
