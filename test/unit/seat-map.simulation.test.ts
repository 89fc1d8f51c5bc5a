/**
 * The seat map under a simulator (TigerBeetle style): thousands of random interleaved holds,
 * releases, extensions, confirmations, unsells, blocks, clock jumps, commits and crashes, checked
 * after every step against a deliberately simple reference model and against a fake store that
 * enforces the same guards as the database (a claim is deleted only if it is exactly what the
 * map says it was; a seat never gets a second claim). A crash drops everything not committed and
 * rebuilds the map from the store, as activation does from PostgreSQL.
 */
import { Claim, CommitBatch, HoldRow, HoldView, SeatMap, SeatMapError, SeatPlan, STATUS_CHARS } from "../../src/domain/seat-map";
import { VenueLayout } from "../../src/domain/layout";

function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)] };
}

const ROWS = 4;
const PER_ROW = 8;
const GA = 10;
const layout: VenueLayout = {
  sections: [
    {
      id: "S",
      name: "Stalls",
      rows: Array.from({ length: ROWS }, (_, r) => ({
        id: `r${r}`,
        label: String(r + 1),
        seats: Array.from({ length: PER_ROW }, (_, k) => ({ id: `r${r}s${k}`, label: `${r + 1}-${k + 1}`, x: k, y: r, category: r < 2 ? "A" : "B" })),
      })),
    },
  ],
  areas: [{ id: "floor", name: "Floor", capacity: GA, category: "GA" }],
};
const rules = { maxPerCustomer: 6, holdMs: 10_000 };
const seatIds = layout.sections[0].rows.flatMap((r) => r.seats.map((s) => s.id));
const users = ["u1", "u2", "u3", "u4", "u5"];

// ---- the reference model: plain objects, obviously right ----
interface ModelHold {
  id: string;
  user: string;
  seats: string[]; // numbered seat ids
  ga: number; // GA places
  createdAt: number;
  expiresAt: number;
  status: "ACTIVE" | "CONFIRMED" | "RELEASED" | "EXPIRED";
  orderId: string | null;
  sold: boolean;
}
interface Model {
  seat: Record<string, { s: "a" | "h" | "s" | "b"; hold?: string }>;
  gaFree: number;
  holds: Record<string, ModelHold>;
}
const clone = (m: Model): Model => JSON.parse(JSON.stringify(m));
const userCount = (m: Model, user: string) =>
  Object.values(m.holds)
    .filter((h) => h.user === user && (h.status === "ACTIVE" || h.sold))
    .reduce((n, h) => n + h.seats.length + h.ga, 0);
function endHold(m: Model, h: ModelHold, status: "RELEASED" | "EXPIRED") {
  for (const s of h.seats) m.seat[s] = { s: "a" };
  m.gaFree += h.ga;
  h.status = status;
}

// ---- the fake store, with the database's guards ----
class Store {
  claims = new Map<string, Claim>();
  holds = new Map<string, HoldRow>();
  version = 0;
  apply(batch: CommitBatch) {
    for (const d of batch.claimDeletes) {
      expect(this.claims.get(d.seatId)).toEqual(d);
      this.claims.delete(d.seatId);
    }
    for (const c of batch.claimInserts) {
      if (this.claims.has(c.seatId)) throw new Error(`seat ${c.seatId} claimed twice`);
      this.claims.set(c.seatId, c);
    }
    for (const h of batch.holds) this.holds.set(h.holdId, h);
    this.version = batch.version;
  }
  snapshot() {
    return {
      version: this.version,
      claims: [...this.claims.values()],
      holds: [...this.holds.values()].filter((h) => h.status === "ACTIVE" || h.status === "CONFIRMED"),
    };
  }
}

