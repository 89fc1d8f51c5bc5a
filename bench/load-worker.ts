/**
 * The load generator, run as its own process so that it never shares an event loop (or a CPU
 * quantum it could avoid) with the server it measures. Usage: `load-worker.ts <job.json> <result.json>`.
 * Jobs:
 *   cannon   - autocannon against fixed URLs, or a page's URLs in turn (ceilings, seat map, session page);
 *   sockets  - buyers opening the session page's socket: connect with a token, subscribe, leave;
 *   hold     - N buyers hold 1-4 seats (explicit and best available, mixed) until sold out;
 *   purchase - N buyers: hold -> order (card 4242...) -> CONFIRMED -> tickets -> PDFs;
 *   spread   - N buyers hold and release over many sessions.
 * Every buyer action uses a fresh buyer identity (a minted JWT), as in a real flash sale.
 */
import fs from "fs";
import http from "http";
import { randomUUID } from "crypto";
import autocannon from "autocannon";
import { io, Socket } from "socket.io-client";
import { mintToken } from "./lib/api";
import { summarize, sleep, round } from "./lib/stats";

interface Resp {
  status: number;
  body: any;
  ms: number;
  bytes: number;
  /** Sent on a new connection (connect, and the server's accept, included in `ms`), not a kept-alive one. */
  fresh?: boolean;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4096 });

/**
 * Buyers come from many addresses in a real sale, and some routes limit per address (POST /orders:
 * 60/min). On Linux all of 127.0.0.0/8 is loopback, so each buyer gets its own source address.
 */
export function buyerAddress(n: number): string {
  const m = n % (250 * 250 * 250);
  return `127.${1 + Math.floor(m / 62500)}.${Math.floor(m / 250) % 250}.${1 + (m % 250)}`;
}

/** A hold's headers: the buyer's token and, as the web UI sends with every hold, an Idempotency-Key. */
function holdHeaders(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, "idempotency-key": randomUUID() };
}

function request(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, localAddress?: string, retried = false): Promise<Resp> {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const h: Record<string, string | number> = { ...headers };
  if (payload) {
    h["content-type"] = "application/json";
    h["content-length"] = Buffer.byteLength(payload);
  }
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request({ agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers: h, localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const buf = Buffer.concat(chunks);
        let parsed: unknown = undefined;
        const type = String(res.headers["content-type"] ?? "");
        if (type.includes("json") && buf.length) {
          try {
            parsed = JSON.parse(buf.toString());
          } catch {
            parsed = undefined;
          }
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, ms: performance.now() - t0, bytes: buf.length, fresh: !req.reusedSocket });
      });
      res.on("error", () => resolve({ status: 0, body: { error: { code: "SOCKET_ERROR" } }, ms: performance.now() - t0, bytes: 0, fresh: !req.reusedSocket }));
    });
    req.on("error", (err) => {
      // The server closed an idle keep-alive socket just as we reused it: the request never reached
      // it (Node's documented case), so sending it again on a fresh socket is safe.
      if (!retried && req.reusedSocket && (err as NodeJS.ErrnoException).code === "ECONNRESET") {
        resolve(request(base, method, path, body, headers, localAddress, true));
        return;
      }
      resolve({ status: 0, body: { error: { code: (err as NodeJS.ErrnoException).code ?? "NETWORK" } }, ms: performance.now() - t0, bytes: 0, fresh: !req.reusedSocket });
    });
    req.setTimeout(30_000, () => req.destroy(Object.assign(new Error("no answer in 30 s"), { code: "CLIENT_TIMEOUT_30S" })));
    if (payload) req.write(payload);
    req.end();
  });
}

function codeOf(r: Resp): string {
  return `${r.status} ${r.body?.error?.code ?? ""}`.trim();
}

function bump(map: Record<string, number>, key: string) {
  map[key] = (map[key] ?? 0) + 1;
}

// ---------------------------------------------------------------- cannon

interface CannonJob {
  type: "cannon";
  urls: string[];
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
  /** POST with this JSON body (GET without). */
  body?: unknown;
  /** Each request from a buyer of its own: a bearer token minted with this secret, `buyers` of them in turn. */
  buyers?: { jwtSecret: string; count: number };
  /** GETs each connection makes in turn, as a page opening asks for its parts (instead of the URL's path). */
  page?: Array<{ path: string; headers?: Record<string, string> }>;
}

