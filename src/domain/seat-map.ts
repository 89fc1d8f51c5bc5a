/**
 * The seat actor's state machine: one event session's seat availability, in memory, compact and
 * deterministic. No I/O and no clock: every operation that depends on time takes `now` (ms).
 *
 * Layout of the state (struct of arrays, one slot per admission):
 * - Numbered seats first, in the layout's canonical order (the seat map's `status` order), then
 *   one slot per general-admission place ("GA slot"), area after area. A GA slot is an
 *   unnumbered seat: held and sold like any seat, so one mechanism serves both, and the database
 *   can guard both with one unique key (session, seat).
 * - `status` (byte), `holder` (hold record slot, -1 when none) and `category` per slot; rows are
 *   contiguous ranges of seat indexes.
 * - Hold records: ACTIVE holds and CONFIRMED ones (kept for idempotent confirm and for unsell by
 *   order); RELEASED/EXPIRED records are dropped at once.
 *
 * Persistence is the shell's job. The map remembers, per batch, the first state of every seat
 * and hold it touched; `drain()` turns that into the net claims to delete and insert and the hold
 * rows to upsert, which the shell commits in one transaction. A crash loses only undrained work,
 * and `SeatMap.restore` rebuilds exactly the committed state.
 */
import { layoutSeats, VenueLayout } from "./layout";
import { bestAdjacent, bestScattered, RowsView } from "./best-available";

export const AVAILABLE = 0;
export const HELD = 1;
export const SOLD = 2;
export const BLOCKED = 3;
export type SeatStatus = typeof AVAILABLE | typeof HELD | typeof SOLD | typeof BLOCKED;
/** One character per status in the seat map: available, held, sold, blocked. */
export const STATUS_CHARS = "ahsb";

export type HoldStatus = "ACTIVE" | "CONFIRMED" | "RELEASED" | "EXPIRED";

/**
 * A refused command (seat taken, not enough seats, over the limit, ...). `code` is the API's error
 * code; the shell picks the HTTP status. A refusal is an answer, not a fault, so it carries no
 * stack trace: capturing one took 26 µs of a refused hold's ~400, and when a session sells out
 * nearly every hold is refused (bench/fixes.md, tenth round). Broken invariants throw plain
 * Errors, with their stacks.
 */
export class SeatMapError extends Error {
  constructor(readonly code: string, message: string, readonly details?: Record<string, unknown>) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = "SeatMapError";
  }
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`seat map invariant violated: ${message}`);
}

export interface HoldItem {
  seatId: string;
  label: string;
  category: string;
  areaId?: string;
}

/** A hold as the outside world sees it (times in ms). */
export interface HoldView {
  holdId: string;
  userId: string;
  seats: string[];
  items: HoldItem[];
  createdAt: number;
  expiresAt: number;
  status: HoldStatus;
  orderId: string | null;
}

/** A row of the `holds` table, final state within a batch. */
export type HoldRow = HoldView;

/** A row of the `seat_claims` table: who has a seat (or GA slot) right now. */
export interface Claim {
  seatId: string;
  kind: "hold" | "sold" | "block";
  holdId: string | null;
  orderId: string | null;
  userId: string | null;
}

/** What one batch of commands changed, net, ready to be committed. */
export interface CommitBatch {
  version: number;
  holds: HoldRow[];
  /** Claims that must exist exactly like this and are deleted (a mismatch means the state diverged). */
  claimDeletes: Claim[];
  /** Claims inserted; an existing claim on the seat is a conflict (a seat is never held or sold twice). */
  claimInserts: Claim[];
  /** Numbered seats whose status changed, for the live seat map. */
  changes: Array<{ seatId: string; status: string }>;
  /** Some availability changed (seats or GA), for the stock event. */
  stockChanged: boolean;
}

export interface HoldRequest {
  holdId: string;
  userId: string;
  seats?: string[];
  quantity?: number;
  category?: string;
  adjacent?: boolean;
  area?: string;
}

export interface SeatMapRules {
  maxPerCustomer: number;
  /** How long a new hold lives. */
  holdMs: number;
  /** A hold is never extended beyond createdAt + maxHoldMs (default twice holdMs). */
  maxHoldMs?: number;
}

export interface Snapshot {
  version: number;
  holds: HoldRow[];
  claims: Claim[];
}

