/**
 * Unguessable ids (128 random bits, base64url: 22 characters) from a pool of the system's
 * random bytes, refilled 4 KB at a time. crypto.randomBytes(16) per id costs a call into OpenSSL
 * each time: 6 µs alone and ~20 µs per hold under the hot-hold load (3.5% of the node's CPU);
 * from the pool an id costs ~0.2 µs. Each pooled byte is handed out once.
 */
import { randomFillSync } from "crypto";

const ID_BYTES = 16;
const pool = Buffer.alloc(4096);
let offset = pool.length;

export function randomId(): string {
  if (offset + ID_BYTES > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString("base64url", offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}
