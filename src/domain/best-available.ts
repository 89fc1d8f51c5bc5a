/**
 * "Best available" seat selection, after seats.io's bestAvailable: N seats side by side in one
 * row, in the best row that has them, as central as possible, and never leaving a single seat
 * stranded between a selection and the row's edge or a taken seat (nobody buys that seat).
 * A placement that strands one seat is used only when no other placement exists anywhere.
 *
 * Pure: it sees the map through `isFree` and the row boundaries, so it is testable on its own.
 */

export interface RowsView {
  /** rowStart[r]..rowStart[r+1]-1 are the seat indexes of row r, in physical order; rows are in best-first order. */
  rowStart: Int32Array;
  /** Free seats per row (any category): rows with fewer than `quantity` are skipped without a scan. */
  rowFree: Int32Array;
  isFree(seat: number): boolean;
}

interface Placement {
  start: number;
  strands: number;
  row: number;
  offCentre: number;
}

function better(a: Placement, b: Placement | null): boolean {
  if (!b) return true;
  if ((a.strands > 0) !== (b.strands > 0)) return a.strands === 0;
  if (a.row !== b.row) return a.row < b.row;
  return a.offCentre < b.offCentre;
}

/** `quantity` adjacent free seats in one row, or null if no row has that many side by side. */
export function bestAdjacent(view: RowsView, quantity: number): number[] | null {
  if (!(quantity >= 1)) throw new Error(`bestAdjacent: quantity ${quantity}`);
  const rows = view.rowStart.length - 1;
  let best: Placement | null = null;
  for (let r = 0; r < rows; r++) {
    // Rows are best-first, so a clean placement in an earlier row cannot be beaten.
    if (best && best.strands === 0 && best.row < r) break;
    if (view.rowFree[r] < quantity) continue;
    const first = view.rowStart[r];
    const end = view.rowStart[r + 1];
    const centre = (first + end - 1) / 2;
    let i = first;
    while (i < end) {
      if (!view.isFree(i)) {
        i++;
        continue;
      }
      let runEnd = i;
      while (runEnd < end && view.isFree(runEnd)) runEnd++;
      for (let s = i; s + quantity <= runEnd; s++) {
        const left = s - i;
        const right = runEnd - (s + quantity);
        const candidate: Placement = {
          start: s,
          strands: (left === 1 ? 1 : 0) + (right === 1 ? 1 : 0),
          row: r,
          offCentre: Math.abs(s + (quantity - 1) / 2 - centre),
        };
        if (better(candidate, best)) best = candidate;
      }
      i = runEnd;
    }
  }
  if (!best) return null;
  const out: number[] = [];
  for (let k = 0; k < quantity; k++) out.push(best.start + k);
  return out;
}

/**
 * `quantity` free seats, best rows first and central seats first within a row, not necessarily
 * together: the fallback when the buyer did not insist on adjacent seats and no row has them.
 */
export function bestScattered(view: RowsView, quantity: number): number[] | null {
  const out: number[] = [];
  const rows = view.rowStart.length - 1;
  for (let r = 0; r < rows && out.length < quantity; r++) {
    if (view.rowFree[r] === 0) continue;
    const first = view.rowStart[r];
    const end = view.rowStart[r + 1];
    const centre = (first + end - 1) / 2;
    const free: number[] = [];
    for (let i = first; i < end; i++) if (view.isFree(i)) free.push(i);
    free.sort((a, b) => Math.abs(a - centre) - Math.abs(b - centre) || a - b);
    for (const seat of free) {
      if (out.length === quantity) break;
      out.push(seat);
    }
  }
  return out.length === quantity ? out.sort((a, b) => a - b) : null;
}
