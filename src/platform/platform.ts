/**
 * The process-level resources a node's services share: configuration, keys, the database
 * (opened and migrated once per node) and Redis (cluster mode). Attached to the broker so that
 * tests can run several independent brokers in one process.
 */
import type { ServiceBroker } from "moleculer";
import type { Knex } from "knex";
import type Redis from "ioredis";
import { Config, loadConfig } from "./config";
import { loadSecrets, Secrets } from "./secrets";
import { Database, migrate, openDatabase } from "./database";
import { everySecondAtMost, isOutage } from "./outage";

/** While the database is out of reach at start: the longest pause between attempts. */
const DB_WAIT_MAX_MS = 2000;
/** A Redis connection whose commands go unanswered is dropped at most this often. */
const REDIS_REDIAL_MS = 5000;

export class Platform {
  readonly secrets: Secrets;
  private database?: Promise<Database>;
  private redisClient?: Redis;
  private redisDroppedAt = -Infinity;
  private closing = false;
  /** The node's logger, once attached to a broker. */
  logger?: { warn(...args: unknown[]): void };

  constructor(readonly config: Config) {
    this.secrets = loadSecrets(config);
  }

  /** The migrated database; opened on first use. */
  db(): Promise<Knex> {
    if (!this.database) {
      this.database = this.open();
      // A failed open must not stick: the next caller retries.
      this.database.catch(() => (this.database = undefined));
    }
    return this.database.then((d) => d.knex);
  }

  /**
   * Opens and migrates the database. A PostgreSQL server out of reach (restarting, failing over)
   * is waited for, as the transporter waits for NATS: a node started meanwhile starts once it is
   * back, instead of exiting into its orchestrator's restart back-off, which outlasts the outage.
   */
  private async open(): Promise<Database> {
    const db = await openDatabase(this.config);
    // Migrations may take long (an index on a big table): a connection of their own, without the
    // bound on a statement's answer that the node's pool has.
    const migrator = this.config.databaseUrl ? await openDatabase(this.config, { pool: 1, queryTimeoutMs: 0 }) : db;
    const warn = everySecondAtMost((err: Error) => this.logger?.warn(`PostgreSQL is out of reach (${err.message}); waiting for it before starting.`));
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await migrate(migrator.knex);
          return db;
        } catch (err) {
          if (!this.config.databaseUrl || !isOutage(err) || this.closing) {
            await db.close().catch(() => undefined);
            throw err;
          }
          warn(err as Error);
          await new Promise((resolve) => setTimeout(resolve, Math.min(DB_WAIT_MAX_MS, 250 * attempt)));
        }
      }
    } finally {
      if (migrator !== db) await migrator.close().catch(() => undefined);
    }
  }

  get embedded(): boolean {
    return !this.config.databaseUrl;
  }

  /** Redis in cluster mode (REDIS_URL), undefined when embedded. */
  redis(): Redis | undefined {
    if (!this.config.redisUrl) return undefined;
    this.redisClient ??= connectRedis(this.config.redisUrl);
    return this.redisClient;
  }

  /**
   * A Redis command went unanswered (commandTimeout). When a failover leaves the connection open to
   * a server that vanished (no byte, no reset), every later command on it would wait the full
   * timeout too, for as long as TCP takes to give up (about 15 minutes): the connection is dropped
   * and made again, at most once every few seconds.
   */
  redisUnanswered(now = Date.now()): void {
    if (!this.redisClient || now - this.redisDroppedAt < REDIS_REDIAL_MS) return;
    this.redisDroppedAt = now;
    this.logger?.warn("Redis did not answer in time: its connection is dropped and made again.");
    this.redisClient.disconnect(true);
  }

  async close(): Promise<void> {
    this.closing = true;
    const db = this.database;
    this.database = undefined;
    if (db) await (await db).close().catch(() => undefined);
    if (this.redisClient) {
      this.redisClient.disconnect();
      this.redisClient = undefined;
    }
  }
}

const platforms = new WeakMap<ServiceBroker, Platform>();

export function attachPlatform(broker: ServiceBroker, platform: Platform): Platform {
  platforms.set(broker, platform);
  platform.logger ??= broker.getLogger("platform");
  return platform;
}

export function platformOf(broker: ServiceBroker): Platform {
  let platform = platforms.get(broker);
  if (!platform) platform = attachPlatform(broker, new Platform(loadConfig()));
  return platform;
}

/** A node's Redis client. */
export function connectRedis(url: string): Redis {
  const IORedis = require("ioredis") as typeof import("ioredis").default;
  // disconnectTimeout: on disconnect ioredis ends the socket and destroys it if it has not closed
  // within this time. When the last attempt to connect failed, the socket is closed already and the
  // timer is never cleared: at the default (2 s) it kept a stopped node's process alive that long.
  // enableAutoPipelining: the commands of one event-loop turn go out in one write (every
  // request's rate-limit count: src/platform/rate-limit.ts).
  // enableOfflineQueue off, commandTimeout: while Redis is down or not answering, a command fails
  // at once (or within 500 ms) and the request goes on with the node's own counters, instead of
  // waiting in ioredis's queue through its reconnection attempts (up to 10 s per request, measured
  // in test/cluster/outage.test.ts).
  return new IORedis(url, { maxRetriesPerRequest: 2, lazyConnect: false, disconnectTimeout: 200, enableAutoPipelining: true, enableOfflineQueue: false, commandTimeout: 500 });
}
