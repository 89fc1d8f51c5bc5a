/**
 * SVG seat map for venues up to stadium size (20,000+ seats). One <g> per section, one small
 * <rect> per seat created once; a status change touches only that seat's class attribute. Zoom
 * and pan change the viewBox only (no per-seat work). Keyboard: a roving tabindex (one focusable
 * seat at a time, so Tab does not walk 20,000 seats), arrows move along and across rows, Enter or
 * Space toggles, +/- zoom; the focused seat gets a full aria-label for screen readers.
 */
import { svg, h } from "./dom.js";
import { t, money } from "./i18n.js";

export const CATEGORY_COLORS = ["#6d4aff", "#0fa3b1", "#f25f5c", "#f7b32b", "#2fbf71", "#e05cb9", "#3d7dd8", "#9c6b3f"];

const STATUS_CLASS = { a: "a", h: "h", s: "s", b: "b" };

/** Normalises a status from the API ('a' or 'available', ...) to one char. */
export function statusChar(value) {
  const c = String(value || "").charAt(0).toLowerCase();
  return STATUS_CLASS[c] ? c : "b";
}

export function categoriesOf(layout) {
  const cats = [];
  for (const s of layout.sections || []) for (const r of s.rows || []) for (const seat of r.seats || []) if (!cats.includes(seat.category)) cats.push(seat.category);
  for (const a of layout.areas || []) if (!cats.includes(a.category)) cats.push(a.category);
  return cats;
}

/**
 * createSeatMap({layout, prices, currency, onToggle(i, seat)}) -> controller
 * controller: el, seats, indexOf(id), setStatus(str), applyChanges(changes), status(i),
 *             setMarked(selectedIdx[], mineIdx[]), fit(), destroy()
 */
