/**
 * Checks a venue layout that arrived from outside (a request body, a seed) before it is stored.
 * The layout is the contract the seat actor, the seat map and tickets build on, so it is checked
 * completely: shapes, bounded sizes, ids unique within the venue (seat ids and GA area ids share
 * one namespace because a GA hold item uses the area id as its seat id), and non-empty categories.
 * The result is a fresh copy with only the known fields.
 */
import { layoutSeats, LayoutArea, LayoutRow, LayoutSeat, LayoutSection, VenueLayout } from "./layout";

export const LAYOUT_LIMITS = {
  maxSeats: 150_000,
  maxSections: 200,
  maxRowsPerSection: 500,
  maxSeatsPerRow: 1_000,
  maxAreas: 100,
  maxAreaCapacity: 200_000,
  maxCategories: 30,
  maxIdLength: 40,
  maxNameLength: 100,
  maxCategoryLength: 40,
  maxCoordinate: 1_000_000,
} as const;

/** Ids end up in URLs, seat-map payloads and QR codes: keep them plain. */
export const LAYOUT_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
/** Category names are keys of a session's `prices`. */
export const CATEGORY_NAME = /^[A-Za-z0-9][A-Za-z0-9 _-]*$/;

export interface LayoutProblem {
  field: string;
  message: string;
}

export type LayoutCheck =
  | { ok: true; layout: VenueLayout; seatCount: number; capacity: number; categories: string[] }
  | { ok: false; problems: LayoutProblem[] };

/** Stop collecting after this many: a 150,000-seat layout with one systematic mistake needs one message, not 150,000. */
const MAX_PROBLEMS = 20;

class TooManyProblems extends Error {}

class Checker {
  readonly problems: LayoutProblem[] = [];

  fail(field: string, message: string): void {
    this.problems.push({ field, message });
    if (this.problems.length >= MAX_PROBLEMS) throw new TooManyProblems();
  }

  object(value: unknown, field: string, allowed: readonly string[]): Record<string, unknown> | undefined {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      this.fail(field, "must be an object");
      return undefined;
    }
    const unknownKeys = Object.keys(value).filter((k) => !allowed.includes(k));
    if (unknownKeys.length) this.fail(field, `has unknown field(s): ${unknownKeys.slice(0, 5).join(", ")}`);
    return value as Record<string, unknown>;
  }

  array(value: unknown, field: string, max: number, min = 0): unknown[] | undefined {
    if (!Array.isArray(value)) {
      this.fail(field, "must be an array");
      return undefined;
    }
    if (value.length < min) this.fail(field, `needs at least ${min} item(s)`);
    if (value.length > max) {
      this.fail(field, `has ${value.length} items, at most ${max} allowed`);
      return undefined;
    }
    return value;
  }

  text(value: unknown, field: string, max: number, pattern?: RegExp): string | undefined {
    if (typeof value !== "string" || value.trim() === "") {
      this.fail(field, "must be a non-empty string");
      return undefined;
    }
    if (value.length > max) {
      this.fail(field, `must be at most ${max} characters`);
      return undefined;
    }
    if (pattern && !pattern.test(value)) {
      this.fail(field, `has characters that are not allowed (${pattern.source})`);
      return undefined;
    }
    return value;
  }

  coordinate(value: unknown, field: string): number | undefined {
    if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) > LAYOUT_LIMITS.maxCoordinate) {
      this.fail(field, `must be a number between -${LAYOUT_LIMITS.maxCoordinate} and ${LAYOUT_LIMITS.maxCoordinate}`);
      return undefined;
    }
    return value;
  }
}

