/**
 * Per-client rate limiting that counts across gateway nodes: a fixed window counter in Redis
 * (cluster mode) or in this process (embedded). Keyed by the caller the gateway has verified
 * (user id, else the socket address), never by a header a client can forge.
 */
import net from "net";
import type Redis from "ioredis";

/**
 * The client's address: the socket's, unless the socket belongs to a proxy the operator listed
 * (TRUSTED_PROXIES: addresses or CIDR ranges, e.g. the ingress pods' network). Then
 * X-Forwarded-For is read from the right, skipping trusted hops: the first address that is not
 * a trusted proxy is the one the last trusted proxy saw, which a client cannot forge.
 */
export function clientAddress(remote: string | undefined, forwardedFor: string | string[] | undefined, trusted: net.BlockList | undefined): string {
  let address = normalize(remote ?? "unknown");
  if (!trusted || !isTrusted(trusted, address)) return address;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor ?? "").split(",").map((h) => h.trim()).filter(Boolean);
  while (hops.length) {
    const hop = normalize(hops.pop()!);
    if (net.isIP(hop) === 0) return address;
    address = hop;
    if (!isTrusted(trusted, hop)) return hop;
  }
  return address;
}

/** Parses "10.0.0.0/8, 127.0.0.1, fd00::/8"; undefined when empty. Throws on a malformed entry. */
export function parseTrustedProxies(list: string[]): net.BlockList | undefined {
  if (!list.length) return undefined;
  const blocks = new net.BlockList();
  for (const entry of list) {
    const [ip, bits] = entry.split("/");
    const family = net.isIP(ip);
    if (!family) throw new Error(`TRUSTED_PROXIES: '${entry}' is not an address or CIDR range`);
    const type = family === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) blocks.addAddress(ip, type);
    else blocks.addSubnet(ip, Number(bits), type);
  }
  return blocks;
}

function normalize(address: string): string {
  return address.startsWith("::ffff:") && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function isTrusted(blocks: net.BlockList, address: string): boolean {
  const family = net.isIP(address);
  return family !== 0 && blocks.check(address, family === 6 ? "ipv6" : "ipv4");
}

export interface RateDecision {
  allowed: boolean;
  remaining: number;
  retryAfterSeconds: number;
}

export interface RateLimiter {
  hit(key: string, limit: number, windowMs: number): Promise<RateDecision>;
}

export class MemoryRateLimiter implements RateLimiter {
  private windows = new Map<string, { count: number; resetAt: number }>();

  async hit(key: string, limit: number, windowMs: number, now = Date.now()): Promise<RateDecision> {
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size > 100_000) this.sweep(now);
      w = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    return decide(w.count, limit, w.resetAt - now);
  }

  private sweep(now: number) {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
  }
}

// INCR and set the window's expiry on first hit, atomically; returns [count, ttl ms].
const SCRIPT = `local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {c, redis.call('PTTL', KEYS[1])}`;

/**
 * Every request counts once in Redis, so this is the gateway's one Redis call per request. The
 * script goes by its SHA (EVALSHA; ioredis sends the script again only if Redis answers
 * NOSCRIPT), not as 150 bytes of text that Redis looks up on every call; and the client pipelines
 * the calls of one event-loop turn into one write (`enableAutoPipelining`, platform.ts): a write
 * per request was a tenth of a gateway's CPU in a cluster's hot hold (bench/fixes.md,
 * twenty-first round).
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis & { tfRateHit(key: string, windowMs: string): Promise<[number, number]> };

  constructor(redis: Redis, private prefix = "tf:rl:") {
    if (!("tfRateHit" in redis)) redis.defineCommand("tfRateHit", { numberOfKeys: 1, lua: SCRIPT });
    this.redis = redis as RedisRateLimiter["redis"];
  }

  async hit(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    const [count, ttl] = await this.redis.tfRateHit(this.prefix + key, String(windowMs));
    return decide(count, limit, ttl > 0 ? ttl : windowMs);
  }
}

/**
 * Counts in Redis while Redis answers, and in this node's memory while it does not. Redis holds
 * nothing but these counters, so its outage must not stop the sale, nor lift every limit (login and
 * registration are limited per address against password guessing): each node then counts alone,
 * as an embedded node does. The client is told of each miss, to log it.
 */
export class FallbackRateLimiter implements RateLimiter {
  constructor(
    private primary: RateLimiter,
    private fallback: RateLimiter,
    private onFallback: (err: Error) => void,
  ) {}

  async hit(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    try {
      return await this.primary.hit(key, limit, windowMs);
    } catch (err) {
      this.onFallback(err as Error);
      return this.fallback.hit(key, limit, windowMs);
    }
  }
}

function decide(count: number, limit: number, msLeft: number): RateDecision {
  return {
    allowed: count <= limit,
    remaining: Math.max(0, limit - count),
    retryAfterSeconds: Math.max(1, Math.ceil(msLeft / 1000)),
  };
}
