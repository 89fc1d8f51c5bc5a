import jwt from "jsonwebtoken";
import { AuthUser, signAccessToken, verifiedTokenCount, VERIFIED_TOKENS_MAX, verifyAccessToken } from "../../src/platform/auth";

const SECRET = "unit-test-secret-0123456789abcdef";
const buyer = (id: string): AuthUser => ({ id, email: `${id}@example.test`, name: `Buyer ${id}`, roles: ["buyer"] });
const refused = (secret: string, token: string) => {
  try {
    verifyAccessToken(secret, token);
    return undefined;
  } catch (err) {
    return (err as { type?: string }).type;
  }
};

describe("access tokens (the verified-token cache)", () => {
  afterEach(() => jest.useRealTimers());

  it("answers the same user for the same token, verified once", () => {
    const token = signAccessToken(SECRET, buyer("u-1"));
    const verify = jest.spyOn(jwt, "verify");
    const first = verifyAccessToken(SECRET, token);
    const again = verifyAccessToken(SECRET, token);
    expect(first).toEqual({ id: "u-1", email: "u-1@example.test", name: "Buyer u-1", roles: ["buyer"] });
    expect(again).toEqual(first);
    expect(verify).toHaveBeenCalledTimes(1);
    verify.mockRestore();
    // Shared between requests, so nobody can change it for the next one.
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.roles)).toBe(true);
  });

  it("still refuses a forged token after the genuine one was verified", () => {
    const token = signAccessToken(SECRET, buyer("u-2"));
    expect(verifyAccessToken(SECRET, token).id).toBe("u-2");
    const [h, p, s] = token.split(".");
    // Another user's claims under the genuine signature, and the genuine claims with a changed signature.
    const otherClaims = Buffer.from(JSON.stringify({ ...jwt.decode(token, { json: true }), sub: "someone-else", roles: ["admin"] })).toString("base64url");
    expect(refused(SECRET, `${h}.${otherClaims}.${s}`)).toBe("INVALID_TOKEN");
    expect(refused(SECRET, `${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "BB" : "AA"}`)).toBe("INVALID_TOKEN");
    expect(refused(SECRET, jwt.sign({ roles: ["admin"] }, "", { algorithm: "none", subject: "u-2", issuer: "ticketflash", expiresIn: 600 }))).toBe("INVALID_TOKEN");
    // The same token under another key (a rotated secret) is verified again, and refused.
    expect(refused("another-secret-0123456789abcdef", token)).toBe("INVALID_TOKEN");
  });

  it("refuses a verified token once it expires, as jsonwebtoken would", () => {
    jest.useFakeTimers({ now: new Date("2026-12-03T10:00:00.000Z") });
    const token = signAccessToken(SECRET, buyer("u-3"));
    const exp = jwt.decode(token, { json: true })!.exp! * 1000;
    expect(verifyAccessToken(SECRET, token).id).toBe("u-3");
    jest.setSystemTime(exp - 1);
    expect(verifyAccessToken(SECRET, token).id).toBe("u-3");
    jest.setSystemTime(exp);
    expect(refused(SECRET, token)).toBe("INVALID_TOKEN");
    expect(refused(SECRET, token)).toBe("INVALID_TOKEN");
  });

  it("refuses a token that never expires", () => {
    const forever = jwt.sign({ email: "x@example.test", name: "X", roles: ["buyer"] }, SECRET, { algorithm: "HS256", subject: "u-4", issuer: "ticketflash" });
    expect(refused(SECRET, forever)).toBe("INVALID_TOKEN");
  });

  it("keeps at most VERIFIED_TOKENS_MAX tokens, and the ones it let go still verify", () => {
    const first = signAccessToken(SECRET, buyer("u-first"));
    verifyAccessToken(SECRET, first);
    for (let i = 0; i < VERIFIED_TOKENS_MAX + 10; i++) verifyAccessToken(SECRET, signAccessToken(SECRET, buyer(`u-${i}`)));
    expect(verifiedTokenCount()).toBe(VERIFIED_TOKENS_MAX);
    expect(verifyAccessToken(SECRET, first).id).toBe("u-first");
  });
});