export function createSeatMap({ layout, prices = {}, currency = "EUR", onToggle }) {
  const categories = categoriesOf(layout);
  const seats = [];
  const rows = []; // {start, end, section}
  (layout.sections || []).forEach((section, si) => {
    for (const row of section.rows || []) {
      const start = seats.length;
      for (const seat of row.seats || []) {
        const sectionName = section.name || section.id;
        const rowName = row.label || row.id;
        // Generated labels repeat section and row ("Stalls A-12"); say each part once.
        let label = String(seat.label || seat.id);
        if (label.startsWith(`${sectionName} `)) label = label.slice(sectionName.length + 1);
        if (label.startsWith(`${rowName}-`)) label = label.slice(rowName.length + 1);
        seats.push({ ...seat, fullLabel: seat.label, label, section: sectionName, sectionIndex: si, row: rowName, rowIndex: rows.length });
      }
      if (seats.length > start) rows.push({ start, end: seats.length, section: si });
    }
  });
  const n = seats.length;
  const index = new Map(seats.map((s, i) => [s.id, i]));
  const status = new Uint8Array(n).fill(97); // 'a'
  const marks = new Uint8Array(n); // 0 none, 1 selected, 2 mine (held by me)

  // Seat size from the typical spacing of neighbours in a row, so any coordinate unit works.
  const gaps = [];
  for (const r of rows.slice(0, 200)) for (let i = r.start + 1; i < Math.min(r.end, r.start + 5); i++) {
    const d = Math.hypot(seats[i].x - seats[i - 1].x, seats[i].y - seats[i - 1].y);
    if (d > 0) gaps.push(d);
  }
  gaps.sort((a, b) => a - b);
  const pitch = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 10;
  const size = pitch * 0.82;

  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const s of seats) {
    if (s.x < minX) minX = s.x;
    if (s.y < minY) minY = s.y;
    if (s.x > maxX) maxX = s.x;
    if (s.y > maxY) maxY = s.y;
  }
  if (!n) { minX = 0; minY = 0; maxX = 100; maxY = 60; }
  const pad = Math.max(pitch * 3, Math.max(maxX - minX, maxY - minY) * 0.03);
  const full = { x: minX - pad, y: minY - pad * 2.2, w: maxX - minX + 2 * pad, h: maxY - minY + pad * 3.2 };
  let vb = { ...full };

  const root = svg("svg", {
    class: "seatmap-svg", role: "application", "aria-roledescription": "seat map", "aria-label": t("map.help"),
    viewBox: `${full.x} ${full.y} ${full.w} ${full.h}`, preserveAspectRatio: "xMidYMid meet",
  });
  const world = svg("g", { class: "world" });
  root.append(world);
  if (n) {
    // Row A is the front (layouts run front to back along y): the stage is above it.
    const w = (maxX - minX) * 0.6 + pitch * 4;
    const cx = (minX + maxX) / 2;
    world.append(
      svg("rect", { class: "stage", x: cx - w / 2, y: minY - pad * 1.9, width: w, height: pad * 0.72, rx: pad * 0.33 }),
      svg("text", { class: "stage-label", x: cx, y: minY - pad * 1.9 + pad * 0.5, "font-size": pad * 0.43, "text-anchor": "middle", "aria-hidden": "true" }, t("map.stage")));
  }
  const rects = new Array(n);
  const sectionGroups = [];
  (layout.sections || []).forEach((section, si) => {
    const g = svg("g", { class: "section", "data-section": section.id });
    let sx = Infinity, sy = Infinity, ex = -Infinity;
    for (let i = 0; i < n; i++) {
      if (seats[i].sectionIndex !== si) continue;
      const s = seats[i];
      const c = Math.max(0, categories.indexOf(s.category)) % CATEGORY_COLORS.length;
      const rect = svg("rect", { x: s.x - size / 2, y: s.y - size / 2, width: size, height: size, rx: size * 0.28, class: `seat c${c} a`, "data-i": i });
      rects[i] = rect;
      g.append(rect);
      if (s.x < sx) sx = s.x;
      if (s.y < sy) sy = s.y;
      if (s.x > ex) ex = s.x;
    }
    if (sx !== Infinity) {
      const count = (section.rows || []).reduce((a, r) => a + (r.seats || []).length, 0);
      if (count > 800) {
        // A stand of thousands of seats: its name big across it, hidden once zoomed in.
        let ey = sy;
        for (let i = 0; i < n; i++) if (seats[i].sectionIndex === si && seats[i].y > ey) ey = seats[i].y;
        const size = Math.min((ex - sx) / 11, (ey - sy) / 3);
        g.append(svg("text", { class: "section-label big", x: (sx + ex) / 2, y: (sy + ey) / 2 + size * 0.35, "font-size": size, "text-anchor": "middle", "aria-hidden": "true" }, section.name || section.id));
      }
      g.append(svg("text", { class: `section-label${count > 800 ? " near" : ""}`, x: (sx + ex) / 2, y: sy - pitch * 0.9, "font-size": pitch * 1.1, "text-anchor": "middle", "aria-hidden": "true" }, section.name || section.id));
    }
    sectionGroups.push(g);
    world.append(g);
  });

  const tooltip = h("div", { class: "seat-tip", "aria-hidden": "true" });
  const live = h("div", { class: "sr-only", "aria-live": "polite" });
  const el = h("div", { class: "seatmap" }, root, tooltip, live);

  function priceOf(seat) {
    const cents = prices[seat.category];
    return typeof cents === "number" ? money(cents, currency) : "";
  }

  function statusWord(i) {
    if (marks[i] === 1 || marks[i] === 2) return t("status.mine");
    return t(`status.${String.fromCharCode(status[i])}`);
  }

  function describe(i) {
    const s = seats[i];
    return t("map.seat", { section: s.section, row: s.row, seat: s.label, category: s.category, price: priceOf(s), status: statusWord(i) });
  }

  function paint(i) {
    const rect = rects[i];
    if (!rect) return;
    const c = Math.max(0, categories.indexOf(seats[i].category)) % CATEGORY_COLORS.length;
    const state = marks[i] === 2 ? "mine" : marks[i] === 1 ? "sel" : String.fromCharCode(status[i]);
    rect.setAttribute("class", `seat c${c} ${state}`);
    if (rect === focused) {
      rect.setAttribute("aria-label", describe(i));
      rect.setAttribute("aria-pressed", marks[i] ? "true" : "false");
    }
  }

  // ---- viewBox: zoom and pan ----
  let frame = 0;
  // During a gesture the already drawn picture is moved and scaled by the compositor (a CSS
  // transform on the <svg>); the viewBox, which makes the browser redraw every seat, is set once
  // the gesture rests. That keeps zoom and pan fluid with 20,000+ seats.
  let committed = { ...vb };
  let commitTimer = 0;
  function fitOf(view) {
    const W = el.clientWidth || 1;
    const H = el.clientHeight || 1;
    const k = Math.min(W / view.w, H / view.h);
    return { W, H, k, ox: (W - view.w * k) / 2, oy: (H - view.h * k) / 2 };
  }
  function applyViewBox() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      const f = fitOf(committed);
      const s = committed.w / vb.w;
      // Where the new view's centre is drawn now, relative to the element's centre.
      const cx = f.ox + (vb.x + vb.w / 2 - committed.x) * f.k - f.W / 2;
      const cy = f.oy + (vb.y + vb.h / 2 - committed.y) * f.k - f.H / 2;
      root.style.transform = `translate(${-cx * s}px, ${-cy * s}px) scale(${s})`;
      el.classList.toggle("zoomed", vb.w < full.w * 0.6);
      clearTimeout(commitTimer);
      commitTimer = setTimeout(commit, 180);
    });
  }
  function commit() {
    committed = { ...vb };
    root.setAttribute("viewBox", `${vb.x} ${vb.y} ${vb.w} ${vb.h}`);
    root.style.transform = "";
  }
  function clampView() {
    const minW = pitch * 8;
    vb.w = Math.min(Math.max(vb.w, minW), full.w * 1.5);
    vb.h = vb.w * (full.h / full.w);
    vb.x = Math.min(Math.max(vb.x, full.x - vb.w * 0.5), full.x + full.w - vb.w * 0.5);
    vb.y = Math.min(Math.max(vb.y, full.y - vb.h * 0.5), full.y + full.h - vb.h * 0.5);
  }
  /** Zooms by `factor` (>1 in) keeping the world point (cx, cy) where it is. */
  function zoom(factor, cx = vb.x + vb.w / 2, cy = vb.y + vb.h / 2) {
    const w = vb.w / factor;
    const hh = vb.h / factor;
    vb = { x: cx - ((cx - vb.x) * w) / vb.w, y: cy - ((cy - vb.y) * hh) / vb.h, w, h: hh };
    clampView();
    applyViewBox();
  }
  function fit() {
    vb = { ...full };
    applyViewBox();
  }
  function toWorld(clientX, clientY) {
    const box = el.getBoundingClientRect();
    const f = fitOf(vb);
    return { x: vb.x + (clientX - box.left - f.ox) / f.k, y: vb.y + (clientY - box.top - f.oy) / f.k };
  }
  function ensureVisible(i) {
    const s = seats[i];
    const m = pitch * 2;
    if (s.x < vb.x + m || s.x > vb.x + vb.w - m || s.y < vb.y + m || s.y > vb.y + vb.h - m) {
      vb.x = s.x - vb.w / 2;
      vb.y = s.y - vb.h / 2;
      clampView();
      applyViewBox();
    }
  }

  root.addEventListener("wheel", (e) => {
    e.preventDefault();
    const p = toWorld(e.clientX, e.clientY);
    zoom(Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), p.x, p.y);
  }, { passive: false });

  // Pointer: drag pans, two fingers pinch-zoom, a tap without movement toggles the seat under it.
  const pointers = new Map();
  let dragStart = null;
  let moved = false;
  let pinchDist = 0;
  root.addEventListener("pointerdown", (e) => {
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pointers.size === 1) {
      dragStart = { x: e.clientX, y: e.clientY, vb: { ...vb } };
      moved = false;
    } else if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinchDist = Math.hypot(a.x - b.x, a.y - b.y);
      moved = true;
    }
  });
  root.addEventListener("pointermove", (e) => {
    if (pointers.has(e.pointerId)) pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      const d = Math.hypot(a.x - b.x, a.y - b.y);
      if (pinchDist > 0 && d > 0) {
        const mid = toWorld((a.x + b.x) / 2, (a.y + b.y) / 2);
        zoom(d / pinchDist, mid.x, mid.y);
      }
      pinchDist = d;
      return;
    }
    if (dragStart && pointers.size === 1) {
      const dx = e.clientX - dragStart.x;
      const dy = e.clientY - dragStart.y;
      if (!moved && Math.hypot(dx, dy) > 6) {
        moved = true;
        root.setPointerCapture(e.pointerId);
        el.classList.add("panning");
      }
      if (moved) {
        const rect = el.getBoundingClientRect();
        const scale = Math.max(dragStart.vb.w / rect.width, dragStart.vb.h / rect.height);
        vb.x = dragStart.vb.x - dx * scale;
        vb.y = dragStart.vb.y - dy * scale;
        clampView();
        applyViewBox();
      }
    } else if (e.pointerType === "mouse") {
      hover(e);
    }
  });
  function endPointer(e) {
    const wasTap = pointers.size === 1 && !moved;
    pointers.delete(e.pointerId);
    if (pointers.size === 0) {
      el.classList.remove("panning");
      if (wasTap && e.type === "pointerup") {
        const i = seatAt(e.target);
        if (i >= 0) {
          setFocus(i, false);
          toggle(i);
        }
      }
      dragStart = null;
    }
    if (pointers.size < 2) pinchDist = 0;
  }
  root.addEventListener("pointerup", endPointer);
  root.addEventListener("pointercancel", endPointer);
  root.addEventListener("pointerleave", () => tooltip.classList.remove("show"));

  function seatAt(target) {
    if (!target || !target.getAttribute) return -1;
    const v = target.getAttribute("data-i");
    return v === null ? -1 : Number(v);
  }

  function hover(e) {
    const i = seatAt(e.target);
    if (i < 0) return tooltip.classList.remove("show");
    const s = seats[i];
    tooltip.textContent = `${s.section} · ${s.row} · ${s.label} — ${s.category} ${priceOf(s)} · ${statusWord(i)}`;
    const box = el.getBoundingClientRect();
    tooltip.style.left = `${e.clientX - box.left + 12}px`;
    tooltip.style.top = `${e.clientY - box.top + 12}px`;
    tooltip.classList.add("show");
  }

  function toggle(i) {
    if (onToggle) onToggle(i, seats[i]);
  }

  // ---- keyboard: roving tabindex ----
  let focused = null;
  function setFocus(i, move = true) {
    if (i < 0 || i >= n) return;
    if (focused) {
      focused.removeAttribute("tabindex");
      focused.removeAttribute("aria-label");
      focused.removeAttribute("role");
      focused.removeAttribute("aria-pressed");
      focused.classList.remove("focus");
    }
    focused = rects[i];
    focused.setAttribute("tabindex", "0");
    focused.setAttribute("role", "button");
    focused.setAttribute("aria-label", describe(i));
    focused.setAttribute("aria-pressed", marks[i] ? "true" : "false");
    if (move) {
      ensureVisible(i);
      focused.focus({ preventScroll: true });
    }
  }
  function nearestInRow(r, x) {
    let best = r.start;
    for (let i = r.start; i < r.end; i++) if (Math.abs(seats[i].x - x) < Math.abs(seats[best].x - x)) best = i;
    return best;
  }
  root.addEventListener("keydown", (e) => {
    const i = seatAt(e.target);
    if (e.key === "+" || e.key === "=") { zoom(1.4); e.preventDefault(); return; }
    if (e.key === "-" || e.key === "_") { zoom(1 / 1.4); e.preventDefault(); return; }
    if (i < 0) return;
    const s = seats[i];
    const row = rows[s.rowIndex];
    let next = -1;
    if (e.key === "ArrowRight") next = i + 1 < row.end ? i + 1 : (rows[s.rowIndex + 1] ? rows[s.rowIndex + 1].start : -1);
    else if (e.key === "ArrowLeft") next = i - 1 >= row.start ? i - 1 : (rows[s.rowIndex - 1] ? rows[s.rowIndex - 1].end - 1 : -1);
    else if (e.key === "ArrowDown" && rows[s.rowIndex + 1]) next = nearestInRow(rows[s.rowIndex + 1], s.x);
    else if (e.key === "ArrowUp" && rows[s.rowIndex - 1]) next = nearestInRow(rows[s.rowIndex - 1], s.x);
    else if (e.key === "Home") next = row.start;
    else if (e.key === "End") next = row.end - 1;
    else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      toggle(i);
      live.textContent = describe(i);
      return;
    } else return;
    e.preventDefault();
    if (next >= 0) setFocus(next);
  });
  if (n) setFocus(0, false);

  return {
    el,
    seats,
    size: n,
    indexOf: (id) => (index.has(id) ? index.get(id) : -1),
    status: (i) => String.fromCharCode(status[i]),
    counts() {
      const c = { a: 0, h: 0, s: 0, b: 0 };
      for (let i = 0; i < n; i++) c[String.fromCharCode(status[i])]++;
      return c;
    },
    /** Full status string from the seat map (one char per seat, canonical order). */
    setStatus(str) {
      for (let i = 0; i < n; i++) {
        const code = (str.charCodeAt(i) || 98);
        if (status[i] !== code) {
          status[i] = code;
          paint(i);
        }
      }
    },
    /** Returns the indexes whose status changed. */
    applyChanges(changes) {
      const changed = [];
      for (const ch of changes || []) {
        const i = index.get(ch.seatId);
        if (i === undefined) continue;
        const code = statusChar(ch.status).charCodeAt(0);
        if (status[i] !== code) {
          status[i] = code;
          paint(i);
          changed.push(i);
        }
      }
      return changed;
    },
    setMarked(selected, mine) {
      const next = new Uint8Array(n);
      for (const i of selected) next[i] = 1;
      for (const i of mine) next[i] = 2;
      for (let i = 0; i < n; i++) {
        if (next[i] !== marks[i]) {
          marks[i] = next[i];
          paint(i);
        }
      }
    },
    /** Makes the first free seat the one Tab lands on (without moving focus there now). */
    tabToFirstAvailable() {
      for (let i = 0; i < n; i++) if (status[i] === 97) return setFocus(i, false);
    },
    zoomIn: () => zoom(1.5),
    zoomOut: () => zoom(1 / 1.5),
    fit,
    destroy() {
      if (frame) window.cancelAnimationFrame(frame);
      clearTimeout(commitTimer);
    },
  };
}
