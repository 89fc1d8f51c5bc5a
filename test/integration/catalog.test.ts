/**
 * The catalog through REST, the way organizers, buyers and anonymous visitors use it:
 * venues with layouts, events with translations and visibility, sessions with prices.
 */
import { randomUUID } from "crypto";
import zlib from "zlib";
import type { Knex } from "knex";
import { signAccessToken, Role } from "../../src/platform/auth";
import { HttpClient, startTestNode, TestNode } from "../helpers/node";
import { rowsRead } from "../helpers/infra";

const CATALOG = ["api", "venues", "events", "sessions"];

const theatreLayout = {
  sections: [
    {
      id: "S1",
      name: "Stalls",
      rows: [
        { id: "S1-A", label: "A", seats: [1, 2, 3].map((n) => ({ id: `S1-A-${n}`, label: `Stalls A-${n}`, x: n, y: 0, category: "premium" })) },
        { id: "S1-B", label: "B", seats: [1, 2, 3].map((n) => ({ id: `S1-B-${n}`, label: `Stalls B-${n}`, x: n, y: 1, category: "standard" })) },
      ],
    },
  ],
  areas: [{ id: "standing", name: "Standing", capacity: 50, category: "standing" }],
};

const days = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString();

describe("catalog", () => {
  let node: TestNode;
  let db: Knex;
  let anon: HttpClient;
  let organizer: HttpClient;
  let organizerId: string;
  let rival: HttpClient;
  let buyer: HttpClient;
  let admin: HttpClient;

  const as = (roles: Role[], id: string = randomUUID()) =>
    node.http.as(signAccessToken(node.platform.secrets.jwtSecret, { id, email: `${id}@example.test`, name: "Test", roles }));
  const count = async (table: string) => Number((await db(table).count({ n: "*" }).first())!.n);
  const counts = async () => ({ venues: await count("venues"), events: await count("events"), sessions: await count("sessions") });

  beforeAll(async () => {
    node = await startTestNode({ services: CATALOG });
    db = await node.platform.db();
    // moleculer-web builds autoAliases shortly after the services start (debounced): wait for the routes.
    for (let i = 0; i < 200 && (await node.http.get("/api/sessions")).status === 404; i++) await new Promise((r) => setTimeout(r, 25));
    anon = node.http;
    organizerId = randomUUID();
    organizer = as(["buyer", "organizer"], organizerId);
    rival = as(["buyer", "organizer"]);
    buyer = as(["buyer"]);
    admin = as(["buyer", "admin"]);
  });
  afterAll(() => node.stop());

  async function createVenue(layout: unknown = theatreLayout) {
    const res = await organizer.post("/api/venues", { name: "Lindenhof", city: "Berlin", address: "Unter den Linden 1", layout });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function createEvent(client: HttpClient, body: Record<string, unknown> = {}) {
    const res = await client.post("/api/events", { title: "Hamlet", description: "A tragedy", category: "theatre", city: "Berlin", ...body });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function createSession(client: HttpClient, eventId: string, venueId: string, body: Record<string, unknown> = {}) {
    const res = await client.post("/api/sessions", {
      eventId,
      venueId,
      startsAt: days(10),
      endsAt: days(10.1),
      prices: { premium: 5000, standard: 3000, standing: 1500 },
      currency: "EUR",
      salesOpenAt: days(-1),
      ...body,
    });
    expect(res.status).toBe(201);
    return res.body;
  }

  describe("venues", () => {
    it("an organizer creates a venue with a reserved and a GA part; anyone reads it", async () => {
      const venue = await createVenue();
      expect(venue).toMatchObject({ name: "Lindenhof", city: "Berlin", seatCount: 6, capacity: 56, categories: ["premium", "standard", "standing"] });
      const read = await anon.get(`/api/venues/${venue.id}`);
      expect(read.status).toBe(200);
      expect(read.body.layout).toEqual(theatreLayout);
      const list = await anon.get("/api/venues?city=berlin");
      expect(list.status).toBe(200);
      expect(list.body.items.find((v: { id: string }) => v.id === venue.id)).toEqual({
        id: venue.id,
        name: "Lindenhof",
        city: "Berlin",
        address: "Unter den Linden 1",
        seatCount: 6,
        capacity: 56,
      });
      expect(list.body).toMatchObject({ page: 1, pageSize: 20, total: expect.any(Number) });
    });

    it("generates a 20,000-seat layout from a small body", async () => {
      const body = { generate: { sections: [{ name: "North", rows: 100, seatsPerRow: 100, category: "main" }, { name: "South", rows: 100, seatsPerRow: 100, category: "end" }] } };
      const venue = await createVenue(body);
      expect(venue).toMatchObject({ seatCount: 20_000, capacity: 20_000, categories: ["end", "main"] });
      const read = await anon.get(`/api/venues/${venue.id}`);
      expect(read.body.layout.sections[1].rows[25].seats[11]).toEqual({ id: "S2-Z-12", label: "South Z-12", x: 11, y: 127, category: "end" });
      // Layouts are immutable: a client that has it revalidates with its ETag and gets no body.
      const etag = read.headers.get("etag")!;
      expect(etag).toMatch(/^"venue-/);
      const again = await anon.get(`/api/venues/${venue.id}`, { "if-none-match": etag });
      expect(again.status).toBe(304);
      expect(again.text).toBe("");
      expect((await anon.get(`/api/venues/${venue.id}`, { "if-none-match": '"stale"' })).status).toBe(200);
      // A browser gets it gzipped (about 1/20 of the JSON here); a client without gzip, as JSON.
      const zipped = await anon.raw(`/api/venues/${venue.id}`, { "accept-encoding": "gzip, deflate, br" });
      expect(zipped.headers["content-encoding"]).toBe("gzip");
      expect(zipped.headers.vary).toBe("Accept-Encoding");
      expect(zipped.headers.etag).toBe(etag);
      expect(JSON.parse(zlib.gunzipSync(zipped.body).toString())).toEqual(read.body);
      const plain = await anon.raw(`/api/venues/${venue.id}`);
      expect(plain.headers["content-encoding"]).toBeUndefined();
      expect(plain.headers["content-type"]).toMatch(/^application\/json/);
      expect(zipped.body.length).toBeLessThan(plain.body.length / 10);
      expect(JSON.parse(plain.body.toString())).toEqual(read.body);
    });

    it("reads and encodes a layout once for buyers who ask for it at once", async () => {
      const venue = await createVenue({ generate: { sections: [{ name: "Ring", rows: 40, seatsPerRow: 50, category: "main" }] } });
      const before = (await rowsRead(db, ["venues"])).venues;
      const reads = await Promise.all(Array.from({ length: 20 }, () => anon.get(`/api/venues/${venue.id}`)));
      expect(reads.map((r) => r.status)).toEqual(Array(20).fill(200));
      for (const r of reads) expect(r.text).toBe(reads[0].text);
      expect(reads[0].body.layout.sections[0].rows).toHaveLength(40);
      // The venue's version and its layout are each read once for all 20 (twice at most, should
      // the version's copy age out meanwhile), where a read of both per request would make 40.
      expect((await rowsRead(db, ["venues"])).venues - before).toBeLessThanOrEqual(4);
    });

    it("buyers may not create venues (403), anonymous visitors must sign in (401); nothing is written", async () => {
      const before = await counts();
      const body = { name: "X", city: "Y", layout: theatreLayout };
      expect((await buyer.post("/api/venues", body)).status).toBe(403);
      const res = await anon.post("/api/venues", body);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("UNAUTHORIZED");
      expect(await counts()).toEqual(before);
    });

    it("refuses invalid layouts with the failing field named, and writes nothing", async () => {
      const before = await counts();
      const dupSeats = structuredClone(theatreLayout);
      dupSeats.sections[0].rows[1].seats[0].id = "S1-A-1";
      const noCategory = structuredClone(theatreLayout) as any;
      delete noCategory.sections[0].rows[0].seats[0].category;
      const cases: Array<[unknown, string]> = [
        [dupSeats, "layout.sections[0].rows[1].seats[0].id"],
        [noCategory, "layout.sections[0].rows[0].seats[0].category"],
        [{ sections: [], areas: [] }, "layout"],
        [{ generate: { sections: [{ name: "Huge", rows: 500, seatsPerRow: 1000, category: "x" }] } }, "layout.generate.sections"],
        [{ generate: { sections: [{ name: "S", rows: 1, seatsPerRow: 1, category: "a" }] }, sections: [] }, "layout"],
        [{ generate: { sections: [{ name: "S", rows: "10", seatsPerRow: 1, category: "a" }] } }, "layout.generate.sections[0].rows"],
        [{ areas: [{ id: "a'; DROP TABLE venues; --", name: "A", capacity: 1, category: "a" }] }, "layout.areas[0].id"],
      ];
      for (const [layout, field] of cases) {
        const res = await organizer.post("/api/venues", { name: "Bad", city: "Nowhere", layout });
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe("VALIDATION_ERROR");
        expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
      }
      const typed = await organizer.post("/api/venues", { name: "Bad", city: "Nowhere", layout: "rows of seats" });
      expect(typed.status).toBe(400);
      expect(typed.body.error.details.fields[0].field).toBe("layout");
      expect(await counts()).toEqual(before);
    });

    it("answers 404 for unknown venues and 400 for ids that cannot be ids", async () => {
      expect((await anon.get(`/api/venues/${randomUUID()}`)).status).toBe(404);
      expect((await anon.get(`/api/venues/${encodeURIComponent("1' OR '1'='1")}`)).status).toBe(400);
      expect((await anon.get(`/api/venues/${"x".repeat(65)}`)).status).toBe(400);
    });
  });

  describe("events", () => {
    let venueId: string;
    beforeAll(async () => {
      venueId = (await createVenue()).id;
    });

    it("drafts are visible to their organizer and admins only, until published", async () => {
      const draft = await createEvent(organizer, { title: "Secret Premiere" });
      expect(draft).toMatchObject({ status: "draft", organizerId });
      const inList = async (c: HttpClient) => (await c.get("/api/events?q=Secret%20Premiere")).body.items.map((e: { id: string }) => e.id);
      expect(await inList(anon)).toEqual([]);
      expect(await inList(buyer)).toEqual([]);
      expect(await inList(rival)).toEqual([]);
      expect(await inList(organizer)).toEqual([draft.id]);
      expect(await inList(admin)).toEqual([draft.id]);
      expect((await anon.get(`/api/events/${draft.id}`)).status).toBe(404);
      expect((await rival.get(`/api/events/${draft.id}`)).status).toBe(404);
      expect((await organizer.get(`/api/events/${draft.id}`)).status).toBe(200);

      const published = await organizer.put(`/api/events/${draft.id}`, { status: "on_sale" });
      expect(published.status).toBe(200);
      expect(await inList(anon)).toEqual([draft.id]);
      // The node's copy of the draft, read for its organizer above, is gone with the change.
      expect((await anon.get(`/api/events/${draft.id}`)).body).toMatchObject({ id: draft.id, status: "on_sale" });
    });

    it("an event shows its sessions with prices, venue and whether they are on sale", async () => {
      const event = await createEvent(organizer, { status: "on_sale" });
      const open = await createSession(organizer, event.id, venueId);
      const later = await createSession(organizer, event.id, venueId, { startsAt: days(20), endsAt: days(20.1), salesOpenAt: days(5) });
      const res = await anon.get(`/api/events/${event.id}`);
      expect(res.status).toBe(200);
      expect(res.body.sessions.map((s: { id: string; onSale: boolean }) => [s.id, s.onSale])).toEqual([
        [open.id, true],
        [later.id, false],
      ]);
      expect(res.body.sessions[0]).toMatchObject({
        prices: { premium: 5000, standard: 3000, standing: 1500 },
        currency: "EUR",
        maxPerCustomer: 10,
        holdSeconds: 600,
        venue: { id: venueId, name: "Lindenhof", seatCount: 6, capacity: 56 },
      });
    });

    it("buyers may not create events; a foreign organizer can neither see nor change someone else's event", async () => {
      const event = await createEvent(organizer);
      const before = await counts();
      expect((await buyer.post("/api/events", { title: "X", category: "theatre", city: "Berlin" })).status).toBe(403);
      expect((await anon.post("/api/events", { title: "X", category: "theatre", city: "Berlin" })).status).toBe(401);
      expect((await buyer.put(`/api/events/${event.id}`, { title: "Mine" })).status).toBe(403);
      const put = await rival.put(`/api/events/${event.id}`, { title: "Mine now" });
      expect(put.status).toBe(404);
      expect(put.body.error.code).toBe("NOT_FOUND");
      expect((await rival.delete(`/api/events/${event.id}`)).status).toBe(404);
      expect((await rival.post("/api/sessions", { eventId: event.id, venueId, startsAt: days(3), endsAt: days(3.1), prices: { premium: 1, standard: 1, standing: 1 }, currency: "EUR" })).status).toBe(404);
      expect(await counts()).toEqual(before);
      expect((await db("events").where({ id: event.id }).first()).title).toBe("Hamlet");
      // Admins may change anyone's event.
      expect((await admin.put(`/api/events/${event.id}`, { title: "Hamlet (revised)" })).body.title).toBe("Hamlet (revised)");
    });

    it("deletes an event without sessions, and cancels one with sessions instead", async () => {
      const empty = await createEvent(organizer);
      const del = await organizer.delete(`/api/events/${empty.id}`);
      expect(del.status).toBe(204);
      expect((await organizer.get(`/api/events/${empty.id}`)).status).toBe(404);

      const busy = await createEvent(organizer, { status: "on_sale" });
      const session = await createSession(organizer, busy.id, venueId);
      const cancel = await organizer.delete(`/api/events/${busy.id}`);
      expect(cancel.status).toBe(200);
      expect(cancel.body.status).toBe("cancelled");
      const read = await anon.get(`/api/events/${busy.id}`);
      expect(read.status).toBe(200);
      expect(read.body.sessions).toEqual([expect.objectContaining({ id: session.id, status: "cancelled", onSale: false })]);
      const listed = async (c: HttpClient) => (await c.get("/api/events?pageSize=100")).body.items.map((e: { id: string }) => e.id);
      expect(await listed(anon)).not.toContain(busy.id);
      expect(await listed(admin)).toContain(busy.id);
      const again = await organizer.put(`/api/events/${busy.id}`, { status: "on_sale" });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe("EVENT_CANCELLED");
      expect((await organizer.post("/api/sessions", { eventId: busy.id, venueId, startsAt: days(3), endsAt: days(3.1), prices: { premium: 1, standard: 1, standing: 1 }, currency: "EUR" })).status).toBe(409);
    });

    it("a delete racing a new session ends consistent: deleted with no sessions, or cancelled with all sessions cancelled", async () => {
      for (let round = 0; round < 8; round++) {
        const event = await createEvent(organizer, { status: "on_sale" });
        const [del, created] = await Promise.all([
          organizer.delete(`/api/events/${event.id}`),
          organizer.post("/api/sessions", { eventId: event.id, venueId, startsAt: days(3), endsAt: days(3.1), prices: { premium: 1, standard: 1, standing: 1 }, currency: "EUR" }),
        ]);
        expect([200, 204]).toContain(del.status);
        expect([201, 404]).toContain(created.status);
        const stored = await db("events").where({ id: event.id }).first();
        const sessions = await db("sessions").where({ event_id: event.id });
        if (!stored) expect(sessions).toEqual([]);
        else {
          expect(stored.status).toBe("cancelled");
          expect(sessions.map((s: { status: string }) => s.status)).toEqual(sessions.map(() => "cancelled"));
        }
      }
    });

    it("answers the front page's listing from one read for everyone, while organizers and admins see their own drafts", async () => {
      const city = `Listhausen-${randomUUID().slice(0, 8)}`;
      const shown = await createEvent(organizer, { title: "Public Night", city, status: "on_sale" });
      const draft = await createEvent(organizer, { title: "Quiet Draft", city });
      const listed = async (c: HttpClient) => {
        const res = await c.get(`/api/events?city=${city}&pageSize=24`);
        expect(res.status).toBe(200);
        return res.body.items.map((e: { id: string }) => e.id).sort();
      };
      const newcomerId = randomUUID();
      const newcomer = as(["buyer", "organizer"], newcomerId);
      // What one anonymous visitor and one buyer cost the database right after a change.
      const before = (await rowsRead(db, ["events"])).events;
      expect(await listed(anon)).toEqual([shown.id]);
      expect(await listed(buyer)).toEqual([shown.id]);
      const one = (await rowsRead(db, ["events"])).events - before;
      expect(one).toBeGreaterThan(0);
      // Forty visitors at once read the events at most once more.
      const pages = await Promise.all(Array.from({ length: 40 }, (_, i) => listed(i % 2 ? anon : as(["buyer"]))));
      for (const ids of pages) expect(ids).toEqual([shown.id]);
      expect((await rowsRead(db, ["events"])).events - before - one).toBeLessThanOrEqual(one);

      // The draft's organizer and admins see it; a rival organizer does not.
      expect(await listed(organizer)).toEqual([shown.id, draft.id].sort());
      expect(await listed(admin)).toEqual([shown.id, draft.id].sort());
      expect(await listed(rival)).toEqual([shown.id]);
      // An organizer's first event shows in their own listing at once.
      expect(await listed(newcomer)).toEqual([shown.id]);
      const first = await createEvent(newcomer, { title: "Newcomer Draft", city });
      expect(await listed(newcomer)).toEqual([shown.id, first.id].sort());
      expect(await listed(anon)).toEqual([shown.id]);
      // Published, the draft shows for everyone at once.
      expect((await organizer.put(`/api/events/${draft.id}`, { status: "on_sale" })).status).toBe(200);
      expect(await listed(anon)).toEqual([shown.id, draft.id].sort());
      expect(await listed(buyer)).toEqual([shown.id, draft.id].sort());
    });

    it("translates title and description by lang or Accept-Language, falling back to English", async () => {
      const event = await createEvent(organizer, {
        title: "The Magic Flute",
        description: "Mozart's opera",
        status: "on_sale",
        translations: { de: { title: "Die Zauberflöte", description: "Mozarts Oper" }, fr: { title: "La Flûte enchantée" } },
      });
      const get = (q: string, headers?: Record<string, string>) => anon.get(`/api/events/${event.id}${q}`, headers).then((r) => r.body);
      expect(await get("?lang=de")).toMatchObject({ title: "Die Zauberflöte", description: "Mozarts Oper", lang: "de" });
      expect(await get("", { "accept-language": "de-DE,de;q=0.9,en;q=0.8" })).toMatchObject({ title: "Die Zauberflöte", lang: "de" });
      expect(await get("?lang=fr")).toMatchObject({ title: "La Flûte enchantée", description: "Mozart's opera", lang: "fr" });
      expect(await get("?lang=es")).toMatchObject({ title: "The Magic Flute", lang: "en" });
      expect(await get("")).toMatchObject({ title: "The Magic Flute", lang: "en" });
      const listed = await anon.get("/api/events?q=Zauberfl%C3%B6te&lang=de");
      expect(listed.body.items.map((e: { title: string }) => e.title)).toEqual(["Die Zauberflöte"]);
      const bad = await organizer.post("/api/events", { title: "X", category: "theatre", city: "Berlin", translations: { english: { title: "X" } } });
      expect(bad.status).toBe(400);
      const badValue = await organizer.post("/api/events", { title: "X", category: "theatre", city: "Berlin", translations: { de: { title: "X", price: 1 } } });
      expect(badValue.status).toBe(400);
    });

    it("searches literally: wildcards and SQL metacharacters in q match themselves", async () => {
      const pct = await createEvent(organizer, { title: "100% Jazz", status: "on_sale" });
      await createEvent(organizer, { title: "1000 Jazz", status: "on_sale" });
      const search = async (q: string) => {
        const res = await anon.get(`/api/events?q=${encodeURIComponent(q)}`);
        expect(res.status).toBe(200);
        return res.body.items.map((e: { id: string }) => e.id);
      };
      expect(await search("100%")).toEqual([pct.id]);
      expect(await search("0_ Jazz")).toEqual([]);
      expect(await search("'; DROP TABLE events; --")).toEqual([]);
      expect(await search("\\")).toEqual([]);
      expect(await count("events")).toBeGreaterThan(0);
    });

    it("filters by category, city and session dates, and paginates without overlap", async () => {
      const city = `Testville-${randomUUID().slice(0, 8)}`;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const e = await createEvent(organizer, { title: `Match ${i}`, category: i < 3 ? "sports" : "concert", city, status: "on_sale" });
        await createSession(organizer, e.id, venueId, { startsAt: days(30 + i), endsAt: days(30.1 + i) });
        ids.push(e.id);
      }
      const list = (q: string) => anon.get(`/api/events?city=${city.toUpperCase()}${q}`).then((r) => r.body);
      expect((await list("")).total).toBe(5);
      expect((await list("&category=sports")).items.map((e: { id: string }) => e.id)).toEqual(ids.slice(0, 3));
      expect((await list(`&from=${encodeURIComponent(days(31.5))}&to=${encodeURIComponent(days(33.5))}`)).items.map((e: { id: string }) => e.id)).toEqual(ids.slice(2, 4));
      const p1 = await list("&pageSize=2&page=1");
      const p3 = await list("&pageSize=2&page=3");
      expect(p1).toMatchObject({ total: 5, page: 1, pageSize: 2 });
      expect(p1.items.map((e: { id: string }) => e.id)).toEqual(ids.slice(0, 2));
      expect(p3.items.map((e: { id: string }) => e.id)).toEqual(ids.slice(4));
      expect((await list("&page=4&pageSize=2")).items).toEqual([]);
      const first = await db("sessions").where({ event_id: ids[0] }).first();
      expect(p1.items[0].nextSessionAt).toBe(first.starts_at.toISOString());
    });

    it("rejects bad input on every event route in the API's error shape, writing nothing", async () => {
      const event = await createEvent(organizer);
      const before = await counts();
      const bad: Array<Promise<{ status: number; body: any }>> = [
        organizer.post("/api/events", { title: 5, category: "theatre", city: "Berlin" }),
        organizer.post("/api/events", { category: "theatre", city: "Berlin" }),
        organizer.post("/api/events", { title: "X", category: "theatre", city: "Berlin", price: 5 }),
        organizer.post("/api/events", { title: "x".repeat(10_000), category: "theatre", city: "Berlin" }),
        organizer.post("/api/events", { title: "X", category: "the atre'--", city: "Berlin" }),
        organizer.post("/api/events", { title: "X", category: "theatre", city: "Berlin", status: "cancelled" }),
        organizer.post("/api/events", { title: "X", category: "theatre", city: "Berlin", images: ["javascript:alert(1)"] }),
        organizer.post("/api/events", { title: "X", category: "theatre", city: "Berlin", organizerId: randomUUID() }),
        organizer.put(`/api/events/${event.id}`, { status: "published" }),
        organizer.put(`/api/events/${event.id}`, { title: "" }),
        organizer.put(`/api/events/${event.id}`, { organizerId: randomUUID() }),
        organizer.put(`/api/events/${event.id}`, { title: null }),
        organizer.put(`/api/events/${event.id}`, { city: "Bonn", status: null }),
        organizer.put(`/api/events/${event.id}`, { translations: { de: { title: null } } }),
        organizer.put(`/api/events/${encodeURIComponent("x' OR 1=1 --")}`, { title: "X" }),
        organizer.delete(`/api/events/${encodeURIComponent("../venues")}`),
        anon.get("/api/events?pageSize=1000"),
        anon.get("/api/events?page=0"),
        anon.get("/api/events?page=abc"),
        anon.get("/api/events?from=yesterday"),
        anon.get(`/api/events?q=${"x".repeat(300)}`),
        anon.get("/api/events?lang=de'--"),
        anon.get("/api/events?sort=title"),
        anon.get(`/api/events?from=${days(5)}&to=${days(1)}`),
        organizer.request("POST", "/api/events", "{not json", { "content-type": "application/json" }),
      ];
      for (const res of await Promise.all(bad)) {
        expect(res.status).toBe(400);
        const { code, message, details } = res.body.error;
        expect(typeof message).toBe("string");
        if (code === "VALIDATION_ERROR") expect(details.fields.length).toBeGreaterThan(0);
        else expect(code).toBe("INVALID_JSON");
      }
      expect(await counts()).toEqual(before);
      expect(await db("events").where({ id: event.id }).first()).toMatchObject({ status: "draft", title: event.title, city: event.city });
      // null where a field cannot be null names the field.
      expect((await organizer.put(`/api/events/${event.id}`, { description: "New", title: null })).body.error.details.fields).toEqual([
        { field: "title", message: "The 'title' field must not be null.", type: "notNull" },
      ]);
    });
  });

  describe("sessions", () => {
    let venueId: string;
    let eventId: string;
    beforeAll(async () => {
      venueId = (await createVenue()).id;
      eventId = (await createEvent(organizer, { status: "on_sale", title: "Session Host" })).id;
    });

    it("answers a session with prices, currency, on-sale flag, venue and event summary", async () => {
      const session = await createSession(organizer, eventId, venueId, { maxPerCustomer: 4, holdSeconds: 300, currency: "eur" });
      const res = await anon.get(`/api/sessions/${session.id}?lang=de`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        id: session.id,
        eventId,
        venueId,
        currency: "EUR",
        prices: { premium: 5000, standard: 3000, standing: 1500 },
        onSale: true,
        maxPerCustomer: 4,
        holdSeconds: 300,
        status: "scheduled",
        venue: { id: venueId, name: "Lindenhof", city: "Berlin", seatCount: 6, capacity: 56 },
        event: { id: eventId, title: "Session Host", status: "on_sale" },
      });
      const list = await anon.get(`/api/sessions?eventId=${eventId}`);
      expect(list.body).toMatchObject({ total: 1, page: 1, pageSize: 20 });
      expect(list.body.items[0].id).toBe(session.id);
    });

    it("hides the sessions of drafts from everyone but their organizer", async () => {
      const draft = await createEvent(organizer, { title: "Draft with session" });
      const session = await createSession(organizer, draft.id, venueId);
      expect(session.onSale).toBe(false);
      expect((await anon.get(`/api/sessions/${session.id}`)).status).toBe(404);
      expect((await rival.get(`/api/sessions?eventId=${draft.id}`)).status).toBe(404);
      expect((await anon.get("/api/sessions?pageSize=100")).body.items.map((s: { id: string }) => s.id)).not.toContain(session.id);
      expect((await organizer.get(`/api/sessions/${session.id}`)).status).toBe(200);
      expect((await admin.get(`/api/sessions?eventId=${draft.id}`)).body.total).toBe(1);
    });

    it("answers buyers opening a session's page at once from one read, and shows a change at once", async () => {
      const event = await createEvent(organizer, { status: "on_sale", title: "Opening Night" });
      const session = await createSession(organizer, event.id, venueId);
      const page = () => Promise.all([anon.get(`/api/sessions/${session.id}`), anon.get(`/api/events/${event.id}`)]);
      const read = async () => rowsRead(db, ["sessions", "events"]);
      // What one page costs the database when nothing is kept: a change was just made.
      const before = await read();
      await page();
      const after = await read();
      const one = { sessions: after.sessions - before.sessions, events: after.events - before.events };
      expect(one.sessions).toBeGreaterThan(0);
      expect(one.events).toBeGreaterThan(0);
      // Thirty buyers at once read the rows at most once more (when the first copy has aged out).
      const pages = await Promise.all(Array.from({ length: 30 }, page));
      for (const [s, e] of pages) {
        expect([s.status, e.status]).toEqual([200, 200]);
        expect(s.body.event.title).toBe("Opening Night");
        expect(e.body.sessions.map((x: { id: string }) => x.id)).toEqual([session.id]);
      }
      const burst = await read();
      expect(burst.sessions - after.sessions).toBeLessThanOrEqual(one.sessions);
      expect(burst.events - after.events).toBeLessThanOrEqual(one.events);

      // Every change shows in the next answer, on both routes.
      await organizer.put(`/api/sessions/${session.id}`, { prices: { premium: 7000, standard: 3000, standing: 1500 } });
      expect((await anon.get(`/api/sessions/${session.id}`)).body.prices.premium).toBe(7000);
      expect((await anon.get(`/api/events/${event.id}`)).body.sessions[0].prices.premium).toBe(7000);
      await organizer.put(`/api/events/${event.id}`, { title: "Opening Night, moved" });
      expect((await anon.get(`/api/sessions/${session.id}`)).body.event.title).toBe("Opening Night, moved");
      expect((await anon.get(`/api/events/${event.id}`)).body.title).toBe("Opening Night, moved");
      const second = await createSession(organizer, event.id, venueId, { startsAt: days(11), endsAt: days(11.1) });
      expect((await anon.get(`/api/events/${event.id}`)).body.sessions.map((x: { id: string }) => x.id)).toEqual([session.id, second.id]);
      await organizer.put(`/api/events/${event.id}`, { status: "cancelled" });
      expect((await anon.get(`/api/sessions/${session.id}`)).body).toMatchObject({ status: "cancelled", onSale: false, event: { status: "cancelled" } });
      expect((await anon.get(`/api/events/${event.id}`)).body.sessions.map((x: { status: string }) => x.status)).toEqual(["cancelled", "cancelled"]);
    });

    it("keeps a draft's session hidden from others after its organizer has read it", async () => {
      const draft = await createEvent(organizer, { title: "Unannounced" });
      const session = await createSession(organizer, draft.id, venueId);
      expect((await organizer.get(`/api/sessions/${session.id}`)).status).toBe(200);
      expect((await organizer.get(`/api/events/${draft.id}`)).status).toBe(200);
      for (const client of [anon, buyer, rival]) {
        expect((await client.get(`/api/sessions/${session.id}`)).status).toBe(404);
        expect((await client.get(`/api/events/${draft.id}`)).status).toBe(404);
      }
      expect((await admin.get(`/api/sessions/${session.id}`)).status).toBe(200);
    });

    it("updates a session: sales window, prices; only the event's organizer or an admin", async () => {
      const session = await createSession(organizer, eventId, venueId);
      const later = await organizer.put(`/api/sessions/${session.id}`, { salesOpenAt: days(2), prices: { premium: 6000, standard: 3000, standing: 1000 } });
      expect(later.status).toBe(200);
      expect(later.body).toMatchObject({ onSale: false, prices: { premium: 6000, standard: 3000, standing: 1000 } });
      const reopened = await organizer.put(`/api/sessions/${session.id}`, { salesOpenAt: null });
      expect(reopened.body).toMatchObject({ onSale: true, salesOpenAt: null });
      // A sales window's end may be cleared with null; prices and the hold time may not.
      const cleared = await organizer.put(`/api/sessions/${session.id}`, { prices: null, holdSeconds: null });
      expect(cleared.status).toBe(400);
      expect(cleared.body.error.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(["holdSeconds", "prices"]);
      expect((await rival.put(`/api/sessions/${session.id}`, { holdSeconds: 120 })).status).toBe(404);
      expect((await buyer.put(`/api/sessions/${session.id}`, { holdSeconds: 120 })).status).toBe(403);
      const bad = await organizer.put(`/api/sessions/${session.id}`, { endsAt: days(1) });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.fields).toEqual([{ field: "endsAt", message: "must be after startsAt" }]);
      const cancelled = await organizer.put(`/api/sessions/${session.id}`, { status: "cancelled" });
      expect(cancelled.body).toMatchObject({ status: "cancelled", onSale: false });
      expect((await organizer.put(`/api/sessions/${session.id}`, { status: "scheduled" })).status).toBe(409);
      const stored = await db("sessions").where({ id: session.id }).first();
      expect(stored).toMatchObject({ hold_seconds: 600, prices: { premium: 6000, standard: 3000, standing: 1000 }, status: "cancelled" });
    });

    it("prices must cover exactly the venue's categories, in whole non-negative amounts", async () => {
      const before = await counts();
      const base = { eventId, venueId, startsAt: days(10), endsAt: days(10.1), currency: "EUR" };
      const missing = await organizer.post("/api/sessions", { ...base, prices: { premium: 5000, standard: 3000 } });
      expect(missing.status).toBe(400);
      expect(missing.body.error.details.missing).toEqual(["standing"]);
      const unknown = await organizer.post("/api/sessions", { ...base, prices: { premium: 1, standard: 1, standing: 1, vip: 1 } });
      expect(unknown.body.error.details.unknown).toEqual(["vip"]);
      for (const prices of [
        { premium: -1, standard: 1, standing: 1 },
        { premium: 1.5, standard: 1, standing: 1 },
        { premium: "10", standard: 1, standing: 1 },
        { premium: 1e12, standard: 1, standing: 1 },
        [1, 2, 3],
      ]) {
        expect((await organizer.post("/api/sessions", { ...base, prices })).status).toBe(400);
      }
      const putMissing = await organizer.put(`/api/sessions/${(await createSession(organizer, eventId, venueId)).id}`, { prices: { premium: 1 } });
      expect(putMissing.status).toBe(400);
      expect(await count("venues")).toBe(before.venues);
      expect(await count("sessions")).toBe(before.sessions + 1);
    });

    it("rejects bad input on every session route, writing nothing", async () => {
      const before = await counts();
      const base = { eventId, venueId, startsAt: days(10), endsAt: days(10.1), prices: { premium: 1, standard: 1, standing: 1 }, currency: "EUR" };
      const statuses = await Promise.all([
        organizer.post("/api/sessions", { ...base, endsAt: base.startsAt }),
        organizer.post("/api/sessions", { ...base, currency: "EURO" }),
        organizer.post("/api/sessions", { ...base, currency: "E1R" }),
        organizer.post("/api/sessions", { ...base, startsAt: "tomorrow evening" }),
        organizer.post("/api/sessions", { ...base, startsAt: 5 }),
        organizer.post("/api/sessions", { ...base, salesOpenAt: days(3), salesCloseAt: days(2) }),
        organizer.post("/api/sessions", { ...base, maxPerCustomer: 0 }),
        organizer.post("/api/sessions", { ...base, holdSeconds: 86_400 }),
        organizer.post("/api/sessions", { ...base, status: "cancelled" }),
        organizer.post("/api/sessions", { ...base, eventId: "x'; DROP TABLE sessions; --" }),
        organizer.post("/api/sessions", { ...base, venueId: undefined }),
        organizer.put(`/api/sessions/${encodeURIComponent("a b")}`, { holdSeconds: 120 }),
        anon.get("/api/sessions?eventId=%27%20OR%201%3D1"),
        anon.get("/api/sessions?pageSize=0"),
        anon.get(`/api/sessions/${"s".repeat(100)}`),
      ]);
      expect(statuses.map((r) => r.status)).toEqual(statuses.map(() => 400));
      for (const r of statuses) expect(r.body.error.code).toBe("VALIDATION_ERROR");
      // Well-formed ids that do not exist are simply not found.
      expect((await organizer.post("/api/sessions", { ...base, venueId: randomUUID() })).status).toBe(404);
      expect((await organizer.post("/api/sessions", { ...base, eventId: randomUUID() })).status).toBe(404);
      expect((await anon.get(`/api/sessions/${randomUUID()}`)).status).toBe(404);
      expect(await counts()).toEqual(before);
    });
  });
});
