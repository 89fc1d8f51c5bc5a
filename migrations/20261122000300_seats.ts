import type { Knex } from "knex";

/**
 * The seat actor's durable state (shared/CONTRACTS.md "Seats").
 * - `seat_actors`: one row per session that ever had an actor: the ownership epoch that fences
 *   every write, and the seat map version.
 * - `holds`: every hold and how it ended.
 * - `seat_claims`: who has each seat (or GA place `<areaId>#<n>`) right now: held, sold or
 *   blocked. Its primary key is the last line of defence: whatever an actor believes, the
 *   database never lets a seat be held or sold twice.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("seat_actors", (t) => {
    t.text("session_id").primary();
    t.bigInteger("epoch").notNullable();
    t.text("node_id").notNullable();
    t.bigInteger("version").notNullable().defaultTo(0);
    t.timestamp("activated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("committed_at", { useTz: true });
  });

  await knex.schema.createTable("holds", (t) => {
    t.text("id").primary();
    t.text("session_id").notNullable();
    t.text("user_id").notNullable();
    t.jsonb("items").notNullable();
    t.integer("quantity").notNullable();
    t.timestamp("expires_at", { useTz: true }).notNullable();
    t.text("status").notNullable();
    t.text("order_id");
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE holds ADD CONSTRAINT holds_rules_check CHECK (
    status IN ('ACTIVE', 'CONFIRMED', 'RELEASED', 'EXPIRED')
    AND quantity > 0
    AND (status = 'CONFIRMED') = (order_id IS NOT NULL))`);
  // One order buys one hold.
  await knex.raw("CREATE UNIQUE INDEX holds_order_idx ON holds (order_id) WHERE order_id IS NOT NULL");
  // Activation loads a session's live holds; the expiry sweep finds sessions with holds due.
  await knex.raw("CREATE INDEX holds_session_idx ON holds (session_id, status)");
  await knex.raw("CREATE INDEX holds_expiry_idx ON holds (expires_at) WHERE status = 'ACTIVE'");
  await knex.raw("CREATE INDEX holds_user_idx ON holds (user_id, session_id)");

  await knex.schema.createTable("seat_claims", (t) => {
    t.text("session_id").notNullable();
    t.text("seat_id").notNullable();
    t.text("kind").notNullable();
    t.text("hold_id");
    t.text("order_id");
    t.text("user_id");
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(["session_id", "seat_id"]);
  });
  await knex.raw(`ALTER TABLE seat_claims ADD CONSTRAINT seat_claims_kind_check CHECK (
    (kind = 'block' AND hold_id IS NULL AND order_id IS NULL)
    OR (kind = 'hold' AND hold_id IS NOT NULL AND order_id IS NULL)
    OR (kind = 'sold' AND hold_id IS NOT NULL AND order_id IS NOT NULL))`);
  await knex.raw("CREATE INDEX seat_claims_order_idx ON seat_claims (order_id) WHERE order_id IS NOT NULL");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("seat_claims");
  await knex.schema.dropTableIfExists("holds");
  await knex.schema.dropTableIfExists("seat_actors");
}