/** The static part of a session's map, built once from the venue layout. */
export class SeatPlan {
  readonly seatCount: number;
  readonly total: number;
  readonly ids: string[] = [];
  /**
   * Every seat's label in one string, seat i's from labelStart[i] to labelStart[i + 1]: a
   * 100,000-seat session kept 100,000 small strings (~3 MB) only to answer holds' seat labels.
   */
  private readonly labelText: string;
  private readonly labelStart: Uint32Array;
  readonly categories: string[] = [];
  readonly category: Uint16Array;
  readonly rowStart: Int32Array;
  readonly rowOf: Int32Array;
  readonly areas: Array<{ id: string; name: string; category: string; first: number; capacity: number }> = [];
  private readonly index = new Map<string, number>();
  private readonly areaIndex = new Map<string, number>();
  private readonly categoryIndex = new Map<string, number>();

  constructor(layout: VenueLayout) {
    const seats = layoutSeats(layout);
    const areas = layout.areas ?? [];
    this.seatCount = seats.length;
    this.total = seats.length + areas.reduce((n, a) => n + a.capacity, 0);
    this.category = new Uint16Array(this.total);
    const rows = layout.sections.reduce((n, s) => n + s.rows.length, 0);
    this.rowStart = new Int32Array(rows + 1);
    this.rowOf = new Int32Array(this.seatCount);
    const labels: string[] = [];
    this.labelStart = new Uint32Array(this.seatCount + 1);
    let labelLength = 0;
    let i = 0;
    let r = 0;
    for (const section of layout.sections) {
      for (const row of section.rows) {
        this.rowStart[r] = i;
        for (const seat of row.seats) {
          assert(!this.index.has(seat.id), `duplicate seat id ${seat.id}`);
          this.index.set(seat.id, i);
          this.ids.push(seat.id);
          labels.push(seat.label);
          this.labelStart[i] = labelLength;
          labelLength += seat.label.length;
          this.category[i] = this.categoryOf(seat.category);
          this.rowOf[i] = r;
          i++;
        }
        r++;
      }
    }
    this.rowStart[rows] = i;
    this.labelStart[this.seatCount] = labelLength;
    this.labelText = labels.join("");
    areas.forEach((area, a) => {
      assert(!this.index.has(area.id) && !this.areaIndex.has(area.id), `area id ${area.id} is not unique`);
      assert(Number.isInteger(area.capacity) && area.capacity >= 0, `area ${area.id} capacity`);
      this.areaIndex.set(area.id, a);
      this.areas.push({ id: area.id, name: area.name, category: area.category, first: i, capacity: area.capacity });
      const c = this.categoryOf(area.category);
      this.category.fill(c, i, i + area.capacity);
      i += area.capacity;
    });
    assert(i === this.total, "slot count");
  }

  private categoryOf(name: string): number {
    let c = this.categoryIndex.get(name);
    if (c === undefined) {
      c = this.categories.length;
      this.categories.push(name);
      this.categoryIndex.set(name, c);
    }
    return c;
  }

  seatIndex(id: string): number | undefined {
    return this.index.get(id);
  }

  areaNumber(id: string): number | undefined {
    return this.areaIndex.get(id);
  }

  categoryNumber(name: string): number | undefined {
    return this.categoryIndex.get(name);
  }

  /** The GA area of a slot, or -1 for a numbered seat. */
  areaOfSlot(slot: number): number {
    if (slot < this.seatCount) return -1;
    for (let a = 0; a < this.areas.length; a++) {
      const area = this.areas[a];
      if (slot < area.first + area.capacity) return a;
    }
    throw new Error(`slot ${slot} out of range`);
  }

  /** The id a slot has in the database: the seat id, or `<areaId>#<n>` for GA slot n. */
  claimId(slot: number): string {
    const a = this.areaOfSlot(slot);
    if (a < 0) return this.ids[slot];
    const area = this.areas[a];
    return `${area.id}#${slot - area.first}`;
  }

  slotOfClaimId(id: string): number | undefined {
    const seat = this.index.get(id);
    if (seat !== undefined) return seat;
    const hash = id.lastIndexOf("#");
    if (hash < 0) return undefined;
    const a = this.areaIndex.get(id.slice(0, hash));
    const n = Number(id.slice(hash + 1));
    if (a === undefined || !Number.isInteger(n) || n < 0 || n >= this.areas[a].capacity) return undefined;
    return this.areas[a].first + n;
  }

  item(slot: number): HoldItem {
    const a = this.areaOfSlot(slot);
    if (a < 0) return { seatId: this.ids[slot], label: this.labelText.slice(this.labelStart[slot], this.labelStart[slot + 1]), category: this.categories[this.category[slot]] };
    const area = this.areas[a];
    return { seatId: area.id, label: area.name, category: area.category, areaId: area.id };
  }
}

