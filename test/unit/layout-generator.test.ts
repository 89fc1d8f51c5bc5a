import { layoutSeats } from "../../src/domain/layout";
import { generateLayout, layoutSpecProblems, rowLabel } from "../../src/domain/layout-generator";
import { validateLayout } from "../../src/domain/layout-validation";

describe("layout generator", () => {
  it("letters rows like spreadsheet columns", () => {
    expect([0, 1, 25, 26, 27, 51, 52, 701, 702].map(rowLabel)).toEqual(["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]);
    expect(() => rowLabel(-1)).toThrow(RangeError);
  });

  it("builds sections x rows x seats with ids, labels, categories and coordinates", () => {
    const layout = generateLayout({
      sections: [
        { name: "Stalls", rows: 3, seatsPerRow: 12, category: "A" },
        { name: "Circle", rows: 2, seatsPerRow: 8, category: "B" },
      ],
      areas: [{ name: "Standing", capacity: 50, category: "GA" }],
    });
    expect(layout.sections.map((s) => s.id)).toEqual(["S1", "S2"]);
    expect(layout.sections[0].rows.map((r) => r.label)).toEqual(["A", "B", "C"]);
    const seat = layout.sections[0].rows[0].seats[11];
    expect(seat).toEqual({ id: "S1-A-12", label: "Stalls A-12", x: 11, y: 0, category: "A" });
    // Circle is narrower: centred under the widest section, behind the stalls and an aisle.
    expect(layout.sections[1].rows[0].seats[0]).toEqual({ id: "S2-A-1", label: "Circle A-1", x: 2, y: 5, category: "B" });
    expect(layout.areas).toEqual([{ id: "A1", name: "Standing", capacity: 50, category: "GA" }]);
    expect(layoutSeats(layout)).toHaveLength(3 * 12 + 2 * 8);
  });

  it("produces layouts the validator accepts, up to the 150,000-seat limit", () => {
    const layout = generateLayout({ sections: [{ name: "Bowl", rows: 150, seatsPerRow: 1000, category: "std" }] });
    const check = validateLayout(layout);
    expect(check.ok && check.seatCount).toBe(150_000);
    const ids = new Set(layoutSeats(layout).map((s) => s.id));
    expect(ids.size).toBe(150_000);
  });

  it("rejects specs that are too big or malformed before generating anything", () => {
    expect(layoutSpecProblems({ sections: [{ name: "Huge", rows: 500, seatsPerRow: 1000, category: "x" }] })).toEqual([
      { field: "layout.generate.sections", message: "500000 seats, at most 150000 allowed" },
    ]);
    const bad = layoutSpecProblems({
      sections: [{ name: "", rows: 0, seatsPerRow: 1.5, category: "no/slash", id: "bad id" }],
      areas: [{ name: "GA", capacity: -1, category: "ga" }],
    });
    expect(bad.map((p) => p.field)).toEqual([
      "layout.generate.sections[0].name",
      "layout.generate.sections[0].rows",
      "layout.generate.sections[0].seatsPerRow",
      "layout.generate.sections[0].category",
      "layout.generate.sections[0].id",
      "layout.generate.areas[0].capacity",
    ]);
    expect(layoutSpecProblems({})).toEqual([{ field: "layout.generate", message: "needs at least one section or area" }]);
    expect(() => generateLayout({ sections: [{ name: "X", rows: 1e9, seatsPerRow: 1e9, category: "x" }] })).toThrow(RangeError);
  });
});

describe("layout generator input from a request", () => {
  it("names non-objects and unknown fields instead of throwing", () => {
    expect(layoutSpecProblems(null as never)).toEqual([{ field: "layout.generate", message: "must be an object" }]);
    expect(layoutSpecProblems({ sections: [null, 5] } as never).map((p) => p.field)).toEqual([
      "layout.generate.sections[0]",
      "layout.generate.sections[1]",
    ]);
    const extra = layoutSpecProblems({ sections: [{ name: "S", rows: 1, seatsPerRow: 1, category: "a", price: 5 }], x: 1 } as never);
    expect(extra.map((p) => p.message)).toEqual(["has unknown field(s): x", "has unknown field(s): price"]);
  });
});
