import { idempotencyKey, idForKey } from "../../src/platform/idempotency";
import { ApiError } from "../../src/platform/errors";

const ctx = (key?: string) => ({ meta: { headers: key === undefined ? {} : { "idempotency-key": key } } });

describe("Idempotency-Key", () => {
  it("reads the header trimmed, and refuses a missing one only where it is required", () => {
    expect(idempotencyKey(ctx(" k-1 "), false)).toBe("k-1");
    expect(idempotencyKey(ctx(), false)).toBeUndefined();
    expect(idempotencyKey(ctx("   "), false)).toBeUndefined();
    const missing = (() => {
      try {
        idempotencyKey(ctx(), "order");
      } catch (err) {
        return err as ApiError;
      }
    })();
    expect(missing).toMatchObject({ code: 400, type: "VALIDATION_ERROR", message: "Send an Idempotency-Key header with every order." });
    expect(() => idempotencyKey(ctx("k".repeat(201)), false)).toThrow("too long");
  });

  it("derives the same unguessable id for the same key, and another for anything else", () => {
    const id = idForKey("secret", "hold", "ann", "s1", "k");
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(idForKey("secret", "hold", "ann", "s1", "k")).toBe(id);
    const others = [
      idForKey("other secret", "hold", "ann", "s1", "k"),
      idForKey("secret", "hold", "bob", "s1", "k"),
      idForKey("secret", "hold", "ann", "s2", "k"),
      idForKey("secret", "hold", "ann", "s1", "k2"),
      // The parts' boundaries count: "ann"+"s1" is not "ans"+"n1".
      idForKey("secret", "hold", "ans", "n1", "k"),
    ];
    expect(new Set([id, ...others]).size).toBe(6);
  });
});
