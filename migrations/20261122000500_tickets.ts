import type { Knex } from "knex";

/** Tickets, their rendered PDFs, the notifications sent to buyers and integrators' webhooks. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("tickets", (t) => {
    t.text("id").primary();
    t.text("order_id").notNullable();
    // The item's position in the order: a redelivered `orders.confirmed` hits UNIQUE(order_id, position).
    t.integer("position").notNullable();
    t.text("user_id").notNullable();
    t.text("session_id").notNullable();
    t.text("event_id");
    t.text("seat_id").notNullable();
    t.text("seat_label").notNullable();
    t.text("category");
    t.text("holder_name").notNullable();
    t.text("status").notNullable().defaultTo("VALID");
    t.text("code").notNullable();
    t.timestamp("used_at", { useTz: true });
    t.text("used_by");
    t.timestamp("revoked_at", { useTz: true });
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(["order_id", "position"]);
    t.index(["user_id", "created_at"]);
    t.index(["order_id"]);
  });
  await knex.raw(`ALTER TABLE tickets ADD CONSTRAINT tickets_status_check CHECK (status IN ('VALID','USED','REVOKED'))`);

  // PDFs live in the database so any node can serve them; addressed only by ticket id.
  await knex.schema.createTable("ticket_files", (t) => {
    t.text("ticket_id").primary();
    t.text("content_type").notNullable();
    t.binary("content").notNullable();
    t.integer("size").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable("notifications", (t) => {
    t.text("id").primary();
    t.text("user_id").notNullable();
    t.text("order_id").notNullable();
    t.text("kind").notNullable(); // order_confirmed | order_failed | order_cancelled
    t.text("channel").notNullable().defaultTo("email");
    t.text("recipient").notNullable();
    t.text("subject");
    // WAITING: the confirmation waits for the PDFs. Failed sends are retried by the channel
    // (failed_messages), so a row is otherwise written together with its successful send.
    t.text("status").notNullable();
    t.jsonb("context").notNullable();
    t.integer("attachments").notNullable().defaultTo(0);
    t.text("message_id");
    // The sent message (RFC 822) when there is neither SMTP nor a data directory (in-memory mode).
    t.binary("raw");
    t.timestamp("sent_at", { useTz: true });
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(["order_id", "kind"]);
    t.index(["user_id", "created_at"]);
  });

  await knex.schema.createTable("webhooks", (t) => {
    t.text("id").primary();
    t.text("owner_id").notNullable();
    // Admin-created hooks see every order; an organizer's only those of their own events.
    t.boolean("all_events").notNullable().defaultTo(false);
    t.text("url").notNullable();
    t.jsonb("events").notNullable();
    t.text("secret").notNullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(["owner_id"]);
  });

  await knex.schema.createTable("webhook_deliveries", (t) => {
    t.text("id").primary();
    t.text("webhook_id").notNullable();
    t.text("event").notNullable();
    // `<event>:<orderId>`: the same message delivered twice to us is queued once.
    t.text("event_key").notNullable();
    t.text("body").notNullable();
    t.text("status").notNullable().defaultTo("PENDING"); // PENDING | DELIVERED | FAILED
    t.integer("attempts").notNullable().defaultTo(0);
    t.timestamp("next_attempt_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.integer("last_status");
    t.text("last_error");
    t.timestamp("delivered_at", { useTz: true });
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(["webhook_id", "event_key"]);
    t.index(["status", "next_attempt_at"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ["webhook_deliveries", "webhooks", "notifications", "ticket_files", "tickets"]) {
    await knex.schema.dropTableIfExists(table);
  }
}