interface HoldRecord {
  id: string;
  userId: string;
  slots: number[];
  createdAt: number;
  expiresAt: number;
  status: HoldStatus;
  orderId: string | null;
  /** CONFIRMED only: its seats are sold right now (false once the order was unsold). */
  sold: boolean;
}

/** Binary min-heap of (expiresAt, record slot); stale entries are skipped when they surface. */
class ExpiryHeap {
  private times: number[] = [];
  private slots: number[] = [];

  get size(): number {
    return this.times.length;
  }

  push(time: number, slot: number): void {
    const t = this.times;
    const s = this.slots;
    let i = t.length;
    t.push(time);
    s.push(slot);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p] <= time) break;
      t[i] = t[p];
      s[i] = s[p];
      i = p;
    }
    t[i] = time;
    s[i] = slot;
  }

  peekTime(): number | undefined {
    return this.times[0];
  }

  peekSlot(): number {
    return this.slots[0];
  }

  pop(): void {
    const t = this.times;
    const s = this.slots;
    const lastT = t.pop()!;
    const lastS = s.pop()!;
    const n = t.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && t[l + 1] < t[l] ? l + 1 : l;
      if (t[c] >= lastT) break;
      t[i] = t[c];
      s[i] = s[c];
      i = c;
    }
    t[i] = lastT;
    s[i] = lastS;
  }
}

export class SeatMap {
  readonly status: Uint8Array;
  private readonly holder: Int32Array;
  private readonly rowFree: Int32Array;
  private readonly areaFree: Int32Array;
  private readonly counts = [0, 0, 0, 0];
  private records: Array<HoldRecord | undefined> = [];
  private freeRecords: number[] = [];
  private readonly byId = new Map<string, number>();
  private readonly byOrder = new Map<string, number>();
  private readonly perUser = new Map<string, number>();
  private readonly expiries = new ExpiryHeap();
  private _version: number;
  private encoded?: { version: number; text: string };
  // The batch being built: first (committed) claim of every touched seat, final rows of touched holds.
  private dirtySeats = new Map<number, Claim | null>();
  private dirtyHolds = new Map<string, HoldRow>();
  private readonly rowsView: RowsView;
  private filterCategory = -1;

  /** Rules may change while the map lives (the organizer edits the session); they apply to new commands. */
  constructor(readonly plan: SeatPlan, public rules: SeatMapRules, version = 0) {
    assert(rules.maxPerCustomer >= 1 && rules.holdMs > 0, "rules");
    this.status = new Uint8Array(plan.total);
    this.holder = new Int32Array(plan.total).fill(-1);
    const rows = plan.rowStart.length - 1;
    this.rowFree = new Int32Array(rows);
    for (let r = 0; r < rows; r++) this.rowFree[r] = plan.rowStart[r + 1] - plan.rowStart[r];
    this.areaFree = new Int32Array(plan.areas.map((a) => a.capacity));
    this.counts[AVAILABLE] = plan.total;
    this._version = version;
    this.rowsView = {
      rowStart: plan.rowStart,
      rowFree: this.rowFree,
      isFree: (i) => this.status[i] === AVAILABLE && (this.filterCategory < 0 || plan.category[i] === this.filterCategory),
    };
  }

  /** Rebuilds the committed state: what `drain()` batches produced, as stored. */
  static restore(plan: SeatPlan, rules: SeatMapRules, snapshot: Snapshot): SeatMap {
    const map = new SeatMap(plan, rules, snapshot.version);
    const claimsByHold = new Map<string, number[]>();
    const blocked: number[] = [];
    for (const claim of snapshot.claims) {
      const slot = plan.slotOfClaimId(claim.seatId);
      assert(slot !== undefined, `claim on unknown seat ${claim.seatId}`);
      if (claim.kind === "block") blocked.push(slot);
      else {
        assert(claim.holdId, `claim without hold on ${claim.seatId}`);
        const list = claimsByHold.get(claim.holdId) ?? [];
        list.push(slot);
        claimsByHold.set(claim.holdId, list);
      }
    }
    for (const row of snapshot.holds) {
      if (row.status !== "ACTIVE" && row.status !== "CONFIRMED") continue;
      const claimed = claimsByHold.get(row.holdId);
      claimsByHold.delete(row.holdId);
      const sold = row.status === "CONFIRMED" && !!claimed;
      assert(row.status === "CONFIRMED" || claimed?.length === row.items.length, `active hold ${row.holdId} lost its seats`);
      const slots = claimed ?? row.items.map((item) => {
        const slot = item.areaId !== undefined ? plan.areas[plan.areaNumber(item.areaId) ?? -1]?.first : plan.seatIndex(item.seatId);
        assert(slot !== undefined, `hold ${row.holdId} names unknown seat ${item.seatId}`);
        return slot;
      });
      const record: HoldRecord = {
        id: row.holdId,
        userId: row.userId,
        slots,
        createdAt: row.createdAt,
        expiresAt: row.expiresAt,
        status: row.status,
        orderId: row.orderId,
        sold,
      };
      const r = map.addRecord(record);
      if (row.status === "ACTIVE") {
        for (const slot of slots) map.setSlot(slot, AVAILABLE, HELD, r);
        map.addUser(row.userId, slots.length);
        map.expiries.push(record.expiresAt, r);
      } else if (sold) {
        for (const slot of slots) map.setSlot(slot, AVAILABLE, SOLD, r);
        map.addUser(row.userId, slots.length);
      }
    }
    assert(claimsByHold.size === 0, `claims of unknown holds: ${[...claimsByHold.keys()].join(", ")}`);
    for (const slot of blocked) map.setSlot(slot, AVAILABLE, BLOCKED, -1);
    // Restoring is not a change: nothing to commit, and the version is the stored one.
    map.dirtySeats.clear();
    map.dirtyHolds.clear();
    map._version = snapshot.version;
    map.checkInvariants();
    return map;
  }

