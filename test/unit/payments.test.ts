import {
  cardBrand,
  cardFingerprint,
  checkVelocity,
  luhnValid,
  MemoryMockLedger,
  MockPaymentProvider,
  PaymentProviderError,
  SLOW_CARD_DELAY_MS,
  TEST_CARDS,
  validateCard,
  ValidCard,
} from "../../src/domain/payments";

const NOW = new Date("2026-11-22T10:00:00Z");

function valid(number: string): ValidCard {
  const r = validateCard({ number, expMonth: 12, expYear: 2028, cvc: number.startsWith("3") ? "1234" : "123" }, NOW);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.card;
}

describe("card checks", () => {
  it("knows the Luhn checksum", () => {
    expect(luhnValid("4242424242424242")).toBe(true);
    expect(luhnValid("4242424242424241")).toBe(false);
    expect(luhnValid("79927398713")).toBe(true);
    expect(luhnValid("4242x42424242424")).toBe(false);
  });

  it("recognises brands", () => {
    expect(cardBrand("4242424242424242")).toBe("visa");
    expect(cardBrand("5555555555554444")).toBe("mastercard");
    expect(cardBrand("2223003122003222")).toBe("mastercard");
    expect(cardBrand("378282246310005")).toBe("amex");
    expect(cardBrand("6011111111111117")).toBe("discover");
    expect(cardBrand("9999999999999995")).toBe("unknown");
  });

  it("accepts every test card, spaces and dashes included, and keeps only what may be shown", () => {
    for (const n of Object.values(TEST_CARDS)) expect(valid(n).last4).toBe(n.slice(-4));
    const r = validateCard({ number: "4242 4242-4242 4242", expMonth: 11, expYear: 26, cvc: "000" }, NOW);
    expect(r).toEqual({ ok: true, card: { number: "4242424242424242", brand: "visa", last4: "4242", expMonth: 11, expYear: 2026 } });
  });

  it("reports every problem with the field it belongs to", () => {
    const r = validateCard({ number: "1234", expMonth: 13, expYear: 2030, cvc: "1" }, NOW);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.field)).toEqual(["payment.card.number", "payment.card.expMonth", "payment.card.cvc"]);
  });

  it("treats a card as valid through the end of its expiry month", () => {
    expect(validateCard({ number: TEST_CARDS.success, expMonth: 11, expYear: 2026, cvc: "123" }, NOW).ok).toBe(true);
    const expired = validateCard({ number: TEST_CARDS.success, expMonth: 10, expYear: 2026, cvc: "123" }, NOW);
    expect(expired.ok).toBe(false);
    if (!expired.ok) expect(expired.errors[0].type).toBe("cardExpired");
  });

  it("wants four CVC digits for Amex and three for others", () => {
    expect(validateCard({ number: "378282246310005", expMonth: 1, expYear: 2030, cvc: "123" }, NOW).ok).toBe(false);
    expect(validateCard({ number: "378282246310005", expMonth: 1, expYear: 2030, cvc: "1234" }, NOW).ok).toBe(true);
    expect(validateCard({ number: TEST_CARDS.success, expMonth: 1, expYear: 2030, cvc: "1234" }, NOW).ok).toBe(false);
  });

  it("fingerprints a card with a key: same card same print, another key another print", () => {
    expect(cardFingerprint("4242 4242 4242 4242", "k1")).toBe(cardFingerprint(TEST_CARDS.success, "k1"));
    expect(cardFingerprint(TEST_CARDS.success, "k1")).not.toBe(cardFingerprint(TEST_CARDS.success, "k2"));
    expect(cardFingerprint(TEST_CARDS.success, "k1")).not.toContain("4242");
  });
});

