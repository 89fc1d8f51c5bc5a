import type { Knex } from "knex";

/**
 * A mail sent over SMTP is no longer sent inside a transaction (on the embedded database one
 * holds up every other statement of the node for as long as the SMTP server takes to answer):
 * the row is claimed as SENDING until `sending_until`, sent, then marked SENT. A claim whose
 * delivery died runs out, and the next delivery sends the mail.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("notifications", (t) => {
    t.timestamp("sending_until", { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("notifications", (t) => t.dropColumn("sending_until"));
}
