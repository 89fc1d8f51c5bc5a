/**
 * Gateway hardening through real HTTP: body limits, JSON and content type, CORS, who may call
 * what (401/403/404), per-client rate limits that a forged X-Forwarded-For cannot reset, metrics.
 * A small fixture service declares routes with the auth/roles every real service uses.
 */
import async_hooks from "async_hooks";
import { randomUUID } from "crypto";
import type { ServiceSchema } from "moleculer";
import { AuthContext, Role, signAccessToken } from "../../src/platform/auth";
import { notFound } from "../../src/platform/errors";
import { startTestNode, TestNode } from "../helpers/node";

const fixture: ServiceSchema = {
  name: "gwfixture",
  settings: { rest: "/" },
  actions: {
    open: { rest: "GET /fixture/open", auth: "public", handler: () => ({ ok: true }) },
    mine: { rest: "GET /fixture/mine", handler: (ctx: AuthContext) => ({ userId: ctx.meta.user!.id }) },
    create: {
      rest: "POST /fixture/things",
      roles: ["organizer"],
      params: { name: { type: "string", min: 1, max: 50 }, count: { type: "number", integer: true, min: 0, max: 10, optional: true } },
      handler(ctx: AuthContext<{ name: string }>) {
        ctx.meta.$statusCode = 201;
        return { name: ctx.params.name };
      },
    },
    get: {
      rest: "GET /fixture/things/:id",
      auth: "optional",
      params: { id: { type: "string", max: 64 } },
      handler: () => {
        throw notFound("Thing");
      },
    },
  },
};

const errorShape = (code: string) => ({ error: expect.objectContaining({ code, message: expect.any(String) }) });

