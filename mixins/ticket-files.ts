/**
 * Rendering and storing ticket PDFs (plain functions over knex), shared by the PDF worker (services/ticket-pdf.service.ts,
 * which renders from the durable `tickets.issued` event) and the tickets service (which renders on
 * demand when a buyer asks before the worker got there). Files are stored by ticket id in
 * `ticket_files`, so any node serves them and nothing is ever addressed by a file name.
 *
 * Event, session and venue names come from the catalog tables (read-only; shared/CONTRACTS.md).
 */
import type { Knex } from "knex";
import type { ServiceSchema } from "moleculer";
import type { TicketDocument } from "../src/domain/ticket-pdf";
import { renderPdf, stopPdfRenderer } from "../src/platform/pdf-renderer";

/**
 * For the services that render: stopping one stops the process's PDF thread (a render still
 * asked for starts it again). Left running, a stopped node's idle threads held up its exit.
 */
export const PdfRendererMixin: ServiceSchema = {
  name: "",
  async stopped() {
    await stopPdfRenderer();
  },
};

/** The columns of a ticket that go on its PDF. */
export interface TicketPrintRow {
  id: string;
  session_id: string;
  code: string;
  seat_label: string;
  category: string | null;
  holder_name: string;
  /** The PDF's creation date (src/domain/ticket-pdf.ts `issuedAt`). */
  created_at?: Date | string | null;
}

export interface SessionCatalog {
  /** Null when the session or its event is gone: each reader says what it prints instead. */
  eventTitle: string | null;
  startsAt: string | null;
  venueName: string | null;
  venueAddress: string | null;
}

/**
 * How long a session's event title, start and venue are reused for its tickets' PDFs and its
 * confirmation mails. Every ticket and mail of a flash sale prints the same session, and joining
 * the catalog tables into each ticket's read was the most expensive statement of the embedded
 * database in the purchase benchmark (1.2 ms of ~0.35 for the ticket alone). A rename reaches
 * PDFs and mails made after it within this time.
 */
const CATALOG_TTL_MS = 5000;
const catalogs = new Map<string, { at: number; catalog: Promise<SessionCatalog> }>();

export function sessionCatalog(db: Knex, sessionId: string): Promise<SessionCatalog> {
  const now = Date.now();
  const cached = catalogs.get(sessionId);
  if (cached && now - cached.at < CATALOG_TTL_MS) return cached.catalog;
  if (catalogs.size > 1000) for (const [id, c] of catalogs) if (now - c.at >= CATALOG_TTL_MS) catalogs.delete(id);
  const catalog = db("sessions as s")
    .leftJoin("events as e", "e.id", "s.event_id")
    .leftJoin("venues as v", "v.id", "s.venue_id")
    .where("s.id", sessionId)
    .first("e.title", "s.starts_at", "v.name", "v.address")
    .then((r?: { title: string | null; starts_at: Date | string | null; name: string | null; address: string | null }) => ({
      eventTitle: r?.title ?? null,
      startsAt: r?.starts_at ? new Date(r.starts_at).toISOString() : null,
      venueName: r?.name ?? null,
      venueAddress: r?.address ?? null,
    }));
  catalogs.set(sessionId, { at: now, catalog });
  // A failed read is not kept: the next render asks again.
  catalog.catch(() => catalogs.get(sessionId)?.catalog === catalog && catalogs.delete(sessionId));
  return catalog;
}

/** What a ticket's PDF shows: the ticket's own columns and its session's catalog. */
export async function ticketDocument(db: Knex, t: TicketPrintRow): Promise<TicketDocument> {
  const catalog = await sessionCatalog(db, t.session_id);
  return { ticketId: t.id, code: t.code, seatLabel: t.seat_label, category: t.category, holderName: t.holder_name, issuedAt: t.created_at ?? null, ...catalog, eventTitle: catalog.eventTitle ?? "TicketFlash event" };
}

/** The documents of those tickets that have no stored PDF yet. */
export async function loadUnrenderedTicketDocuments(db: Knex, ticketIds: string[]): Promise<TicketDocument[]> {
  if (!ticketIds.length) return [];
  const rows: TicketPrintRow[] = await db("tickets as t")
    .whereIn("t.id", ticketIds)
    .whereNotExists(db("ticket_files as f").select(db.raw("1")).whereRaw("f.ticket_id = t.id"))
    .select("t.id", "t.session_id", "t.code", "t.seat_label", "t.category", "t.holder_name", "t.created_at");
  return Promise.all(rows.map((r) => ticketDocument(db, r)));
}

/** How long a finished render stays shared: the PDF worker stores its files a moment after rendering them. */
export const SHARED_RENDER_GRACE_MS = 2000;
const sharedRenders = new Map<string, Promise<Buffer>>();

/**
 * One rendering of a ticket at a time in this process. A buyer is told of a ticket when it is
 * issued, before its PDF exists, and asks for it at once: the PDF worker and the buyer's GET then
 * race for the same ticket: in the purchase benchmark, 1.20 renders were made per ticket, a
 * second rendering of a ticket whose first was still running or not stored yet (bench/fixes.md,
 * eighteenth round). A render asked for while one is running, or within SHARED_RENDER_GRACE_MS
 * after it finished, gets that one's PDF. A failed render is forgotten at once. Across nodes
 * nothing is shared: the first insert still wins (`storePdfsQuery`).
 */
export function renderShared(ticketId: string, render: () => Promise<Buffer>): Promise<Buffer> {
  const running = sharedRenders.get(ticketId);
  if (running) return running;
  const rendering = render();
  sharedRenders.set(ticketId, rendering);
  const forget = () => {
    if (sharedRenders.get(ticketId) === rendering) sharedRenders.delete(ticketId);
  };
  rendering.then(() => setTimeout(forget, SHARED_RENDER_GRACE_MS).unref(), forget);
  return rendering;
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
  const docs = await loadUnrenderedTicketDocuments(db, ticketIds);
  return Promise.all(docs.map(async (doc) => ({ ticketId: doc.ticketId, pdf: await renderShared(doc.ticketId, () => renderPdf(doc)) })));
}

/** The insert of rendered PDFs by ticket id; renders racing on one ticket from two nodes both run, and the first insert wins. */
export function storePdfsQuery(db: Knex, rendered: RenderedPdf[]) {
  return db("ticket_files")
    .insert(rendered.map((r) => ({ ticket_id: r.ticketId, content_type: "application/pdf", content: r.pdf, size: r.pdf.length })))
    .onConflict("ticket_id").ignore().returning("ticket_id");
}

/**
 * The on-demand render of one ticket the caller has already read (GET /tickets/:id/pdf before
 * the worker got there): renders it and stores it; answers the stored file, which is this
 * rendering unless another one was stored first.
 */
export async function renderTicketPdfNow(db: Knex, ticket: TicketPrintRow): Promise<Buffer | undefined> {
  const rendered = { ticketId: ticket.id, pdf: await renderShared(ticket.id, async () => renderPdf(await ticketDocument(db, ticket))) };
  const stored = await storePdfsQuery(db, [rendered]);
  return stored.length ? rendered.pdf : readTicketPdf(db, ticket.id);
}

export async function readTicketPdf(db: Knex, ticketId: string): Promise<Buffer | undefined> {
  const row = await db("ticket_files").where({ ticket_id: ticketId }).first("content");
  return row?.content as Buffer | undefined;
}