async function cannon(job: CannonJob) {
  // One autocannon instance per URL (one per gateway node), connections split between them.
  const per = Math.max(1, Math.floor(job.connections / job.urls.length));
  const tokens = job.buyers ? Array.from({ length: job.buyers.count }, () => `Bearer ${mintToken(job.buyers!.jwtSecret)}`) : undefined;
  let turn = 0;
  const nextBuyer = (req: autocannon.Request): autocannon.Request => ({ ...req, headers: { ...req.headers, authorization: tokens![turn++ % tokens!.length] } });
  const request: Partial<autocannon.Options> = {
    ...(job.body === undefined ? { headers: job.headers ?? {} } : { method: "POST", body: JSON.stringify(job.body), headers: { ...job.headers, "content-type": "application/json" } }),
    ...(tokens ? { requests: [{ setupRequest: nextBuyer }] } : {}),
    ...(job.page ? { requests: job.page.map((r) => ({ method: "GET" as const, path: r.path, headers: { ...job.headers, ...r.headers } })) } : {}),
  };
  const results = await Promise.all(
    job.urls.map(
      (url) =>
        new Promise<autocannon.Result>((resolve, reject) => {
          autocannon({ url, ...request, connections: per, duration: job.durationS, pipelining: 1 }, (err, res) => (err ? reject(err) : resolve(res)));
        }),
    ),
  );
  const sum = (f: (r: autocannon.Result) => number) => results.reduce((a, r) => a + f(r), 0);
  const worst = (f: (r: autocannon.Result) => number) => Math.max(...results.map(f));
  return {
    connections: per * job.urls.length,
    durationS: job.durationS,
    requests: sum((r) => r.requests.total),
    reqPerSec: round(sum((r) => r.requests.average)),
    latencyMs: { p50: worst((r) => r.latency.p50), p90: worst((r) => r.latency.p90), p99: worst((r) => r.latency.p99), max: worst((r) => r.latency.max) },
    bytesPerSec: round(sum((r) => r.throughput.average)),
    non2xx: sum((r) => r.non2xx),
    statusCodes: results.reduce<Record<string, number>>((acc, r) => {
      for (const [code, stat] of Object.entries((r as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {})) acc[code] = (acc[code] ?? 0) + stat.count;
      return acc;
    }, {}),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
  };
}

// ---------------------------------------------------------------- hold

interface HoldJob {
  type: "hold";
  baseUrls: string[];
  sessionId: string;
  seatIds: string[];
  buyers: number;
  durationS: number;
  jwtSecret: string;
  /** Sockets watching the session's seat map (socket.io `subscribe`), as buyers on its page do. */
  watchers?: number;
}

/**
 * Sockets subscribed to a session's room, as the web UI's seat map page is: they count the `seats`
 * events and seat changes that reach them.
 */
async function watchSession(baseUrls: string[], sessionId: string, count: number) {
  const sockets: Socket[] = [];
  let events = 0;
  let changes = 0;
  let firstAt = 0;
  let lastAt = 0;
  await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const socket = io(baseUrls[i % baseUrls.length], { transports: ["websocket"], reconnection: false, forceNew: true });
      sockets.push(socket);
      socket.on("seats", (p: { changes?: unknown[] }) => {
        events++;
        changes += p.changes?.length ?? 0;
        lastAt = performance.now();
        firstAt ||= lastAt;
      });
      return new Promise<void>((resolve, reject) => {
        socket.once("connect", () => socket.emit("subscribe", { sessionId }, () => resolve()));
        socket.once("connect_error", reject);
      });
    }),
  );
  return {
    stop() {
      for (const s of sockets) s.close();
      const perWatcher = count ? events / count : 0;
      return { sockets: count, eventsPerWatcher: round(perWatcher), eventsPerWatcherPerSec: round(perWatcher / Math.max((lastAt - firstAt) / 1000, 0.001)), changesPerEvent: events ? round(changes / events, 1) : 0 };
    },
  };
}

