import crypto from "crypto";
import { plainQuery } from "../../src/platform/query-string";

// The qs that moleculer-web parses with: the fast path must give its answer, or none.
const qs = require(require.resolve("qs", { paths: [require.resolve("moleculer-web")] })) as { parse(q: string): Record<string, unknown> };

describe("the gateway's fast path for plain query strings", () => {
  it("answers the common queries itself, as qs would", () => {
    for (const q of ["statusOnly=1", "q=rock+band&page=2&pageSize=20", "from=2026-12-01T00%3A00%3A00Z&city=M%C3%BCnchen", "flag", "a=&b", "x=%E0%A4%A", "a.b=1", "a=1&&b=2"]) {
      const fast = plainQuery(q);
      expect({ q, fast }).toEqual({ q, fast: qs.parse(q) });
    }
    expect(plainQuery("q=M%C3%BCnchen+Halle")).toEqual({ q: "München Halle" });
    expect(plainQuery("x=%E0%A4%A")).toEqual({ x: "%E0%A4%A" });
  });

  it("leaves to qs what it does not take: nested keys, repeated keys, Object.prototype's names, brackets anywhere", () => {
    for (const q of ["a[b]=1", "a%5Bb%5D=1", "a=1&a=2", "toString=1", "__proto__=1", "constructor=x", "a=x]=y", "a=%5B1%5D", "tags[]=a&tags[]=b"]) {
      expect(plainQuery(q)).toBeUndefined();
    }
    expect(plainQuery(Array.from({ length: 1001 }, (_, i) => `k${i}=1`).join("&"))).toBeUndefined();
  });

  it("agrees with qs on thousands of random queries wherever it answers", () => {
    const pick = <T>(list: readonly T[]): T => list[crypto.randomInt(list.length)];
    const pieces = ["a", "b", "page", "q", "=", "=", "&", "&", "+", "%20", "%", "%zz", "%C3%BC", "%E0", "1", ".", "-", "_", "[", "]", "%5B", "%5d", "toString", "__proto__", "~", "é", "?"];
    const keys = ["a", "b", "page", "q", "x.y", "from-date", "a_b", "A9", "toString", "a[0]", "%61", ""];
    const values = ["", "1", "rock+band", "%20", "%", "%zz", "%C3%BC", "%E0%A4", "=", "a=b", "2026-12-01T00%3A00%3A00Z", "é", "~!*'()"];
    const random = () => Array.from({ length: 1 + crypto.randomInt(12) }, () => pick(pieces)).join("");
    const shaped = () =>
      Array.from({ length: 1 + crypto.randomInt(5) }, () => {
        const key = pick(keys);
        return crypto.randomInt(8) === 0 ? key : `${key}=${Array.from({ length: crypto.randomInt(3) }, () => pick(values)).join("")}`;
      }).join("&");
    let answered = 0;
    for (let i = 0; i < 5000; i++) {
      const q = i % 2 ? random() : shaped();
      const fast = plainQuery(q);
      if (fast === undefined) continue;
      answered++;
      expect({ q, fast }).toEqual({ q, fast: qs.parse(q) });
    }
    // The comparison must have had something to compare.
    expect(answered).toBeGreaterThan(500);
  });
});