describe("mock payment provider", () => {
  const sleeps: number[] = [];
  let ledger: MemoryMockLedger;
  let provider: MockPaymentProvider;
  beforeEach(() => {
    sleeps.length = 0;
    ledger = new MemoryMockLedger();
    provider = new MockPaymentProvider({ ledger, sleep: async (ms) => void sleeps.push(ms), latencyMs: () => 25 });
  });
  const authorize = (key: string, number: string, amountCents = 1000) =>
    provider.authorize({ idempotencyKey: key, amountCents, currency: "EUR", card: valid(number) });

  it("authorizes the success card and declines the failing ones with their codes", async () => {
    expect(await authorize("a", TEST_CARDS.success)).toEqual({ status: "authorized", authorizationId: expect.stringMatching(/^auth_/) });
    expect(await authorize("b", TEST_CARDS.declined)).toMatchObject({ status: "declined", code: "card_declined" });
    expect(await authorize("c", TEST_CARDS.insufficientFunds)).toMatchObject({ status: "declined", code: "insufficient_funds" });
    expect(ledger.authorizationsSnapshot()).toHaveLength(1);
  });

  it("takes 3 s more for the slow card, and a little latency for every call", async () => {
    await authorize("slow", TEST_CARDS.slow);
    expect(sleeps).toEqual([25 + SLOW_CARD_DELAY_MS]);
    await authorize("fast", TEST_CARDS.success);
    expect(sleeps[1]).toBe(25);
  });

  it("returns the first result for a repeated key and never authorizes twice", async () => {
    const first = await authorize("same", TEST_CARDS.success);
    const [second, third] = await Promise.all([authorize("same", TEST_CARDS.success), authorize("same", TEST_CARDS.success)]);
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(ledger.authorizationsSnapshot()).toHaveLength(1);
    expect(await provider.findAuthorization("same")).toEqual(first);
    expect(await provider.findAuthorization("never")).toBeNull();
  });

  it("refuses a key reused for a different request", async () => {
    await authorize("k", TEST_CARDS.success, 1000);
    await expect(authorize("k", TEST_CARDS.success, 2000)).rejects.toMatchObject({ code: "idempotency_key_reused" });
  });

  it("captures once, refunds up to the captured amount, and keys make both safe to repeat", async () => {
    const auth = await authorize("a", TEST_CARDS.success, 5000);
    if (auth.status !== "authorized") throw new Error("not authorized");
    const id = auth.authorizationId;
    await expect(provider.capture({ idempotencyKey: "c0", authorizationId: id, amountCents: 6000 })).rejects.toBeInstanceOf(PaymentProviderError);
    const cap = await provider.capture({ idempotencyKey: "c1", authorizationId: id, amountCents: 5000 });
    expect(await provider.capture({ idempotencyKey: "c1", authorizationId: id, amountCents: 5000 })).toEqual(cap);
    await expect(provider.capture({ idempotencyKey: "c2", authorizationId: id, amountCents: 5000 })).rejects.toMatchObject({ code: "authorization_captured" });
    await expect(provider.void({ idempotencyKey: "v1", authorizationId: id })).rejects.toMatchObject({ code: "authorization_captured" });
    const refund = await provider.refund({ idempotencyKey: "r1", authorizationId: id, amountCents: 5000 });
    expect(await provider.refund({ idempotencyKey: "r1", authorizationId: id, amountCents: 5000 })).toEqual(refund);
    await expect(provider.refund({ idempotencyKey: "r2", authorizationId: id, amountCents: 1 })).rejects.toMatchObject({ code: "amount_too_large" });
    expect(ledger.authorizationsSnapshot()[0]).toMatchObject({ status: "refunded", capturedCents: 5000, refundedCents: 5000 });
    // A retry that comes after the payment moved on still answers its first result.
    expect(await provider.capture({ idempotencyKey: "c1", authorizationId: id, amountCents: 5000 })).toEqual(cap);
    await expect(provider.capture({ idempotencyKey: "c1", authorizationId: id, amountCents: 4000 })).rejects.toMatchObject({ code: "idempotency_key_reused" });
  });

  it("answers a repeated decline with the same decline, and stores one operation per key", async () => {
    const first = await authorize("d", TEST_CARDS.declined);
    expect(await authorize("d", TEST_CARDS.declined)).toEqual(first);
    await expect(authorize("d", TEST_CARDS.success)).rejects.toMatchObject({ code: "idempotency_key_reused" });
    expect(ledger.authorizationsSnapshot()).toHaveLength(0);
  });

  it("voids an authorization, after which it cannot be captured", async () => {
    const auth = await authorize("a", TEST_CARDS.success);
    if (auth.status !== "authorized") throw new Error("not authorized");
    await provider.void({ idempotencyKey: "v", authorizationId: auth.authorizationId });
    await provider.void({ idempotencyKey: "v", authorizationId: auth.authorizationId });
    await expect(provider.capture({ idempotencyKey: "c", authorizationId: auth.authorizationId, amountCents: 1000 })).rejects.toMatchObject({ code: "authorization_voided" });
    await expect(provider.capture({ idempotencyKey: "x", authorizationId: "auth_unknown", amountCents: 1 })).rejects.toMatchObject({ code: "authorization_not_found" });
  });
});

describe("velocity check", () => {
  const limits = { windowMs: 15 * 60_000, maxFailuresPerUser: 3, maxFailuresPerCard: 2 };
  const ago = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000);

  it("allows attempts below the limits and ignores failures outside the window", () => {
    expect(checkVelocity({ userFailures: [ago(1), ago(2)], cardFailures: [ago(1)] }, NOW, limits)).toEqual({ allowed: true });
    expect(checkVelocity({ userFailures: [ago(1), ago(2), ago(20)], cardFailures: [] }, NOW, limits)).toEqual({ allowed: true });
  });

  it("refuses a user at the limit until the oldest counted failure leaves the window", () => {
    expect(checkVelocity({ userFailures: [ago(1), ago(5), ago(10)], cardFailures: [] }, NOW, limits)).toEqual({ allowed: false, scope: "user", retryAfterSeconds: 5 * 60 });
  });

  it("refuses a card at its limit", () => {
    expect(checkVelocity({ userFailures: [], cardFailures: [ago(3), ago(4)] }, NOW, limits)).toEqual({ allowed: false, scope: "card", retryAfterSeconds: 11 * 60 });
  });
});
