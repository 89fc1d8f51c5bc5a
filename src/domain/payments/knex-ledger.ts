/** The mock provider's ledger in PostgreSQL (tables `mock_provider_*`), one transaction per unit of work. */
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

export class KnexMockLedger implements MockLedger {
  constructor(private db: Knex) {}

  async peek(key: string): Promise<StoredOperation | null> {
    const row = await this.db("mock_provider_operations").where({ idempotency_key: key }).first();
    return row ? { key, operation: row.operation, requestHash: row.request_hash, response: row.response } : null;
  }

  run<T>(work: (tx: MockLedgerTx) => Promise<T>): Promise<T> {
    return this.db.transaction(async (trx) => {
      const tx: MockLedgerTx = {
        async operation(key) {
          const row = await trx("mock_provider_operations").where({ idempotency_key: key }).first();
          return row ? { key, operation: row.operation, requestHash: row.request_hash, response: row.response } : null;
        },
        async insertOperation(op: StoredOperation) {
          await trx("mock_provider_operations").insert({
            idempotency_key: op.key,
            operation: op.operation,
            request_hash: op.requestHash,
            response: JSON.stringify(op.response),
          });
        },
        async authorization(id) {
          const row: AuthRow | undefined = await trx("mock_provider_authorizations").where({ id }).forUpdate().first();
          return row
            ? {
                id: row.id,
                amountCents: row.amount_cents,
                currency: row.currency,
                status: row.status,
                capturedCents: row.captured_cents,
                refundedCents: row.refunded_cents,
                last4: row.card_last4,
              }
            : null;
        },
        async saveAuthorization(a) {
          await trx("mock_provider_authorizations")
            .insert({
              id: a.id,
              amount_cents: a.amountCents,
              currency: a.currency,
              status: a.status,
              captured_cents: a.capturedCents,
              refunded_cents: a.refundedCents,
              card_last4: a.last4,
            })
            .onConflict("id")
            .merge(["status", "captured_cents", "refunded_cents", "updated_at"]);
        },
      };
      return work(tx);
    });
  }
}
