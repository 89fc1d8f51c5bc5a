import {
  CURRENT_PARAMS,
  hashPassword,
  needsRehash,
  passwordRuleViolation,
  verifyAgainstDecoy,
  verifyPassword,
} from "../../src/domain/passwords";

// Cheap parameters keep the unit tests quick; the format and checks are the same at any cost.
const CHEAP = { N: 2 ** 10, r: 8, p: 1 };

describe("passwords", () => {
  it("verifies the right password and refuses a wrong one", async () => {
    const stored = await hashPassword("correct horse battery", CHEAP);
    await expect(verifyPassword("correct horse battery", stored)).resolves.toBe(true);
    await expect(verifyPassword("correct horse batterY", stored)).resolves.toBe(false);
    await expect(verifyPassword("", stored)).resolves.toBe(false);
  });

  it("salts every hash, so equal passwords give different hashes", async () => {
    const a = await hashPassword("same password", CHEAP);
    const b = await hashPassword("same password", CHEAP);
    expect(a).not.toBe(b);
    expect(a.split("$")[4]).not.toBe(b.split("$")[4]);
  });

  it("stores its parameters and never the password", async () => {
    const stored = await hashPassword("s3cret-password", CHEAP);
    expect(stored).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    expect(stored).not.toContain("s3cret");
  });

  it("hashes with today's parameters by default and asks to upgrade older hashes", async () => {
    const current = await hashPassword("long enough password");
    expect(current.startsWith(`scrypt$${CURRENT_PARAMS.N}$${CURRENT_PARAMS.r}$${CURRENT_PARAMS.p}$`)).toBe(true);
    expect(needsRehash(current)).toBe(false);
    const old = await hashPassword("long enough password", CHEAP);
    expect(needsRehash(old)).toBe(true);
    // Raising the cost later must not lock anyone out: old hashes still verify.
    await expect(verifyPassword("long enough password", old)).resolves.toBe(true);
  });

  it("treats unreadable or tampered hashes as a mismatch instead of throwing", async () => {
    const good = await hashPassword("password-123", CHEAP);
    const parts = good.split("$");
    const tampered = [
      "",
      "plain-text-password",
      "bcrypt$10$abc",
      ["scrypt", "1000", ...parts.slice(2)].join("$"), // N not a power of two
      ["scrypt", String(2 ** 30), ...parts.slice(2)].join("$"), // would need gigabytes
      ["scrypt", parts[1], "999", ...parts.slice(3)].join("$"),
      [...parts.slice(0, 5), "AAAA"].join("$"), // truncated key
    ];
    for (const stored of tampered) {
      await expect(verifyPassword("password-123", stored)).resolves.toBe(false);
      expect(needsRehash(stored)).toBe(true);
    }
  });

  it("compares Unicode passwords in normalised form (é typed two ways is one password)", async () => {
    const composed = "caf\u00e9-passw0rd";
    const decomposed = "cafe\u0301-passw0rd";
    const stored = await hashPassword(composed, CHEAP);
    await expect(verifyPassword(decomposed, stored)).resolves.toBe(true);
  });

  it("spends a real verification on unknown accounts and always says no", async () => {
    await expect(verifyAgainstDecoy("anything at all")).resolves.toBe(false);
  });

  it("enforces 8 to 200 characters", () => {
    expect(passwordRuleViolation("1234567")).toMatch(/at least 8/);
    expect(passwordRuleViolation("12345678")).toBeUndefined();
    expect(passwordRuleViolation("x".repeat(200))).toBeUndefined();
    expect(passwordRuleViolation("x".repeat(201))).toMatch(/at most 200/);
  });
});