  get version(): number {
    return this._version;
  }

  /** Counts per status over every admission (seats and GA places). */
  summary(): { available: number; held: number; sold: number; blocked: number } {
    return { available: this.counts[AVAILABLE], held: this.counts[HELD], sold: this.counts[SOLD], blocked: this.counts[BLOCKED] };
  }

  get activeHolds(): number {
    let n = 0;
    for (const r of this.records) if (r?.status === "ACTIVE") n++;
    return n;
  }

  areaAvailability(): Array<{ id: string; capacity: number; available: number }> {
    return this.plan.areas.map((a, i) => ({ id: a.id, capacity: a.capacity, available: this.areaFree[i] }));
  }

  /** Seats (numbered) and GA places free right now. */
  get available(): number {
    return this.counts[AVAILABLE];
  }

  heldOrBoughtBy(userId: string): number {
    return this.perUser.get(userId) ?? 0;
  }

  /** One character per numbered seat, in seat order (`a`, `h`, `s`, `b`). Cached per version. */
  encodeStatus(): string {
    if (this.encoded?.version === this._version) return this.encoded.text;
    const n = this.plan.seatCount;
    let text = "";
    const CHUNK = 8192;
    for (let start = 0; start < n; start += CHUNK) {
      const end = Math.min(n, start + CHUNK);
      const codes = new Array<number>(end - start);
      for (let i = start; i < end; i++) codes[i - start] = STATUS_CHARS.charCodeAt(this.status[i]);
      text += String.fromCharCode(...codes);
    }
    this.encoded = { version: this._version, text };
    return text;
  }

  getHold(holdId: string): HoldView | undefined {
    const r = this.byId.get(holdId);
    return r === undefined ? undefined : this.view(this.records[r]!);
  }

  /**
   * A hold asked for with an idempotency key (its id derived from the key): the hold with that id
   * if it exists, as long as this request could have made it (else IDEMPOTENCY_KEY_REUSED), or a
   * new one. A repeat changes nothing, so a retried request never holds seats twice. A hold that
   * ended is no longer here; the caller looks it up before asking (it is not made again), and
   * says `create: false` when it saw the hold here: if it has ended since, it is not made again.
   */
  holdOnce(req: HoldRequest, now: number, create = true): HoldView {
    const r = this.byId.get(req.holdId);
    if (r === undefined) {
      if (!create) throw new SeatMapError("HOLD_EXPIRED", "The hold made with this Idempotency-Key has ended; send a new key to hold seats again.");
      return this.hold(req, now);
    }
    const record = this.records[r]!;
    if (record.userId !== req.userId || !sameRequest(req, this.view(record))) {
      throw new SeatMapError("IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already used for a different hold.");
    }
    if (record.status === "CONFIRMED") throw new SeatMapError("HOLD_CONFIRMED", "This hold was already bought.");
    return this.view(record);
  }

