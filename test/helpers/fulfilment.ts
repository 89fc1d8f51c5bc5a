/**
 * Fixtures for the tickets/notifications/webhooks tests: a catalog row set (venue, event,
 * session) written straight into the catalog tables, users as signed tokens, and saga events
 * published the way the orders service publishes them: `writeOutbox` in a transaction.
 */
import { randomUUID } from "crypto";
import http from "http";
import { Channels, ChannelName, ChannelPayloads, OrdersConfirmed } from "../../channels";
import { writeOutbox } from "../../mixins/outbox.mixin";
import { Role, signAccessToken } from "../../src/platform/auth";
import type { HttpClient, TestNode } from "./node";

export interface TestUser {
  id: string;
  email: string;
  name: string;
  token: string;
  http: HttpClient;
}

export function userOf(node: TestNode, roles: Role[], name = "Test User"): TestUser {
  const id = randomUUID();
  const email = `${id.slice(0, 8)}@example.com`;
  const token = signAccessToken(node.platform.secrets.jwtSecret, { id, email, name, roles });
  return { id, email, name, token, http: node.http.as(token) };
}

export interface CatalogFixture {
  venueId: string;
  eventId: string;
  sessionId: string;
  startsAt: string;
}

export async function createCatalog(node: TestNode, opts: { organizerId?: string; title?: string } = {}): Promise<CatalogFixture> {
  const db = await node.platform.db();
  const venueId = randomUUID();
  const eventId = randomUUID();
  const sessionId = randomUUID();
  const startsAt = "2027-06-01T19:30:00.000Z";
  const layout = {
    sections: [{ id: "S1", name: "Stalls", rows: [{ id: "S1-A", label: "A", seats: [1, 2, 3, 4].map((n) => ({ id: `S1-A-${n}`, label: `Stalls A-${n}`, x: n, y: 1, category: "standard" })) }] }],
    areas: [],
  };
  await db("venues").insert({ id: venueId, name: "Riverside Hall", city: "Springfield", address: "1 River Road", layout: JSON.stringify(layout), seat_count: 4, capacity: 4 });
  await db("events").insert({ id: eventId, title: opts.title ?? "Symphony in the Park", category: "concert", city: "Springfield", status: "on_sale", organizer_id: opts.organizerId ?? randomUUID() });
  await db("sessions").insert({ id: sessionId, event_id: eventId, venue_id: venueId, starts_at: startsAt, ends_at: "2027-06-01T22:00:00.000Z", prices: JSON.stringify({ standard: 4500 }), currency: "EUR" });
  return { venueId, eventId, sessionId, startsAt };
}

export async function publish<C extends ChannelName>(node: TestNode, channel: C, payload: ChannelPayloads[C]): Promise<void> {
  const db = await node.platform.db();
  await db.transaction((trx) => writeOutbox(trx, channel, payload, { key: (payload as { orderId: string }).orderId }));
}

export function confirmedOrder(user: TestUser, catalog: CatalogFixture, seats: number[], holderName = user.name): OrdersConfirmed {
  const items = seats.map((n, i) => ({ position: i + 1, seatId: `S1-A-${n}`, seatLabel: `Stalls A-${n}`, category: "standard", amountCents: 4500 }));
  return {
    orderId: randomUUID(),
    userId: user.id,
    email: user.email,
    holderName,
    sessionId: catalog.sessionId,
    eventId: catalog.eventId,
    currency: "EUR",
    totalCents: 4500 * items.length,
    items,
  };
}

export async function confirm(node: TestNode, order: OrdersConfirmed): Promise<void> {
  await publish(node, Channels.ORDERS_CONFIRMED, order);
}

/**
 * GET of a binary body (PDF, PNG) on a fresh connection: a pooled keep-alive connection that the
 * server closes while a test spends seconds decoding the previous file fails the next request
 * with ECONNRESET, which says nothing about the route.
 */
export function getBinary(url: string, token?: string): Promise<{ status: number; contentType: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

/** Polls `fn` until it returns something truthy (no timed assertions: the deadline only ends a hung test). */
export { waitFor } from "./infra";

/** Messages of `channel` that consumer `group` has processed (the outbox runtime's inbox). */
/**
 * Messages of `channel` for `key` that the relay has delivered. In embedded mode a delivery ends
 * when every consumer has handled it, so this also counts what consumers without an inbox
 * (`durable(..., { inbox: false })`) have processed.
 */
export async function delivered(node: TestNode, channel: string, key: string): Promise<number> {
  const db = await node.platform.db();
  const [{ c }] = await db("outbox").where({ channel, key, status: "SENT" }).count<{ c: number }[]>({ c: "*" });
  return Number(c);
}

export async function processed(node: TestNode, group: string, channel: string): Promise<number> {
  const db = await node.platform.db();
  const [{ c }] = await db("channel_inbox").where({ consumer_group: group, channel }).count<{ c: number }[]>({ c: "*" });
  return Number(c);
}

/** The attachments of a raw MIME message, decoded (enough MIME for what nodemailer writes). */
export function mimeAttachments(raw: string): Array<{ filename: string; contentType: string; content: Buffer }> {
  const out: Array<{ filename: string; contentType: string; content: Buffer }> = [];
  const parts = raw.split(/\r?\n--[^\r\n]+\r?\n/);
  for (const part of parts) {
    const split = part.search(/\r?\n\r?\n/);
    if (split < 0) continue;
    const head = part.slice(0, split).replace(/\r?\n[ \t]+/g, " ");
    if (!/Content-Disposition:\s*attachment/i.test(head)) continue;
    const filename = /filename="?([^";\r\n]+)"?/i.exec(head)?.[1] ?? "";
    const contentType = /Content-Type:\s*([^;\r\n]+)/i.exec(head)?.[1] ?? "";
    const body = part.slice(split).replace(/\r?\n--[^\r\n]*--\s*$/, "").replace(/\s+/g, "");
    out.push({ filename, contentType, content: Buffer.from(body, "base64") });
  }
  return out;
}
