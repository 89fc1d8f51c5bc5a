/**
 * Ticket PDFs rendered on a thread of their own (src/platform/pdf-renderer.ts has the other end).
 * A render is a millisecond or two of pure CPU (pdfkit, the QR, zlib); on the node's main thread
 * it was a fifth of that thread's work in a flash sale, and the main thread was the one at its
 * limit while the machine's second core had room. Here renders run beside the event loop.
 *
 * Plain JavaScript, as the embedded database's thread: a worker starts without the TypeScript
 * loader, so it loads tsx itself to reuse src/domain/ticket-pdf.ts.
 * Messages in:  {id, doc} (a TicketDocument). Messages out: {type: "ready"}, {id, pdf} or {id, error}.
 */
import os from "node:os";
import process from "node:process";
import { parentPort } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { require as tsxRequire } from "tsx/cjs/api";

// Background work: when the cores are all busy, the event loop and the database thread go
// first (on Linux the nice value is per thread; elsewhere this may be refused, and is harmless).
const NICE = Number(process.env.TF_PDF_NICE ?? 10);
try {
  os.setPriority(NICE);
} catch {
  // not permitted here: render at normal priority
}

const { renderTicketPdf } = tsxRequire("../domain/ticket-pdf.ts", fileURLToPath(import.meta.url));

parentPort.on("message", async ({ id, doc }) => {
  try {
    const pdf = await renderTicketPdf(doc);
    parentPort.postMessage({ id, pdf: new Uint8Array(pdf.buffer, pdf.byteOffset, pdf.byteLength) });
  } catch (err) {
    parentPort.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
parentPort.postMessage({ type: "ready" });
