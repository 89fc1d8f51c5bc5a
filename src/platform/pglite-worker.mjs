/**
 * Embedded PostgreSQL on its own thread: PGlite (WASM) plus the pglite-socket server that speaks
 * the PostgreSQL wire protocol on a loopback port, so the node reaches it through the ordinary
 * `pg` driver (src/platform/database.ts). On the node's main thread PGlite took a third of the
 * CPU of a flash sale (every query runs synchronously in WASM); here it runs beside the event
 * loop on the second core.
 *
 * Plain JavaScript on purpose: a worker starts without the TypeScript loader, in tests too.
 * Messages: -> {type: "ready", port} | {type: "error", message}; <- {type: "stop"} -> {type: "stopped"}.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { parentPort, workerData } from "node:worker_threads";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

let db;
let server;
try {
  let dataDir;
  if (workerData.dataDir !== "memory") {
    dataDir = path.join(workerData.dataDir, "pg");
    fs.mkdirSync(dataDir, { recursive: true });
  }
  db = await PGlite.create(dataDir ? { dataDir } : {});
  server = new PGLiteSocketServer({ db, port: 0, host: "127.0.0.1" });
  await server.start();
  const port = server.server?.address()?.port;
  if (!port) throw new Error("pglite-socket did not report its port");
  parentPort.postMessage({ type: "ready", port });
} catch (err) {
  parentPort.postMessage({ type: "error", message: err instanceof Error ? err.stack ?? err.message : String(err) });
  await db?.close().catch(() => undefined);
  process.exit(1);
}

parentPort.on("message", async (message) => {
  if (message?.type !== "stop") return;
  try {
    await server.stop();
    await db.close();
  } finally {
    parentPort.postMessage({ type: "stopped" });
  }
});
