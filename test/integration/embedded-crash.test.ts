/**
 * `npm start` killed in the middle of a sale: one embedded node (its own OS process, PGlite under
 * its data directory) SIGKILLed while buyers hold and pay, then started again on the same data.
 * Nothing a buyer was told is lost: every acknowledged hold is stored with its seats, every
 * acknowledged order ends CONFIRMED with its tickets and PDFs, or FAILED because the crash cut
 * its payment off (PAYMENT_INTERRUPTED: the card was only in the dead process's memory; the hold
 * is kept so that the buyer can pay again), no seat is sold twice, and the outbox empties.
 */
import crypto from "crypto";
import fs from "fs";
import os from "os";
import path from "path";
import { signAccessToken } from "../../src/platform/auth";
import { TEST_CARDS } from "../../src/domain/payments";
import { randomLoopbackAddress } from "../helpers/accounts";
import { ClusterNode } from "../helpers/cluster";
import { readEmbeddedDatabase } from "../helpers/embedded-db";
import { freePort, randomSuffix, waitFor } from "../helpers/infra";
import { HttpClient } from "../helpers/node";

/**
 * A request from an address of its own: each buyer is a different client (POST /orders is limited
 * per address). A node that died under the request told the buyer nothing: status 0.
 */
function call(port: number, method: string, url: string, body?: unknown, token?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new HttpClient(`http://127.0.0.1:${port}`, token)
    .from(randomLoopbackAddress())
    .request(method, url, body, headers)
    .catch(() => ({ status: 0, body: undefined }));
}

