/**
 * The PDF worker (the design's "function service"): stateless, so it can run on nodes of its own
 * (`npm run node -- ticket-pdf`). It consumes the durable `tickets.issued` event, renders each
 * ticket's PDF (before its transaction opens), stores it by ticket id in `ticket_files` (any node can then serve it), publishes
 * `tickets.rendered` for the order and tells the buyer's socket with `tickets.ready`.
 *
 * A redelivered `tickets.issued` renders nothing twice (the stored files are skipped) but
 * publishes `tickets.rendered` again; its consumers are idempotent.
 */
import type { ServiceSchema } from "moleculer";
import { DbMixin } from "../mixins/db.mixin";
import { durable, OutboxMixin, writeOutbox } from "../mixins/outbox.mixin";
import { RenderedPdf, renderPdfs, storePdfs } from "../mixins/ticket-files";
import { Channels, TicketsIssued } from "../channels";

const TicketPdfService: ServiceSchema = {
  name: "ticket-pdf",
  mixins: [DbMixin, OutboxMixin],

  channels: {
    [Channels.TICKETS_ISSUED]: durable<TicketsIssued>(async function (this: any, issued, trx, _message, rendered: RenderedPdf[]) {
      await storePdfs(trx, rendered);
      await writeOutbox(trx, Channels.TICKETS_RENDERED, { orderId: issued.orderId, userId: issued.userId, ticketIds: issued.ticketIds }, { key: issued.orderId });
      // Only once the files are committed may the buyer's browser come and fetch them.
      trx.executionPromise.then(() => {
        for (const ticketId of issued.ticketIds) this.broker.emit("tickets.ready", { ticketId, orderId: issued.orderId, userId: issued.userId });
      }, () => undefined);
    }, {
      group: "ticket-pdf",
      // Rendering is CPU work: done before the transaction opens, not while it holds a connection.
      prepare(this: any, issued: TicketsIssued) {
        return renderPdfs(this.db, issued.ticketIds);
      },
    }),
  },
};

export default TicketPdfService;
