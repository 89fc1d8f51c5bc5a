/**
 * The signed payload printed as a ticket's QR code, verifiable offline with the platform's
 * Ed25519 public key (GET /api/tickets/public-key):
 *
 *   TF1.<base64url(JSON claims)>.<base64url(Ed25519 signature over "TF1.<claims part>")>
 *
 * The version prefix is part of the signed bytes, so a code cannot be re-labelled as another
 * format. Verification never throws: a scanner feeds it whatever the camera read.
 */
import crypto, { KeyObject } from "crypto";

export const TICKET_CODE_VERSION = "TF1";

export interface TicketClaims {
  ticketId: string;
  sessionId: string;
  seatId: string;
  seatLabel: string;
  holderName: string;
}

/** Bounds that keep the QR small enough to scan from a phone screen. */
export const CLAIM_LIMITS: Record<keyof TicketClaims, number> = {
  ticketId: 64,
  sessionId: 64,
  seatId: 64,
  seatLabel: 64,
  holderName: 80,
};

/** Longer than any code we issue; anything beyond is rejected before decoding. */
const MAX_CODE_LENGTH = 1024;

export type VerifyResult =
  | { valid: true; claims: TicketClaims }
  | { valid: false; reason: "MALFORMED" | "BAD_SIGNATURE" };

// Short keys: every byte makes the QR denser.
type Wire = { t: string; s: string; i: string; l: string; h: string };

const keyCache = new Map<string, KeyObject>();

function key(pem: string, kind: "private" | "public"): KeyObject {
  const cacheKey = kind + pem;
  let k = keyCache.get(cacheKey);
  if (!k) {
    k = kind === "private" ? crypto.createPrivateKey(pem) : crypto.createPublicKey(pem);
    if (k.asymmetricKeyType !== "ed25519") throw new Error(`ticket ${kind} key must be Ed25519`);
    keyCache.set(cacheKey, k);
  }
  return k;
}

/** Display texts are shortened (not rejected) so a long name or label never blocks issuance. */
const DISPLAY_FIELDS: ReadonlyArray<keyof TicketClaims> = ["seatLabel", "holderName"];

export function normalizeClaims(claims: TicketClaims): TicketClaims {
  const out = { ...claims };
  for (const field of Object.keys(CLAIM_LIMITS) as Array<keyof TicketClaims>) {
    const value = String(out[field] ?? "");
    if (DISPLAY_FIELDS.includes(field)) out[field] = [...value].slice(0, CLAIM_LIMITS[field]).join("");
    else if (!value || value.length > CLAIM_LIMITS[field]) throw new Error(`ticket claim ${field} is empty or longer than ${CLAIM_LIMITS[field]}`);
    else out[field] = value;
  }
  return out;
}

export function signTicketCode(claims: TicketClaims, privateKeyPem: string): string {
  const c = normalizeClaims(claims);
  const wire: Wire = { t: c.ticketId, s: c.sessionId, i: c.seatId, l: c.seatLabel, h: c.holderName };
  const signed = `${TICKET_CODE_VERSION}.${Buffer.from(JSON.stringify(wire), "utf8").toString("base64url")}`;
  const signature = crypto.sign(null, Buffer.from(signed, "ascii"), key(privateKeyPem, "private"));
  return `${signed}.${signature.toString("base64url")}`;
}

// An Ed25519 signature is 64 bytes = 86 base64url characters.
const CODE_PATTERN = /^TF1\.([A-Za-z0-9_-]{1,900})\.([A-Za-z0-9_-]{86})$/;

/** Base64url has several spellings of the same bytes (unused trailing bits); accept only ours. */
function canonicalBase64url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, "base64url");
  return bytes.toString("base64url") === text ? bytes : undefined;
}

function parseClaims(json: string): TicketClaims | undefined {
  let wire: unknown;
  try {
    wire = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!wire || typeof wire !== "object" || Array.isArray(wire)) return undefined;
  const w = wire as Record<string, unknown>;
  const claims = { ticketId: w.t, sessionId: w.s, seatId: w.i, seatLabel: w.l, holderName: w.h };
  for (const [field, value] of Object.entries(claims)) {
    if (typeof value !== "string" || value.length > CLAIM_LIMITS[field as keyof TicketClaims]) return undefined;
    if (!DISPLAY_FIELDS.includes(field as keyof TicketClaims) && !value) return undefined;
  }
  return claims as TicketClaims;
}

export function verifyTicketCode(code: unknown, publicKeyPem: string): VerifyResult {
  if (typeof code !== "string" || code.length > MAX_CODE_LENGTH) return { valid: false, reason: "MALFORMED" };
  const match = CODE_PATTERN.exec(code);
  if (!match) return { valid: false, reason: "MALFORMED" };
  const payload = canonicalBase64url(match[1]);
  const signature = canonicalBase64url(match[2]);
  if (!payload || !signature || signature.length !== 64) return { valid: false, reason: "MALFORMED" };
  const signed = Buffer.from(`${TICKET_CODE_VERSION}.${match[1]}`, "ascii");
  let ok = false;
  try {
    ok = crypto.verify(null, signed, key(publicKeyPem, "public"), signature);
  } catch {
    ok = false;
  }
  // Claims are only parsed once the signature holds: nothing unsigned is ever interpreted.
  if (!ok) return { valid: false, reason: "BAD_SIGNATURE" };
  const claims = parseClaims(payload.toString("utf8"));
  return claims ? { valid: true, claims } : { valid: false, reason: "MALFORMED" };
}
