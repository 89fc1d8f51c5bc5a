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

  // One batch of the seat actor, in one round trip and one transaction (src/seats/store.ts):
  // fenced by the epoch, claims deleted only if they are exactly as the actor says, new claims
  // refused by the primary key if the seat is taken, holds upserted within their own session.
  await knex.raw(`
    CREATE FUNCTION seat_commit(p_session text, p_epoch bigint, p_version bigint, p_deletes jsonb, p_inserts jsonb, p_holds jsonb)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE n integer;
    BEGIN
      UPDATE seat_actors SET version = p_version, committed_at = now() WHERE session_id = p_session AND epoch = p_epoch;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'seat actor of session % lost epoch %', p_session, p_epoch USING ERRCODE = 'TF001';
      END IF;
      DELETE FROM seat_claims c USING jsonb_to_recordset(p_deletes) AS d(seat_id text, kind text, hold_id text, order_id text)
        WHERE c.session_id = p_session AND c.seat_id = d.seat_id AND c.kind = d.kind
          AND c.hold_id IS NOT DISTINCT FROM d.hold_id AND c.order_id IS NOT DISTINCT FROM d.order_id;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n <> jsonb_array_length(p_deletes) THEN
        RAISE EXCEPTION 'seat claims of session % diverged: deleted % of %', p_session, n, jsonb_array_length(p_deletes) USING ERRCODE = 'TF002';
      END IF;
      INSERT INTO seat_claims (session_id, seat_id, kind, hold_id, order_id, user_id)
        SELECT p_session, r.seat_id, r.kind, r.hold_id, r.order_id, r.user_id
        FROM jsonb_to_recordset(p_inserts) AS r(seat_id text, kind text, hold_id text, order_id text, user_id text);
      INSERT INTO holds (id, session_id, user_id, items, quantity, expires_at, status, order_id, created_at, updated_at)
        SELECT r.id, p_session, r.user_id, r.items, r.quantity, r.expires_at, r.status, r.order_id, r.created_at, now()
        FROM jsonb_to_recordset(p_holds)
          AS r(id text, user_id text, items jsonb, quantity int, expires_at timestamptz, status text, order_id text, created_at timestamptz)
        ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, expires_at = EXCLUDED.expires_at,
          order_id = EXCLUDED.order_id, updated_at = now()
        WHERE holds.session_id = EXCLUDED.session_id;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n <> jsonb_array_length(p_holds) THEN
        RAISE EXCEPTION 'hold ids of session % collide with another session', p_session USING ERRCODE = 'TF003';
      END IF;
    END $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw("DROP FUNCTION IF EXISTS seat_commit(text, bigint, bigint, jsonb, jsonb, jsonb)");
  await knex.schema.dropTableIfExists("seat_claims");
  await knex.schema.dropTableIfExists("holds");
  await knex.schema.dropTableIfExists("seat_actors");
}
