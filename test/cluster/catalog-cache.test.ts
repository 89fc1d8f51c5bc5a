import { randomUUID } from "crypto";
import { ServiceBroker } from "moleculer";
import { signAccessToken } from "../../src/platform/auth";
import { CATALOG_READ_TTL_MS } from "../../src/domain/catalog";
import { Cluster, startCluster } from "../helpers/cluster";
import { HttpClient } from "../helpers/node";
import { NATS_URL, waitFor } from "../helpers/infra";

/**
 * Each catalog node answers `GET /sessions/:id`, `GET /events/:id` and the listing everyone is
 * shown from its own short-lived copy of the rows (src/platform/read-cache.ts). A change made
 * through one node reaches the other nodes' copies with its broadcast: a buyer reading through
 * another gateway sees it well before the copies would age out.
 */
describe("the catalog's read caches across nodes", () => {
  let cluster: Cluster;
  let organizer: (node: string) => HttpClient;

  beforeAll(async () => {
    cluster = await startCluster({
      nodes: [
        { name: "n1", services: ["api", "catalog"] },
        { name: "n2", services: ["api", "catalog"] },
      ],
    });
    // A node broadcasts a change only to the nodes it knows: wait until each has seen the other.
    const observer = new ServiceBroker({ namespace: cluster.namespace, nodeID: `observer-${randomUUID()}`, transporter: NATS_URL, logger: false });
    await observer.start();
    try {
      for (const [from, to] of [["n1", "n2"], ["n2", "n1"]]) {
        const peer = cluster.node(to).nodeID;
        await waitFor(`${from} knowing ${to}`, async () => {
          const nodes = await observer.call<Array<{ id: string; available: boolean }>, object>("$node.list", {}, { nodeID: cluster.node(from).nodeID }).catch(() => []);
          return nodes.some((n) => n.id === peer && n.available);
        });
      }
    } finally {
      await observer.stop();
    }
    const id = randomUUID();
    const token = signAccessToken(cluster.env.JWT_SECRET, { id, email: `${id}@example.test`, name: "Organizer", roles: ["buyer", "organizer"] });
    organizer = (node) => cluster.node(node).http.as(token);
  });
  afterAll(() => cluster?.stop());

  it("shows a change made through one node in the next reads through the other", async () => {
    const n1 = organizer("n1");
    const venue = await n1.post("/api/venues", { name: "Twin Hall", city: "Graz", layout: { sections: [], areas: [{ id: "floor", name: "Floor", capacity: 100, category: "GA" }] } });
    expect(venue.status).toBe(201);
    const event = await n1.post("/api/events", { title: "Twin Night", category: "concert", city: "Graz", status: "on_sale" });
    const startsAt = Date.now() + 7 * 86_400_000;
    const session = await n1.post("/api/sessions", {
      eventId: event.body.id,
      venueId: venue.body.id,
      startsAt: new Date(startsAt).toISOString(),
      endsAt: new Date(startsAt + 3_600_000).toISOString(),
      prices: { GA: 3000 },
      currency: "EUR",
    });
    expect(session.status).toBe(201);
    const buyer = cluster.node("n2").http;
    const sessionUrl = `/api/sessions/${session.body.id}`;
    const eventUrl = `/api/events/${event.body.id}`;

    // n2 now holds its copies of the three answers.
    const listingUrl = "/api/events?city=Graz";
    expect((await buyer.get(sessionUrl)).body.prices).toEqual({ GA: 3000 });
    expect((await buyer.get(eventUrl)).body.title).toBe("Twin Night");
    expect((await buyer.get(listingUrl)).body.items.map((e: { title: string }) => e.title)).toEqual(["Twin Night"]);

    const seenThrough = async (what: string, check: () => Promise<boolean>) => {
      const started = Date.now();
      await waitFor(what, async () => (await check()) || undefined, CATALOG_READ_TTL_MS, 20);
      return Date.now() - started;
    };
    expect((await n1.put(sessionUrl, { prices: { GA: 4200 } })).status).toBe(200);
    const prices = await seenThrough("the new price through n2", async () => (await buyer.get(sessionUrl)).body.prices.GA === 4200);
    expect((await buyer.get(eventUrl)).body.sessions[0].prices).toEqual({ GA: 4200 });
    expect((await n1.put(eventUrl, { title: "Twin Night, sold in two halls" })).status).toBe(200);
    const title = await seenThrough("the new title through n2", async () => (await buyer.get(sessionUrl)).body.event.title === "Twin Night, sold in two halls");
    expect((await buyer.get(eventUrl)).body.title).toBe("Twin Night, sold in two halls");
    expect((await buyer.get(listingUrl)).body.items.map((e: { title: string }) => e.title)).toEqual(["Twin Night, sold in two halls"]);
    // The broadcast, not the copies' age: a fraction of the TTL.
    expect(Math.max(prices, title)).toBeLessThan(CATALOG_READ_TTL_MS / 2);
  });
});