describe("gateway hardening", () => {
  let node: TestNode;
  const tokenFor = (roles: Role[]) =>
    signAccessToken(node.platform.secrets.jwtSecret, { id: randomUUID(), email: "x@example.test", name: "X", roles });

  beforeAll(async () => {
    node = await startTestNode({ services: ["api"], schemas: [fixture], env: { CORS_ORIGINS: "https://shop.example,https://admin.example" } });
  });
  afterAll(() => node.stop());

  describe("bodies", () => {
    it("answers 413 for a body over the limit, before anything runs", async () => {
      const res = await node.http.as(tokenFor(["organizer"])).post("/api/fixture/things", { name: "x".repeat(100 * 1024) });
      expect(res.status).toBe(413);
      expect(res.body).toEqual(errorShape("PAYLOAD_TOO_LARGE"));
    });

    it("answers 400 INVALID_JSON for a body that is not JSON", async () => {
      for (const body of ["{", "{'name': 1}", "[1,", '{"name": "a"} trailing']) {
        const res = await node.http.as(tokenFor(["organizer"])).post("/api/fixture/things", body);
        expect([res.status, body]).toEqual([400, body]);
        expect(res.body).toEqual(errorShape("INVALID_JSON"));
      }
    });

    it("answers 415 for a body in another content type", async () => {
      for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
        const res = await node.http.as(tokenFor(["organizer"])).post("/api/fixture/things", "name=a", { "content-type": type });
        expect([res.status, type]).toEqual([415, type]);
        expect(res.body).toEqual(errorShape("UNSUPPORTED_MEDIA_TYPE"));
      }
      const ok = await node.http.as(tokenFor(["organizer"])).post("/api/fixture/things", { name: "a" }, { "content-type": "application/json; charset=utf-8" });
      expect(ok.status).toBe(201);
    });

    it("lists every failing field in VALIDATION_ERROR details", async () => {
      const res = await node.http.as(tokenFor(["organizer"])).post("/api/fixture/things", { count: "many", colour: "red" });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_ERROR");
      const fields = res.body.error.details.fields.map((f: { field: string }) => f.field).sort();
      expect(fields).toEqual(["colour", "count", "name"]);
    });
  });

  describe("who may call what", () => {
    it("401 without a token where one is required, 401 INVALID_TOKEN for a bad one", async () => {
      expect((await node.http.get("/api/fixture/mine")).body).toEqual(errorShape("UNAUTHORIZED"));
      expect((await node.http.get("/api/fixture/mine")).status).toBe(401);
      for (const authorization of ["Bearer nonsense", "Basic dXNlcjpwYXNz", `Bearer ${signAccessToken("other-secret", { id: "u", email: "e", name: "n", roles: ["admin"] })}`]) {
        const res = await node.http.get("/api/fixture/mine", { authorization });
        expect([res.status, authorization]).toEqual([401, authorization]);
        expect(res.body.error.code).toBe("INVALID_TOKEN");
      }
      // A bad token is refused even on a public route: it is never silently treated as anonymous.
      expect((await node.http.get("/api/fixture/open", { authorization: "Bearer nonsense" })).status).toBe(401);
      expect((await node.http.get("/api/fixture/open")).status).toBe(200);
    });

    it("403 for a signed-in user without the role, 401 when not signed in at all", async () => {
      const buyer = await node.http.as(tokenFor(["buyer"])).post("/api/fixture/things", { name: "a" });
      expect(buyer.status).toBe(403);
      expect(buyer.body).toEqual(errorShape("FORBIDDEN"));
      expect((await node.http.post("/api/fixture/things", { name: "a" })).status).toBe(401);
      expect((await node.http.as(tokenFor(["organizer"])).post("/api/fixture/things", { name: "a" })).status).toBe(201);
      expect((await node.http.as(tokenFor(["admin"])).post("/api/fixture/things", { name: "a" })).status).toBe(201);
    });

    it("404 for unknown routes, unknown methods and things that are not there", async () => {
      const buyer = node.http.as(tokenFor(["buyer"]));
      for (const [method, path] of [["GET", "/api/fixture/nope"], ["DELETE", "/api/fixture/open"], ["GET", "/api/gwfixture/open"], ["GET", "/api/fixture/things/abc"]]) {
        const res = await buyer.request(method, path);
        expect([res.status, method, path]).toEqual([404, method, path]);
        expect(res.body).toEqual(errorShape("NOT_FOUND"));
      }
    });
  });

  describe("CORS", () => {
    it("answers a preflight from an allowed origin with the allowed methods and headers", async () => {
      const res = await node.http.request("OPTIONS", "/api/fixture/things", undefined, {
        origin: "https://shop.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,idempotency-key",
      });
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe("https://shop.example");
      expect(res.headers.get("access-control-allow-methods")).toMatch(/POST/);
      expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toEqual(expect.stringContaining("authorization"));
      expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toEqual(expect.stringContaining("idempotency-key"));
      expect(res.headers.get("access-control-max-age")).toBe("600");
    });

    it("exposes Retry-After and ETag to browser code on real responses", async () => {
      const res = await node.http.get("/api/fixture/open", { origin: "https://admin.example" });
      expect(res.headers.get("access-control-allow-origin")).toBe("https://admin.example");
      expect(res.headers.get("access-control-expose-headers")).toMatch(/Retry-After/);
    });

    it("refuses other origins in the API error shape", async () => {
      const res = await node.http.request("OPTIONS", "/api/fixture/things", undefined, { origin: "https://evil.example", "access-control-request-method": "POST" });
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      expect(res.status).toBe(403);
      expect(res.body).toEqual(errorShape("FORBIDDEN"));
    });
  });

  it("exposes per-route request metrics, errors included", async () => {
    await node.http.get("/api/fixture/open");
    await node.http.get("/api/fixture/mine");
    await node.http.get("/api/no/such/route");
    const res = await node.http.get("/metrics");
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^# TYPE http_requests_total counter$/m);
    expect(res.text).toMatch(/^http_requests_total\{method="GET",route="GET \/api\/fixture\/open",status="200"\} [1-9]/m);
    expect(res.text).toMatch(/^http_requests_total\{method="GET",route="GET \/api\/fixture\/mine",status="401"\} [1-9]/m);
    expect(res.text).toMatch(/^http_requests_total\{method="GET",route="unmatched",status="404"\} [1-9]/m);
    expect(res.text).toMatch(/^http_request_duration_seconds_bucket\{.*route="GET \/api\/fixture\/open".*\} [1-9]/m);
    // And Moleculer's own action metrics.
    expect(res.text).toMatch(/^moleculer_request_total\{.*action="gwfixture.open".*\} [1-9]/m);
  });
});

