/**
 * `npm run bench [-- --quick] [--cluster] [--pg] [--seats N] [--buyers N] [--duration S] [--scenario a,b] [--warmup S] [--profile]
 *                 [--purchase-buyers N] [--purchase-rate ORDERS_PER_MIN] [--watchers N]`
 *
 * Starts TicketFlash itself (child processes), creates its own venues, events and sessions through
 * the REST API as an admin, drives load from a separate process (bench/load-worker.ts), checks the
 * database after every scenario, and writes bench/results/<date>.json and .md (and latest.*).
 * Every rate is read against ceilings measured in the same run, because these machines are noisy.
 * Any invariant violation prints FAIL and exits 1; a scenario that errored exits 2.
 */
import crypto from "crypto";
import fs from "fs";
import os from "os";
import path from "path";
import { Api, adminToken, createFixture, Fixture, mintToken, SetupError } from "./lib/api";
import { checkDatabase, CorrectnessReport, AckedHolds } from "./lib/correctness";
import { BenchPlatform, NATS_URL } from "./lib/platform";
import { Child, ROOT } from "./lib/proc";
import { mb, round, sleep } from "./lib/stats";
import { summarizeOrderTiming } from "./lib/order-timing";
import { byPackage, hotSpots } from "./lib/profile";
import { flameGraphSvg, readProfiles } from "./lib/flamegraph";
import { renderMarkdown } from "./lib/report";
import { layoutSeats, VenueLayout } from "../src/domain/layout";
import { VERIFIED_TOKENS_MAX } from "../src/platform/auth";

// ------------------------------------------------------------------ options

export interface Options {
  quick: boolean;
  cluster: boolean;
  pg: boolean;
  seats: number;
  buyers: number;
  durationS: number;
  scenarios: string[];
  profile: boolean;
  manySessions: number;
  manySessionSeats: number;
  memorySessions: number;
  memorySeats: number;
  seatMapConnections: number;
  purchaseBuyers: number;
  /** Full purchase: purchases started per minute (open loop, at most purchaseBuyers in progress); null: purchaseBuyers in a closed loop. */
  purchaseRate: number | null;
  /** Seconds of the warm-up sale before each speed scenario (0: measure a just-started node). */
  warmupS: number;
  warmupBuyers: number;
  /** Hot hold: sockets watching the session's seat map while buyers hold (0: none). */
  watchers: number;
}

export const ALL_SCENARIOS = ["ceilings", "hotHold", "fullPurchase", "manySessions", "seatMap", "memory"];

function parseArgs(argv: string[]): Options {
  const flag = (name: string) => argv.includes(`--${name}`);
  const value = (name: string): string | undefined => {
    const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (i < 0) return undefined;
    return argv[i].includes("=") ? argv[i].split("=")[1] : argv[i + 1];
  };
  const num = (name: string, fallback: number) => {
    const v = value(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} needs a positive number, got ${v}`);
    return n;
  };
  const seconds = (name: string, fallback: number) => {
    const v = value(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a number of seconds (0 for none), got ${v}`);
    return n;
  };
  const quick = flag("quick");
  const scenarioArg = value("scenario");
  const scenarios = scenarioArg ? scenarioArg.split(",").map((s) => s.trim()) : ALL_SCENARIOS;
  const unknown = scenarios.filter((s) => !ALL_SCENARIOS.includes(s));
  if (unknown.length) throw new Error(`Unknown scenario(s) ${unknown.join(", ")}; known: ${ALL_SCENARIOS.join(", ")}`);
  return {
    quick,
    cluster: flag("cluster"),
    pg: flag("pg"),
    seats: num("seats", 20_000),
    buyers: num("buyers", 256),
    durationS: num("duration", quick ? 6 : 30),
    scenarios,
    profile: flag("profile"),
    manySessions: num("sessions", quick ? 100 : 1000),
    manySessionSeats: 500,
    memorySessions: quick ? 2 : 4,
    memorySeats: 100_000,
    seatMapConnections: num("seatmap-connections", 64),
    // Each purchase is 3+ requests plus polling: the quick run offers less, so that it measures the saga rather than a queue.
    purchaseBuyers: num("purchase-buyers", quick ? Math.min(32, num("buyers", 256)) : num("buyers", 256)),
    // A fixed offered rate measures the confirmation's latency at a load that does not depend on
    // the platform's own pace (a closed loop's latency is buyers / rate, whatever the platform).
    purchaseRate: value("purchase-rate") === undefined ? null : num("purchase-rate", 0),
    // --quick keeps to two minutes on just-started nodes; `--quick --warmup 2` warms its hot hold and purchase.
    warmupS: seconds("warmup", quick ? 0 : 8),
    warmupBuyers: quick ? 32 : 64,
    watchers: num("watchers", 0),
  };
}

// ------------------------------------------------------------------ results

export interface Target {
  name: string;
  value: number | null;
  target: string;
  met: boolean | null;
  note?: string;
}

export interface Results {
  startedAt: string;
  finishedAt?: string;
  machine: { cpus: number; cpuModel: string; node: string; totalMemMb: number; loadAvgAtStart: number[]; nodeFlags?: string };
  options: Options;
  mode: string;
  violations: number;
  errors: number;
  platformStartupS?: number;
  targets: Target[];
  scenarios: Record<string, any>;
}

const opts = parseArgs(process.argv.slice(2));
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-bench-"));
const results: Results = {
  startedAt: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "", node: process.version, totalMemMb: Math.round(os.totalmem() / 1048576), loadAvgAtStart: os.loadavg().map((n) => round(n)), ...(process.env.TF_BENCH_NODE_FLAGS ? { nodeFlags: process.env.TF_BENCH_NODE_FLAGS } : {}) },
  options: opts,
  mode: opts.cluster ? "cluster: 3 nodes, NATS + PostgreSQL + Redis" : opts.pg ? "embedded node on PostgreSQL (no transporter)" : "embedded: 1 node, PGlite",
  violations: 0,
  errors: 0,
  targets: [],
  scenarios: {},
};
/** Where the reports go, and this run's name in them (its start time). */
const RESULTS_DIR = path.join(__dirname, "results");
const STAMP = results.startedAt.replace(/[:.]/g, "-");

