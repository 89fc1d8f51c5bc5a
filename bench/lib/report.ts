/** The readable report: bench/results/<date>.md, tables plus an ASCII chart of the rates. */
import fs from "fs";
import path from "path";
import type { Results } from "../run";

/** What each stage of TF_ORDER_TIMING (src/platform/order-timing.ts) waits for, and how many database statements one after another. */
const ORDER_STAGE_WORK: Record<string, [string, number]> = {
  holdRead: ["the hold with its session's prices, and the card check, read side by side", 1],
  placed: ["the order written (the 202 follows)", 1],
  authorized: ["payments.authorize: the payment record, the provider (20-60 ms of simulated network, then its ledger), the answer stored", 3],
  stepWritten: ["the saga's next step written (versions before the eighteenth round)", 1],
  seatsSold: ["seats.confirm: the seat actor sells the seats", 1],
  captured: ["payments.capture: the provider (20-60 ms, then its ledger read and written), the answer stored", 3],
  confirmed: ["CONFIRMED written with orders.confirmed", 1],
};

/** The record of profiling fixes (before -> after), appended to every report. */
const FIXES = path.join(__dirname, "..", "fixes.md");

/**
 * In a closed loop every buyer starts the next purchase when the last one is confirmed, so the
 * mean purchase takes buyers / rate whatever the node does (Little's law); what a run shows is
 * where that time goes. Each buyer's hold opens a new connection, which waits in the kernel's
 * queue until the node accepts it (one per event-loop turn), so the wait falls on the hold or on
 * the order, and which one changes from run to run (bench/fixes.md, nineteenth round).
 */
function closedLoopCycle(p: any): string | undefined {
  if (p.offeredPerMinute || !p.confirmedPerMinute || !p.holdLatencyMs?.mean || !p.orderToConfirmedMs?.mean) return undefined;
  const cycleS = (p.buyers * 60) / p.confirmedPerMinute;
  return `Where the buyers' time went: in this closed loop a purchase took ${fmt(cycleS, 2)} s on average (${p.buyers} buyers / ${fmt(p.confirmedPerMinute)} confirmed a minute, Little's law, whatever the node does), of which the hold ${fmt(p.holdLatencyMs.mean / 1000, 2)} s (a new buyer's connection waits to be accepted, one per event-loop turn) and order to CONFIRMED ${fmt(p.orderToConfirmedMs.mean / 1000, 2)} s (means). Which of the two the wait falls on changes from run to run, and with it the CONFIRMED p99 (bench/fixes.md, nineteenth round); the stages below show whether the saga waited.`;
}

/** The machine's CPU time during a load: idle, and taken by the hypervisor (steal), from /proc/stat. */
function machineLine(cpu: any): string {
  const m = cpu?.machine;
  if (!m) return "";
  return ` Meanwhile the machine's CPU time was ${fmt(m.idle * 100, 1)}% idle and ${fmt(m.stolen * 100, 1)}% taken by the hypervisor (steal: a shared virtual machine's neighbours).`;
}

/**
 * The load generator's own CPU next to the server's, with what the machine could sustain at
 * these costs (bench/run.ts, loadWithCpu): `per` turns the per-second ceilings into `unit`.
 */
function loadCpuLine(x: any, cores: number, op: string, unit: string, per = 1): string {
  const { cpuS, cpuMsPerOp: gen, machineCeilingPerS, freeServerCeilingPerS } = x.loadCpu;
  if (!gen) return "";
  const server = x.serverCpu?.cpuMsPerOp;
  const both = server && machineCeilingPerS ? ` At these costs (${fmt(server + gen, 1)} CPU ms per ${op}, server and generator) the machine's ${cores} cores sustain at most ${fmt(machineCeilingPerS * per)} ${unit} (a short run can go faster for a while by leaving work, PDFs and mail above all, to catch up after it)` : "";
  return `Load generator CPU (its own process, same machine): ${fmt(cpuS, 1)} s, ${fmt(gen, 3)} ms per ${op}.${both}; a server costing nothing, ${fmt(freeServerCeilingPerS * per)} ${unit}.`;
}

