/**
 * Holds over REST (shared/API.md "Holds"): a thin facade that checks who is asking and forwards
 * to the session's seat actor. Making a hold (POST /api/sessions/:id/holds) is the seat actor's
 * own route (services/seats.service.ts `seats.hold`), like the public seat map: the two calls of a
 * sale's rush reach the session's owner in one action call. A hold is visible only to its holder
 * (and admins): anyone else gets 404.
 */
import type { Service, ServiceSchema } from "moleculer";
import { DbMixin, DbThis } from "../mixins/db.mixin";
import { AuthContext, currentUser, hasRole } from "../src/platform/auth";
import { conflict, notFound } from "../src/platform/errors";
import { findHold } from "../src/seats/store";
import { holdJson } from "../src/seats/contract";

const id = { type: "string", min: 1, max: 100 } as const;

type This = Service & DbThis & {
  ownHold(ctx: AuthContext, holdId: string): Promise<NonNullable<Awaited<ReturnType<typeof findHold>>>>;
};

const HoldsService: ServiceSchema = {
  name: "holds",
  mixins: [DbMixin],
  settings: { rest: "/" },

  actions: {
    /** GET /api/holds/:id, and `holds.get({id})` for other services (owner or admin, else 404). */
    get: {
      rest: "GET /holds/:id",
      params: { id },
      async handler(this: This, ctx: AuthContext<{ id: string }>) {
        const hold = await this.ownHold(ctx, ctx.params.id);
        return holdJson(hold.sessionId, hold);
      },
    },

    release: {
      rest: "DELETE /holds/:id",
      params: { id },
      async handler(this: This, ctx: AuthContext<{ id: string }>) {
        const hold = await this.ownHold(ctx, ctx.params.id);
        if (hold.status === "CONFIRMED") throw conflict("HOLD_CONFIRMED", "This hold was bought; cancel the order instead.");
        if (hold.status === "EXPIRED") throw conflict("HOLD_EXPIRED", "The hold has already expired.");
        await ctx.call("seats.release", { sessionId: hold.sessionId, holdId: hold.holdId });
        ctx.meta.$statusCode = 204;
        return null;
      },
    },

    extend: {
      rest: "POST /holds/:id/extend",
      params: { id, seconds: { type: "number", integer: true, min: 1, max: 3600, optional: true } },
      async handler(this: This, ctx: AuthContext<{ id: string; seconds?: number }>) {
        const hold = await this.ownHold(ctx, ctx.params.id);
        return ctx.call("seats.extend", { sessionId: hold.sessionId, holdId: hold.holdId, ...(ctx.params.seconds ? { seconds: ctx.params.seconds } : {}) });
      },
    },

    /** Organizer: take seats off sale (`blocked: true`) or put them back. */
    block: {
      rest: "POST /sessions/:id/blocks",
      roles: ["organizer", "admin"],
      params: { id, seats: { type: "array", min: 1, max: 10_000, items: { type: "string", min: 1, max: 100 } }, blocked: "boolean" },
      async handler(this: This, ctx: AuthContext<{ id: string; seats: string[]; blocked: boolean }>) {
        const user = currentUser(ctx);
        const session = await this.db("sessions as s").join("events as e", "e.id", "s.event_id").where("s.id", ctx.params.id).first("e.organizer_id");
        if (!session || (!hasRole(user, ["admin"]) && session.organizer_id !== user.id)) throw notFound("Session");
        const result = await ctx.call<{ seats: string[] }, unknown>("seats.block", { sessionId: ctx.params.id, seats: ctx.params.seats, blocked: ctx.params.blocked });
        return { sessionId: ctx.params.id, blocked: ctx.params.blocked, changed: result.seats };
      },
    },
  },

  methods: {
    async ownHold(this: This, ctx: AuthContext, holdId: string) {
      const user = currentUser(ctx);
      const hold = await findHold(this.db, holdId);
      if (!hold || (hold.userId !== user.id && !hasRole(user, ["admin"]))) throw notFound("Hold");
      return hold;
    },
  },
};

export default HoldsService;