function log(msg: string) {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
/** The full purchase's load, for the targets' notes: N buyers in a closed loop, or the offered rate. */
const purchaseLoad = (fp: any) =>
  fp.offeredPerMinute
    ? `${fmtInt(fp.offeredPerMinute)} purchases a minute offered, at most ${fp.buyers} in progress (${fmtInt(fp.arrivals?.turnedAway ?? 0)} of ${fmtInt(fp.arrivals?.offered ?? 0)} arrivals found them all busy)`
    : `${fp.buyers} buyers`;

function target(name: string, value: number | null | undefined, op: "<" | ">=" | "=", limit: number, unit = "", note?: string) {
  const v = value === undefined || value === null || Number.isNaN(value) ? null : round(value);
  const met = v === null ? null : op === "<" ? v < limit : op === ">=" ? v >= limit : v === limit;
  results.targets.push({ name, value: v, target: `${op} ${limit}${unit}`, met, ...(note ? { note } : {}) });
}

// ------------------------------------------------------------------ helpers

/** CPU seconds (user + system) a process has used so far, from /proc; 0 where there is no /proc. */
function cpuSeconds(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The machine's CPU time so far by kind, in ticks (/proc/stat's first line); undefined where there is no /proc. */
function machineTicks(): { idle: number; steal: number; total: number } | undefined {
  try {
    const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    return { idle: f[3] + f[4], steal: f[7] ?? 0, total: f.slice(0, 8).reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

/**
 * Runs a load and accounts the server processes' CPU during it. CPU per operation is the figure
 * that survives a noisy neighbour: a starved server is slow, but not more expensive per request.
 */
async function loadWithCpu<T extends Record<string, any>>(
  pids: number[],
  job: Record<string, unknown>,
  ops: (r: T) => number,
): Promise<
  T & {
    serverCpu: { cpuS: number; wallS: number; utilisation: number; cpuMsPerOp: number | null; machine?: { idle: number; stolen: number } };
    loadCpu?: { cpuS: number; cpuMsPerOp: number | null; machineCeilingPerS: number | null; freeServerCeilingPerS: number | null };
  }
> {
  const profiled = opts.profile && shared ? pids.filter((p) => nodePids(shared!).includes(p)) : [];
  profiled.forEach((p) => process.kill(p, "SIGWINCH"));
  const c0 = pids.reduce((a, p) => a + cpuSeconds(p), 0);
  const m0 = machineTicks();
  const t0 = Date.now();
  const r = await runLoad<T>(job).finally(() => profiled.forEach((p) => process.kill(p, "SIGWINCH")));
  const cpuS = pids.reduce((a, p) => a + cpuSeconds(p), 0) - c0;
  const wallS = (Date.now() - t0) / 1000;
  // On a shared virtual machine the hypervisor can take CPU time from it (steal): a run where it
  // took much, or where the machine sat idle while the node was slow, is read in that light.
  const m1 = machineTicks();
  const machine = m0 && m1 && m1.total > m0.total ? { idle: round((m1.idle - m0.idle) / (m1.total - m0.total), 3), stolen: round((m1.steal - m0.steal) / (m1.total - m0.total), 3) } : undefined;
  if (profiled.length) await sleep(1500); // the nodes write their profiles
  const n = ops(r);
  const serverCpu = { cpuS: round(cpuS), wallS: round(wallS, 1), utilisation: round(cpuS / wallS, 2), cpuMsPerOp: n ? round((cpuS * 1000) / n, 3) : null, ...(machine ? { machine } : {}) };
  // What the machine could do at most with both on it: its cores over the CPU an operation costs
  // the server and the load generator together (no waiting, no other process); and with a server
  // that cost nothing, its cores over the generator's CPU alone.
  const loadCpuS = typeof r.loadCpuS === "number" ? (r.loadCpuS as number) : null;
  const cores = os.cpus().length;
  const loadCpu =
    loadCpuS === null
      ? undefined
      : {
          cpuS: round(loadCpuS),
          cpuMsPerOp: n ? round((loadCpuS * 1000) / n, 3) : null,
          machineCeilingPerS: n ? round((cores * n) / (cpuS + loadCpuS), 1) : null,
          freeServerCeilingPerS: n && loadCpuS ? round((cores * n) / loadCpuS, 1) : null,
        };
  return { ...r, serverCpu, ...(loadCpu ? { loadCpu } : {}) };
}

let loadSeq = 0;
async function runLoad<T = any>(job: Record<string, unknown>): Promise<T> {
  const n = ++loadSeq;
  const jobFile = path.join(tmpDir, `job-${n}.json`);
  const resultFile = path.join(tmpDir, `result-${n}.json`);
  fs.writeFileSync(jobFile, JSON.stringify(job));
  const child = new Child({ name: `load-${n}-${job.type}`, script: path.join(__dirname, "load-worker.ts"), args: [jobFile, resultFile], logDir: tmpDir });
  const code = await child.exited;
  if (code !== 0 || !fs.existsSync(resultFile)) throw new Error(`load worker failed (${code}):\n${child.lastLines()}`);
  return JSON.parse(fs.readFileSync(resultFile, "utf8")) as T;
}

/** Starts a ceiling server script and returns its URL plus a stop function. */
async function startCeiling(name: string, script: string, env: Record<string, string> = {}): Promise<{ child: Child; port?: number }> {
  const child = new Child({ name, script: path.join(__dirname, script), env, logDir: tmpDir });
  const line = await child.waitForJsonLine<{ port?: number }>(60_000);
  return { child, port: line.port };
}

/** The REST routes the running platform declares ("POST /api/sessions/{id}/holds", ...). */
async function routes(baseUrl: string): Promise<string[]> {
  const res = await fetch(`${baseUrl}/api/openapi.json`);
  if (res.status !== 200) return [];
  const doc = (await res.json()) as { paths?: Record<string, Record<string, unknown>> };
  const out: string[] = [];
  for (const [p, ops] of Object.entries(doc.paths ?? {})) for (const m of Object.keys(ops)) out.push(`${m.toUpperCase()} ${p.replace(/\{[^}]+\}|:[A-Za-z]+/g, ":id")}`);
  return out;
}

class Skip extends Error {}

function need(have: string[], ...wanted: string[]) {
  const missing = wanted.filter((w) => !have.includes(w));
  if (missing.length) throw new Skip(`backend missing: ${missing.join(", ")}`);
}

/** Per node, right after a full GC: RSS, V8 heap used, and ArrayBuffers (typed arrays live there). */
async function processMemory(platform: BenchPlatform) {
  const out: Array<{ node: string; rssMb?: number; heapUsedMb?: number; arrayBuffersMb?: number }> = [];
  for (let i = 0; i < platform.nodes.length; i++) {
    const m = await platform.memoryAfterGc(i).catch(() => undefined);
    out.push({ node: platform.nodes[i].name, rssMb: m && mb(m.rss), heapUsedMb: m && mb(m.heapUsed), arrayBuffersMb: m && mb(m.arrayBuffers) });
  }
  return out;
}

/** The nodes' memory added up; a figure is missing if any node's is. */
function allNodes(nodes: Awaited<ReturnType<typeof processMemory>>) {
  const total = (key: "rssMb" | "heapUsedMb" | "arrayBuffersMb") => (nodes.every((m) => m[key] !== undefined) ? round(nodes.reduce((sum, m) => sum + m[key]!, 0), 1) : undefined);
  return { rssMb: total("rssMb"), heapUsedMb: total("heapUsedMb"), arrayBuffersMb: total("arrayBuffersMb") };
}

/** Seat ids of a session in canonical order, from its venue's layout (the seat map's index). */
async function seatIdsOf(api: Api, fixture: Fixture): Promise<string[]> {
  const venue = await api.must("GET", `/api/venues/${fixture.venueId}`);
  return layoutSeats(venue.layout as VenueLayout).map((s) => s.id);
}

interface PlatformRun {
  platform: BenchPlatform;
  api: Api;
  adminVia: string;
  routes: string[];
}

/**
 * One platform serves every scenario of the run. After each scenario its database is checked:
 * live over pg when it is a PostgreSQL server; for PGlite (in the node's process, owned by the
 * node) the node is stopped, the check reads its data directory, and the node starts again on
 * the same data, so each scenario also begins with actors rebuilt from the database.
 */
let shared: BenchPlatform | undefined;
let sharedStartupS = 0;
const profilesSeen = new Set<string>();
const PLATFORM_SCENARIOS = ["hotHold", "fullPurchase", "manySessions", "seatMap", "memory"];

async function platformFor(name: string): Promise<PlatformRun> {
  if (!shared) {
    log(`${name}: starting platform (${results.mode})`);
    const t0 = Date.now();
    shared = await BenchPlatform.start({ name: "bench", cluster: opts.cluster, pg: opts.pg, tmpDir, env: { SEATS_IDLE_SECONDS: String(idleSeconds()) }, cpuProfDir: opts.profile ? path.join(tmpDir, "profiles") : undefined });
    sharedStartupS = round((Date.now() - t0) / 1000, 1);
    results.platformStartupS = sharedStartupS;
  }
  const platform = shared;
  const admin = await adminToken(platform.baseUrls[0], platform.adminEmail, platform.adminPassword, platform.jwtSecret);
  return { platform, api: new Api(platform.baseUrls[0], admin.token), adminVia: admin.via, routes: await routes(platform.baseUrls[0]) };
}

/** Seconds without calls after which an actor with no live holds passivates, in the bench's nodes (5 minutes in production). */
function idleSeconds(): number {
  return opts.quick ? 4 : 10;
}

function nodePids(platform: BenchPlatform): number[] {
  return platform.nodes.map((n) => n.child.pid);
}

function moreAfter(name: string): boolean {
  const i = PLATFORM_SCENARIOS.indexOf(name);
  return PLATFORM_SCENARIOS.slice(i + 1).some((s) => opts.scenarios.includes(s));
}

type ScenarioOut = { result: Record<string, any>; acked?: AckedHolds; clientViolations?: Array<{ check: string; sample: unknown[] }> };

async function withPlatform(name: string, fn: (run: PlatformRun) => Promise<ScenarioOut>) {
  const run = await platformFor(name);
  const { platform } = run;
  const warmup = WARMED_SCENARIOS().includes(name) ? await warmUp(name, run) : undefined;
  const out = await fn(run);
  if (warmup) out.result.warmup = warmup;
  const memory = await processMemory(platform);
  let correctness: CorrectnessReport;
  if (platform.live) {
    correctness = await platform.withDatabase((q) => checkDatabase(q, out.acked));
  } else {
    log(`${name}: stopping the node to read its PGlite database`);
    await platform.stopNodes();
    correctness = await platform.withDatabase((q) => checkDatabase(q, out.acked));
    if (moreAfter(name)) {
      const t0 = Date.now();
      await platform.restart();
      log(`${name}: node restarted on the same data in ${round((Date.now() - t0) / 1000, 1)} s`);
    }
  }
  const violations = [...correctness.violations, ...(out.clientViolations ?? []).filter((v) => v.sample.length).map((v) => ({ check: v.check, count: v.sample.length, sample: v.sample.slice(0, 5) }))];
  const nViolations = violations.reduce((a, v) => a + v.count, 0);
  results.violations += nViolations;
  if (nViolations) log(`!!! ${name}: ${nViolations} INVARIANT VIOLATION(S): ${violations.map((v) => v.check).join("; ")}`);
  else log(`${name}: correctness OK (${correctness.checksRun.length} checks${correctness.checksNotRun.length ? `, ${correctness.checksNotRun.length} not run` : ""})`);
  if (opts.profile && !platform.live) out.result.profile = newProfiles(12, name);
  return {
    ...out.result,
    nodeMemory: memory,
    correctness: { violations: nViolations, details: violations, checksRun: correctness.checksRun, checksNotRun: correctness.checksNotRun, counts: correctness.counts, warnings: correctness.warnings },
  };
}

/** The scenarios that measure speed begin with a warm-up sale (warmUp); with `--quick --warmup S`, the two whose targets are speeds under load. */
const WARMED_SCENARIOS = () => (opts.quick ? ["hotHold", "fullPurchase"] : ["hotHold", "fullPurchase", "manySessions", "seatMap"]);
/** The warm-up sales' session, created once: it stays in the database across node restarts. */
let warmFixture: Fixture | undefined;
/** Enough for every warm-up of a run (a quick one sells ~350 seats per warm-up, a full one ~1,200). */
const warmupSeats = () => (opts.quick ? 2_000 : 10_000);

/**
 * A sale of its own, on a separate session, before a speed scenario measures anything. A node's
 * first seconds are not its speed: V8 compiles the hot paths (HTTP, tokens, Moleculer, the seat
 * actor, the saga, tickets, PDFs) while they first run, and on the node just (re)started for each
 * scenario that compiling took a fifth of the server's CPU in a 20 s sale (bench/fixes.md, ninth
 * round). A node in production has served sales before the next one opens. The warm-up buys
 * seats (hold, order, payment, tickets, PDFs) for `--warmup` seconds, then waits until the
 * outbox is empty, so that none of its work is left for the scenario. `--warmup 0` measures a
 * just-started node instead. The correctness checks after the scenario cover its orders too.
 */
async function warmUp(name: string, { platform, api }: PlatformRun) {
  if (!opts.warmupS) return { seconds: 0, note: "none (--warmup 0): a just-started node" };
  try {
    warmFixture ??= await createFixture(api, warmupSeats(), 1);
    const w = await runLoad<any>({
      type: "purchase",
      baseUrls: platform.baseUrls,
      sessionId: warmFixture.sessionIds[0],
      seatCount: warmFixture.seatCount,
      buyers: opts.warmupBuyers,
      durationS: opts.warmupS,
      drainS: 30,
      jwtSecret: platform.jwtSecret,
    });
    const loadEnd = Date.now();
    const drained = await outboxEmpty(api);
    const emptyAfterS = drained.ok && drained.pending === 0 ? round((Date.now() - loadEnd) / 1000, 1) : null;
    const out = { seconds: opts.warmupS, buyers: opts.warmupBuyers, sessionId: warmFixture.sessionIds[0], confirmed: w.confirmed, outboxEmptyAfterS: emptyAfterS };
    log(`${name}: warm-up sale on its own session: ${w.confirmed} orders confirmed in ${opts.warmupS} s at ${opts.warmupBuyers} buyers, outbox ${emptyAfterS === null ? "not empty" : `empty ${emptyAfterS} s after`}`);
    return out;
  } catch (err) {
    log(`${name}: warm-up failed (${(err as Error).message}); measuring a cold node`);
    return { seconds: 0, error: (err as Error).message };
  }
}

/**
 * Hot spots of the profiles written since the last call (a directory per node lifetime), and
 * their flame graph: `bench/results/<run>-<scenario>.svg` (the report links it).
 */
function newProfiles(top: number, scenario: string) {
  const dir = path.join(tmpDir, "profiles");
  if (!fs.existsSync(dir)) return [];
  const fresh = fs.readdirSync(dir).filter((d) => !profilesSeen.has(d));
  fresh.forEach((d) => profilesSeen.add(d));
  const root = readProfiles(fresh.map((d) => path.join(dir, d)));
  if (!root.totalUs) return [];
  const all = hotSpots(root, 100_000);
  const flameGraph = `${scenario}.svg`;
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, `${STAMP}-${flameGraph}`), flameGraphSvg(root, {
    title: `${scenario}: main thread of ${fresh.join(", ")} (${results.mode})`,
    subtitle: `npm run bench -- ${process.argv.slice(2).join(" ")}, ${results.startedAt}.`,
  }));
  return { functions: all.slice(0, top), packages: byPackage(all).slice(0, 10), flameGraph };
}

// ------------------------------------------------------------------ scenarios

const ceilingS = () => (opts.quick ? 3 : 10);

/**
 * The no-op route servers stay up for the whole run (idle, they cost nothing): every platform
 * scenario measures the no-op route again right before its own load, and its ratio uses that
 * adjacent figure, because on a shared machine the background load changes from minute to minute.
 */
const ceilingServers: { local?: number; nats?: number; children: Child[]; localPids: number[]; natsPids: number[]; jwtSecret: string } = {
  children: [],
  localPids: [],
  natsPids: [],
  jwtSecret: crypto.randomBytes(32).toString("base64url"),
};

async function noopServers(): Promise<{ local: number; nats?: number }> {
  if (!ceilingServers.local) {
    const web = await startCeiling("ceiling-web", "ceiling-web.ts", { JWT_SECRET: ceilingServers.jwtSecret });
    ceilingServers.children.push(web.child);
    ceilingServers.local = web.port;
    ceilingServers.localPids = [web.child.pid];
  }
  if (opts.cluster && !ceilingServers.nats) {
    const ns = `tf-bench-ceiling-${process.pid}`;
    const svc = await startCeiling("ceiling-noop-service", "ceiling-web.ts", { ROLE: "service", TRANSPORTER: NATS_URL, NAMESPACE: ns });
    const gw = await startCeiling("ceiling-web-nats", "ceiling-web.ts", { ROLE: "gateway", TRANSPORTER: NATS_URL, NAMESPACE: ns });
    ceilingServers.children.push(gw.child, svc.child);
    ceilingServers.nats = gw.port;
    ceilingServers.natsPids = [gw.child.pid, svc.child.pid];
  }
  return { local: ceilingServers.local!, nats: ceilingServers.nats };
}

async function ceilings() {
  const out: Record<string, any> = { connections: opts.buyers, durationS: ceilingS() };
  const bare = await startCeiling("ceiling-http", "ceiling-http.ts");
  try {
    log("ceilings: bare node http");
    out.bareHttp = await loadWithCpu([bare.child.pid], { type: "cannon", urls: [`http://127.0.0.1:${bare.port}/`], connections: opts.buyers, durationS: ceilingS() }, (r: any) => r.requests);
  } finally {
    await bare.child.stop();
  }
  const ports = await noopServers();
  log("ceilings: moleculer-web -> no-op action (local)");
  out.noopRoute = await loadWithCpu(ceilingServers.localPids, { type: "cannon", urls: [`http://127.0.0.1:${ports.local}/noop`], connections: opts.buyers, durationS: ceilingS() }, (r: any) => r.requests);
  if (ports.nats) {
    log("ceilings: moleculer-web -> no-op action across NATS");
    out.noopRouteNats = await loadWithCpu(ceilingServers.natsPids, { type: "cannon", urls: [`http://127.0.0.1:${ports.nats}/noop`], connections: opts.buyers, durationS: ceilingS() }, (r: any) => r.requests);
  }
  log("ceilings: moleculer-web -> hold-shaped no-op (token, JSON body, one action)");
  out.holdShapedRoute = await holdShapedLoad(ceilingS());
  out.noopToBareRatio = round(out.noopRoute.reqPerSec / out.bareHttp.reqPerSec, 3);
  out.holdShapedToNoopRatio = round(out.holdShapedRoute.reqPerSec / out.noopRoute.reqPerSec, 3);
  return out;
}

/**
 * The hold-shaped no-op route (bench/ceiling-web.ts): a bearer token checked on every request as
 * the platform checks it, a JSON body, the one action the route calls (seats.hold's params), a
 * constant answer.
 * What a hold costs through this design with no seat behind it, so the hot hold's distance from
 * the no-op route splits into the design's share and the seat actor's. Local only.
 * Each request comes from a buyer of its own, as in the hot hold: more buyers in turn than a node
 * keeps verified tokens (src/platform/auth.ts), so every token is verified in full.
 */
const HOLD_SHAPED_BUYERS = VERIFIED_TOKENS_MAX + 10_000;
async function holdShapedLoad(durationS: number) {
  const ports = await noopServers();
  const r = await loadWithCpu(
    ceilingServers.localPids,
    { type: "cannon", urls: [`http://127.0.0.1:${ports.local}/auth/holds/${crypto.randomUUID()}`], connections: opts.buyers, durationS, buyers: { jwtSecret: ceilingServers.jwtSecret, count: HOLD_SHAPED_BUYERS }, body: { quantity: 2 } },
    (x: any) => x.requests,
  );
  if (r.non2xx || r.errors) log(`!! hold-shaped route: ${r.non2xx} non-2xx answers, ${r.errors} errors (check ${tmpDir}/ceiling-web.log)`);
  return r;
}

/** The no-op route rate measured just now (across NATS in cluster mode), for the next scenario's ratio. */
async function adjacentNoop(): Promise<{ reqPerSec: number; latencyMs: unknown; cpuMsPerOp: number | null; via: string } | undefined> {
  if (!opts.scenarios.includes("ceilings")) return undefined;
  const ports = await noopServers();
  const port = ports.nats ?? ports.local;
  const pids = ports.nats ? ceilingServers.natsPids : ceilingServers.localPids;
  const r = await loadWithCpu(pids, { type: "cannon", urls: [`http://127.0.0.1:${port}/noop`], connections: opts.buyers, durationS: opts.quick ? 2 : 5 }, (x: any) => x.requests);
  return { reqPerSec: r.reqPerSec, latencyMs: r.latencyMs, cpuMsPerOp: r.serverCpu.cpuMsPerOp, via: ports.nats ? "across NATS" : "local" };
}

async function hotHold() {
  return withPlatform("hotHold", async ({ platform, api, adminVia, routes: have }) => {
    need(have, "POST /api/venues", "POST /api/events", "POST /api/sessions", "POST /api/sessions/:id/holds");
    log(`hotHold: creating a session of ${opts.seats} seats`);
    const fixture = await createFixture(api, opts.seats, 1);
    const seatIds = await seatIdsOf(api, fixture);
    const noop = await adjacentNoop();
    // --quick keeps under two minutes with the ceilings' figure alone.
    const holdShaped = opts.scenarios.includes("ceilings") && !opts.quick ? await holdShapedLoad(5) : undefined;
    log(`hotHold: ${opts.buyers} buyers holding 1-4 seats until sold out`);
    const cap = Math.max(opts.durationS * 4, opts.quick ? 25 : 120);
    const r = await loadWithCpu(nodePids(platform), { type: "hold", baseUrls: platform.baseUrls, sessionId: fixture.sessionIds[0], seatIds, buyers: opts.buyers, durationS: cap, jwtSecret: platform.jwtSecret, watchers: opts.watchers }, (x: any) => x.holds);
    const acked = r.acked as AckedHolds;
    delete r.acked;
    if (r.soldOut) r.afterSoldOut = await afterSoldOut(platform, fixture.sessionIds[0]);
    r.adjacentNoopRoute = noop;
    r.ratioToNoopRoute = noop ? round(r.holdsPerSec / noop.reqPerSec, 3) : null;
    r.cpuRatioToNoopRoute = noop?.cpuMsPerOp && r.serverCpu.cpuMsPerOp ? round(noop.cpuMsPerOp / r.serverCpu.cpuMsPerOp, 3) : null;
    if (holdShaped) {
      r.adjacentHoldShapedRoute = { reqPerSec: holdShaped.reqPerSec, latencyMs: holdShaped.latencyMs, cpuMsPerOp: holdShaped.serverCpu.cpuMsPerOp, non2xx: holdShaped.non2xx + holdShaped.errors };
      r.ratioToHoldShapedRoute = round(r.holdsPerSec / holdShaped.reqPerSec, 3);
      r.cpuRatioToHoldShapedRoute = holdShaped.serverCpu.cpuMsPerOp && r.serverCpu.cpuMsPerOp ? round(holdShaped.serverCpu.cpuMsPerOp / r.serverCpu.cpuMsPerOp, 3) : null;
    }
    r.setup = { adminVia, layoutVia: fixture.layoutVia, seats: seatIds.length };
    return { result: r, acked, clientViolations: [{ check: "no seat in two acknowledged holds (client view)", sample: r.doubleHeld }] };
  });
}

/**
 * The sold-out storm: buyers keep asking for seats once none are left, as they do when a sale sells
 * out in minutes. Each request is a best-available hold for 2 that the seat actor refuses (409),
 * from 4,096 buyers in turn (each its own token), so that no per-buyer shortcut flatters it: what
 * a refusal costs decides how long a sold-out node stays responsive.
 */
async function afterSoldOut(platform: BenchPlatform, sessionId: string) {
  log("hotHold: buyers still asking after the sell-out");
  const r = await loadWithCpu(
    nodePids(platform),
    {
      type: "cannon",
      urls: platform.baseUrls.map((b) => `${b}/api/sessions/${sessionId}/holds`),
      connections: opts.buyers,
      durationS: opts.quick ? 2 : 5,
      buyers: { jwtSecret: platform.jwtSecret, count: 4096 },
      body: { quantity: 2 },
    },
    (x: any) => x.requests,
  );
  return { reqPerSec: r.reqPerSec, latencyMs: r.latencyMs, statusCodes: r.statusCodes, errors: r.errors, serverCpu: r.serverCpu };
}

async function fullPurchase() {
  return withPlatform("fullPurchase", async ({ platform, api, adminVia, routes: have }) => {
    need(have, "POST /api/sessions", "POST /api/sessions/:id/holds", "POST /api/orders", "GET /api/orders/:id");
    const fixture = await createFixture(api, opts.seats, 1);
    const offer = opts.purchaseRate ? `a new buyer ${fmtInt(opts.purchaseRate)} times a minute, at most ${opts.purchaseBuyers} in progress` : `${opts.purchaseBuyers} buyers`;
    log(`fullPurchase: ${offer}, hold -> order -> CONFIRMED -> tickets -> PDF, ${opts.durationS}s`);
    const pids = nodePids(platform);
    const c0 = pids.reduce((a, p) => a + cpuSeconds(p), 0);
    const t0 = Date.now();
    const r: any = await loadWithCpu(pids, {
      type: "purchase",
      baseUrls: platform.baseUrls,
      sessionId: fixture.sessionIds[0],
      seatCount: fixture.seatCount,
      buyers: opts.purchaseBuyers,
      ...(opts.purchaseRate ? { ratePerMin: opts.purchaseRate } : {}),
      durationS: opts.durationS,
      drainS: opts.quick ? 45 : 90,
      jwtSecret: platform.jwtSecret,
    }, (x: any) => x.confirmed);
    r.drained = await pipelineDrained(api, pids, c0, t0, r.confirmed);
    if (!opts.purchaseRate && !opts.quick && r.confirmedPerMinute > 0) r.belowCapacity = await purchaseBelowCapacity(api, platform, r.confirmedPerMinute, r.drained);
    // The nodes write their order timing every second: wait for the write after the last order.
    await sleep(1100);
    r.orderTiming = summarizeOrderTiming(platform.orderTimingFiles(), fixture.sessionIds[0]);
    r.ratioToPretix = round(r.confirmedPerMinute / 500, 2);
    r.ticketsRoute = have.includes("GET /api/tickets/:id/pdf");
    r.setup = { adminVia, layoutVia: fixture.layoutVia, seats: fixture.seatCount };
    return {
      result: r,
      clientViolations: [{ check: "no seat in two confirmed orders (client view)", sample: [...r.doubleSold, ...(r.belowCapacity?.doubleSold ?? [])] }],
    };
  });
}

/** The share of the closed loop's rate offered in the full purchase's second phase. */
const BELOW_CAPACITY_SHARE = 0.8;

/**
 * The full purchase's second phase (full runs): buyers arrive at a steady rate, 0.8 of what the
 * closed loop just sustained, on a session of their own, at most `purchaseBuyers` in progress. The
 * closed loop runs the node at saturation, where its latency is the buyers over the rate (Little's
 * law) and every buyer's first order comes in one burst; this gives the CONFIRMED latency of a
 * node with room to spare, as a deployment sized for its sale would run. What it sustained is the
 * lower of the orders confirmed a minute in the load and those until the outbox was empty: a run
 * that put PDFs and mail off past the load confirmed more in it than it can keep up with
 * (bench/fixes.md, twenty-second round).
 */
async function purchaseBelowCapacity(api: Api, platform: BenchPlatform, closedLoopPerMinute: number, drained?: { measured?: boolean; pendingLeft?: number; confirmedPerMinute?: number }) {
  const untilDrained = drained?.measured && drained.pendingLeft === 0 ? drained.confirmedPerMinute ?? Infinity : Infinity;
  const basis = untilDrained < closedLoopPerMinute ? "the rate until the outbox was empty" : "the rate above";
  const ratePerMin = Math.max(60, Math.round((Math.min(closedLoopPerMinute, untilDrained) * BELOW_CAPACITY_SHARE) / 60) * 60);
  const fixture = await createFixture(api, opts.seats, 1);
  log(`fullPurchase: then a new buyer ${fmtInt(ratePerMin)} times a minute (${BELOW_CAPACITY_SHARE} of ${basis}), ${opts.durationS}s`);
  const r: any = await runLoad({
    type: "purchase",
    baseUrls: platform.baseUrls,
    sessionId: fixture.sessionIds[0],
    seatCount: fixture.seatCount,
    buyers: opts.purchaseBuyers,
    ratePerMin,
    durationS: opts.durationS,
    drainS: 90,
    jwtSecret: platform.jwtSecret,
  });
  await sleep(1100);
  return {
    share: BELOW_CAPACITY_SHARE,
    basis,
    offeredPerMinute: ratePerMin,
    arrivals: r.arrivals,
    confirmed: r.confirmed,
    confirmedPerMinute: r.confirmedPerMinute,
    failed: r.failed,
    stuckPending: r.stuckPending,
    holdLatencyMs: r.holdLatencyMs,
    orderToConfirmedMs: r.orderToConfirmedMs,
    orderToPdfMs: r.orderToPdfMs,
    orderTiming: summarizeOrderTiming(platform.orderTimingFiles(), fixture.sessionIds[0]),
    doubleSold: r.doubleSold,
  };
}

/**
 * The work a short run leaves for after it (tickets, PDFs and mail still in the outbox when the
 * buyers have their PDFs): waits until the outbox has nothing pending (GET /api/admin/outbox),
 * and gives the server's CPU from the start of the load until then, per confirmed order. That is
 * the cost to compare between versions: the CPU during the load alone favours one that defers.
 */
async function pipelineDrained(api: Api, pids: number[], c0: number, t0: number, confirmed: number) {
  const loadEnd = Date.now();
  const drained = await outboxEmpty(api);
  if (!drained.ok) return { measured: false, reason: drained.reason };
  const pending = drained.pending;
  const cpuS = pids.reduce((a, p) => a + cpuSeconds(p), 0) - c0;
  const now = Date.now();
  return {
    measured: true,
    pendingLeft: pending,
    afterLoadS: round((now - loadEnd) / 1000, 1),
    wallS: round((now - t0) / 1000, 1),
    cpuS: round(cpuS),
    cpuMsPerOrder: confirmed ? round((cpuS * 1000) / confirmed, 1) : null,
    confirmedPerMinute: round(confirmed / Math.max((now - t0) / 60_000, 1e-6)),
  };
}

/** Waits until the outbox has nothing pending (GET /api/admin/outbox), at most 60 s (quick) or 180 s; gives what is left. */
async function outboxEmpty(api: Api): Promise<{ ok: true; pending: number } | { ok: false; reason: string }> {
  const since = Date.now();
  const limitMs = opts.quick ? 60_000 : 180_000;
  for (;;) {
    const res = await api.req<{ pending: Array<{ count: number }> }>("GET", "/api/admin/outbox");
    if (res.status !== 200) return { ok: false, reason: `GET /api/admin/outbox -> ${res.status}` };
    const pending = res.body.pending.reduce((n, p) => n + p.count, 0);
    if (pending === 0 || Date.now() - since > limitMs) return { ok: true, pending };
    await sleep(250);
  }
}

async function manySessions() {
  return withPlatform("manySessions", async ({ platform, api, adminVia, routes: have }) => {
    need(have, "POST /api/sessions", "POST /api/sessions/:id/holds", "DELETE /api/holds/:id");
    log(`manySessions: creating ${opts.manySessions} sessions of ${opts.manySessionSeats} seats`);
    const t0 = Date.now();
    const fixture = await createFixture(api, opts.manySessionSeats, opts.manySessions, { concurrency: 16 });
    const setupS = round((Date.now() - t0) / 1000, 1);
    const before = await processMemory(platform);
    const metricsBefore = actorMetrics(await platform.metrics(0));
    const noop = await adjacentNoop();
    log(`manySessions: ${opts.buyers} buyers over ${fixture.sessionIds.length} sessions, ${opts.durationS}s`);
    const r = await loadWithCpu(nodePids(platform), { type: "spread", baseUrls: platform.baseUrls, sessionIds: fixture.sessionIds, buyers: opts.buyers, durationS: opts.durationS, jwtSecret: platform.jwtSecret }, (x: any) => x.holds);
    const after = await processMemory(platform);
    const metricsAfter = actorMetrics(await platform.metrics(0));
    // Idle actors without live holds passivate (the bench runs the node with SEATS_IDLE_SECONDS=idleSeconds()).
    // Watched until every actor has passivated (the sweep runs each second), at most idle time + 5 s.
    const idleStart = Date.now();
    let metricsIdle = actorMetrics(await platform.metrics(0));
    while (Date.now() - idleStart < (idleSeconds() + 5) * 1000 && (metricsIdle.seats_actors_active ?? 0) > 0) {
      await sleep(500);
      metricsIdle = actorMetrics(await platform.metrics(0));
    }
    const idleS = Math.round((Date.now() - idleStart) / 1000);
    const idle = await processMemory(platform);
    return {
      result: {
        ...r,
        setupS,
        adjacentNoopRoute: noop,
        ratioToNoopRoute: noop ? round(r.holdsPerSec / noop.reqPerSec, 3) : null,
        memory: { beforeLoad: before, afterLoad: after, [`after${idleS}sIdle`]: idle },
        actorMetrics: { beforeLoad: metricsBefore, afterLoad: metricsAfter, [`after${idleS}sIdle`]: metricsIdle },
        setup: { adminVia, layoutVia: fixture.layoutVia },
      },
    };
  });
}

/** Seat-actor related series from /metrics (whatever the seats service exports). */
function actorMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-z_]*(?:actor|seat|session)[a-z_]*)(\{[^}]*\})?\s+([0-9.eE+-]+)/i.exec(line);
    if (m && Object.keys(out).length < 30) out[m[1] + (m[2] ?? "")] = Number(m[3]);
  }
  return out;
}