export function validateLayout(input: unknown): LayoutCheck {
  const c = new Checker();
  const layout: VenueLayout = { sections: [], areas: [] };
  const ids = new Set<string>();
  const categories = new Set<string>();
  let seatCount = 0;
  let areaCapacity = 0;

  const claimId = (id: string | undefined, field: string) => {
    if (id === undefined) return;
    if (ids.has(id)) c.fail(field, `duplicate id '${id}': seat and area ids must be unique within the venue`);
    ids.add(id);
  };
  const category = (value: unknown, field: string) => {
    const name = c.text(value, field, LAYOUT_LIMITS.maxCategoryLength, CATEGORY_NAME);
    if (name !== undefined) categories.add(name);
    return name;
  };

  try {
    const root = c.object(input, "layout", ["sections", "areas"]);
    if (!root) return { ok: false, problems: c.problems };
    const sections = root.sections === undefined ? [] : c.array(root.sections, "layout.sections", LAYOUT_LIMITS.maxSections) ?? [];
    const areas = root.areas === undefined ? [] : c.array(root.areas, "layout.areas", LAYOUT_LIMITS.maxAreas) ?? [];

    const sectionIds = new Set<string>();
    sections.forEach((rawSection, si) => {
      const sf = `layout.sections[${si}]`;
      const s = c.object(rawSection, sf, ["id", "name", "rows"]);
      if (!s) return;
      const section: LayoutSection = {
        id: c.text(s.id, `${sf}.id`, LAYOUT_LIMITS.maxIdLength, LAYOUT_ID) ?? "",
        name: c.text(s.name, `${sf}.name`, LAYOUT_LIMITS.maxNameLength) ?? "",
        rows: [],
      };
      if (section.id && sectionIds.has(section.id)) c.fail(`${sf}.id`, `duplicate section id '${section.id}'`);
      sectionIds.add(section.id);
      const rows = c.array(s.rows, `${sf}.rows`, LAYOUT_LIMITS.maxRowsPerSection, 1) ?? [];
      const rowIds = new Set<string>();
      rows.forEach((rawRow, ri) => {
        const rf = `${sf}.rows[${ri}]`;
        const r = c.object(rawRow, rf, ["id", "label", "seats"]);
        if (!r) return;
        const row: LayoutRow = {
          id: c.text(r.id, `${rf}.id`, LAYOUT_LIMITS.maxIdLength, LAYOUT_ID) ?? "",
          label: c.text(r.label, `${rf}.label`, LAYOUT_LIMITS.maxNameLength) ?? "",
          seats: [],
        };
        if (row.id && rowIds.has(row.id)) c.fail(`${rf}.id`, `duplicate row id '${row.id}' in this section`);
        rowIds.add(row.id);
        const seats = c.array(r.seats, `${rf}.seats`, LAYOUT_LIMITS.maxSeatsPerRow, 1) ?? [];
        seatCount += seats.length;
        if (seatCount > LAYOUT_LIMITS.maxSeats) {
          c.fail("layout.sections", `more than ${LAYOUT_LIMITS.maxSeats} seats`);
          throw new TooManyProblems();
        }
        seats.forEach((rawSeat, i) => {
          const f = `${rf}.seats[${i}]`;
          const seat = c.object(rawSeat, f, ["id", "label", "x", "y", "category"]);
          if (!seat) return;
          const out: LayoutSeat = {
            id: c.text(seat.id, `${f}.id`, LAYOUT_LIMITS.maxIdLength, LAYOUT_ID) ?? "",
            label: c.text(seat.label, `${f}.label`, LAYOUT_LIMITS.maxNameLength) ?? "",
            x: c.coordinate(seat.x, `${f}.x`) ?? 0,
            y: c.coordinate(seat.y, `${f}.y`) ?? 0,
            category: category(seat.category, `${f}.category`) ?? "",
          };
          claimId(out.id || undefined, `${f}.id`);
          row.seats.push(out);
        });
        section.rows.push(row);
      });
      layout.sections.push(section);
    });

    areas.forEach((rawArea, ai) => {
      const f = `layout.areas[${ai}]`;
      const a = c.object(rawArea, f, ["id", "name", "capacity", "category"]);
      if (!a) return;
      const capacity = a.capacity;
      if (typeof capacity !== "number" || !Number.isInteger(capacity) || capacity < 1 || capacity > LAYOUT_LIMITS.maxAreaCapacity) {
        c.fail(`${f}.capacity`, `must be an integer from 1 to ${LAYOUT_LIMITS.maxAreaCapacity}`);
      }
      const area: LayoutArea = {
        id: c.text(a.id, `${f}.id`, LAYOUT_LIMITS.maxIdLength, LAYOUT_ID) ?? "",
        name: c.text(a.name, `${f}.name`, LAYOUT_LIMITS.maxNameLength) ?? "",
        capacity: typeof capacity === "number" ? capacity : 0,
        category: category(a.category, `${f}.category`) ?? "",
      };
      claimId(area.id || undefined, `${f}.id`);
      areaCapacity += area.capacity;
      layout.areas.push(area);
    });

    if (seatCount === 0 && layout.areas.length === 0) c.fail("layout", "needs at least one seat or one general-admission area");
    if (categories.size > LAYOUT_LIMITS.maxCategories) c.fail("layout", `has ${categories.size} categories, at most ${LAYOUT_LIMITS.maxCategories} allowed`);
  } catch (err) {
    if (!(err instanceof TooManyProblems)) throw err;
  }

  if (c.problems.length) return { ok: false, problems: c.problems };
  return { ok: true, layout, seatCount, capacity: seatCount + areaCapacity, categories: [...categories].sort() };
}

/** The price categories a layout uses, sorted. */
export function layoutCategories(layout: VenueLayout): string[] {
  const set = new Set<string>();
  for (const seat of layoutSeats(layout)) set.add(seat.category);
  for (const area of layout.areas) set.add(area.category);
  return [...set].sort();
}
