import { MAX_ORDER_TOTAL_CENTS, priceOrder, PricingError } from "../../src/domain/pricing";

const items = [
  { seatId: "a-1", label: "A 1", category: "premium" },
  { seatId: "a-2", label: "A 2", category: "standard" },
  { seatId: "ga", label: "Floor", category: "standard", areaId: "ga" },
];

describe("priceOrder", () => {
  it("prices every item from the session's price list, in hold order, in integer cents", () => {
    const priced = priceOrder(items, { premium: 8950, standard: 2999 }, "EUR");
    expect(priced).toEqual({
      currency: "EUR",
      totalCents: 8950 + 2999 + 2999,
      items: [
        { position: 1, seatId: "a-1", seatLabel: "A 1", category: "premium", amountCents: 8950 },
        { position: 2, seatId: "a-2", seatLabel: "A 2", category: "standard", amountCents: 2999 },
        { position: 3, seatId: "ga", seatLabel: "Floor", category: "standard", amountCents: 2999 },
      ],
    });
  });

  it("allows free tickets", () => {
    expect(priceOrder([items[0]], { premium: 0 }, "USD").totalCents).toBe(0);
  });

  it("refuses a category without a price, naming it", () => {
    expect(() => priceOrder(items, { premium: 100 }, "EUR")).toThrow(PricingError);
    try {
      priceOrder(items, { premium: 100 }, "EUR");
    } catch (err) {
      expect((err as PricingError).code).toBe("NO_PRICE");
      expect((err as PricingError).details).toEqual({ categories: ["standard"] });
    }
  });

  it("does not take a price from the object's prototype", () => {
    expect(() => priceOrder([{ seatId: "x", label: "X", category: "toString" }], {}, "EUR")).toThrow(/No price/);
  });

  it.each([[12.5], [-1], ["100"], [Number.NaN], [Number.MAX_SAFE_INTEGER + 2]])("refuses a price that is not whole non-negative cents (%p)", (price) => {
    expect(() => priceOrder([items[0]], { premium: price }, "EUR")).toThrow(expect.objectContaining({ code: "INVALID_PRICE" }));
  });

  it("refuses an empty hold, a bad currency and an absurd total", () => {
    expect(() => priceOrder([], { premium: 1 }, "EUR")).toThrow(expect.objectContaining({ code: "EMPTY_ORDER" }));
    expect(() => priceOrder([items[0]], { premium: 1 }, "eur")).toThrow(expect.objectContaining({ code: "INVALID_CURRENCY" }));
    const many = Array.from({ length: 3 }, (_, i) => ({ seatId: `s${i}`, label: "S", category: "premium" }));
    expect(() => priceOrder(many, { premium: MAX_ORDER_TOTAL_CENTS }, "EUR")).toThrow(expect.objectContaining({ code: "INVALID_PRICE" }));
  });
});
