/**
 * The bench's REST client for setup (venues, events, sessions) and tokens. Buyers' tokens are
 * minted with the node's JWT secret (the bench passes JWT_SECRET to it), so a run can use
 * thousands of distinct buyers, the way a flash sale does, without registering each one.
 */
import { randomUUID } from "crypto";
import { signAccessToken, Role } from "../../src/platform/auth";
import type { VenueLayout } from "../../src/domain/layout";

export interface Res<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export class Api {
  constructor(readonly baseUrl: string, readonly token?: string) {}

  as(token: string): Api {
    return new Api(this.baseUrl, token);
  }

  async req<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    if (body !== undefined) h["content-type"] = "application/json";
    const res = await fetch(this.baseUrl + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as T, text, headers: res.headers };
  }

  /** The call must answer one of `ok`, else the bench stops with what the server said. */
  async must<T = any>(method: string, path: string, body?: unknown, ok: number[] = [200, 201, 202, 204]): Promise<T> {
    const res = await this.req<T>(method, path, body);
    if (!ok.includes(res.status)) throw new SetupError(`${method} ${path} -> ${res.status} ${res.text.slice(0, 400)}`, res.status);
    return res.body;
  }
}

export class SetupError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

export function mintToken(secret: string, roles: Role[] = ["buyer"], id = randomUUID()): string {
  return signAccessToken(secret, { id, email: `${id.slice(0, 8)}@bench.ticketflash.test`, name: `Buyer ${id.slice(0, 8)}`, roles });
}

/** Admin token: the seeded admin's login when the accounts service answers it, else one minted with the node's secret. */
export async function adminToken(baseUrl: string, email: string, password: string, secret: string): Promise<{ token: string; via: string }> {
  const res = await new Api(baseUrl).req("POST", "/api/auth/login", { email, password }).catch(() => undefined);
  if (res?.status === 200 && res.body?.accessToken) return { token: res.body.accessToken, via: "login (ADMIN_EMAIL)" };
  return { token: mintToken(secret, ["admin"]), via: `minted admin JWT (login answered ${res?.status ?? "nothing"})` };
}

/** A plain rectangular layout: sections of 50 rows x up to 100 seats, two price categories. */
export function buildLayout(seatCount: number): VenueLayout {
  const perRow = 100;
  const rowsPerSection = 50;
  const sections: VenueLayout["sections"] = [];
  let made = 0;
  for (let s = 0; made < seatCount; s++) {
    const rows = [];
    for (let r = 0; r < rowsPerSection && made < seatCount; r++) {
      const seats = [];
      for (let n = 0; n < perRow && made < seatCount; n++, made++) {
        seats.push({ id: `s${s}r${r}n${n}`, label: `${String.fromCharCode(65 + (s % 26))}${s >= 26 ? s : ""}-${r + 1}-${n + 1}`, x: n, y: s * rowsPerSection + r, category: r < 10 ? "premium" : "standard" });
      }
      rows.push({ id: `s${s}r${r}`, label: String(r + 1), seats });
    }
    sections.push({ id: `s${s}`, name: `Section ${s + 1}`, rows });
  }
  return { sections, areas: [] };
}

export interface Fixture {
  venueId: string;
  eventId: string;
  sessionIds: string[];
  seatCount: number;
  layoutVia: string;
}

/**
 * A venue of `seatCount` seats, an event on sale and `sessions` sessions of it, through the
 * catalog's REST routes as the admin. Prefers the catalog's layout generator; falls back to
 * sending the layout.
 */
export async function createFixture(api: Api, seatCount: number, sessions: number, opts: { maxPerCustomer?: number; concurrency?: number } = {}): Promise<Fixture> {
  const tag = randomUUID().slice(0, 6);
  let layoutVia = "layout.generate";
  let venue = await api.req("POST", "/api/venues", {
    name: `Bench arena ${tag}`,
    city: "Benchton",
    address: "1 Load St",
    layout: { generate: generatorSpec(seatCount) },
  });
  if (venue.status !== 201 && venue.status !== 200) {
    layoutVia = `hand-built layout (generator answered ${venue.status})`;
    venue = await api.req("POST", "/api/venues", { name: `Bench arena ${tag}`, city: "Benchton", address: "1 Load St", layout: buildLayout(seatCount) });
  }
  if (venue.status !== 201 && venue.status !== 200) throw new SetupError(`POST /api/venues -> ${venue.status} ${venue.text.slice(0, 400)}`, venue.status);
  const venueId = venue.body.id as string;
  // Prices must cover exactly the venue's categories.
  const categories = new Set<string>();
  const layout = (venue.body.layout ?? (await api.must("GET", `/api/venues/${venueId}`)).layout) as VenueLayout;
  for (const section of layout.sections) for (const row of section.rows) for (const seat of row.seats) categories.add(seat.category);
  for (const area of layout.areas ?? []) categories.add(area.category);
  const prices = Object.fromEntries([...categories].map((c) => [c, c === "premium" ? 9900 : 4900]));
  const actualSeats = Number(venue.body.seatCount ?? venue.body.seat_count ?? seatCount);

  const event = await api.must("POST", "/api/events", {
    title: `Bench flash sale ${tag}`,
    description: "Created by npm run bench",
    category: "concert",
    city: "Benchton",
    status: "on_sale",
  });
  const eventId = event.id as string;
  if (event.status !== "on_sale") await api.must("PUT", `/api/events/${eventId}`, { status: "on_sale" });

  const startsAt = new Date(Date.now() + 30 * 86400_000);
  const body = {
    eventId,
    venueId,
    startsAt: startsAt.toISOString(),
    endsAt: new Date(startsAt.getTime() + 3 * 3600_000).toISOString(),
    prices,
    currency: "EUR",
    maxPerCustomer: opts.maxPerCustomer ?? 10,
  };
  const sessionIds: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < sessions) {
      next++;
      const s = await api.must("POST", "/api/sessions", body);
      sessionIds.push(s.id as string);
    }
  };
  await Promise.all(Array.from({ length: Math.min(sessions, opts.concurrency ?? 8) }, worker));
  return { venueId, eventId, sessionIds, seatCount: actualSeats, layoutVia };
}

/** The catalog's generator input (`layout: {generate}`): sections of up to 50 rows x 100 seats. */
export function generatorSpec(seatCount: number): { sections: Array<{ name: string; rows: number; seatsPerRow: number; category: string }> } {
  const seatsPerRow = Math.min(100, seatCount);
  const sections = [];
  let left = seatCount;
  for (let i = 0; left > 0; i++) {
    const rows = Math.min(50, Math.ceil(left / seatsPerRow));
    // The last section may be short: its rows are as wide as needed to land on the exact count.
    const perRow = rows * seatsPerRow > left ? Math.ceil(left / rows) : seatsPerRow;
    sections.push({ name: `Block ${i + 1}`, rows, seatsPerRow: perRow, category: i === 0 ? "premium" : "standard" });
    left -= rows * perRow;
  }
  return { sections };
}