/** What the load process believes is still available: every hold it got is removed at once. */
class Availability {
  private free: Uint8Array;
  private pool: number[];
  private index = new Map<string, number>();
  left: number;
  constructor(readonly seatIds: string[]) {
    this.free = new Uint8Array(seatIds.length).fill(1);
    this.pool = seatIds.map((_, i) => i);
    seatIds.forEach((id, i) => this.index.set(id, i));
    this.left = seatIds.length;
  }
  take(ids: string[]) {
    for (const id of ids) {
      const i = this.index.get(id);
      if (i !== undefined && this.free[i]) {
        this.free[i] = 0;
        this.left--;
      }
    }
  }
  /** Up to `k` seats side by side from a random available seat. */
  pick(k: number): string[] {
    while (this.pool.length) {
      const j = Math.floor(Math.random() * this.pool.length);
      const i = this.pool[j];
      if (!this.free[i]) {
        this.pool[j] = this.pool[this.pool.length - 1];
        this.pool.pop();
        continue;
      }
      const out = [this.seatIds[i]];
      for (let n = i + 1; n < this.seatIds.length && out.length < k && this.free[n]; n++) out.push(this.seatIds[n]);
      return out;
    }
    return [];
  }
}

async function hold(job: HoldJob) {
  const watchers = job.watchers ? await watchSession(job.baseUrls, job.sessionId, job.watchers) : undefined;
  const avail = new Availability(job.seatIds);
  const latencies: number[] = [];
  // A buyer's first request opens its connection, and waits in the kernel's queue until the node
  // accepts it (one connection per event-loop turn on Node 20): kept apart from the rest.
  const onNewConnection: number[] = [];
  const onOpenConnection: number[] = [];
  const codes: Record<string, number> = {};
  let holds = 0;
  let seatsHeld = 0;
  let explicit = 0;
  let best = 0;
  let soldOut = false;
  const start = performance.now();
  const deadline = start + job.durationS * 1000;
  let lastHoldAt = start;
  // Client-side invariant: no seat comes back in two acknowledged holds (none expire or are released here).
  const holder = new Map<string, string>();
  const acked: Record<string, string[]> = {};
  const doubleHeld: Array<{ seatId: string; holds: string[] }> = [];

  const buyer = async (b: number) => {
    const base = job.baseUrls[b % job.baseUrls.length];
    let misses = 0;
    while (!soldOut && performance.now() < deadline) {
      const k = 1 + Math.floor(Math.random() * 4);
      const useExplicit = Math.random() < 0.5 && avail.left > 0;
      const seats = useExplicit ? avail.pick(k) : [];
      const body = seats.length ? { seats } : { quantity: Math.min(k, Math.max(1, avail.left)) };
      const token = mintToken(job.jwtSecret);
      const r = await request(base, "POST", `/api/sessions/${job.sessionId}/holds`, body, holdHeaders(token), buyerAddress(b));
      latencies.push(r.ms);
      (r.fresh ? onNewConnection : onOpenConnection).push(r.ms);
      bump(codes, codeOf(r));
      if (r.status === 201) {
        holds++;
        lastHoldAt = performance.now();
        if (seats.length) explicit++;
        else best++;
        const got: string[] = r.body?.seats ?? seats;
        seatsHeld += got.length;
        avail.take(got);
        const holdId = String(r.body?.holdId);
        acked[holdId] = got;
        for (const seatId of got) {
          const other = holder.get(seatId);
          if (other) doubleHeld.push({ seatId, holds: [other, holdId] });
          holder.set(seatId, holdId);
        }
        misses = 0;
      } else {
        const taken: string[] = r.body?.error?.details?.seats ?? [];
        if (taken.length) avail.take(taken);
        // Best available refused with nothing local left: the session is sold out.
        if (!seats.length && avail.left === 0) soldOut = true;
        if (r.status === 0 || r.status >= 500) await sleep(5);
        if (++misses > 200) break;
      }
      if (avail.left === 0 && !seats.length && r.status !== 201) soldOut = true;
    }
  };
  await Promise.all(Array.from({ length: job.buyers }, (_, b) => buyer(b)));
  const elapsedS = (lastHoldAt - start) / 1000;
  if (watchers) await sleep(500); // the last changes on their way to the watchers
  return {
    ...(watchers ? { watchers: watchers.stop() } : {}),
    buyers: job.buyers,
    seats: job.seatIds.length,
    holds,
    explicitHolds: explicit,
    bestAvailableHolds: best,
    seatsHeld,
    soldOut: avail.left === 0,
    elapsedS: round(elapsedS),
    holdsPerSec: round(holds / Math.max(elapsedS, 0.001)),
    requestsPerSec: round(latencies.length / Math.max((performance.now() - start) / 1000, 0.001)),
    latencyMs: summarize(latencies),
    latencyOnNewConnectionMs: summarize(onNewConnection),
    latencyOnOpenConnectionMs: summarize(onOpenConnection),
    codes,
    doubleHeld,
    acked,
  };
}

