/**
 * Card checks a payment form needs before anything is sent to a provider: number (digits, length,
 * Luhn), expiry and CVC. A malformed card is a 400 before any charge is attempted.
 */
import { createHmac } from "crypto";

export interface CardInput {
  number: string;
  expMonth: number;
  expYear: number;
  cvc: string;
}

export type CardBrand = "visa" | "mastercard" | "amex" | "discover" | "unknown";

export interface CardFieldError {
  field: string;
  message: string;
  type: string;
}

export interface ValidCard {
  /** Digits only. Never persisted. */
  number: string;
  brand: CardBrand;
  last4: string;
  expMonth: number;
  expYear: number;
}

export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function cardBrand(digits: string): CardBrand {
  if (/^4/.test(digits)) return "visa";
  if (/^(5[1-5]|2(2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720))/.test(digits)) return "mastercard";
  if (/^3[47]/.test(digits)) return "amex";
  if (/^(6011|65|64[4-9])/.test(digits)) return "discover";
  return "unknown";
}

/** Spaces and dashes are how people type card numbers; anything else is an error. */
export function normalizeCardNumber(input: string): string {
  return input.replace(/[\s-]/g, "");
}

/** The card, or the list of what is wrong with it (field names as in the request body). */
export function validateCard(input: CardInput, now: Date): { ok: true; card: ValidCard } | { ok: false; errors: CardFieldError[] } {
  const errors: CardFieldError[] = [];
  const number = normalizeCardNumber(input.number);
  const brand = cardBrand(number);
  if (!/^\d{12,19}$/.test(number)) {
    errors.push({ field: "payment.card.number", message: "The card number must have 12 to 19 digits.", type: "cardNumber" });
  } else if (!luhnValid(number)) {
    errors.push({ field: "payment.card.number", message: "The card number is not valid.", type: "cardNumber" });
  }
  const month = input.expMonth;
  // Two-digit years are how cards print them.
  const year = input.expYear < 100 ? 2000 + input.expYear : input.expYear;
  if (!Number.isInteger(month) || month < 1 || month > 12) {
    errors.push({ field: "payment.card.expMonth", message: "The expiry month must be 1 to 12.", type: "cardExpiry" });
  } else if (!Number.isInteger(year) || year < 2000 || year > 2100) {
    errors.push({ field: "payment.card.expYear", message: "The expiry year is not valid.", type: "cardExpiry" });
  } else {
    // A card is valid through the last day of its expiry month.
    const current = now.getUTCFullYear() * 12 + now.getUTCMonth();
    if (year * 12 + (month - 1) < current) {
      errors.push({ field: "payment.card.expYear", message: "The card has expired.", type: "cardExpired" });
    } else if (year > now.getUTCFullYear() + 20) {
      errors.push({ field: "payment.card.expYear", message: "The expiry year is too far in the future.", type: "cardExpiry" });
    }
  }
  const cvcLength = brand === "amex" ? 4 : 3;
  if (!new RegExp(`^\\d{${cvcLength}}$`).test(input.cvc)) {
    errors.push({ field: "payment.card.cvc", message: `The security code must be ${cvcLength} digits.`, type: "cardCvc" });
  }
  if (errors.length) return { ok: false, errors };
  return { ok: true, card: { number, brand, last4: number.slice(-4), expMonth: month, expYear: year } };
}

/**
 * A keyed hash of the card number: lets failures be counted per card without storing the
 * number (an unkeyed hash of a 16-digit number with a known prefix could be brute-forced).
 */
export function cardFingerprint(number: string, secret: string): string {
  return createHmac("sha256", `card-fingerprint:${secret}`).update(normalizeCardNumber(number)).digest("base64url");
}
