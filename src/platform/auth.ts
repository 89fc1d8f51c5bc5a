/**
 * Who is asking. Access tokens are JWTs (HS256, 15 minutes) signed with a key from the
 * environment (embedded mode: generated into ./data). The algorithm is pinned when verifying,
 * so `alg: none` or a token signed with another algorithm is refused.
 *
 * REST actions declare what they need and the gateway enforces it in one place:
 *   auth: "required" (the default for any action with `rest`) | "optional" | "public"
 *   roles: ["organizer", "admin"]   (any of them; admin passes every role check)
 * Ownership ("a buyer sees only their own orders") is the service's job, answered with 404.
 */
import crypto from "crypto";
import jwt from "jsonwebtoken";
import type { Context } from "moleculer";
import { unauthorized } from "./errors";

export const ROLES = ["buyer", "organizer", "scanner", "admin"] as const;
export type Role = (typeof ROLES)[number];

export interface AuthUser {
  id: string;
  email: string;
  name: string;
  roles: Role[];
}

export interface Meta {
  user?: AuthUser | null;
  /** Set by the gateway for HTTP calls: the client's socket address (never a forwarded header). */
  clientIp?: string;
  /** Set by the gateway: if-none-match, idempotency-key, accept-encoding, accept-language. */
  headers?: Record<string, string>;
  $statusCode?: number;
  $responseType?: string;
  $responseHeaders?: Record<string, string>;
  /** Set by an action on another node whose answer is bytes sent as base64 text; the gateway decodes it. */
  $base64Body?: boolean;
  [key: string]: unknown;
}

export type AuthContext<P = Record<string, unknown>> = Context<P, Meta>;

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
const ISSUER = "ticketflash";

/**
 * jsonwebtoken turns a string secret into a key object on every call (and first tries, and fails,
 * to read it as a public key): measured at 28% of a gateway's CPU under load. Build it once.
 */
const secretKeys = new Map<string, crypto.KeyObject>();
function secretKey(secret: string): crypto.KeyObject {
  let key = secretKeys.get(secret);
  if (!key) {
    key = crypto.createSecretKey(Buffer.from(secret, "utf8"));
    secretKeys.set(secret, key);
  }
  return key;
}

export function signAccessToken(secret: string, user: AuthUser): string {
  return jwt.sign({ email: user.email, name: user.name, roles: user.roles }, secretKey(secret), {
    algorithm: "HS256",
    subject: user.id,
    issuer: ISSUER,
    expiresIn: ACCESS_TOKEN_TTL_SECONDS,
  });
}

/**
 * Tokens this process has verified, by their exact text (signature included), until they expire.
 * A buyer sends the same token with every request of a purchase (the hold, the order, each PDF,
 * the socket): verifying it once saves the HMAC and the JSON parses on the others (verifying was
 * 2.7% of a node's CPU in the purchase benchmark, 6.5 times per order). A token that differs in
 * any character, a forged one included, is another key and is verified in full; nothing that
 * failed verification is kept. Bounded: the oldest entry goes first when it is full. Small on purpose: in a rush every hold is a new buyer, and each
 * kept token then outlives the young generation; with 30,000 new tokens in a row, a token cost
 * 9 us to verify without the cache, 19 us with 20,000 kept and 11-13 us with 1,000-4,000 kept.
 * 2,000 buyers cover a purchase's few seconds even at hundreds of new buyers a second.
 */
export const VERIFIED_TOKENS_MAX = 2_000;
const verifiedTokens = new Map<string, { secret: string; user: AuthUser; expiresAtMs: number }>();

export function verifyAccessToken(secret: string, token: string): AuthUser {
  const known = verifiedTokens.get(token);
  if (known && known.secret === secret) {
    if (Date.now() < known.expiresAtMs) return known.user;
    verifiedTokens.delete(token);
  }
  let payload: jwt.JwtPayload;
  try {
    payload = jwt.verify(token, secretKey(secret), { algorithms: ["HS256"], issuer: ISSUER }) as jwt.JwtPayload;
    if (!payload.sub || !Array.isArray(payload.roles) || typeof payload.exp !== "number") throw new Error("malformed");
  } catch {
    throw unauthorized("The access token is invalid or expired.", "INVALID_TOKEN");
  }
  const roles = (payload.roles as string[]).filter((r): r is Role => (ROLES as readonly string[]).includes(r));
  const user: AuthUser = Object.freeze({ id: payload.sub, email: String(payload.email ?? ""), name: String(payload.name ?? ""), roles: Object.freeze(roles) as Role[] });
  if (verifiedTokens.size >= VERIFIED_TOKENS_MAX) verifiedTokens.delete(verifiedTokens.keys().next().value!);
  // jsonwebtoken refuses a token once the clock's whole second reaches `exp`.
  verifiedTokens.set(token, { secret, user, expiresAtMs: payload.exp * 1000 });
  return user;
}

/** How many verified tokens are kept (tests). */
export function verifiedTokenCount(): number {
  return verifiedTokens.size;
}

export function hasRole(user: AuthUser | null | undefined, roles: readonly Role[]): boolean {
  if (!user) return false;
  if (user.roles.includes("admin")) return true;
  return roles.some((r) => user.roles.includes(r));
}

/** The signed-in user of a call, or 401. */
export function currentUser(ctx: Context<unknown, Meta>): AuthUser {
  const user = ctx.meta.user;
  if (!user) throw unauthorized();
  return user;
}
