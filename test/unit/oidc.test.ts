import crypto from "crypto";
import jwt from "jsonwebtoken";
import { mapRoles, OidcVerifier } from "../../src/platform/oidc";
import { FakeIssuer } from "../helpers/oidc-issuer";

describe("OIDC tokens", () => {
  let idp: FakeIssuer;
  beforeEach(async () => {
    idp = new FakeIssuer();
    await idp.start();
  });
  afterEach(() => idp.stop());

  const claims = { email: "Kim@Example.test", name: "Kim", realm_access: { roles: ["organizer", "offline_access", "uma_authorization"] } };

  it("accepts RS256 and ES256 tokens of the issuer and maps realm roles to ours", async () => {
    const rsa = idp.addKey("rsa");
    const ec = idp.addKey("ec");
    const verifier = new OidcVerifier(idp.url);
    await expect(verifier.verify(idp.sign(claims, { kid: rsa.kid }))).resolves.toEqual({
      id: "kc-user-1",
      email: "kim@example.test",
      name: "Kim",
      roles: ["organizer"],
    });
    await expect(verifier.verify(idp.sign(claims, { kid: ec.kid }))).resolves.toMatchObject({ roles: ["organizer"] });
    expect(idp.jwksFetches).toBe(1);
  });

  it("refuses other issuers, expired tokens, foreign keys and disallowed algorithms", async () => {
    const rsa = idp.addKey("rsa");
    const verifier = new OidcVerifier(idp.url);
    const refusals: Record<string, string> = {
      otherIssuer: idp.sign(claims, { issuer: "http://evil.example/realms/ticketflash" }),
      expired: idp.sign(claims, { expiresIn: -10 }),
      rs512: idp.sign(claims, { algorithm: "RS512" }),
      // Same kid, another private key: the signature must not verify.
      foreignKey: jwt.sign(claims, crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, {
        algorithm: "RS256",
        keyid: rsa.kid,
        issuer: idp.url,
        subject: "kc-user-1",
        expiresIn: 300,
      }),
      // Classic confusion: HMAC keyed with the public key.
      hmacWithPublicKey: jwt.sign(claims, JSON.stringify(rsa.publicJwk), { algorithm: "HS256", keyid: rsa.kid, issuer: idp.url, subject: "x", expiresIn: 300 }),
      algNone: jwt.sign(claims, "", { algorithm: "none", keyid: rsa.kid, issuer: idp.url, subject: "x", expiresIn: 300 }),
      noKid: jwt.sign(claims, rsa.privateKey, { algorithm: "RS256", issuer: idp.url, subject: "x", expiresIn: 300 }),
      garbage: "a.b.c",
    };
    for (const [kind, token] of Object.entries(refusals)) {
      const outcome = await verifier.verify(token).then(() => "accepted", (e) => `${e.code} ${e.type}`);
      expect({ kind, outcome }).toEqual({ kind, outcome: "401 INVALID_TOKEN" });
    }
  });

  it("refuses an ES256 token whose key id points at an RSA key", async () => {
    const rsa = idp.addKey("rsa");
    const ec = idp.addKey("ec");
    ec.publicJwk.kid = rsa.kid;
    const verifier = new OidcVerifier(idp.url);
    idp.keys = [rsa];
    const token = jwt.sign(claims, ec.privateKey, { algorithm: "ES256", keyid: rsa.kid, issuer: idp.url, subject: "x", expiresIn: 300 });
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 401 });
  });

  it("follows key rotation but does not refetch keys for every unknown key id", async () => {
    idp.addKey("rsa", "old");
    const verifier = new OidcVerifier(idp.url, { refetchCooldownMs: 0 });
    await verifier.verify(idp.sign(claims));
    idp.addKey("ec", "new");
    await expect(verifier.verify(idp.sign(claims, { kid: "new" }))).resolves.toMatchObject({ id: "kc-user-1" });
    expect(idp.jwksFetches).toBe(2);

    const slow = new OidcVerifier(idp.url, { refetchCooldownMs: 60_000 });
    await slow.verify(idp.sign(claims, { kid: "old" }));
    const before = idp.jwksFetches;
    const madeUp = jwt.sign(claims, idp.keys[0].privateKey, { algorithm: "RS256", keyid: "made-up", issuer: idp.url, subject: "x", expiresIn: 300 });
    for (let i = 0; i < 5; i++) await expect(slow.verify(madeUp)).rejects.toMatchObject({ code: 401 });
    expect(idp.jwksFetches).toBe(before);
  });

  it("refuses a discovery document that names another issuer", async () => {
    idp.addKey("rsa");
    idp.discoveryIssuer = "http://evil.example/";
    await expect(new OidcVerifier(idp.url).verify(idp.sign(claims))).rejects.toMatchObject({ code: 503 });
  });

  it("answers 503, not 401, while the issuer cannot be reached and it has no keys yet", async () => {
    idp.addKey("rsa");
    const token = idp.sign(claims);
    idp.down = true;
    const verifier = new OidcVerifier(idp.url);
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 503, type: "SERVICE_UNAVAILABLE" });
    idp.down = false;
    await expect(verifier.verify(token)).resolves.toMatchObject({ id: "kc-user-1" });
  });

  it("maps roles: only ours, buyer when none", () => {
    expect(mapRoles({ roles: ["admin", "scanner", "manage-users"] })).toEqual(["scanner", "admin"]);
    expect(mapRoles({ roles: ["offline_access"] })).toEqual(["buyer"]);
    expect(mapRoles(undefined)).toEqual(["buyer"]);
    expect(mapRoles({ roles: "admin" })).toEqual(["buyer"]);
  });
});
