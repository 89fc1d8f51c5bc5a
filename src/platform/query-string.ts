/**
 * The gateway's query-string parser: qs, as moleculer-web uses it, with a fast path for the plain
 * queries that nearly every request sends (`?statusOnly=1`, `?q=rock&page=2`). qs is general
 * (nested keys, arrays, limits), and parsing `statusOnly=1` with it was 5% of a seat-map read
 * (bench/fixes.md, fourteenth round). `plainQuery` gives exactly qs's answer for the queries it
 * takes: keys that are plain words, each once, no brackets anywhere. It refuses (undefined) the
 * rest, which go to qs as before (services/api.service.ts).
 */
const PLAIN_KEY = /^[A-Za-z0-9_.-]+$/;
const BRACKETS = /[[\]]|%5[bd]/i;
/** qs's default parameterLimit. */
const PARAMETER_LIMIT = 1000;

/** qs's default decoder (utf-8): `+` is a space; a malformed escape leaves the text as it is. */
function decode(text: string): string {
  const spaced = text.indexOf("+") === -1 ? text : text.replace(/\+/g, " ");
  if (spaced.indexOf("%") === -1) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

/** A query string (without the `?`) parsed as `qs.parse` parses it, or undefined: ask qs. */
export function plainQuery(query: string): Record<string, string> | undefined {
  if (BRACKETS.test(query)) return undefined;
  const parts = query.split("&");
  if (parts.length > PARAMETER_LIMIT) return undefined;
  const out: Record<string, string> = {};
  for (const part of parts) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = eq === -1 ? part : part.slice(0, eq);
    // Repeated keys become arrays, and Object.prototype's names are dropped: qs's business.
    if (!PLAIN_KEY.test(key) || key in out || key in Object.prototype) return undefined;
    out[key] = eq === -1 ? "" : decode(part.slice(eq + 1));
  }
  return out;
}
