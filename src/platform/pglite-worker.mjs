/**
 * Embedded PostgreSQL on its own thread: PGlite (WASM) speaking the PostgreSQL wire protocol to
 * the node's ordinary `pg` driver over this worker's message port (src/platform/database.ts has
 * the other end). On the node's main thread PGlite took a third of the CPU of a flash sale (every
 * query runs synchronously in WASM); here it runs beside the event loop on the second core.
 *
 * Why a message port and not a loopback socket (pglite-socket, until 2026-12-01): a statement is
 * five protocol messages (Parse, Bind, Describe, Execute, Sync) and its answer several more;
 * over a socket each became its own PGlite call and its own socket write on this thread, and a
 * writev on the node's (18% of the main thread in a flash sale). Here the driver's bytes for a
 * statement travel as one message, PGlite runs them in one call (as a server reads them from one
 * packet), and the answer comes back as one message.
 *
 * Several connections, one session. PGlite has a single session, but the node may open several
 * connections to it: each sends whole statements (a batch of protocol messages ending in Sync or
 * a simple Query), and this thread runs them one at a time, in arrival order, while no
 * transaction is open. A transaction belongs to the connection whose statement opened it: until
 * it ends, only that connection's statements run and the others wait here. So autocommit
 * statements from many callers run back to back on this thread without waiting for the node's
 * event loop between them, and transactions stay isolated exactly as on one connection.
 * A statement that waits longer than WAIT_LIMIT_MS behind another connection's transaction gets
 * an error instead (as the node's pool used to time out a caller waiting for the connection):
 * the usual cause is code that uses the database outside a transaction it holds open.
 *
 * Maintenance in place of autovacuum: PGlite runs PostgreSQL as a single-user backend, with no
 * autovacuum. Left alone, every updated or deleted row leaves its old version behind in its
 * table and indexes for good: the outbox's index of pending rows, which the relay's claim walks,
 * would keep an entry for every event ever sent. So every MAINTENANCE_MS, if statements ran
 * meanwhile, this thread vacuums every table: one table at a time, each after the statements
 * waiting at that moment, never inside a transaction. It does not ANALYZE: measured, planner
 * statistics made the seat actors' commit (seat_commit) 0.48 -> 0.76 ms with 1,000 sessions on
 * sale, and bought nothing measurable for the purchase; vacuuming every 5 s instead of every
 * minute cost a fifth of that commit rate too (each round re-reads every page changed since).
 *
 * Plans made while a table was small are dropped as the database grows (REPLAN_AFTER). Without
 * planner statistics, PostgreSQL plans a table by its size: a VACUUM records how many rows a page
 * holds, and the planner multiplies that by the pages the table has when it plans. A statement
 * run often keeps one generic plan, made once; if the table was small then (a 3-row table just
 * vacuumed), that plan reads the whole table (a sequential scan, a hash over all of it) on every
 * run as the table grows, until a later VACUUM changes the table's figures (up to MAINTENANCE_MS:
 * the first minute of a sale). So `DISCARD PLANS` runs between statements, outside any
 * transaction, after REPLAN_AFTER statements, then after twice as many more, four times as many,
 * and so on; each maintenance round starts the count again. The named statements stay; each is
 * planned once more on its next run, with the tables as they are then (measured: 100 statements
 * replanned cost 13 ms once).
 *
 * Plain JavaScript on purpose: a worker starts without the TypeScript loader, in tests too.
 * Messages in:  {type: "wire", conn, data: Uint8Array} (protocol bytes from connection `conn`),
 *               {type: "close", conn}, {type: "stop"}.
 * Messages out: {type: "ready"} | {type: "error", message} at start-up,
 *               {type: "wire", conn, data} (PGlite's answer), {type: "failed", conn, message},
 *               {type: "stopped"}.
 */
import fs from "node:fs";
import path from "node:path";
import { Buffer } from "node:buffer";
import process from "node:process";
import { performance } from "node:perf_hooks";
import { setImmediate, setInterval } from "node:timers";
import { parentPort, workerData } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";

const WAIT_LIMIT_MS = workerData.waitLimitMs ?? 60_000;
const MAINTENANCE_MS = workerData.maintenanceMs ?? 60_000;
const REPLAN_AFTER = workerData.replanAfter ?? 1000;

let db;
try {
  let dataDir;
  if (workerData.dataDir !== "memory") {
    dataDir = path.join(workerData.dataDir, "pg");
    fs.mkdirSync(dataDir, { recursive: true });
  }
  db = await PGlite.create(dataDir ? { dataDir } : {});
  parentPort.postMessage({ type: "ready" });
} catch (err) {
  parentPort.postMessage({ type: "error", message: err instanceof Error ? err.stack ?? err.message : String(err) });
  await db?.close().catch(() => undefined);
  process.exit(1);
}