describe("gateway rate limits", () => {
  const LIMIT = 5;
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode({ services: ["api"], schemas: [fixture], env: { RATE_LIMIT_PER_MINUTE: String(LIMIT) } });
  });
  afterAll(() => node.stop());

  const token = () => signAccessToken(node.platform.secrets.jwtSecret, { id: randomUUID(), email: "r@example.test", name: "R", roles: ["buyer"] });

  it("counts an anonymous client by its socket address, whatever X-Forwarded-For says", async () => {
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < LIMIT + 3; i++) {
      // Every request claims to come from somewhere else; the limiter must not care.
      last = await node.http.get("/api/fixture/open", { "x-forwarded-for": `203.0.113.${i}`, "x-real-ip": `198.51.100.${i}` });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([...Array(LIMIT).fill(200), 429, 429, 429]);
    expect(last!.body).toEqual(errorShape("RATE_LIMITED"));
    const retryAfter = Number(last!.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it("counts a signed-in user by user id: their own budget, shared by all their requests", async () => {
    const alice = node.http.as(token());
    const bob = node.http.as(token());
    const aliceStatuses: number[] = [];
    for (let i = 0; i < LIMIT + 1; i++) aliceStatuses.push((await alice.get("/api/fixture/mine", { "x-forwarded-for": `10.0.0.${i}` })).status);
    expect(aliceStatuses).toEqual([...Array(LIMIT).fill(200), 429]);
    // Another user from the same address is not affected by Alice's count (nor by the anonymous one).
    expect((await bob.get("/api/fixture/mine")).status).toBe(200);
    // Health checks are never rate limited (an orchestrator polls them).
    expect((await node.http.get("/health")).status).toBe(200);
  });
});

describe("gateway rate limits behind a trusted proxy", () => {
  let node: TestNode;
  beforeAll(async () => {
    // The test client connects from 127.0.0.1, which plays the ingress here.
    node = await startTestNode({ services: ["api"], schemas: [fixture], env: { RATE_LIMIT_PER_MINUTE: "3", TRUSTED_PROXIES: "127.0.0.1" } });
  });
  afterAll(() => node.stop());

  it("counts each client the proxy reports separately, and a prepended address changes nothing", async () => {
    const statuses = async (xff: string) => {
      const out: number[] = [];
      for (let i = 0; i < 4; i++) out.push((await node.http.get("/api/fixture/open", { "x-forwarded-for": xff })).status);
      return out;
    };
    expect(await statuses("198.51.100.1")).toEqual([200, 200, 200, 429]);
    expect(await statuses("198.51.100.2")).toEqual([200, 200, 200, 429]);
    // 198.51.100.1 prepending a made-up address is still 198.51.100.1 to the proxy.
    expect((await node.http.get("/api/fixture/open", { "x-forwarded-for": "203.0.113.50, 198.51.100.1" })).status).toBe(429);
  });
});

describe("gateway with its Redis unreachable", () => {
  let node: TestNode;
  let stopped = false;
  beforeAll(async () => {
    // Nothing listens on port 1: every Redis command fails.
    node = await startTestNode({ services: ["api"], schemas: [fixture], env: { REDIS_URL: "redis://127.0.0.1:1", LOG_LEVEL: "error" } });
  });
  afterAll(() => (stopped ? undefined : node.stop()));

  it("keeps serving (rate limits counted on the node alone) and reports itself degraded, not unready", async () => {
    expect((await node.http.get("/api/fixture/open")).status).toBe(200);
    const ready = await node.http.get("/ready");
    // Not 503: a readiness probe would take every gateway out of service while Redis is away.
    expect([ready.status, ready.body.status]).toEqual([200, "degraded"]);
    expect(ready.body.checks.redis).not.toBe("ok");
    expect(ready.body.checks.database).toBe("ok");
  });

  it("stops without a timer left that keeps the process alive", async () => {
    // Timers made while the node stops and still pending 0.5 s later (ioredis used to leave one for
    // 2 s: jest reported "a worker process has failed to exit gracefully").
    const pending = new Map<number, { timer: NodeJS.Timeout; stack: string }>();
    const hook = async_hooks
      .createHook({
        init(id, type, _trigger, resource) {
          if (type === "Timeout") pending.set(id, { timer: resource as NodeJS.Timeout, stack: new Error().stack ?? "" });
        },
        destroy(id) {
          pending.delete(id);
        },
      })
      .enable();
    try {
      stopped = true;
      await node.stop();
      let wait: NodeJS.Timeout | undefined;
      await new Promise((resolve) => (wait = setTimeout(resolve, 500)));
      pending.forEach((t, id) => t.timer === wait && pending.delete(id));
    } finally {
      hook.disable();
    }
    expect([...pending.values()].filter((t) => t.timer.hasRef()).map((t) => t.stack)).toEqual([]);
  });
});
