/**
 * The mock provider on its PostgreSQL ledger (KnexMockLedger), against the embedded database:
 * a unit of work writes in one statement with a compare-and-set on the authorization, so these
 * check what a transaction with locks used to guarantee, under concurrency.
 */
import type { Knex } from "knex";
import { Database, migrate, openDatabase } from "../../src/platform/database";
import type { Config } from "../../src/platform/config";
import { KnexMockLedger } from "../../src/domain/payments/knex-ledger";
import { MockPaymentProvider, TEST_CARDS, validateCard, ValidCard } from "../../src/domain/payments";

function card(number: string): ValidCard {
  const r = validateCard({ number, expMonth: 12, expYear: 2030, cvc: "123" }, new Date("2026-12-01T00:00:00Z"));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.card;
}

describe("mock provider ledger in PostgreSQL", () => {
  let db: Database;
  let knex: Knex;
  let provider: MockPaymentProvider;

  beforeAll(async () => {
    db = await openDatabase({ dataDir: "memory" } as Config);
    knex = db.knex;
    await migrate(knex);
    // Some latency, so that concurrent calls really overlap between their reads and their writes.
    provider = new MockPaymentProvider({ ledger: new KnexMockLedger(knex), latencyMs: () => Math.floor(Math.random() * 5) });
  });

  afterAll(async () => {
    await db?.close();
  });

  const authorize = (key: string, amountCents = 10_000, number: string = TEST_CARDS.success) =>
    provider.authorize({ idempotencyKey: key, amountCents, currency: "EUR", card: card(number) });
  const authorization = async (id: string) => knex("mock_provider_authorizations").where({ id }).first();

  it("authorizes, captures and refunds, keeping the amounts", async () => {
    const auth = await authorize("flow:auth");
    if (auth.status !== "authorized") throw new Error("declined");
    const capture = await provider.capture({ idempotencyKey: "flow:cap", authorizationId: auth.authorizationId, amountCents: 10_000 });
    expect(capture.captureId).toMatch(/^cap_/);
    await provider.refund({ idempotencyKey: "flow:re1", authorizationId: auth.authorizationId, amountCents: 4_000 });
    expect(await authorization(auth.authorizationId)).toMatchObject({ status: "captured", captured_cents: 10_000, refunded_cents: 4_000 });
    await provider.refund({ idempotencyKey: "flow:re2", authorizationId: auth.authorizationId, amountCents: 6_000 });
    expect(await authorization(auth.authorizationId)).toMatchObject({ status: "refunded", refunded_cents: 10_000 });
    await expect(provider.void({ idempotencyKey: "flow:void", authorizationId: auth.authorizationId })).rejects.toMatchObject({ code: "authorization_captured" });
  });

  it("a declined card leaves no authorization, only the recorded answer", async () => {
    const before = await knex("mock_provider_authorizations").count({ n: "*" });
    expect(await authorize("declined:1", 500, TEST_CARDS.declined)).toMatchObject({ status: "declined", code: "card_declined" });
    expect(await knex("mock_provider_authorizations").count({ n: "*" })).toEqual(before);
    expect(await knex("mock_provider_operations").where({ idempotency_key: "declined:1" }).first()).toMatchObject({ operation: "authorize" });
  });

  it("one key, many concurrent calls: one authorization, one answer for all", async () => {
    const answers = await Promise.all(Array.from({ length: 12 }, () => authorize("same:auth", 2_500)));
    const ids = new Set(answers.map((a) => (a.status === "authorized" ? a.authorizationId : a.status)));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    expect(await knex("mock_provider_authorizations").where({ id }).count({ n: "*" })).toEqual([{ n: 1 }]);
    // The losers' authorizations were never written: no row without its operation.
    const orphans = await knex.raw(
      `SELECT count(*)::int AS n FROM mock_provider_authorizations a
        WHERE NOT EXISTS (SELECT 1 FROM mock_provider_operations o WHERE o.response->>'authorizationId' = a.id)`,
    );
    expect(orphans.rows).toEqual([{ n: 0 }]);
  });

  it("one key, many concurrent captures: captured once, the same capture id for all", async () => {
    const auth = await authorize("cap-race:auth");
    if (auth.status !== "authorized") throw new Error("declined");
    const captures = await Promise.all(
      Array.from({ length: 10 }, () => provider.capture({ idempotencyKey: "cap-race:cap", authorizationId: auth.authorizationId, amountCents: 10_000 })),
    );
    expect(new Set(captures.map((c) => c.captureId)).size).toBe(1);
    expect(await authorization(auth.authorizationId)).toMatchObject({ status: "captured", captured_cents: 10_000 });
  });

  it("different keys racing on one authorization never refund more than was captured", async () => {
    const auth = await authorize("re-race:auth");
    if (auth.status !== "authorized") throw new Error("declined");
    await provider.capture({ idempotencyKey: "re-race:cap", authorizationId: auth.authorizationId, amountCents: 10_000 });
    // Twelve refunds of 30.00 at once on 100.00: exactly three fit.
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => provider.refund({ idempotencyKey: `re-race:${i}`, authorizationId: auth.authorizationId, amountCents: 3_000 })),
    );
    const done = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(done).toHaveLength(3);
    expect(refused.every((r) => r.reason.code === "amount_too_large")).toBe(true);
    expect(await authorization(auth.authorizationId)).toMatchObject({ status: "captured", refunded_cents: 9_000 });
    const recorded = await knex("mock_provider_operations").whereLike("idempotency_key", "re-race:%").andWhere({ operation: "refund" }).count({ n: "*" });
    expect(recorded).toEqual([{ n: 3 }]);
  });

  it("a void racing a capture: exactly one of them wins", async () => {
    const auth = await authorize("void-race:auth");
    if (auth.status !== "authorized") throw new Error("declined");
    const [captured, voided] = await Promise.allSettled([
      provider.capture({ idempotencyKey: "void-race:cap", authorizationId: auth.authorizationId, amountCents: 10_000 }),
      provider.void({ idempotencyKey: "void-race:void", authorizationId: auth.authorizationId }),
    ]);
    const row = await authorization(auth.authorizationId);
    if (captured.status === "fulfilled") {
      expect(row.status).toBe("captured");
      expect(voided.status).toBe("rejected");
    } else {
      expect(row.status).toBe("voided");
      expect(voided.status).toBe("fulfilled");
    }
  });

  describe("the authorizations a ledger keeps", () => {
    it("captures what it authorized without reading the authorization back", async () => {
      const ledger = new KnexMockLedger(knex);
      const own = new MockPaymentProvider({ ledger, latencyMs: () => 0 });
      const auth = await own.authorize({ idempotencyKey: "kept:auth", amountCents: 3_000, currency: "EUR", card: card(TEST_CARDS.success) });
      if (auth.status !== "authorized") throw new Error("declined");
      await own.capture({ idempotencyKey: "kept:cap", authorizationId: auth.authorizationId, amountCents: 3_000 });
      expect(ledger.reads).toBe(0);
      expect(await authorization(auth.authorizationId)).toMatchObject({ status: "captured", captured_cents: 3_000 });
    });

    it("does not trust a kept authorization that another node changed since", async () => {
      const ledger = new KnexMockLedger(knex);
      const here = new MockPaymentProvider({ ledger, latencyMs: () => 0 });
      // Another node, with a ledger of its own over the same tables.
      const elsewhere = new MockPaymentProvider({ ledger: new KnexMockLedger(knex), latencyMs: () => 0 });
      const auth = await here.authorize({ idempotencyKey: "moved:auth", amountCents: 5_000, currency: "EUR", card: card(TEST_CARDS.success) });
      if (auth.status !== "authorized") throw new Error("declined");
      await elsewhere.void({ idempotencyKey: "moved:void", authorizationId: auth.authorizationId });
      // Kept as authorized here, voided in the database: the capture is refused, nothing is written.
      await expect(here.capture({ idempotencyKey: "moved:cap", authorizationId: auth.authorizationId, amountCents: 5_000 })).rejects.toMatchObject({ code: "authorization_voided" });
      expect(ledger.reads).toBe(1);
      expect(await authorization(auth.authorizationId)).toMatchObject({ status: "voided", captured_cents: 0 });
      expect(await knex("mock_provider_operations").where({ idempotency_key: "moved:cap" }).first()).toBeUndefined();

      // Captured elsewhere, then refunded here from the kept (stale) row: the refund counts what
      // the database holds.
      const auth2 = await here.authorize({ idempotencyKey: "moved2:auth", amountCents: 5_000, currency: "EUR", card: card(TEST_CARDS.success) });
      if (auth2.status !== "authorized") throw new Error("declined");
      await here.capture({ idempotencyKey: "moved2:cap", authorizationId: auth2.authorizationId, amountCents: 5_000 });
      await elsewhere.refund({ idempotencyKey: "moved2:re1", authorizationId: auth2.authorizationId, amountCents: 4_000 });
      await expect(here.refund({ idempotencyKey: "moved2:re2", authorizationId: auth2.authorizationId, amountCents: 2_000 })).rejects.toMatchObject({ code: "amount_too_large" });
      await here.refund({ idempotencyKey: "moved2:re3", authorizationId: auth2.authorizationId, amountCents: 1_000 });
      expect(await authorization(auth2.authorizationId)).toMatchObject({ status: "refunded", captured_cents: 5_000, refunded_cents: 5_000 });

      // Kept here as authorized, captured elsewhere (the saga moved to another node): a refund
      // made here is not refused as "not captured".
      const auth3 = await here.authorize({ idempotencyKey: "moved3:auth", amountCents: 5_000, currency: "EUR", card: card(TEST_CARDS.success) });
      if (auth3.status !== "authorized") throw new Error("declined");
      await elsewhere.capture({ idempotencyKey: "moved3:cap", authorizationId: auth3.authorizationId, amountCents: 5_000 });
      await here.refund({ idempotencyKey: "moved3:re", authorizationId: auth3.authorizationId, amountCents: 5_000 });
      expect(await authorization(auth3.authorizationId)).toMatchObject({ status: "refunded", captured_cents: 5_000, refunded_cents: 5_000 });
    });
  });
});
