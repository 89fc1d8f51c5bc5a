import { accountsRoutesReady, signUp } from "../helpers/accounts";
import { startTestNode, TestNode } from "../helpers/node";
import { FakeIssuer } from "../helpers/oidc-issuer";

describe("accounts with an external OIDC issuer (OIDC_ISSUER)", () => {
  let idp: FakeIssuer;
  let node: TestNode;
  beforeAll(async () => {
    idp = new FakeIssuer();
    await idp.start();
    idp.addKey("rsa");
    node = await startTestNode({ services: ["api", "auth", "users"], env: { OIDC_ISSUER: idp.url } });
    await accountsRoutesReady(node);
  });
  afterAll(async () => {
    await node.stop();
    await idp.stop();
  });

  const keycloakToken = (roles: string[]) =>
    idp.sign({ email: "kc@example.test", name: "Keycloak User", preferred_username: "kc", realm_access: { roles } });

  it("accepts the issuer's tokens on protected routes with the mapped roles", async () => {
    const me = await node.http.as(keycloakToken(["scanner", "offline_access"])).get("/api/users/me");
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ id: "kc-user-1", email: "kc@example.test", name: "Keycloak User", roles: ["scanner"], createdAt: null });
  });

  it("lets a Keycloak admin assign roles and keeps a Keycloak buyer out", async () => {
    const local = await signUp(node);
    const asBuyer = await node.http.as(keycloakToken([])).post(`/api/users/${local.user.id}/roles`, { roles: ["organizer"] });
    expect(asBuyer.status).toBe(403);
    const asAdmin = await node.http.as(keycloakToken(["admin"])).post(`/api/users/${local.user.id}/roles`, { roles: ["organizer"] });
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.body.roles).toEqual(["organizer"]);
  });

  it("still accepts our own tokens, and refuses tokens that only claim to come from the issuer", async () => {
    const local = await signUp(node);
    expect((await local.http.get("/api/users/me")).body.id).toBe(local.user.id);
    const [h, p] = keycloakToken(["admin"]).split(".");
    const forged = `${h}.${p}.${Buffer.from("not a signature").toString("base64url")}`;
    expect(await node.http.as(forged).get("/api/users/me")).toMatchObject({ status: 401, body: { error: { code: "INVALID_TOKEN" } } });
  });
});
