/**
 * The moleculer-db knex adapter on its own, against the embedded database: a scratch table,
 * a broker with one service using the mixin, and the gateway to prove the CRUD actions stay hidden.
 */
import type { Knex } from "knex";
import type { Service, ServiceSchema } from "moleculer";
import DbService from "moleculer-db";
import { KnexAdapter, KnexDbMixin, escapeLike } from "../../mixins/knex-db.mixin";
import { startTestNode, TestNode } from "../helpers/node";

const TABLE = "adapter_things";

describe("knex adapter for moleculer-db", () => {
  let node: TestNode;
  let knex: Knex;
  let adapter: KnexAdapter;

  beforeAll(async () => {
    node = await startTestNode({ services: ["api"] });
    knex = await node.platform.db();
    await knex.schema.createTable(TABLE, (t) => {
      t.text("id").primary();
      t.text("display_name").notNullable();
      t.integer("rank_value");
      t.jsonb("tags_list");
      t.jsonb("settings_doc");
      t.timestamp("starts_at", { useTz: true });
      t.timestamp("created_at", { useTz: true });
      t.timestamp("updated_at", { useTz: true });
    });
    const schema: ServiceSchema = {
      name: "things",
      mixins: [KnexDbMixin({ table: TABLE })],
      settings: { rest: "/things" },
    };
    const svc = node.broker.createService(schema) as Service & { adapter: KnexAdapter };
    // The control: plain moleculer-db (memory adapter) does publish its CRUD through autoAliases.
    node.broker.createService({ name: "controls", mixins: [DbService as unknown as ServiceSchema], settings: { rest: "/controls" } });
    await node.broker.waitForServices(["things", "controls"]);
    // createService after start: wait until the mixin's started() has connected
    for (let i = 0; i < 100 && !svc.adapter.knex; i++) await new Promise((r) => setTimeout(r, 20));
    adapter = svc.adapter;
  });

  afterAll(async () => {
    await knex.schema.dropTableIfExists(TABLE);
    await node.stop();
  });

  beforeEach(() => adapter.clear());

  it("publishes none of moleculer-db's CRUD actions, neither as actions nor as REST routes", async () => {
    const actions = node.broker.registry.getActionList({}).map((a: { name: string }) => a.name);
    for (const a of ["find", "count", "list", "create", "insert", "get", "update", "remove"]) {
      expect(actions).not.toContain(`things.${a}`);
    }
    // autoAliases are rebuilt asynchronously after a service appears; wait for the control's routes.
    for (let i = 0; i < 100 && (await node.http.get("/api/controls")).status === 404; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await node.http.get("/api/controls")).status).toBe(401);
    expect((await node.http.get("/api/things")).status).toBe(404);
    expect((await node.http.post("/api/things", { displayName: "x" })).status).toBe(404);
    expect(await knex(TABLE).count({ n: "*" }).first()).toEqual({ n: 0 });
  });

  it("inserts with a generated id and timestamps, mapping camelCase to snake_case and JSON both ways", async () => {
    const startsAt = new Date("2027-01-02T19:30:00.000Z");
    const saved = await adapter.insert({
      displayName: "Alpha",
      rankValue: 3,
      tagsList: ["a", "b"],
      settingsDoc: { nested: { deep: [1, 2] }, de: { title: "Ä" } },
      startsAt,
    });
    expect(saved.id).toMatch(/^[0-9a-f-]{36}$/);
    const raw = await knex(TABLE).where({ id: saved.id }).first();
    expect(raw.display_name).toBe("Alpha");
    expect(raw.tags_list).toEqual(["a", "b"]);
    const found = adapter.entityToObject((await adapter.findById(saved.id))!);
    expect(found).toMatchObject({
      id: saved.id,
      displayName: "Alpha",
      rankValue: 3,
      tagsList: ["a", "b"],
      settingsDoc: { nested: { deep: [1, 2] }, de: { title: "Ä" } },
      startsAt: "2027-01-02T19:30:00.000Z",
    });
    expect(typeof found.createdAt).toBe("string");
  });

  it("finds with query operators, sort, limit and offset, and counts the same filter", async () => {
    await adapter.insertMany(
      ["delta", "alpha", "charlie", "bravo", "echo"].map((name, i) => ({ displayName: name, rankValue: i })),
    );
    const sorted = await adapter.find({ sort: "displayName" });
    expect(sorted.map((e) => e.displayName)).toEqual(["alpha", "bravo", "charlie", "delta", "echo"]);
    const page = await adapter.find({ sort: ["-rankValue"], limit: 2, offset: 1 });
    expect(page.map((e) => e.rankValue)).toEqual([3, 2]);
    expect((await adapter.find({ query: { rankValue: { $gte: 1, $lt: 3 } }, sort: "rankValue" })).map((e) => e.displayName)).toEqual([
      "alpha",
      "charlie",
    ]);
    expect(await adapter.count({ query: { displayName: ["alpha", "echo", "zulu"] } })).toBe(2);
    expect(await adapter.count({ query: { $or: [{ rankValue: 0 }, { displayName: "echo" }] } })).toBe(2);
    expect(await adapter.count({ query: { rankValue: { $nin: [0, 1] }, displayName: { $ne: "echo" } } })).toBe(2);
    expect(await adapter.count({ query: (qb) => qb.where("rank_value", ">", 2) })).toBe(2);
    expect(await adapter.count({ query: { startsAt: null } })).toBe(5);
    const fields = await adapter.find({ fields: ["displayName"], sort: "displayName", limit: 1 });
    expect(fields).toEqual([{ displayName: "alpha" }]);
    expect(await adapter.findOne({ displayName: "bravo" })).toMatchObject({ rankValue: 3 });
    expect(await adapter.findOne({ displayName: "nobody" })).toBeNull();
    const byIds = await adapter.findByIds(sorted.slice(0, 2).map((e) => e.id));
    expect(byIds.map((e) => e.displayName).sort()).toEqual(["alpha", "bravo"]);
  });

  it("searches literally: wildcards and SQL metacharacters in the search text match themselves", async () => {
    await adapter.insertMany([
      { displayName: "100% fun" },
      { displayName: "1000 fun" },
      { displayName: "under_score" },
      { displayName: "underXscore" },
      { displayName: "it's'; DROP TABLE adapter_things; --" },
    ]);
    const search = (s: string) => adapter.find({ search: s, searchFields: ["displayName"] }).then((r) => r.map((e) => e.displayName));
    expect(await search("100%")).toEqual(["100% fun"]);
    expect(await search("under_")).toEqual(["under_score"]);
    expect(await search("UNDER")).toHaveLength(2);
    expect(await search("'; DROP TABLE")).toHaveLength(1);
    expect(await search("\\")).toEqual([]);
    expect(await adapter.count({ search: "%", searchFields: "displayName" })).toBe(1);
    expect(await adapter.count()).toBe(5);
    expect(escapeLike("a%b_c\\")).toBe("a\\%b\\_c\\\\");
  });

  it("updates by id with $set semantics (other fields untouched) and bumps updatedAt", async () => {
    const saved = await adapter.insert({ displayName: "before", rankValue: 1, settingsDoc: { a: 1 } });
    await new Promise((r) => setTimeout(r, 5));
    const updated = await adapter.updateById(saved.id, { $set: { displayName: "after", settingsDoc: { b: [2] } } });
    expect(updated).toMatchObject({ id: saved.id, displayName: "after", rankValue: 1, settingsDoc: { b: [2] } });
    expect((updated!.updatedAt as Date).getTime()).toBeGreaterThan((saved.updatedAt as Date).getTime());
    expect(await adapter.updateById("missing", { $set: { displayName: "x" } })).toBeNull();
    await expect(adapter.updateById(saved.id, { $inc: { rankValue: 1 } })).rejects.toThrow(/Unsupported update/);
    expect((await adapter.findById(saved.id))!.rankValue).toBe(1);
  });

  it("updates and removes many by query, removes by id, and clears", async () => {
    await adapter.insertMany([{ displayName: "a", rankValue: 1 }, { displayName: "b", rankValue: 1 }, { displayName: "c", rankValue: 2 }]);
    expect(await adapter.updateMany({ rankValue: 1 }, { $set: { rankValue: 5 } })).toBe(2);
    expect(await adapter.count({ query: { rankValue: 5 } })).toBe(2);
    expect(await adapter.removeMany({ rankValue: 5 })).toBe(2);
    const [c] = await adapter.find({});
    expect(await adapter.removeById(c.id)).toMatchObject({ displayName: "c" });
    expect(await adapter.removeById(c.id)).toBeNull();
    await adapter.insert({ displayName: "z" });
    expect(await adapter.clear()).toBe(1);
    expect(await adapter.count()).toBe(0);
  });

  it("rolls back with the caller's transaction", async () => {
    await expect(
      knex.transaction(async (trx) => {
        await adapter.insert({ displayName: "in trx" }, trx);
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    expect(await adapter.count()).toBe(0);
  });

  it("maps a custom idField in and out, and refuses field names that are not identifiers", async () => {
    expect(adapter.beforeSaveTransformID({ key: "k1", displayName: "x" }, "key")).toEqual({ id: "k1", displayName: "x" });
    expect(adapter.afterRetrieveTransformID({ id: "k1", displayName: "x" }, "key")).toEqual({ key: "k1", displayName: "x" });
    await expect(adapter.find({ sort: "displayName; DROP TABLE x" })).rejects.toThrow(/Invalid field name/);
    await expect(adapter.find({ query: { "a b": 1 } })).rejects.toThrow(/Invalid field name/);
  });
});