function fmt(n: unknown, digits = 0): string {
  if (n === null || n === undefined || (typeof n === "number" && Number.isNaN(n))) return "-";
  if (typeof n !== "number") return String(n);
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function table(head: string[], rows: unknown[][]): string {
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of rows) lines.push(`| ${r.map((c) => String(c ?? "-").replace(/\|/g, "/")).join(" | ")} |`);
  return lines.join("\n");
}

function bars(items: Array<[string, number]>, width = 48): string {
  const max = Math.max(...items.map(([, v]) => v), 1);
  const label = Math.max(...items.map(([k]) => k.length));
  return items.map(([k, v]) => `${k.padEnd(label)} | ${"#".repeat(Math.max(v > 0 ? 1 : 0, Math.round((v / max) * width))).padEnd(width)} ${fmt(v)}/s`).join("\n");
}

function skippedOrError(s: any): string | undefined {
  if (!s) return "not run";
  if (s.skipped) return `skipped: ${s.skipped}`;
  if (s.error) return `ERROR: ${s.error.split("\n")[0]}`;
  return undefined;
}

function correctness(s: any): string {
  const c = s?.correctness;
  if (!c) return "";
  const lines = [
    `Correctness: **${c.violations === 0 ? "0 violations" : `${c.violations} VIOLATIONS`}**; checks run: ${c.checksRun.length ? c.checksRun.join("; ") : "none"}` +
      (c.checksNotRun.length ? `; not run: ${c.checksNotRun.join("; ")}` : "") +
      (c.warnings.length ? `; warnings: ${c.warnings.join("; ")}` : ""),
  ];
  for (const v of c.details ?? []) lines.push(`- FAIL ${v.check}: ${v.count} (e.g. \`${JSON.stringify(v.sample[0]).slice(0, 200)}\`)`);
  const mem = (s.nodeMemory ?? []).map((m: any) => `${m.node} RSS ${fmt(m.rssMb, 1)} MB, heap ${fmt(m.heapUsedMb, 1)} MB, ArrayBuffers ${fmt(m.arrayBuffersMb, 1)} MB (after GC)`).join("; ");
  if (mem) lines.push(`Node memory at the end: ${mem}.`);
  return lines.join("\n");
}