  /** Places a hold, or throws SeatMapError (state unchanged). */
  hold(req: HoldRequest, now: number): HoldView {
    assert(req.holdId && !this.byId.has(req.holdId), `hold id ${req.holdId} reused`);
    assert(req.userId, "hold without user");
    const modes = (req.seats ? 1 : 0) + (req.area !== undefined ? 1 : 0) + (req.quantity !== undefined && req.area === undefined ? 1 : 0);
    if (modes !== 1) {
      // Two ways sent name both; none sent names the two a buyer may choose between.
      const sent = (["seats", "quantity", "area"] as const).filter((f) => req[f] !== undefined);
      const [named, message, type] = sent.length > 1 ? [sent, "Send only one way of choosing seats.", "conflict"] : [["seats", "quantity"], "Send seats or a quantity.", "required"];
      const fields = named.map((field) => ({ field, message, type }));
      throw new SeatMapError("VALIDATION_ERROR", "Send either seats, or a quantity (with an optional category), or a quantity and a GA area.", { fields });
    }
    let slots: number[];
    if (req.seats) slots = this.explicitSeats(req.seats);
    else {
      const quantity = req.quantity;
      if (!Number.isInteger(quantity) || quantity! < 1) {
        throw new SeatMapError("VALIDATION_ERROR", "The quantity must be a whole number of at least 1.", { fields: [{ field: "quantity", message: "must be a whole number of at least 1", type: "required" }] });
      }
      this.checkLimit(req.userId, quantity!);
      slots = req.area !== undefined ? this.gaPlaces(req.area, quantity!) : this.bestAvailable(quantity!, req.category, req.adjacent === true);
    }
    this.checkLimit(req.userId, slots.length);

    const record: HoldRecord = {
      id: req.holdId,
      userId: req.userId,
      slots,
      createdAt: now,
      expiresAt: now + this.rules.holdMs,
      status: "ACTIVE",
      orderId: null,
      sold: false,
    };
    const r = this.addRecord(record);
    for (const slot of slots) this.setSlot(slot, AVAILABLE, HELD, r);
    this.addUser(record.userId, slots.length);
    this.expiries.push(record.expiresAt, r);
    this.touchHold(record);
    this._version++;
    this.checkCounts();
    return this.view(record);
  }

  /** Ends an active hold; false when it is not active (already ended, confirmed or unknown). */
  release(holdId: string): boolean {
    const r = this.byId.get(holdId);
    const record = r === undefined ? undefined : this.records[r];
    if (!record || record.status !== "ACTIVE") return false;
    this.end(r!, "RELEASED");
    return true;
  }

  extend(holdId: string, now: number, seconds?: number): HoldView {
    const record = this.activeRecord(holdId, now);
    const maxHoldMs = this.rules.maxHoldMs ?? 2 * this.rules.holdMs;
    const wanted = now + (seconds !== undefined ? seconds * 1000 : this.rules.holdMs);
    const expiresAt = Math.min(wanted, record.createdAt + maxHoldMs);
    if (expiresAt > record.expiresAt) {
      record.expiresAt = expiresAt;
      this.expiries.push(expiresAt, this.byId.get(holdId)!);
      this.touchHold(record);
    }
    return this.view(record);
  }

  /** Sells a hold's seats to an order. Idempotent for the same order. */
  confirm(holdId: string, orderId: string, now: number): HoldView {
    assert(orderId, "confirm without order");
    const r = this.byId.get(holdId);
    const record = r === undefined ? undefined : this.records[r];
    if (record?.status === "CONFIRMED") {
      if (record.orderId === orderId) return this.view(record);
      throw new SeatMapError("HOLD_CONFIRMED", "This hold was already bought by another order.");
    }
    const active = this.activeRecord(holdId, now);
    const other = this.byOrder.get(orderId);
    if (other !== undefined) throw new SeatMapError("ORDER_CONFIRMED", "This order already bought another hold.");
    for (const slot of active.slots) this.setSlot(slot, HELD, SOLD, r!);
    active.status = "CONFIRMED";
    active.orderId = orderId;
    active.sold = true;
    this.byOrder.set(orderId, r!);
    this.touchHold(active);
    this._version++;
    this.checkCounts();
    return this.view(active);
  }

  /** Puts the seats sold to an order back on sale. Idempotent: the second call returns no seats. */
  unsell(orderId: string): string[] {
    const r = this.byOrder.get(orderId);
    const record = r === undefined ? undefined : this.records[r];
    if (!record || !record.sold) return [];
    assert(record.status === "CONFIRMED", "unsell of an unconfirmed hold");
    const seats = this.view(record).seats;
    for (const slot of record.slots) this.setSlot(slot, SOLD, AVAILABLE, -1);
    record.sold = false;
    this.addUser(record.userId, -record.slots.length);
    this.touchHold(record);
    this._version++;
    this.checkCounts();
    return seats;
  }

