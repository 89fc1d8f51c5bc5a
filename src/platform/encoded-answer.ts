/**
 * A read-mostly route's HTTP answer, encoded once and sent to every reader: its JSON, a strong
 * ETag and the gzip, made on first demand. The seat map keeps one per session version
 * (src/seats/seat-map-answer.ts), the venue route one per venue (services/venues.service.ts): a
 * 22,000-seat stadium's layout is 1.7 MB of JSON, and reading, stringifying and sending it per
 * request cost 66 CPU ms (bench/fixes.md, nineteenth round).
 */
import crypto from "crypto";
import zlib from "zlib";
import type { Context } from "moleculer";
import type { Meta } from "./auth";

export class EncodedAnswer {
  private gzipped?: Buffer;
  private gzipped64?: string;

  constructor(
    readonly json: string,
    /** Strong validator over the whole body. */
    readonly etag: string,
  ) {}

  /** The body's JSON; its ETag is given, or a hash of that JSON. */
  static of(body: unknown, etag?: string): EncodedAnswer {
    const json = JSON.stringify(body);
    return new EncodedAnswer(json, etag ?? `"${crypto.createHash("sha1").update(json).digest("base64url")}"`);
  }

  get gzip(): Buffer {
    this.gzipped ??= zlib.gzipSync(this.json);
    return this.gzipped;
  }

  /** The gzip as base64 text, to cross the transporter (see `send`). */
  get gzipBase64(): string {
    this.gzipped64 ??= this.gzip.toString("base64");
    return this.gzipped64;
  }

  /** `If-None-Match` names this answer (a list, weak validators and `*` included). */
  matches(ifNoneMatch: string | undefined): boolean {
    return etagMatches(ifNoneMatch, this.etag);
  }

  /**
   * Answers an action's caller (the gateway) with it: 304 when the request's If-None-Match names
   * it, the gzip when the request accepts it, else the JSON; with its ETag, `Cache-Control:
   * no-cache` (clients revalidate) and `Vary: Accept-Encoding`.
   */
  send(ctx: Context<unknown, Meta>, localNodeID: string): string | Buffer | null {
    const request = ctx.meta.headers ?? {};
    const headers: Record<string, string> = { ETag: this.etag, "Cache-Control": "no-cache", Vary: "Accept-Encoding" };
    ctx.meta.$responseHeaders = headers;
    ctx.meta.$responseType = "application/json; charset=utf-8";
    if (this.matches(request["if-none-match"])) {
      ctx.meta.$statusCode = 304;
      return null;
    }
    if (!acceptsGzip(request["accept-encoding"])) return this.json;
    headers["Content-Encoding"] = "gzip";
    if (ctx.nodeID && ctx.nodeID !== localNodeID) {
      // To a gateway on another node, bytes go as base64 text: the JSON serializer would send a
      // 49 KB gzip as an array of 49,000 numbers (services/api.service.ts decodes it).
      ctx.meta.$base64Body = true;
      return this.gzipBase64;
    }
    return this.gzip;
  }
}

/** `If-None-Match` names `etag` (a list, weak validators and `*` included). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(",").some((tag) => {
    const t = tag.trim();
    return t === "*" || t.replace(/^W\//, "") === etag;
  });
}

/** `Accept-Encoding` allows gzip (and does not refuse it with `q=0`). */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (!acceptEncoding || !/gzip|\*/i.test(acceptEncoding)) return false;
  if (!acceptEncoding.includes("q=")) return true;
  // gzip's own entry decides; failing that, `*`'s.
  let star: boolean | undefined;
  for (const part of acceptEncoding.toLowerCase().split(",")) {
    const [coding, ...params] = part.split(";").map((p) => p.trim());
    const q = params.find((p) => p.startsWith("q="));
    const allowed = !q || Number(q.slice(2)) > 0;
    if (coding === "gzip" || coding === "x-gzip") return allowed;
    if (coding === "*") star = allowed;
  }
  return star ?? false;
}
