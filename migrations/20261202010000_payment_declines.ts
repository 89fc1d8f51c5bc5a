import type { Knex } from "knex";

/**
 * The velocity check counts a user's and a card's declined payments of the last minutes. Read
 * from `payments`, it walked every recent payment made with the card, declined or not (in a sale
 * paid with one card, thousands: 0.75 ms per order on the embedded database's thread). Putting
 * the status in an index would instead make every status change of a payment write a new entry
 * in each of its indexes. So the declines are also kept on their own, written by the statement
 * that records the decline, and the card's index on `payments` (read by nothing else) goes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("payment_declines", (t) => {
    t.text("payment_id").primary().references("payments.id").onDelete("CASCADE");
    t.text("user_id").notNullable();
    t.text("card_fingerprint");
    // The payment's own created_at: the window is counted from when the attempt was made.
    t.timestamp("created_at", { useTz: true }).notNullable();
    t.index(["user_id", "created_at"]);
    t.index(["card_fingerprint", "created_at"]);
  });
  await knex.raw(`INSERT INTO payment_declines (payment_id, user_id, card_fingerprint, created_at)
                  SELECT id, user_id, card_fingerprint, created_at FROM payments WHERE status = 'DECLINED'`);
  await knex.schema.alterTable("payments", (t) => t.dropIndex(["card_fingerprint", "created_at"]));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("payments", (t) => t.index(["card_fingerprint", "created_at"]));
  await knex.schema.dropTableIfExists("payment_declines");
}
