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

export async function loadTicketDocuments(db: Knex, ticketIds: string[]): Promise<TicketDocument[]> {
  if (!ticketIds.length) return [];
  const rows: TicketDocumentRow[] = await db("tickets as t")
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

/**
 * Renders the PDFs of those tickets that have none yet and stores them. Rendering happens
 * outside any transaction (the embedded database has one connection); two workers racing on the
 * same ticket both render and the first insert wins, which is harmless.
 */
export async function renderMissingPdfs(db: Knex, ticketIds: string[]): Promise<number> {
  if (!ticketIds.length) return 0;
  const have = new Set((await db("ticket_files").whereIn("ticket_id", ticketIds).pluck("ticket_id")) as string[]);
  const missing = ticketIds.filter((id) => !have.has(id));
  let stored = 0;
  for (const doc of await loadTicketDocuments(db, missing)) {
    const pdf = await renderTicketPdf(doc);
    const inserted = await db("ticket_files")
      .insert({ ticket_id: doc.ticketId, content_type: "application/pdf", content: pdf, size: pdf.length })
      .onConflict("ticket_id").ignore().returning("ticket_id");
    stored += inserted.length;
  }
  return stored;
}

export async function readTicketPdf(db: Knex, ticketId: string): Promise<Buffer | undefined> {
  const row = await db("ticket_files").where({ ticket_id: ticketId }).first("content");
  return row?.content as Buffer | undefined;
}