function runSimulation(seed: number, steps: number) {
  const r = rng(seed);
  const plan = new SeatPlan(layout);
  let map = new SeatMap(plan, rules);
  const store = new Store();
  let model: Model = { seat: Object.fromEntries(seatIds.map((id) => [id, { s: "a" as const }])), gaFree: GA, holds: {} };
  let committed = clone(model);
  let now = 1_000_000;
  let nextId = 0;
  const orders: string[] = [];
  const acknowledged = new Set<string>();
  let pendingAcks: string[] = [];
  const stats = { holds: 0, refused: 0, confirms: 0, crashes: 0, expired: 0 };

  const expectError = (fn: () => unknown, code: string) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(SeatMapError);
      expect((err as SeatMapError).code).toBe(code);
      return;
    }
    throw new Error(`expected ${code}`);
  };
  const recordHold = (view: HoldView, user: string) => {
    const seats = view.seats.filter((s) => s !== "floor");
    for (const s of seats) {
      expect(model.seat[s].s).toBe("a");
      model.seat[s] = { s: "h", hold: view.holdId };
    }
    const ga = view.seats.length - seats.length;
    expect(model.gaFree).toBeGreaterThanOrEqual(ga);
    model.gaFree -= ga;
    model.holds[view.holdId] = { id: view.holdId, user, seats, ga, createdAt: now, expiresAt: now + rules.holdMs, status: "ACTIVE", orderId: null, sold: false };
    expect(view.expiresAt).toBe(now + rules.holdMs);
    pendingAcks.push(view.holdId);
    stats.holds++;
  };
  const anyHoldId = () => {
    const ids = Object.keys(model.holds);
    return ids.length && r.next() < 0.95 ? r.pick(ids) : `nope${r.int(5)}`;
  };

  for (let step = 0; step < steps; step++) {
    const op = r.int(100);
    const user = r.pick(users);
    if (op < 20) {
      // explicit seats, sometimes with a typo or a duplicate
      const n = 1 + r.int(3);
      const wanted = Array.from({ length: n }, () => r.pick(seatIds));
      if (r.next() < 0.05) wanted.push("nosuchseat");
      const holdId = `h${nextId++}`;
      const unknown = wanted.filter((s) => !(s in model.seat));
      const dup = wanted.length !== new Set(wanted).size;
      const taken = wanted.filter((s) => model.seat[s] && model.seat[s].s !== "a");
      if (unknown.length) expectError(() => map.hold({ holdId, userId: user, seats: wanted }, now), "UNKNOWN_SEATS");
      else if (dup) expectError(() => map.hold({ holdId, userId: user, seats: wanted }, now), "DUPLICATE_SEATS");
      else if (taken.length) expectError(() => map.hold({ holdId, userId: user, seats: wanted }, now), "SEAT_TAKEN");
      else if (userCount(model, user) + wanted.length > rules.maxPerCustomer) expectError(() => map.hold({ holdId, userId: user, seats: wanted }, now), "LIMIT_EXCEEDED");
      else {
        const view = map.hold({ holdId, userId: user, seats: wanted }, now);
        expect(view.seats).toEqual(wanted);
        recordHold(view, user);
        continue;
      }
      stats.refused++;
    } else if (op < 35) {
      // best available
      const quantity = 1 + r.int(4);
      const category = r.next() < 0.7 ? r.pick(["A", "B"]) : undefined;
      const adjacent = r.next() < 0.5;
      const holdId = `h${nextId++}`;
      const fits = (s: string) => model.seat[s].s === "a" && (!category || (s < "r2" ? "A" : "B") === category);
      const rowsWithRun = layout.sections[0].rows.filter((row) => {
        let run = 0;
        for (const seat of row.seats) {
          run = fits(seat.id) ? run + 1 : 0;
          if (run >= quantity) return true;
        }
        return false;
      });
      const free = seatIds.filter(fits).length;
      if (userCount(model, user) + quantity > rules.maxPerCustomer) {
        expectError(() => map.hold({ holdId, userId: user, quantity, category, adjacent }, now), "LIMIT_EXCEEDED");
      } else if (rowsWithRun.length === 0 && (adjacent || free < quantity)) {
        expectError(() => map.hold({ holdId, userId: user, quantity, category, adjacent }, now), "NOT_ENOUGH_SEATS");
      } else {
        const view = map.hold({ holdId, userId: user, quantity, category, adjacent }, now);
        expect(view.seats).toHaveLength(quantity);
        for (const s of view.seats) expect(fits(s)).toBe(true);
        if (rowsWithRun.length) {
          // side by side, in one row
          const positions = view.seats.map((s) => seatIds.indexOf(s));
          expect(new Set(view.seats.map((s) => s.split("s")[0])).size).toBe(1);
          for (let k = 1; k < positions.length; k++) expect(positions[k]).toBe(positions[k - 1] + 1);
        }
        recordHold(view, user);
        continue;
      }
      stats.refused++;
    } else if (op < 43) {
      // GA
      const quantity = 1 + r.int(4);
      const holdId = `h${nextId++}`;
      if (userCount(model, user) + quantity > rules.maxPerCustomer) expectError(() => map.hold({ holdId, userId: user, quantity, area: "floor" }, now), "LIMIT_EXCEEDED");
      else if (model.gaFree < quantity) expectError(() => map.hold({ holdId, userId: user, quantity, area: "floor" }, now), "NOT_ENOUGH_SEATS");
      else {
        recordHold(map.hold({ holdId, userId: user, quantity, area: "floor" }, now), user);
        continue;
      }
      stats.refused++;
    } else if (op < 53) {
      const id = anyHoldId();
      const h = model.holds[id];
      const released = map.release(id);
      expect(released).toBe(h?.status === "ACTIVE");
      if (released) endHold(model, h, "RELEASED");
    } else if (op < 58) {
      const id = anyHoldId();
      const h = model.holds[id];
      const seconds = 1 + r.int(15);
      if (!h || h.status === "RELEASED" || h.status === "EXPIRED") expectError(() => map.extend(id, now, seconds), "HOLD_NOT_FOUND");
      else if (h.status === "CONFIRMED") expectError(() => map.extend(id, now, seconds), "HOLD_CONFIRMED");
      else if (h.expiresAt <= now) {
        expectError(() => map.extend(id, now, seconds), "HOLD_EXPIRED");
        endHold(model, h, "EXPIRED");
      } else {
        const want = Math.min(now + seconds * 1000, h.createdAt + 2 * rules.holdMs);
        if (want > h.expiresAt) h.expiresAt = want;
        expect(map.extend(id, now, seconds).expiresAt).toBe(h.expiresAt);
      }
    } else if (op < 70) {
      const id = anyHoldId();
      const h = model.holds[id];
      const orderId = r.next() < 0.1 && orders.length ? r.pick(orders) : `o${nextId++}`;
      const orderTaken = Object.values(model.holds).some((x) => x.orderId === orderId && x.id !== id);
      if (!h || h.status === "RELEASED" || h.status === "EXPIRED") expectError(() => map.confirm(id, orderId, now), "HOLD_NOT_FOUND");
      else if (h.status === "CONFIRMED") {
        if (h.orderId === orderId) expect(map.confirm(id, orderId, now).status).toBe("CONFIRMED");
        else expectError(() => map.confirm(id, orderId, now), "HOLD_CONFIRMED");
      } else if (h.expiresAt <= now) {
        expectError(() => map.confirm(id, orderId, now), "HOLD_EXPIRED");
        endHold(model, h, "EXPIRED");
      } else if (orderTaken) expectError(() => map.confirm(id, orderId, now), "ORDER_CONFIRMED");
      else {
        expect(map.confirm(id, orderId, now)).toMatchObject({ status: "CONFIRMED", orderId });
        for (const s of h.seats) model.seat[s] = { s: "s", hold: id };
        h.status = "CONFIRMED";
        h.orderId = orderId;
        h.sold = true;
        orders.push(orderId);
        stats.confirms++;
      }
    } else if (op < 74) {
      if (!orders.length) continue;
      const orderId = r.pick(orders);
      const h = Object.values(model.holds).find((x) => x.orderId === orderId);
      const seats = map.unsell(orderId);
      if (h && h.sold) {
        expect(seats.length).toBe(h.seats.length + h.ga);
        for (const s of h.seats) model.seat[s] = { s: "a" };
        model.gaFree += h.ga;
        h.sold = false;
      } else expect(seats).toEqual([]);
    } else if (op < 78) {
      const wanted = [...new Set(Array.from({ length: 1 + r.int(3) }, () => r.pick(seatIds)))];
      if (r.next() < 0.5) {
        const taken = wanted.filter((s) => model.seat[s].s === "h" || model.seat[s].s === "s");
        if (taken.length) expectError(() => map.block(wanted), "SEAT_TAKEN");
        else {
          map.block(wanted);
          for (const s of wanted) model.seat[s] = { s: "b" };
        }
      } else {
        map.unblock(wanted);
        for (const s of wanted) if (model.seat[s].s === "b") model.seat[s] = { s: "a" };
      }
    } else if (op < 88) {
      now += r.int(4000);
      const ended = map.expire(now);
      const due = Object.values(model.holds).filter((h) => h.status === "ACTIVE" && h.expiresAt <= now);
      expect(ended.map((h) => h.holdId).sort()).toEqual(due.map((h) => h.id).sort());
      for (const h of due) endHold(model, h, "EXPIRED");
      stats.expired += due.length;
    } else if (op < 97) {
      store.apply(map.drain());
      committed = clone(model);
      for (const id of pendingAcks) acknowledged.add(id);
      pendingAcks = [];
    } else {
      // crash: whatever was not committed never happened, and was never acknowledged
      map = SeatMap.restore(plan, rules, store.snapshot());
      model = clone(committed);
      pendingAcks = [];
      stats.crashes++;
    }

    map.checkInvariants();
    const status = seatIds.map((s) => model.seat[s].s).join("");
    expect(map.encodeStatus()).toBe(status);
    expect(map.areaAvailability()[0].available).toBe(model.gaFree);
    expect(map.summary().available).toBe(status.split("a").length - 1 + model.gaFree);
  }

  // Let every hold run out: each one ends, committed, and nothing stays held.
  now += 10 * rules.holdMs;
  map.expire(now);
  for (const h of Object.values(model.holds)) if (h.status === "ACTIVE") endHold(model, h, "EXPIRED");
  store.apply(map.drain());
  for (const id of acknowledged) expect(["CONFIRMED", "RELEASED", "EXPIRED"]).toContain(store.holds.get(id)!.status);
  for (const row of store.holds.values()) expect(row.status).not.toBe("ACTIVE");
  expect([...store.claims.values()].every((c) => c.kind !== "hold")).toBe(true);
  const restored = SeatMap.restore(plan, rules, store.snapshot());
  expect(restored.encodeStatus()).toBe(map.encodeStatus());
  expect(map.encodeStatus()).not.toContain("h");
  expect([...map.encodeStatus()].every((c) => STATUS_CHARS.includes(c))).toBe(true);
  return stats;
}

describe("seat map simulation", () => {
  it("keeps every invariant over thousands of random commands with crashes", () => {
    const total = { holds: 0, refused: 0, confirms: 0, crashes: 0, expired: 0 };
    for (let seed = 1; seed <= 24; seed++) {
      const stats = runSimulation(seed, 600);
      for (const k of Object.keys(total) as Array<keyof typeof total>) total[k] += stats[k];
    }
    // The simulation must actually exercise the interesting paths, or it proves nothing.
    expect(total.holds).toBeGreaterThan(1000);
    expect(total.refused).toBeGreaterThan(300);
    expect(total.confirms).toBeGreaterThan(300);
    expect(total.crashes).toBeGreaterThan(100);
    expect(total.expired).toBeGreaterThan(100);
  });
});
