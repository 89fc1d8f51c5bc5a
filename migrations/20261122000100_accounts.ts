import type { Knex } from "knex";

/** Accounts: users (credentials and roles) and refresh tokens (hashed, grouped in families). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("users", (t) => {
    t.text("id").primary();
    // Stored lower-cased: the unique index is what makes "one account per email" hold under races.
    t.text("email").notNullable().unique();
    t.text("name").notNullable();
    t.text("password_hash").notNullable();
    t.jsonb("roles").notNullable().defaultTo(JSON.stringify(["buyer"]));
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable("refresh_tokens", (t) => {
    t.text("id").primary();
    t.text("token_hash").notNullable().unique();
    t.text("user_id").notNullable().index();
    t.text("family_id").notNullable().index();
    t.text("parent_id").nullable();
    t.timestamp("expires_at", { useTz: true }).notNullable().index();
    t.timestamp("used_at", { useTz: true }).nullable();
    t.timestamp("revoked_at", { useTz: true }).nullable();
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("refresh_tokens");
  await knex.schema.dropTable("users");
}
