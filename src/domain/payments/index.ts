/**
 * Payments domain: card checks, the provider interface, the built-in mock provider, velocity.
 *
 * Adding a real provider: implement `PaymentProvider` (./provider.ts) with the provider's SDK,
 * passing our idempotency keys through as theirs, mapping their decline codes to `DeclineCode`
 * and throwing `PaymentProviderError` for refusals a retry will not change; then return it below
 * for its name (the `provider` setting of services/payments.service.ts).
 */
import type { Knex } from "knex";
import { KnexMockLedger } from "./knex-ledger";
import { MockPaymentProvider } from "./mock-provider";
import type { PaymentProvider } from "./provider";

export * from "./card";
export * from "./provider";
export * from "./velocity";
export { MockPaymentProvider, MemoryMockLedger, TEST_CARDS, SLOW_CARD_DELAY_MS } from "./mock-provider";

export function createPaymentProvider(name: string, deps: { db: Knex }): PaymentProvider {
  switch (name) {
    case "mock":
      return new MockPaymentProvider({ ledger: new KnexMockLedger(deps.db) });
    default:
      throw new Error(`Unknown payment provider '${name}' . Known: mock`);
  }
}
