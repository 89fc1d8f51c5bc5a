/**
 * The embedded database: several driver connections over one PGlite session
 * (src/platform/pglite-worker.mjs). What callers rely on: a transaction is isolated and atomic
 * as on a server, statements of other connections wait for it and then see its result, a
 * connection lost inside its transaction leaves nothing behind, and a caller that waits on
 * itself gets an error instead of hanging.
 */
import type { Knex } from "knex";
import { Database, openDatabase } from "../../src/platform/database";
import type { Config } from "../../src/platform/config";
import { rowsRead } from "../helpers/infra";

const WAIT_LIMIT_MS = 1500;
/** Maintenance (vacuum) runs every 300 ms here, so it also runs beside every other test. */
const MAINTENANCE_MS = 300;
const VACUUM_ROUND_MS = MAINTENANCE_MS;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("embedded database (one PGlite session, several connections)", () => {
  let db: Database;
  let knex: Knex;

  beforeAll(async () => {
    db = await openDatabase({ dataDir: "memory" } as Config, { embeddedWaitLimitMs: WAIT_LIMIT_MS, embeddedMaintenanceMs: MAINTENANCE_MS });
    knex = db.knex;
    expect(db.kind).toBe("pglite");
    await knex.schema.createTable("counters", (t) => {
      t.text("id").primary();
      t.integer("n").notNullable().defaultTo(0);
      t.binary("blob");
      t.jsonb("doc");
    });
  });

  afterAll(async () => {
    await db?.close();
  });

  beforeEach(async () => {
    await knex("counters").delete();
  });

  it("round-trips the types the platform stores (bytea, jsonb, timestamps, bigint counts)", async () => {
    const blob = Buffer.from([0, 1, 2, 250, 255]);
    await knex("counters").insert({ id: "a", n: 7, blob, doc: JSON.stringify({ seats: ["A-1"], paid: true }) });
    const row = await knex("counters").where({ id: "a" }).first();
    expect(Buffer.isBuffer(row.blob)).toBe(true);
    expect(row.blob.equals(blob)).toBe(true);
    expect(row.doc).toEqual({ seats: ["A-1"], paid: true });
    const [{ now }] = (await knex.raw("select now() as now")).rows;
    expect(now).toBeInstanceOf(Date);
    const [{ count }] = await knex("counters").count({ count: "*" });
    expect(count).toBe(1);
  });

  it("answers a bad statement with its PostgreSQL error and carries on", async () => {
    await knex("counters").insert({ id: "dup" });
    await expect(knex("counters").insert({ id: "dup" })).rejects.toMatchObject({ code: "23505" });
    await expect(knex.raw("select * from no_such_table")).rejects.toMatchObject({ code: "42P01" });
    expect(await knex("counters").count({ c: "*" })).toEqual([{ c: 1 }]);
  });

  it("keeps a transaction's writes from other connections until it commits, then shows them", async () => {
    const seen: string[] = [];
    let release!: () => void;
    const open = new Promise<void>((r) => (release = r));
    const trx = knex.transaction(async (t) => {
      await t("counters").insert({ id: "x", n: 1 });
      seen.push("inserted");
      await open;
      seen.push("committing");
    });
    await sleep(50);
    // Issued while the transaction is open: it waits for it, so it never sees a half-done state.
    const outside = knex("counters").where({ id: "x" }).first().then((row) => seen.push(`outside sees n=${row?.n}`));
    await sleep(100);
    expect(seen).toEqual(["inserted"]);
    release();
    await Promise.all([trx, outside]);
    expect(seen).toEqual(["inserted", "committing", "outside sees n=1"]);
  });

  it("rolls a failed transaction back entirely, whatever runs beside it", async () => {
    await knex("counters").insert({ id: "c", n: 0 });
    // 60 transactions at once on 32 connections, every fifth one fails after its write.
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        knex.transaction(async (t) => {
          await t("counters").where({ id: "c" }).increment("n", 1);
          await t("counters").insert({ id: `row-${i}` });
          if (i % 5 === 0) throw new Error(`refused ${i}`);
        }),
      ),
    );
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(12);
    expect((await knex("counters").where({ id: "c" }).first()).n).toBe(48);
    const rows = (await knex("counters").whereLike("id", "row-%").pluck("id")) as string[];
    expect(rows).toHaveLength(48);
    expect(rows.some((id) => Number(id.slice(4)) % 5 === 0)).toBe(false);
  });

  it("does not lose or reorder autocommit statements issued concurrently", async () => {
    await knex("counters").insert({ id: "seq", n: 0 });
    await Promise.all(Array.from({ length: 500 }, () => knex("counters").where({ id: "seq" }).increment("n", 1)));
    expect((await knex("counters").where({ id: "seq" }).first()).n).toBe(500);
  });

  it("rolls back the transaction of a connection that is lost inside it", async () => {
    const client = (knex as unknown as { client: { acquireConnection(): Promise<any>; releaseConnection(c: unknown): Promise<void> } }).client;
    const conn = await client.acquireConnection();
    await conn.query("BEGIN");
    await conn.query("INSERT INTO counters (id, n) VALUES ('orphan', 1)");
    // The pool drops a broken connection like this (its socket ends).
    conn.end();
    await client.releaseConnection(conn);
    await sleep(100);
    expect(await knex("counters").where({ id: "orphan" }).first()).toBeUndefined();
    // The session is free again: other transactions run and commit.
    await knex.transaction(async (t) => t("counters").insert({ id: "after" }));
    expect(await knex("counters").where({ id: "after" }).first()).toBeDefined();
  });

  it("refuses a statement that waits too long behind another connection's transaction, instead of hanging", async () => {
    const started = Date.now();
    // The mistake this guards against: inside a transaction, awaiting a statement outside it.
    const outcome = await knex
      .transaction(async (t) => {
        await t("counters").insert({ id: "inner" });
        await knex("counters").count({ c: "*" });
      })
      .then(() => "committed", (err: Error) => err.message);
    expect(outcome).toMatch(/another connection's transaction/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(WAIT_LIMIT_MS);
    // The transaction that waited rolled back, and the database goes on.
    expect(await knex("counters").where({ id: "inner" }).first()).toBeUndefined();
    await knex("counters").insert({ id: "later" });
    expect(await knex("counters").count({ c: "*" })).toEqual([{ c: 1 }]);
  });

  it("vacuums its tables on its own (PGlite has no autovacuum), never inside an open transaction", async () => {
    await knex.schema.createTable("churn", (t) => {
      t.integer("id").primary();
      t.text("status").notNullable();
    });
    await knex.raw("INSERT INTO churn SELECT g, 'PENDING' FROM generate_series(1, 2000) g");
    // A transaction held open across maintenance rounds, a vacuum among them, must not be
    // touched by them: a VACUUM inside it would fail and take the transaction down with it.
    await knex.transaction(async (t) => {
      await t("counters").insert({ id: "held" });
      await t("churn").update({ status: "SENT" });
      // Its own statements keep the rounds coming (they run only while statements do).
      for (const end = Date.now() + VACUUM_ROUND_MS * 1.5; Date.now() < end; ) {
        await t.raw("SELECT 1");
        await sleep(MAINTENANCE_MS / 2);
      }
      await t("counters").insert({ id: "held-2" });
    });
    expect(await knex("counters").whereIn("id", ["held", "held-2"]).count({ c: "*" })).toEqual([{ c: 2 }]);
    // Once committed, the next rounds clear the dead row versions (and record the table's size).
    await waitForMaintenance();
    const [stats] = (await knex.raw(`SELECT c.reltuples, s.last_vacuum FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = 'churn'`)).rows;
    expect(Number(stats.reltuples)).toBe(2000);
    expect(stats.last_vacuum).toBeInstanceOf(Date);
    // Without vacuum, each full update adds a new version of every row: the table keeps growing.
    const size = async () => Number((await knex.raw("SELECT pg_relation_size('churn') AS bytes")).rows[0].bytes);
    const before = await size();
    for (let i = 0; i < 3; i++) {
      await knex("churn").update({ status: i % 2 ? "SENT" : "PENDING" });
      await waitForMaintenance();
    }
    expect(await size()).toBeLessThanOrEqual(before * 1.5);
  });

  it("leaves an empty table unvacuumed, so the planner does not take it for empty once it fills", async () => {
    await knex.schema.createTable("still_empty", (t) => t.integer("id").primary());
    await knex.raw("INSERT INTO churn SELECT g, 'PENDING' FROM generate_series(100001, 100010) g");
    await waitForMaintenance();
    const [row] = (await knex.raw("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'still_empty'")).rows;
    expect(row.last_vacuum).toBeNull();
  });

  it("does not keep a plan made while a table was small once the table has grown", async () => {
    // A node of its own, without maintenance rounds (their VACUUM would replan the table too):
    // plans dropped after 100 statements, then 200 more, 400, ...
    const other = await openDatabase({ dataDir: "memory" } as Config, { embeddedMaintenanceMs: 3_600_000, embeddedReplanAfter: 100 });
    try {
      const k = other.knex;
      await k.raw("CREATE TABLE grows (id int PRIMARY KEY, k int NOT NULL, pad text)");
      await k.raw("CREATE INDEX grows_k ON grows (k)");
      await k.raw("INSERT INTO grows SELECT g, g, 'x' FROM generate_series(1, 3) g");
      // Vacuumed with three rows: the planner now counts three rows per page of the table.
      await k.raw("VACUUM grows");
      const find = (key: number) => k.raw("SELECT id FROM grows WHERE k = ?", [key]);
      // Named on its second run, a generic plan after five more: made for a 3-row table, a
      // sequential scan.
      for (let i = 0; i < 8; i++) await find(i);
      await k.raw("INSERT INTO grows SELECT g, g, repeat('x', 50) FROM generate_series(10, 5009) g");
      const readBy = async (reads: number) => {
        const before = (await rowsRead(k, ["grows"])).grows;
        for (let i = 0; i < reads; i++) expect((await find(100 + i)).rows).toEqual([{ id: 100 + i }]);
        return (await rowsRead(k, ["grows"])).grows - before;
      };
      // The old plan still serves the first of these reads (a whole table each, 5,003 rows);
      // 150 statements in, it has been dropped.
      await readBy(150);
      // Each read now finds its one row by the index. With the plan kept: 50,030 rows.
      expect(await readBy(10)).toBeLessThan(100);
    } finally {
      await other.close();
    }
  });

  /** Waits until a maintenance round has vacuumed `churn` since now. */
  async function waitForMaintenance() {
    const since = new Date();
    for (let i = 0; i < 60; i++) {
      await sleep(VACUUM_ROUND_MS / 4);
      const [row] = (await knex.raw("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'churn'")).rows;
      if (row?.last_vacuum && new Date(row.last_vacuum) > since) return;
    }
    throw new Error("no maintenance round vacuumed churn");
  }
  describe("statements run again are prepared once (named statements of the session)", () => {
    const named = async (marker: string) =>
      Number((await knex.raw("select count(*)::int as n from pg_prepared_statements where statement like ?", [`%${marker}%`])).rows[0].n);

    it("prepares a statement on its second run and keeps answering it right, parameters and all", async () => {
      await knex("counters").insert([{ id: "p1", n: 1 }, { id: "p2", n: 2 }, { id: "p3", n: 3 }]);
      const read = (id: string) => knex("counters").where({ id }).first("n", knex.raw("'prep-read' as marker"));
      expect(await read("p1")).toEqual({ n: 1, marker: "prep-read" });
      expect(await named("prep-read")).toBe(0);
      for (const [id, n] of [["p2", 2], ["p3", 3], ["p1", 1], ["nope", undefined]] as const) expect((await read(id))?.n).toBe(n);
      expect(await named("prep-read")).toBe(1);
      // Many callers at once, each its own values.
      const many = await Promise.all(Array.from({ length: 30 }, (_, i) => read(`p${(i % 3) + 1}`)));
      expect(many.map((r) => r.n)).toEqual(Array.from({ length: 30 }, (_, i) => (i % 3) + 1));
      expect(await named("prep-read")).toBe(1);
    });

    it("sees a table's new column after DDL, and a statement first prepared in a rolled-back transaction still works", async () => {
      await knex("counters").insert({ id: "d1", n: 5 });
      const all = () => knex("counters").where({ id: "d1" }).select("*", knex.raw("'prep-star' as marker"));
      for (let i = 0; i < 3; i++) expect(Object.keys((await all())[0])).not.toContain("extra");
      await knex.schema.alterTable("counters", (t) => t.text("extra").defaultTo("new"));
      try {
        expect((await all())[0].extra).toBe("new");
      } finally {
        await knex.schema.alterTable("counters", (t) => t.dropColumn("extra"));
      }

      const bump = (id: string) => knex("counters").where({ id }).increment("n", 1).returning(["n", knex.raw("'prep-bump' as marker")]);
      await bump("d1");
      await knex.transaction(async (trx) => {
        await bump.call(null, "d1").transacting(trx);
        throw new Error("roll back");
      }).catch(() => undefined);
      expect(await named("prep-bump")).toBe(1);
      expect((await bump("d1"))[0].n).toBe(7);
      // A failed transaction refuses the statement, and afterwards it runs as before.
      await knex.transaction(async (trx) => {
        await expect(trx.raw("select 1/0")).rejects.toMatchObject({ code: "22012" });
        await expect(bump("d1").transacting(trx)).rejects.toMatchObject({ code: "25P02" });
      }).catch(() => undefined);
      expect((await bump("d1"))[0].n).toBe(8);
    });

    it("lets a migration read, change a table and read it again in one transaction, DDL behind a comment included", async () => {
      await knex("counters").insert({ id: "m1", n: 1 });
      const all = (db: Knex) => db.raw("select *, 'prep-migrate' as marker from counters where id = ?", ["m1"]);
      for (let i = 0; i < 3; i++) await all(knex);
      expect(await named("prep-migrate")).toBe(1);
      try {
        await knex.transaction(async (trx) => {
          await all(trx);
          await trx.raw("-- a migration's comment\n/* and another */ ALTER TABLE counters ADD COLUMN note text DEFAULT 'migrated'");
          expect((await all(trx)).rows[0].note).toBe("migrated");
        });
        expect((await all(knex)).rows[0].note).toBe("migrated");
      } finally {
        await knex.raw("ALTER TABLE counters DROP COLUMN IF EXISTS note");
      }
    });

    it("leaves a work queue's claim (FOR UPDATE SKIP LOCKED) unprepared: its plan depends on the rows", async () => {
      const claim = () => knex.raw("select id, 'prep-claim' as marker from counters where n >= ? order by id limit ? for update skip locked", [0, 5]);
      for (let i = 0; i < 4; i++) await claim();
      expect(await named("prep-claim")).toBe(0);
    });

    it("leaves a statement marked /* custom plan */ unprepared, and prepares the same text without the mark", async () => {
      const read = (mark: string) => knex.raw(`${mark} select id, 'prep-custom' as marker from counters where n >= ? order by id limit ?`, [0, 5]);
      for (let i = 0; i < 4; i++) await read("/* custom plan */");
      expect(await named("prep-custom")).toBe(0);
      for (let i = 0; i < 2; i++) await read("");
      expect(await named("prep-custom")).toBe(1);
    });
  });
});
