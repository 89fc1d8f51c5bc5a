/**
 * The seat state machine alone (src/domain/seat-map.ts), without the actor's database or the
 * gateway: heap per active 100,000-seat session and hold+confirm commands per second on one
 * core. A lower bound for the platform's figures, and the floor any optimisation works against.
 * Run with `node --expose-gc --import tsx bench/seat-map-alone.ts [--quick]`; prints one JSON line.
 */
import { randomUUID } from "crypto";
import { generateLayout } from "../src/domain/layout-generator";
import { SeatMap, SeatPlan } from "../src/domain/seat-map";

const quick = process.argv.includes("--quick");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");

/** V8 heap plus ArrayBuffer memory: typed arrays live outside the V8 heap but are the actor's memory too. */
function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

// 100,000 seats: 20 sections x 50 rows x 100 seats.
const layout = generateLayout({ sections: Array.from({ length: 20 }, (_, i) => ({ name: `Block ${i + 1}`, rows: 50, seatsPerRow: 100, category: i < 4 ? "premium" : "standard" })) });
const rules = { maxPerCustomer: 10, holdMs: 600_000 };
const sessions = quick ? 3 : 8;

// Memory: a plan (ids, labels, indexes) and a map (typed arrays) per session, as an actor holds them.
// Each from its own parse of the layout, as an actor activates from the stored JSON (sharing one
// parsed layout would share its strings between sessions and hide what each plan really keeps).
const layoutJson = JSON.stringify(layout);
const before = heapAfterGc();
const live: SeatMap[] = [];
for (let i = 0; i < sessions; i++) live.push(new SeatMap(new SeatPlan(JSON.parse(layoutJson)), rules));
const after = heapAfterGc();
// The plan is static per layout; sessions of one venue could share it: the map alone is this much.
const plan = new SeatPlan(layout);
const beforeMaps = heapAfterGc();
const maps: SeatMap[] = [];
for (let i = 0; i < sessions; i++) maps.push(new SeatMap(plan, rules));
const afterMaps = heapAfterGc();

// Throughput: holds (half best available 1-4, half explicit 1-4 side by side) each confirmed, draining a
// commit batch every 64 commands as the actor's group commit would, until the session is sold out.
const map = new SeatMap(new SeatPlan(layout), rules);
const ids = map.plan.ids;
let commands = 0;
let seatsSold = 0;
let refused = 0;
let batches = 0;
const t0 = performance.now();
let now = Date.now();
while (map.summary().available > 0) {
  const k = 1 + Math.floor(Math.random() * 4);
  const holdId = randomUUID();
  const userId = randomUUID();
  try {
    let view;
    if (Math.random() < 0.5) view = map.hold({ holdId, userId, quantity: Math.min(k, map.summary().available) }, now);
    else {
      const start = Math.floor(Math.random() * ids.length);
      view = map.hold({ holdId, userId, seats: ids.slice(start, start + k) }, now);
    }
    commands++;
    map.confirm(holdId, randomUUID(), now);
    commands++;
    seatsSold += view.seats.length;
  } catch {
    refused++;
    commands++;
  }
  if (commands % 64 < 2) {
    map.drain();
    batches++;
    now = Date.now();
  }
}
map.drain();
const seconds = (performance.now() - t0) / 1000;

process.stdout.write(
  JSON.stringify({
    source: "bench/seat-map-alone.ts (domain seat map, no database)",
    seatsPerSession: ids.length,
    sessions,
    heapPerSessionMb: Math.round(((after - before) / sessions / 1048576) * 100) / 100,
    heapPerSessionSharedPlanMb: Math.round(((afterMaps - beforeMaps) / sessions / 1048576) * 100) / 100,
    commandsPerSec: Math.round(commands / seconds),
    seatsSold,
    refusedHolds: refused,
    commitBatches: batches,
    seconds: Math.round(seconds * 100) / 100,
  }) + "\n",
);
void live;
void maps;