function codes(map: Record<string, number> | undefined): string {
  return Object.entries(map ?? {})
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}: ${fmt(v)}`)
    .join(", ");
}

/** `--profile`: where the CPU went (by owner, largest functions) and a link to the flame graph. */
function profileSection(s: any, flameGraphPrefix: string, during = "this scenario"): string {
  const top = s?.profile?.functions as Array<{ fn: string; where: string; selfMs: number; percent: number }> | undefined;
  if (!top?.length) return "";
  const pk = (s.profile.packages ?? []) as Array<{ owner: string; selfMs: number; percent: number }>;
  const svg = s.profile.flameGraph ? `${flameGraphPrefix}${s.profile.flameGraph}` : undefined;
  return (
    (svg ? `\nFlame graph of the node's main thread during ${during}: [${svg}](${svg}) (open it in a browser: hover a frame for its time, click to zoom).\n` : "") +
    `\nCPU profile of the node(s) during ${during}, idle excluded (\`--profile\`). By owner:\n\n${table(["owner", "self ms", "% of CPU"], pk.map((p) => [p.owner, fmt(p.selfMs), fmt(p.percent, 1)]))}\n` +
    `\nLargest functions (self time):\n\n${table(["function", "where", "self ms", "%"], top.map((t) => [`\`${t.fn}\``, t.where, fmt(t.selfMs), fmt(t.percent, 1)]))}\n`
  );
}

/** The report; `flameGraphPrefix` names this copy's flame graphs (`<run>-` or `latest-`). */
export function renderMarkdown(r: Results, flameGraphPrefix = ""): string {
  const profile = (sc: unknown, during?: string) => profileSection(sc, flameGraphPrefix, during);
  const s = r.scenarios;
  const out: string[] = [];
  const verdict = r.violations > 0 ? `**FAIL: ${r.violations} invariant violation(s)**` : r.errors > 0 ? `**${r.errors} scenario(s) errored**` : "**PASS: 0 invariant violations**";
  out.push(`# TicketFlash benchmark, ${r.startedAt.slice(0, 16).replace("T", " ")} UTC`);
  out.push("");
  out.push(`${verdict}. Mode: ${r.mode}. Machine: ${r.machine.cpus} CPU (${r.machine.cpuModel}), Node ${r.machine.node}, load average at start ${r.machine.loadAvgAtStart.join(" / ")} (a shared, noisy machine: read rates as ratios to the ceilings of the same run).`);
  out.push(`Options: ${r.options.quick ? "--quick, " : ""}${r.options.buyers} buyers, ${r.options.seats} seats, ${r.options.durationS} s per timed phase, ${r.options.warmupS ? `after a ${r.options.warmupS} s warm-up sale at ${r.options.warmupBuyers} buyers on a session of its own (a node that has sold before; \`--warmup 0\` for a just-started one)${r.options.quick ? " in the hot hold and the purchase" : ""}` : "on just-started nodes (`--warmup 0`)"}.${r.machine.nodeFlags ? ` Node flags of the platform's nodes: \`${r.machine.nodeFlags}\`.` : ""} Platform start-up: ${fmt(r.platformStartupS, 1)} s.`);
  out.push("");
  out.push("## Targets");
  out.push("");
  out.push(table(["target", "value", "goal", "met"], r.targets.map((t) => [t.name, fmt(t.value, 2), t.target, t.met === null ? "n/a" : t.met ? "yes" : "**no**", ...(t.note ? [] : [])].concat(t.note ? [] : []))));
  const notes = r.targets.filter((t) => t.note).map((t) => `- ${t.name}: ${t.note}`);
  if (notes.length) out.push("", ...notes);
  const skipped = Object.entries(s).filter(([, v]) => v?.skipped || v?.error).map(([k, v]) => `- ${k}: ${skippedOrError(v)}`);
  if (skipped.length) out.push("", "Not measured in this run:", ...skipped);

  const chart: Array<[string, number]> = [];
  if (s.ceilings?.bareHttp) chart.push(["bare node http", s.ceilings.bareHttp.reqPerSec]);
  if (s.ceilings?.noopRoute) chart.push(["moleculer-web no-op", s.ceilings.noopRoute.reqPerSec]);
  if (s.ceilings?.noopRouteNats) chart.push(["no-op across NATS", s.ceilings.noopRouteNats.reqPerSec]);
  if (s.ceilings?.holdShapedRoute) chart.push(["hold-shaped no-op", s.ceilings.holdShapedRoute.reqPerSec]);
  if (s.seatMap?.statusOnly) chart.push(["seat map statusOnly", s.seatMap.statusOnly.reqPerSec]);
  if (s.hotHold?.holdsPerSec) chart.push(["hot hold (holds)", s.hotHold.holdsPerSec]);
  if (s.manySessions?.holdsPerSec) chart.push(["many sessions (holds)", s.manySessions.holdsPerSec]);
  if (s.fullPurchase?.confirmedPerMinute !== undefined && !s.fullPurchase.skipped) chart.push(["purchase (orders)", s.fullPurchase.confirmedPerMinute / 60]);
  if (chart.length) out.push("", "## Rates in this run", "", "```", bars(chart), "```");

  out.push("", "## 1. Ceilings");
  const c = s.ceilings;
  const ce = skippedOrError(c);
  if (ce) out.push("", ce);
  else {
    const rows = [["bare node `http`, constant", c.bareHttp], ["moleculer-web route -> no-op action", c.noopRoute], ...(c.noopRouteNats ? [["same, action on another node via NATS", c.noopRouteNats]] : []), ...(c.holdShapedRoute ? [["hold-shaped no-op: bearer token checked, JSON body, one action", c.holdShapedRoute]] : [])];
    out.push("", `${c.connections} connections, ${c.durationS} s each, autocannon in its own process.`, "");
    out.push(table(["server", "req/s", "p50 ms", "p99 ms", "errors", "server CPU ms/req", "server CPU use"], rows.map(([n, x]: any) => [n, fmt(x.reqPerSec), fmt(x.latencyMs.p50), fmt(x.latencyMs.p99), fmt(x.non2xx + x.errors), fmt(x.serverCpu?.cpuMsPerOp, 3), fmt(x.serverCpu?.utilisation, 2)])));
    if (c.holdShapedRoute) {
      out.push("", `The hold-shaped no-op route is a hold with nothing behind it (bench/ceiling-web.ts): each request from a buyer of its own as in the hot hold, its bearer token verified in full as the platform verifies a token it has not seen (src/platform/auth.ts), a JSON body, seats.hold's params validated in the one action the route calls, a constant answer. It ran at ${fmt(c.holdShapedToNoopRatio, 3)} of the no-op route's rate: a hold that did no seat work at all would reach about that ratio, against the hot hold target of 0.5.`);
    }
  }

  out.push("", "## 2. Hot hold");
  const h = s.hotHold;
  const he = skippedOrError(h);
  if (he) out.push("", he);
  else {
    out.push("", `One session of ${fmt(h.seats)} seats; ${h.buyers} concurrent buyers, each a new buyer identity per hold, holding 1-4 seats (half explicit seats side by side, half best available) until ${h.soldOut ? "sold out" : "the time cap"} (${fmt(h.elapsedS, 1)} s).`, "");
    out.push(table(["holds", "seats held", "holds/s", "/ no-op route", "p50 ms", "p95 ms", "p99 ms", "max ms"], [[fmt(h.holds), fmt(h.seatsHeld), fmt(h.holdsPerSec), fmt(h.ratioToNoopRoute, 3), fmt(h.latencyMs.p50, 1), fmt(h.latencyMs.p95, 1), fmt(h.latencyMs.p99, 1), fmt(h.latencyMs.max, 1)]]));
    if (h.latencyOnNewConnectionMs?.count) {
      const nw = h.latencyOnNewConnectionMs;
      const op = h.latencyOnOpenConnectionMs;
      out.push("", `Where the tail comes from: each buyer's first hold opens its connection and waits in the kernel's queue until the node accepts it (Node 20 accepts one connection per event-loop turn). Those ${fmt(nw.count)} holds: p50 ${fmt(nw.p50, 1)} ms, p99 ${fmt(nw.p99, 1)} ms; the ${fmt(op?.count)} holds on a connection already open: p50 ${fmt(op?.p50, 1)} ms, p99 ${fmt(op?.p99, 1)} ms.`);
    }
    if (h.watchers) {
      const w = h.watchers;
      out.push("", `${fmt(w.sockets)} sockets watched the session's seat map meanwhile (\`--watchers\`), as buyers on its page do: each got ${fmt(w.eventsPerWatcher)} \`seats\` events (${fmt(w.eventsPerWatcherPerSec, 1)} a second), ${fmt(w.changesPerEvent)} seat changes in each. The load generator decodes every one of them on this machine, so its CPU per hold below includes theirs.`);
    }
    if (h.adjacentNoopRoute) out.push("", `The no-op route (${h.adjacentNoopRoute.via}) measured right before this load: ${fmt(h.adjacentNoopRoute.reqPerSec)} req/s; the ratio uses it.`);
    if (h.adjacentHoldShapedRoute) {
      out.push("", `The hold-shaped no-op route, measured right before it too: ${fmt(h.adjacentHoldShapedRoute.reqPerSec)} req/s at ${fmt(h.adjacentHoldShapedRoute.cpuMsPerOp, 3)} CPU ms per request. Holds ran at ${fmt(h.ratioToHoldShapedRoute, 3)} of its rate and, by CPU per request, at ${fmt(h.cpuRatioToHoldShapedRoute, 3)} of it: the rest is the seat actor, the gateway's own checks (rate limits, error shape, metrics), committing the hold and telling the seat map's subscribers.`);
    }
    if (h.serverCpu) out.push("", `Server CPU during the load: ${fmt(h.serverCpu.cpuS, 1)} s over ${fmt(h.serverCpu.wallS, 1)} s (${fmt(h.serverCpu.utilisation, 2)} cores), ${fmt(h.serverCpu.cpuMsPerOp, 3)} CPU ms per hold${h.adjacentNoopRoute?.cpuMsPerOp ? ` vs ${fmt(h.adjacentNoopRoute.cpuMsPerOp, 3)} per no-op request: by CPU cost a hold is ${fmt(h.cpuRatioToNoopRoute, 3)} of a no-op request` : ""}. A utilisation well under the cores available means the node was waiting (database, starved by other processes), not computing.${machineLine(h.serverCpu)}`);
    if (h.loadCpu) out.push("", loadCpuLine(h, r.machine.cpus, "hold", "holds/s"));
    const so = h.afterSoldOut;
    if (so) {
      const shaped = h.adjacentHoldShapedRoute?.cpuMsPerOp;
      out.push("", `After the sell-out, the same ${h.buyers} connections kept asking for 2 seats (best available) for ${r.options.quick ? 2 : 5} s, for 4,096 buyers in turn: ${fmt(so.reqPerSec)} refusals/s, p50 ${fmt(so.latencyMs.p50)} ms, p99 ${fmt(so.latencyMs.p99)} ms, ${fmt(so.serverCpu?.cpuMsPerOp, 3)} server CPU ms each${shaped ? ` (the hold-shaped no-op route: ${fmt(shaped, 3)})` : ""}; answers: ${codes(so.statusCodes ?? {})}.`);
    }
    out.push("", `Responses: ${codes(h.codes)}.`, "", correctness(h), profile(h));
  }

  out.push("", "## 3. Full purchase");
  const p = s.fullPurchase;
  const pe = skippedOrError(p);
  if (pe) out.push("", pe);
  else {
    const who = p.offeredPerMinute
      ? `A new buyer ${fmt(p.offeredPerMinute)} times a minute (\`--purchase-rate\`, an open loop: arrivals do not wait for the platform), at most ${p.buyers} purchases in progress (${fmt(p.arrivals?.turnedAway ?? 0)} of ${fmt(p.arrivals?.offered ?? 0)} arrivals found them all busy and were not started), starts`
      : `${p.buyers} buyers${p.buyers !== r.options.buyers ? ` (--quick uses fewer buyers here; \`--purchase-buyers N\` sets it)` : ""} start`;
    out.push("", `${who} purchases for ${fmt(p.windowS, 1)} s (the last confirmation came at ${fmt(p.activeS, 1)} s; confirmed/min is over that time): hold (best available 1-4) -> POST /api/orders (card 4242...) -> CONFIRMED -> every ticket's PDF ready and answering 200; each buyer follows the order as the web UI does: socket.io \`order\`/\`ticket\` events, a poll every 2 s as fallback.`, "");
    out.push(table(["orders", "confirmed", "confirmed/min", "x pretix (500/min)", "CONFIRMED p50 / p99 ms", "PDF p50 / p99 ms", "PDFs", "stuck PENDING"], [[fmt(p.orders), fmt(p.confirmed), fmt(p.confirmedPerMinute), fmt(p.ratioToPretix, 2), `${fmt(p.orderToConfirmedMs.p50)} / ${fmt(p.orderToConfirmedMs.p99)}`, `${fmt(p.orderToPdfMs.p50)} / ${fmt(p.orderToPdfMs.p99)}`, fmt(p.pdfsAvailable), fmt(p.stuckPending)]]));
    const byPlaced = p.orderToConfirmedByPlacedS;
    if (byPlaced?.steps?.length > 1) {
      out.push("", p.offeredPerMinute
        ? `Order -> CONFIRMED by when the order was placed:`
        : `Where the tail comes from: every buyer places its first order as the run opens (within a second on a warm node), and the node works through that burst at its own rate; the buyers' next orders follow in waves until their timing spreads out. Order -> CONFIRMED by when the order was placed:`, "");
      out.push(table(["placed (s into the run)", "orders", "p50 ms", "p99 ms"], byPlaced.steps.map((st: any) => [`${st.fromS}-${st.toS}`, fmt(st.count), fmt(st.p50), fmt(st.p99)])));
    }
    const cycle = closedLoopCycle(p);
    if (cycle) out.push("", cycle);
    if (p.fallbackPolls) out.push("", `The buyers' fallback polls (the web UI's poll every 2 s while it waits for a socket event): ${fmt(p.fallbackPolls.order)} for an order's status, ${fmt(p.fallbackPolls.tickets)} for its tickets.`);
    const ot = p.orderTiming;
    if (ot?.stages?.length) {
      out.push("", `Inside the node (its own record, TF_ORDER_TIMING, ${fmt(ot.orders)} orders): from POST /api/orders reaching its handler to CONFIRMED written, p50 ${fmt(ot.total.p50)} ms, p99 ${fmt(ot.total.p99)} ms, mean ${fmt(ot.total.mean)} ms. By stage, each from the one before:`, "");
      out.push(table(["stage", "what it waits for", "statements", "p50 ms", "p99 ms", "mean ms"], ot.stages.map((st: any) => [st.stage, ORDER_STAGE_WORK[st.stage]?.[0] ?? "", fmt(ORDER_STAGE_WORK[st.stage]?.[1]), fmt(st.p50), fmt(st.p99), fmt(st.mean)])));
      if (ot.loopDelayMs) out.push("", `The event loop's delay while these orders ran (${fmt(ot.loopDelayMs.seconds)} one-second samples): mean ${fmt(ot.loopDelayMs.mean, 1)} ms, p99 up to ${fmt(ot.loopDelayMs.maxP99)} ms. Every answer a stage waits for (the database's, the provider's timer) then waits for its turn of that loop.`);
    }
    if (p.serverCpu) out.push("", `Server CPU: ${fmt(p.serverCpu.cpuS, 1)} s over ${fmt(p.serverCpu.wallS, 1)} s (${fmt(p.serverCpu.utilisation, 2)} cores), ${fmt(p.serverCpu.cpuMsPerOp, 1)} CPU ms per confirmed order (all services, PDFs included).${machineLine(p.serverCpu)}`);
    if (p.drained?.measured) {
      out.push("", p.drained.pendingLeft === 0
        ? `Work left for after the load: the outbox (tickets, PDFs, mail) emptied ${fmt(p.drained.afterLoadS, 1)} s after it; from the start of the load until then, ${fmt(p.drained.confirmedPerMinute)} confirmed orders per minute and ${fmt(p.drained.cpuMsPerOrder, 1)} server CPU ms per confirmed order (the figures to compare between versions: those above favour a version that defers work).`
        : `Work left for after the load: the outbox still held ${fmt(p.drained.pendingLeft)} messages ${fmt(p.drained.afterLoadS, 1)} s after it (server CPU until then: ${fmt(p.drained.cpuMsPerOrder, 1)} ms per confirmed order).`);
    }
    if (p.loadCpu) out.push("", loadCpuLine(p, r.machine.cpus, "confirmed order", "orders/min", 60));
    const below = p.belowCapacity;
    if (below?.confirmed) {
      out.push("", `After that load, on a session of its own, a new buyer ${fmt(below.offeredPerMinute)} times a minute, ${below.share} of ${below.basis ?? "the rate above"}, whatever the platform's pace (an open loop, at most ${p.buyers} purchases in progress; ${fmt(below.arrivals?.turnedAway ?? 0)} of ${fmt(below.arrivals?.offered ?? 0)} arrivals found them all busy): the latency of a node with room to spare, without the closed loop's opening burst and queue.`, "");
      out.push(table(["offered/min", "confirmed", "confirmed/min", "hold p50 / p99 ms", "CONFIRMED p50 / p99 ms", "inside the node p50 / p99 ms", "PDF p50 / p99 ms", "stuck PENDING"], [[
        fmt(below.offeredPerMinute), fmt(below.confirmed), fmt(below.confirmedPerMinute),
        `${fmt(below.holdLatencyMs?.p50)} / ${fmt(below.holdLatencyMs?.p99)}`,
        `${fmt(below.orderToConfirmedMs?.p50)} / ${fmt(below.orderToConfirmedMs?.p99)}`,
        below.orderTiming ? `${fmt(below.orderTiming.total.p50)} / ${fmt(below.orderTiming.total.p99)}` : "",
        `${fmt(below.orderToPdfMs?.p50)} / ${fmt(below.orderToPdfMs?.p99)}`,
        fmt(below.stuckPending),
      ]]));
    }
    out.push("", `Responses: ${codes(p.codes)}.${Object.keys(p.failed ?? {}).length ? ` Failed orders: ${codes(p.failed)}.` : ""}`, "", correctness(p), profile(p));
  }

  out.push("", "## 4. Many sessions");
  const m = s.manySessions;
  const me = skippedOrError(m);
  if (me) out.push("", me);
  else {
    out.push("", `${fmt(m.sessions)} sessions of 500 seats (created in ${fmt(m.setupS, 1)} s); ${m.buyers} buyers hold 1-4 seats in a random session, half release at once.`, "");
    out.push(table(["holds", "releases", "sessions touched", "holds/s", "/ no-op route", "p50 ms", "p99 ms"], [[fmt(m.holds), fmt(m.releases), fmt(m.sessionsTouched), fmt(m.holdsPerSec), fmt(m.ratioToNoopRoute, 3), fmt(m.latencyMs.p50, 1), fmt(m.latencyMs.p99, 1)]]));
    const rows = Object.entries(m.memory ?? {}).map(([k, v]: any) => [k, fmt(v[0]?.rssMb, 1), fmt(v[0]?.heapUsedMb, 1), fmt(v[0]?.arrayBuffersMb, 1)]);
    out.push("", table(["when (node 1, after GC)", "RSS MB", "heap MB", "ArrayBuffers MB"], rows));
    const am = m.actorMetrics ?? {};
    const keys = Object.keys(am.afterLoad ?? {});
    if (keys.length) out.push("", "Seat metrics from /metrics:", "", table(["series", ...Object.keys(am)], keys.map((k) => [k, ...Object.values(am).map((x: any) => fmt(x?.[k], 2))])));
    if (m.serverCpu) out.push("", `Server CPU: ${fmt(m.serverCpu.utilisation, 2)} cores, ${fmt(m.serverCpu.cpuMsPerOp, 3)} CPU ms per hold (the releases included).`);
    out.push("", `Responses: ${codes(m.codes)}.`, "", correctness(m), profile(m));
  }

  out.push("", "## 5. Seat map");
  const sm = s.seatMap;
  const se = skippedOrError(sm);
  if (se) out.push("", se);
  else {
    out.push("", `Session of ${fmt(sm.seats)} seats, ${fmt(sm.seatsHeldBeforeLoad)} seats held at random first; GET with \`Accept-Encoding: gzip\`, ${sm.statusOnly.connections} connections.`, "");
    out.push(table(["variant", "bytes raw", "bytes gzip", "req/s", "p50 ms", "p99 ms", "errors"], [
      ["statusOnly=1", fmt(sm.bytes.statusOnlyRaw), fmt(sm.bytes.statusOnlyGzip), fmt(sm.statusOnly.reqPerSec), fmt(sm.statusOnly.latencyMs.p50), fmt(sm.statusOnly.latencyMs.p99), fmt(sm.statusOnly.non2xx + sm.statusOnly.errors)],
      ["full (with seatIds)", fmt(sm.bytes.fullRaw), fmt(sm.bytes.fullGzip), fmt(sm.full.reqPerSec), fmt(sm.full.latencyMs.p50), fmt(sm.full.latencyMs.p99), fmt(sm.full.non2xx + sm.full.errors)],
    ]));
    if (sm.adjacentNoopRoute) out.push("", `No-op route right before: ${fmt(sm.adjacentNoopRoute.reqPerSec)} req/s (statusOnly is ${fmt(sm.statusOnly.ratioToNoopRoute, 3)} of it).`);
    const pg = sm.sessionPage;
    if (pg) {
      const notModified = pg.statusCodes?.["304"] ?? 0;
      out.push(
        "",
        `**The session page**, as buyers open it when the sale starts: ${pg.paths.map((p: string) => `\`${p}\``).join(", ")} (the layout revalidated with If-None-Match), in turn on each of ${pg.connections} connections. ` +
          `${fmt(pg.pagesPerSec)} pages/s (${fmt(pg.reqPerSec)} req/s, ${fmt(pg.ratioToNoopRoute, 3)} of the no-op route), p50 ${fmt(pg.latencyMs.p50)} ms and p99 ${fmt(pg.latencyMs.p99)} ms per request, ` +
          `${fmt(pg.serverCpu?.cpuMsPerOp, 3)} server CPU ms per page; ${fmt(notModified)} layouts not modified (304), ${fmt(pg.non2xx - notModified + pg.errors)} errors.`,
      );
      const so = pg.socket;
      if (so) {
        out.push(
          "",
          `The page's socket (the web UI's shell opens one on load: a websocket with the buyer's token, \`subscribe\` to the session, then gone), ${fmt(so.concurrency)} at a time: ` +
            `${fmt(so.perSec)} connections/s, p50 ${fmt(so.latencyMs.p50, 1)} ms and p99 ${fmt(so.latencyMs.p99, 1)} ms to the subscription's answer, ${fmt(so.serverCpu?.cpuMsPerOp, 3)} server CPU ms each; ${fmt(so.failed)} failed.`,
        );
      }
    }
    out.push("", correctness(sm), profile(sm));
  }

  out.push("", "## 6. Memory");
  const mm = s.memory;
  const mme = skippedOrError(mm);
  if (mme) out.push("", mme);
  else {
    const a = mm.actor;
    out.push("", `Seat actor with durable group commit (bench/actor.ts): ${a?.skipped ? `skipped: ${a.skipped}` : a?.error ? `ERROR: ${a.error}` : "`" + JSON.stringify(a) + "`"}`);
    const sa = mm.seatMapAlone;
    if (sa && !sa.error) {
      out.push("", `Seat state machine alone (bench/seat-map-alone.ts, no database, heap + ArrayBuffers after GC): ${fmt(sa.heapPerSessionMb, 2)} MB per ${fmt(sa.seatsPerSession)}-seat session (${fmt(sa.heapPerSessionSharedPlanMb, 2)} MB if sessions of one venue shared the static plan); ${fmt(sa.commandsPerSec)} hold/confirm commands/s on one core until sold out.`);
    } else if (sa?.error) out.push("", `Seat state machine alone: ERROR ${sa.error}`);
    const pm = mm.platform;
    const pe2 = skippedOrError(pm);
    if (pe2) out.push("", `Platform: ${pe2}`);
    else {
      out.push("", table(["sessions x seats", "heap before / after MB", "ArrayBuffers before / after MB", "per session MB", "RSS before / after MB", "first call ms"], [[`${pm.sessions} x ${fmt(pm.seatsPerSession)}`, `${fmt(pm.heapBeforeMb, 1)} / ${fmt(pm.heapAfterMb, 1)}`, `${fmt(pm.arrayBuffersBeforeMb, 1)} / ${fmt(pm.arrayBuffersAfterMb, 1)}`, fmt(pm.heapPerSessionMb, 2), `${fmt(pm.rssBeforeMb, 1)} / ${fmt(pm.rssAfterMb, 1)}`, (pm.firstCallMs ?? []).join(", ")]]));
      out.push("", pm.note, "", correctness(pm));
    }
  }
  if (s.profile) out.push("", "## CPU profile of the whole run", profile(s, "all scenarios (the nodes served every scenario of the run)"));
  if (fs.existsSync(FIXES)) out.push("", fs.readFileSync(FIXES, "utf8").trim().replace(/^# /, "## "));
  out.push("", "---", `Generated by \`npm run bench\` (bench/run.ts). Raw numbers: the JSON file of the same name.`);
  return out.join("\n") + "\n";
}