// ---------------------------------------------------------------- sockets

interface SocketsJob {
  type: "sockets";
  baseUrls: string[];
  sessionId: string;
  /** Connections opened in all, `concurrency` at a time. */
  count: number;
  concurrency: number;
  jwtSecret: string;
}

/**
 * Buyers opening the session page's socket, as the web UI's shell does on load: a websocket with
 * the buyer's token, `subscribe` to the session, then gone (the buyer closes the tab).
 */
async function sockets(job: SocketsJob) {
  const latencies: number[] = [];
  let failed = 0;
  let started = 0;
  const t0 = performance.now();
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const begun = performance.now();
      const socket = io(job.baseUrls[i % job.baseUrls.length], { auth: { token: mintToken(job.jwtSecret) }, transports: ["websocket"], reconnection: false, forceNew: true });
      const done = (ok: boolean) => {
        if (ok) latencies.push(performance.now() - begun);
        else failed++;
        socket.close();
        resolve();
      };
      socket.once("connect", () => socket.timeout(10_000).emit("subscribe", { sessionId: job.sessionId }, (err: Error | null, answer?: { ok?: boolean }) => done(!err && !!answer?.ok)));
      socket.once("connect_error", () => done(false));
    });
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (started < job.count) await one(started++);
    }),
  );
  const elapsedS = (performance.now() - t0) / 1000;
  return { connections: latencies.length, failed, concurrency: job.concurrency, perSec: round(latencies.length / elapsedS), latencyMs: summarize(latencies) };
}

// ---------------------------------------------------------------- purchase

interface PurchaseJob {
  type: "purchase";
  baseUrls: string[];
  sessionId: string;
  seatCount: number;
  buyers: number;
  durationS: number;
  jwtSecret: string;
  /** After the load window, how long to keep following orders already placed. */
  drainS: number;
  /** Purchases started per minute (open loop, at most `buyers` in progress); unset: `buyers` in a closed loop. */
  ratePerMin?: number;
}

/** The web UI's fallback poll while it waits for socket events (public/modules/shop.js). */
const FALLBACK_POLL_MS = 2000;
/**
 * The fallback polls the buyers made, for the report: each one is a request the socket events
 * should have made unnecessary, and it comes when the node is slowest to confirm.
 */
const fallbackPolls = { order: 0, tickets: 0 };

/**
 * A buyer's live view of their orders, as the web UI has it: the socket.io `order` and `ticket`
 * events of API.md "Real-time" (a fresh buyer per purchase, so every event is this purchase's),
 * with a slow poll as the fallback. Polling every few milliseconds instead made the buyers
 * themselves a large part of the server's work.
 */
class Follower {
  status = new Map<string, { status: string; reason: string }>();
  readyTickets = new Set<string>();
  private socket: Socket;
  private waiters: Array<() => void> = [];

