import zlib from "zlib";
import { Cluster, startCluster } from "../helpers/cluster";
import { HttpClient } from "../helpers/node";

/**
 * Issue "Runnable platform", done-when: three node processes over NATS against the PostgreSQL
 * server (gateway | accounts | catalog); a new user registers, logs in, browses and searches;
 * an admin creates a venue, an event and a session; a node can be killed and restarted.
 */
describe("three-node platform over NATS and PostgreSQL", () => {
  let cluster: Cluster;
  let admin: HttpClient;

  beforeAll(async () => {
    cluster = await startCluster({
      nodes: [
        { name: "accounts", services: ["accounts"] },
        { name: "catalog", services: ["catalog"] },
        { name: "gateway", services: ["api"] },
      ],
    });
    const login = await cluster.api().http.post("/api/auth/login", { email: cluster.env.ADMIN_EMAIL, password: cluster.env.ADMIN_PASSWORD });
    expect(login.status).toBe(200);
    admin = cluster.api().http.as(login.body.accessToken);
  });
  afterAll(() => cluster?.stop());

  let eventId: string;

  it("lets an admin create a venue, an event and a session across nodes", async () => {
    const venue = await admin.post("/api/venues", {
      name: "Cluster Hall",
      city: "Leipzig",
      address: "Ring 1",
      layout: { generate: { sections: [{ name: "Stalls", rows: 10, seatsPerRow: 20, category: "A" }] } },
    });
    expect({ status: venue.status, body: venue.body }).toMatchObject({ status: 201 });
    // The layout crosses from the catalog node to the gateway as gzip bytes (base64 on the wire).
    const zipped = await cluster.api().http.raw(`/api/venues/${venue.body.id}`, { "accept-encoding": "gzip" });
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    const layout = JSON.parse(zlib.gunzipSync(zipped.body).toString());
    expect(layout).toMatchObject({ id: venue.body.id, seatCount: 200, categories: ["A"] });
    expect(layout.layout.sections[0].rows).toHaveLength(10);
    const event = await admin.post("/api/events", {
      title: "Cluster Night",
      description: "Three nodes, one sale",
      category: "concert",
      city: "Leipzig",
      status: "on_sale",
      translations: { de: { title: "Cluster-Nacht", description: "Drei Knoten" } },
    });
    expect({ status: event.status, body: event.body }).toMatchObject({ status: 201 });
    eventId = event.body.id;
    const startsAt = new Date(Date.now() + 7 * 86400_000);
    const session = await admin.post("/api/sessions", {
      eventId,
      venueId: venue.body.id,
      startsAt: startsAt.toISOString(),
      endsAt: new Date(startsAt.getTime() + 3 * 3600_000).toISOString(),
      prices: { A: 4500 },
      currency: "EUR",
    });
    expect({ status: session.status, body: session.body }).toMatchObject({ status: 201 });
    expect(session.body.onSale).toBe(true);
  });

  it("lets a new user register, log in, browse and search", async () => {
    const api = cluster.api().http;
    const reg = await api.post("/api/auth/register", { email: "fan@cluster.test", password: "correct horse battery", name: "Fan" });
    expect(reg.status).toBe(201);
    const login = await api.post("/api/auth/login", { email: "fan@cluster.test", password: "correct horse battery" });
    expect(login.status).toBe(200);
    const me = await api.as(login.body.accessToken).get("/api/users/me");
    expect(me.body).toMatchObject({ email: "fan@cluster.test", roles: ["buyer"] });

    const found = await api.get("/api/events?q=cluster&city=Leipzig");
    expect(found.status).toBe(200);
    expect(found.body.items.map((e: { id: string }) => e.id)).toContain(eventId);
    const german = await api.get(`/api/events/${eventId}?lang=de`);
    expect(german.body.title).toBe("Cluster-Nacht");
    expect(german.body.sessions).toHaveLength(1);

    // A buyer cannot create catalog entries, whichever node serves the call.
    const buyer = api.as(login.body.accessToken);
    expect((await buyer.post("/api/venues", { name: "x", city: "y", address: "z", layout: { sections: [], areas: [] } })).status).toBe(403);
  });

  it("answers 503 with Retry-After while the catalog node is down, and serves again after its restart", async () => {
    const api = cluster.api().http;
    await cluster.node("catalog").kill("SIGKILL");
    // Once the cluster has noticed (heartbeat timeout 3 s), the route still exists: 503, not 404.
    await new Promise((r) => setTimeout(r, 4500));
    const during = await api.get(`/api/events/${eventId}`);
    expect(during.status).toBe(503);
    expect(during.body.error.code).toBe("SERVICE_UNAVAILABLE");
    expect(Number(during.headers.get("retry-after"))).toBeGreaterThan(0);
    await cluster.node("catalog").start();
    const deadline = Date.now() + 15_000;
    let after = await api.get(`/api/events/${eventId}`);
    while (after.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      after = await api.get(`/api/events/${eventId}`);
    }
    expect(after.status).toBe(200);
    expect(after.body.title).toBe("Cluster Night");
  });
});
