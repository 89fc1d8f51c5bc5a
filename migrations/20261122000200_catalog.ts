import type { Knex } from "knex";

/**
 * Catalog tables (shared/CONTRACTS.md "Catalog tables"): venues with their layout, events,
 * sessions. Other areas read these with knex and never write them.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("venues", (t) => {
    t.text("id").primary();
    t.text("name").notNullable();
    t.text("city").notNullable();
    t.text("address").notNullable().defaultTo("");
    t.jsonb("layout").notNullable();
    t.integer("seat_count").notNullable();
    t.integer("capacity").notNullable();
    t.text("created_by");
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw("ALTER TABLE venues ADD CONSTRAINT venues_sizes_check CHECK (seat_count >= 0 AND capacity >= seat_count)");
  await knex.raw("CREATE INDEX venues_city_idx ON venues (lower(city))");

  await knex.schema.createTable("events", (t) => {
    t.text("id").primary();
    t.text("title").notNullable();
    t.text("description").notNullable().defaultTo("");
    t.text("category").notNullable();
    t.text("city").notNullable();
    t.jsonb("images").notNullable().defaultTo("[]");
    t.jsonb("translations").notNullable().defaultTo("{}");
    t.text("status").notNullable().defaultTo("draft");
    t.text("organizer_id");
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw("ALTER TABLE events ADD CONSTRAINT events_status_check CHECK (status IN ('draft', 'on_sale', 'cancelled'))");
  // The list's filters: status (public sees on_sale), category, city (case-insensitive), the organizer's own.
  await knex.raw("CREATE INDEX events_status_category_idx ON events (status, category)");
  await knex.raw("CREATE INDEX events_city_idx ON events (lower(city))");
  await knex.raw("CREATE INDEX events_organizer_idx ON events (organizer_id)");

  await knex.schema.createTable("sessions", (t) => {
    t.text("id").primary();
    t.text("event_id").notNullable().references("id").inTable("events");
    t.text("venue_id").notNullable().references("id").inTable("venues");
    t.timestamp("starts_at", { useTz: true }).notNullable();
    t.timestamp("ends_at", { useTz: true }).notNullable();
    t.jsonb("prices").notNullable();
    t.specificType("currency", "char(3)").notNullable();
    t.timestamp("sales_open_at", { useTz: true }).nullable();
    t.timestamp("sales_close_at", { useTz: true }).nullable();
    t.integer("max_per_customer").notNullable().defaultTo(10);
    t.integer("hold_seconds").notNullable().defaultTo(600);
    t.text("status").notNullable().defaultTo("scheduled");
    t.timestamp("created_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp("updated_at", { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE sessions ADD CONSTRAINT sessions_rules_check CHECK (
    status IN ('scheduled', 'cancelled')
    AND ends_at > starts_at
    AND (sales_open_at IS NULL OR sales_close_at IS NULL OR sales_close_at > sales_open_at)
    AND max_per_customer > 0
    AND hold_seconds > 0
    AND currency ~ '^[A-Z]{3}$')`);
  // Sessions of an event in date order, and the events list's from/to filter.
  await knex.raw("CREATE INDEX sessions_event_starts_idx ON sessions (event_id, starts_at)");
  await knex.raw("CREATE INDEX sessions_starts_idx ON sessions (starts_at)");
  await knex.raw("CREATE INDEX sessions_venue_idx ON sessions (venue_id)");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("sessions");
  await knex.schema.dropTableIfExists("events");
  await knex.schema.dropTableIfExists("venues");
}
