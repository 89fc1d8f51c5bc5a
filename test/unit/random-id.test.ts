import { randomId } from "../../src/platform/random-id";

describe("randomId", () => {
  it("gives 22-character base64url ids that never repeat, across many pool refills", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const id = randomId();
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(20_000);
  });

  it("uses every bit: each of the 128 bit positions is set in about half of the ids", () => {
    const ones = new Array(128).fill(0);
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const bytes = Buffer.from(randomId(), "base64url");
      expect(bytes.length).toBe(16);
      for (let b = 0; b < 128; b++) if (bytes[b >> 3] & (1 << (b & 7))) ones[b]++;
    }
    // 4000 fair coin flips: 2000 ± 250 is more than 7 standard deviations.
    for (const count of ones) expect(Math.abs(count - n / 2)).toBeLessThan(250);
  });
});