async function seatMap() {
  return withPlatform("seatMap", async ({ platform, api, adminVia, routes: have }) => {
    need(have, "GET /api/sessions/:id/seat-map");
    const fixture = await createFixture(api, opts.seats, 1);
    const sessionId = fixture.sessionIds[0];
    // A realistic mix: about 10% of the seats held, scattered, so the status string is not trivially compressible.
    let scattered = 0;
    if (have.includes("POST /api/sessions/:id/holds")) {
      const seatIds = await seatIdsOf(api, fixture);
      const want = Math.floor(seatIds.length / 10 / 4);
      let next = 0;
      const worker = async () => {
        while (next < want) {
          next++;
          const seats = Array.from({ length: 4 }, () => seatIds[Math.floor(Math.random() * seatIds.length)]);
          const res = await new Api(platform.baseUrls[0], mintToken(platform.jwtSecret)).req("POST", `/api/sessions/${sessionId}/holds`, { seats: [...new Set(seats)] });
          if (res.status === 201) scattered += (res.body.seats as string[]).length;
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
    }
    const url = (q: string) => `/api/sessions/${sessionId}/seat-map${q}`;
    const bytes: Record<string, number> = {};
    for (const [name, q] of [["statusOnly", "?statusOnly=1"], ["full", ""]] as const) {
      for (const gz of [false, true]) {
        // fetch() would decompress; read the wire size with node's http.
        bytes[`${name}${gz ? "Gzip" : "Raw"}`] = await wireBytes(platform.baseUrls[0] + url(q), gz);
      }
    }
    const headers = { "accept-encoding": "gzip" };
    const noop = await adjacentNoop();
    log(`seatMap: statusOnly, ${opts.seatMapConnections} connections`);
    const statusOnly = await loadWithCpu(nodePids(platform), { type: "cannon", urls: platform.baseUrls.map((b) => b + url("?statusOnly=1")), connections: opts.seatMapConnections, durationS: ceilingS(), headers }, (x: any) => x.requests);
    log("seatMap: full");
    const full = await runLoad({ type: "cannon", urls: platform.baseUrls.map((b) => b + url("")), connections: opts.seatMapConnections, durationS: ceilingS(), headers });
    const sessionPage = await sessionPageLoad(platform, fixture, headers);
    return {
      result: {
        seats: fixture.seatCount,
        seatsHeldBeforeLoad: scattered,
        bytes,
        adjacentNoopRoute: noop,
        statusOnly: { ...statusOnly, ratioToNoopRoute: noop ? round(statusOnly.reqPerSec / noop.reqPerSec, 3) : null },
        full,
        sessionPage: { ...sessionPage, ratioToNoopRoute: noop ? round(sessionPage.reqPerSec / noop.reqPerSec, 3) : null },
        setup: { adminVia, layoutVia: fixture.layoutVia },
      },
    };
  });
}

/**
 * Buyers opening the session's page when its sale starts, as the web UI does
 * (public/modules/shop.js): the session, its event, the seat map's status, and the venue's layout,
 * which a buyer who has opened the page before revalidates (If-None-Match: 304). Each connection
 * asks for the four in turn; a page is four requests.
 */
async function sessionPageLoad(platform: BenchPlatform, fixture: Fixture, headers: Record<string, string>) {
  const venuePath = `/api/venues/${fixture.venueId}`;
  const etag = (await fetch(platform.baseUrls[0] + venuePath)).headers.get("etag");
  if (!etag) throw new SetupError(`GET ${venuePath} answered without an ETag`, 0);
  const sessionId = fixture.sessionIds[0];
  const page = [
    { path: `/api/sessions/${sessionId}` },
    { path: `/api/events/${fixture.eventId}` },
    { path: `/api/sessions/${sessionId}/seat-map?statusOnly=1` },
    { path: venuePath, headers: { "if-none-match": etag } },
  ];
  log(`seatMap: the session page, ${opts.seatMapConnections} connections`);
  const load = await loadWithCpu(nodePids(platform), { type: "cannon", urls: platform.baseUrls, page, connections: opts.seatMapConnections, durationS: ceilingS(), headers }, (x: any) => x.requests / page.length);
  // The page's socket, which the web UI's shell opens on load: a connection, its token checked,
  // the session subscribed to.
  log(`seatMap: the session page's socket, ${opts.seatMapConnections} at a time`);
  const socket = await loadWithCpu(
    nodePids(platform),
    { type: "sockets", baseUrls: platform.baseUrls, sessionId, count: opts.quick ? 2_000 : 6_000, concurrency: opts.seatMapConnections, jwtSecret: platform.jwtSecret },
    (x: any) => x.connections,
  );
  return { ...load, paths: page.map((r) => r.path.replace(/[0-9a-f-]{36}/g, ":id")), pagesPerSec: round(load.reqPerSec / page.length), socket };
}

async function wireBytes(url: string, gzip: boolean): Promise<number> {
  const http = await import("http");
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: gzip ? { "accept-encoding": "gzip" } : {} }, (res) => {
        let n = 0;
        res.on("data", (c: Buffer) => (n += c.length));
        res.on("end", () => (res.statusCode === 200 ? resolve(n) : reject(new SetupError(`GET ${url} -> ${res.statusCode}`, res.statusCode ?? 0))));
      })
      .on("error", reject);
  });
}

