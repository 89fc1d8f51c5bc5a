/**
 * Prices an order from the session's price list, never from anything the buyer sends: one item
 * per held seat (or GA admission), priced by its category, in integer minor units.
 */

export interface HeldItem {
  seatId: string;
  label: string;
  category: string;
  areaId?: string;
}

export interface PricedItem {
  /** 1-based, in hold order; tickets are unique per (order, position). */
  position: number;
  seatId: string;
  seatLabel: string;
  category: string;
  amountCents: number;
}

export interface PricedOrder {
  items: PricedItem[];
  totalCents: number;
  currency: string;
}

export class PricingError extends Error {
  constructor(readonly code: "NO_PRICE" | "EMPTY_ORDER" | "INVALID_PRICE" | "INVALID_CURRENCY", message: string, readonly details: Record<string, unknown> = {}) {
    super(message);
    this.name = "PricingError";
  }
}

/** Orders above this are refused as a data error rather than risking integer overflow downstream. */
export const MAX_ORDER_TOTAL_CENTS = 2_000_000_000;

export function priceOrder(items: HeldItem[], prices: Record<string, unknown>, currency: string): PricedOrder {
  if (!/^[A-Z]{3}$/.test(currency)) throw new PricingError("INVALID_CURRENCY", `Invalid currency '${currency}'.`);
  if (!items.length) throw new PricingError("EMPTY_ORDER", "The hold has no seats.");
  const missing = [...new Set(items.map((i) => i.category).filter((c) => !Object.prototype.hasOwnProperty.call(prices, c)))];
  if (missing.length) throw new PricingError("NO_PRICE", `No price for ${missing.join(", ")}.`, { categories: missing });
  let totalCents = 0;
  const priced = items.map((item, index) => {
    const amountCents = prices[item.category];
    if (typeof amountCents !== "number" || !Number.isSafeInteger(amountCents) || amountCents < 0) {
      throw new PricingError("INVALID_PRICE", `The price of ${item.category} is not a whole number of cents.`, { category: item.category });
    }
    totalCents += amountCents;
    return { position: index + 1, seatId: item.seatId, seatLabel: item.label, category: item.category, amountCents };
  });
  if (totalCents > MAX_ORDER_TOTAL_CENTS) throw new PricingError("INVALID_PRICE", "The order total is too large.");
  return { items: priced, totalCents, currency };
}
