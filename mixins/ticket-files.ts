/**
 * Rendering and storing ticket PDFs (plain functions over knex), shared by the PDF worker (services/ticket-pdf.service.ts,
 * which renders from the durable `tickets.issued` event) and the tickets service (which renders on
 * demand when a buyer asks before the worker got there). Files are stored by ticket id in
 * `ticket_files`, so any node serves them and nothing is ever addressed by a file name.
 *
 * Event, session and venue names come from the catalog tables (read-only; shared/CONTRACTS.md).
 */
import type { Knex } from "knex";
import { renderTicketPdf, TicketDocument } from "../src/domain/ticket-pdf";

interface TicketDocumentRow {
  id: string;
  code: string;
  seat_label: string;
  category: string | null;
  holder_name: string;
  event_title: string | null;
  starts_at: Date | string | null;
  venue_name: string | null;
  venue_address: string | null;
}

/** The documents of those tickets that have no stored PDF yet. */
export async function loadUnrenderedTicketDocuments(db: Knex, ticketIds: string[]): Promise<TicketDocument[]> {
  if (!ticketIds.length) return [];
  const rows: TicketDocumentRow[] = await db("tickets as t")
    .leftJoin("ticket_files as f", "f.ticket_id", "t.id")
    .whereNull("f.ticket_id")
    .leftJoin("sessions as s", "s.id", "t.session_id")
    .leftJoin("events as e", "e.id", "s.event_id")
    .leftJoin("venues as v", "v.id", "s.venue_id")
    .whereIn("t.id", ticketIds)
    .select("t.id", "t.code", "t.seat_label", "t.category", "t.holder_name",
      "e.title as event_title", "s.starts_at", "v.name as venue_name", "v.address as venue_address");
  return rows.map((r) => ({
    ticketId: r.id,
    code: r.code,
    eventTitle: r.event_title ?? "TicketFlash event",
    startsAt: r.starts_at ? new Date(r.starts_at).toISOString() : null,
    venueName: r.venue_name,
    venueAddress: r.venue_address,
    seatLabel: r.seat_label,
    category: r.category,
    holderName: r.holder_name,
  }));
}

export interface RenderedPdf {
  ticketId: string;
  pdf: Buffer;
}

/**
 * Renders the PDFs of those tickets that have none stored yet, holding no transaction: the CPU
 * work must not hold up the embedded database's one session (the PDF worker renders in its
 * `prepare` step, then stores in one statement).
 */
export async function renderPdfs(db: Knex, ticketIds: string[]): Promise<RenderedPdf[]> {
  const out: RenderedPdf[] = [];
  for (const doc of await loadUnrenderedTicketDocuments(db, ticketIds)) out.push({ ticketId: doc.ticketId, pdf: await renderInTurn(doc) });
  return out;
}

let renderLane: Promise<unknown> = Promise.resolve();

/**
 * PDFs render one at a time on this thread, each after the event loop has polled for I/O
 * (setImmediate). A render is CPU work of a millisecond or two that finishes within one task;
 * the PDF worker starts up to 16 orders' renders at once, and run back to back they kept the
 * event loop from everything else for 60-120 ms, database answers included (and a transaction
 * waiting for its next answer holds up every other statement on the embedded database).
 */
function renderInTurn(doc: TicketDocument): Promise<Buffer> {
  const rendered = renderLane.then(() => new Promise<void>((r) => setImmediate(r))).then(() => renderTicketPdf(doc));
  renderLane = rendered.catch(() => undefined);
  return rendered;
}

/** The insert of rendered PDFs by ticket id; two workers racing on one ticket both render and the first insert wins. */
export function storePdfsQuery(db: Knex, rendered: RenderedPdf[]) {
  return db("ticket_files")
    .insert(rendered.map((r) => ({ ticket_id: r.ticketId, content_type: "application/pdf", content: r.pdf, size: r.pdf.length })))
    .onConflict("ticket_id").ignore().returning("ticket_id");
}

/**
 * Renders and stores the PDFs of those tickets that have none yet (on demand, outside any
 * transaction). Returns the renderings that were stored: a ticket whose file another render
 * stored first (or meanwhile) is not among them, and its file is the stored one.
 */
export async function renderMissingPdfs(db: Knex, ticketIds: string[]): Promise<RenderedPdf[]> {
  const rendered = await renderPdfs(db, ticketIds);
  if (!rendered.length) return [];
  const stored = new Set((await storePdfsQuery(db, rendered)).map((r: { ticket_id: string }) => r.ticket_id));
  return rendered.filter((r) => stored.has(r.ticketId));
}

export async function readTicketPdf(db: Knex, ticketId: string): Promise<Buffer | undefined> {
  const row = await db("ticket_files").where({ ticket_id: ticketId }).first("content");
  return row?.content as Buffer | undefined;
}
