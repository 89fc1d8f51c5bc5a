/**
 * The seat map's HTTP answer (shared/API.md `GET /api/sessions/:id/seat-map`): its JSON, ETag and
 * gzip, built once per (version, variant, sale data) and kept beside the session's actor. In a
 * flash sale it is the most-read route: every reader of one version gets the same bytes, and
 * gzipping 20 KB per read was a fifth of the node's CPU (bench/fixes.md, first round).
 */
import crypto from "crypto";
import zlib from "zlib";

export interface SeatMapBody {
  sessionId: string;
  version: number;
  seatIds?: readonly string[];
  status: string;
  prices: Record<string, number>;
  currency: string;
  areas: Array<{ id: string; capacity: number; available: number }>;
}

export class EncodedSeatMap {
  private gzipped?: Buffer;
  private gzipped64?: string;

  constructor(
    readonly json: string,
    /** Strong validator over the whole body: prices can change without a seat changing. */
    readonly etag: string,
  ) {}

  static of(body: SeatMapBody): EncodedSeatMap {
    const json = JSON.stringify(body);
    return new EncodedSeatMap(json, `"${crypto.createHash("sha1").update(json).digest("base64url")}"`);
  }

  get gzip(): Buffer {
    this.gzipped ??= zlib.gzipSync(this.json);
    return this.gzipped;
  }

  /** The gzip as base64 text, to cross the transporter (see services/seats.service.ts). */
  get gzipBase64(): string {
    this.gzipped64 ??= this.gzip.toString("base64");
    return this.gzipped64;
  }

  /** `If-None-Match` names this answer (a list, weak validators and `*` included). */
  matches(ifNoneMatch: string | undefined): boolean {
    if (!ifNoneMatch) return false;
    return ifNoneMatch.split(",").some((tag) => {
      const t = tag.trim();
      return t === "*" || t.replace(/^W\//, "") === this.etag;
    });
  }
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

/**
 * One session's encoded answers: the current version's two variants (with and without seat ids).
 * A new version or new sale data (prices, currency: the actor re-reads them) starts afresh.
 */
export class SeatMapAnswers {
  private version = -1;
  private sale?: object;
  private variants: [EncodedSeatMap?, EncodedSeatMap?] = [];

  answer(version: number, sale: object, statusOnly: boolean, body: () => SeatMapBody): EncodedSeatMap {
    if (version !== this.version || sale !== this.sale) {
      this.version = version;
      this.sale = sale;
      this.variants = [];
    }
    const i = statusOnly ? 1 : 0;
    return (this.variants[i] ??= EncodedSeatMap.of(body()));
  }
}
