/**
 * The embedded relay's claim in memory (src/platform/pending-rows.ts): the claim statement's rules
 * (mixins/outbox.mixin.ts CLAIM_EMBEDDED) over the rows the relay was handed.
 */
import { PendingRow, PendingRows, TakeOptions } from "../../src/platform/pending-rows";

const FIRST = new Set(["orders.confirmed", "orders.cancelled"]);
const NOW = 1_000_000;

function row(seq: number, channel: string, key: string | null, extra: Partial<PendingRow> = {}): PendingRow {
  return { seq, id: `m${seq}`, channel, key, createdMs: NOW - 1000, dueMs: 0, ...extra };
}

function take(rows: PendingRows<PendingRow>, opts: Partial<TakeOptions> = {}) {
  return rows.take({ room: 10, onlyFirst: false, now: NOW, waitedBefore: NOW - 30_000, held: () => false, ...opts }).map((r) => `${r.seq}${r.first ? "!" : ""}`);
}

function queue(...list: PendingRow[]) {
  const rows = new PendingRows<PendingRow>((c) => FIRST.has(c));
  for (const r of list) rows.put(r);
  return rows;
}

describe("the embedded relay's pending rows", () => {
  it("takes what a buyer waits on first, then the rest, each in commit order, as many as there is room for", () => {
    const rows = queue(row(1, "tickets.rendered", "a"), row(2, "orders.failed", "b"), row(3, "orders.confirmed", "c"), row(4, "tickets.issued", "d"), row(5, "orders.cancelled", "e"));
    expect(take(rows, { room: 4 })).toEqual(["3!", "5!", "1", "2"]);
    expect(take(rows)).toEqual(["4"]);
    expect(rows.size).toBe(0);
  });

  it("takes only the first pending row of a key, and none of a key with a row held", () => {
    const rows = queue(row(1, "orders.confirmed", "a"), row(2, "tickets.issued", "a"), row(3, "tickets.rendered", "a"), row(4, "orders.failed", null), row(5, "orders.failed", null));
    expect(take(rows)).toEqual(["1!", "4", "5"]);
    // Row 1 is held (published, not yet marked sent): its key waits.
    expect(take(rows, { held: (k) => k === "a" })).toEqual([]);
    expect(take(rows)).toEqual(["2"]);
    expect(take(rows)).toEqual(["3"]);
  });

  it("keeps a key's order across the channels: a refund waits behind its order's earlier mail", () => {
    const rows = queue(row(1, "tickets.rendered", "a"), row(2, "orders.cancelled", "a"), row(3, "orders.cancelled", "b"));
    expect(take(rows, { onlyFirst: true })).toEqual(["3!"]);
    expect(take(rows)).toEqual(["1"]);
    expect(take(rows)).toEqual(["2!"]);
  });

  it("leaves a row that is not due, and the rest of its key behind it", () => {
    const rows = queue(row(1, "orders.failed", "a", { dueMs: NOW + 100 }), row(2, "tickets.rendered", "a"), row(3, "orders.failed", "b"));
    expect(take(rows)).toEqual(["3"]);
    expect(take(rows, { now: NOW + 100 })).toEqual(["1"]);
    expect(take(rows)).toEqual(["2"]);
  });

  it("lets a row that waited 30 s go with what a buyer waits on, by commit order", () => {
    const rows = queue(row(1, "orders.failed", "a", { createdMs: NOW - 31_000 }), row(2, "orders.failed", "b"), row(3, "orders.confirmed", "c"), row(4, "orders.failed", "d", { createdMs: NOW - 31_000 }));
    expect(take(rows, { room: 3 })).toEqual(["1!", "3!", "4!"]);
    expect(take(rows)).toEqual(["2"]);
  });

  it("takes only what a buyer waits on when asked to, not the rows that waited", () => {
    const rows = queue(row(1, "orders.failed", "a", { createdMs: NOW - 31_000 }), row(2, "orders.confirmed", "b"));
    expect(take(rows, { onlyFirst: true })).toEqual(["2!"]);
    expect(take(rows)).toEqual(["1!"]);
  });

  it("puts rows handed out of order back in commit order, and a row put again in place of the old one", () => {
    const rows = queue(row(5, "orders.failed", "a"), row(3, "orders.failed", "a"), row(4, "orders.failed", "b"), row(1, "orders.confirmed", "c"));
    rows.put(row(4, "orders.failed", "b", { dueMs: NOW + 1 }));
    expect(rows.size).toBe(4);
    expect(take(rows)).toEqual(["1!", "3"]);
    expect(take(rows, { now: NOW + 1 })).toEqual(["4", "5"]);
  });
});
