import crypto from "crypto";
import fs from "fs";
import os from "os";
import path from "path";
import jwt from "jsonwebtoken";
import type { LoggerInstance } from "moleculer";
import { runSeeds } from "../../src/platform/seed";
import { CURRENT_PARAMS, hashPassword } from "../../src/domain/passwords";
import { accountsRoutesReady, postFrom, randomLoopbackAddress, signUp } from "../helpers/accounts";
import { startTestNode, TestNode } from "../helpers/node";

const errorShape = { error: { code: expect.stringMatching(/^[A-Z][A-Z0-9_]+$/), message: expect.any(String) } };

async function tableCount(node: TestNode, table: string): Promise<number> {
  const [{ n }] = await (await node.platform.db())(table).count({ n: "*" });
  return Number(n);
}

describe("accounts", () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode({ services: ["api", "auth", "users"] });
    await accountsRoutesReady(node);
  });
  afterAll(() => node.stop());

  // Each call from its own address, so that the per-address limit of the auth routes stays out of the way.
  const post = (p: string, body: unknown) => postFrom(node.baseUrl, p, body);
  const bearer = (token: string) => node.http.as(token);

  it("registers, shows the profile, logs in, refreshes and logs out through REST", async () => {
    const reg = await post("/api/auth/register", { email: "  Alice@Example.COM ", password: "correct horse", name: "Alice" });
    expect(reg.status).toBe(201);
    expect(reg.body.user).toEqual({ id: expect.any(String), email: "alice@example.com", name: "Alice", roles: ["buyer"], createdAt: expect.any(String) });
    expect(JSON.stringify(reg.body)).not.toMatch(/scrypt|password|hash/i);
    expect(reg.body.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const claims = jwt.decode(reg.body.accessToken, { complete: true }) as jwt.Jwt & { payload: jwt.JwtPayload };
    expect(claims.header.alg).toBe("HS256");
    expect(claims.payload.sub).toBe(reg.body.user.id);
    expect(claims.payload.exp! - claims.payload.iat!).toBe(15 * 60);

    const me = await bearer(reg.body.accessToken).get("/api/users/me");
    expect(me.status).toBe(200);
    expect(me.body).toEqual(reg.body.user);

    const login = await post("/api/auth/login", { email: "ALICE@example.com", password: "correct horse" });
    expect(login.status).toBe(200);
    expect(login.body.user).toEqual(reg.body.user);

    const refreshed = await post("/api/auth/refresh", { refreshToken: login.body.refreshToken });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refreshToken).not.toBe(login.body.refreshToken);
    expect((await bearer(refreshed.body.accessToken).get("/api/users/me")).body.email).toBe("alice@example.com");

    const out = await post("/api/auth/logout", { refreshToken: refreshed.body.refreshToken });
    expect(out.status).toBe(204);
    expect(out.body).toBeUndefined();
    expect(await post("/api/auth/refresh", { refreshToken: refreshed.body.refreshToken })).toMatchObject({ status: 401, body: errorShape });
    // Logging out one device leaves the others signed in: the registration's session is another family.
    expect((await post("/api/auth/refresh", { refreshToken: reg.body.refreshToken })).status).toBe(200);
  });

  it("stores refresh tokens only as hashes", async () => {
    const u = await signUp(node);
    const db = await node.platform.db();
    const rows = await db("refresh_tokens").where({ user_id: u.user.id });
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(u.refreshToken);
    expect(rows[0].token_hash).toBe(crypto.createHash("sha256").update(u.refreshToken).digest("hex"));
    const user = await db("users").where({ id: u.user.id }).first();
    expect(user.password_hash).toMatch(/^scrypt\$/);
    expect(user.password_hash).not.toContain(u.password);
  });

  describe("refresh rotation", () => {
    it("spends each refresh token; reusing a spent one revokes the whole family, newest token included", async () => {
      const u = await signUp(node);
      const other = await post("/api/auth/login", { email: u.email, password: u.password }); // a second device
      const r1 = u.refreshToken;
      const s2 = await post("/api/auth/refresh", { refreshToken: r1 });
      const s3 = await post("/api/auth/refresh", { refreshToken: s2.body.refreshToken });
      expect([s2.status, s3.status]).toEqual([200, 200]);

      const replay = await post("/api/auth/refresh", { refreshToken: r1 });
      expect(replay).toMatchObject({ status: 401, body: { error: { code: "INVALID_TOKEN" } } });
      // The thief's replay also kills what the rightful holder (or the thief) got from rotation.
      expect((await post("/api/auth/refresh", { refreshToken: s3.body.refreshToken })).status).toBe(401);
      expect((await post("/api/auth/refresh", { refreshToken: s2.body.refreshToken })).status).toBe(401);

      const db = await node.platform.db();
      const family = await db("refresh_tokens").where({ user_id: u.user.id }).whereNotNull("parent_id").first();
      const members = await db("refresh_tokens").where({ family_id: family.family_id });
      expect(members).toHaveLength(3);
      expect(members.every((m: { revoked_at: Date | null }) => m.revoked_at !== null)).toBe(true);
      // Another sign-in of the same user is another family and keeps working.
      expect((await post("/api/auth/refresh", { refreshToken: other.body.refreshToken })).status).toBe(200);
    });

    it("never lets two concurrent refreshes with one token both succeed", async () => {
      const u = await signUp(node);
      const results = await Promise.all(Array.from({ length: 5 }, () => post("/api/auth/refresh", { refreshToken: u.refreshToken })));
      const ok = results.filter((r) => r.status === 200);
      expect(ok.length).toBeLessThanOrEqual(1);
      expect(results.filter((r) => r.status !== 200).every((r) => r.status === 401)).toBe(true);
      // The losers count as reuse, so the winner's new token is dead too: one token, one holder.
      for (const r of ok) expect((await post("/api/auth/refresh", { refreshToken: r.body.refreshToken })).status).toBe(401);
    });

    it("refuses unknown refresh tokens", async () => {
      const unknown = crypto.randomBytes(32).toString("base64url");
      expect(await post("/api/auth/refresh", { refreshToken: unknown })).toMatchObject({ status: 401, body: { error: { code: "INVALID_TOKEN" } } });
      expect((await post("/api/auth/refresh", { refreshToken: "not-a-token" })).status).toBe(401);
    });

    it("refuses expired refresh tokens", async () => {
      const u = await signUp(node);
      const db = await node.platform.db();
      await db("refresh_tokens").where({ user_id: u.user.id }).update({ expires_at: new Date(Date.now() - 1000) });
      expect((await post("/api/auth/refresh", { refreshToken: u.refreshToken })).status).toBe(401);
    });
  });

  describe("logout", () => {
    it("revokes the token's family and is idempotent", async () => {
      const u = await signUp(node);
      const next = await post("/api/auth/refresh", { refreshToken: u.refreshToken });
      expect((await post("/api/auth/logout", { refreshToken: next.body.refreshToken })).status).toBe(204);
      expect((await post("/api/auth/logout", { refreshToken: next.body.refreshToken })).status).toBe(204);
      expect((await post("/api/auth/refresh", { refreshToken: next.body.refreshToken })).status).toBe(401);
      expect((await post("/api/auth/logout", { refreshToken: crypto.randomBytes(32).toString("base64url") })).status).toBe(204);
    });
  });

  describe("registration and login", () => {
    it("keeps one account per email, whatever its case", async () => {
      const u = await signUp(node);
      const before = await tableCount(node, "users");
      const again = await post("/api/auth/register", { email: u.email.toUpperCase(), password: "another password", name: "Copy" });
      expect(again).toMatchObject({ status: 409, body: { error: { code: "EMAIL_TAKEN" } } });
      expect(await tableCount(node, "users")).toBe(before);
    });

    it("gives one account when the same email registers twice at once", async () => {
      const email = `race-${crypto.randomUUID()}@example.test`;
      const results = await Promise.all(
        Array.from({ length: 4 }, () => post("/api/auth/register", { email, password: "racing password", name: "Racer" })),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
      const db = await node.platform.db();
      expect(await db("users").where({ email })).toHaveLength(1);
    });

    it("answers a wrong password and an unknown email identically", async () => {
      const u = await signUp(node);
      const wrong = await post("/api/auth/login", { email: u.email, password: "not the password" });
      const unknown = await post("/api/auth/login", { email: `nobody-${crypto.randomUUID()}@example.test`, password: "not the password" });
      expect(wrong).toEqual({ status: 401, body: { error: { code: "INVALID_CREDENTIALS", message: expect.any(String) } } });
      expect(unknown).toEqual(wrong);
    });

    it("upgrades a password hash made with older, cheaper parameters at the next login", async () => {
      const u = await signUp(node);
      const db = await node.platform.db();
      const old = await hashPassword(u.password, { N: 2 ** 10, r: 8, p: 1 });
      await db("users").where({ id: u.user.id }).update({ password_hash: old });
      expect((await post("/api/auth/login", { email: u.email, password: u.password })).status).toBe(200);
      const upgraded = (await db("users").where({ id: u.user.id }).first()).password_hash as string;
      expect(upgraded.startsWith(`scrypt$${CURRENT_PARAMS.N}$${CURRENT_PARAMS.r}$${CURRENT_PARAMS.p}$`)).toBe(true);
      expect((await post("/api/auth/login", { email: u.email, password: u.password })).status).toBe(200);
      expect((await post("/api/auth/login", { email: u.email, password: "wrong password" })).status).toBe(401);
    });

    it("limits sign-in attempts per address", async () => {
      const from = randomLoopbackAddress();
      const attempt = () => postFrom(node.baseUrl, "/api/auth/login", { email: "x@example.test", password: "guess" }, from);
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) statuses.push((await attempt()).status);
      expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
      expect(statuses[20]).toBe(429);
      // Other addresses are not punished for it.
      expect((await post("/api/auth/login", { email: "x@example.test", password: "guess" })).status).toBe(401);
    });
  });

  describe("profile", () => {
    it("changes the name, and the email only with the current password", async () => {
      const u = await signUp(node);
      const named = await u.http.put("/api/users/me", { name: "  New Name  " });
      expect(named.status).toBe(200);
      expect(named.body).toMatchObject({ id: u.user.id, name: "New Name", email: u.email });
      // null is not a name or an email: a 400 naming the field, and the profile as it was.
      for (const field of ["name", "email"]) {
        const res = await u.http.put("/api/users/me", { [field]: null, currentPassword: u.password });
        expect(res).toMatchObject({ status: 400, body: { error: { code: "VALIDATION_ERROR", details: { fields: [{ field, type: "notNull" }] } } } });
      }
      expect((await u.http.get("/api/users/me")).body).toMatchObject({ name: "New Name", email: u.email });

      const newEmail = `moved-${crypto.randomUUID()}@example.test`;
      expect((await u.http.put("/api/users/me", { email: newEmail })).status).toBe(400);
      expect(await u.http.put("/api/users/me", { email: newEmail, currentPassword: "wrong password" })).toMatchObject({
        status: 403,
        body: { error: { code: "INVALID_CURRENT_PASSWORD" } },
      });
      const moved = await u.http.put("/api/users/me", { email: newEmail.toUpperCase(), currentPassword: u.password });
      expect(moved.status).toBe(200);
      expect(moved.body.email).toBe(newEmail);
      expect((await post("/api/auth/login", { email: newEmail, password: u.password })).status).toBe(200);
      expect((await post("/api/auth/login", { email: u.email, password: u.password })).status).toBe(401);
    });

    it("refuses an email that belongs to someone else", async () => {
      const a = await signUp(node);
      const b = await signUp(node);
      const res = await a.http.put("/api/users/me", { email: b.email, currentPassword: a.password });
      expect(res).toMatchObject({ status: 409, body: { error: { code: "EMAIL_TAKEN" } } });
      expect((await a.http.get("/api/users/me")).body.email).toBe(a.email);
    });

    it("cannot change its own roles", async () => {
      const u = await signUp(node);
      const res = await u.http.put("/api/users/me", { name: "Sneaky", roles: ["admin"] });
      expect(res).toMatchObject({ status: 400, body: { error: { code: "VALIDATION_ERROR" } } });
      const me = (await u.http.get("/api/users/me")).body;
      expect(me.roles).toEqual(["buyer"]);
      expect(me.name).not.toBe("Sneaky");
      expect((await u.http.post(`/api/users/${u.user.id}/roles`, { roles: ["admin"] })).status).toBe(403);
    });

    it("signs out every session after a password change", async () => {
      const u = await signUp(node);
      const other = await post("/api/auth/login", { email: u.email, password: u.password });
      const res = await u.http.put("/api/users/me", { password: "brand new password", currentPassword: u.password });
      expect(res.status).toBe(200);
      expect((await post("/api/auth/refresh", { refreshToken: u.refreshToken })).status).toBe(401);
      expect((await post("/api/auth/refresh", { refreshToken: other.body.refreshToken })).status).toBe(401);
      expect((await post("/api/auth/login", { email: u.email, password: u.password })).status).toBe(401);
      expect((await post("/api/auth/login", { email: u.email, password: "brand new password" })).status).toBe(200);
    });

    it("requires a signed-in caller", async () => {
      expect(await node.http.get("/api/users/me")).toMatchObject({ status: 401, body: errorShape });
      expect((await node.http.put("/api/users/me", { name: "x" })).status).toBe(401);
    });
  });

  describe("roles", () => {
    it("lets an admin assign roles; the user's next refresh carries them", async () => {
      const admin = await signUp(node, { roles: ["admin"] });
      const u = await signUp(node);
      const res = await admin.http.post(`/api/users/${u.user.id}/roles`, { roles: ["scanner", "buyer"] });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ...u.user, roles: ["buyer", "scanner"] });
      // The access token in hand keeps its roles until it expires...
      expect((jwt.decode(u.accessToken) as jwt.JwtPayload).roles).toEqual(["buyer"]);
      // ...and the next one has the new roles.
      const next = await post("/api/auth/refresh", { refreshToken: u.refreshToken });
      expect((jwt.decode(next.body.accessToken) as jwt.JwtPayload).roles).toEqual(["buyer", "scanner"]);
      expect(next.body.user.roles).toEqual(["buyer", "scanner"]);
    });

    it("is admin only, answers 404 for unknown users and 400 for unknown roles", async () => {
      const admin = await signUp(node, { roles: ["admin"] });
      const buyer = await signUp(node);
      const organizer = await signUp(node, { roles: ["organizer"] });
      expect(await buyer.http.post(`/api/users/${buyer.user.id}/roles`, { roles: ["organizer"] })).toMatchObject({
        status: 403,
        body: { error: { code: "FORBIDDEN" } },
      });
      expect((await organizer.http.post(`/api/users/${buyer.user.id}/roles`, { roles: ["organizer"] })).status).toBe(403);
      expect((await node.http.post(`/api/users/${buyer.user.id}/roles`, { roles: ["organizer"] })).status).toBe(401);
      expect(await admin.http.post(`/api/users/${crypto.randomUUID()}/roles`, { roles: ["buyer"] })).toMatchObject({
        status: 404,
        body: { error: { code: "NOT_FOUND" } },
      });
      for (const roles of [["root"], [], "admin", ["buyer", "buyer"], [1]]) {
        expect((await admin.http.post(`/api/users/${buyer.user.id}/roles`, { roles })).status).toBe(400);
      }
      expect((await buyer.http.get("/api/users/me")).body.roles).toEqual(["buyer"]);
    });
  });

  describe("access tokens", () => {
    it("refuses expired, forged, alg-none and malformed tokens with 401 INVALID_TOKEN", async () => {
      const u = await signUp(node);
      const secret = node.platform.secrets.jwtSecret;
      const claims = { email: u.email, name: "x", roles: ["admin"] };
      const base = { subject: u.user.id, issuer: "ticketflash" };
      const header = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const bad = {
        expired: jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 }, secret, { ...base, algorithm: "HS256" }),
        forged: jwt.sign(claims, "not-our-secret", { ...base, algorithm: "HS256", expiresIn: 600 }),
        otherAlgorithm: jwt.sign(claims, secret, { ...base, algorithm: "HS512", expiresIn: 600 }),
        otherIssuer: jwt.sign(claims, secret, { subject: u.user.id, issuer: "someone-else", algorithm: "HS256", expiresIn: 600 }),
        algNone: `${header({ alg: "none", typ: "JWT" })}.${header({ ...claims, sub: u.user.id, iss: "ticketflash", exp: 4102444800 })}.`,
        tamperedPayload: (() => {
          const [h, , s] = u.accessToken.split(".");
          return `${h}.${header({ ...claims, sub: u.user.id, iss: "ticketflash", exp: 4102444800 })}.${s}`;
        })(),
        garbage: "abc.def.ghi",
      };
      for (const [kind, token] of Object.entries(bad)) {
        const res = await bearer(token).get("/api/users/me");
        expect({ kind, status: res.status, code: res.body?.error?.code }).toEqual({ kind, status: 401, code: "INVALID_TOKEN" });
      }
      const notBearer = await node.http.get("/api/users/me", { authorization: `Basic ${u.accessToken}` });
      expect(notBearer.status).toBe(401);
      // The real one still works, so the refusals above are about the tokens.
      expect((await u.http.get("/api/users/me")).status).toBe(200);
    });
  });

  describe("bad input", () => {
    const huge = "x".repeat(10_000);
    const cases: Array<[string, string, unknown]> = [];
    const register = { email: "ok@example.test", password: "good password", name: "Ok" };
    for (const body of [
      {},
      { ...register, email: 42 },
      { ...register, email: "not-an-email" },
      { ...register, email: "'; DROP TABLE users; --" },
      { ...register, email: `a@${huge}.com` },
      { ...register, password: "short" },
      { ...register, password: huge },
      { ...register, password: 12345678 },
      { ...register, name: "" },
      { ...register, name: "   " },
      { ...register, name: huge },
      { ...register, name: "bell\u0007" },
      { ...register, name: ["Ok"] },
      { ...register, roles: ["admin"] },
      { ...register, extra: 1 },
      { email: register.email, password: register.password },
      [register],
      null,
    ]) cases.push(["POST", "/api/auth/register", body]);
    for (const body of [{}, { email: "a@b.test" }, { email: ["a@b.test"], password: "x" }, { email: "a@b.test", password: huge }, { email: "a@b.test", password: "p", x: 1 }]) {
      cases.push(["POST", "/api/auth/login", body]);
    }
    for (const route of ["/api/auth/refresh", "/api/auth/logout"]) {
      for (const body of [{}, { refreshToken: 1 }, { refreshToken: huge }, { refreshToken: "" }, { refreshToken: { $ne: null } }, { refreshToken: "a", more: 1 }]) {
        cases.push(["POST", route, body]);
      }
    }

    it.each(cases.map((c, i) => [i, ...c] as const))("#%i %s %s is refused with 4xx, nothing written", async (_i, method, route, body) => {
      const before = [await tableCount(node, "users"), await tableCount(node, "refresh_tokens")];
      const res = method === "POST" ? await post(route, body) : await node.http.request(method, route, body);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.body).toMatchObject(errorShape);
      expect([await tableCount(node, "users"), await tableCount(node, "refresh_tokens")]).toEqual(before);
    });

    it("refuses invalid JSON, wrong content types and oversize bodies on every accounts route", async () => {
      const u = await signUp(node);
      const admin = await signUp(node, { roles: ["admin"] });
      const routes: Array<[string, string, typeof node.http]> = [
        ["POST", "/api/auth/register", node.http],
        ["POST", "/api/auth/login", node.http],
        ["POST", "/api/auth/refresh", node.http],
        ["POST", "/api/auth/logout", node.http],
        ["PUT", "/api/users/me", u.http],
        ["POST", `/api/users/${u.user.id}/roles`, admin.http],
      ];
      const before = [await tableCount(node, "users"), await tableCount(node, "refresh_tokens")];
      for (const [method, route, client] of routes) {
        const invalid = await client.request(method, route, '{"email": "a@b.test", "password": ', { "content-type": "application/json" });
        expect({ route, status: invalid.status, body: invalid.body }).toEqual({ route, status: 400, body: { error: { code: "INVALID_JSON", message: expect.any(String) } } });
        const text = await client.request(method, route, "email=a@b.test&password=12345678", { "content-type": "text/plain" });
        // 415 once the gateway checks content types, 400 (no JSON fields) before.
        expect({ route, refused: [400, 415].includes(text.status) }).toEqual({ route, refused: true });
        expect(text.body).toMatchObject(errorShape);
        const big = await client.request(method, route, JSON.stringify({ name: "x".repeat(200_000) }));
        expect({ route, status: big.status }).toEqual({ route, status: 413 });
      }
      expect([await tableCount(node, "users"), await tableCount(node, "refresh_tokens")]).toEqual(before);
      expect((await u.http.get("/api/users/me")).body).toEqual(u.user);
    });

    it("refuses bad profile updates with 4xx and changes nothing", async () => {
      const u = await signUp(node);
      for (const body of [
        {},
        { name: "" },
        { name: 5 },
        { name: "x".repeat(101) },
        { email: "nope", currentPassword: u.password },
        { password: "short", currentPassword: u.password },
        { password: "long enough pw" },
        { id: "someone-else", name: "x" },
        { name: "Robert'); DROP TABLE users;--", createdAt: "2000-01-01" },
      ]) {
        const res = await u.http.put("/api/users/me", body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect(res.body).toMatchObject(errorShape);
      }
      expect((await u.http.get("/api/users/me")).body).toEqual(u.user);
      // SQL metacharacters are just text.
      const odd = await u.http.put("/api/users/me", { name: "Robert'); DROP TABLE users;--" });
      expect(odd.status).toBe(200);
      expect((await u.http.get("/api/users/me")).body.name).toBe("Robert'); DROP TABLE users;--");
      expect((await post("/api/auth/login", { email: "' OR '1'='1", password: "' OR '1'='1" })).status).toBe(401);
    });
  });
});

