/**
 * The seat map's HTTP answer (shared/API.md `GET /api/sessions/:id/seat-map`): its JSON, ETag and
 * gzip, built once per (version, variant, sale data) and kept beside the session's actor. In a
 * flash sale it is the most-read route: every reader of one version gets the same bytes, and
 * gzipping 20 KB per read was a fifth of the node's CPU (bench/fixes.md, first round).
 * The encoding itself is src/platform/encoded-answer.ts.
 */
import { EncodedAnswer } from "../platform/encoded-answer";

export interface SeatMapBody {
  sessionId: string;
  version: number;
  seatIds?: readonly string[];
  status: string;
  prices: Record<string, number>;
  currency: string;
  areas: Array<{ id: string; capacity: number; available: number }>;
}

/**
 * One session's encoded answers: the current version's two variants (with and without seat ids).
 * A new version or new sale data (prices, currency: the actor re-reads them) starts afresh.
 */
export class SeatMapAnswers {
  private version = -1;
  private sale?: object;
  private variants: [EncodedAnswer?, EncodedAnswer?] = [];

  answer(version: number, sale: object, statusOnly: boolean, body: () => SeatMapBody): EncodedAnswer {
    if (version !== this.version || sale !== this.sale) {
      this.version = version;
      this.sale = sale;
      this.variants = [];
    }
    const i = statusOnly ? 1 : 0;
    return (this.variants[i] ??= EncodedAnswer.of(body()));
  }
}
