/** The hold object of shared/CONTRACTS.md, as every action and route answers it. */
import type { HoldView } from "../domain/seat-map";

export function holdJson(sessionId: string, h: Pick<HoldView, "holdId" | "userId" | "seats" | "items" | "expiresAt" | "status">, now = Date.now()) {
  return {
    holdId: h.holdId,
    sessionId,
    userId: h.userId,
    seats: h.seats,
    items: h.items,
    expiresAt: new Date(h.expiresAt).toISOString(),
    // The database may lag a hold's expiry by up to the sweep interval; nobody is told it is still active.
    status: h.status === "ACTIVE" && h.expiresAt <= now ? "EXPIRED" : h.status,
  };
}
