import { generateLayout } from "../../src/domain/layout-generator";
import { layoutCategories, validateLayout } from "../../src/domain/layout-validation";

const seat = (id: string, category = "A") => ({ id, label: id, x: 0, y: 0, category });
const oneRow = (seats: unknown[]) => ({ sections: [{ id: "S1", name: "Stalls", rows: [{ id: "R1", label: "A", seats }] }] });

describe("layout validation", () => {
  it("accepts a mixed layout and reports seat count, capacity and categories", () => {
    const check = validateLayout({
      sections: [{ id: "S1", name: "Stalls", rows: [{ id: "R1", label: "A", seats: [seat("a1", "B"), seat("a2", "A")] }] }],
      areas: [{ id: "floor", name: "Floor", capacity: 100, category: "GA" }],
    });
    expect(check).toEqual({
      ok: true,
      layout: expect.objectContaining({ areas: [{ id: "floor", name: "Floor", capacity: 100, category: "GA" }] }),
      seatCount: 2,
      capacity: 102,
      categories: ["A", "B", "GA"],
    });
  });

  it("accepts general admission only", () => {
    const check = validateLayout({ areas: [{ id: "floor", name: "Floor", capacity: 500, category: "GA" }] });
    expect(check.ok && check.capacity).toBe(500);
  });

  it("rejects duplicate seat ids, also across seats and GA areas", () => {
    const dup = validateLayout(oneRow([seat("x"), seat("x")]));
    expect(dup).toEqual({ ok: false, problems: [expect.objectContaining({ field: "layout.sections[0].rows[0].seats[1].id" })] });
    const cross = validateLayout({ ...oneRow([seat("floor")]), areas: [{ id: "floor", name: "F", capacity: 1, category: "A" }] });
    expect(cross.ok).toBe(false);
  });

  it("rejects empty venues, empty rows and missing or empty categories", () => {
    expect(validateLayout({ sections: [], areas: [] }).ok).toBe(false);
    expect(validateLayout(oneRow([])).ok).toBe(false);
    expect(validateLayout(oneRow([{ id: "a", label: "a", x: 0, y: 0 }])).ok).toBe(false);
    expect(validateLayout(oneRow([seat("a", "")])).ok).toBe(false);
    expect(validateLayout(oneRow([seat("a", "   ")])).ok).toBe(false);
  });

  it("rejects wrong types, unknown fields and unsafe ids with the failing field named", () => {
    const cases: Array<[unknown, string]> = [
      [null, "layout"],
      ["seats", "layout"],
      [{ sections: "x" }, "layout.sections"],
      [{ sections: [], extra: 1 }, "layout"],
      [oneRow([{ ...seat("a"), price: 5 }]), "layout.sections[0].rows[0].seats[0]"],
      [oneRow([{ ...seat("a"), x: "1" }]), "layout.sections[0].rows[0].seats[0].x"],
      [oneRow([{ ...seat("a"), y: Infinity }]), "layout.sections[0].rows[0].seats[0].y"],
      [oneRow([seat("a'; DROP TABLE venues;--")]), "layout.sections[0].rows[0].seats[0].id"],
      [oneRow([seat("x".repeat(41))]), "layout.sections[0].rows[0].seats[0].id"],
      [{ areas: [{ id: "g", name: "G", capacity: 0, category: "GA" }] }, "layout.areas[0].capacity"],
      [{ areas: [{ id: "g", name: "G", capacity: 2.5, category: "GA" }] }, "layout.areas[0].capacity"],
    ];
    for (const [input, field] of cases) {
      const check = validateLayout(input);
      expect(check.ok).toBe(false);
      if (!check.ok) expect(check.problems.map((p) => p.field)).toContain(field);
    }
  });

  it("bounds the size: more than 150,000 seats is refused, and a systematic mistake yields few messages", () => {
    const big = generateLayout({ sections: [{ name: "Bowl", rows: 150, seatsPerRow: 1000, category: "std" }] });
    big.sections.push({ id: "S2", name: "Extra", rows: [{ id: "R1", label: "A", seats: [seat("extra")] }] });
    const check = validateLayout(big);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.problems.some((p) => /more than 150000 seats/.test(p.message))).toBe(true);

    const allBad = generateLayout({ sections: [{ name: "Bowl", rows: 10, seatsPerRow: 100, category: "std" }] });
    for (const row of allBad.sections[0].rows) for (const s of row.seats) (s as { x: unknown }).x = "nope";
    const many = validateLayout(allBad);
    expect(!many.ok && many.problems.length).toBe(20);
  });

  it("copies only known fields and lists categories", () => {
    const layout = generateLayout({ sections: [{ name: "S", rows: 1, seatsPerRow: 2, category: "B" }], areas: [{ name: "G", capacity: 3, category: "A" }] });
    const check = validateLayout(layout);
    expect(check.ok && check.layout).toEqual(layout);
    expect(layoutCategories(layout)).toEqual(["A", "B"]);
  });
});
