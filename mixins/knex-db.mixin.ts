/**
 * moleculer-db over knex: one table per service, on the node's shared migrated database
 * (`platformOf(broker).db()`). There is no maintained knex adapter on npm, so this is ours.
 *
 * At the boundary entities are camelCase (`startsAt`) and columns snake_case (`starts_at`);
 * objects and arrays are written as JSON (pg would turn a JS array into a PostgreSQL array,
 * which is not what a jsonb column wants) and come back parsed; timestamps come back as ISO strings.
 *
 * moleculer-db's own actions (list/get/create/update/remove/...) carry `rest` and would be
 * published by the gateway's autoAliases with no validation or auth: the mixin removes them.
 * Services declare their own actions and call `this.adapter` (or the moleculer-db methods).
 *
 * `query` is a small Mongo-like subset: `{field: value}` (null = IS NULL, array = IN),
 * `{field: {$in, $nin, $ne, $gt, $gte, $lt, $lte, $ilike}}`, `{$or: [q, ...]}`, `{$and: [q, ...]}`,
 * or a function receiving the knex query builder for anything else.
 */
import { randomUUID } from "crypto";
import type { Knex } from "knex";
import type { ServiceBroker, ServiceSchema, Service } from "moleculer";
import DbService from "moleculer-db";
import { platformOf } from "../src/platform/platform";

export type Entity = Record<string, unknown>;
export type QueryFn = (qb: Knex.QueryBuilder) => void;
export type Query = Entity | QueryFn;

export interface FindFilters {
  query?: Query;
  search?: string;
  searchFields?: string | string[];
  sort?: string | string[];
  limit?: number | null;
  offset?: number | null;
  /** Columns to read (camelCase); all when omitted. */
  fields?: string[];
}

export interface KnexAdapterOptions {
  table: string;
  /** Set createdAt on insert and updatedAt on every update. Default true. */
  timestamps?: boolean;
  /** Generate `id` (a random UUID) on insert when the entity has none. Default true. */
  generateId?: boolean;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function toSnake(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`Invalid field name: ${name}`);
  return name.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

export function toCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** Escapes LIKE wildcards so user text matches literally (used with `ESCAPE '\'`). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => "\\" + c);
}

function isPlainValue(v: unknown): boolean {
  return v === null || typeof v !== "object" || v instanceof Date;
}

function toColumnValue(v: unknown): unknown {
  return isPlainValue(v) ? v : JSON.stringify(v);
}

/** PostgreSQL's SQLSTATE for a foreign key violation, for services that race a delete. */
export const FOREIGN_KEY_VIOLATION = "23503";

const OPERATORS: Record<string, string> = { $ne: "<>", $gt: ">", $gte: ">=", $lt: "<", $lte: "<=" };

export class KnexAdapter {
  broker!: ServiceBroker;
  service!: Service;
  knex!: Knex;
  readonly table: string;
  private readonly timestamps: boolean;
  private readonly generateId: boolean;

  constructor(opts: KnexAdapterOptions) {
    if (!IDENTIFIER.test(opts.table)) throw new Error(`Invalid table name: ${opts.table}`);
    this.table = opts.table;
    this.timestamps = opts.timestamps ?? true;
    this.generateId = opts.generateId ?? true;
  }

  init(broker: ServiceBroker, service: Service): void {
    this.broker = broker;
    this.service = service;
  }

  async connect(): Promise<void> {
    this.knex = await platformOf(this.broker).db();
  }

  /** The database belongs to the node (other services share it); the platform closes it. */
  async disconnect(): Promise<void> {
    return;
  }

  /** A query builder on this table, optionally inside a transaction. */
  qb(trx?: Knex.Transaction): Knex.QueryBuilder {
    return (trx ?? this.knex)(this.table);
  }

  // ---- mapping -------------------------------------------------------------------------

  toRow(entity: Entity): Entity {
    const row: Entity = {};
    for (const [k, v] of Object.entries(entity)) {
      if (v === undefined) continue;
      row[toSnake(k)] = toColumnValue(v);
    }
    return row;
  }

  fromRow(row: Entity | undefined | null): Entity | null {
    if (!row) return null;
    const entity: Entity = {};
    for (const [k, v] of Object.entries(row)) entity[toCamel(k)] = v;
    return entity;
  }