  /** Ends every active hold whose time is up; returns them. */
  expire(now: number): HoldView[] {
    const ended: HoldView[] = [];
    for (let t = this.expiries.peekTime(); t !== undefined && t <= now; t = this.expiries.peekTime()) {
      const r = this.expiries.peekSlot();
      this.expiries.pop();
      const record = this.records[r];
      if (!record || record.status !== "ACTIVE" || record.expiresAt !== t) continue;
      this.end(r, "EXPIRED");
      ended.push(this.view(record));
    }
    return ended;
  }

  /** When the next active hold expires (ms), if any. */
  nextExpiry(): number | undefined {
    for (let t = this.expiries.peekTime(); t !== undefined; t = this.expiries.peekTime()) {
      const record = this.records[this.expiries.peekSlot()];
      if (record && record.status === "ACTIVE" && record.expiresAt === t) return t;
      this.expiries.pop();
    }
    return undefined;
  }

  /** Takes seats off sale (organizer). All or nothing: a held or sold seat refuses the whole request. */
  block(seatIds: string[]): string[] {
    const slots = this.knownSeats(seatIds);
    const taken = slots.filter((s) => this.status[s] === HELD || this.status[s] === SOLD);
    if (taken.length) throw new SeatMapError("SEAT_TAKEN", "Some seats are held or sold.", { seats: taken.map((s) => this.plan.ids[s]) });
    const changed = slots.filter((s) => this.status[s] === AVAILABLE);
    for (const slot of changed) this.setSlot(slot, AVAILABLE, BLOCKED, -1);
    if (changed.length) this._version++;
    this.checkCounts();
    return changed.map((s) => this.plan.ids[s]);
  }

  /** Puts blocked seats back on sale; seats that are not blocked are left alone. */
  unblock(seatIds: string[]): string[] {
    const slots = this.knownSeats(seatIds);
    const changed = slots.filter((s) => this.status[s] === BLOCKED);
    for (const slot of changed) this.setSlot(slot, BLOCKED, AVAILABLE, -1);
    if (changed.length) this._version++;
    this.checkCounts();
    return changed.map((s) => this.plan.ids[s]);
  }

  /** True when commands ran since the last drain. */
  get pending(): boolean {
    return this.dirtySeats.size > 0 || this.dirtyHolds.size > 0;
  }

  /** The net effect of everything since the last drain, and starts a new batch. */
  drain(): CommitBatch {
    const claimDeletes: Claim[] = [];
    const claimInserts: Claim[] = [];
    const changes: Array<{ seatId: string; status: string }> = [];
    let stockChanged = false;
    for (const [slot, before] of this.dirtySeats) {
      const after = this.claimOf(slot);
      if (sameClaim(before, after)) continue;
      if (before) claimDeletes.push(before);
      if (after) claimInserts.push(after);
      const wasFree = before === null;
      const isFree = after === null;
      if (wasFree !== isFree) stockChanged = true;
      if (slot < this.plan.seatCount && (before?.kind ?? null) !== (after?.kind ?? null)) {
        changes.push({ seatId: this.plan.ids[slot], status: STATUS_CHARS[this.status[slot]] });
      }
    }
    const batch: CommitBatch = { version: this._version, holds: [...this.dirtyHolds.values()], claimDeletes, claimInserts, changes, stockChanged };
    this.dirtySeats = new Map();
    this.dirtyHolds = new Map();
    return batch;
  }

  /** Full consistency check, O(seats): tests run it after every command. */
  checkInvariants(): void {
    const counts = [0, 0, 0, 0];
    const rowFree = new Int32Array(this.rowFree.length);
    const areaFree = new Int32Array(this.areaFree.length);
    const perUser = new Map<string, number>();
    for (let i = 0; i < this.plan.total; i++) {
      const s = this.status[i] as SeatStatus;
      counts[s]++;
      if (s === AVAILABLE) {
        if (i < this.plan.seatCount) rowFree[this.plan.rowOf[i]]++;
        else areaFree[this.plan.areaOfSlot(i)]++;
      }
      const h = this.holder[i];
      if (s === HELD || s === SOLD) {
        const record = this.records[h];
        assert(record && record.slots.includes(i), `seat ${i} held by a record that does not list it`);
        assert(s === HELD ? record.status === "ACTIVE" : record.status === "CONFIRMED" && record.sold, `seat ${i} status ${s} vs hold ${record.status}`);
      } else assert(h === -1, `free or blocked seat ${i} has a holder`);
    }
    for (let s = 0; s < 4; s++) assert(counts[s] === this.counts[s], `count of status ${s}`);
    rowFree.forEach((n, r) => assert(n === this.rowFree[r], `free seats of row ${r}`));
    areaFree.forEach((n, a) => assert(n === this.areaFree[a], `free places of area ${a}`));
    this.records.forEach((record, r) => {
      if (!record) return;
      assert(this.byId.get(record.id) === r, `index of hold ${record.id}`);
      const owns = record.status === "ACTIVE" || record.sold;
      for (const slot of record.slots) if (owns) assert(this.holder[slot] === r, `hold ${record.id} lost seat ${slot}`);
      if (owns) perUser.set(record.userId, (perUser.get(record.userId) ?? 0) + record.slots.length);
      if (record.status === "CONFIRMED") assert(this.byOrder.get(record.orderId!) === r, `order index of ${record.id}`);
    });
    assert(perUser.size === [...this.perUser.values()].filter((n) => n > 0).length, "per-user counts");
    for (const [user, n] of perUser) assert(this.perUser.get(user) === n, `per-user count of ${user}`);
  }

