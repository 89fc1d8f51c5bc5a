/**
 * Durable events: the transactional outbox, its relay, and idempotent consumers with retries and
 * a dead-letter table.
 *
 * Producing: `writeOutbox(trx, channel, payload, {key})` inserts the event into `outbox` inside
 * the caller's transaction, so the event exists if and only if the change committed. A relay loop
 * on every node that runs a service with this mixin claims pending rows (FOR UPDATE SKIP LOCKED
 * plus a short lease, so several nodes share the work and a dead node's claim runs out), publishes
 * them with `broker.sendToChannel` outside any transaction, and only then marks them sent (the
 * batch in one statement). On the embedded database (one node, so one relay) the writer hands its
 * committed rows to the relay, which claims them from memory (DurableRuntime.handOff) and reads
 * the table only for what it could not have been handed. A crash between commit and publish, or between publish and marking,
 * leaves the rows pending: they are published again and the consumers' inbox drops the
 * duplicates. Rows with the same `key` (an order id) are published in commit order: a later one
 * waits while an earlier one is pending. Across keys, the channels a buyer waits on
 * (`RELAYED_FIRST`: orders confirmed and cancelled, which issue and revoke tickets) go ahead of
 * the rest (PDFs stored, mail), which go by commit order again once they waited
 * RELAY_AFTER_MAX_WAIT_S. The rest hold at most three quarters of the publishing slots, and
 * each of them half, so that a slow consumer (mail, with its SMTP server down) holds up neither
 * the other channels (PDFs) nor the tickets.
 *
 * Consuming: `channels: { [name]: durable(handler, opts) }` in a service that uses OutboxMixin.
 * The handler runs in a transaction that also inserts (message id, consumer group) into
 * `channel_inbox`; a redelivered message finds the row and changes nothing. A consumer whose
 * effects are idempotent on their own (a unique key, a status that moves once) can say
 * `inbox: false`: it gets the database instead of a transaction, and makes each of its changes
 * atomic itself (one statement, or a transaction of its own). On the embedded database that
 * matters: a transaction holds up every other statement for all of its round trips. A handler that throws
 * is not redelivered at once (the library would, with no backoff): the failure is recorded in
 * `failed_messages` and retried with exponential backoff by any node running that consumer;
 * after `maxAttempts` it is DEAD, listed by `outbox.deadLetters` and put back by `outbox.replay`.
 * Because the failure record is written to PostgreSQL before the broker's message is acked, a
 * dead letter cannot get lost the way the library's own dead-letter publish can.
 */
import { randomUUID } from "crypto";
import type { Knex } from "knex";
import type { Service, ServiceBroker, ServiceSchema } from "moleculer";
import { CHANNEL_HEADER, ChannelName, ChannelPayloads, MESSAGE_ID_HEADER, RELAYED_FIRST } from "../channels";
import { backoffDelay, BackoffPolicy } from "../src/domain/backoff";
import { PendingRow, PendingRows } from "../src/platform/pending-rows";
import { platformOf } from "../src/platform/platform";

export interface MessageInfo {
  id: string;
  channel: string;
  group: string;
  /** 1 for the first delivery, 2 for the first retry, ... */
  attempt: number;
}

/**
 * What a consumer's `prepare` returns when the message asks nothing of this consumer (a webhook
 * event nobody subscribed to): the delivery ends there, with no transaction and no inbox row.
 * Only for consumers whose effects are idempotent without the inbox, since a redelivery then
 * runs `prepare` (and maybe the handler) again.
 */
export const NOTHING_TO_DO: unique symbol = Symbol("durable: nothing to do");

/** `trx` is the delivery's transaction, or the database itself for a consumer with `inbox: false`. */
export type DurableHandler<P = any> = (this: any, payload: P, trx: Knex.Transaction, message: MessageInfo, prepared?: any) => Promise<unknown>;

export interface DurableOptions {
  /** Consumer group; defaults to the service's full name (as @moleculer/channels does). */
  group?: string;
  /** Deliveries before the message is dead-lettered (first delivery included). Default 6. */
  maxAttempts?: number;
  /** Backoff between attempts. Default 250 ms doubling to 30 s. */
  backoff?: BackoffPolicy;
  /** Messages handled at once by this node for this consumer (NATS max_ack_pending). Default 16. */
  maxInFlight?: number;
  /**
   * Slow work that needs no transaction (rendering a PDF), run before each attempt's transaction
   * opens; its result is the handler's fourth argument. Keeps the embedded database's single
   * connection free while the CPU works. It may run again on a retry or a redelivery, so it
   * must not change anything itself. Returning NOTHING_TO_DO acknowledges the message at once.
   */
  prepare?: (this: any, payload: any, message: MessageInfo) => Promise<unknown>;
  /**
   * False for a consumer that is idempotent without the inbox: no inbox row and no transaction
   * per delivery; the handler gets the database and must make each change atomic itself, and
   * may run again for a redelivered message. Default true.
   */
  inbox?: boolean;
}

const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 30_000 };
const DEFAULT_MAX_ATTEMPTS = 6;
/** How long a claim on an outbox row or a failed message lasts; publishes take milliseconds. */
const LEASE_SECONDS = 15;
const RELAY_BATCH = 100;
/**
 * Rows published at once. In embedded mode a publish waits for the consumers (tickets, PDFs,
 * mail), so this is how much of that work runs beside new orders: 30 s purchase runs at 256
 * buyers (bench/fixes.md, seventh round) gave PDF available p99 8.1-12.4 s with 16, 5.6-6.2 s
 * with 32 and 4.0-5.8 s with 48, for 2,692-3,723, 3,136-3,289 and 2,517-3,020 orders/min.
 */
const RELAY_CONCURRENCY = 32;
/**
 * Slots the channels not in RELAYED_FIRST may hold: each at most CHANNEL_SLOTS, together at most
 * OTHER_SLOTS. A slow consumer (mails over an SMTP server that does not answer, with its 10-30 s
 * timeouts) would otherwise take every slot, and hold up the channels behind it: the PDFs, and
 * even the tickets a buyer waits for. What a buyer waits on (RELAYED_FIRST) may take them all.
 * Rows waiting for a slot count against RELAY_BATCH; with the batch full of them, the relay still
 * claims rows of the RELAYED_FIRST channels (relayOnce).
 */
