import { startTestNode, TestNode } from "../helpers/node";

describe("gateway", () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode({ services: ["api"] });
  });
  afterAll(() => node.stop());

  it("answers liveness and readiness with the database checked", async () => {
    expect((await node.http.get("/health")).status).toBe(200);
    const ready = await node.http.get("/ready");
    expect(ready.status).toBe(200);
    expect(ready.body.checks.database).toBe("ok");
  });

  it("serves Prometheus metrics on the same port", async () => {
    const res = await node.http.get("/metrics");
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/# TYPE moleculer_\w+ /);
  });

  it("answers unknown routes in the API error shape", async () => {
    const res = await node.http.get("/api/no-such-thing");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: "NOT_FOUND", message: expect.any(String) } });
  });

  it("never publishes actions by name or the gateway's own actions", async () => {
    expect((await node.http.get("/api/api/listAliases")).status).toBe(404);
    expect((await node.http.get("/api/list-aliases")).status).toBe(404);
    expect((await node.http.get("/api/$node/list")).status).toBe(404);
  });

  it("publishes a generated OpenAPI document and a page to browse it", async () => {
    const spec = await node.http.get("/api/openapi.json");
    expect(spec.status).toBe(200);
    expect(spec.body.openapi).toBe("3.0.3");
    const page = await node.http.get("/api/docs");
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
  });

  it("serves the web UI from public/", async () => {
    const res = await node.http.get("/");
    expect(res.status).toBe(200);
    expect(res.text).toContain("TicketFlash");
  });
});