  constructor(base: string, token: string) {
    this.socket = io(base, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
    this.socket.on("order", (p: { orderId: string; status: string; reason?: string }) => {
      this.status.set(p.orderId, { status: p.status, reason: p.reason ?? "" });
      this.notify();
    });
    this.socket.on("ticket", (p: { ticketId: string }) => {
      this.readyTickets.add(p.ticketId);
      this.notify();
    });
  }

  /** Resolves once connected (true) or after `ms` (false): events sent before that are missed. */
  connected(ms = 5000): Promise<boolean> {
    if (this.socket.connected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.socket.once("connect", () => {
        clearTimeout(timer);
        resolve(true);
      });
      this.socket.once("connect_error", () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  }

  /** Waits until `done()`: woken by each event, and polling with `fallback` every FALLBACK_POLL_MS. */
  async until(done: () => boolean, fallback: () => Promise<void>, deadline: number): Promise<boolean> {
    let nextPoll = performance.now() + FALLBACK_POLL_MS;
    while (!done()) {
      const now = performance.now();
      if (now >= deadline) return false;
      if (now >= nextPoll) {
        await fallback();
        nextPoll = performance.now() + FALLBACK_POLL_MS;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(nextPoll, deadline) - now);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  close() {
    this.socket.close();
  }

  private notify() {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }
}

const CARD = { method: "card", card: { number: "4242424242424242", expMonth: 12, expYear: 2035, cvc: "123" } };

async function purchase(job: PurchaseJob) {
  const codes: Record<string, number> = {};
  const holdMs: number[] = [];
  const toConfirmed: number[] = [];
  /** [when the order was placed (ms into the run), order -> CONFIRMED ms], for the tail by time. */
  const placedAndConfirmed: Array<[number, number]> = [];
  const toPdf: number[] = [];
  const failed: Record<string, number> = {};
  let orders = 0;
  let confirmedInWindow = 0;
  let confirmed = 0;
  let ticketsIssued = 0;
  let pdfs = 0;
  let stuck = 0;
  let soldOut = false;
  let pdfRoute: "yes" | "no" | "unknown" = "unknown";
  const start = performance.now();
  const windowEnd = start + job.durationS * 1000;
  const hardEnd = windowEnd + job.drainS * 1000;
  const trackers: Promise<void>[] = [];
  let purchaseSeq = 0;
  let lastConfirmedAt = 0;
  const soldTo = new Map<string, string>();
  const doubleSold: Array<{ seatId: string; orders: string[] }> = [];

  /** CONFIRMED -> every ticket's PDF announced (`ticket` events, or the fallback poll) and answering 200. */
  const followPdf = async (base: string, auth: Record<string, string>, ip: string, orderId: string, seats: number, t0: number, live: Follower) => {
    try {
      let ticketIds: string[] = [];
      // Tickets whose PDF this buyer already downloaded (a 200 from the fallback poll): a buyer
      // downloads each file once, so the check below does not ask for those again.
      const downloaded = new Set<string>();
      const lookUp = async () => {
        const r = await request(base, "GET", `/api/orders/${orderId}`, undefined, auth, ip);
        let t = r.body?.tickets;
        // Each purchase is a fresh buyer, so "my tickets" are exactly this order's.
        if (!Array.isArray(t)) t = ((await request(base, "GET", "/api/tickets/my", undefined, auth, ip)).body?.items ?? []).filter((x: any) => x.orderId === orderId);
        if (Array.isArray(t) && t.length >= seats) ticketIds = t.map((x: any) => (typeof x === "string" ? x : x.id));
      };
      // The fallback: find the tickets, then ask for each PDF not announced yet.
      const check = async () => {
        fallbackPolls.tickets++;
        if (!ticketIds.length) await lookUp();
        for (const id of ticketIds) {
          if (live.readyTickets.has(id)) continue;
          if ((await request(base, "GET", `/api/tickets/${id}/pdf`, undefined, auth, ip)).status === 200) {
            live.readyTickets.add(id);
            downloaded.add(id);
          }
        }
      };
      if (!(await live.until(() => live.readyTickets.size >= seats, check, hardEnd))) return;
      ticketsIssued++;
      const at = performance.now();
      // Announced is not proof: each PDF must really answer.
      if (!ticketIds.length) await lookUp();
      for (const id of ticketIds) {
        if (downloaded.has(id)) continue;
        if ((await request(base, "GET", `/api/tickets/${id}/pdf`, undefined, auth, ip)).status !== 200) return;
      }
      pdfRoute = "yes";
      pdfs++;
      toPdf.push(at - t0);
    } finally {
      live.close();
    }
  };

  /** One purchase by a new buyer (`b` picks the node); false once the session is sold out. */
  const purchaseOnce = async (b: number): Promise<boolean> => {
    const base = job.baseUrls[b % job.baseUrls.length];
    const token = mintToken(job.jwtSecret);
    const auth = { authorization: `Bearer ${token}` };
    // A new buyer from a new address (POST /orders is limited per address).
    const ip = buyerAddress(purchaseSeq++);
    const k = 1 + Math.floor(Math.random() * 4);
    // The buyer's page has its socket open before they pay, as the web UI does.
    const live = new Follower(base, token);
    const [h] = await Promise.all([request(base, "POST", `/api/sessions/${job.sessionId}/holds`, { quantity: k }, holdHeaders(token), ip), live.connected()]);
    holdMs.push(h.ms);
    bump(codes, `hold ${codeOf(h)}`);
    if (h.status !== 201) {
      if (h.status === 409 || h.status === 422) {
        // Fewer than k left: try one seat; if even that fails the session is sold out.
        const one = await request(base, "POST", `/api/sessions/${job.sessionId}/holds`, { quantity: 1 }, holdHeaders(token), ip);
        bump(codes, `hold ${codeOf(one)}`);
        if (one.status !== 201) {
          live.close();
          soldOut = true;
          return false;
        }
        h.body = one.body;
      } else {
        live.close();
        await sleep(10);
        return true;
      }
    }
    const holdId = h.body.holdId as string;
    const seatIds = h.body.seats as string[];
    const seats = seatIds.length;
    const t0 = performance.now();
    const o = await request(base, "POST", "/api/orders", { holdId, payment: CARD }, { ...auth, "idempotency-key": randomUUID() }, ip);
    bump(codes, `order ${codeOf(o)}`);
    if (o.status !== 202 && o.status !== 201) {
      live.close();
      return true;
    }
    orders++;
    const orderId = (o.body.orderId ?? o.body.id) as string;
    const settled = () => (live.status.get(orderId)?.status ?? "PENDING") !== "PENDING";
    await live.until(settled, async () => {
      fallbackPolls.order++;
      const r = await request(base, "GET", `/api/orders/${orderId}`, undefined, auth, ip);
      if (r.body?.status) live.status.set(orderId, { status: r.body.status, reason: r.body.reason ?? "" });
    }, hardEnd);
    const { status, reason } = live.status.get(orderId) ?? { status: "PENDING", reason: "" };
    if (status === "CONFIRMED") {
      const now = performance.now();
      confirmed++;
      lastConfirmedAt = now;
      if (now <= windowEnd) confirmedInWindow++;
      toConfirmed.push(now - t0);
      placedAndConfirmed.push([t0 - start, now - t0]);
      for (const seatId of seatIds) {
        const other = soldTo.get(seatId);
        if (other) doubleSold.push({ seatId, orders: [other, orderId] });
        soldTo.set(seatId, orderId);
      }
      trackers.push(followPdf(base, auth, ip, orderId, seats, t0, live));
      return true;
    }
    live.close();
    if (status === "PENDING") stuck++;
    else bump(failed, `${status} ${reason}`.trim());
    return true;
  };
  /** Arrivals at `ratePerMin` (open loop), when set. */
  const arrivals = { offered: 0, started: 0, turnedAway: 0 };
  if (job.ratePerMin) {
    // A new buyer every 60,000 / rate ms whatever the platform's pace, at most `buyers` in
    // progress: an arrival that finds them all busy is counted and not started.
    const gapMs = 60_000 / job.ratePerMin;
    const inProgress = new Set<Promise<unknown>>();
    for (let next = start; next < windowEnd && !soldOut; next += gapMs) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      arrivals.offered++;
      if (inProgress.size >= job.buyers) {
        arrivals.turnedAway++;
        continue;
      }
      const one: Promise<unknown> = purchaseOnce(arrivals.started++).finally(() => inProgress.delete(one));
      inProgress.add(one);
    }
    await Promise.all(inProgress);
  } else {
    // N buyers in a closed loop: each starts its next purchase once CONFIRMED (or refused).
    const buyer = async (b: number) => {
      while (!soldOut && performance.now() < windowEnd) if (!(await purchaseOnce(b))) break;
    };
    await Promise.all(Array.from({ length: job.buyers }, (_, b) => buyer(b)));
  }
  const loadEnd = Math.min(performance.now(), windowEnd);
  await Promise.all(trackers);
  const minutes = (loadEnd - start) / 60_000;
  // Throughput over the whole time the platform was confirming: orders placed in the window that
  // confirm after it still count, over the longer time they took.
  const activeMinutes = (Math.max(lastConfirmedAt, loadEnd) - start) / 60_000;
  return {
    buyers: job.buyers,
    ...(job.ratePerMin ? { offeredPerMinute: job.ratePerMin, arrivals } : {}),
    windowS: round((loadEnd - start) / 1000),
    soldOut,
    orders,
    confirmed,
    confirmedPerMinute: round(confirmed / Math.max(activeMinutes, 1e-6)),
    confirmedInWindowPerMinute: round(confirmedInWindow / Math.max(minutes, 1e-6)),
    activeS: round(activeMinutes * 60),
    ticketsIssued,
    pdfsAvailable: pdfs,
    pdfRoute,
    stuckPending: stuck,
    failed,
    holdLatencyMs: summarize(holdMs),
    orderToConfirmedMs: summarize(toConfirmed),
    orderToConfirmedByPlacedS: byPlacedTime(placedAndConfirmed, job.durationS >= 20 ? 5 : 2),
    orderToPdfMs: summarize(toPdf),
    codes,
    fallbackPolls: { ...fallbackPolls },
    doubleSold,
  };
}

/**
 * Order -> CONFIRMED by when the order was placed, in steps of `stepS` seconds: every buyer
 * places its first order as the run opens (within its first second on a warm node), so the run
 * opens with a burst, and the buyers' next orders come in waves behind it until their timing
 * spreads out.
 */
function byPlacedTime(pairs: Array<[number, number]>, stepS: number) {
  const steps = new Map<number, number[]>();
  for (const [placedMs, ms] of pairs) {
    const from = Math.floor(placedMs / 1000 / stepS) * stepS;
    const step = steps.get(from) ?? [];
    step.push(ms);
    steps.set(from, step);
  }
  const after = pairs.filter(([placedMs]) => placedMs >= stepS * 1000).map(([, ms]) => ms);
  return {
    stepS,
    steps: [...steps].sort(([a], [b]) => a - b).map(([fromS, ms]) => ({ fromS, toS: fromS + stepS, ...summarize(ms) })),
    afterFirstStep: summarize(after),
  };
}

// ---------------------------------------------------------------- spread

interface SpreadJob {
  type: "spread";
  baseUrls: string[];
  sessionIds: string[];
  buyers: number;
  durationS: number;
  jwtSecret: string;
}

async function spread(job: SpreadJob) {
  const codes: Record<string, number> = {};
  const latencies: number[] = [];
  const touched = new Set<string>();
  let holds = 0;
  let releases = 0;
  const kept: Array<{ base: string; holdId: string; auth: Record<string, string>; ip: string }> = [];
  const start = performance.now();
  const deadline = start + job.durationS * 1000;
  const buyer = async (b: number) => {
    const base = job.baseUrls[b % job.baseUrls.length];
    while (performance.now() < deadline) {
      const sessionId = job.sessionIds[Math.floor(Math.random() * job.sessionIds.length)];
      const auth = { authorization: `Bearer ${mintToken(job.jwtSecret)}` };
      const ip = buyerAddress(b);
      const r = await request(base, "POST", `/api/sessions/${sessionId}/holds`, { quantity: 1 + Math.floor(Math.random() * 4) }, auth, ip);
      latencies.push(r.ms);
      bump(codes, `hold ${codeOf(r)}`);
      if (r.status === 201) {
        holds++;
        touched.add(sessionId);
        // Half the buyers change their mind, so that sessions do not sell out during the run.
        if (Math.random() < 0.5) {
          const d = await request(base, "DELETE", `/api/holds/${r.body.holdId}`, undefined, auth, ip);
          bump(codes, `release ${codeOf(d)}`);
          if (d.status === 204) releases++;
        } else kept.push({ base, holdId: r.body.holdId, auth, ip });
      } else if (r.status === 0 || r.status >= 500) await sleep(5);
    }
  };
  await Promise.all(Array.from({ length: job.buyers }, (_, b) => buyer(b)));
  const elapsedS = (performance.now() - start) / 1000;
  // Then everyone leaves: with no live holds left the actors may passivate once idle.
  let releasedAtEnd = 0;
  const leave = async () => {
    for (let h = kept.pop(); h; h = kept.pop()) {
      const d = await request(h.base, "DELETE", `/api/holds/${h.holdId}`, undefined, h.auth, h.ip);
      if (d.status === 204) releasedAtEnd++;
    }
  };
  await Promise.all(Array.from({ length: 32 }, leave));
  return {
    buyers: job.buyers,
    releasedAtEnd,
    sessions: job.sessionIds.length,
    sessionsTouched: touched.size,
    holds,
    releases,
    holdsPerSec: round(holds / elapsedS),
    latencyMs: summarize(latencies),
    codes,
  };
}

async function main() {
  const [jobFile, resultFile] = process.argv.slice(2);
  const job = JSON.parse(fs.readFileSync(jobFile, "utf8"));
  const run = { cannon, hold, purchase, spread, sockets }[job.type as "cannon"] as (j: unknown) => Promise<unknown>;
  if (!run) throw new Error(`unknown job type ${job.type}`);
  const cpu0 = process.cpuUsage();
  const result = (await run(job)) as Record<string, unknown>;
  const cpu = process.cpuUsage(cpu0);
  // The load generator's own CPU (all its threads): it shares the machine with the server.
  fs.writeFileSync(resultFile, JSON.stringify({ ...result, loadCpuS: Math.round((cpu.user + cpu.system) / 1e3) / 1e3 }));
  agent.destroy();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