const CHANNEL_SLOTS = RELAY_CONCURRENCY / 2;
const OTHER_SLOTS = (RELAY_CONCURRENCY * 3) / 4;
const FIRST = new Set<string>(RELAYED_FIRST);
/**
 * A row of a channel not in RELAYED_FIRST that has waited this long goes by commit order again,
 * so mail and PDFs are late under a sale that outruns the relay, never starved.
 */
const RELAY_AFTER_MAX_WAIT_S = 30;
/**
 * What the relay claims next: up to `room` claimable rows (pending, due, unlocked, and the oldest
 * pending row of their key), RELAYED_FIRST channels and rows that waited RELAY_AFTER_MAX_WAIT_S
 * first, then by commit order. Bindings: the wait, then `room` (embedded) or `room` three times.
 */
const CLAIMABLE = `o.status = 'PENDING' AND o.next_attempt_at <= now()
  AND (o.locked_until IS NULL OR o.locked_until < now())
  AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.status = 'PENDING' AND p.key = o.key AND p.seq < o.seq)`;
/** The channels as SQL literals: the index outbox_pending_first_idx has the same list. */
const FIRST_CHANNELS = `channel IN (${RELAYED_FIRST.map((c) => `'${c.replace(/'/g, "''")}'`).join(", ")})`;
/**
 * On PostgreSQL: the oldest claimable rows of the RELAYED_FIRST channels (from
 * outbox_pending_first_idx) and of all channels (from outbox_pending_idx), each read in commit
 * order with a limit, then the first of those. One sort over the whole backlog instead took
 * 170 ms per claim with 150,000 rows pending (an outage's backlog), this 2.5 ms.
 */
const CLAIMABLE_SERVER = `
  SELECT u.seq, (u.${FIRST_CHANNELS} OR u.created_at < now() - make_interval(secs => ?)) AS first
    FROM (SELECT * FROM (SELECT o.seq, o.channel, o.created_at FROM outbox o WHERE o.${FIRST_CHANNELS} AND ${CLAIMABLE}
                          ORDER BY o.seq LIMIT ? FOR UPDATE SKIP LOCKED) AS first_channels
          UNION
          SELECT * FROM (SELECT o.seq, o.channel, o.created_at FROM outbox o WHERE ${CLAIMABLE}
                          ORDER BY o.seq LIMIT ? FOR UPDATE SKIP LOCKED) AS all_channels) AS u
   ORDER BY first DESC, u.seq
   LIMIT ?`;
/**
 * On the embedded database the relay claims from memory (DurableRuntime.handOff), and from the
 * table only while it does not know every pending row (more than RELAY_MEMORY_ROWS of them).
 * There, which keeps no planner statistics and sees a backlog of hundreds of
 * rows in a sale (a row stays pending for long only while its in-process publish fails), one
 * sort is the cheaper claim: alternating 30 s sales at 256 buyers gave PDF available p99 3.6-6.9
 * s (median 3.8) with it against 5.5-8.2 s (median 6.0) with a first version of the form above.
 * Embedded mode has one node, so one relay: it writes no lease, it reads the claimable rows and
 * leaves out the ones it holds (claimed and not yet marked), passed as an array of seqs. With the
 * lease (a new version of every claimed row), a claim took 3.9 ms on the PGlite thread in a sale,
 * 3.1 without (bench/fixes.md, eleventh round); reading each list in commit order with a limit,
 * as the server's claim does, took no less (5.3). Bindings: the wait, the held seqs, whether
 * to claim the other channels too, `room`.
 * Its comment keeps it unnamed on the PGlite thread, with a plan made for its values each time
 * (src/platform/pglite-worker.mjs): a generic plan took 61 ms per claim.
 */
const CLAIM_EMBEDDED = `/* custom plan */
  SELECT o.seq, o.id, o.channel, o.key, o.payload, o.attempts, (extract(epoch FROM o.created_at) * 1000)::float8 AS "createdMs",
         (o.${FIRST_CHANNELS} OR o.created_at < now() - make_interval(secs => ?)) AS first
    FROM outbox o WHERE ${CLAIMABLE} AND NOT (o.seq = ANY(?::bigint[])) AND (?::boolean OR o.${FIRST_CHANNELS})
   ORDER BY first DESC, o.seq
   LIMIT ?`;
/**
 * The embedded relay's reading of what it does not know: every pending row it does not hold, due
 * or not (a row waiting for its retry still holds up the rest of its key). Bindings: the held
 * seqs, RELAY_MEMORY_ROWS + 1.
 */
const LOAD_EMBEDDED = `
  SELECT seq, id, channel, key, payload, attempts, (extract(epoch FROM created_at) * 1000)::float8 AS "createdMs",
         (extract(epoch FROM next_attempt_at) * 1000)::float8 AS "dueMs"
    FROM outbox WHERE status = 'PENDING' AND NOT (seq = ANY(?::bigint[]))
   ORDER BY seq
   LIMIT ?`;
/**
 * The most pending rows the embedded relay keeps in memory (a few KB each). Past it (an outage's
 * backlog) it claims from the table, and reads the outbox into memory again once that fits.
 */
const RELAY_MEMORY_ROWS = 10_000;
/**
 * Every commit that writes to the outbox wakes this process's relay at once, so polling only
 * catches rows written by other nodes (cluster) or due for a retry. Embedded mode has no other
 * nodes and one database session to share: poll rarely there.
 */
const RELAY_POLL_MS = { cluster: 50, embedded: 1000 };
/**
 * Woken, the relay waits this long before it claims, so that the commits of those few
 * milliseconds go out in one claim. Under a sale every commit woke it, and a claim took a few rows:
 * 2,400-2,800 claims in a 30 s sale at 256 buyers, the costliest statement on the embedded
 * database's thread. With the wait, 1,060-1,120 claims, and orders/min, CPU per order and the
 * CONFIRMED and PDF p99s were all better in two alternating pairs (bench/fixes.md, twelfth round).
 * A backlog larger than a claim is still claimed again at once. The same in cluster mode, where a
 * claim is a round trip to PostgreSQL (measured on the embedded database only).
 */
