/**
 * Bad input to every route: a node with ALL services, its routes read from /api/openapi.json at
 * run time (so routes added later are covered too), and for each one invalid JSON, a wrong
 * content type, wrong types, null, missing and unknown fields, an over-limit body, and hostile path
 * ids, anonymous and with an admin's token (admin passes every role check, so the input reaches
 * validation and the handler). Every answer must be a 4xx in the API error shape; a failure
 * names the route and the case.
 */
import crypto from "crypto";
import http from "http";
import { TEST_CARDS } from "../../src/domain/payments";
import { randomLoopbackAddress, signUp } from "../helpers/accounts";
import { waitFor } from "../helpers/infra";
import { startTestNode, TestNode } from "../helpers/node";
import { createSession } from "../helpers/seat-fixtures";

interface Schema {
  type?: string;
  format?: string;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  oneOf?: Schema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
}

interface Operation {
  method: string;
  path: string;
  pathParams: string[];
  query: Array<{ name: string; schema: Schema }>;
  body?: Schema;
}

interface Case {
  route: string;
  what: string;
  method: string;
  url: string;
  token?: string;
  body?: string;
  contentType?: string;
}

interface Answer {
  status: number;
  text: string;
  headers: http.IncomingHttpHeaders;
}

const HOSTILE_IDS = [
  "../../etc/passwd",
  "..%2F..%2Fetc%2Fpasswd",
  "' OR '1'='1",
  "1; DROP TABLE users; --",
  "%00",
  "x".repeat(1000),
  "\u202e\u0000ü😀",
  "-1",
];

/** A value of the wrong JSON type for a schema. */
function wrongType(schema: Schema): unknown {
  switch (schema.type) {
    case "string":
      return 12345;
    case "number":
      return "not-a-number";
    case "boolean":
      return "maybe";
    case "array":
      return { not: "an array" };
    case "object":
      return "not an object";
    default:
      return schema.enum ? "not-one-of-the-values" : undefined;
  }
}

function operations(spec: { paths: Record<string, Record<string, any>> }): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters ?? []) as Array<{ name: string; in: string; schema: Schema }>;
      ops.push({
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === "path").map((p) => p.name),
        query: params.filter((p) => p.in === "query"),
        body: op.requestBody?.content?.["application/json"]?.schema,
      });
    }
  }
  return ops;
}

function fillPath(op: Operation, id: string): string {
  let url = op.path;
  for (const p of op.pathParams) url = url.replace(`{${p}}`, id);
  return url;
}

function casesFor(op: Operation, token: string | undefined): Case[] {
  const route = `${op.method} ${op.path}`;
  const out: Case[] = [];
  const unknownId = crypto.randomUUID();
  const base = fillPath(op, unknownId);
  const add = (what: string, c: Partial<Case>) => out.push({ route, what, method: op.method, url: base, token, ...c });
  const json = (v: unknown) => ({ body: JSON.stringify(v), contentType: "application/json" });

  for (const id of op.pathParams.length ? HOSTILE_IDS : []) {
    const encoded = encodeURIComponent(id);
    add(`path id ${JSON.stringify(id.slice(0, 30))}`, { url: fillPath(op, encoded), ...(op.body ? json({}) : {}) });
  }

  if (op.body) {
    const props = op.body.properties ?? {};
    const required = op.body.required ?? [];
    add("invalid JSON", { body: '{"a": ', contentType: "application/json" });
    add("JSON that is not an object", json([1, 2, 3]));
    add("wrong content type", { body: "a=1&b=2", contentType: "application/x-www-form-urlencoded" });
    add("text/plain body", { body: JSON.stringify({}), contentType: "text/plain" });
    add("unknown field", json({ __unknown_field__: 1 }));
    add("prototype pollution", { body: '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}', contentType: "application/json" });
    if (required.length) add(`missing required ${required.join(", ")}`, json({}));
    const wrong: Record<string, unknown> = {};
    for (const [name, schema] of Object.entries(props)) {
      const v = wrongType(schema);
      if (v !== undefined) wrong[name] = v;
    }
    if (Object.keys(wrong).length) add(`wrong types for ${Object.keys(wrong).join(", ")}`, json(wrong));
    // Validation reads null on an optional field as "not sent" unless told otherwise: it must not reach the handler.
    for (const name of Object.keys(props).filter((n) => !required.includes(n))) add(`${name} null`, json({ [name]: null }));
    const strings = Object.entries(props).filter(([, s]) => s.type === "string").map(([n]) => n);
    const huge = Object.fromEntries((strings.length ? strings : ["payload"]).map((n) => [n, "x".repeat(100 * 1024)]));
    add("100 KB strings (over the body limit)", json(huge));
    for (const name of strings) {
      const max = props[name].maxLength;
      if (max !== undefined && max < 16 * 1024) add(`${name} one over maxLength ${max}`, json({ [name]: "y".repeat(max + 1) }));
    }
    for (const name of strings) add(`${name} with SQL metacharacters`, json({ [name]: "'; DROP TABLE users; --", __unknown_field__: 1 }));
  } else {
    add("unknown query parameter", { url: `${base}?__unknown_field__=1` });
    for (const q of op.query) {
      // Every query value is a string: only numbers, booleans and enums can have the wrong type.
      const v = q.schema.type === "string" ? undefined : wrongType(q.schema);
      if (v !== undefined && typeof v !== "object") add(`query ${q.name} of the wrong type`, { url: `${base}?${q.name}=${encodeURIComponent(String(v))}` });
      if (q.schema.type === "string") add(`query ${q.name} 4 KB`, { url: `${base}?${q.name}=${"q".repeat(4096)}&__unknown_field__=1` });
      add(`query ${q.name} repeated`, { url: `${base}?${q.name}=1&${q.name}=2&__unknown_field__=1` });
    }
    if (["GET", "DELETE"].includes(op.method)) {
      // A body where none is expected must not change the answer into a 5xx.
      add("body on a bodiless route", { body: '{"a":', contentType: "application/json" });
    }
  }
  return out;
}

