import type { Knex } from "knex";

/**
 * Durable events (outbox, consumer inbox, failed deliveries / dead letters), orders, payments and
 * the mock payment provider's own ledger.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("outbox", (t) => {
    // Publish order; `id` is the message id consumers deduplicate on.
    t.bigIncrements("seq").primary();
    t.text("id").notNullable().unique();
    t.text("channel").notNullable();
    // Events with the same key (an order id) are published in commit order.
    t.text("key");
    t.jsonb("payload").notNullable();
    t.text("status").notNullable().defaultTo("PENDING");
    t.integer("attempts").notNullable().defaultTo(0);
    t.timestamp("next_attempt_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("locked_until", { useTz: true });
    t.text("locked_by");
    t.text("last_error");
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("sent_at", { useTz: true });
  });
  await knex.raw("ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('PENDING', 'SENT'))");
  await knex.raw("CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE status = 'PENDING'");
  await knex.raw("CREATE INDEX outbox_pending_key_idx ON outbox (key, seq) WHERE status = 'PENDING'");

  await knex.schema.createTable("channel_inbox", (t) => {
    t.text("message_id").notNullable();
    t.text("consumer_group").notNullable();
    t.text("channel").notNullable();
    t.timestamp("processed_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(["message_id", "consumer_group"]);
  });

  // Deliveries whose handler failed: RETRYING with backoff, DEAD after the last attempt (the
  // dead-letter table operators list and replay), DONE once a retry succeeded.
  await knex.schema.createTable("failed_messages", (t) => {
    t.text("id").primary();
    t.text("message_id").notNullable();
    t.text("consumer_group").notNullable();
    t.text("channel").notNullable();
    t.jsonb("payload").notNullable();
    t.integer("attempts").notNullable();
    t.text("status").notNullable();
    t.timestamp("next_attempt_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("locked_until", { useTz: true });
    t.text("last_error");
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(["message_id", "consumer_group"]);
  });
  await knex.raw("ALTER TABLE failed_messages ADD CONSTRAINT failed_messages_status_check CHECK (status IN ('RETRYING', 'DEAD', 'DONE'))");
  await knex.raw("CREATE INDEX failed_messages_due_idx ON failed_messages (next_attempt_at) WHERE status = 'RETRYING'");
  await knex.raw("CREATE INDEX failed_messages_dead_idx ON failed_messages (created_at) WHERE status = 'DEAD'");

  await knex.schema.createTable("orders", (t) => {
    t.text("id").primary();
    t.text("user_id").notNullable();
    t.text("email").notNullable();
    t.text("holder_name").notNullable();
    t.text("session_id").notNullable();
    t.text("event_id").notNullable();
    t.text("hold_id").notNullable();
    t.text("status").notNullable().defaultTo("PENDING");
    t.text("reason");
    // The saga's next step; DONE when nothing is left to do (see services/orders.service.ts).
    t.text("step").notNullable();
    t.integer("step_attempts").notNullable().defaultTo(0);
    // Lease of the node driving the saga; a recovery sweep takes over when it runs out.
    t.text("saga_owner");
    t.timestamp("saga_locked_until", { useTz: true });
    t.integer("total_cents").notNullable();
    t.specificType("currency", "char(3)").notNullable();
    t.jsonb("items").notNullable();
    t.integer("refunded_cents").notNullable().defaultTo(0);
    t.text("payment_id");
    t.text("idempotency_key").notNullable();
    // What the idempotency key was first used for: a reuse for another request is refused.
    t.text("request_hash").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(["user_id", "idempotency_key"]);
    t.index(["user_id", "created_at"]);
  });
  await knex.raw(`ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (
    status IN ('PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED', 'REFUNDED') AND total_cents >= 0 AND refunded_cents >= 0)`);
  // One live order per hold: a second order (another idempotency key) for the same seats is refused.
  await knex.raw("CREATE UNIQUE INDEX orders_live_hold_idx ON orders (hold_id) WHERE status <> 'FAILED'");
  await knex.raw("CREATE INDEX orders_saga_idx ON orders (saga_locked_until) WHERE step <> 'DONE'");

  await knex.schema.createTable("payments", (t) => {
    t.text("id").primary();
    t.text("order_id").notNullable().unique();
    t.text("user_id").notNullable();
    t.integer("amount_cents").notNullable();
    t.specificType("currency", "char(3)").notNullable();
    t.text("status").notNullable();
    t.text("decline_code");
    t.text("provider").notNullable();
    t.text("authorization_id");
    t.text("capture_id");
    t.text("refund_id");
    t.integer("refunded_cents").notNullable().defaultTo(0);
    // Never the card number or CVC: brand and last four digits for display, and a keyed hash
    // (HMAC) of the number so that failures can be counted per card.
    t.text("card_brand");
    t.specificType("card_last4", "char(4)");
    t.text("card_fingerprint");
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(["user_id", "created_at"]);
    t.index(["card_fingerprint", "created_at"]);
  });
  await knex.raw(`ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (
    status IN ('PENDING', 'AUTHORIZED', 'DECLINED', 'FAILED', 'CAPTURED', 'VOIDED', 'REFUNDED'))`);

  // The built-in mock provider keeps its ledger like a real provider would: idempotency keys and
  // authorizations survive our crashes.
  await knex.schema.createTable("mock_provider_operations", (t) => {
    t.text("idempotency_key").primary();
    t.text("operation").notNullable();
    t.text("request_hash").notNullable();
    t.jsonb("response").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable("mock_provider_authorizations", (t) => {
    t.text("id").primary();
    t.integer("amount_cents").notNullable();
    t.specificType("currency", "char(3)").notNullable();
    t.text("status").notNullable(); // authorized | captured | voided | refunded
    t.integer("captured_cents").notNullable().defaultTo(0);
    t.integer("refunded_cents").notNullable().defaultTo(0);
    t.specificType("card_last4", "char(4)").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ["mock_provider_authorizations", "mock_provider_operations", "payments", "orders", "failed_messages", "channel_inbox", "outbox"]) {
    await knex.schema.dropTableIfExists(table);
  }
}
