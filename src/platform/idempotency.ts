/**
 * The `Idempotency-Key` request header: a client's name for one intended change, sent again with
 * every retry of it, so a request answered late, or not at all, can be sent again without doing
 * the change twice. Orders require one; holds take one.
 */
import { createHmac } from "crypto";
import { badRequest } from "./errors";

export const IDEMPOTENCY_KEY_MAX = 200;

/** The request's key, trimmed; undefined when none was sent (a 400 when `required`). */
export function idempotencyKey(ctx: { meta: { headers?: Record<string, string | undefined> } }, required: string | false): string | undefined {
  const key = ctx.meta.headers?.["idempotency-key"]?.trim();
  if (!key) {
    if (!required) return undefined;
    throw badRequest(`Send an Idempotency-Key header with every ${required}.`, {
      fields: [{ field: "Idempotency-Key", message: "The Idempotency-Key header is required.", type: "required" }],
    });
  }
  if (key.length > IDEMPOTENCY_KEY_MAX) {
    throw badRequest("The Idempotency-Key header is too long.", {
      fields: [{ field: "Idempotency-Key", message: `At most ${IDEMPOTENCY_KEY_MAX} characters.`, type: "stringMax" }],
    });
  }
  return key;
}

/**
 * An id for what a key names, the same every time it is asked for, and as unguessable as a random
 * one to whoever lacks `secret`: 128 bits of HMAC-SHA256 over the parts (who, where, the key),
 * base64url, the length and alphabet of random-id.ts's ids.
 */
export function idForKey(secret: string, ...parts: string[]): string {
  return createHmac("sha256", secret).update(JSON.stringify(parts)).digest().toString("base64url", 0, 16);
}
