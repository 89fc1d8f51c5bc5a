/**
 * Webhooks for integrators: which events exist, how a delivery is signed, and when a failed
 * delivery is tried again.
 *
 * Receivers verify `X-TicketFlash-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with the
 * secret they got when registering the hook (compare in constant time).
 */
import crypto from "crypto";
import net from "net";

/** The saga's durable channels, delivered to integrators under the same names. */
export const WEBHOOK_EVENTS = ["orders.confirmed", "orders.failed", "orders.cancelled", "tickets.issued", "tickets.rendered"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export const SIGNATURE_HEADER = "X-TicketFlash-Signature";

export function signWebhookBody(secret: string, body: string): string {
  return "sha256=" + crypto.createHmac("sha256", secret).update(body, "utf8").digest("hex");
}

export function verifyWebhookSignature(secret: string, body: string, header: unknown): boolean {
  if (typeof header !== "string") return false;
  const expected = Buffer.from(signWebhookBody(secret, body));
  const given = Buffer.from(header);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

export function newWebhookSecret(): string {
  return "whsec_" + crypto.randomBytes(32).toString("base64url");
}

/** Only absolute http(s) URLs without credentials; returns the normalised URL or undefined. */
export function parseWebhookUrl(input: string): string | undefined {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (url.username || url.password || !url.hostname) return undefined;
  return url.toString();
}

/**
 * Addresses a webhook must not reach in a shared deployment (the SSRF guard): loopback, private,
 * link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, unspecified, multicast and
 * their IPv6 forms, including IPv4-mapped IPv6.
 */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = mapped ? mapped[1] : address;
  if (net.isIPv4(ip)) {
    const [a, b] = ip.split(".").map(Number);
    return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || a >= 224;
  }
  if (net.isIPv6(ip)) {
    const v = ip.toLowerCase();
    return v === "::" || v === "::1" || /^f[cd]/.test(v) || /^fe[89ab]/.test(v) || v.startsWith("ff");
  }
  return true;
}

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  maxAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 10_000, maxMs: 6 * 3600_000, maxAttempts: 15 };

/**
 * Delay before attempt `attempts + 1`, after `attempts` failed ones: exponential with "equal
 * jitter" (half fixed, half random) so that many hooks failing together do not retry in lockstep.
 * `undefined` once the attempts are used up.
 */
export function nextRetryDelayMs(attempts: number, policy: RetryPolicy, random: () => number = Math.random): number | undefined {
  if (attempts >= policy.maxAttempts) return undefined;
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(exp / 2 + (exp / 2) * random());
}
