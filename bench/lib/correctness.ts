/**
 * Invariants counted from the database after a scenario (and from what the load worker was
 * told, which the database must agree with). Every finding is a violation; a run with any
 * violation says FAIL and exits non-zero. A check whose tables do not exist yet is listed as
 * not run, never as passed.
 */
import type { Query } from "./platform";

export interface Violation {
  check: string;
  count: number;
  sample: unknown[];
}

export interface CorrectnessReport {
  checksRun: string[];
  checksNotRun: string[];
  violations: Violation[];
  counts: Record<string, number>;
  warnings: string[];
}

async function tables(q: Query): Promise<Set<string>> {
  const rows = await q("select table_name from information_schema.tables where table_schema = current_schema()");
  return new Set(rows.map((r) => String(r.table_name)));
}

async function columns(q: Query, table: string): Promise<Set<string>> {
  const rows = await q("select column_name from information_schema.columns where table_schema = current_schema() and table_name = $1", [table]);
  return new Set(rows.map((r) => String(r.column_name)));
}

/** Holds the load worker saw acknowledged (201): id -> seat ids. */
export type AckedHolds = Record<string, string[]>;

export async function checkDatabase(q: Query, acked: AckedHolds = {}): Promise<CorrectnessReport> {
  const report: CorrectnessReport = { checksRun: [], checksNotRun: [], violations: [], counts: {}, warnings: [] };
  const have = await tables(q);
  const add = (check: string, rows: unknown[]) => {
    report.checksRun.push(check);
    if (rows.length) report.violations.push({ check, count: rows.length, sample: rows.slice(0, 5) });
  };

  if (have.has("holds")) {
    const orderJoin = have.has("orders");
    // A seat is "taken" by an unexpired active hold or by a confirmed hold whose order still stands.
    const takenSql = `
      with taken as (
        select h.id, h.session_id, item
        from holds h
        ${orderJoin ? "left join orders o on o.id = h.order_id" : ""}
        cross join lateral jsonb_array_elements(h.items) as item
        where ((h.status = 'ACTIVE' and h.expires_at > now())
           or (h.status = 'CONFIRMED' ${orderJoin ? "and coalesce(o.status, 'CONFIRMED') not in ('CANCELLED', 'REFUNDED')" : ""}))
          and item->>'areaId' is null
      )
      select session_id, item->>'seatId' as seat_id, count(*)::int as holders, array_agg(id) as holds
      from taken group by 1, 2 having count(*) > 1`;
    add("no seat held or sold twice (holds table)", await q(takenSql));
    const counts = await q("select status, count(*)::int as n from holds group by status");
    for (const r of counts) report.counts[`holds.${r.status}`] = r.n;

    const ackedIds = Object.keys(acked);
    if (ackedIds.length) {
      const missing: unknown[] = [];
      for (let i = 0; i < ackedIds.length; i += 1000) {
        const chunk = ackedIds.slice(i, i + 1000);
        const rows = await q("select id, items from holds where id = any($1)", [chunk]);
        const stored = new Map(rows.map((r) => [String(r.id), (r.items as Array<{ seatId: string }>).map((x) => x.seatId).sort().join(",")]));
        for (const id of chunk) {
          const want = [...acked[id]].sort().join(",");
          if (stored.get(id) !== want) missing.push({ holdId: id, acknowledged: want, stored: stored.get(id) ?? null });
        }
      }
      add(`every acknowledged hold is stored with its seats (${ackedIds.length} holds)`, missing);
      // Holds stored for these sessions that no buyer was told about (e.g. a timed-out call retried
      // by the broker): not a double sale, but seats nobody can buy until the hold expires.
      const sessions = await q("select distinct session_id from holds where id = any($1)", [ackedIds.slice(0, 1000)]);
      const ids = sessions.map((r) => String(r.session_id));
      const stored = await q("select id from holds where session_id = any($1) and status = 'ACTIVE'", [ids]);
      const ackedSet = new Set(ackedIds);
      const orphans = stored.filter((r) => !ackedSet.has(String(r.id))).length;
      report.counts["holds.unacknowledged"] = orphans;
      if (orphans) report.warnings.push(`${orphans} active hold(s) stored that no buyer was told about (seats blocked until they expire)`);
    }
  } else report.checksNotRun.push("holds: table missing");

  if (have.has("tickets")) {
    const cols = await columns(q, "tickets");
    add(
      "no seat has two live tickets",
      await q(`select session_id, seat_id, count(*)::int as n from tickets where status <> 'REVOKED' ${cols.has("area_id") ? "and area_id is null" : ""}
               and seat_id not in (select distinct item->>'areaId' from holds, jsonb_array_elements(items) item where item->>'areaId' is not null)
               group by 1, 2 having count(*) > 1`).catch(() =>
        q("select session_id, seat_id, count(*)::int as n from tickets where status <> 'REVOKED' group by 1, 2 having count(*) > 1"),
      ),
    );
    const n = await q("select status, count(*)::int as n from tickets group by status");
    for (const r of n) report.counts[`tickets.${r.status}`] = r.n;
  } else report.checksNotRun.push("tickets: table missing");

  if (have.has("orders")) {
    const counts = await q("select status, count(*)::int as n from orders group by status");
    for (const r of counts) report.counts[`orders.${r.status}`] = r.n;
    if (have.has("tickets")) {
      add(
        "every confirmed order has one ticket per item",
        await q(`select o.id, jsonb_array_length(o.items)::int as items, count(t.id)::int as tickets
                 from orders o left join tickets t on t.order_id = o.id and t.status <> 'REVOKED'
                 where o.status = 'CONFIRMED' group by o.id, o.items having count(t.id) <> jsonb_array_length(o.items)`),
      );
    } else report.checksNotRun.push("orders -> tickets: tickets table missing");
    if (have.has("holds")) {
      add(
        "every confirmed order's hold is confirmed for that order",
        await q(`select o.id, h.status, h.order_id from orders o left join holds h on h.id = o.hold_id
                 where o.status = 'CONFIRMED' and (h.id is null or h.status <> 'CONFIRMED' or h.order_id is distinct from o.id)`),
      );
    }
    const pending = report.counts["orders.PENDING"] ?? 0;
    if (pending) report.warnings.push(`${pending} order(s) still PENDING when checked`);
  } else report.checksNotRun.push("orders: table missing");

  return report;
}