/** conn id -> { pending: Buffer (bytes of an incomplete message), started: boolean } */
const connections = new Map();
/** Complete statements waiting to run: { conn, bytes, at }. */
const queue = [];
/** The connection whose transaction is open, or null. */
let owner = null;
/**
 * Connections that sent a plain BEGIN which has not run yet. BEGIN is answered at once and run
 * just before the connection's next statement: the session stays free for everyone else while
 * the node's event loop comes round to that statement. Nothing is lost: a PostgreSQL transaction
 * takes its snapshot and its locks at its first statement, not at BEGIN.
 */
const beginning = new Set();
const BEGIN = Buffer.from("Q\0\0\0\x0bBEGIN;\0", "latin1");
const ROLLBACK = Buffer.from("Q\0\0\0\x0dROLLBACK\0", "latin1");
/** CommandComplete "BEGIN", then ReadyForQuery "in a transaction". */
const BEGUN = Uint8Array.from(Buffer.from("C\0\0\0\x0aBEGIN\0Z\0\0\0\x05T", "latin1"));
let running = false;
let stopping = false;
let stopped;

/** The queue's entries for maintenance use this in place of a connection id. */
const MAINTENANCE = "maintenance";
let statementsSinceMaintenance = 0;
let maintaining = false;
/** Statements run since start, and the count at which plans are next dropped (see REPLAN_AFTER). */
let statementsRun = 0;
let replanStep = REPLAN_AFTER;
let replanAt = REPLAN_AFTER;
const DISCARD_PLANS = Buffer.from("Q\0\0\0\x12DISCARD PLANS\0", "latin1");
/**
 * The tables a maintenance round vacuums: not the empty ones. There is nothing to reclaim in
 * them, and a VACUUM would record them as empty: the planner then reads them with a sequential
 * scan, and a statement planned so keeps that plan while the table fills (a new node's expiry
 * sweep read every hold ever made, every second, until the next round).
 */
const TABLES = `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
    AND pg_relation_size(c.oid) > 0 ORDER BY 1`;

/** Splits off the complete protocol messages at the head of the buffer (the start-up message has no type byte). */
function completeMessages(state) {
  const buf = state.pending;
  let end = 0;
  while (true) {
    if (!state.started) {
      if (buf.length - end < 8) break;
      const length = buf.readInt32BE(end);
      const code = buf.readInt32BE(end + 4);
      if (buf.length - end < length) break;
      end += length;
      // An SSLRequest or GSSENCRequest gets a one-byte "N" from PGlite; the start-up message follows.
      if (code === 196608) state.started = true;
      continue;
    }
    if (buf.length - end < 5) break;
    const length = 1 + buf.readInt32BE(end + 1);
    if (buf.length - end < length) break;
    end += length;
  }
  if (end === 0) return null;
  const messages = buf.subarray(0, end);
  state.pending = buf.subarray(end);
  return messages;
}

function send(conn, data) {
  if (data.length && connections.has(conn)) parentPort.postMessage({ type: "wire", conn, data }, [data.buffer]);
}

/** An ErrorResponse then ReadyForQuery: what a server answers a statement it refuses. */
function refusal(sqlstate, message) {
  const fields = Buffer.from(`SERROR\0VERROR\0C${sqlstate}\0M${message}\0\0`, "utf8");
  const error = Buffer.alloc(5);
  error.write("E", 0);
  error.writeInt32BE(4 + fields.length, 1);
  const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]); // 'Z', length 5, idle
  return new Uint8Array(Buffer.concat([error, fields, ready]));
}

function next() {
  if (owner === null) return queue.shift();
  const i = queue.findIndex((s) => s.conn === owner);
  return i < 0 ? undefined : queue.splice(i, 1)[0];
}

