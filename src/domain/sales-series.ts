/**
 * Sales over time: which bucket size suits a time range, and a gap-free series from the sparse
 * rows the database returns (a minute without sales is a zero, not a missing point).
 */
export type Bucket = "minute" | "hour" | "day";

const BUCKET_MS: Record<Bucket, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
/** At most this many points, so a chart stays readable and the answer small. */
export const MAX_POINTS = 240;

export function bucketFor(fromMs: number, toMs: number): Bucket {
  const span = Math.max(0, toMs - fromMs);
  if (span <= MAX_POINTS * BUCKET_MS.minute) return "minute";
  if (span <= MAX_POINTS * BUCKET_MS.hour) return "hour";
  return "day";
}

export function truncate(ms: number, bucket: Bucket): number {
  return Math.floor(ms / BUCKET_MS[bucket]) * BUCKET_MS[bucket];
}

export interface SeriesPoint {
  t: string;
  sold: number;
  revenueCents: number;
}

/** Fills the buckets between `fromMs` and `toMs` (inclusive), newest last, at most MAX_POINTS. */
export function fillSeries(rows: Array<{ bucketMs: number; sold: number; revenueCents: number }>, fromMs: number, toMs: number, bucket: Bucket): SeriesPoint[] {
  const size = BUCKET_MS[bucket];
  const byBucket = new Map(rows.map((r) => [truncate(r.bucketMs, bucket), r]));
  const last = truncate(toMs, bucket);
  const first = Math.max(truncate(fromMs, bucket), last - (MAX_POINTS - 1) * size);
  const out: SeriesPoint[] = [];
  for (let t = first; t <= last; t += size) {
    const row = byBucket.get(t);
    out.push({ t: new Date(t).toISOString(), sold: row?.sold ?? 0, revenueCents: row?.revenueCents ?? 0 });
  }
  return out;
}
