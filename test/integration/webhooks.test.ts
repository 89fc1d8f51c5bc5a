/**
 * Webhooks: organizers register URLs, receive their own events' orders signed with HMAC-SHA256,
 * and deliveries that fail are retried with backoff from the durable `webhook_deliveries` table.
 * The receiver is a real HTTP server on 127.0.0.1 that fails the first attempts.
 */
import http from "http";
import { AddressInfo } from "net";
import { Channels } from "../../channels";
import { verifyWebhookSignature } from "../../src/domain/webhooks";
import { startTestNode, TestNode } from "../helpers/node";
import { CatalogFixture, confirm, confirmedOrder, createCatalog, processed, TestUser, userOf, waitFor } from "../helpers/fulfilment";

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  answered: number;
}

/** Answers 500 to the first `failFirst` attempts of each delivery (by X-TicketFlash-Delivery), then 200. */
function receiver(failFirst: number, alwaysFail: string[] = []) {
  const received: Received[] = [];
  const seen = new Map<string, number>();
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const id = String(req.headers["x-ticketflash-delivery"]);
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      const answered = alwaysFail.includes(req.url ?? "") || n <= failFirst ? 500 : 200;
      received.push({ path: req.url ?? "", headers: req.headers, body, answered });
      res.statusCode = answered;
      res.end();
    });
  });
  return {
    received,
    listen: () => new Promise<string>((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("webhooks", () => {
  let node: TestNode;
  let organizer: TestUser;
  let rival: TestUser;
  let buyer: TestUser;
  let catalog: CatalogFixture;
  let base: string;
  const rx = receiver(2, ["/broken"]);

  beforeAll(async () => {
    base = await rx.listen();
    node = await startTestNode({ services: ["api", "tickets", "webhooks"] });
    // Fast retries for the test; production waits 10 s, doubling.
    const svc = node.broker.getLocalService("webhooks") as unknown as { settings: Record<string, unknown> };
    svc.settings.retry = { baseMs: 30, maxMs: 200, maxAttempts: 4 };
    organizer = userOf(node, ["organizer"], "Org");
    rival = userOf(node, ["organizer"], "Rival");
    buyer = userOf(node, ["buyer"], "Ada");
    catalog = await createCatalog(node, { organizerId: organizer.id });
  });
  afterAll(async () => {
    await node.stop();
    await rx.close();
  });

  const deliverDue = () => node.broker.call("webhooks.deliverDue");

  it("registers only http(s) URLs and known events, for organizers", async () => {
    for (const url of ["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "http://user:pw@example.com/h", "not a url"]) {
      const res = await organizer.http.post("/api/webhooks", { url, events: ["orders.confirmed"] });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: "VALIDATION_ERROR", details: { fields: [{ field: "url" }] } });
    }
    expect((await organizer.http.post("/api/webhooks", { url: `${base}/x`, events: ["orders.nope"] })).status).toBe(400);
    expect((await organizer.http.post("/api/webhooks", { url: `${base}/x`, events: [] })).status).toBe(400);
    expect((await organizer.http.post("/api/webhooks", { url: `${base}/x`, events: ["orders.confirmed"], secret: "mine" })).status).toBe(400);
    expect((await buyer.http.post("/api/webhooks", { url: `${base}/x`, events: ["orders.confirmed"] })).status).toBe(403);
    expect((await node.http.post("/api/webhooks", { url: `${base}/x`, events: ["orders.confirmed"] })).status).toBe(401);
  });

  it("keeps an account to 20 webhooks: the 21st is a 409 until one is deleted", async () => {
    const many = userOf(node, ["organizer"], "Many");
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await many.http.post("/api/webhooks", { url: `${base}/many/${i}`, events: ["orders.confirmed"] });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    expect(await many.http.post("/api/webhooks", { url: `${base}/many/20`, events: ["orders.confirmed"] })).toMatchObject({ status: 409, body: { error: { code: "TOO_MANY_WEBHOOKS" } } });
    expect((await many.http.delete(`/api/webhooks/${ids[0]}`)).status).toBe(204);
    expect((await many.http.post("/api/webhooks", { url: `${base}/many/20`, events: ["orders.confirmed"] })).status).toBe(201);
  });

  it("delivers an order's events signed, retrying failed attempts with backoff, to its organizer only", async () => {
    const mine = await organizer.http.post("/api/webhooks", { url: `${base}/mine`, events: ["orders.confirmed", "tickets.issued"] });
    expect(mine.status).toBe(201);
    expect(mine.body).toMatchObject({ id: expect.any(String), secret: expect.stringMatching(/^whsec_/), url: `${base}/mine` });
    expect(mine.headers.get("location")).toBe(`/api/webhooks/${mine.body.id}`);
    const shown = await organizer.http.get(`/api/webhooks/${mine.body.id}`);
    expect(shown.body).toEqual({ id: mine.body.id, url: `${base}/mine`, events: ["orders.confirmed", "tickets.issued"], allEvents: false, createdAt: expect.any(String) });
    const theirs = await rival.http.post("/api/webhooks", { url: `${base}/theirs`, events: ["orders.confirmed", "tickets.issued"] });
    expect(theirs.status).toBe(201);

    const order = confirmedOrder(buyer, catalog, [1, 2]);
    await confirm(node, order);
    const ok = await waitFor("both events delivered", async () => {
      await deliverDue();
      const good = rx.received.filter((r) => r.path === "/mine" && r.answered === 200);
      return good.length === 2 ? good : undefined;
    });

    for (const r of ok) {
      expect(verifyWebhookSignature(mine.body.secret, r.body, r.headers["x-ticketflash-signature"])).toBe(true);
      expect(verifyWebhookSignature(theirs.body.secret, r.body, r.headers["x-ticketflash-signature"])).toBe(false);
      const body = JSON.parse(r.body);
      expect(body.event).toBe(r.headers["x-ticketflash-event"]);
      expect(body.data.orderId).toBe(order.orderId);
      // Every attempt of this delivery carried the same body and signature.
      const attempts = rx.received.filter((x) => x.headers["x-ticketflash-delivery"] === r.headers["x-ticketflash-delivery"]);
      expect(attempts.map((a) => a.answered)).toEqual([500, 500, 200]);
      expect(new Set(attempts.map((a) => a.body)).size).toBe(1);
    }
    expect(ok.map((r) => JSON.parse(r.body).event).sort()).toEqual(["orders.confirmed", "tickets.issued"]);
    expect(JSON.parse(ok.find((r) => JSON.parse(r.body).event === "tickets.issued")!.body).data.ticketIds).toHaveLength(2);

    const log = await organizer.http.get(`/api/webhooks/${mine.body.id}/deliveries`);
    expect(log.status).toBe(200);
    expect(log.body.items).toHaveLength(2);
    for (const d of log.body.items) expect(d).toMatchObject({ status: "DELIVERED", attempts: 3, lastStatus: 200 });

    // Queued in the same transactions as the organizer's: the rival's hook got nothing.
    expect(rx.received.filter((r) => r.path === "/theirs")).toHaveLength(0);
    expect((await rival.http.get(`/api/webhooks/${theirs.body.id}/deliveries`)).body.total).toBe(0);
    expect((await rival.http.get(`/api/webhooks/${mine.body.id}/deliveries`)).status).toBe(404);
    expect((await rival.http.get(`/api/webhooks/${mine.body.id}`)).status).toBe(404);
  });

  it("a redelivered event queues no second delivery", async () => {
    const hook = await organizer.http.post("/api/webhooks", { url: `${base}/redelivery`, events: ["orders.confirmed"] });
    const order = confirmedOrder(buyer, catalog, [3]);
    const before = await processed(node, "webhooks", Channels.ORDERS_CONFIRMED);
    await confirm(node, order);
    await confirm(node, order);
    await waitFor("both processed", async () => (await processed(node, "webhooks", Channels.ORDERS_CONFIRMED)) === before + 2);
    const log = await organizer.http.get(`/api/webhooks/${hook.body.id}/deliveries`);
    expect(log.body.total).toBe(1);
  });

  it("gives up after the last attempt and records why", async () => {
    const hook = await organizer.http.post("/api/webhooks", { url: `${base}/broken`, events: ["orders.confirmed"] });
    await confirm(node, confirmedOrder(buyer, catalog, [4]));
    const failed = await waitFor("delivery to fail for good", async () => {
      await deliverDue();
      const log = await organizer.http.get(`/api/webhooks/${hook.body.id}/deliveries`);
      return log.body.items[0]?.status === "FAILED" ? log.body.items[0] : undefined;
    });
    expect(failed).toMatchObject({ attempts: 4, lastStatus: 500, lastError: "HTTP 500", nextAttemptAt: null });
    expect(rx.received.filter((r) => r.path === "/broken")).toHaveLength(4);
  });

  it("lists an organizer's own hooks without secrets; only the owner deletes", async () => {
    const list = await organizer.http.get("/api/webhooks");
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ page: 1, pageSize: 20 });
    expect(list.body.items.length).toBe(list.body.total);
    expect(list.body.items.length).toBeGreaterThanOrEqual(3);
    for (const h of list.body.items) expect(h.secret).toBeUndefined();
    expect((await rival.http.get("/api/webhooks")).body.items.every((h: any) => !list.body.items.some((m: any) => m.id === h.id))).toBe(true);

    const id = list.body.items[0].id;
    expect((await rival.http.delete(`/api/webhooks/${id}`)).status).toBe(404);
    expect((await organizer.http.delete(`/api/webhooks/${id}`)).status).toBe(204);
    expect((await organizer.http.delete(`/api/webhooks/${id}`)).status).toBe(404);
    expect((await organizer.http.get("/api/webhooks")).body.total).toBe(list.body.total - 1);
  });

  it("refuses private and loopback targets unless WEBHOOK_ALLOW_PRIVATE_NETWORKS (off in cluster mode)", async () => {
    const hook = await organizer.http.post("/api/webhooks", { url: `${base}/private`, events: ["orders.confirmed"] });
    expect(hook.status).toBe(201);
    node.platform.config.webhookAllowPrivateNetworks = false;
    try {
      for (const url of [`${base}/x`, "http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/", "http://10.0.0.7/h", "http://localhost/h"]) {
        const res = await organizer.http.post("/api/webhooks", { url, events: ["orders.confirmed"] });
        expect([url, res.status, res.body.error?.code, res.body.error?.details?.fields?.[0]?.field]).toEqual([url, 400, "VALIDATION_ERROR", "url"]);
      }
      // A hook registered earlier is not called once its target counts as private.
      await confirm(node, confirmedOrder(buyer, catalog, [1]));
      const attempt = await waitFor("a refused attempt", async () => {
        await deliverDue();
        const log = await organizer.http.get(`/api/webhooks/${hook.body.id}/deliveries`);
        return log.body.items[0]?.lastError && log.body.items[0];
      });
      expect(attempt.lastError).toMatch(/private address/);
      expect(rx.received.filter((r) => r.path === "/private")).toHaveLength(0);
    } finally {
      node.platform.config.webhookAllowPrivateNetworks = true;
    }
  });
});
