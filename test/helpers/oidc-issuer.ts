/**
 * A stand-in OpenID Connect provider (the parts Keycloak serves for token verification):
 * discovery document and JWKS over real HTTP on a random port, with keys made per test.
 */
import crypto from "crypto";
import http from "http";
import { AddressInfo } from "net";
import jwt from "jsonwebtoken";

export class FakeIssuer {
  server = http.createServer((req, res) => this.handle(req, res));
  url = "";
  keys: Array<{ kid: string; privateKey: crypto.KeyObject; publicJwk: crypto.JsonWebKey & { kid: string } }> = [];
  jwksFetches = 0;
  down = false;
  discoveryIssuer?: string;

  async stop() {
    await new Promise((r) => this.server.close(r));
  }

  async start() {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/realms/ticketflash`;
  }

  addKey(type: "rsa" | "ec", kid: string = crypto.randomUUID()) {
    const { privateKey, publicKey } =
      type === "rsa" ? crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }) : crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
    const key = { kid, privateKey, publicJwk: { ...publicKey.export({ format: "jwk" }), kid, use: "sig" } };
    this.keys.push(key);
    return key;
  }

  sign(claims: Record<string, unknown>, opts: { kid?: string; algorithm?: jwt.Algorithm; issuer?: string; expiresIn?: number } = {}) {
    const key = this.keys.find((k) => k.kid === (opts.kid ?? this.keys[0].kid))!;
    const algorithm = opts.algorithm ?? (key.publicJwk.kty === "RSA" ? "RS256" : "ES256");
    return jwt.sign(claims, key.privateKey, { algorithm, keyid: key.kid, issuer: opts.issuer ?? this.url, subject: "kc-user-1", expiresIn: opts.expiresIn ?? 300 });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse) {
    if (this.down) {
      res.statusCode = 503;
      return res.end();
    }
    res.setHeader("content-type", "application/json");
    if (req.url === "/realms/ticketflash/.well-known/openid-configuration") {
      return res.end(JSON.stringify({ issuer: this.discoveryIssuer ?? this.url, jwks_uri: `${this.url}/protocol/openid-connect/certs` }));
    }
    if (req.url === "/realms/ticketflash/protocol/openid-connect/certs") {
      this.jwksFetches++;
      return res.end(JSON.stringify({ keys: this.keys.map((k) => k.publicJwk) }));
    }
    res.statusCode = 404;
    res.end("{}");
  }
}