async function drain() {
  if (running) return;
  running = true;
  try {
    for (let s = next(); s; s = next()) {
      if (s.conn === MAINTENANCE) {
        await maintain(s);
        continue;
      }
      if (!connections.has(s.conn)) continue;
      statementsSinceMaintenance++;
      if (++statementsRun >= replanAt && owner === null) await replan();
      let answer;
      try {
        if (beginning.delete(s.conn)) await run(BEGIN);
        const t0 = statementStats ? performance.now() : 0;
        const prepared = withPreparedStatement(s.bytes);
        answer = await run(prepared ? prepared.bytes : s.bytes);
        if (prepared) answer = await settlePrepared(prepared, answer, s.bytes);
        if (statementStats) recordStatement(s.bytes, performance.now() - t0);
      } catch (err) {
        // PGlite answers SQL errors in the protocol; a throw here means the session is broken.
        connections.delete(s.conn);
        parentPort.postMessage({ type: "failed", conn: s.conn, message: err instanceof Error ? err.message : String(err) });
        if (owner === s.conn) await endTransactionOf(s.conn);
        continue;
      }
      owner = db.isInTransaction() ? s.conn : null;
      try {
        send(s.conn, answer);
      } catch (err) {
        parentPort.postMessage({ type: "failed", conn: s.conn, message: `could not answer: ${err instanceof Error ? err.message : String(err)}` });
      }
    }
  } finally {
    running = false;
  }
  if (stopping && !queue.length) stopped?.();
}

/**
 * PGlite's raw answer to protocol bytes. Through execProtocolRawStream: execProtocolRaw also
 * parses every answer into result objects that it keeps (a leak on a long-lived session).
 */
async function run(bytes) {
  const chunks = [];
  let size = 0;
  await db.execProtocolRawStream(bytes, {
    onRawData: (chunk) => {
      chunks.push(chunk.slice());
      size += chunk.length;
    },
  });
  if (chunks.length === 1) return chunks[0];
  const answer = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    answer.set(chunk, at);
    at += chunk.length;
  }
  return answer;
}

/**
 * Prepared statements. The driver sends every statement with parameters as an unnamed one:
 * Parse (the SQL text), Bind (the values), Describe, Execute, Sync; so PostgreSQL parses and
 * analyses the same text again each time, about half of PGlite's time for a short statement
 * (measured: a primary-key select 47 -> 19 µs, an update by id 78 -> 35 µs, an insert 53 -> 34 µs).
 * Here a text seen a second time becomes a named statement of the session: its Parse goes once,
 * with a name, and from then on the Bind names it, the Parse is left out, and its ParseComplete
 * is put back at the head of the answer, so the driver sees exactly what it asked for. A Parse
 * that fails (an aborted transaction, say) names nothing: only a ParseComplete makes the entry.
 * Statements survive a rollback (they belong to the session, not the transaction). Any DDL
 * forgets them all (a changed table could change a statement's result columns); should a named
 * statement still fail to bind (SQLSTATE 26000, 0A000), it is forgotten and, outside a
 * transaction, the original bytes run instead. At most PREPARED_LIMIT are ever named. Named
 * statements get generic plans after their fifth run; the claims of work queues keep custom
 * plans (UNPLANNABLE). The server mode (a real PostgreSQL) is not concerned: none of this runs there.
 */
/** ~10 KB of the session's memory each (measured; more once a generic plan is kept): 20-40 MB at most. */
const PREPARED_LIMIT = 2000;
const MAX_PREPARED_TEXT = 8192;
/** Parse body (SQL text and parameter types, as latin1) -> the statement's name. */
const preparedNames = new Map();
/** Parse body -> times seen while not yet named (cleared when it grows past 20,000 texts). */
const sightings = new Map();
let preparedCount = 0;
const PARSE_COMPLETE = Buffer.from([0x31, 0, 0, 0, 4]);
/**
 * Statements left unnamed: a queue's claim (SELECT ... FOR UPDATE SKIP LOCKED under a LIMIT), and
 * any statement that says so in a comment (`/* custom plan *\/`: the embedded relay's claim, a
 * plain SELECT). A named statement gets a generic plan after five runs, and the outbox relay's
 * claim (its NOT EXISTS over earlier rows of the same key) took 47 ms with it instead of 3.7 ms;
 * the embedded claim without FOR UPDATE, 61 ms.
 */
