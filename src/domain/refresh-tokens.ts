/**
 * Refresh tokens: opaque random strings (32 bytes, base64url) the server keeps only as SHA-256
 * hashes, so a leaked table cannot be replayed. Each login starts a family; every refresh spends
 * its token and issues the family's next one. A spent token coming back means two parties hold
 * the family (one of them stole it), so the whole family is revoked and both must sign in again.
 */
import crypto from "crypto";

export const REFRESH_TOKEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;
const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface IssuedRefreshToken {
  token: string;
  tokenHash: string;
  expiresAt: Date;
}

export function hashRefreshToken(token: string): string {
  return crypto.createHash("sha256").update(token, "utf8").digest("hex");
}

export function newRefreshToken(now: Date): IssuedRefreshToken {
  const token = crypto.randomBytes(TOKEN_BYTES).toString("base64url");
  return { token, tokenHash: hashRefreshToken(token), expiresAt: new Date(now.getTime() + REFRESH_TOKEN_TTL_MS) };
}

/** Whether a string can be one of our refresh tokens at all (saves a lookup for garbage). */
export function looksLikeRefreshToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

export interface StoredRefreshToken {
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
}

/** What presenting a stored token means. Reuse is checked before expiry: a replayed token is theft either way. */
export type RefreshVerdict = "valid" | "reused" | "revoked" | "expired";

export function judgeRefreshToken(stored: StoredRefreshToken, now: Date): RefreshVerdict {
  if (stored.revokedAt) return "revoked";
  if (stored.usedAt) return "reused";
  if (stored.expiresAt.getTime() <= now.getTime()) return "expired";
  return "valid";
}