describe("an embedded node killed mid-sale and started again", () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-crash-"));
  const admin = { email: "admin@crash.test", password: "crash-test-admin-password" };
  let node: ClusterNode;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    const env = {
      DATA_DIR: dataDir,
      // Embedded: no transporter, no database server, no Redis, whatever the environment says.
      TRANSPORTER: "",
      DATABASE_URL: "",
      REDIS_URL: "",
      SEED_DEMO: "false",
      ADMIN_EMAIL: admin.email,
      ADMIN_PASSWORD: admin.password,
      LOG_LEVEL: "warn",
    };
    node = new ClusterNode({ name: "embedded", services: [], env }, {}, randomSuffix());
    node.port = port;
  });
  afterAll(async () => {
    await node?.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const ready = () => waitFor("the node's /ready", async () => (await call(port, "GET", "/ready")).status === 200, 60_000, 100);

  it("loses nothing it acknowledged: holds stored, orders confirmed with tickets or failed for the crash, no seat sold twice", async () => {
    await node.start();
    await ready();

    // A session of 1,000 seats, set up as an organizer would.
    const login = await call(port, "POST", "/api/auth/login", admin);
    expect(login.status).toBe(200);
    const token = login.body.accessToken as string;
    const venue = await call(port, "POST", "/api/venues", { name: "Crash Hall", city: "Berlin", address: "Kill Street 9", layout: { generate: { sections: [{ name: "Hall", rows: 40, seatsPerRow: 25, category: "main" }] } } }, token);
    const event = await call(port, "POST", "/api/events", { title: "Crash Test", category: "concert", city: "Berlin", status: "on_sale" }, token);
    const startsAt = new Date(Date.now() + 7 * 86_400_000);
    const session = await call(port, "POST", "/api/sessions", { eventId: event.body.id, venueId: venue.body.id, startsAt: startsAt.toISOString(), endsAt: new Date(startsAt.getTime() + 3 * 3_600_000).toISOString(), prices: { main: 4900 }, currency: "EUR" }, token);
    expect([venue.status, event.status, session.status]).toEqual([201, 201, 201]);

    // Buyers hold 1-3 seats and pay, each a new buyer; the node dies once 40 orders are acknowledged.
    const secret = JSON.parse(fs.readFileSync(path.join(dataDir, "secrets.json"), "utf8")).jwtSecret as string;
    const card = { method: "card", card: { number: TEST_CARDS.success, expMonth: 12, expYear: new Date().getUTCFullYear() + 2, cvc: "123" } };
    const holds: Record<string, string[]> = {};
    const orders: Array<{ id: string; token: string; holdId: string }> = [];
    let killed = false;
    const buyer = async () => {
      while (!killed) {
        const id = crypto.randomUUID();
        const buyerToken = signAccessToken(secret, { id, email: `${id.slice(0, 8)}@crash.test`, name: "Crash Buyer", roles: ["buyer"] });
        const hold = await call(port, "POST", `/api/sessions/${session.body.id}/holds`, { quantity: 1 + crypto.randomInt(3) }, buyerToken);
        if (hold.status !== 201) continue;
        holds[hold.body.holdId] = hold.body.seats;
        const order = await call(port, "POST", "/api/orders", { holdId: hold.body.holdId, payment: card }, buyerToken, { "idempotency-key": crypto.randomUUID() });
        if (order.status === 202) orders.push({ id: order.body.orderId, token: buyerToken, holdId: hold.body.holdId });
      }
    };
    const buyers = Array.from({ length: 24 }, buyer);
    await waitFor("40 acknowledged orders", async () => orders.length >= 40, 60_000, 5);
    await node.kill("SIGKILL");
    killed = true;
    await Promise.all(buyers);

    // What the dead node left on disk already holds every acknowledgement.
    const atKill = readEmbeddedDatabase(dataDir, {
      queries: {
        holds: { sql: "select id, items from holds where id = any($1)", params: [Object.keys(holds)] },
        orders: { sql: "select id, status from orders where id = any($1)", params: [orders.map((o) => o.id)] },
      },
    }).rows;
    expect(atKill.holds.length).toBe(Object.keys(holds).length);
    for (const h of atKill.holds) expect(h.items.map((i: { seatId: string }) => i.seatId).sort()).toEqual([...holds[h.id]].sort());
    expect(atKill.orders.length).toBe(orders.length);

    // Started again on the same data, it finishes what was under way.
    await node.start();
    await ready();
    const final = await waitFor(
      "every acknowledged order settled",
      async () => {
        const answers = await Promise.all(orders.map((o) => call(port, "GET", `/api/orders/${o.id}`, undefined, o.token)));
        return answers.every((a) => a.status === 200 && a.body.status !== "PENDING") && answers;
      },
      90_000,
      500,
    );
    for (const [i, answer] of final.entries()) {
      const order = answer.body;
      if (order.status === "FAILED") {
        // Only a payment cut off by the crash; the buyer keeps the seats to pay again.
        expect(order.reason).toBe("PAYMENT_INTERRUPTED");
        expect((await call(port, "GET", `/api/holds/${orders[i].holdId}`, undefined, orders[i].token)).body.status).toBe("ACTIVE");
        continue;
      }
      expect(order.status).toBe("CONFIRMED");
      const tickets = await waitFor(`tickets of ${order.id}`, async () => {
        const res = await call(port, "GET", `/api/tickets/my?orderId=${order.id}`, undefined, orders[i].token);
        return res.body.items?.length === order.items.length && res.body.items;
      });
      for (const t of tickets) {
        await waitFor(`the PDF of ticket ${t.id}`, async () => (await call(port, "GET", `/api/tickets/${t.id}/pdf`, undefined, orders[i].token)).status === 200);
      }
    }
    expect(final.filter((a) => a.body.status === "CONFIRMED").length).toBeGreaterThan(0);

    // Counted from the database once the node has stopped: the platform's invariants, and nothing left to send.
    await node.stop();
    const { report, rows } = readEmbeddedDatabase(dataDir, { check: holds, queries: { unsent: { sql: "select count(*)::int as n from outbox where sent_at is null" } } });
    expect(report!.checksRun).toEqual(expect.arrayContaining(["no seat held or sold twice (holds table)", "every acknowledged hold is stored with its seats (" + Object.keys(holds).length + " holds)", "no seat has two live tickets", "every confirmed order has one ticket per item"]));
    expect(report!.violations).toEqual([]);
    expect(rows.unsent[0].n).toBe(0);
  });
});
