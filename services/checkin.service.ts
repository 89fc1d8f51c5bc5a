/**
 * Check-in at the door. The scanned code's signature is verified first, so a forged or altered
 * code never reaches the database; then one conditional UPDATE marks the ticket used, so two
 * scanners scanning the same ticket at the same moment admit it exactly once.
 */
import type { Knex } from "knex";
import type { ServiceSchema } from "moleculer";
import { DbMixin } from "../mixins/db.mixin";
import { verifyTicketCode } from "../src/domain/ticket-code";
import { AuthContext, currentUser } from "../src/platform/auth";
import { ApiError } from "../src/platform/errors";
import { TicketRow, ticketRevoked, ticketView } from "./tickets.service";

const unknownTicket = () => new ApiError(404, "UNKNOWN_TICKET", "This code is not a TicketFlash ticket.");

const CheckinService: ServiceSchema = {
  name: "checkin",
  mixins: [DbMixin],
  settings: { rest: "/" },

  actions: {
    scan: {
      rest: "POST /checkin",
      roles: ["scanner"],
      params: { code: { type: "string", min: 1, max: 1024 } },
      async handler(this: any, ctx: AuthContext<{ code: string }>) {
        const scanner = currentUser(ctx);
        const verified = verifyTicketCode(ctx.params.code, this.platform.secrets.ticketPublicKey);
        if (!verified.valid) throw unknownTicket();
        const db: Knex = this.db;
        // The stored code must be the scanned one too: a ticket is only ever admitted by its own code.
        const match = { id: verified.claims.ticketId, code: ctx.params.code };
        const [used]: TicketRow[] = await db("tickets").where({ ...match, status: "VALID" })
          .update({ status: "USED", used_at: db.fn.now(), used_by: scanner.id }).returning("*");
        if (used) {
          return { ticket: ticketView(used), session: await this.sessionView(used), seat: { id: used.seat_id, label: used.seat_label, category: used.category } };
        }
        const ticket: TicketRow | undefined = await db("tickets").where(match).first();
        if (!ticket) throw unknownTicket();
        if (ticket.status === "REVOKED") throw ticketRevoked(ticket.id);
        throw new ApiError(409, "ALREADY_CHECKED_IN", "This ticket was already checked in.", {
          ticketId: ticket.id,
          checkedInAt: ticket.used_at ? new Date(ticket.used_at).toISOString() : null,
          seatLabel: ticket.seat_label,
        });
      },
    },
  },

  methods: {
    async sessionView(this: any, ticket: TicketRow) {
      const row = await (this.db as Knex)("sessions as s")
        .leftJoin("events as e", "e.id", "s.event_id")
        .leftJoin("venues as v", "v.id", "s.venue_id")
        .where("s.id", ticket.session_id)
        .first("s.id", "s.starts_at", "s.ends_at", "s.event_id", "e.title as event_title", "v.name as venue_name");
      if (!row) return { id: ticket.session_id };
      return {
        id: row.id,
        eventId: row.event_id,
        eventTitle: row.event_title,
        venueName: row.venue_name,
        startsAt: new Date(row.starts_at).toISOString(),
        endsAt: new Date(row.ends_at).toISOString(),
      };
    },
  },
};

export default CheckinService;
