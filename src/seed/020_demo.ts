/**
 * Demo catalog for a fresh install: a theatre with a few hundred reserved seats in three
 * sections and three price categories, a 22,000-seat stadium, a general-admission club, and
 * events (English + German) in several cities with sessions on sale now and starting in the
 * coming weeks. Owned by the seeded admin when there is one.
 */
import type { Knex } from "knex";
import type { Seed } from "../platform/seed";
import { KnexAdapter } from "../../mixins/knex-db.mixin";
import { generateLayout, LayoutSpec } from "../domain/layout-generator";
import { validateLayout } from "../domain/layout-validation";

interface DemoVenue {
  key: string;
  name: string;
  city: string;
  address: string;
  spec: LayoutSpec;
}

export const DEMO_VENUES: DemoVenue[] = [
  {
    key: "theatre",
    name: "Lindenhof Theatre",
    city: "Berlin",
    address: "Unter den Linden 41, 10117 Berlin",
    spec: {
      sections: [
        { name: "Stalls", rows: 12, seatsPerRow: 20, category: "premium" },
        { name: "Circle", rows: 6, seatsPerRow: 18, category: "standard" },
        { name: "Balcony", rows: 5, seatsPerRow: 16, category: "budget" },
      ],
    },
  },
  {
    key: "stadium",
    name: "Arena Nord",
    city: "Hamburg",
    address: "Sylvesterallee 7, 22525 Hamburg",
    spec: {
      sections: [
        { name: "West Stand", rows: 50, seatsPerRow: 110, category: "main" },
        { name: "East Stand", rows: 50, seatsPerRow: 110, category: "main" },
        { name: "North Stand", rows: 50, seatsPerRow: 110, category: "end" },
        { name: "South Stand", rows: 50, seatsPerRow: 110, category: "end" },
      ],
    },
  },
  {
    key: "club",
    name: "Kellerclub",
    city: "Munich",
    address: "Maximilianstraße 12, 80539 München",
    spec: {
      areas: [
        { id: "floor", name: "Floor", capacity: 400, category: "floor" },
        { id: "gallery", name: "Gallery", capacity: 80, category: "gallery" },
      ],
    },
  },
];

interface DemoEvent {
  title: string;
  description: string;
  de: { title: string; description: string };
  category: string;
  venue: string;
  status: "on_sale" | "draft";
  /** Days from now of each session. */
  days: number[];
  prices: Record<string, number>;
}

export const DEMO_EVENTS: DemoEvent[] = [
  {
    title: "Hamlet",
    description: "Shakespeare's tragedy of the Prince of Denmark, in a new production.",
    de: { title: "Hamlet", description: "Shakespeares Tragödie um den Prinzen von Dänemark in einer Neuinszenierung." },
    category: "theatre",
    venue: "theatre",
    status: "on_sale",
    days: [7, 8, 14],
    prices: { premium: 8900, standard: 5900, budget: 2900 },
  },
  {
    title: "The Nutcracker",
    description: "Tchaikovsky's ballet for the whole family.",
    de: { title: "Der Nussknacker", description: "Tschaikowskys Ballett für die ganze Familie." },
    category: "theatre",
    venue: "theatre",
    status: "on_sale",
    days: [21],
    prices: { premium: 7500, standard: 4900, budget: 2500 },
  },
  {
    title: "Northern Lights: Stadium Tour",
    description: "The band's biggest show yet, with a full light show.",
    de: { title: "Northern Lights: Stadiontour", description: "Die bisher größte Show der Band, mit kompletter Lichtshow." },
    category: "concert",
    venue: "stadium",
    status: "on_sale",
    days: [30],
    prices: { main: 9900, end: 6900 },
  },
  {
    title: "Hamburg Derby",
    description: "The city derby: league match under floodlights.",
    de: { title: "Hamburger Derby", description: "Das Stadtderby: Ligaspiel unter Flutlicht." },
    category: "sports",
    venue: "stadium",
    status: "on_sale",
    days: [10],
    prices: { main: 4500, end: 2500 },
  },
  {
    title: "Late Night Techno",
    description: "Four DJs until sunrise.",
    de: { title: "Techno bis spät", description: "Vier DJs bis zum Sonnenaufgang." },
    category: "concert",
    venue: "club",
    status: "on_sale",
    days: [3, 10],
    prices: { floor: 1800, gallery: 2500 },
  },
  {
    title: "Jazz Quartet Evening",
    description: "Standards and new compositions, up close.",
    de: { title: "Jazzquartett-Abend", description: "Standards und neue Kompositionen, ganz nah." },
    category: "concert",
    venue: "club",
    status: "on_sale",
    days: [5],
    prices: { floor: 2200, gallery: 2900 },
  },
  {
    title: "Comedy Night (coming soon)",
    description: "Line-up to be announced.",
    de: { title: "Comedy-Abend (demnächst)", description: "Das Programm wird noch bekannt gegeben." },
    category: "comedy",
    venue: "club",
    status: "draft",
    days: [40],
    prices: { floor: 1500, gallery: 1900 },
  },
];