  /** Applies a `query` (see the file comment) to a builder. */
  applyQuery(qb: Knex.QueryBuilder, query: Query | undefined): Knex.QueryBuilder {
    if (!query) return qb;
    if (typeof query === "function") {
      qb.where((inner) => query(inner));
      return qb;
    }
    for (const [key, value] of Object.entries(query)) {
      if (key === "$or" || key === "$and") {
        const parts = value as Query[];
        qb.where((group) => {
          for (const part of parts) {
            const clause = (b: Knex.QueryBuilder) => void this.applyQuery(b, part);
            if (key === "$or") group.orWhere(clause);
            else group.andWhere(clause);
          }
        });
        continue;
      }
      const column = `${this.table}.${toSnake(key)}`;
      if (value === null) qb.whereNull(column);
      else if (Array.isArray(value)) qb.whereIn(column, value as Knex.Value[]);
      else if (isPlainValue(value)) qb.where(column, value as Knex.Value);
      else {
        for (const [op, operand] of Object.entries(value as Entity)) {
          if (op === "$in") qb.whereIn(column, operand as Knex.Value[]);
          else if (op === "$nin") qb.whereNotIn(column, operand as Knex.Value[]);
          else if (op === "$ilike") qb.whereRaw("?? ILIKE ? ESCAPE '\\'", [column, `%${escapeLike(String(operand))}%`]);
          else if (op === "$ne" && operand === null) qb.whereNotNull(column);
          else if (OPERATORS[op]) qb.where(column, OPERATORS[op], operand as Knex.Value);
          else throw new Error(`Unsupported query operator ${op}`);
        }
      }
    }
    return qb;
  }

  private filtered(filters: FindFilters = {}): Knex.QueryBuilder {
    const qb = this.qb();
    this.applyQuery(qb, filters.query);
    if (typeof filters.search === "string" && filters.search !== "") {
      const fields = typeof filters.searchFields === "string" ? filters.searchFields.split(/[\s,]+/) : filters.searchFields ?? [];
      if (fields.length === 0) throw new Error("search needs searchFields");
      const pattern = `%${escapeLike(filters.search)}%`;
      qb.where((b) => {
        for (const f of fields) b.orWhereRaw("CAST(?? AS text) ILIKE ? ESCAPE '\\'", [`${this.table}.${toSnake(f)}`, pattern]);
      });
    }
    return qb;
  }

  // ---- the moleculer-db adapter interface -----------------------------------------------

  async find(filters: FindFilters = {}): Promise<Entity[]> {
    const qb = this.filtered(filters);
    qb.select(filters.fields?.length ? filters.fields.map((f) => `${this.table}.${toSnake(f)}`) : `${this.table}.*`);
    const sort = typeof filters.sort === "string" ? filters.sort.split(/[\s,]+/).filter(Boolean) : filters.sort ?? [];
    for (const s of sort) {
      const desc = s.startsWith("-");
      qb.orderBy(`${this.table}.${toSnake(desc ? s.slice(1) : s)}`, desc ? "desc" : "asc");
    }
    if (typeof filters.limit === "number" && filters.limit > 0) qb.limit(filters.limit);
    if (typeof filters.offset === "number" && filters.offset > 0) qb.offset(filters.offset);
    const rows = (await qb) as Entity[];
    return rows.map((r) => this.fromRow(r) as Entity);
  }

  async findOne(query: Query): Promise<Entity | null> {
    const row = await this.applyQuery(this.qb(), query).first();
    return this.fromRow(row);
  }

  async findById(id: unknown): Promise<Entity | null> {
    return this.fromRow(await this.qb().where({ id }).first());
  }

  async findByIds(ids: unknown[]): Promise<Entity[]> {
    if (ids.length === 0) return [];
    const rows = (await this.qb().whereIn("id", ids as Knex.Value[])) as Entity[];
    return rows.map((r) => this.fromRow(r) as Entity);
  }

  async count(filters: FindFilters = {}): Promise<number> {
    const row = (await this.filtered({ query: filters.query, search: filters.search, searchFields: filters.searchFields })
      .count({ n: "*" })
      .first()) as { n: number | string } | undefined;
    return Number(row?.n ?? 0);
  }