const RELAY_GATHER_MS = 5;
const RETRY_POLL_MS = { cluster: 250, embedded: 500 };
const OUTBOX_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 10_000 };
/**
 * Bookkeeping kept this long, then deleted (checked every 10 minutes). The inbox must outlive any
 * redelivery: JetStream streams keep messages for STREAM_MAX_AGE_DAYS (channels/adapter.ts).
 */
export const STREAM_MAX_AGE_DAYS = 7;
const SENT_RETENTION_DAYS = STREAM_MAX_AGE_DAYS;
const INBOX_RETENTION_DAYS = 2 * STREAM_MAX_AGE_DAYS;
const CLEANUP_EVERY_MS = 10 * 60_000;

interface Consumer {
  svc: Service;
  channel: string;
  group: string;
  handler: DurableHandler;
  prepare?: DurableOptions["prepare"];
  inbox: boolean;
  maxAttempts: number;
  backoff: BackoffPolicy;
}

interface OutboxRow {
  seq: number;
  id: string;
  channel: string;
  key: string | null;
  payload: unknown;
  attempts: number;
  /** Relayed ahead of the rest: its channel is in RELAYED_FIRST, or it waited RELAY_AFTER_MAX_WAIT_S. */
  first: boolean;
  /** When it was written (ms since the epoch); embedded mode only. */
  createdMs?: number;
}

/** Embedded mode: a pending row the relay knows of and does not hold. */
interface QueuedRow extends PendingRow {
  payload: unknown;
  attempts: number;
}
const relayedFirst = (channel: string) => FIRST.has(channel);

/** A lane waiting for a publishing slot for its next row, of that channel. */
interface SlotWaiter {
  channel: string;
  resolve: () => void;
}

interface FailedRow {
  id: string;
  message_id: string;
  consumer_group: string;
  channel: string;
  payload: unknown;
  attempts: number;
}

const runtimes = new WeakMap<ServiceBroker, DurableRuntime>();
/** Every runtime of this process, so that a commit can wake the relays without knowing the broker. */
const live = new Set<DurableRuntime>();

export function durableRuntime(broker: ServiceBroker): DurableRuntime {
  let rt = runtimes.get(broker);
  if (!rt) {
    rt = new DurableRuntime(broker);
    runtimes.set(broker, rt);
  }
  return rt;
}

/**
 * Writes an event to the outbox inside `trx`. Publish happens after commit (the relay is woken
 * as soon as the transaction commits). `key` orders events: same key, same order as committed.
 */
export async function writeOutbox<C extends ChannelName>(
  trx: Knex.Transaction,
  channel: C,
  payload: ChannelPayloads[C],
  opts: { key?: string } = {},
): Promise<string> {
  const insert = outboxInsert(trx, channel, payload, opts);
  const [{ seq }] = await insert;
  insert.committed(seq);
  return insert.id;
}

/**
 * The insert of one event into the outbox, not yet run (`id` is its message id; it returns the
 * row's `seq`): for a caller that writes it in a statement together with its change (a CTE).
 * Once that ran, the caller calls `committed(seq)`, which hands the row to this process's relay
 * once it has committed (see outboxCommitted).
 */
export function outboxInsert<C extends ChannelName>(db: Knex, channel: C, payload: ChannelPayloads[C], opts: { key?: string } = {}) {
  const row = { id: randomUUID(), channel, key: opts.key ?? null, payload: JSON.stringify(payload) };
  return Object.assign(db("outbox").insert(row).returning<Array<{ seq: number }>>("seq"), {
    id: row.id,
    committed: (seq: number) => outboxCommitted(db, [{ ...row, seq }]),
  });
}

/**
 * A change and its event in one statement, with no transaction: `change` is an INSERT or UPDATE
 * ... RETURNING (built, not run), and the event is written to the outbox only if it wrote a row.
 * Answers whether it did. One statement is atomic on its own; on the embedded database a
 * transaction would hold up every other statement for its round trips.
 */
export async function changeWithOutbox<C extends ChannelName>(
  db: Knex,
  change: Knex.QueryBuilder,
  channel: C,
  payload: ChannelPayloads[C],
  opts: { key?: string } = {},
): Promise<boolean> {
  const { sql, bindings } = change.toSQL();
  const row = { id: randomUUID(), channel, key: opts.key ?? null, payload: JSON.stringify(payload) };
  const written = await db.raw<{ rows: Array<{ seq: number }> }>(
    `WITH changed AS (${sql})
     INSERT INTO outbox (id, channel, key, payload) SELECT ?, ?, ?, ?::jsonb FROM changed LIMIT 1 RETURNING seq`,
    [...bindings, row.id, row.channel, row.key, row.payload],
  );
  if (!written.rows.length) return false;
  outboxCommitted(db, [{ ...row, seq: written.rows[0].seq }]);
  return true;
}

/** An outbox row as its writer knows it once committed: `payload` is its JSON text. */
export interface CommittedRow {
  seq: number;
  id: string;
  channel: string;
  key: string | null;
  payload: string;
}

/**
 * Tells this process's relays of these outbox rows, written through `db`: at once, or, written in
 * a transaction, once the outermost transaction has committed (a savepoint's release commits
 * nothing; a rollback tells nothing). Each relay wakes, and the embedded relay of that database
 * takes the rows as they are, with no claim to read them back (DurableRuntime.handOff).
 */
