/**
 * A venue's layout, as stored in `venues.layout` (JSONB) and served by GET /api/venues/:id.
 * Reserved seating: sections -> rows -> seats. General admission: areas with a capacity.
 * A venue may have both. Seat ids are unique within the venue and stable: tickets, holds and
 * the seat map refer to them. The canonical seat order (sections, then rows, then seats, as
 * listed) is the index the seat actor and the seat map's `status` string use.
 */
export interface LayoutSeat {
  id: string;
  label: string;
  x: number;
  y: number;
  /** Price category name; the session's `prices` map categories to amounts. */
  category: string;
}

export interface LayoutRow {
  id: string;
  label: string;
  /** Seats in physical order along the row (adjacent in this list = side by side). */
  seats: LayoutSeat[];
}

export interface LayoutSection {
  id: string;
  name: string;
  rows: LayoutRow[];
}

export interface LayoutArea {
  id: string;
  name: string;
  capacity: number;
  category: string;
}

export interface VenueLayout {
  sections: LayoutSection[];
  areas: LayoutArea[];
}

/** Every seat in canonical order. */
export function layoutSeats(layout: VenueLayout): LayoutSeat[] {
  const out: LayoutSeat[] = [];
  for (const section of layout.sections) for (const row of section.rows) for (const seat of row.seats) out.push(seat);
  return out;
}
