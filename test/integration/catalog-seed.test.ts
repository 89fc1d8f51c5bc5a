/**
 * The demo catalog a fresh install gets: sizes as promised, bookable now, owned by the seeded
 * admin, and seeded once however often the node starts.
 */
import { runSeeds } from "../../src/platform/seed";
import { startTestNode, TestNode } from "../helpers/node";

describe("demo catalog seed", () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode({ services: ["api", "venues", "events", "sessions"], seed: true, env: { SEED_DEMO: "1" } });
    for (let i = 0; i < 200 && (await node.http.get("/api/venues")).status === 404; i++) await new Promise((r) => setTimeout(r, 25));
  });
  afterAll(() => node.stop());

  it("has a theatre in sections with three price categories, a 20,000+ seat stadium and a GA club", async () => {
    const venues = (await node.http.get("/api/venues")).body;
    expect(venues.total).toBe(3);
    const byName = Object.fromEntries(venues.items.map((v: { name: string }) => [v.name, v]));

    const theatre = (await node.http.get(`/api/venues/${byName["Lindenhof Theatre"].id}`)).body;
    expect(theatre.seatCount).toBeGreaterThanOrEqual(200);
    expect(theatre.seatCount).toBeLessThan(1000);
    expect(theatre.categories).toHaveLength(3);
    expect(theatre.layout.sections.map((s: { name: string }) => s.name)).toEqual(["Stalls", "Circle", "Balcony"]);
    expect(theatre.layout.sections[0].rows[0].seats[11]).toMatchObject({ id: "S1-A-12", label: "Stalls A-12" });

    const stadium = (await node.http.get(`/api/venues/${byName["Arena Nord"].id}`)).body;
    expect(stadium.seatCount).toBeGreaterThanOrEqual(20_000);
    const seatIds = new Set(stadium.layout.sections.flatMap((s: any) => s.rows.flatMap((r: any) => r.seats.map((x: any) => x.id))));
    expect(seatIds.size).toBe(stadium.seatCount);

    const club = (await node.http.get(`/api/venues/${byName["Kellerclub"].id}`)).body;
    expect(club).toMatchObject({ seatCount: 0, capacity: 480 });
    expect(club.layout.areas.map((a: { id: string }) => a.id)).toEqual(["floor", "gallery"]);
  });

  it("has events in several cities and categories, in English and German, with sessions on sale now", async () => {
    const events = (await node.http.get("/api/events?pageSize=100")).body;
    expect(events.total).toBeGreaterThanOrEqual(5);
    expect(new Set(events.items.map((e: { city: string }) => e.city)).size).toBeGreaterThanOrEqual(3);
    expect(new Set(events.items.map((e: { category: string }) => e.category))).toEqual(new Set(["theatre", "concert", "sports"]));
    const german = (await node.http.get("/api/events?pageSize=100&lang=de")).body.items;
    expect(german.every((e: { lang: string }) => e.lang === "de")).toBe(true);
    expect(german.map((e: { title: string }) => e.title)).toContain("Der Nussknacker");

    for (const e of events.items) {
      const detail = (await node.http.get(`/api/events/${e.id}`)).body;
      expect(detail.sessions.length).toBeGreaterThan(0);
      for (const s of detail.sessions) {
        expect(s).toMatchObject({ onSale: true, currency: "EUR", status: "scheduled" });
        expect(Date.parse(s.startsAt)).toBeGreaterThan(Date.now());
        const venue = (await node.http.get(`/api/venues/${s.venueId}`)).body;
        expect(Object.keys(s.prices).sort()).toEqual(venue.categories);
      }
    }
  });

  it("belongs to the seeded admin and is not seeded twice", async () => {
    const db = await node.platform.db();
    const admin = await db("users").whereRaw("roles @> '[\"admin\"]'::jsonb").first();
    expect(admin).toBeDefined();
    const owners = await db("events").distinct("organizer_id");
    expect(owners).toEqual([{ organizer_id: admin.id }]);
    const before = await Promise.all(["venues", "events", "sessions"].map((t) => db(t).count({ n: "*" }).first()));
    expect(await runSeeds(node.platform, node.broker.logger)).toEqual([]);
    const after = await Promise.all(["venues", "events", "sessions"].map((t) => db(t).count({ n: "*" }).first()));
    expect(after).toEqual(before);
  });
});
