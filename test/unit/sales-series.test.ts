import { bucketFor, fillSeries, MAX_POINTS } from "../../src/domain/sales-series";

describe("sales series", () => {
  const H = 3_600_000;
  it("picks minutes for hours, hours for days, days beyond", () => {
    expect(bucketFor(0, 2 * H)).toBe("minute");
    expect(bucketFor(0, 5 * 24 * H)).toBe("hour");
    expect(bucketFor(0, 60 * 24 * H)).toBe("day");
  });

  it("fills the gaps with zeros and keeps the sums", () => {
    const from = Date.UTC(2026, 10, 22, 10, 0);
    const rows = [
      { bucketMs: from + 60_000, sold: 2, revenueCents: 5000 },
      { bucketMs: from + 4 * 60_000, sold: 1, revenueCents: 2500 },
    ];
    const s = fillSeries(rows, from, from + 5 * 60_000, "minute");
    expect(s.map((p) => p.sold)).toEqual([0, 2, 0, 0, 1, 0]);
    expect(s[1].t).toBe(new Date(from + 60_000).toISOString());
    expect(s.reduce((n, p) => n + p.revenueCents, 0)).toBe(7500);
  });

  it("never answers more than MAX_POINTS points, keeping the newest", () => {
    const to = Date.UTC(2026, 10, 22);
    const s = fillSeries([{ bucketMs: to, sold: 7, revenueCents: 1 }], 0, to, "day");
    expect(s).toHaveLength(MAX_POINTS);
    expect(s[s.length - 1]).toMatchObject({ t: new Date(to).toISOString(), sold: 7 });
  });
});