/** One request from a random loopback address, so per-address limits (login, register) do not mask answers. */
function send(baseUrl: string, c: Case): Promise<Answer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (c.token) headers.authorization = `Bearer ${c.token}`;
    if (c.body !== undefined) {
      headers["content-type"] = c.contentType ?? "application/json";
      headers["content-length"] = Buffer.byteLength(c.body);
    }
    const req = http.request(
      { host: url.hostname, port: url.port, path: c.url, method: c.method, headers, localAddress: randomLoopbackAddress() },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (b: Buffer) => chunks.push(b));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(c.body);
  });
}

/** What is wrong with an answer, or undefined when it is a proper 4xx. */
function problem(c: Case, a: Answer): string | undefined {
  if (a.status < 400 || a.status >= 500) return `status ${a.status}`;
  let body: any;
  try {
    body = JSON.parse(a.text);
  } catch {
    return `status ${a.status} with a body that is not JSON: ${a.text.slice(0, 120)}`;
  }
  const e = body?.error;
  if (!e || typeof e.code !== "string" || !/^[A-Z][A-Z0-9_]*$/.test(e.code) || typeof e.message !== "string" || !e.message) {
    return `not the API error shape: ${a.text.slice(0, 200)}`;
  }
  if (Object.keys(body).length !== 1) return `extra top-level keys: ${Object.keys(body).join(", ")}`;
  if (e.code === "VALIDATION_ERROR") {
    const fields = e.details?.fields;
    if (!Array.isArray(fields) || !fields.length || !fields.every((f: { field?: unknown }) => typeof f.field === "string" && f.field)) {
      return `VALIDATION_ERROR without the failing fields: ${a.text.slice(0, 200)}`;
    }
  }
  if ((a.status === 429 || a.status === 503) && !a.headers["retry-after"]) return `${a.status} without Retry-After`;
  if (c.what.startsWith("100 KB") && a.status !== 413) return `status ${a.status}, expected 413 for an over-limit body`;
  return undefined;
}

/** Values a field of this schema may be sent with that are wrong, or right at its edges. */
function oddValues(schema: Schema): unknown[] {
  const out: unknown[] = [null, wrongType(schema)];
  if (schema.type === "string") {
    out.push("", " ", "\u0000x", "'; DROP TABLE users; --");
    if (schema.maxLength !== undefined && schema.maxLength < 16 * 1024) out.push("é".repeat(schema.maxLength), "😀".repeat(Math.floor(schema.maxLength / 2)));
  }
  if (schema.type === "number") out.push(schema.minimum, schema.maximum, 1.5, -1, 0);
  if (schema.type === "array") out.push([], [null], [{}]);
  if (schema.type === "object") out.push({}, { __unknown_field__: 1 });
  if (schema.type === "boolean") out.push(true, false);
  out.push(...(schema.enum ?? []));
  return out.filter((v) => v !== undefined);
}

async function runAll<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

