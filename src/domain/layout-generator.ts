/**
 * Builds a venue layout from a short description (sections x rows x seats per row, GA areas),
 * so a 20,000-seat stadium fits in a request body far below the gateway's 64 kb limit.
 *
 * Naming: sections get ids S1, S2, ...; rows are lettered A..Z, AA, AB, ... from the front;
 * seats are numbered from 1. Seat id "S1-A-12", label "Stalls A-12". Coordinates are seat
 * units: x along the row (rows centred on the widest section), y front to back, sections
 * stacked with a two-row aisle between them.
 */
import type { LayoutArea, LayoutSection, VenueLayout } from "./layout";
import { CATEGORY_NAME, LAYOUT_ID, LAYOUT_LIMITS, LayoutProblem } from "./layout-validation";

export interface SectionSpec {
  name: string;
  rows: number;
  seatsPerRow: number;
  category: string;
  /** Defaults to S<n>. */
  id?: string;
}

export interface AreaSpec {
  name: string;
  capacity: number;
  category: string;
  /** Defaults to A<n>. */
  id?: string;
}

export interface LayoutSpec {
  sections?: SectionSpec[];
  areas?: AreaSpec[];
}

const AISLE_ROWS = 2;

/** 0 -> "A", 25 -> "Z", 26 -> "AA", 27 -> "AB" (spreadsheet column style). */
export function rowLabel(index: number): string {
  if (!Number.isInteger(index) || index < 0) throw new RangeError(`row index must be a non-negative integer, got ${index}`);
  let n = index + 1;
  let label = "";
  while (n > 0) {
    const rem = (n - 1) % 26;
    label = String.fromCharCode(65 + rem) + label;
    n = Math.floor((n - 1) / 26);
  }
  return label;
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
const isText = (v: unknown, max: number, pattern?: RegExp): v is string =>
  typeof v === "string" && v.trim() !== "" && v.length <= max && (!pattern || pattern.test(v));

const unknownKeys = (o: object, allowed: string[]) => Object.keys(o).filter((k) => !allowed.includes(k));

/** What is wrong with a spec (which may come straight from a request), checked before anything is allocated. */
export function layoutSpecProblems(spec: LayoutSpec): LayoutProblem[] {
  const problems: LayoutProblem[] = [];
  if (!spec || typeof spec !== "object" || Array.isArray(spec)) return [{ field: "layout.generate", message: "must be an object" }];
  const extra = unknownKeys(spec, ["sections", "areas"]);
  if (extra.length) problems.push({ field: "layout.generate", message: `has unknown field(s): ${extra.join(", ")}` });
  const sections = spec.sections ?? [];
  const areas = spec.areas ?? [];
  if (!Array.isArray(sections) || sections.length > LAYOUT_LIMITS.maxSections) {
    problems.push({ field: "layout.generate.sections", message: `must be an array of at most ${LAYOUT_LIMITS.maxSections} sections` });
    return problems;
  }
  if (!Array.isArray(areas) || areas.length > LAYOUT_LIMITS.maxAreas) {
    problems.push({ field: "layout.generate.areas", message: `must be an array of at most ${LAYOUT_LIMITS.maxAreas} areas` });
    return problems;
  }
  let seats = 0;
  sections.forEach((s, i) => {
    const f = `layout.generate.sections[${i}]`;
    if (!s || typeof s !== "object") {
      problems.push({ field: f, message: "must be an object" });
      return;
    }
    const extraKeys = unknownKeys(s, ["name", "rows", "seatsPerRow", "category", "id"]);
    if (extraKeys.length) problems.push({ field: f, message: `has unknown field(s): ${extraKeys.join(", ")}` });
    if (!isText(s.name, LAYOUT_LIMITS.maxNameLength)) problems.push({ field: `${f}.name`, message: "must be a non-empty string" });
    if (!isInt(s.rows, 1, LAYOUT_LIMITS.maxRowsPerSection)) problems.push({ field: `${f}.rows`, message: `must be an integer from 1 to ${LAYOUT_LIMITS.maxRowsPerSection}` });
    if (!isInt(s.seatsPerRow, 1, LAYOUT_LIMITS.maxSeatsPerRow)) problems.push({ field: `${f}.seatsPerRow`, message: `must be an integer from 1 to ${LAYOUT_LIMITS.maxSeatsPerRow}` });
    if (!isText(s.category, LAYOUT_LIMITS.maxCategoryLength, CATEGORY_NAME)) problems.push({ field: `${f}.category`, message: "must be a category name" });
    // Row ids are "<section>-<row>" and seat ids "<section>-<row>-<n>": keep room for both suffixes.
    if (s.id !== undefined && !isText(s.id, 20, LAYOUT_ID)) problems.push({ field: `${f}.id`, message: "must be a short id" });
    if (isInt(s.rows, 1, Infinity) && isInt(s.seatsPerRow, 1, Infinity)) seats += s.rows * s.seatsPerRow;
  });
  if (seats > LAYOUT_LIMITS.maxSeats) problems.push({ field: "layout.generate.sections", message: `${seats} seats, at most ${LAYOUT_LIMITS.maxSeats} allowed` });
  areas.forEach((a, i) => {
    const f = `layout.generate.areas[${i}]`;
    if (!a || typeof a !== "object") {
      problems.push({ field: f, message: "must be an object" });
      return;
    }
    const extraKeys = unknownKeys(a, ["name", "capacity", "category", "id"]);
    if (extraKeys.length) problems.push({ field: f, message: `has unknown field(s): ${extraKeys.join(", ")}` });
    if (!isText(a.name, LAYOUT_LIMITS.maxNameLength)) problems.push({ field: `${f}.name`, message: "must be a non-empty string" });
    if (!isInt(a.capacity, 1, LAYOUT_LIMITS.maxAreaCapacity)) problems.push({ field: `${f}.capacity`, message: `must be an integer from 1 to ${LAYOUT_LIMITS.maxAreaCapacity}` });
    if (!isText(a.category, LAYOUT_LIMITS.maxCategoryLength, CATEGORY_NAME)) problems.push({ field: `${f}.category`, message: "must be a category name" });
    if (a.id !== undefined && !isText(a.id, LAYOUT_LIMITS.maxIdLength, LAYOUT_ID)) problems.push({ field: `${f}.id`, message: "must be a short id" });
  });
  if (sections.length === 0 && areas.length === 0) problems.push({ field: "layout.generate", message: "needs at least one section or area" });
  return problems;
}

/** Throws a RangeError naming the problems when the spec is invalid (see layoutSpecProblems). */
export function generateLayout(spec: LayoutSpec): VenueLayout {
  const problems = layoutSpecProblems(spec);
  if (problems.length) throw new RangeError(problems.map((p) => `${p.field} ${p.message}`).join("; "));
  const specs = spec.sections ?? [];
  const widest = specs.reduce((m, s) => Math.max(m, s.seatsPerRow), 0);
  let y = 0;
  const sections: LayoutSection[] = specs.map((s, si) => {
    const id = s.id ?? `S${si + 1}`;
    const x0 = Math.floor((widest - s.seatsPerRow) / 2);
    const rows = [];
    for (let r = 0; r < s.rows; r++, y++) {
      const label = rowLabel(r);
      const seats = [];
      for (let n = 1; n <= s.seatsPerRow; n++) {
        seats.push({ id: `${id}-${label}-${n}`, label: `${s.name} ${label}-${n}`, x: x0 + n - 1, y, category: s.category });
      }
      rows.push({ id: `${id}-${label}`, label, seats });
    }
    y += AISLE_ROWS;
    return { id, name: s.name, rows };
  });
  const areas: LayoutArea[] = (spec.areas ?? []).map((a, ai) => ({
    id: a.id ?? `A${ai + 1}`,
    name: a.name,
    capacity: a.capacity,
    category: a.category,
  }));
  return { sections, areas };
}
