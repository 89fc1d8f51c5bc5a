/**
 * Tokens from an external OpenID Connect issuer (Keycloak), accepted when OIDC_ISSUER is set.
 * The issuer's discovery document names its JWKS; keys are cached and fetched again when a token
 * names a key we do not know yet (key rotation), at most once per cooldown so that tokens with
 * made-up key ids cannot make us hammer the issuer. Only RS256 and ES256 are accepted, the key's
 * type must match the algorithm (no HMAC-with-the-public-key confusion) and `iss` is pinned.
 * Roles come from Keycloak's `realm_access.roles`, limited to ours; none means buyer.
 */
import crypto from "crypto";
import jwt from "jsonwebtoken";
import { AuthUser, Role, ROLES, verifyAccessToken } from "./auth";
import { unauthorized, unavailable } from "./errors";
import type { Platform } from "./platform";

const ALGORITHMS = ["RS256", "ES256"] as const;
type Algorithm = (typeof ALGORITHMS)[number];

interface Jwk extends crypto.JsonWebKey {
  kid?: string;
  use?: string;
  alg?: string;
}

export interface OidcOptions {
  /** How long fetched keys are trusted without asking again. */
  keysTtlMs?: number;
  /** Minimum time between two JWKS fetches caused by unknown key ids. */
  refetchCooldownMs?: number;
  timeoutMs?: number;
}

const invalidToken = () => unauthorized("The access token is invalid or expired.", "INVALID_TOKEN");

export class OidcVerifier {
  readonly issuer: string;
  private jwksUri?: string;
  private keys = new Map<string, { jwk: Jwk; key: crypto.KeyObject }>();
  private fetchedAt = 0;
  private inflight?: Promise<void>;
  private readonly keysTtlMs: number;
  private readonly refetchCooldownMs: number;
  private readonly timeoutMs: number;

  constructor(issuer: string, opts: OidcOptions = {}) {
    this.issuer = issuer;
    this.keysTtlMs = opts.keysTtlMs ?? 10 * 60_000;
    this.refetchCooldownMs = opts.refetchCooldownMs ?? 10_000;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
  }

  async verify(token: string): Promise<AuthUser> {
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded.payload === "string") throw invalidToken();
    const alg = decoded.header.alg as Algorithm;
    const kid = decoded.header.kid;
    if (!ALGORITHMS.includes(alg) || typeof kid !== "string" || decoded.payload.iss !== this.issuer) throw invalidToken();

    const entry = await this.key(kid);
    if (!entry || !keyFitsAlgorithm(entry.jwk, alg)) throw invalidToken();
    let payload: jwt.JwtPayload;
    try {
      payload = jwt.verify(token, entry.key, { algorithms: [alg], issuer: this.issuer }) as jwt.JwtPayload;
    } catch {
      throw invalidToken();
    }
    if (typeof payload.sub !== "string" || payload.sub === "") throw invalidToken();
    return {
      id: payload.sub,
      email: typeof payload.email === "string" ? payload.email.toLowerCase() : "",
      name: String(payload.name ?? payload.preferred_username ?? ""),
      roles: mapRoles(payload.realm_access),
    };
  }

  private async key(kid: string) {
    const stale = Date.now() - this.fetchedAt > this.keysTtlMs;
    const unknownMayRefetch = !this.keys.has(kid) && Date.now() - this.fetchedAt >= this.refetchCooldownMs;
    if (stale || unknownMayRefetch) await this.refreshKeys();
    return this.keys.get(kid);
  }

  private refreshKeys(): Promise<void> {
    // One fetch at a time however many requests arrive together.
    this.inflight ??= this.fetchKeys().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    try {
      if (!this.jwksUri) {
        const discovery = await this.getJson(`${this.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`);
        if (discovery.issuer !== this.issuer || typeof discovery.jwks_uri !== "string") {
          throw new Error(`discovery document of ${this.issuer} names issuer ${String(discovery.issuer)}`);
        }
        this.jwksUri = discovery.jwks_uri;
      }
      const jwks = await this.getJson(this.jwksUri);
      const keys = new Map<string, { jwk: Jwk; key: crypto.KeyObject }>();
      for (const jwk of Array.isArray(jwks.keys) ? (jwks.keys as Jwk[]) : []) {
        if (typeof jwk.kid !== "string" || (jwk.use !== undefined && jwk.use !== "sig")) continue;
        try {
          keys.set(jwk.kid, { jwk, key: crypto.createPublicKey({ key: jwk, format: "jwk" }) });
        } catch {
          // A key we cannot read (unknown type) simply verifies nothing.
        }
      }
      this.keys = keys;
      this.fetchedAt = Date.now();
    } catch (err) {
      // Keep serving with the keys we have if they are not too old; else the issuer is down for us too.
      this.fetchedAt = this.keys.size ? Date.now() - this.keysTtlMs + this.refetchCooldownMs : 0;
      if (!this.keys.size) throw unavailable(`The identity provider cannot be reached: ${(err as Error).message}`, 5);
    }
  }

  private async getJson(url: string): Promise<Record<string, unknown>> {
    const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: "application/json" } });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  }
}

function keyFitsAlgorithm(jwk: Jwk, alg: Algorithm): boolean {
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  return alg === "RS256" ? jwk.kty === "RSA" : jwk.kty === "EC" && jwk.crv === "P-256";
}

export function mapRoles(realmAccess: unknown): Role[] {
  const granted = (realmAccess as { roles?: unknown } | undefined)?.roles;
  const roles = Array.isArray(granted) ? ROLES.filter((r) => granted.includes(r)) : [];
  return roles.length ? roles : ["buyer"];
}

const verifiers = new WeakMap<Platform, OidcVerifier>();

/**
 * Who a bearer token belongs to: our own JWTs first; when OIDC_ISSUER is set, tokens whose `iss`
 * is that issuer are checked against its keys instead.
 */
export async function verifyBearerToken(platform: Platform, token: string): Promise<AuthUser> {
  const issuer = platform.config.oidcIssuer;
  if (issuer) {
    let verifier = verifiers.get(platform);
    if (!verifier) verifiers.set(platform, (verifier = new OidcVerifier(issuer)));
    const claimed = jwt.decode(token, { json: true })?.iss;
    if (claimed === verifier.issuer) return verifier.verify(token);
  }
  return verifyAccessToken(platform.secrets.jwtSecret, token);
}
