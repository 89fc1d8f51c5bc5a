import { backoffDelay } from "../../src/domain/backoff";

describe("backoffDelay", () => {
  const policy = { baseMs: 100, maxMs: 1000 };
  it("doubles from the base and stops at the cap", () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, policy, () => 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
  it("adds at most 20 % jitter", () => {
    expect(backoffDelay(2, policy, () => 0.999)).toBeLessThanOrEqual(240);
    expect(backoffDelay(2, policy, () => 0.5)).toBe(220);
  });
  it("treats nonsense attempts as the first and does not overflow", () => {
    expect(backoffDelay(0, policy, () => 0)).toBe(100);
    expect(backoffDelay(10_000, policy, () => 0)).toBe(1000);
  });
});