/** Runs a micro-benchmark script with --expose-gc and returns the JSON line it prints. */
async function jsonChild(name: string, script: string): Promise<Record<string, unknown>> {
  const child = new Child({ name, script, args: opts.quick ? ["--quick"] : [], logDir: tmpDir, nodeFlags: ["--expose-gc"] });
  const line = await child.waitForJsonLine(240_000).catch((err: Error) => ({ error: err.message.slice(0, 500) }));
  await child.stop();
  return line;
}

async function memory() {
  const out: Record<string, any> = {};
  // The seats engineer's actor micro-benchmark (durable group commit), when it exists.
  const actorBench = path.join(__dirname, "actor.ts");
  out.actor = fs.existsSync(actorBench) ? await jsonChild("actor-bench", actorBench) : { skipped: "bench/actor.ts (the seat actor's own micro-benchmark) not present" };
  log("memory: seat map state machine alone (bench/seat-map-alone.ts)");
  out.seatMapAlone = await jsonChild("seat-map-alone", path.join(__dirname, "seat-map-alone.ts"));
  out.platform = await withPlatform("memory", async ({ platform, api, routes: have }) => {
    need(have, "POST /api/sessions", "GET /api/sessions/:id/seat-map");
    const n = opts.memorySessions;
    log(`memory: ${n} sessions of ${opts.memorySeats} seats, activated one by one`);
    const fixture = await createFixture(api, opts.memorySeats, n);
    // Summed over the nodes: in a cluster each session's actor lives on the node that owns it.
    const before = allNodes(await processMemory(platform));
    const activation: number[] = [];
    for (const id of fixture.sessionIds) {
      const t = Date.now();
      // One hold wakes the actor the way a buyer would; the seat map alone may be served from a cache.
      const res = await new Api(platform.baseUrls[0], mintToken(platform.jwtSecret)).req("POST", `/api/sessions/${id}/holds`, { quantity: 1 });
      if (res.status !== 201) await api.must("GET", `/api/sessions/${id}/seat-map?statusOnly=1`);
      activation.push(Date.now() - t);
    }
    const after = allNodes(await processMemory(platform));
    const live = (m: typeof before) => (m.heapUsedMb ?? NaN) + (m.arrayBuffersMb ?? 0);
    const perSession = Number.isFinite(live(after) - live(before)) ? round((live(after) - live(before)) / n, 2) : null;
    return {
      result: {
        sessions: n,
        seatsPerSession: fixture.seatCount,
        firstCallMs: activation,
        heapBeforeMb: before.heapUsedMb,
        heapAfterMb: after.heapUsedMb,
        arrayBuffersBeforeMb: before.arrayBuffersMb,
        arrayBuffersAfterMb: after.arrayBuffersMb,
        rssBeforeMb: before.rssMb,
        rssAfterMb: after.rssMb,
        heapPerSessionMb: perSession,
        note: `the live memory (V8 heap + ArrayBuffers, each read right after a full GC) ${platform.nodes.length > 1 ? `of the ${platform.nodes.length} nodes together` : "of the node"} before and after activating the sessions with one hold each, divided by their number`,
      },
    };
  }).catch((err) => {
    if (err instanceof Skip) return { skipped: err.message };
    throw err;
  });
  return out;
}

