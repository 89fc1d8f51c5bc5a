/**
 * A node's copy of what many requests read alike, by key: a session with its event and venue, an
 * event with its sessions, a venue's encoded layout. When a sale opens, thousands of buyers ask
 * for the same few rows within seconds; this answers them from one read.
 *
 * - One read per key at a time: requests that arrive while it runs wait for it, and share it.
 * - A value is read again when the caller names another version of its source than the one it
 *   was read for (a venue's ETag), or once it is `ttlMs` old (catalog rows: a change event lost
 *   with a node's connection ages out).
 * - `forget` (on a change event) makes the next request read again; one already waiting keeps
 *   what it waits for.
 * - A read that fails, or finds nothing (`null`), is not kept: the next request reads again.
 * - Beyond `kept` keys, the least recently read is dropped.
 */
export interface ReadCacheOptions {
  kept: number;
  /** How long a value may be answered from; unset: until forgotten or its version changes. */
  ttlMs?: number;
  /** Milliseconds now; tests move it. */
  clock?: () => number;
}

interface Entry<V> {
  readAt: number;
  version: string | undefined;
  value: Promise<V>;
}

export class ReadCache<V> {
  private entries = new Map<string, Entry<V>>();
  private readonly clock: () => number;

  constructor(private readonly opts: ReadCacheOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  get(key: string, read: () => Promise<V>, version?: string): Promise<V> {
    const now = this.clock();
    let entry = this.entries.get(key);
    if (!entry || entry.version !== version || now - entry.readAt >= (this.opts.ttlMs ?? Infinity)) {
      const value = read();
      const created = (entry = { readAt: now, version, value });
      const drop = () => {
        if (this.entries.get(key) === created) this.entries.delete(key);
      };
      value.then((v) => v == null && drop(), drop);
    }
    // Most recently read last.
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.opts.kept) this.entries.delete(this.entries.keys().next().value!);
    return entry.value;
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