export function outboxCommitted(db: Knex, rows: CommittedRow[]) {
  const handOff = () => live.forEach((rt) => rt.handOff(db, rows));
  let top = db as Knex & { isTransaction?: boolean; parentTransaction?: Knex.Transaction; executionPromise?: Promise<unknown> };
  if (!top.isTransaction) return handOff();
  while (top.parentTransaction) top = top.parentTransaction;
  top.executionPromise?.then(handOff, () => undefined);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class DurableRuntime {
  private consumers = new Map<string, Consumer>();
  private users = 0;
  private isReady = false;
  private running = false;
  private loops: Promise<void>[] = [];
  private wakeUp?: () => void;
  private woken = false;
  private streams = new Set<string>();
  private relayPaused = false;
  private lastCleanup = 0;
  /** The relay's pipeline: rows claimed and not yet finished, lanes running, publishing slots. */
  private relayInFlight = 0;
  /** Of those, rows of the RELAYED_FIRST channels. */
  private firstInFlight = 0;
  /** Rows may have been written since the last claim (a commit here, or a poll for other nodes'). */
  private rowsWritten = true;
  private relayLanes = new Set<Promise<void>>();
  /** Publishing slots in use, in all and per channel, and the lanes waiting for one. */
  private slotsInUse = 0;
  private otherSlotsInUse = 0;
  private channelSlots = new Map<string, number>();
  /** Lanes waiting for a publishing slot: RELAYED_FIRST rows (and rows that waited) are let in before the others. */
  private slotWaiters = { first: [] as SlotWaiter[], after: [] as SlotWaiter[] };
  /** Rows claimed and not yet marked or let go, by message id (embedded mode's claim leaves them out). */
  private held = new Map<string, OutboxRow>();
  /** Of those, how many per key: a held row holds up the later rows of its key. */
  private heldKeys = new Map<string, number>();
  /**
   * Embedded mode, while `known`: every pending row the relay does not hold. The relay claims
   * from here, with no statement. See handOff.
   */
  private queued = new PendingRows<QueuedRow>(relayedFirst);
  /** Embedded mode: every pending row is held or queued. */
  private known = false;
  /** Embedded mode: committed rows are taken into `queued` (known, or being read). */
  private accepting = false;
  /** Embedded mode: read the outbox into `queued` before the next claim (at start, after a pause, when idle). */
  private loadWanted = true;
  private lastLoadMs = 0;
  /** Embedded mode, not `known`: the last claim from the table took less than it had room for. */
  private lastClaimShort = false;
  /** The embedded database's knex config: rows committed through another database are not ours. */
  private dbConfig?: unknown;
  /** The most pending rows kept in memory (RELAY_MEMORY_ROWS; tests lower it). */
  relayMemoryRows = RELAY_MEMORY_ROWS;
  /** Claims that took rows (from memory or the table): for tests of the gathering. */
  relayClaims = 0;
  private toMark: string[] = [];
  private toUnlock: string[] = [];
  private marking?: Promise<void>;

  constructor(private broker: ServiceBroker) {}

  private get logger() {
    return this.broker.logger;
  }

  private db(): Promise<Knex> {
    return platformOf(this.broker).db();
  }

  register(consumer: Consumer) {
    this.consumers.set(`${consumer.svc.fullName}|${consumer.channel}`, consumer);
  }

  consumerFor(svc: Service, channel: string): Consumer | undefined {
    return this.consumers.get(`${svc.fullName}|${channel}`);
  }

  /** A service using the mixin started; the loops run while at least one does. */
  acquire() {
    this.users++;
    this.maybeStart();
  }

  async release() {
    this.users = Math.max(0, this.users - 1);
    if (this.users === 0) await this.stop();
  }

  /** The channel adapter is connected and every channel subscribed. */
  ready() {
    this.isReady = true;
    this.maybeStart();
  }

  /**
   * Rows committed through `db` (the database or a transaction of it) in this process: the relay
   * wakes, and on the embedded database, rows of its own database join `queued` while it accepts
   * them. So the embedded relay claims with no statement: a sale's relay never reads back what
   * this process just wrote. Its claim had been the largest statement per order on the embedded
   * database's one thread (bench/fixes.md, twenty-fourth round). What it cannot learn this way
   * (rows committed before it started or while it did not accept them, and changes made to the
   * table while it was paused) it reads with LOAD_EMBEDDED: at start, after a pause, whenever it
   * sat idle for RELAY_POLL_MS, and after a backlog larger than `relayMemoryRows` drained. Until
   * then it claims from the table. Every row is in the table first, so a crash loses nothing.
   */
  handOff(db: Knex, rows: CommittedRow[]) {
    if (this.accepting && (db as { client?: { config?: unknown } }).client?.config === this.dbConfig) {
      const now = Date.now();
      for (const r of rows) {
        if (this.held.has(r.id) || this.queued.has(r.id)) continue;
        this.queued.put({ seq: r.seq, id: r.id, channel: r.channel, key: r.key, payload: r.payload, attempts: 0, createdMs: now, dueMs: 0 });
      }
      if (this.queued.size > this.relayMemoryRows) this.forgetQueue();
    }
    this.wake(true);
  }

  /** Embedded mode: the relay no longer knows every pending row; it claims from the table. */
  private forgetQueue() {
    this.known = false;
    this.accepting = false;
    this.queued.clear();
  }

  /** `committed`: rows were just written (not only a lane finished), see relayOnce. */
  wake(committed = false) {
    this.woken = true;
    if (committed) this.rowsWritten = true;
    this.wakeUp?.();
  }

  /** How long the relay, woken, gathers commits before it claims (RELAY_GATHER_MS; tests set it to see the gathering whatever the machine's speed). */
  relayGatherMs = RELAY_GATHER_MS;

  /** For tests that simulate a crash between commit and publish: nothing is relayed while paused. */
  pauseRelay(paused = true) {
    this.relayPaused = paused;
    if (paused) return;
    // The table may have been changed meanwhile (a test's retry or a row that waited): read it again.
    this.loadWanted = true;
    this.wake();
  }

  async stop() {
    this.isReady = false;
    if (!this.running) return;
    this.running = false;
    live.delete(this);
    this.wake();
    await Promise.all(this.loops);
    this.loops = [];
    this.forgetQueue();
  }

  private maybeStart() {
    if (this.running || !this.isReady || this.users === 0) return;
    this.running = true;
    this.loadWanted = true;
    live.add(this);
    const mode = platformOf(this.broker).embedded ? "embedded" : "cluster";
    this.loops = [this.loop("relay", () => this.relayOnce(), RELAY_POLL_MS[mode]), this.loop("retry", () => this.retryOnce(), RETRY_POLL_MS[mode])];
  }

  private async loop(name: string, once: () => Promise<number>, pollMs: number) {
    try {
      // One node in embedded mode: leases left by a previous run of this process are stale.
      if (name === "relay" && platformOf(this.broker).embedded) {
        const db = await this.db();
        this.dbConfig = (db as { client?: { config?: unknown } }).client?.config;
        await db("outbox").where({ status: "PENDING" }).whereNotNull("locked_until").update({ locked_until: null, locked_by: null });
        await db("failed_messages").whereNotNull("locked_until").update({ locked_until: null });
      }
    } catch (err) {
      this.logger.warn("Outbox: could not reset stale leases", (err as Error).message);
    }
    while (this.running) {
      let busy = 0;
      try {
        busy = await once();
      } catch (err) {
        if (this.running) this.logger.warn(`Outbox ${name} loop:`, (err as Error).message);
        await sleep(500);
      }
      if (!this.running) break;
      if (busy > 0 && name === "relay" && busy >= RELAY_BATCH) continue;
      if (name === "relay" && this.woken) {
        this.woken = false;
        await sleep(this.relayGatherMs);
        continue;
      }
      let wokenUp = false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        if (name === "relay") {
          this.wakeUp = () => {
            wokenUp = true;
            clearTimeout(timer);
            resolve();
          };
        }
      });
      if (name === "relay") {
        this.wakeUp = undefined;
        this.woken = false;
        if (wokenUp) await sleep(this.relayGatherMs);
        else {
          this.rowsWritten = true;
          // Idle: whatever was written here without a hand-off is read at once.
          this.loadWanted = true;
        }
      }
    }
    if (name === "relay") await this.drainRelay();
  }

  /** Deletes bookkeeping older than its retention. */
  private async cleanup(db: Knex) {
    const days = (n: number) => db.raw("now() - make_interval(days => ?)", [n]);
    await db("outbox").where({ status: "SENT" }).andWhere("sent_at", "<", days(SENT_RETENTION_DAYS)).delete();
    await db("channel_inbox").where("processed_at", "<", days(INBOX_RETENTION_DAYS)).delete();
    await db("failed_messages").where({ status: "DONE" }).andWhere("updated_at", "<", days(INBOX_RETENTION_DAYS)).delete();
  }

  // ---- relay -------------------------------------------------------------------------------

  /**
   * Claims pending rows, up to RELAY_BATCH in flight, RELAYED_FIRST channels first, and starts
   * publishing them; returns the count claimed. It does not wait for them: rows are published as
   * a pipeline, RELAY_CONCURRENCY at a time (RELAYED_FIRST rows take a free slot before the
   * others), and each finished lane frees room for the next claim at once, so one slow
   * delivery (in-process delivery waits for the handlers, a PDF render included) holds up only
   * its own key instead of a whole batch. Published rows are marked SENT together, by one
   * statement for whatever finished meanwhile. A crash before the mark re-sends them and the
   * consumers drop the duplicates; a later row of the same key stays unclaimable until its
   * predecessor is marked, so order holds.
   */
  async relayOnce(): Promise<number> {
    if (this.relayPaused) return 0;
    let room = RELAY_BATCH - this.relayInFlight;
    let onlyFirst = false;
    // While rows are in flight, claim again only once there is room for a publishing round:
    // a claim per finished row would cost a statement per row.
    if (room <= 0 || (this.relayInFlight > 0 && room < RELAY_CONCURRENCY)) {
      // The rows claimed are mostly PDFs and mail waiting for their slots (see OTHER_SLOTS): what
      // a buyer waits on is still claimed, a round of slots at most, when rows were written since.
      room = RELAY_CONCURRENCY - this.firstInFlight;
      if (room <= 0 || !this.rowsWritten) return 0;
      onlyFirst = true;
    }
    this.rowsWritten = false;
    const db = await this.db();
    const embedded = platformOf(this.broker).embedded;
    if (embedded && (this.loadWanted || (!this.known && this.lastClaimShort && Date.now() - this.lastLoadMs >= RELAY_POLL_MS.embedded))) {
      await this.loadQueue(db);
    }
    const claimed = embedded
      ? this.known
        ? { rows: this.takeQueued(room, onlyFirst) }
        : await db.raw<{ rows: OutboxRow[] }>(CLAIM_EMBEDDED, [RELAY_AFTER_MAX_WAIT_S, [...this.held.values()].map((r) => r.seq), !onlyFirst, room])
      : await db.raw<{ rows: OutboxRow[] }>(
          `UPDATE outbox SET locked_until = now() + make_interval(secs => ?), locked_by = ?
             FROM (${CLAIMABLE_SERVER}) AS c
            WHERE outbox.seq = c.seq
            RETURNING outbox.seq, outbox.id, outbox.channel, outbox.key, outbox.payload, outbox.attempts, c.first`,
          // Only the first channels: none from the list of all channels.
          [LEASE_SECONDS, this.broker.nodeID, RELAY_AFTER_MAX_WAIT_S, room, onlyFirst ? 0 : room, room],
        );
    if (embedded && !this.known) this.lastClaimShort = claimed.rows.length < room;
    for (const row of claimed.rows) this.hold(row);
    // RELAYED_FIRST rows start first, then by commit order.
    const rows = claimed.rows.sort((a, b) => Number(b.first) - Number(a.first) || a.seq - b.seq);
    if (!rows.length) return 0;
    this.relayClaims++;
    // Rows of one key go out one after the other; different keys in parallel.
    const lanes = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const lane = row.key ?? `row:${row.id}`;
      lanes.set(lane, [...(lanes.get(lane) ?? []), row]);
    }
    this.relayInFlight += rows.length;
    this.firstInFlight += rows.filter((r) => FIRST.has(r.channel)).length;
    for (const lane of lanes.values()) {
      const run = this.runLane(db, lane).finally(() => {
        this.relayInFlight -= lane.length;
        this.firstInFlight -= lane.filter((r) => FIRST.has(r.channel)).length;
        this.relayLanes.delete(run);
        this.wake();
      });
      this.relayLanes.add(run);
    }
    return rows.length;
  }

  /**
   * Embedded mode: reads every pending row it does not hold into `queued`, and from then on claims
   * from memory; with more than `relayMemoryRows` of them, it goes on claiming from the table.
   * Rows committed while the statement runs are taken by handOff (accepting from before it).
   */
  private async loadQueue(db: Knex) {
    this.loadWanted = false;
    this.lastLoadMs = Date.now();
    this.accepting = true;
    let rows: QueuedRow[];
    try {
      ({ rows } = await db.raw<{ rows: QueuedRow[] }>(LOAD_EMBEDDED, [[...this.held.values()].map((r) => r.seq), this.relayMemoryRows + 1]));
    } catch (err) {
      if (!this.known) this.forgetQueue();
      throw err;
    }
    if (rows.length > this.relayMemoryRows) {
      this.forgetQueue();
      return;
    }
    // The table's version of a row queued already is the newer one (a pause may have changed it).
    for (const row of rows) if (!this.held.has(row.id)) this.queued.put(row);
    this.known = true;
  }

  /** Embedded mode: CLAIM_EMBEDDED over `queued` (src/platform/pending-rows.ts); the rows leave it. */
  private takeQueued(room: number, onlyFirst: boolean): OutboxRow[] {
    const now = Date.now();
    const taken = this.queued.take({ room, onlyFirst, now, waitedBefore: now - RELAY_AFTER_MAX_WAIT_S * 1000, held: (key) => this.heldKeys.has(key) });
    return taken.map(({ dueMs: _due, ...row }) => row);
  }

  private hold(row: OutboxRow) {
    this.held.set(row.id, row);
    if (row.key !== null) this.heldKeys.set(row.key, (this.heldKeys.get(row.key) ?? 0) + 1);
  }

  /** Publishes one key's rows in order, each when a publishing slot is free. */
  private async runLane(db: Knex, lane: OutboxRow[]) {
    for (const [i, row] of lane.entries()) {
      await this.publishSlot(row);
      try {
        // Checked once the slot is ours: the relay may have been paused or stopped meanwhile.
        if (!this.running || this.relayPaused) {
          this.markLater([], lane.slice(i).map((r) => r.id));
          return;
        }
        await this.publish(row);
      } catch (err) {
        const delay = backoffDelay(row.attempts + 1, OUTBOX_BACKOFF);
        this.logger.warn(`Outbox: publishing ${row.channel} ${row.id} failed (attempt ${row.attempts + 1}), retrying in ${delay} ms:`, (err as Error).message);
        await db("outbox")
          .where({ id: row.id })
          .update({
            attempts: row.attempts + 1,
            last_error: String((err as Error).message ?? err).slice(0, 1000),
            next_attempt_at: db.raw("now() + make_interval(secs => ?)", [delay / 1000]),
            locked_until: null,
            locked_by: null,
          })
          .catch((e) => this.logger.warn("Outbox: could not record a failed publish", (e as Error).message))
          .finally(() => this.letGo([row.id], { attempts: row.attempts + 1, dueMs: Date.now() + delay }));
        // The rest of this key waits behind the failed row.
        this.markLater([], lane.slice(i + 1).map((r) => r.id));
        return;
      } finally {
        this.freeSlot(row);
      }
      this.markLater([row.id], []);
    }
  }

  /**
   * A publishing slot for the row: at once if one is free and its channel may take one (see
   * CHANNEL_SLOTS), else in turn (RELAYED_FIRST rows and rows that waited first).
   */
  private publishSlot(row: OutboxRow): Promise<void> {
    if (this.slotsInUse < RELAY_CONCURRENCY && this.mayTake(row.channel)) {
      this.takeSlot(row.channel);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.slotWaiters[row.first ? "first" : "after"].push({ channel: row.channel, resolve }));
  }

  /** Frees the row's slot and lets in the first lane waiting whose channel may take one. */
  private freeSlot(row: OutboxRow) {
    this.slotsInUse--;
    if (!FIRST.has(row.channel)) this.otherSlotsInUse--;
    this.channelSlots.set(row.channel, this.slotsOf(row.channel) - 1);
    for (const waiters of [this.slotWaiters.first, this.slotWaiters.after]) {
      const i = waiters.findIndex((w) => this.mayTake(w.channel));
      if (i < 0) continue;
      const [next] = waiters.splice(i, 1);
      this.takeSlot(next.channel);
      next.resolve();
      return;
    }
  }

  private slotsOf(channel: string) {
    return this.channelSlots.get(channel) ?? 0;
  }

  private mayTake(channel: string) {
    return FIRST.has(channel) || (this.slotsOf(channel) < CHANNEL_SLOTS && this.otherSlotsInUse < OTHER_SLOTS);
  }

  private takeSlot(channel: string) {
    this.slotsInUse++;
    if (!FIRST.has(channel)) this.otherSlotsInUse++;
    this.channelSlots.set(channel, this.slotsOf(channel) + 1);
  }

  /**
   * The relay no longer holds these rows. `pending`: they are still pending (not published, or
   * not marked), due at `dueMs`; the embedded relay queues them again if it knows every pending row.
   */
  private letGo(ids: string[], pending?: { attempts?: number; dueMs: number }) {
    for (const id of ids) {
      const row = this.held.get(id);
      if (!row) continue;
      this.held.delete(id);
      if (row.key !== null) {
        const n = (this.heldKeys.get(row.key) ?? 1) - 1;
        if (n > 0) this.heldKeys.set(row.key, n);
        else this.heldKeys.delete(row.key);
      }
      if (pending && this.accepting) {
        const { first: _first, createdMs, ...rest } = row;
        this.queued.put({ ...rest, createdMs: createdMs ?? Date.now(), attempts: pending.attempts ?? row.attempts, dueMs: pending.dueMs });
      }
    }
  }

  /** Marks published rows SENT and unlocks skipped ones, in one statement each per round. */
  private markLater(sent: string[], skipped: string[]) {
    this.toMark.push(...sent);
    this.toUnlock.push(...skipped);
    if (!this.marking) this.marking = this.markAll().finally(() => (this.marking = undefined));
  }

  private async markAll() {
    const db = await this.db();
    while (this.toMark.length || this.toUnlock.length) {
      const sent = this.toMark.splice(0);
      const skipped = this.toUnlock.splice(0);
      const embedded = platformOf(this.broker).embedded;
      let marked = !sent.length;
      try {
        if (sent.length) await db("outbox").whereIn("id", sent).update({ status: "SENT", sent_at: db.fn.now(), locked_until: null, locked_by: null });
        marked = true;
        // Embedded, the relay wrote no lease: letting go of the rows is enough.
        if (skipped.length && !embedded) await db("outbox").whereIn("id", skipped).update({ locked_until: null, locked_by: null });
      } catch (err) {
        // Left PENDING: they are published again (consumers drop duplicates), once the lease runs
        // out, or at the next claim when embedded.
        this.logger.warn("Outbox: could not mark published rows", (err as Error).message);
      }
      this.letGo(sent, marked ? undefined : { dueMs: 0 });
      this.letGo(skipped, { dueMs: 0 });
      // A marked row may free the next row of its key.
      if (sent.length) this.wake();
    }
  }

  /** Waits for everything claimed to be published and marked (the relay is stopping). */
  private async drainRelay() {
    while (this.relayLanes.size) await Promise.allSettled([...this.relayLanes]);
    while (this.marking) await this.marking;
  }

  private async publish(row: OutboxRow) {
    const broker = this.broker as ServiceBroker & {
      sendToChannel?: (name: string, payload: unknown, opts: object) => Promise<void>;
      channelAdapter?: {
        stopping?: boolean;
        manager?: unknown;
        addPrefixTopic(name: string): string;
        createStream?: (name: string, subjects: string[], opts: object) => Promise<unknown>;
      };
    };
    const adapter = broker.channelAdapter;
    if (!broker.sendToChannel || !adapter) throw new Error("the @moleculer/channels middleware is not registered");
    // JetStream refuses a publish to a subject no stream captures; the stream is otherwise made
    // only when a consumer subscribes, which may be on a node that is not up yet.
    if (adapter.createStream && adapter.manager && !this.streams.has(row.channel)) {
      const subject = adapter.addPrefixTopic(row.channel);
      await adapter.createStream(subject.split(".").join("_"), [subject], {});
      this.streams.add(row.channel);
    }
    const payload = typeof row.payload === "string" ? JSON.parse(row.payload) : row.payload;
    await broker.sendToChannel(row.channel, payload, {
      // JetStream drops a second publish with the same Nats-Msg-Id within its duplicate window.
      msgID: row.id,
      headers: { [MESSAGE_ID_HEADER]: row.id, [CHANNEL_HEADER]: row.channel },
    });
    // The NATS adapter returns without publishing when it is shutting down.
    if (adapter.stopping) throw new Error("channel adapter is stopping");
  }

  // ---- consuming ---------------------------------------------------------------------------

  /** First delivery of a message from the broker. Throws only if the outcome could not be recorded. */
  async deliver(consumer: Consumer, payload: unknown, raw: unknown) {
    const adapter = (this.broker as unknown as { channelAdapter?: { parseMessageHeaders(raw: unknown): Record<string, string> | null } }).channelAdapter;
    const headers: Record<string, string> = (raw ? adapter?.parseMessageHeaders(raw) : null) ?? {};
    const messageId = headers[MESSAGE_ID_HEADER];
    if (!messageId) {
      // Not from the outbox (a direct sendToChannel): no id to deduplicate on. Handle once, as is.
      this.logger.warn(`Channel ${consumer.channel}: message without ${MESSAGE_ID_HEADER}; it was not sent through the outbox`);
    }
    const id = messageId ?? randomUUID();
    try {
      await this.handle(consumer, id, payload, 1);
    } catch (err) {
      try {
        await this.recordFailure(consumer, id, payload, err);
      } catch (recordErr) {
        this.logger.error(`Channel ${consumer.channel}/${consumer.group}: could not record a failed delivery`, (recordErr as Error).message);
        // Let the broker redeliver, but not in a tight loop.
        await sleep(1000);
        throw err;
      }
    }
  }

  /** Runs the handler with the inbox row in one transaction. False when already processed. */
  private async handle(consumer: Consumer, messageId: string, payload: unknown, attempt: number): Promise<boolean> {
    const db = await this.db();
    const message = { id: messageId, channel: consumer.channel, group: consumer.group, attempt };
    const prepared = consumer.prepare ? await consumer.prepare.call(consumer.svc, payload, message) : undefined;
    if (prepared === NOTHING_TO_DO) return false;
    if (!consumer.inbox) {
      await consumer.handler.call(consumer.svc, payload, db as Knex.Transaction, message, prepared);
      return true;
    }
    return db.transaction(async (trx) => {
      const inserted = await trx("channel_inbox")
        .insert({ message_id: messageId, consumer_group: consumer.group, channel: consumer.channel })
        .onConflict(["message_id", "consumer_group"])
        .ignore()
        .returning("message_id");
      if (!inserted.length) return false;
      await consumer.handler.call(consumer.svc, payload, trx, message, prepared);
      return true;
    });
  }

  private async recordFailure(consumer: Consumer, messageId: string, payload: unknown, err: unknown) {
    const db = await this.db();
    const dead = consumer.maxAttempts <= 1;
    const delay = backoffDelay(1, consumer.backoff);
    this.logger.warn(`Channel ${consumer.channel}/${consumer.group}: message ${messageId} failed (attempt 1)${dead ? ", dead-lettered" : `, retrying in ${delay} ms`}:`, (err as Error)?.message);
    await db("failed_messages")
      .insert({
        id: randomUUID(),
        message_id: messageId,
        consumer_group: consumer.group,
        channel: consumer.channel,
        payload: JSON.stringify(payload),
        attempts: 1,
        status: dead ? "DEAD" : "RETRYING",
        next_attempt_at: db.raw("now() + make_interval(secs => ?)", [delay / 1000]),
        last_error: errorText(err),
      })
      .onConflict(["message_id", "consumer_group"])
      .ignore();
  }

  /** Retries due failed deliveries of the consumers this node runs. Returns how many it tried. */
  async retryOnce(): Promise<number> {
    const db = await this.db();
    if (Date.now() - this.lastCleanup > CLEANUP_EVERY_MS) {
      this.lastCleanup = Date.now();
      await this.cleanup(db);
    }
    const local = [...this.consumers.values()];
    if (!local.length) return 0;
    const pairs = local.map(() => "(channel = ? AND consumer_group = ?)").join(" OR ");
    const claimed = await db.raw<{ rows: FailedRow[] }>(
      `UPDATE failed_messages SET locked_until = now() + make_interval(secs => ?)
        WHERE id IN (
          SELECT id FROM failed_messages
           WHERE status = 'RETRYING' AND next_attempt_at <= now()
             AND (locked_until IS NULL OR locked_until < now())
             AND (${pairs})
           ORDER BY next_attempt_at
           LIMIT 20
           FOR UPDATE SKIP LOCKED)
        RETURNING id, message_id, consumer_group, channel, payload, attempts`,
      [LEASE_SECONDS, ...local.flatMap((c) => [c.channel, c.group])],
    );
    for (const row of claimed.rows) {
      const consumer = local.find((c) => c.channel === row.channel && c.group === row.consumer_group)!;
      const attempt = row.attempts + 1;
      const payload = typeof row.payload === "string" ? JSON.parse(row.payload) : row.payload;
      try {
        await this.handle(consumer, row.message_id, payload, attempt);
        await db("failed_messages").where({ id: row.id }).update({ status: "DONE", attempts: attempt, locked_until: null, updated_at: db.fn.now() });
      } catch (err) {
        const dead = attempt >= consumer.maxAttempts;
        const delay = backoffDelay(attempt, consumer.backoff);
        if (dead) this.logger.error(`Channel ${row.channel}/${row.consumer_group}: message ${row.message_id} dead-lettered after ${attempt} attempts:`, (err as Error)?.message);
        else this.logger.warn(`Channel ${row.channel}/${row.consumer_group}: message ${row.message_id} failed (attempt ${attempt}), retrying in ${delay} ms`);
        await db("failed_messages")
          .where({ id: row.id })
          .update({
            attempts: attempt,
            status: dead ? "DEAD" : "RETRYING",
            next_attempt_at: db.raw("now() + make_interval(secs => ?)", [delay / 1000]),
            last_error: errorText(err),
            locked_until: null,
            updated_at: db.fn.now(),
          });
      }
    }
    return claimed.rows.length;
  }
}

