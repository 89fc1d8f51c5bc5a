/**
 * The mock provider's ledger in PostgreSQL (tables `mock_provider_*`).
 *
 * A unit of work reads what it needs, then writes everything in one statement: the operation
 * record and the authorization it changes, with the authorization written only if it is still
 * as the unit read it (compare-and-set). One statement is atomic without a transaction, so a
 * unit holds no transaction open across round trips (on the embedded database a transaction
 * holds up every other statement until it ends). If the authorization changed in between, the
 * unit runs again from its reads; if another unit recorded the same idempotency key first, the
 * statement fails and the provider replays that unit's response.
 */
import type { Knex } from "knex";
import type { MockAuthorization, MockLedger, MockLedgerTx, StoredOperation } from "./mock-provider";

interface AuthRow {
  id: string;
  amount_cents: number;
  currency: string;
  status: MockAuthorization["status"];
  captured_cents: number;
  refunded_cents: number;
  card_last4: string;
}

/** Units that lost every compare-and-set to concurrent ones give up after this many runs. */
const MAX_RUNS = 10;
/**
 * Authorizations this ledger wrote last, kept as written (about 200 bytes each). A capture reads
 * the authorization its order's authorize wrote a moment before, on the same node nearly
 * always: it starts from the kept row instead of a read. The write is still a compare-and-set
 * against what the unit started from, so a row changed elsewhere (another node, a refund) fails
 * it, and the unit runs again from a real read. So does a unit that refused its work on a kept
 * row (a refund of an authorization kept as not yet captured, captured since by another node).
 */
const KEPT_AUTHORIZATIONS = 10_000;

const OPERATIONS = "mock_provider_operations";
const AUTHORIZATIONS = "mock_provider_authorizations";

function toAuthorization(row: AuthRow): MockAuthorization {
  return {
    id: row.id,
    amountCents: row.amount_cents,
    currency: row.currency,
    status: row.status,
    capturedCents: row.captured_cents,
    refundedCents: row.refunded_cents,
    last4: row.card_last4,
  };
}

function toOperation(key: string, row: { operation: string; request_hash: string; response: unknown }): StoredOperation {
  return { key, operation: row.operation, requestHash: row.request_hash, response: row.response };
}

const operationRow = (op: StoredOperation) => ({
  idempotency_key: op.key,
  operation: op.operation,
  request_hash: op.requestHash,
  response: JSON.stringify(op.response),
});

const authorizationRow = (a: MockAuthorization) => ({
  id: a.id,
  amount_cents: a.amountCents,
  currency: a.currency,
  status: a.status,
  captured_cents: a.capturedCents,
  refunded_cents: a.refundedCents,
  card_last4: a.last4,
});

/** Thrown inside a unit whose authorization changed under it: the unit runs again. */
class Stale extends Error {}

export class KnexMockLedger implements MockLedger {
  private kept = new Map<string, AuthRow>();
  /** For tests: authorizations read from the database, not from `kept`. */
  reads = 0;

  constructor(private db: Knex) {}

  private keep(row: AuthRow) {
    this.kept.delete(row.id);
    this.kept.set(row.id, row);
    if (this.kept.size > KEPT_AUTHORIZATIONS) this.kept.delete(this.kept.keys().next().value as string);
  }

  async peek(key: string): Promise<StoredOperation | null> {
    const row = await this.db(OPERATIONS).where({ idempotency_key: key }).first();
    return row ? toOperation(key, row) : null;
  }

  async run<T>(work: (tx: MockLedgerTx) => Promise<T>): Promise<T> {
    for (let run = 1; ; run++) {
      try {
        return await this.runOnce(work);
      } catch (err) {
        if (!(err instanceof Stale) || run >= MAX_RUNS) throw err;
      }
    }
  }

  private async runOnce<T>(work: (tx: MockLedgerTx) => Promise<T>): Promise<T> {
    const db = this.db;
    /** Authorizations this unit took from `kept` rather than read. */
    const fromKept: string[] = [];
    /** Authorizations as read, by id (null: read and not found). */
    const read = new Map<string, AuthRow | null>();
    const saved = new Map<string, MockAuthorization>();
    const operations: StoredOperation[] = [];
    const tx: MockLedgerTx = {
      async insertOperation(op) {
        operations.push(op);
      },
      authorization: async (id) => {
        let row: AuthRow | undefined = this.kept.get(id);
        if (row) fromKept.push(id);
        else {
          this.reads++;
          row = await db(AUTHORIZATIONS).where({ id }).first();
        }
        read.set(id, row ?? null);
        return row ? toAuthorization(row) : null;
      },
      async saveAuthorization(a) {
        saved.set(a.id, a);
      },
    };
    let result: T;
    try {
      result = await work(tx);
    } catch (err) {
      if (!fromKept.length) throw err;
      // Refused on what this node kept: decided again on what the database holds.
      for (const id of fromKept) this.kept.delete(id);
      throw new Stale(`authorization ${fromKept.join(", ")} read again`);
    }
    // Every unit of the provider records one operation and changes at most one authorization.
    if (saved.size > 1 || operations.length > 1) throw new Error("a ledger unit of work writes one operation and at most one authorization");
    await this.write([...saved.values()][0], read, operations[0]);
    return result;
  }

  /**
   * One statement: the authorization (inserted, or updated if unchanged since it was read) and
   * the operation, which is recorded only if the authorization was written.
   */
  private async write(auth: MockAuthorization | undefined, read: Map<string, AuthRow | null>, op: StoredOperation | undefined) {
    const db = this.db;
    if (!auth) {
      if (op) await db(OPERATIONS).insert(operationRow(op));
      return;
    }
    const row = authorizationRow(auth);
    const before = read.get(auth.id);
    const change = before
      ? db(AUTHORIZATIONS)
          .where({ id: before.id, status: before.status, captured_cents: before.captured_cents, refunded_cents: before.refunded_cents })
          .update({ status: row.status, captured_cents: row.captured_cents, refunded_cents: row.refunded_cents, updated_at: db.fn.now() })
          .returning("id")
      : db(AUTHORIZATIONS).insert(row).returning("id");
    const { sql, bindings } = change.toSQL();
    const written = op
      ? await db.raw<{ rows: unknown[] }>(
          `WITH changed AS (${sql})
           INSERT INTO ${OPERATIONS} (idempotency_key, operation, request_hash, response)
           SELECT ?, ?, ?, ?::jsonb FROM changed RETURNING idempotency_key`,
          [...bindings, op.key, op.operation, op.requestHash, JSON.stringify(op.response)],
        )
      : await db.raw<{ rows: unknown[] }>(sql, [...bindings]);
    if (!written.rows.length) {
      // The unit runs again from a real read.
      this.kept.delete(auth.id);
      throw new Stale(`authorization ${auth.id} changed meanwhile`);
    }
    this.keep(row);
  }
}