const DAY_MS = 86_400_000;

/** 19:30 UTC `days` from now: stable-looking evening starts whenever the demo is installed. */
function evening(now: Date, days: number): Date {
  const d = new Date(now.getTime() + days * DAY_MS);
  d.setUTCHours(19, 30, 0, 0);
  return d;
}

async function adminId(trx: Knex.Transaction): Promise<string | null> {
  if (!(await trx.schema.hasTable("users"))) return null;
  const row = await trx("users").select("id").whereRaw("roles @> ?::jsonb", [JSON.stringify(["admin"])]).orderBy("created_at").first();
  return row?.id ?? null;
}

const seed: Seed = {
  demo: true,
  async run({ trx, logger }) {
    const organizerId = await adminId(trx);
    const venues = new KnexAdapter({ table: "venues" });
    const events = new KnexAdapter({ table: "events" });
    const sessions = new KnexAdapter({ table: "sessions" });
    const now = new Date();

    const venueIds: Record<string, string> = {};
    for (const v of DEMO_VENUES) {
      const check = validateLayout(generateLayout(v.spec));
      if (!check.ok) throw new Error(`Demo venue ${v.name}: ${JSON.stringify(check.problems)}`);
      const saved = await venues.insert(
        { name: v.name, city: v.city, address: v.address, layout: check.layout, seatCount: check.seatCount, capacity: check.capacity, createdBy: organizerId },
        trx,
      );
      venueIds[v.key] = String(saved.id);
    }

    let sessionCount = 0;
    for (const e of DEMO_EVENTS) {
      const venue = DEMO_VENUES.find((v) => v.key === e.venue)!;
      const saved = await events.insert(
        {
          title: e.title,
          description: e.description,
          category: e.category,
          city: venue.city,
          images: [],
          translations: { de: e.de },
          status: e.status,
          organizerId,
        },
        trx,
      );
      for (const days of e.days) {
        const startsAt = evening(now, days);
        await sessions.insert(
          {
            eventId: saved.id,
            venueId: venueIds[e.venue],
            startsAt,
            endsAt: new Date(startsAt.getTime() + 3 * 3_600_000),
            prices: e.prices,
            currency: "EUR",
            // Open since yesterday: the demo can be bought from at once.
            salesOpenAt: new Date(now.getTime() - DAY_MS),
            salesCloseAt: null,
            maxPerCustomer: 10,
            holdSeconds: 600,
            status: "scheduled",
          },
          trx,
        );
        sessionCount++;
      }
    }
    logger.info(`Demo catalog: ${DEMO_VENUES.length} venues, ${DEMO_EVENTS.length} events, ${sessionCount} sessions.`);
  },
};

export default seed;