  private prepareInsert(entity: Entity): Entity {
    const e: Entity = { ...entity };
    if (this.generateId && e.id === undefined) e.id = randomUUID();
    if (this.timestamps) {
      const now = new Date();
      e.createdAt ??= now;
      e.updatedAt ??= now;
    }
    return this.toRow(e);
  }

  /** `fields` (camelCase) limits what comes back: a big JSON column need not travel back and be parsed again. */
  async insert(entity: Entity, trx?: Knex.Transaction, fields?: string[]): Promise<Entity> {
    const [row] = await this.qb(trx).insert(this.prepareInsert(entity)).returning(fields?.length ? fields.map(toSnake) : "*");
    return this.fromRow(row) as Entity;
  }

  async insertMany(entities: Entity[], trx?: Knex.Transaction): Promise<Entity[]> {
    if (entities.length === 0) return [];
    const rows = (await this.qb(trx).insert(entities.map((e) => this.prepareInsert(e))).returning("*")) as Entity[];
    return rows.map((r) => this.fromRow(r) as Entity);
  }

  /** `update` is `{$set: {...}}` (moleculer-db's shape) or the fields themselves. */
  private updateRow(update: Entity): Entity {
    const set = (update.$set ?? update) as Entity;
    const unsupported = Object.keys(update).filter((k) => k.startsWith("$") && k !== "$set");
    if (unsupported.length) throw new Error(`Unsupported update operator(s): ${unsupported.join(", ")}`);
    const fields: Entity = { ...set };
    delete fields.id;
    if (this.timestamps) fields.updatedAt = new Date();
    return this.toRow(fields);
  }

  async updateMany(query: Query, update: Entity, trx?: Knex.Transaction): Promise<number> {
    return this.applyQuery(this.qb(trx), query).update(this.updateRow(update));
  }

  async updateById(id: unknown, update: Entity, trx?: Knex.Transaction): Promise<Entity | null> {
    const [row] = await this.qb(trx).where({ id }).update(this.updateRow(update)).returning("*");
    return this.fromRow(row);
  }

  async removeMany(query: Query, trx?: Knex.Transaction): Promise<number> {
    return this.applyQuery(this.qb(trx), query).delete();
  }

  async removeById(id: unknown, trx?: Knex.Transaction): Promise<Entity | null> {
    const [row] = await this.qb(trx).where({ id }).delete().returning("*");
    return this.fromRow(row);
  }

  async clear(): Promise<number> {
    return this.qb().delete();
  }

  /** A JSON-ready copy: timestamps as ISO strings. */
  entityToObject(entity: Entity): Entity {
    const out: Entity = {};
    for (const [k, v] of Object.entries(entity)) out[k] = v instanceof Date ? v.toISOString() : v;
    return out;
  }

  /** Our tables' key column is `id`; another idField is renamed to it on the way in... */
  beforeSaveTransformID(entity: Entity, idField: string): Entity {
    if (idField === "id" || entity[idField] === undefined) return entity;
    const { [idField]: id, ...rest } = entity;
    return { ...rest, id };
  }

  /** ...and back on the way out. */
  afterRetrieveTransformID(entity: Entity, idField: string): Entity {
    if (idField === "id" || !("id" in entity)) return entity;
    const { id, ...rest } = entity;
    return { ...rest, [idField]: id };
  }
}

const DISABLED_ACTIONS = ["find", "count", "list", "create", "insert", "get", "update", "remove"] as const;

/** `mixins: [KnexDbMixin({table: "venues"})]` gives the service `this.adapter` on its table. */
export function KnexDbMixin(opts: KnexAdapterOptions): ServiceSchema {
  return {
    name: "",
    mixins: [DbService as unknown as ServiceSchema],
    adapter: new KnexAdapter(opts),
    settings: { idField: "id", pageSize: 20, maxPageSize: 100 },
    actions: Object.fromEntries(DISABLED_ACTIONS.map((a) => [a, false])) as ServiceSchema["actions"],
  } as ServiceSchema;
}

/** How services see the mixin. */
export interface KnexDbThis {
  adapter: KnexAdapter;
}
