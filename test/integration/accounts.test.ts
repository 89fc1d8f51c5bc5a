import jwt from "jsonwebtoken";
import { signAccessToken } from "../../src/platform/auth";
import { accountsRoutesReady, postFrom, signUp } from "../helpers/accounts";
import { startTestNode, TestNode } from "../helpers/node";

describe("accounts", () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode({ services: ["api", "auth", "users"] });
    await accountsRoutesReady(node);
  });
  afterAll(() => node.stop());

  const post = (path: string, body: unknown) => postFrom(node.baseUrl, path, body);
  const count = async (table: string) => Number((await (await node.platform.db())(table).count({ n: "*" }))[0].n);

  describe("the full lifecycle through REST", () => {
    it("registers, reads the profile, logs in, refreshes and logs out", async () => {
      const reg = await post("/api/auth/register", { email: "  Alice@Example.COM ", password: "correct horse", name: "Alice" });
      expect(reg.status).toBe(201);
      expect(reg.body.user).toEqual({ id: expect.any(String), email: "alice@example.com", name: "Alice", roles: ["buyer"], createdAt: expect.any(String) });
      expect(JSON.stringify(reg.body)).not.toMatch(/scrypt|password/i);
      expect(reg.body.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const me = await node.http.as(reg.body.accessToken).get("/api/users/me");
      expect(me.status).toBe(200);
      expect(me.body).toEqual(reg.body.user);

      const login = await post("/api/auth/login", { email: "ALICE@example.com", password: "correct horse" });
      expect(login.status).toBe(200);
      expect(login.body.user.id).toBe(reg.body.user.id);

      const refreshed = await post("/api/auth/refresh", { refreshToken: login.body.refreshToken });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.refreshToken).not.toBe(login.body.refreshToken);
      expect((await node.http.as(refreshed.body.accessToken).get("/api/users/me")).body.email).toBe("alice@example.com");

      const out = await post("/api/auth/logout", { refreshToken: refreshed.body.refreshToken });
      expect(out.status).toBe(204);
      expect((await post("/api/auth/refresh", { refreshToken: refreshed.body.refreshToken })).status).toBe(401);
      // The registration's own session is a different family and still works.
      expect((await post("/api/auth/refresh", { refreshToken: reg.body.refreshToken })).status).toBe(200);
    });
  });

  it("signUp helper gives a token with the requested roles", async () => {
    const org = await signUp(node, { roles: ["organizer", "scanner"] });
    expect(org.user.roles).toEqual(["organizer", "scanner"]);
    const claims = jwt.decode(org.accessToken) as { roles: string[] };
    expect(claims.roles).toEqual(["organizer", "scanner"]);
    expect((await org.http.get("/api/users/me")).body.roles).toEqual(["organizer", "scanner"]);
    void signAccessToken;
    void count;
  });
});
