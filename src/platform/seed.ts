/**
 * Runs each seed in src/seed/ (filename order) exactly once per database: the seed's name is
 * claimed in `seed_runs` inside the same transaction as its inserts, so concurrent nodes and
 * repeated `npm start`s never duplicate data.
 */
import fs from "fs";
import path from "path";
import type { Knex } from "knex";
import type { LoggerInstance } from "moleculer";
import type { Platform } from "./platform";

export interface SeedContext {
  trx: Knex.Transaction;
  platform: Platform;
  logger: LoggerInstance;
}

export interface Seed {
  /** Seeds that only make sense for a demo (venues, events) say so; they follow SEED_DEMO. */
  demo?: boolean;
  run(ctx: SeedContext): Promise<void>;
}

const SEED_DIR = path.resolve(__dirname, "../seed");

export async function runSeeds(platform: Platform, logger: LoggerInstance): Promise<string[]> {
  const knex = await platform.db();
  const files = fs.existsSync(SEED_DIR) ? fs.readdirSync(SEED_DIR).filter((f) => f.endsWith(".ts")).sort() : [];
  const ran: string[] = [];
  for (const file of files) {
    const name = file.replace(/\.ts$/, "");
     
    const seed = (require(path.join(SEED_DIR, file)).default ?? require(path.join(SEED_DIR, file))) as Seed;
    if (seed.demo && !platform.config.seedDemo) continue;
    await knex.transaction(async (trx) => {
      const claimed = await trx("seed_runs").insert({ name }).onConflict("name").ignore().returning("name");
      if (claimed.length === 0) return;
      await seed.run({ trx, platform, logger });
      ran.push(name);
    });
  }
  return ran;
}