function errorText(err: unknown): string {
  const e = err as Error | undefined;
  return String(e?.stack ?? e?.message ?? err).slice(0, 2000);
}

/**
 * A durable consumer for a service's `channels`: idempotent by message id, retried with
 * backoff, dead-lettered after `maxAttempts`. The handler gets the transaction that records
 * the message as processed: write its effects through `trx` (and its own events through
 * `writeOutbox(trx, ...)`) so that effect and "processed" commit together. Do not use
 * `this.db` or call actions that need the database while `trx` is open: the embedded database
 * has one session, so a statement outside the transaction waits for it to end (and is refused
 * after a minute). A consumer idempotent on its own can do without the inbox (`inbox: false`).
 */
export function durable<P = any>(handler: DurableHandler<P>, opts: DurableOptions = {}) {
  return {
    group: opts.group,
    maxInFlight: opts.maxInFlight ?? 16,
    // The runtime below does retries and dead-lettering; to the library a delivery always
    // succeeds unless its outcome could not be recorded, and then it must be redelivered
    // (maxRetries high: with 0 the NATS adapter would drop it).
    maxRetries: 1_000_000,
    deadLettering: { enabled: false },
    // A consumer group created after events were published must still get them.
    nats: { consumerOptions: { config: { deliver_policy: "all" } } },
    durable: { handler, opts },
    async handler(this: Service, payload: P, raw: unknown) {
      const rt = durableRuntime(this.broker);
      const channel = (rawChannel(this, raw) ?? "") as string;
      const consumer = rt.consumerFor(this, channel);
      if (!consumer) throw new Error(`No durable consumer registered for '${channel}' in ${this.fullName}: add OutboxMixin to the service`);
      await rt.deliver(consumer, payload, raw);
    },
  };
}