const UNPLANNABLE = /\bfor\s+update\b|\/\*\s*custom plan\s*\*\//i;
/** DDL, or a DO block that may hold some; leading blanks and comments skipped. */
const DDL = /^(?:\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*(create|alter|drop|truncate|comment|reindex|cluster|grant|revoke|do)\b/i;
const isDdl = (text) => DDL.test(text);

function messagesOf(b) {
  const out = [];
  for (let i = 0; i + 5 <= b.length; ) {
    const end = i + 1 + b.readInt32BE(i + 1);
    out.push(b.subarray(i, end));
    i = end;
  }
  return out;
}

function message(type, ...parts) {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

/**
 * The statement rewritten to use a named statement: `{ bytes, key, name, parsed }` (`parsed`:
 * the name exists already and the Parse was left out), or null to run it as it came.
 */
function withPreparedStatement(bytes) {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b[0] === 0x51) {
    if (isDdl(b.toString("utf8", 5, Math.min(b.length, 400)))) forgetPrepared();
    return null;
  }
  // Only the driver's own shape: Parse of the unnamed statement, Bind of it, Describe portal /
  // Execute, Sync.
  if (b[0] !== 0x50 || b[5] !== 0) return null;
  const msgs = messagesOf(b);
  if (msgs.length < 4 || msgs[1][0] !== 0x42 || msgs[msgs.length - 1][0] !== 0x53) return null;
  for (const m of msgs.slice(2, -1)) if (!(m[0] === 0x45 || (m[0] === 0x44 && m[5] === 0x50))) return null;
  const body = msgs[0].subarray(6);
  if (isDdl(body.toString("utf8", 0, Math.min(body.length, 400)))) {
    forgetPrepared();
    return null;
  }
  // A long text is a bulk statement (a seat plan's insert, say): parsing is little of its time,
  // and remembering such texts would cost more memory than it saves.
  if (body.length > MAX_PREPARED_TEXT) return null;
  const bind = msgs[1];
  const portalEnd = bind.indexOf(0, 5);
  if (portalEnd < 0 || bind[portalEnd + 1] !== 0) return null;
  const key = body.toString("latin1");
  let name = preparedNames.get(key);
  const parsed = name !== undefined;
  if (!parsed) {
    const before = sightings.get(key) ?? (UNPLANNABLE.test(key) ? -1 : 0);
    if (before < 0) {
      sightings.set(key, before);
      return null;
    }
    const seen = before + 1;
    if (seen < 2 || preparedCount >= PREPARED_LIMIT) {
      if (sightings.size >= 20_000) sightings.clear();
      sightings.set(key, seen);
      return null;
    }
    sightings.delete(key);
    name = `tf_${++preparedCount}`;
  }
  const nameBytes = Buffer.from(`${name}\0`, "latin1");
  const namedBind = message("B", bind.subarray(5, portalEnd + 1), nameBytes, bind.subarray(portalEnd + 2));
  const rest = msgs.slice(2);
  const out = parsed ? [namedBind, ...rest] : [message("P", nameBytes, body), namedBind, ...rest];
  return { bytes: new Uint8Array(Buffer.concat(out)), key, name, parsed };
}

/** The answer the driver expects, and the bookkeeping of the named statement. */
async function settlePrepared(prepared, answer, original) {
  if (!prepared.parsed) {
    if (answer[0] === 0x31) preparedNames.set(prepared.key, prepared.name);
    return answer;
  }
  if (answer[0] === 0x45) {
    const code = errorCode(answer);
    if (code === "26000" || code === "0A000") {
      preparedNames.delete(prepared.key);
      if (!db.isInTransaction()) return run(original);
    }
  }
  const full = new Uint8Array(PARSE_COMPLETE.length + answer.length);
  full.set(PARSE_COMPLETE, 0);
  full.set(answer, PARSE_COMPLETE.length);
  return full;
}

function errorCode(answer) {
  const b = Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength);
  const end = 1 + b.readInt32BE(1);
  for (let i = 5; i < end && b[i] !== 0; ) {
    const stop = b.indexOf(0, i + 1);
    if (b[i] === 0x43) return b.toString("latin1", i + 1, stop);
    i = stop + 1;
  }
  return "";
}

function forgetPrepared() {
  preparedNames.clear();
  sightings.clear();
}

/**
 * Diagnostics (TF_PGLITE_STATS=<file>): every 2 s, writes each statement's count, total and
 * longest time on this thread (PGlite's own work, without the wait in the queue), largest first:
 * one long statement holds up every other caller of the embedded database. The CPU profiles of
 * the bench cover the node's main thread only; this is the other thread's half.
 */
const statementStats = process.env.TF_PGLITE_STATS ? new Map() : null;
if (statementStats) {
  setInterval(() => {
    const rows = [...statementStats].map(([sql, e]) => ({ sql, count: e.count, ms: Math.round(e.ms), maxMs: Math.round(e.maxMs) })).sort((a, b) => b.ms - a.ms);
    fs.writeFileSync(process.env.TF_PGLITE_STATS, JSON.stringify(rows, null, 1));
  }, 2000).unref();
}

/** The statement's text: from its Parse message (extended protocol) or its Query message. */
function statementText(bytes) {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b[0] === 0x51) return b.subarray(5, Math.min(b.length - 1, 205)).toString("utf8");
  if (b[0] !== 0x50) return "(other)";
  const nameEnd = b.indexOf(0, 5);
  const queryEnd = b.indexOf(0, nameEnd + 1);
  return b.subarray(nameEnd + 1, Math.min(queryEnd, nameEnd + 201)).toString("utf8");
}