// ------------------------------------------------------------------ targets

function evaluateTargets() {
  const s = results.scenarios;
  target("invariant violations", results.violations, "=", 0);
  const hh = s.hotHold;
  if (hh && !hh.skipped && !hh.error) {
    // The hold-shaped route runs on one process: compare it with the local no-op route (in a
    // cluster run the hot hold's own ratio is to the no-op route across NATS).
    const floor =
      hh.adjacentHoldShapedRoute && hh.adjacentNoopRoute && !opts.cluster
        ? `ran at ${round(hh.adjacentHoldShapedRoute.reqPerSec / hh.adjacentNoopRoute.reqPerSec, 2)} of the no-op route right before`
        : s.ceilings?.holdShapedToNoopRatio
          ? `ran at ${round(s.ceilings.holdShapedToNoopRatio, 2)} of the ${opts.cluster ? "local " : ""}no-op route in the ceilings`
          : null;
    target("hot hold rate / no-op route rate", hh.ratioToNoopRoute, ">=", 0.5, "", floor ? `a hold with nothing behind it (token, JSON body, one action) ${floor}` : undefined);
    // Closed loop: each buyer sends its next hold when the last is answered, so the mean latency
    // is buyers / rate (Little's law) and a p99 under 50 ms needs at least buyers / 0.05 s holds/s.
    const needed = `${opts.buyers} buyers in a closed loop: the mean latency is buyers / rate, so p99 < 50 ms needs over ${fmtInt(opts.buyers / 0.05)} holds/s`;
    target(`hot hold p99 at ${opts.buyers} buyers (ms)`, hh.latencyMs?.p99, "<", 50, " ms", opts.cluster ? `cluster run; the target is for embedded mode. ${needed}` : needed);
  }
  const fp = s.fullPurchase;
  if (fp && !fp.skipped && !fp.error) {
    const gen = fp.loadCpu?.cpuMsPerOp;
    const server = fp.serverCpu?.cpuMsPerOp;
    const ceiling = fp.loadCpu?.machineCeilingPerS;
    target(
      "confirmed orders per minute, one session",
      fp.confirmedPerMinute,
      ">=",
      20_000,
      "",
      gen && server && ceiling
        ? `${purchaseLoad(fp)}; at ${round(server, 1)} server + ${round(gen, 1)} load generator CPU ms per order, this machine's ${os.cpus().length} cores sustain at most ${fmtInt(ceiling * 60)}/min`
        : undefined,
    );
    const byPlaced = fp.orderToConfirmedByPlacedS;
    target(
      "order to CONFIRMED p99 (ms)",
      fp.orderToConfirmedMs?.count ? fp.orderToConfirmedMs.p99 : null,
      "<",
      1000,
      " ms",
      fp.offeredPerMinute
        ? purchaseLoad(fp)
        : [
            byPlaced?.steps?.[0]?.count && byPlaced.afterFirstStep?.count
              ? `${fp.buyers} buyers, all placing their first order as the run opens: p99 ${fmtInt(byPlaced.steps[0].p99)} ms for the orders placed in the first ${byPlaced.stepS} s, ${fmtInt(byPlaced.afterFirstStep.p99)} ms for those placed after`
              : "",
            fp.belowCapacity?.orderToConfirmedMs?.count
              ? `buyers arriving at ${fmtInt(fp.belowCapacity.offeredPerMinute)}/min (${fp.belowCapacity.share} of ${(fp.belowCapacity.basis ?? "the rate above") === "the rate above" ? "this rate" : fp.belowCapacity.basis}): p99 ${fmtInt(fp.belowCapacity.orderToConfirmedMs.p99)} ms`
              : "",
          ].filter(Boolean).join("; ") || undefined,
    );
    target("order to PDF available p99 (ms)", fp.orderToPdfMs?.count ? fp.orderToPdfMs.p99 : null, "<", 5000, " ms", fp.pdfsAvailable ? undefined : `no PDF became available within the drain time (${opts.quick ? 45 : 90} s after the offer window)`);
  }
  const sm = s.seatMap;
  if (sm && !sm.skipped && !sm.error) {
    target("seat map status payload, 20,000 seats, gzip (bytes)", sm.bytes?.statusOnlyGzip, "<", 16_384, " B");
    target("seat map statusOnly p99 (ms)", sm.statusOnly?.latencyMs?.p99, "<", 30, " ms", `${opts.seatMapConnections} connections`);
  }
  const mem = s.memory;
  if (mem && !mem.skipped && !mem.error) {
    const actorHeap = mem.actor?.heapPerSessionMb ?? mem.actor?.heapMbPer100kSeats;
    const platformHeap = mem.platform?.heapPerSessionMb;
    const aloneHeap = mem.seatMapAlone?.heapPerSessionMb;
    const [value, note] =
      typeof actorHeap === "number" ? [actorHeap, "from bench/actor.ts"]
      : typeof platformHeap === "number" ? [platformHeap, `live heap + ArrayBuffers after GC${opts.cluster ? " of all nodes" : ""}, per activated session`]
      : [aloneHeap, "seat map state machine alone (lower bound)"];
    target("heap per active 100,000-seat session (MB)", value, "<", 10, " MB", note);
  }
}

