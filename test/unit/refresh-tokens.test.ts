import { hashRefreshToken, judgeRefreshToken, looksLikeRefreshToken, newRefreshToken, REFRESH_TOKEN_TTL_MS } from "../../src/domain/refresh-tokens";

describe("refresh tokens", () => {
  const now = new Date("2026-11-22T10:00:00Z");

  it("are 32 random bytes in base64url, valid 30 days, kept only as a SHA-256 hash", () => {
    const a = newRefreshToken(now);
    const b = newRefreshToken(now);
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.token, "base64url")).toHaveLength(32);
    expect(a.token).not.toBe(b.token);
    expect(a.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.tokenHash).toBe(hashRefreshToken(a.token));
    expect(a.tokenHash).not.toContain(a.token);
    expect(a.expiresAt.getTime() - now.getTime()).toBe(REFRESH_TOKEN_TTL_MS);
    expect(REFRESH_TOKEN_TTL_MS).toBe(30 * 24 * 3600 * 1000);
  });

  it("recognise their own shape only", () => {
    expect(looksLikeRefreshToken(newRefreshToken(now).token)).toBe(true);
    expect(looksLikeRefreshToken("")).toBe(false);
    expect(looksLikeRefreshToken("x".repeat(42))).toBe(false);
    expect(looksLikeRefreshToken("' OR 1=1 --" + "x".repeat(32))).toBe(false);
  });

  it("judge a presented token: valid, spent (reuse), revoked or expired", () => {
    const fresh = { expiresAt: new Date(now.getTime() + 1000), usedAt: null, revokedAt: null };
    expect(judgeRefreshToken(fresh, now)).toBe("valid");
    expect(judgeRefreshToken({ ...fresh, expiresAt: now }, now)).toBe("expired");
    expect(judgeRefreshToken({ ...fresh, usedAt: now }, now)).toBe("reused");
    // A spent token is theft whether or not it has expired since.
    expect(judgeRefreshToken({ ...fresh, usedAt: now, expiresAt: new Date(0) }, now)).toBe("reused");
    expect(judgeRefreshToken({ ...fresh, usedAt: now, revokedAt: now }, now)).toBe("revoked");
  });
});
