/**
 * The PDF worker (the design's "function service"): stateless, so it can run on nodes of its own
 * (`npm run node -- ticket-pdf`). It consumes the durable `tickets.issued` event, renders each
 * ticket's PDF (before its transaction opens), stores it by ticket id in `ticket_files` (any node can then serve it) and publishes
 * `tickets.rendered` for the order (the confirmation mail waits for it). The buyer's socket was
 * told at issuance (services/tickets.service.ts): a PDF not stored yet renders on demand.
 *
 * A redelivered `tickets.issued` renders nothing twice (the stored files are skipped) but
 * publishes `tickets.rendered` again; its consumers are idempotent. So this consumer needs no
 * inbox: the files and the event are written in one statement.
 */
import type { ServiceSchema } from "moleculer";
import { DbMixin } from "../mixins/db.mixin";
import { durable, OutboxMixin, outboxInsert } from "../mixins/outbox.mixin";
import { PdfRendererMixin, RenderedPdf, renderPdfs, storePdfsQuery } from "../mixins/ticket-files";
import { Channels, TicketsIssued } from "../channels";

const TicketPdfService: ServiceSchema = {
  name: "ticket-pdf",
  mixins: [DbMixin, OutboxMixin, PdfRendererMixin],

  channels: {
    [Channels.TICKETS_ISSUED]: durable<TicketsIssued>(async function (this: any, issued, db, _message, rendered: RenderedPdf[]) {
      // The files and `tickets.rendered` in one statement (no inbox, no transaction): a stored
      // file is never stored twice, and a repeated `tickets.rendered` changes nothing downstream.
      const event = outboxInsert(db, Channels.TICKETS_RENDERED, { orderId: issued.orderId, userId: issued.userId, ticketIds: issued.ticketIds }, { key: issued.orderId });
      let seq: number;
      if (rendered.length) {
        const files = storePdfsQuery(db, rendered).toSQL();
        const outbox = event.toSQL();
        const { rows } = await db.raw<{ rows: Array<{ seq: number }> }>(`WITH stored AS (${files.sql}) ${outbox.sql}`, [...files.bindings, ...outbox.bindings]);
        seq = rows[0].seq;
      } else [{ seq }] = await event;
      event.committed(seq);
    }, {
      group: "ticket-pdf",
      inbox: false,
      // Rendering is CPU work: done first, so that no statement waits on it.
      prepare(this: any, issued: TicketsIssued) {
        return renderPdfs(this.db, issued.ticketIds);
      },
    }),
  },
};

export default TicketPdfService;