// ------------------------------------------------------------------ main

async function main() {
  const started = Date.now();
  log(`TicketFlash bench, ${results.mode}; scenarios: ${opts.scenarios.join(", ")}; temp dir ${tmpDir}`);
  const runners: Record<string, () => Promise<unknown>> = { ceilings, hotHold, fullPurchase, manySessions, seatMap, memory };
  for (const name of ALL_SCENARIOS) {
    if (!opts.scenarios.includes(name)) continue;
    const t = Date.now();
    try {
      results.scenarios[name] = await runners[name]();
      log(`${name}: done in ${round((Date.now() - t) / 1000, 1)}s`);
    } catch (err) {
      if (err instanceof Skip) {
        results.scenarios[name] = { skipped: err.message };
        log(`${name}: skipped (${err.message})`);
      } else {
        results.errors++;
        results.scenarios[name] = { error: (err as Error).message.slice(0, 2000) };
        log(`${name}: ERROR ${(err as Error).message}`);
      }
    }
  }
  await Promise.all(ceilingServers.children.map((c) => c.stop()));
  if (shared) {
    await shared.stop().catch((err) => log(`stopping the platform: ${(err as Error).message}`));
    if (opts.profile && shared.live) results.scenarios.profile = newProfiles(15, "all-scenarios");
  }
  evaluateTargets();
  results.finishedAt = new Date().toISOString();
  (results as unknown as Record<string, unknown>).durationS = round((Date.now() - started) / 1000, 1);

  const [dir, stamp] = [RESULTS_DIR, STAMP];
  fs.mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(results, null, 2);
  const md = renderMarkdown(results, `${stamp}-`);
  fs.writeFileSync(path.join(dir, `${stamp}.json`), json);
  fs.writeFileSync(path.join(dir, `${stamp}.md`), md);
  // latest.* and its flame graphs (latest-<scenario>.svg) replace the previous run's.
  for (const f of fs.readdirSync(dir)) if (/^latest-.*\.svg$/.test(f)) fs.rmSync(path.join(dir, f));
  for (const f of fs.readdirSync(dir)) if (f.startsWith(`${stamp}-`) && f.endsWith(".svg")) fs.copyFileSync(path.join(dir, f), path.join(dir, `latest-${f.slice(stamp.length + 1)}`));
  fs.writeFileSync(path.join(dir, "latest.json"), json);
  fs.writeFileSync(path.join(dir, "latest.md"), renderMarkdown(results, "latest-"));
  process.stdout.write("\n" + md + "\n");
  log(`results: bench/results/${stamp}.json and .md (also latest.*); logs in ${tmpDir}`);
  if (results.violations > 0) {
    process.stdout.write(`\n${"!".repeat(72)}\nFAIL: ${results.violations} invariant violation(s). See "correctness" in the results.\n${"!".repeat(72)}\n`);
    process.exit(1);
  }
  if (results.errors > 0) {
    process.stdout.write(`\nERROR: ${results.errors} scenario(s) could not run; see "error" in the results.\n`);
    process.exit(2);
  }
  process.exit(0);
}

void ROOT;
main().catch((err) => {
  console.error("bench failed:", err);
  process.exit(2);
});