  // ---- internals ----

  private view(record: HoldRecord): HoldView {
    const items = record.slots.map((s) => this.plan.item(s));
    return {
      holdId: record.id,
      userId: record.userId,
      seats: items.map((i) => i.seatId),
      items,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
      status: record.status,
      orderId: record.orderId,
    };
  }

  private claimOf(slot: number): Claim | null {
    const s = this.status[slot];
    if (s === AVAILABLE) return null;
    const seatId = this.plan.claimId(slot);
    if (s === BLOCKED) return { seatId, kind: "block", holdId: null, orderId: null, userId: null };
    const record = this.records[this.holder[slot]]!;
    return s === HELD
      ? { seatId, kind: "hold", holdId: record.id, orderId: null, userId: record.userId }
      : { seatId, kind: "sold", holdId: record.id, orderId: record.orderId, userId: record.userId };
  }

  /** Every status change goes through here: it checks the expected current status and keeps the counters. */
  private setSlot(slot: number, from: SeatStatus, to: SeatStatus, holder: number): void {
    assert(this.status[slot] === from, `seat ${slot} is ${this.status[slot]}, expected ${from}`);
    assert((to === HELD || to === SOLD) === holder >= 0, `seat ${slot} holder ${holder} for status ${to}`);
    if (!this.dirtySeats.has(slot)) this.dirtySeats.set(slot, this.claimOf(slot));
    this.status[slot] = to;
    this.holder[slot] = holder;
    this.counts[from]--;
    this.counts[to]++;
    if (from === AVAILABLE || to === AVAILABLE) {
      const delta = to === AVAILABLE ? 1 : -1;
      if (slot < this.plan.seatCount) this.rowFree[this.plan.rowOf[slot]] += delta;
      else this.areaFree[this.plan.areaOfSlot(slot)] += delta;
    }
  }

  private checkCounts(): void {
    const c = this.counts;
    assert(c[0] >= 0 && c[1] >= 0 && c[2] >= 0 && c[3] >= 0 && c[0] + c[1] + c[2] + c[3] === this.plan.total, "status counts");
  }

  private addRecord(record: HoldRecord): number {
    const r = this.freeRecords.length ? this.freeRecords.pop()! : this.records.length;
    this.records[r] = record;
    this.byId.set(record.id, r);
    if (record.orderId) this.byOrder.set(record.orderId, r);
    return r;
  }

  private addUser(userId: string, delta: number): void {
    const n = (this.perUser.get(userId) ?? 0) + delta;
    assert(n >= 0, `negative seat count for ${userId}`);
    if (n === 0) this.perUser.delete(userId);
    else this.perUser.set(userId, n);
  }

  private touchHold(record: HoldRecord): void {
    this.dirtyHolds.set(record.id, this.view(record));
  }

  private end(r: number, status: "RELEASED" | "EXPIRED"): void {
    const record = this.records[r]!;
    assert(record.status === "ACTIVE", `ending a ${record.status} hold`);
    for (const slot of record.slots) this.setSlot(slot, HELD, AVAILABLE, -1);
    record.status = status;
    this.addUser(record.userId, -record.slots.length);
    this.touchHold(record);
    this.records[r] = undefined;
    this.byId.delete(record.id);
    this.freeRecords.push(r);
    this._version++;
    this.checkCounts();
  }

  private activeRecord(holdId: string, now: number): HoldRecord {
    const r = this.byId.get(holdId);
    const record = r === undefined ? undefined : this.records[r];
    if (!record) throw new SeatMapError("HOLD_NOT_FOUND", "Hold not found.");
    if (record.status === "CONFIRMED") throw new SeatMapError("HOLD_CONFIRMED", "This hold was already bought.");
    if (record.expiresAt <= now) {
      this.end(r!, "EXPIRED");
      throw new SeatMapError("HOLD_EXPIRED", "The hold has expired; its seats are back on sale.");
    }
    return record;
  }

