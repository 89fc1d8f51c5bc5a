/**
 * What the nodes' TF_ORDER_TIMING files (src/platform/order-timing.ts) say about one session's
 * orders: the time each stage between POST /api/orders and CONFIRMED took, and the event loop's
 * delay while they were placed. Times are in each node's own clock, so only differences within
 * one node's file are used.
 */
import fs from "fs";
import type { OrderTimes, OrderTimingLine } from "../../src/platform/order-timing";
import { summarize } from "./stats";

export interface StageTime {
  /** The stage reached, measured from the one before it. */
  stage: string;
  p50: number;
  p99: number;
  mean: number;
}

export interface OrderTimingSummary {
  /** Orders that reached CONFIRMED with every stage recorded. */
  orders: number;
  stages: StageTime[];
  /** Handler reached -> CONFIRMED written. */
  total: { p50: number; p99: number; mean: number };
  /** Per-second event-loop delay samples while these orders ran: the mean of their means, and the largest p99. */
  loopDelayMs: { mean: number; maxP99: number; seconds: number } | null;
}

export function summarizeOrderTiming(files: string[], sessionId: string): OrderTimingSummary | null {
  const perStage: number[][] = [];
  const totals: number[] = [];
  let stageNames: readonly string[] = [];
  const delays: Array<[number, number, number]> = [];
  for (const file of files) {
    let lines: OrderTimingLine[];
    try {
      lines = fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l));
    } catch {
      continue;
    }
    const orders: OrderTimes[] = [];
    const fileDelays: Array<[number, number, number]> = [];
    for (const line of lines) {
      if ("stages" in line) stageNames = line.stages;
      else if ("order" in line) orders.push(line.order);
      else fileDelays.push(line.loopDelay);
    }
    let first = Infinity;
    let last = -Infinity;
    for (const order of orders) {
      if (order.sessionId !== sessionId || order.at.some((t) => t === null)) continue;
      const at = order.at as number[];
      for (let i = 1; i < at.length; i++) (perStage[i - 1] ??= []).push(at[i] - at[i - 1]);
      totals.push(at[at.length - 1] - at[0]);
      first = Math.min(first, at[0]);
      last = Math.max(last, at[at.length - 1]);
    }
    // Each sample covers the second before it.
    delays.push(...fileDelays.filter(([t]) => t >= first && t <= last + 1000));
  }
  if (!totals.length) return null;
  const brief = (xs: number[]) => {
    const s = summarize(xs);
    return { p50: Math.round(s.p50), p99: Math.round(s.p99), mean: Math.round(s.mean) };
  };
  return {
    orders: totals.length,
    stages: perStage.map((xs, i) => ({ stage: stageNames[i + 1], ...brief(xs) })),
    total: brief(totals),
    loopDelayMs: delays.length
      ? { mean: Math.round((10 * delays.reduce((a, d) => a + d[1], 0)) / delays.length) / 10, maxP99: Math.max(...delays.map((d) => d[2])), seconds: delays.length }
      : null,
  };
}
