/**
 * Exponential backoff for retried work (outbox publishes, failed consumer deliveries, saga steps):
 * attempt 1 waits `baseMs`, each further attempt twice as long, capped at `maxMs`. A little jitter
 * (up to +20 %) keeps several nodes that failed together from retrying in lockstep.
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(attempt));
  const exact = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(n - 1, 30));
  return Math.round(exact * (1 + 0.2 * random()));
}
