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
 * statement travel as one message, PGlite runs them in one call (as a server reads them from
 * one packet), and the answer comes back as one message.
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
import { parentPort, workerData } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";

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

/**
 * PGlite has one session. The node's pool holds one connection at a time, but a connection can
 * die (the pool destroys it after an error) while it is inside a transaction: the next one must
 * not inherit that transaction, so whoever owned the session last has it rolled back.
 */
const connections = new Map(); // conn id -> { pending: Buffer, started: boolean }
let owner = null;
let work = Promise.resolve();
let stopping = false;

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

async function rollBackIfOwnedBy(conn) {
  if (owner === conn && db.isInTransaction()) await db.exec("ROLLBACK");
  if (owner === conn) owner = null;
}

async function onWire(conn, data) {
  let state = connections.get(conn);
  if (!state) {
    state = { pending: Buffer.alloc(0), started: false };
    connections.set(conn, state);
  }
  state.pending = state.pending.length ? Buffer.concat([state.pending, Buffer.from(data)]) : Buffer.from(data);
  const messages = completeMessages(state);
  if (!messages) return;
  if (owner !== null && owner !== conn) await rollBackIfOwnedBy(owner);
  owner = conn;
  // A copy: PGlite reads the bytes while the next message may already be arriving.
  const answer = await db.execProtocolRaw(new Uint8Array(messages));
  if (answer.length && connections.has(conn)) parentPort.postMessage({ type: "wire", conn, data: answer }, [answer.buffer]);
}

parentPort.on("message", (message) => {
  const { type, conn } = message ?? {};
  if (type === "wire") {
    if (stopping) return;
    work = work.then(() => onWire(conn, message.data)).catch((err) => {
      connections.delete(conn);
      parentPort.postMessage({ type: "failed", conn, message: err instanceof Error ? err.message : String(err) });
    });
  } else if (type === "close") {
    work = work.then(async () => {
      connections.delete(conn);
      await rollBackIfOwnedBy(conn);
    }).catch(() => undefined);
  } else if (type === "stop") {
    stopping = true;
    work = work.then(async () => {
      try {
        await db.close();
      } finally {
        parentPort.postMessage({ type: "stopped" });
      }
    });
  }
});
