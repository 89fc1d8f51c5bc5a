/**
 * Catalog rules that do not need a database: when a session is on sale, which language a
 * visitor gets, and whether a session's prices fit its venue.
 */

export type EventStatus = "draft" | "on_sale" | "cancelled";
export type SessionStatus = "scheduled" | "cancelled";

/**
 * How old the catalog rows a node answers from may be: `GET /sessions/:id`, `GET /events/:id` and
 * the public listing from their read caches, and the seat actor's sale window, limits and prices.
 * A change is seen at once by the node that made it and by every node its broadcast reaches; this
 * bounds the rest.
 */
export const CATALOG_READ_TTL_MS = 2_000;

/** English is the language of an event's own title and description; translations add others. */
export const BASE_LANGUAGE = "en";

export interface Translation {
  title: string;
  description: string;
}

export interface SaleWindow {
  status: SessionStatus;
  startsAt: Date | string;
  salesOpenAt?: Date | string | null;
  salesCloseAt?: Date | string | null;
}

const time = (v: Date | string) => (v instanceof Date ? v.getTime() : Date.parse(v));

/**
 * On sale = the event is on_sale, the session is scheduled and `now` is within
 * [salesOpenAt ?? -inf, salesCloseAt ?? startsAt) (shared/CONTRACTS.md).
 */
export function isOnSale(eventStatus: EventStatus, session: SaleWindow, now: Date): boolean {
  if (eventStatus !== "on_sale" || session.status !== "scheduled") return false;
  const t = now.getTime();
  if (session.salesOpenAt && t < time(session.salesOpenAt)) return false;
  const close = session.salesCloseAt ? time(session.salesCloseAt) : time(session.startsAt);
  return t < close;
}

/**
 * The languages of an Accept-Language header, most preferred first, reduced to their primary
 * subtag ("de-AT;q=0.8" -> "de"). Malformed parts are skipped; "*" means nothing specific.
 */
export function acceptedLanguages(header: string | undefined): string[] {
  if (!header) return [];
  const parsed: Array<{ lang: string; q: number; order: number }> = [];
  header
    .slice(0, 500)
    .split(",")
    .forEach((part, order) => {
      const [tag, ...params] = part.trim().split(";");
      const lang = tag.trim().toLowerCase().split("-")[0];
      if (!/^[a-z]{2,3}$/.test(lang)) return;
      let q = 1;
      for (const p of params) {
        const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
        if (m) q = Number(m[1]);
      }
      if (Number.isFinite(q) && q > 0) parsed.push({ lang, q, order });
    });
  parsed.sort((a, b) => b.q - a.q || a.order - b.order);
  return [...new Set(parsed.map((p) => p.lang))];
}

/**
 * The language to show: an explicit `lang` wins, then the Accept-Language preferences; the
 * first one the event has (English always counts as available), else English.
 */
export function chooseLanguage(available: string[], lang?: string, acceptLanguage?: string): string {
  const wanted = lang ? [lang.toLowerCase().split("-")[0]] : acceptedLanguages(acceptLanguage);
  for (const l of wanted) if (l === BASE_LANGUAGE || available.includes(l)) return l;
  return BASE_LANGUAGE;
}

/** Title and description in `lang`, falling back to English field by field. */
export function localize(
  base: Translation,
  translations: Record<string, Partial<Translation>> | null | undefined,
  lang: string,
): Translation & { lang: string } {
  const t = lang === BASE_LANGUAGE ? undefined : translations?.[lang];
  if (!t) return { ...base, lang: BASE_LANGUAGE };
  return { title: t.title || base.title, description: t.description || base.description, lang };
}

/** Categories a price list misses or names without the venue having them. */
export function priceProblems(prices: Record<string, number>, categories: string[]): { missing: string[]; unknown: string[] } {
  const given = Object.keys(prices);
  return {
    missing: categories.filter((c) => !given.includes(c)),
    unknown: given.filter((c) => !categories.includes(c)),
  };
}

export interface FieldProblem {
  field: string;
  message: string;
}

export interface SessionSchedule {
  startsAt: Date;
  endsAt: Date;
  salesOpenAt?: Date | null;
  salesCloseAt?: Date | null;
}

/** Dates outside this range are typos or epoch numbers sent by mistake, not events. */
const EARLIEST = Date.UTC(2000, 0, 1);
const LATEST = Date.UTC(2100, 0, 1);

/** What is wrong with a session's times (after merging an update into the stored session). */
export function scheduleProblems(s: SessionSchedule): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const field of ["startsAt", "endsAt", "salesOpenAt", "salesCloseAt"] as const) {
    const v = s[field];
    if (v && (v.getTime() < EARLIEST || v.getTime() >= LATEST)) problems.push({ field, message: "must be between 2000 and 2100" });
  }
  if (s.endsAt.getTime() <= s.startsAt.getTime()) problems.push({ field: "endsAt", message: "must be after startsAt" });
  if (s.salesOpenAt && s.salesCloseAt && s.salesCloseAt.getTime() <= s.salesOpenAt.getTime()) {
    problems.push({ field: "salesCloseAt", message: "must be after salesOpenAt" });
  }
  if (s.salesOpenAt && s.salesOpenAt.getTime() >= s.startsAt.getTime() && !s.salesCloseAt) {
    problems.push({ field: "salesOpenAt", message: "must be before startsAt (sales close when the session starts)" });
  }
  return problems;
}