describe("bad input to every route", () => {
  let node: TestNode;
  let ops: Operation[];
  let adminToken: string;

  beforeAll(async () => {
    node = await startTestNode({ env: { LOG_LEVEL: "error" } });
    const spec = await node.http.get("/api/openapi.json");
    expect(spec.status).toBe(200);
    ops = operations(spec.body);
    adminToken = (await signUp(node, { roles: ["admin"] })).accessToken;
  });
  afterAll(() => node.stop());

  it("finds the routes of the running services in the generated spec", () => {
    const routes = ops.map((o) => `${o.method} ${o.path}`);
    // The accounts routes are the base every deployment has; more routes join as services land.
    expect(routes).toEqual(expect.arrayContaining(["POST /api/auth/register", "POST /api/auth/login", "GET /api/users/me"]));
  });

  it("declares bounds for every string and number field (a missing max is a bug)", () => {
    const unbounded: string[] = [];
    const check = (where: string, s: Schema | undefined) => {
      if (!s) return;
      if (s.type === "string" && !s.format && s.maxLength === undefined && !s.enum) unbounded.push(`${where}: string without max`);
      if (s.type === "number" && (s.minimum === undefined || s.maximum === undefined)) unbounded.push(`${where}: number without min/max`);
      for (const [k, v] of Object.entries(s.properties ?? {})) check(`${where}.${k}`, v);
      if (s.items) check(`${where}[]`, s.items);
      for (const v of s.oneOf ?? []) check(where, v);
    };
    for (const op of ops) {
      const route = `${op.method} ${op.path}`;
      check(`${route} body`, op.body);
      for (const q of op.query) check(`${route} ?${q.name}`, q.schema);
    }
    expect(unbounded).toEqual([]);
  });

  it("answers every bad request with a 4xx in the API error shape, never a 5xx", async () => {
    const cases = ops.flatMap((op) => [...casesFor(op, undefined), ...casesFor(op, adminToken)]);
    expect(cases.length).toBeGreaterThan(ops.length * 4);
    const failures: string[] = [];
    await runAll(cases, 6, async (c) => {
      let answer: Answer;
      try {
        answer = await send(node.baseUrl, c);
      } catch (err) {
        failures.push(`${c.route} [${c.what}${c.token ? ", admin" : ""}] ${c.method} ${c.url.slice(0, 120)}: ${(err as Error).message}`);
        return;
      }
      const p = problem(c, answer);
      if (p) failures.push(`${c.route} [${c.what}${c.token ? ", admin" : ""}] ${c.method} ${c.url.slice(0, 120)}: ${p}`);
    });
    expect(failures).toEqual([]);
    // The node survived all of it.
    expect((await node.http.get("/ready")).status).toBe(200);
  });

  it("answers odd values for the fields of resources that exist with a 4xx or a success, never a 5xx", async () => {
    // Resources of every kind a route names, so the input gets past "not found" to the handler.
    const session = await createSession(await node.platform.db());
    const buyer = await signUp(node);
    const card = { method: "card", card: { number: TEST_CARDS.success, expMonth: 12, expYear: new Date().getUTCFullYear() + 2, cvc: "123" } };
    const sold = await buyer.http.post(`/api/sessions/${session.sessionId}/holds`, { seats: session.seatIds.slice(0, 2) });
    const placed = await buyer.http.post("/api/orders", { holdId: sold.body.holdId, payment: card }, { "idempotency-key": crypto.randomUUID() });
    expect(placed.status).toBe(202);
    const order = await waitFor("the order confirmed", async () => {
      const res = await buyer.http.get(`/api/orders/${placed.body.orderId}`);
      return res.body.status === "CONFIRMED" && res.body;
    });
    const tickets = await waitFor("its tickets", async () => {
      const items = (await buyer.http.get(`/api/tickets/my?orderId=${order.id}`)).body.items;
      return items?.length === 2 && items;
    });
    const open = await buyer.http.post(`/api/sessions/${session.sessionId}/holds`, { seats: [session.seatIds[2]] });
    const webhook = await node.http.as(adminToken).post("/api/webhooks", { url: "https://example.com/hooks/ticketflash", events: ["orders.confirmed"] });
    expect([sold.status, open.status, webhook.status]).toEqual([201, 201, 201]);
    const ids: Record<string, string> = {
      events: session.eventId,
      sessions: session.sessionId,
      venues: session.venueId,
      holds: open.body.holdId,
      orders: order.id,
      tickets: tickets[0].id,
      payments: order.paymentId,
      webhooks: webhook.body.id,
      users: buyer.user.id,
    };
    // The id for a path is the one of the collection it names ("/api/orders/{id}/cancel": the order).
    const realPath = (op: Operation) => op.path.replace(/\/([a-z-]+)\/\{[^}]+\}/g, (_, collection: string) => `/${collection}/${encodeURIComponent(ids[collection] ?? crypto.randomUUID())}`);

    const cases: Case[] = [];
    for (const op of ops.filter((o) => o.body?.properties)) {
      const route = `${op.method} ${op.path}`;
      for (const [name, schema] of Object.entries(op.body!.properties!)) {
        const bodies: unknown[] = oddValues(schema).map((v) => ({ [name]: v }));
        for (const [inner, innerSchema] of Object.entries(schema.properties ?? {})) bodies.push(...oddValues(innerSchema).map((v) => ({ [name]: { [inner]: v } })));
        for (const body of bodies) {
          for (const token of [adminToken, buyer.accessToken]) {
            cases.push({ route, what: `${JSON.stringify(body).slice(0, 60)}${token === adminToken ? ", admin" : ", buyer"}`, method: op.method, url: realPath(op), token, body: JSON.stringify(body), contentType: "application/json" });
          }
        }
      }
    }
    expect(cases.length).toBeGreaterThan(200);
    const failures: string[] = [];
    await runAll(cases, 4, async (c) => {
      const answer = await send(node.baseUrl, c);
      const p = answer.status < 400 ? undefined : problem(c, answer);
      if (p) failures.push(`${c.route} [${c.what}] ${c.method} ${c.url}: ${p}`);
    });
    expect(failures).toEqual([]);
    // What was not changed on purpose still reads as before.
    expect((await buyer.http.get(`/api/tickets/${tickets[1].id}`)).status).toBe(200);
    expect((await node.http.get(`/api/sessions/${session.sessionId}`)).status).toBe(200);
    expect((await node.http.get("/ready")).status).toBe(200);
  });
});
