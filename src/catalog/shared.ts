/**
 * What the three catalog services (venues, events, sessions) share: parameter rules, who may
 * see or change an event, and the JSON shapes they answer with.
 */
import type { Knex } from "knex";
import { toSnake } from "../../mixins/knex-db.mixin";
import type { AuthUser } from "../platform/auth";
import { ReadCache } from "../platform/read-cache";
import { CATALOG_READ_TTL_MS, chooseLanguage, EventStatus, isOnSale, localize, SessionStatus, Translation } from "../domain/catalog";

export const idParam = { type: "string", min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/ } as const;
export { pageParams } from "../platform/pagination";
export const langParam = { type: "string", optional: true, max: 10, pattern: /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$/ } as const;

/**
 * A catalog service's read cache for its `get` route (see src/platform/read-cache.ts). A sale's
 * buyers ask for a handful of keys; 256 bounds the memory when crawlers ask for every one (an
 * event with all its translations is up to about 100 KB).
 */
export const catalogReadCache = <V>() => new ReadCache<V>({ ttlMs: CATALOG_READ_TTL_MS, kept: 256 });

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}

export const isAdmin = (user: AuthUser | null | undefined) => !!user?.roles.includes("admin");

export interface EventRow {
  id: string;
  title: string;
  description: string;
  category: string;
  city: string;
  images: string[];
  translations: Record<string, Partial<Translation>>;
  status: EventStatus;
  organizerId: string | null;
  createdAt: Date | string;
  updatedAt: Date | string;
}

/** Drafts are their organizer's (and admins') business; cancelled events stay readable for ticket holders. */
export function canSeeEvent(user: AuthUser | null | undefined, event: Pick<EventRow, "status" | "organizerId">): boolean {
  return event.status !== "draft" || isAdmin(user) || (!!user && event.organizerId === user.id);
}

export function canManageEvent(user: AuthUser | null | undefined, event: Pick<EventRow, "organizerId">): boolean {
  return isAdmin(user) || (!!user && event.organizerId === user.id);
}

/** Listings: everyone sees what is on sale, organizers also their own events, admins everything. */
export function listedEvents(user: AuthUser | null | undefined, table = "events"): ((qb: Knex.QueryBuilder) => void) | undefined {
  if (isAdmin(user)) return undefined;
  return (qb) => {
    qb.where(`${table}.status`, "on_sale");
    if (user) qb.orWhere(`${table}.organizer_id`, user.id);
  };
}

export interface LanguageChoice {
  lang?: string;
  acceptLanguage?: string;
}

const iso = (v: Date | string | null | undefined) => (v == null ? null : v instanceof Date ? v.toISOString() : new Date(v).toISOString());

export function eventJson(e: EventRow, language: LanguageChoice) {
  const translations = e.translations ?? {};
  const chosen = chooseLanguage(Object.keys(translations), language.lang, language.acceptLanguage);
  const text = localize({ title: e.title, description: e.description }, translations, chosen);
  return {
    id: e.id,
    title: text.title,
    description: text.description,
    lang: text.lang,
    category: e.category,
    city: e.city,
    images: e.images ?? [],
    translations,
    status: e.status,
    organizerId: e.organizerId,
    createdAt: iso(e.createdAt),
    updatedAt: iso(e.updatedAt),
  };
}

export interface SessionRow {
  id: string;
  eventId: string;
  venueId: string;
  startsAt: Date | string;
  endsAt: Date | string;
  prices: Record<string, number>;
  currency: string;
  salesOpenAt: Date | string | null;
  salesCloseAt: Date | string | null;
  maxPerCustomer: number;
  holdSeconds: number;
  status: SessionStatus;
  createdAt: Date | string;
  updatedAt: Date | string;
}

export interface VenueSummary {
  id: string;
  name: string;
  city: string;
  address: string;
  seatCount: number;
  capacity: number;
}

/** What lists and sessions show of a venue: everything but the layout, which can be megabytes. */
export const VENUE_SUMMARY_FIELDS = ["id", "name", "city", "address", "seatCount", "capacity"];

/** From a venue entity (camelCase, as the knex adapter returns it). */
export function venueSummary(row: Record<string, unknown>): VenueSummary {
  return {
    id: String(row.id),
    name: String(row.name),
    city: String(row.city),
    address: String(row.address ?? ""),
    seatCount: Number(row.seatCount),
    capacity: Number(row.capacity),
  };
}

export function sessionJson(s: SessionRow, eventStatus: EventStatus, venue: VenueSummary | undefined, now = new Date()) {
  return {
    id: s.id,
    eventId: s.eventId,
    venueId: s.venueId,
    startsAt: iso(s.startsAt),
    endsAt: iso(s.endsAt),
    prices: s.prices,
    currency: s.currency,
    salesOpenAt: iso(s.salesOpenAt),
    salesCloseAt: iso(s.salesCloseAt),
    maxPerCustomer: s.maxPerCustomer,
    holdSeconds: s.holdSeconds,
    status: s.status,
    onSale: isOnSale(eventStatus, s, now),
    venue,
    createdAt: iso(s.createdAt),
    updatedAt: iso(s.updatedAt),
  };
}

/** Venue summaries by id, one query. */
export async function venueSummaries(knex: Knex, ids: string[]): Promise<Map<string, VenueSummary>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = await knex("venues")
    .select(VENUE_SUMMARY_FIELDS.map((f) => `${toSnake(f)} as ${f}`))
    .whereIn("id", unique);
  return new Map(rows.map((r: Record<string, unknown>) => [String(r.id), venueSummary(r)]));
}
