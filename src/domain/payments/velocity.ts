/**
 * Velocity check: too many failed payment attempts by one user, or with one card, within a
 * window look like card testing. Further attempts are refused until the window moves on.
 */
export interface VelocityLimits {
  windowMs: number;
  maxFailuresPerUser: number;
  maxFailuresPerCard: number;
}

export const DEFAULT_VELOCITY_LIMITS: VelocityLimits = { windowMs: 15 * 60_000, maxFailuresPerUser: 5, maxFailuresPerCard: 5 };

export interface FailureHistory {
  /** Times of the user's failed attempts within the window. */
  userFailures: Date[];
  /** Times of failed attempts with this card (any user) within the window. */
  cardFailures: Date[];
}

export type VelocityVerdict = { allowed: true } | { allowed: false; scope: "user" | "card"; retryAfterSeconds: number };

export function checkVelocity(history: FailureHistory, now: Date, limits: VelocityLimits = DEFAULT_VELOCITY_LIMITS): VelocityVerdict {
  const since = now.getTime() - limits.windowMs;
  const check = (times: Date[], max: number, scope: "user" | "card"): VelocityVerdict | undefined => {
    const recent = times.map((t) => t.getTime()).filter((t) => t > since).sort((a, b) => a - b);
    if (recent.length < max) return undefined;
    // Allowed again once enough of the oldest failures have left the window.
    const freeAt = recent[recent.length - max] + limits.windowMs;
    return { allowed: false, scope, retryAfterSeconds: Math.max(1, Math.ceil((freeAt - now.getTime()) / 1000)) };
  };
  return check(history.userFailures, limits.maxFailuresPerUser, "user") ?? check(history.cardFailures, limits.maxFailuresPerCard, "card") ?? { allowed: true };
}
