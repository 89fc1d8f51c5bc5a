/**
 * Gives a service `this.db` (knex, migrated) and `this.platform` before its own `started()` runs.
 * Services that use moleculer-db use mixins/knex-db.mixin.ts instead; this one is for raw SQL.
 */
import type { ServiceSchema } from "moleculer";
import type { Knex } from "knex";
import { Platform, platformOf } from "../src/platform/platform";

export interface DbThis {
  db: Knex;
  platform: Platform;
}

export const DbMixin: ServiceSchema = {
  name: "",
  async started() {
    const platform = platformOf(this.broker);
    this.platform = platform;
    this.db = await platform.db();
  },
};
