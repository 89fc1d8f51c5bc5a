/**
 * Renders ticket PDFs on a thread of their own (src/platform/pdf-worker.mjs), started on first
 * use and shared by every service of the process. If the thread cannot start or dies, renders
 * fall back to this thread (the same code, one at a time between I/O polls), so a PDF is never
 * lost to the plumbing. TF_PDF_THREAD=0 renders on this thread from the start.
 */
import path from "path";
import { Worker } from "worker_threads";
import { renderTicketPdf, TicketDocument } from "../domain/ticket-pdf";

type Pending = { resolve: (pdf: Buffer) => void; reject: (err: Error) => void };

/** Failures to start (or crashes) after which this process renders on its main thread for good. */
const MAX_THREAD_FAILURES = 3;

let worker: Promise<Worker | null> | undefined;
/** Threads stopped on purpose (stopPdfRenderer): their exit is no failure. */
const stopped = new WeakSet<Worker>();
let failures = 0;
let nextId = 1;
const pending = new Map<number, Pending>();

function startWorker(): Promise<Worker | null> {
  return new Promise((resolve) => {
    let w: Worker;
    try {
      // No execArgv: the thread needs neither a bench's preloads nor a test runner's flags.
      w = new Worker(path.resolve(__dirname, "pdf-worker.mjs"), { execArgv: [] });
    } catch {
      failures++;
      return resolve(null);
    }
    let ready = false;
    const down = (err: Error) => {
      if (!stopped.has(w)) failures++;
      if (!stopped.has(w)) worker = undefined;
      for (const [id, p] of pending) {
        pending.delete(id);
        p.reject(err);
      }
      if (!ready) resolve(null);
    };
    w.on("message", (m: { type?: string; id?: number; pdf?: Uint8Array; error?: string }) => {
      if (m.type === "ready") {
        ready = true;
        // Idle, the thread does not keep the process alive.
        w.unref();
        return resolve(w);
      }
      const p = m.id === undefined ? undefined : pending.get(m.id);
      if (!p) return;
      pending.delete(m.id!);
      if (m.pdf) p.resolve(Buffer.from(m.pdf.buffer, m.pdf.byteOffset, m.pdf.byteLength));
      else p.reject(new Error(m.error ?? "PDF thread gave no answer"));
    });
    w.on("error", (err) => down(err));
    w.on("exit", (code) => down(new Error(`PDF thread exited (${code})`)));
  });
}

let lane: Promise<unknown> = Promise.resolve();

/** On this thread, one at a time, each after the event loop has polled for I/O. */
function renderHere(doc: TicketDocument): Promise<Buffer> {
  const rendered = lane.then(() => new Promise<void>((r) => setImmediate(r))).then(() => renderTicketPdf(doc));
  lane = rendered.catch(() => undefined);
  return rendered;
}

export async function renderPdf(doc: TicketDocument): Promise<Buffer> {
  if (process.env.TF_PDF_THREAD === "0" || failures >= MAX_THREAD_FAILURES) return renderHere(doc);
  worker ??= startWorker();
  const w = await worker;
  if (!w) {
    worker = undefined;
    return renderHere(doc);
  }
  const id = nextId++;
  const answer = new Promise<Buffer>((resolve, reject) => pending.set(id, { resolve, reject }));
  // Referenced while a render is out, so the process waits for its answer.
  if (pending.size === 1) w.ref();
  void answer.finally(() => pending.size === 0 && w.unref()).catch(() => undefined);
  w.postMessage({ id, doc });
  // A thread that died with this render on it: render it here instead.
  return answer.catch(() => renderHere(doc));
}

/** Where renders go now: "thread" once the PDF thread is up, else "here" (this thread). */
export async function pdfRendererState(): Promise<"thread" | "here"> {
  return (await worker) ? "thread" : "here";
}

/** Stops the thread (tests, shutdown); the next render starts it again. */
export async function stopPdfRenderer(): Promise<void> {
  const w = await worker;
  worker = undefined;
  if (!w) return;
  stopped.add(w);
  await w.terminate();
}
