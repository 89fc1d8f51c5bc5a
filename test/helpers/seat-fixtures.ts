/**
 * Catalog rows for seat tests, written with knex straight into the catalog tables
 * (shared/CONTRACTS.md "Catalog tables"), so seat tests do not depend on the catalog services.
 */
import { randomUUID } from "crypto";
import type { Knex } from "knex";
import type { VenueLayout } from "../../src/domain/layout";
import { AuthUser, Role, signAccessToken } from "../../src/platform/auth";

export interface SessionFixture {
  sessionId: string;
  eventId: string;
  venueId: string;
  organizerId: string;
  seatIds: string[];
}

export function gridLayout(rows: number, perRow: number, areas: VenueLayout["areas"] = []): VenueLayout {
  return {
    sections: [
      {
        id: "S1",
        name: "Stalls",
        rows: Array.from({ length: rows }, (_, r) => ({
          id: `S1-R${r + 1}`,
          label: `Row ${r + 1}`,
          seats: Array.from({ length: perRow }, (_, k) => ({
            id: `S1-${r + 1}-${k + 1}`,
            label: `Stalls ${r + 1}-${k + 1}`,
            x: k,
            y: r,
            category: r === 0 ? "premium" : "standard",
          })),
        })),
      },
    ],
    areas,
  };
}

export async function createSession(
  knex: Knex,
  opts: {
    layout?: VenueLayout;
    eventStatus?: "draft" | "on_sale" | "cancelled";
    holdSeconds?: number;
    maxPerCustomer?: number;
    salesOpenAt?: Date | null;
    organizerId?: string;
  } = {},
): Promise<SessionFixture> {
  const layout = opts.layout ?? gridLayout(4, 25);
  const seatIds = layout.sections.flatMap((s) => s.rows.flatMap((r) => r.seats.map((seat) => seat.id)));
  const gaCapacity = layout.areas.reduce((n, a) => n + a.capacity, 0);
  const venueId = randomUUID();
  const eventId = randomUUID();
  const sessionId = randomUUID();
  const organizerId = opts.organizerId ?? randomUUID();
  await knex("venues").insert({ id: venueId, name: "Test Hall", city: "Berlin", address: "Somewhere 1", layout: JSON.stringify(layout), seat_count: seatIds.length, capacity: seatIds.length + gaCapacity, created_by: organizerId });
  await knex("events").insert({ id: eventId, title: "Test Show", description: "", category: "concert", city: "Berlin", status: opts.eventStatus ?? "on_sale", organizer_id: organizerId });
  const startsAt = new Date(Date.now() + 30 * 24 * 3600_000);
  await knex("sessions").insert({
    id: sessionId,
    event_id: eventId,
    venue_id: venueId,
    starts_at: startsAt,
    ends_at: new Date(startsAt.getTime() + 3 * 3600_000),
    prices: JSON.stringify({ premium: 9900, standard: 4900, floor: 2900 }),
    currency: "EUR",
    sales_open_at: opts.salesOpenAt ?? null,
    max_per_customer: opts.maxPerCustomer ?? 10,
    hold_seconds: opts.holdSeconds ?? 600,
    status: "scheduled",
  });
  return { sessionId, eventId, venueId, organizerId, seatIds };
}

export function tokenFor(secret: string, roles: Role[] = ["buyer"], id: string = randomUUID()): { token: string; user: AuthUser } {
  const user: AuthUser = { id, email: `${id.slice(0, 8)}@example.test`, name: "Test Buyer", roles };
  return { token: signAccessToken(secret, user), user };
}
