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

/** One PDF thread and the renders it owes. */
class PdfThread {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private alive = true;
  /** Stopped on purpose (stopPdfRenderer): its exit is no failure. */
  stopping = false;

  private constructor(private readonly w: Worker) {}

  /** A started thread, or null if it could not start. */
  static start(): Promise<PdfThread | null> {
    return new Promise((resolve) => {
      let w: Worker;
      try {
        // No execArgv: the thread needs neither a bench's preloads nor a test runner's flags.
        w = new Worker(path.resolve(__dirname, "pdf-worker.mjs"), { execArgv: [] });
      } catch {
        failures++;
        return resolve(null);
      }
      const thread = new PdfThread(w);
      let ready = false;
      w.on("message", (m: { type?: string; id?: number; pdf?: Uint8Array; error?: string }) => {
        if (m.type === "ready") {
          ready = true;
          // Idle, the thread does not keep the process alive.
          w.unref();
          return resolve(thread);
        }
        thread.answer(m);
      });
      const down = (err: Error) => {
        if (!thread.alive) return;
        thread.down(err);
        if (!ready) resolve(null);
      };
      w.on("error", down);
      w.on("exit", (code) => down(new Error(`PDF thread exited (${code})`)));
    });
  }

  get usable() {
    return this.alive && !this.stopping;
  }

  render(doc: TicketDocument): Promise<Buffer> {
    const id = this.nextId++;
    const answer = new Promise<Buffer>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    // Referenced while a render is out, so the process waits for its answer.
    if (this.pending.size === 1) this.w.ref();
    this.w.postMessage({ id, doc });
    return answer;
  }

  stop(): Promise<number> {
    this.stopping = true;
    return this.w.terminate();
  }

  private answer(m: { id?: number; pdf?: Uint8Array; error?: string }) {
    const p = m.id === undefined ? undefined : this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id!);
    if (this.pending.size === 0) this.w.unref();
    if (m.pdf) p.resolve(Buffer.from(m.pdf.buffer, m.pdf.byteOffset, m.pdf.byteLength));
    else p.reject(new Error(m.error ?? "PDF thread gave no answer"));
  }

  private down(err: Error) {
    this.alive = false;
    if (!this.stopping) failures++;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

let failures = 0;
/** The thread being started or running (it may have gone down since: see renderPdf). */
let current: Promise<PdfThread | null> | undefined;

let lane: Promise<unknown> = Promise.resolve();

/** On this thread, one at a time, each after the event loop has polled for I/O. */
function renderHere(doc: TicketDocument): Promise<Buffer> {
  const rendered = lane.then(() => new Promise<void>((r) => setImmediate(r))).then(() => renderTicketPdf(doc));
  lane = rendered.catch(() => undefined);
  return rendered;
}

export async function renderPdf(doc: TicketDocument): Promise<Buffer> {
  if (process.env.TF_PDF_THREAD === "0" || failures >= MAX_THREAD_FAILURES) return renderHere(doc);
  const asked = (current ??= PdfThread.start());
  const t = await asked;
  // None, or it went down (or is being stopped): render here; the next render starts a new one.
  if (!t || !t.usable) {
    if (current === asked) current = undefined;
    return renderHere(doc);
  }
  // A thread that dies with this render on it: render it here instead.
  return t.render(doc).catch(() => renderHere(doc));
}

/** Where renders go now: "thread" once the PDF thread is up, else "here" (this thread). */
export async function pdfRendererState(): Promise<"thread" | "here"> {
  const t = await current;
  return t?.usable ? "thread" : "here";
}

/** Stops the thread (tests, shutdown); the next render starts it again. */
export async function stopPdfRenderer(): Promise<void> {
  const t = await current;
  current = undefined;
  if (t) await t.stop();
}