function rawChannel(svc: Service, raw: unknown): string | undefined {
  const adapter = (svc.broker as unknown as { channelAdapter?: { parseMessageHeaders(raw: unknown): Record<string, string> | null } }).channelAdapter;
  const fromHeader = raw ? adapter?.parseMessageHeaders(raw)?.[CHANNEL_HEADER] : undefined;
  if (fromHeader) return fromHeader;
  // Not sent by the relay: the only durable channel of this service with this handler.
  const defs = Object.entries((svc.schema as { channels?: Record<string, { durable?: unknown }> }).channels ?? {}).filter(([, d]) => d?.durable);
  return defs.length === 1 ? defs[0][0] : undefined;
}

/**
 * Registers the service's `durable(...)` channels with this node's runtime and runs the relay
 * and retry loops while the service runs. Gives the service `this.outbox(trx, channel, payload, key?)`.
 */
export const OutboxMixin: ServiceSchema = {
  name: "",
  started(this: Service) {
    const rt = durableRuntime(this.broker);
    const channels = (this.schema as { channels?: Record<string, { durable?: { handler: DurableHandler; opts: DurableOptions } }> }).channels ?? {};
    for (const [channel, def] of Object.entries(channels)) {
      if (!def?.durable) continue;
      const { handler, opts } = def.durable;
      rt.register({
        svc: this,
        channel,
        group: opts.group ?? this.fullName,
        handler,
        prepare: opts.prepare,
        inbox: opts.inbox ?? true,
        maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        backoff: opts.backoff ?? DEFAULT_BACKOFF,
      });
    }
    rt.acquire();
  },
  async stopped(this: Service) {
    await durableRuntime(this.broker).release();
  },
  methods: {
    outbox<C extends ChannelName>(trx: Knex.Transaction, channel: C, payload: ChannelPayloads[C], key?: string) {
      return writeOutbox(trx, channel, payload, { key });
    },
  },
};
