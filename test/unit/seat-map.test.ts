import v8 from "v8";
import vm from "vm";
import { SeatMap, SeatMapError, SeatPlan } from "../../src/domain/seat-map";
import { VenueLayout } from "../../src/domain/layout";

/** The garbage collector, without --expose-gc on the command line: memory is measured after it ran. */
function collectGarbage(): void {
  v8.setFlagsFromString("--expose-gc");
  (vm.runInNewContext("gc") as () => void)();
}

function theatre(rows: number, perRow: number, areas: VenueLayout["areas"] = []): VenueLayout {
  return {
    sections: [
      {
        id: "main",
        name: "Main",
        rows: Array.from({ length: rows }, (_, r) => ({
          id: `R${r}`,
          label: String.fromCharCode(65 + (r % 26)),
          seats: Array.from({ length: perRow }, (_, k) => ({ id: `R${r}-${k}`, label: `${String.fromCharCode(65 + (r % 26))}${k + 1}`, x: k, y: r, category: r === 0 ? "front" : "back" })),
        })),
      },
    ],
    areas,
  };
}
const rules = { maxPerCustomer: 10, holdMs: 60_000 };
const T0 = 1_700_000_000_000;

/** What `fn` threw (the test fails if it returned). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected it to throw");
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof SeatMapError) return err.code;
    throw err;
  }
  return "OK";
}

describe("SeatMap", () => {
  it("holds, confirms and releases explicit seats and encodes one character per seat", () => {
    const map = new SeatMap(new SeatPlan(theatre(2, 5)), rules);
    const hold = map.hold({ holdId: "h1", userId: "ann", seats: ["R0-1", "R0-2"] }, T0);
    expect(hold).toMatchObject({ seats: ["R0-1", "R0-2"], status: "ACTIVE", expiresAt: T0 + 60_000 });
    expect(hold.items[0]).toEqual({ seatId: "R0-1", label: "A2", category: "front" });
    expect(map.encodeStatus()).toBe("ahhaa" + "aaaaa");
    map.block(["R1-4"]);
    map.confirm("h1", "o1", T0 + 1000);
    expect(map.encodeStatus()).toBe("assaa" + "aaaab");
    expect(map.summary()).toEqual({ available: 7, held: 0, sold: 2, blocked: 1 });
    // Idempotent for the same order, refused for another.
    expect(map.confirm("h1", "o1", T0 + 2000).status).toBe("CONFIRMED");
    expect(codeOf(() => map.confirm("h1", "o2", T0))).toBe("HOLD_CONFIRMED");
    expect(map.unsell("o1")).toEqual(["R0-1", "R0-2"]);
    expect(map.unsell("o1")).toEqual([]);
    expect(map.encodeStatus()).toBe("aaaaa" + "aaaab");
  });

  it("refuses without a stack trace (an answer, not a fault), and a broken invariant keeps its stack", () => {
    const map = new SeatMap(new SeatPlan(theatre(1, 2)), rules);
    map.hold({ holdId: "h1", userId: "ann", seats: ["R0-0"] }, T0);
    const limit = Error.stackTraceLimit;
    const refusal = thrown(() => map.hold({ holdId: "h2", userId: "bob", seats: ["R0-0"] }, T0));
    expect(refusal).toBeInstanceOf(SeatMapError);
    expect(refusal.stack).toBe("SeatMapError: " + refusal.message);
    expect(Error.stackTraceLimit).toBe(limit);
    // A hold id used twice is a bug in the caller, not a refusal.
    const fault = thrown(() => map.hold({ holdId: "h1", userId: "bob", seats: ["R0-1"] }, T0));
    expect(fault).not.toBeInstanceOf(SeatMapError);
    expect(fault.message).toMatch(/invariant/);
    expect(fault.stack).toMatch(/\n\s+at /);
  });

  it("refuses bad requests without changing anything", () => {
    const map = new SeatMap(new SeatPlan(theatre(1, 4)), { maxPerCustomer: 3, holdMs: 1000 });
    map.hold({ holdId: "h1", userId: "ann", seats: ["R0-0"] }, T0);
    const before = map.encodeStatus();
    const version = map.version;
    expect(codeOf(() => map.hold({ holdId: "h2", userId: "bob", seats: ["R0-0", "R0-1"] }, T0))).toBe("SEAT_TAKEN");
    expect(codeOf(() => map.hold({ holdId: "h2", userId: "bob", seats: ["R0-1", "R0-1"] }, T0))).toBe("DUPLICATE_SEATS");
    expect(codeOf(() => map.hold({ holdId: "h2", userId: "bob", seats: ["nope"] }, T0))).toBe("UNKNOWN_SEATS");
    expect(codeOf(() => map.hold({ holdId: "h2", userId: "bob", seats: [] }, T0))).toBe("VALIDATION_ERROR");
    expect(codeOf(() => map.hold({ holdId: "h2", userId: "bob", quantity: 0 }, T0))).toBe("VALIDATION_ERROR");
    expect(codeOf(() => map.hold({ holdId: "h2", userId: "ann", quantity: 3 }, T0))).toBe("LIMIT_EXCEEDED");
    expect(codeOf(() => map.hold({ holdId: "h2", userId: "bob", quantity: 2, category: "vip" }, T0))).toBe("UNKNOWN_CATEGORY");
    expect(codeOf(() => map.hold({ holdId: "h2", userId: "bob", quantity: 1, area: "pit" }, T0))).toBe("UNKNOWN_AREA");
    expect(codeOf(() => map.hold({ holdId: "h2", userId: "bob", seats: ["R0-1"], quantity: 1 }, T0))).toBe("VALIDATION_ERROR");
    // A validation error names its fields, as the API's error shape asks.
    const fieldsOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return ((err as SeatMapError).details?.fields as Array<{ field: string }>).map((f) => f.field);
      }
    };
    expect(fieldsOf(() => map.hold({ holdId: "h2", userId: "bob", seats: ["R0-1"], quantity: 1 }, T0))).toEqual(["seats", "quantity"]);
    expect(fieldsOf(() => map.hold({ holdId: "h2", userId: "bob", category: "premium" }, T0))).toEqual(["seats", "quantity"]);
    expect(fieldsOf(() => map.hold({ holdId: "h2", userId: "bob", quantity: 0 }, T0))).toEqual(["quantity"]);
    expect(fieldsOf(() => map.hold({ holdId: "h2", userId: "bob", seats: [] }, T0))).toEqual(["seats"]);
    expect(map.encodeStatus()).toBe(before);
    expect(map.version).toBe(version);
    expect(map.drain().claimInserts).toHaveLength(1);
  });

  it("counts active holds and purchases against the per-customer limit", () => {
    const map = new SeatMap(new SeatPlan(theatre(1, 10)), { maxPerCustomer: 4, holdMs: 1000 });
    map.hold({ holdId: "h1", userId: "ann", quantity: 2 }, T0);
    map.confirm("h1", "o1", T0);
    map.hold({ holdId: "h2", userId: "ann", quantity: 2 }, T0);
    expect(codeOf(() => map.hold({ holdId: "h3", userId: "ann", quantity: 1 }, T0))).toBe("LIMIT_EXCEEDED");
    map.release("h2");
    expect(codeOf(() => map.hold({ holdId: "h3", userId: "ann", quantity: 2 }, T0))).toBe("OK");
    map.expire(T0 + 1000);
    map.unsell("o1");
    expect(map.heldOrBoughtBy("ann")).toBe(0);
  });

  it("expires holds exactly at their time, and extension moves it within a bound", () => {
    const map = new SeatMap(new SeatPlan(theatre(1, 4)), { maxPerCustomer: 4, holdMs: 10_000 });
    map.hold({ holdId: "h1", userId: "ann", seats: ["R0-0"] }, T0);
    map.hold({ holdId: "h2", userId: "bob", seats: ["R0-1"] }, T0 + 5000);
    expect(map.nextExpiry()).toBe(T0 + 10_000);
    expect(map.extend("h1", T0 + 9000, 60).expiresAt).toBe(T0 + 20_000); // never beyond twice the hold time
    expect(map.nextExpiry()).toBe(T0 + 15_000);
    expect(map.expire(T0 + 14_999)).toEqual([]);
    expect(map.expire(T0 + 15_000).map((h) => h.holdId)).toEqual(["h2"]);
    expect(codeOf(() => map.confirm("h1", "o1", T0 + 20_000))).toBe("HOLD_EXPIRED");
    expect(map.encodeStatus()).toBe("aaaa");
    expect(map.nextExpiry()).toBeUndefined();
  });

  it("sells general admission by quantity per area", () => {
    const map = new SeatMap(new SeatPlan(theatre(1, 2, [{ id: "pit", name: "Pit", capacity: 5, category: "standing" }])), rules);
    const hold = map.hold({ holdId: "h1", userId: "ann", quantity: 3, area: "pit" }, T0);
    expect(hold.seats).toEqual(["pit", "pit", "pit"]);
    expect(hold.items[0]).toEqual({ seatId: "pit", label: "Pit", category: "standing", areaId: "pit" });
    expect(codeOf(() => map.hold({ holdId: "h2", userId: "bob", quantity: 3, area: "pit" }, T0))).toBe("NOT_ENOUGH_SEATS");
    expect(map.areaAvailability()).toEqual([{ id: "pit", capacity: 5, available: 2 }]);
    expect(map.encodeStatus()).toBe("aa");
    const gaOnly = new SeatMap(new SeatPlan({ sections: [], areas: [{ id: "pit", name: "Pit", capacity: 5, category: "standing" }] }), rules);
    expect(codeOf(() => gaOnly.hold({ holdId: "h3", userId: "bob", quantity: 2 }, T0))).toBe("AREA_REQUIRED");
    const batch = map.drain();
    expect(batch.claimInserts.map((c) => c.seatId)).toEqual(["pit#0", "pit#1", "pit#2"]);
    expect(batch.changes).toEqual([]);
    expect(batch.stockChanged).toBe(true);
  });

  it("answers a hold asked again with its key with the same hold, and never holds twice", () => {
    const map = new SeatMap(new SeatPlan(theatre(2, 5, [{ id: "pit", name: "Pit", capacity: 5, category: "standing" }])), rules);
    const first = map.holdOnce({ holdId: "k1", userId: "ann", quantity: 2, category: "back" }, T0);
    map.drain();
    // Asked again: the same seats, and nothing to commit.
    expect(map.holdOnce({ holdId: "k1", userId: "ann", quantity: 2, category: "back" }, T0 + 1000)).toEqual(first);
    expect(map.pending).toBe(false);
    expect(map.encodeStatus().split("h")).toHaveLength(3);
    // The same id with another request, or from another buyer, is refused; nothing changes.
    expect(codeOf(() => map.holdOnce({ holdId: "k1", userId: "ann", quantity: 3, category: "back" }, T0))).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(codeOf(() => map.holdOnce({ holdId: "k1", userId: "ann", quantity: 2, category: "front" }, T0))).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(codeOf(() => map.holdOnce({ holdId: "k1", userId: "bob", quantity: 2, category: "back" }, T0))).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(map.pending).toBe(false);

    const seats = map.holdOnce({ holdId: "k2", userId: "ann", seats: ["R0-0", "R0-1"] }, T0);
    expect(map.holdOnce({ holdId: "k2", userId: "ann", seats: ["R0-1", "R0-0"] }, T0)).toEqual(seats);
    expect(codeOf(() => map.holdOnce({ holdId: "k2", userId: "ann", seats: ["R0-0"] }, T0))).toBe("IDEMPOTENCY_KEY_REUSED");
    const ga = map.holdOnce({ holdId: "k3", userId: "ann", quantity: 2, area: "pit" }, T0);
    expect(map.holdOnce({ holdId: "k3", userId: "ann", quantity: 2, area: "pit" }, T0)).toEqual(ga);
    expect(map.areaAvailability()).toEqual([{ id: "pit", capacity: 5, available: 3 }]);

    // Seen by the caller, then ended (expired) before its turn: not made again.
    const short = new SeatMap(new SeatPlan(theatre(1, 4)), rules);
    short.holdOnce({ holdId: "k9", userId: "ann", quantity: 1 }, T0);
    expect(codeOf(() => short.holdOnce({ holdId: "k9", userId: "ann", quantity: 1 }, T0 + rules.holdMs + 1, false))).toBe("OK");
    short.expire(T0 + rules.holdMs + 1);
    expect(codeOf(() => short.holdOnce({ holdId: "k9", userId: "ann", quantity: 1 }, T0 + rules.holdMs + 1, false))).toBe("HOLD_EXPIRED");
    expect(short.activeHolds).toBe(0);

    // Bought: asking again does not hold the seats again.
    map.confirm("k2", "o1", T0);
    expect(codeOf(() => map.holdOnce({ holdId: "k2", userId: "ann", seats: ["R0-0", "R0-1"] }, T0))).toBe("HOLD_CONFIRMED");
    expect(map.encodeStatus().slice(0, 2)).toBe("ss");
  });

  it("commits the net effect of a batch: a hold taken and released in one batch leaves no claim", () => {
    const map = new SeatMap(new SeatPlan(theatre(1, 4)), rules);
    map.hold({ holdId: "h1", userId: "ann", seats: ["R0-0"] }, T0);
    map.release("h1");
    map.hold({ holdId: "h2", userId: "bob", seats: ["R0-0"] }, T0);
    const batch = map.drain();
    expect(batch.claimDeletes).toEqual([]);
    expect(batch.claimInserts).toEqual([{ seatId: "R0-0", kind: "hold", holdId: "h2", orderId: null, userId: "bob" }]);
    expect(batch.holds.map((h) => [h.holdId, h.status])).toEqual([["h1", "RELEASED"], ["h2", "ACTIVE"]]);
    map.confirm("h2", "o2", T0);
    const next = map.drain();
    expect(next.claimDeletes).toEqual([{ seatId: "R0-0", kind: "hold", holdId: "h2", orderId: null, userId: "bob" }]);
    expect(next.claimInserts).toEqual([{ seatId: "R0-0", kind: "sold", holdId: "h2", orderId: "o2", userId: "bob" }]);
    expect(next.changes).toEqual([{ seatId: "R0-0", status: "s" }]);
  });

  it("keeps a 100,000-seat session within a few megabytes", () => {
    collectGarbage();
    const before = process.memoryUsage();
    const plan = new SeatPlan(theatre(400, 250));
    const map = new SeatMap(plan, rules);
    for (let i = 0; i < 1000; i++) map.hold({ holdId: `h${i}`, userId: `u${i}`, quantity: 4 }, T0);
    // What the session keeps (its garbage collected; typed arrays live outside the heap).
    collectGarbage();
    const after = process.memoryUsage();
    const used = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
    expect(plan.total).toBe(100_000);
    expect(map.encodeStatus()).toHaveLength(100_000);
    // Seat ids and labels are strings the layout already has; the state itself is typed arrays.
    expect(used).toBeLessThan(30 * 1024 * 1024);
    // The map is still in use here, so the second collection could not take it.
    expect(map.encodeStatus()).toContain("h");
  });
});

describe("best available", () => {
  const plan = new SeatPlan(theatre(3, 8));
  it("takes central seats in the best row", () => {
    const map = new SeatMap(plan, rules);
    expect(map.hold({ holdId: "h1", userId: "a", quantity: 2 }, T0).seats).toEqual(["R0-3", "R0-4"]);
  });

  it("never strands a single seat when another placement exists", () => {
    const map = new SeatMap(plan, rules);
    // Row 0: seats 0..2 free, 3 taken, 4..7 free. Two seats: 0-1 would strand 2, 1-2 strands 0; 4..7 has clean options.
    map.hold({ holdId: "x", userId: "x", seats: ["R0-3"] }, T0);
    const seats = map.hold({ holdId: "h1", userId: "a", quantity: 2, adjacent: true }, T0).seats;
    expect(seats).not.toContain("R0-1");
    expect(["R0-4,R0-5", "R0-6,R0-7"]).toContain(seats.join(","));
    // Row 0 now has 0..2 free and two of 4..7: three seats fit exactly in 0..2.
    expect(map.hold({ holdId: "h2", userId: "b", quantity: 3, adjacent: true }, T0).seats).toEqual(["R0-0", "R0-1", "R0-2"]);
  });

  it("respects the category and falls back to scattered seats only when adjacency is optional", () => {
    const map = new SeatMap(new SeatPlan(theatre(2, 3)), rules);
    map.hold({ holdId: "x", userId: "x", seats: ["R0-1", "R1-1"] }, T0);
    expect(codeOf(() => map.hold({ holdId: "h1", userId: "a", quantity: 2, adjacent: true, category: "front" }, T0))).toBe("NOT_ENOUGH_SEATS");
    expect(map.hold({ holdId: "h2", userId: "a", quantity: 2, category: "front" }, T0).seats).toEqual(["R0-0", "R0-2"]);
  });
});