describe("admin seed", () => {
  type Line = { level: string; text: string };
  const capture = (): { logger: LoggerInstance; lines: Line[] } => {
    const lines: Line[] = [];
    const log = (level: string) => (...args: unknown[]) => lines.push({ level, text: args.map(String).join(" ") });
    const logger = { fatal: log("fatal"), error: log("error"), warn: log("warn"), info: log("info"), debug: log("debug"), trace: log("trace") };
    return { logger: logger as unknown as LoggerInstance, lines };
  };

  it("creates the admin from ADMIN_EMAIL/ADMIN_PASSWORD once, never logging the password", async () => {
    const password = "env-given admin password";
    const node = await startTestNode({ services: ["api", "auth", "users"], env: { ADMIN_EMAIL: "Boss@Example.TEST", ADMIN_PASSWORD: password } });
    try {
      await accountsRoutesReady(node);
      const first = capture();
      expect(await runSeeds(node.platform, first.logger)).toContain("010_admin");
      expect(await runSeeds(node.platform, capture().logger)).not.toContain("010_admin");
      expect(first.lines.some((l) => l.text.includes(password))).toBe(false);
      const db = await node.platform.db();
      expect(await db("users").where({ email: "boss@example.test" })).toHaveLength(1);

      const login = await postFrom(node.baseUrl, "/api/auth/login", { email: "boss@example.test", password });
      expect(login.status).toBe(200);
      expect(login.body.user.roles).toContain("admin");
      // The only admin cannot lock everyone out by dropping their own role.
      const self = await node.http.as(login.body.accessToken).post(`/api/users/${login.body.user.id}/roles`, { roles: ["buyer"] });
      expect(self).toMatchObject({ status: 409, body: { error: { code: "LAST_ADMIN" } } });
    } finally {
      await node.stop();
    }
  });

  it("generates a password, shows it once and keeps it in DATA_DIR/admin-password.txt (0600)", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-accounts-"));
    const node = await startTestNode({ services: ["api", "auth", "users"], env: { DATA_DIR: dataDir } });
    try {
      await accountsRoutesReady(node);
      const first = capture();
      await runSeeds(node.platform, first.logger);
      const file = path.join(dataDir, "admin-password.txt");
      const stat = fs.statSync(file);
      expect(stat.mode & 0o777).toBe(0o600);
      const password = fs.readFileSync(file, "utf8").trim();
      expect(password.length).toBeGreaterThanOrEqual(16);
      expect(first.lines.filter((l) => l.text.includes(password))).toHaveLength(1);

      const second = capture();
      await runSeeds(node.platform, second.logger);
      expect(second.lines.some((l) => l.text.includes(password))).toBe(false);
      expect(fs.readFileSync(file, "utf8").trim()).toBe(password);
      const db = await node.platform.db();
      expect(await db("users").where({ email: "admin@ticketflash.local" })).toHaveLength(1);

      const login = await postFrom(node.baseUrl, "/api/auth/login", { email: "admin@ticketflash.local", password });
      expect(login.status).toBe(200);
      expect(login.body.user.roles).toEqual(["buyer", "admin"]);
    } finally {
      await node.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
