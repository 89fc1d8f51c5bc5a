import type { Knex } from "knex";

/** Bookkeeping the platform itself needs: which seeds ran. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("seed_runs", (t) => {
    t.string("name", 200).primary();
    t.timestamp("ran_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("seed_runs");
}