  private checkLimit(userId: string, quantity: number): void {
    const has = this.heldOrBoughtBy(userId);
    if (has + quantity > this.rules.maxPerCustomer) {
      throw new SeatMapError("LIMIT_EXCEEDED", `At most ${this.rules.maxPerCustomer} seats per customer for this session.`, {
        limit: this.rules.maxPerCustomer,
        current: has,
        requested: quantity,
      });
    }
  }

  private knownSeats(seatIds: string[]): number[] {
    if (seatIds.length === 0) throw new SeatMapError("VALIDATION_ERROR", "Name at least one seat.", { fields: [{ field: "seats", message: "Name at least one seat.", type: "arrayMin" }] });
    const slots: number[] = [];
    const unknown: string[] = [];
    const seen = new Set<number>();
    const duplicates: string[] = [];
    for (const id of seatIds) {
      const slot = this.plan.seatIndex(id);
      if (slot === undefined) unknown.push(id);
      else if (seen.has(slot)) duplicates.push(id);
      else {
        seen.add(slot);
        slots.push(slot);
      }
    }
    if (unknown.length) throw new SeatMapError("UNKNOWN_SEATS", "Some seats do not exist in this session.", { seats: unknown });
    if (duplicates.length) throw new SeatMapError("DUPLICATE_SEATS", "A seat is named more than once.", { seats: duplicates });
    return slots;
  }

  private explicitSeats(seatIds: string[]): number[] {
    const slots = this.knownSeats(seatIds);
    const taken = slots.filter((s) => this.status[s] !== AVAILABLE);
    if (taken.length) throw new SeatMapError("SEAT_TAKEN", "Some seats are no longer available.", { seats: taken.map((s) => this.plan.ids[s]) });
    return slots;
  }

  private gaPlaces(areaId: string, quantity: number): number[] {
    const a = this.plan.areaNumber(areaId);
    if (a === undefined) throw new SeatMapError("UNKNOWN_AREA", "This session has no such area.", { area: areaId });
    if (this.areaFree[a] < quantity) {
      throw new SeatMapError("NOT_ENOUGH_SEATS", "Not enough places left in this area.", { area: areaId, available: this.areaFree[a] });
    }
    const area = this.plan.areas[a];
    const slots: number[] = [];
    for (let s = area.first; s < area.first + area.capacity && slots.length < quantity; s++) {
      if (this.status[s] === AVAILABLE) slots.push(s);
    }
    assert(slots.length === quantity, `area ${areaId} free count`);
    return slots;
  }

  private bestAvailable(quantity: number, category: string | undefined, adjacent: boolean): number[] {
    if (this.plan.seatCount === 0) {
      throw new SeatMapError("AREA_REQUIRED", "This session sells general admission only: choose an area.", { areas: this.plan.areas.map((a) => a.id) });
    }
    let c = -1;
    if (category !== undefined) {
      c = this.plan.categoryNumber(category) ?? -2;
      if (c === -2) throw new SeatMapError("UNKNOWN_CATEGORY", "This session has no such category.", { category });
    }
    this.filterCategory = c;
    try {
      const seats = bestAdjacent(this.rowsView, quantity) ?? (adjacent ? null : bestScattered(this.rowsView, quantity));
      if (!seats) {
        throw new SeatMapError("NOT_ENOUGH_SEATS", adjacent ? `No ${quantity} seats side by side are left.` : `Fewer than ${quantity} seats are left.`, {
          quantity,
          ...(category !== undefined ? { category } : {}),
        });
      }
      return seats;
    } finally {
      this.filterCategory = -1;
    }
  }
}

function sameClaim(a: Claim | null, b: Claim | null): boolean {
  if (a === null || b === null) return a === b;
  return a.kind === b.kind && a.holdId === b.holdId && a.orderId === b.orderId && a.seatId === b.seatId;
}

/** Whether a hold request could have made this hold: the same seats, or as many of the kind asked for. */
function sameRequest(req: HoldRequest, hold: HoldView): boolean {
  if (req.seats) return req.seats.length === hold.seats.length && req.seats.every((s) => hold.seats.includes(s));
  if (req.quantity !== hold.items.length) return false;
  if (req.area !== undefined) return hold.items.every((i) => i.areaId === req.area);
  if (req.category !== undefined) return hold.items.every((i) => i.category === req.category);
  return true;
}