function recordStatement(bytes, ms) {
  const sql = statementText(bytes);
  const e = statementStats.get(sql) ?? { count: 0, ms: 0, maxMs: 0 };
  e.count++;
  e.ms += ms;
  e.maxMs = Math.max(e.maxMs, ms);
  statementStats.set(sql, e);
}

/** A simple-protocol Query message. */
function simpleQuery(sql) {
  const text = Buffer.from(`${sql}\0`, "utf8");
  const head = Buffer.alloc(5);
  head.write("Q", 0);
  head.writeInt32BE(4 + text.length, 1);
  return new Uint8Array(Buffer.concat([head, text]));
}

/** Drops every cached plan (see REPLAN_AFTER); the next drop comes after twice as many statements. */
async function replan() {
  replanStep *= 2;
  replanAt = statementsRun + replanStep;
  const t0 = statementStats ? performance.now() : 0;
  try {
    await run(new Uint8Array(DISCARD_PLANS));
  } catch (err) {
    process.emitWarning(`embedded database replanning: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (statementStats) recordStatement(DISCARD_PLANS, performance.now() - t0);
}

/**
 * One step of a maintenance round: the first lists the tables, each next one vacuums one table;
 * then the round goes to the back of the queue, behind the statements waiting now. A table
 * dropped meanwhile only makes its VACUUM answer an error, which nobody reads.
 */
async function maintain(round) {
  try {
    if (stopping) return;
    if (!round.statements) {
      const { rows } = await db.query(TABLES);
      round.statements = rows.map((r) => `VACUUM ${r.name}`);
    } else {
      const query = simpleQuery(round.statements.shift());
      const t0 = statementStats ? performance.now() : 0;
      await run(query);
      if (statementStats) recordStatement(query, performance.now() - t0);
    }
  } catch (err) {
    round.statements = [];
    process.emitWarning(`embedded database maintenance: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!stopping && round.statements?.length) queue.push(round);
  else {
    maintaining = false;
    // A table vacuumed while small is planned small again: drop plans early as it grows.
    replanStep = REPLAN_AFTER;
    replanAt = statementsRun + REPLAN_AFTER;
  }
}

setInterval(() => {
  if (stopping || maintaining || statementsSinceMaintenance === 0) return;
  statementsSinceMaintenance = 0;
  maintaining = true;
  queue.push({ conn: MAINTENANCE, at: Date.now() });
  void drain();
}, MAINTENANCE_MS).unref();

async function endTransactionOf(conn) {
  if (owner !== conn) return;
  if (db.isInTransaction()) await run(ROLLBACK);
  owner = null;
}

/** Statements stuck behind another connection's transaction for too long are refused. */
setInterval(() => {
  if (owner === null) return;
  const now = Date.now();
  for (let i = queue.length - 1; i >= 0; i--) {
    const s = queue[i];
    if (s.conn === owner || s.conn === MAINTENANCE || now - s.at < WAIT_LIMIT_MS) continue;
    queue.splice(i, 1);
    send(s.conn, refusal("55P03", `waited ${Math.round((now - s.at) / 1000)} s for another connection's transaction (embedded database)`));
  }
}, 1000).unref();

parentPort.on("message", (message) => {
  const { type, conn } = message ?? {};
  if (type === "wire") {
    if (stopping) return;
    let state = connections.get(conn);
    if (!state) {
      state = { pending: Buffer.alloc(0), started: false };
      connections.set(conn, state);
    }
    const data = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
    state.pending = state.pending.length ? Buffer.concat([state.pending, data]) : data;
    const bytes = completeMessages(state);
    if (!bytes) return;
    if (bytes.equals(BEGIN) && owner !== conn && !beginning.has(conn)) {
      beginning.add(conn);
      send(conn, BEGUN.slice());
      return;
    }
    queue.push({ conn, bytes: new Uint8Array(bytes), at: Date.now() });
    void drain();
  } else if (type === "close") {
    connections.delete(conn);
    beginning.delete(conn);
    for (let i = queue.length - 1; i >= 0; i--) if (queue[i].conn === conn) queue.splice(i, 1);
    // A connection that dies inside its transaction (the pool drops it after an error) must not
    // leave the session in it: roll back once its running statement (if any) has finished.
    const settle = async () => {
      while (running) await new Promise((r) => setImmediate(r));
      await endTransactionOf(conn);
      void drain();
    };
    void settle();
  } else if (type === "stop") {
    stopping = true;
    void (async () => {
      if (running || queue.length) await new Promise((r) => (stopped = r));
      try {
        await db.close();
      } finally {
        parentPort.postMessage({ type: "stopped" });
      }
    })();
  }
});
