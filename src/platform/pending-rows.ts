/**
 * The embedded outbox relay's pending rows, the ones it does not hold, and its claim over them
 * (mixins/outbox.mixin.ts, DurableRuntime.handOff): the claim statement's rules in memory. A claim
 * takes the first pending row of a key only, and none of a key with a row held (published and
 * not yet marked sent), so a key's rows go out in commit order; only rows that are due; the
 * channels relayed first (what a buyer waits on) and rows that waited long enough ahead of the
 * rest, each group in commit (seq) order.
 *
 * Rows are kept in two lanes (the channels relayed first, the rest), each in seq order, and by
 * key: a claim reads as many rows as it takes, plus those it must skip, not the whole backlog.
 */
export interface PendingRow {
  /** The row's place in commit order (bigint, read as a number: src/platform/database.ts). */
  seq: number;
  id: string;
  channel: string;
  key: string | null;
  /** When it was written, and when it may go (a failed publish waits for its retry), ms since the epoch. */
  createdMs: number;
  dueMs: number;
}

export interface TakeOptions {
  /** Rows at most. */
  room: number;
  /** Only rows of the channels relayed first. */
  onlyFirst: boolean;
  now: number;
  /** Rows written before this go with the channels relayed first. */
  waitedBefore: number;
  /** A row of this key is held: none of the key may be taken. */
  held(key: string): boolean;
}

const bySeq = (a: PendingRow, b: PendingRow) => a.seq - b.seq;

export class PendingRows<R extends PendingRow> {
  private all = new Map<string, R>();
  private first = new Map<string, R>();
  private rest = new Map<string, R>();
  private lastSeq = { first: -Infinity, rest: -Infinity };
  /** A row came in out of seq order: the lanes are sorted before the next take. */
  private unsorted = false;
  private byKey = new Map<string, R[]>();

  constructor(private readonly relayedFirst: (channel: string) => boolean) {}

  get size() {
    return this.all.size;
  }

  has(id: string) {
    return this.all.has(id);
  }

  /** Adds the row, in place of a row with its id. */
  put(row: R) {
    const old = this.all.get(row.id);
    if (old) this.remove(old);
    this.all.set(row.id, row);
    const lane = this.relayedFirst(row.channel) ? "first" : "rest";
    this[lane].set(row.id, row);
    if (row.seq < this.lastSeq[lane]) this.unsorted = true;
    else this.lastSeq[lane] = row.seq;
    if (row.key !== null) {
      const rows = this.byKey.get(row.key);
      if (!rows) this.byKey.set(row.key, [row]);
      else {
        rows.push(row);
        if (bySeq(rows[rows.length - 2], row) > 0) rows.sort(bySeq);
      }
    }
  }

  clear() {
    this.all.clear();
    this.first.clear();
    this.rest.clear();
    this.byKey.clear();
    this.lastSeq = { first: -Infinity, rest: -Infinity };
    this.unsorted = false;
  }

  /**
   * Up to `room` rows, which leave the queue: the channels relayed first and rows that waited,
   * then the rest, each in seq order. Each carries `first`, whether it went ahead of the rest.
   */
  take(opts: TakeOptions): Array<R & { first: boolean }> {
    if (this.unsorted) this.sort();
    const { room, now, waitedBefore } = opts;
    const mayGo = (row: R) => row.dueMs <= now && (row.key === null || (this.byKey.get(row.key)![0] === row && !opts.held(row.key)));
    const ahead: R[] = [];
    for (const row of this.first.values()) {
      if (ahead.length >= room) break;
      if (mayGo(row)) ahead.push(row);
    }
    const after: R[] = [];
    if (!opts.onlyFirst) {
      const waited: R[] = [];
      // The oldest rows come first: those that waited, then the others.
      for (const row of this.rest.values()) {
        if (after.length >= room || waited.length >= room) break;
        if (!mayGo(row)) continue;
        if (row.createdMs < waitedBefore) waited.push(row);
        else after.push(row);
      }
      if (waited.length) ahead.push(...waited.splice(0));
    }
    ahead.sort(bySeq);
    const taken = [...ahead, ...after].slice(0, room);
    for (const row of taken) this.remove(row);
    return taken.map((row, i) => ({ ...row, first: i < ahead.length }));
  }

  private remove(row: R) {
    this.all.delete(row.id);
    this.first.delete(row.id);
    this.rest.delete(row.id);
    if (row.key === null) return;
    const rows = this.byKey.get(row.key)!;
    rows.splice(rows.indexOf(row), 1);
    if (!rows.length) this.byKey.delete(row.key);
  }

  private sort() {
    for (const lane of ["first", "rest"] as const) {
      const rows = [...this[lane].values()].sort(bySeq);
      this[lane] = new Map(rows.map((r) => [r.id, r]));
      this.lastSeq[lane] = rows.length ? rows[rows.length - 1].seq : -Infinity;
    }
    this.unsorted = false;
  }
}
