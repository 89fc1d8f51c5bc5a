/**
 * Shop: events list (search + filters), an event with its dates, and a session's seat map with
 * selection, best-available, GA, hold countdown, card checkout and live order status.
 * Routes: #/ , #/event/:id , #/session/:id
 */
import { api, itemsOf, currentUser, ApiError, serverNow } from "../lib/api.js";
import { t, getLang, money, dateTime, eventText } from "../lib/i18n.js";
import { h, render, notify, field, showFieldErrors, fieldErrorsOf, debounce, emit, currentRouteName } from "../lib/dom.js";
import { createSeatMap, categoriesOf, statusChar, CATEGORY_COLORS } from "../lib/seatmap.js";

export async function mount(root, route) {
  if (route.name === "event" && route.parts[1]) return eventPage(root, route.parts[1]);
  if (route.name === "session" && route.parts[1]) return sessionPage(root, route.parts[1]);
  return eventsPage(root, route);
}

// Same-origin images only: the UI never makes the browser fetch from another site.
function eventImage(event) {
  const url = Array.isArray(event.images) ? event.images.find((u) => typeof u === "string" && u.startsWith("/") && !u.startsWith("//")) : null;
  if (url) return h("img", { class: "event-img", src: url, alt: "", loading: "lazy" });
  const seed = [...String(event.id || event.title || "")].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7);
  const c1 = CATEGORY_COLORS[seed % CATEGORY_COLORS.length];
  const c2 = CATEGORY_COLORS[(seed >>> 3) % CATEGORY_COLORS.length];
  const initial = (eventText(event, "title") || "?").trim().charAt(0).toUpperCase();
  return h("div", { class: "event-img placeholder", style: `--c1:${c1};--c2:${c2}`, "aria-hidden": "true" }, initial);
}

function statusBadge(onSale) {
  return h("span", { class: `badge ${onSale ? "ok" : "muted"}` }, onSale ? t("shop.onSale") : t("shop.notOnSale"));
}

/**
 * A session's sales window ({opens, closes} in ms; opens -Infinity without salesOpenAt), or null
 * when its event or the session itself is not for sale (the rule of the API's `onSale`).
 */
function salesWindow(ev, s) {
  if ((ev && ev.status && ev.status !== "on_sale") || (s.status && s.status !== "scheduled")) return null;
  return { opens: s.salesOpenAt ? Date.parse(s.salesOpenAt) : -Infinity, closes: s.salesCloseAt ? Date.parse(s.salesCloseAt) : Date.parse(s.startsAt) };
}

/** When a session not on sale yet goes on sale by itself: that moment on the server's clock, else null. */
function saleOpensAt(ev, s) {
  const w = salesWindow(ev, s);
  return w && w.opens > serverNow() && !(w.closes <= w.opens) ? w.opens : null;
}

/** "1:02:03" / "4:05" until `at`. */
function timeUntil(at) {
  const left = Math.max(0, Math.ceil((at - serverNow()) / 1000));
  const hours = Math.floor(left / 3600);
  const minutes = Math.floor((left % 3600) / 60);
  return hours ? `${hours}:${pad2(minutes)}:${pad2(left % 60)}` : `${minutes}:${pad2(left % 60)}`;
}

/** Within a day, the opening counts down to the second; further ahead, its date. */
const COUNTDOWN_MS = 86_400_000;

function opensText(at) {
  return at - serverNow() > COUNTDOWN_MS ? t("shop.opensAt", { date: dateTime(new Date(at).toISOString()) }) : t("shop.opensIn", { time: timeUntil(at) });
}

// ---------------------------------------------------------------- events list

async function eventsPage(root, route) {
  const q = route.query || {};
  const search = h("input", { type: "search", name: "q", placeholder: t("shop.search"), "aria-label": t("shop.search"), value: q.q || "", maxlength: "100" });
  const category = h("input", { name: "category", list: "tf-categories", value: q.category || "", maxlength: "50", placeholder: t("shop.all") });
  const city = h("input", { name: "city", list: "tf-cities", value: q.city || "", maxlength: "100", placeholder: t("shop.all") });
  const from = h("input", { type: "date", name: "from", value: q.from || "" });
  const to = h("input", { type: "date", name: "to", value: q.to || "" });
  const catList = h("datalist", { id: "tf-categories" });
  const cityList = h("datalist", { id: "tf-cities" });
  const summary = h("p", { class: "muted", role: "status" });
  const grid = h("div", { class: "event-grid" });
  const more = h("div", { class: "more" });

  render(root,
    h("section", { class: "hero" },
      h("h1", null, t("shop.title")),
      h("p", { class: "tagline" }, t("app.tagline")),
      h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); load(1); } },
        h("div", { class: "search-wrap" }, search),
        h("div", { class: "filter-row" },
          field(t("shop.category"), category), field(t("shop.city"), city), field(t("shop.from"), from), field(t("shop.to"), to)),
        catList, cityList)),
    summary, grid, more);

  let controller = null;
  let mounted = true;
  const known = { categories: new Set(), cities: new Set() };

  async function load(page) {
    if (!mounted) return;
    if (controller) controller.abort();
    controller = new AbortController();
    const params = { q: search.value.trim(), category: category.value.trim(), city: city.value.trim(), lang: getLang(), page, pageSize: 24 };
    if (from.value) params.from = new Date(`${from.value}T00:00:00`).toISOString();
    if (to.value) params.to = new Date(`${to.value}T23:59:59`).toISOString();
    // Keep the filters in the address so a search can be shared and survives reload; but only
    // while the address is still the list's: the buyer may already be on their way to an event
    // (the hashchange not yet handled), and rewriting it then would send them back here.
    const share = new URLSearchParams();
    for (const k of ["q", "category", "city"]) if (params[k]) share.set(k, params[k]);
    if (from.value) share.set("from", from.value);
    if (to.value) share.set("to", to.value);
    const address = `#/${share.toString() ? `?${share}` : ""}`;
    if (currentRouteName() === "" && location.hash !== address) history.replaceState(null, "", address);
    if (page === 1) render(grid, ...Array.from({ length: 6 }, () => h("div", { class: "event-card skeleton", "aria-hidden": "true" })));
    try {
      const answer = await api("/api/events", { query: params, signal: controller.signal });
      const items = itemsOf(answer);
      if (page === 1) render(grid);
      for (const ev of items) {
        if (ev.category) known.categories.add(ev.category);
        if (ev.city) known.cities.add(ev.city);
        grid.append(eventCard(ev));
      }
      render(catList, ...[...known.categories].sort().map((c) => h("option", { value: c })));
      render(cityList, ...[...known.cities].sort().map((c) => h("option", { value: c })));
      const total = typeof answer.total === "number" ? answer.total : items.length;
      summary.textContent = total ? t("shop.results", { n: total }) : "";
      if (!total) render(grid, h("div", { class: "empty card" }, t("shop.none")));
      const shown = grid.querySelectorAll(".event-card").length;
      render(more, shown < total ? h("button", { class: "btn", onclick: () => load(page + 1) }, "+") : null);
    } catch (err) {
      if (err.name === "AbortError") return;
      render(grid, h("div", { class: "empty card error" }, err.message));
    }
  }

  const reload = debounce(() => load(1), 250);
  search.addEventListener("input", reload);
  for (const el of [category, city, from, to]) el.addEventListener("change", reload);
  await load(1);
  return () => {
    mounted = false;
    reload.cancel();
    if (controller) controller.abort();
  };
}

function eventCard(ev) {
  const title = eventText(ev, "title");
  const first = Array.isArray(ev.sessions) && ev.sessions.length ? ev.sessions[0] : null;
  return h("a", { class: "event-card", href: `#/event/${encodeURIComponent(ev.id)}`, "data-testid": "event-card" },
    eventImage(ev),
    h("div", { class: "event-body" },
      h("div", { class: "event-meta" }, ev.category ? h("span", { class: "chip" }, ev.category) : null, ev.city ? h("span", { class: "muted" }, ev.city) : null),
      h("h3", null, title),
      first && first.startsAt ? h("div", { class: "muted small" }, dateTime(first.startsAt)) : (ev.nextSessionAt ? h("div", { class: "muted small" }, dateTime(ev.nextSessionAt)) : null)));
}

// ---------------------------------------------------------------- event page

const venueCache = new Map();
function venue(id) {
  if (!venueCache.has(id)) {
    const p = api(`/api/venues/${encodeURIComponent(id)}`);
    p.catch(() => venueCache.delete(id));
    venueCache.set(id, p);
  }
  return venueCache.get(id);
}

function sessionOnSale(ev, s) {
  if (typeof s.onSale === "boolean") return s.onSale;
  const w = salesWindow(ev, s);
  const now = serverNow();
  return !!w && w.opens <= now && !(w.closes <= now);
}

function minPrice(s) {
  const vals = Object.values(s.prices || {}).filter((v) => typeof v === "number");
  return vals.length ? Math.min(...vals) : null;
}

async function eventPage(root, id) {
  const ev = await api(`/api/events/${encodeURIComponent(id)}`, { query: { lang: getLang() } });
  let sessions = Array.isArray(ev.sessions) ? ev.sessions : null;
  if (!sessions) sessions = itemsOf(await api("/api/sessions", { query: { eventId: id } }));
  sessions = [...sessions].sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt));
  const list = h("ul", { class: "session-list" });
  render(root,
    h("a", { class: "back", href: "#/" }, "← ", t("shop.back")),
    h("section", { class: "event-hero" },
      eventImage(ev),
      h("div", null,
        h("div", { class: "event-meta" }, ev.category ? h("span", { class: "chip" }, ev.category) : null, ev.city ? h("span", { class: "muted" }, ev.city) : null),
        h("h1", null, eventText(ev, "title")),
        h("p", { class: "description" }, eventText(ev, "description")))),
    h("h2", null, t("shop.sessions")),
    sessions.length ? list : h("p", { class: "muted" }, t("shop.noSessions")));
  // Sessions whose sale opens while the page is open: it counts down and opens them itself, so
  // that buyers waiting for a sale need not reload the page the second it opens.
  const opening = [];
  const chooseLink = (s) => h("a", { class: "btn primary", href: `#/session/${encodeURIComponent(s.id)}`, "data-testid": "choose-seats" }, t("shop.choose"));
  for (const s of sessions) {
    const venueName = h("span", { class: "muted" });
    const price = minPrice(s);
    const onSale = sessionOnSale(ev, s);
    const opensAt = onSale ? null : saleOpensAt(ev, s);
    const badge = opensAt ? h("span", { class: "badge muted", "data-testid": "opens-in" }, opensText(opensAt)) : statusBadge(onSale);
    const item = h("li", { class: "session-item card" },
      h("div", { class: "session-date" },
        h("strong", null, dateTime(s.startsAt, { weekday: "short", day: "numeric", month: "short" })),
        h("span", null, dateTime(s.startsAt, { timeStyle: "short" }))),
      h("div", { class: "session-info" }, venueName, price !== null ? h("span", null, t("shop.from.price", { price: money(price, s.currency) })) : null, badge),
      onSale ? chooseLink(s) : null);
    list.append(item);
    if (opensAt) opening.push({ s, at: opensAt, badge, item });
    if (s.venue && s.venue.name) venueName.textContent = [s.venue.name, s.venue.city].filter(Boolean).join(", ");
    else if (s.venueId) venue(s.venueId).then((v) => { venueName.textContent = [v.name, v.city].filter(Boolean).join(", "); }).catch(() => {});
  }
  if (!opening.length) return undefined;
  const tick = setInterval(() => {
    for (const o of opening) {
      if (o.opened) continue;
      if (serverNow() < o.at) {
        o.badge.textContent = opensText(o.at);
        continue;
      }
      o.opened = true;
      o.badge.replaceWith(statusBadge(true));
      o.item.append(chooseLink(o.s));
    }
    if (opening.every((o) => o.opened)) clearInterval(tick);
  }, 1000);
  return () => clearInterval(tick);
}

// ---------------------------------------------------------------- session page

function pad2(n) {
  return String(n).padStart(2, "0");
}

function failureMessage(reason) {
  const r = String(reason || "").toLowerCase();
  if (r.includes("insufficient")) return t("order.insufficient");
  if (r.includes("declin")) return t("order.declined");
  if (r.includes("expire")) return t("order.expired");
  if (r.includes("interrupt") || r === "payment_failed") return t("order.failedOther", { reason: t("err.generic") });
  return t("order.failedOther", { reason: reason || t("err.generic") });
}

async function sessionPage(root, sessionId) {
  const session = await api(`/api/sessions/${encodeURIComponent(sessionId)}`);
  const [venueData, ev, initialMap] = await Promise.all([
    session.venue && session.venue.layout ? session.venue : venue(session.venueId),
    api(`/api/events/${encodeURIComponent(session.eventId)}`, { query: { lang: getLang() } }).catch(() => null),
    // The layout gives the seats in the status string's order: the seat ids are not needed again.
    api(`/api/sessions/${encodeURIComponent(sessionId)}/seat-map`, { query: { statusOnly: 1 } }),
  ]);
  const layout = venueData.layout || { sections: [], areas: [] };
  const prices = initialMap.prices || session.prices || {};
  const currency = session.currency || "EUR";
  const maxPer = session.maxPerCustomer || 10;
  // A sale that opens while the page is open: seats can be looked at, and held from that moment.
  const opensAt = session.onSale === false ? saleOpensAt(session.event, session) : null;
  const notOpenYet = () => opensAt !== null && serverNow() < opensAt;
  const categories = categoriesOf(layout);
  let version = initialMap.version || 0;

  // State of this page.
  const selected = new Set(); // seat indexes picked, not yet held
  let hold = null; // the API's hold object
  let order = null; // {orderId, status, reason}
  let timers = [];
  const holdKey = `tf.hold.${sessionId}`;

  const map = createSeatMap({ layout, prices, currency, onToggle });
  map.setStatus(initialMap.status || "");
  map.tabToFirstAvailable();
  const mapToolbar = h("div", { class: "map-tools", role: "toolbar", "aria-label": t("map.legend") },
    h("button", { class: "icon-btn", type: "button", "aria-label": t("map.zoomIn"), title: t("map.zoomIn"), onclick: () => map.zoomIn() }, "+"),
    h("button", { class: "icon-btn", type: "button", "aria-label": t("map.zoomOut"), title: t("map.zoomOut"), onclick: () => map.zoomOut() }, "−"),
    h("button", { class: "icon-btn", type: "button", "aria-label": t("map.reset"), title: t("map.reset"), onclick: () => map.fit() }, "⤢"));
  const legend = h("ul", { class: "legend", "aria-label": t("map.legend") },
    ...categories.map((c, i) => h("li", null, h("span", { class: "swatch", style: `background:${CATEGORY_COLORS[i % CATEGORY_COLORS.length]}` }), c, " ",
      h("span", { class: "muted" }, typeof prices[c] === "number" ? money(prices[c], currency) : ""))),
    h("li", null, h("span", { class: "swatch sel" }), t("map.selected")),
    h("li", null, h("span", { class: "swatch taken" }), t("map.sold")));
  const liveNote = h("div", { class: "live-note", role: "status" });
  const side = h("aside", { class: "panel", "aria-live": "polite" });
  const gaBox = h("div", { class: "ga" });

  render(root,
    h("a", { class: "back", href: `#/event/${encodeURIComponent(session.eventId)}` }, "← ", t("shop.back")),
    h("header", { class: "session-head" },
      h("h1", null, ev ? eventText(ev, "title") : ""),
      h("p", { class: "muted" }, [dateTime(session.startsAt, { dateStyle: "full", timeStyle: "short" }), [venueData.name, venueData.city].filter(Boolean).join(", ")].filter(Boolean).join(" · "))),
    h("div", { class: "session-layout" },
      h("div", { class: "map-card card" }, map.size ? [mapToolbar, map.el, legend] : null, gaBox, liveNote),
      side));

  // ---- GA areas ----
  let gaAreas = initialMap.areas;
  function renderGa(areas = gaAreas) {
    gaAreas = areas;
    const defs = layout.areas || [];
    if (!defs.length) return render(gaBox);
    const stock = new Map((areas || []).map((a) => [a.id, a]));
    render(gaBox, h("h2", null, t("sel.ga")), ...defs.map((a) => {
      const avail = stock.has(a.id) ? stock.get(a.id).available : a.capacity;
      const qty = h("input", { type: "number", min: "1", max: String(Math.max(1, Math.min(maxPer, avail))), value: "1", name: `ga-${a.id}`, "aria-label": `${a.name} ${t("sel.qty")}`, class: "qty" });
      return h("div", { class: "ga-area", "data-area": a.id },
        h("div", null, h("strong", null, a.name), " ", h("span", { class: "muted" }, a.category, " · ", typeof prices[a.category] === "number" ? money(prices[a.category], currency) : "")),
        h("span", { class: `badge ${avail > 0 ? "ok" : "muted"}` }, t("sel.gaLeft", { n: avail })),
        h("div", { class: "qty-row" },
          h("button", { class: "icon-btn", type: "button", "aria-label": "−", onclick: () => { qty.value = String(Math.max(1, Number(qty.value) - 1)); } }, "−"),
          qty,
          h("button", { class: "icon-btn", type: "button", "aria-label": "+", onclick: () => { qty.value = String(Math.min(Number(qty.max), Number(qty.value) + 1)); } }, "+"),
          h("button", { class: "btn primary", type: "button", disabled: avail <= 0 || !!hold || notOpenYet(), onclick: () => {
            const n = Number(qty.value);
            if (!Number.isInteger(n) || n < 1 || n > Math.min(maxPer, avail)) return notify(t("v.number", { min: 1, max: Math.min(maxPer, avail) }), "error");
            createHold({ quantity: n, area: a.id });
          } }, t("sel.gaHold"))));
    }));
  }
  renderGa(initialMap.areas);

  // ---- selection ----
  function onToggle(i) {
    if (hold || (order && order.status === "PENDING")) return;
    // A finished order's panel gives way to a new selection.
    if (order) {
      order = null;
      clearInterval(polling);
    }
    if (selected.has(i)) selected.delete(i);
    else {
      if (map.status(i) !== "a") return;
      if (selected.size >= maxPer) return notify(t("sel.max", { n: maxPer }), "error");
      selected.add(i);
    }
    refreshMarks();
    renderSide();
  }

  function refreshMarks() {
    const mine = hold && hold.status !== "RELEASED" ? (hold.seats || []).map((id) => map.indexOf(id)).filter((i) => i >= 0) : [];
    map.setMarked([...selected], mine);
  }

  function seatRows(indexes) {
    let total = 0;
    const lines = indexes.map((i) => {
      const s = map.seats[i];
      const p = prices[s.category];
      if (typeof p === "number") total += p;
      return h("li", null, h("span", null, `${s.section} · ${t("tickets.seat")} ${s.row}-${s.label}`), h("span", { class: "muted" }, s.category, " ", typeof p === "number" ? money(p, currency) : ""));
    });
    return { lines, total };
  }

  function holdItems() {
    // Hold items name seats and GA admissions; fall back to the seat ids.
    if (Array.isArray(hold.items) && hold.items.length) return hold.items;
    return (hold.seats || []).map((id) => {
      const i = map.indexOf(id);
      return i >= 0 ? { seatId: id, label: map.seats[i].label, category: map.seats[i].category } : { seatId: id, label: id, category: "" };
    });
  }

  function renderSide() {
    timers.forEach(clearInterval);
    timers = [];
    if ((layout.areas || []).length) renderGa();
    if (order) return renderOrder();
    if (hold) return renderHold();
    if (notOpenYet()) return renderNotOpenYet();
    const qty = h("select", { name: "qty", "aria-label": t("sel.qty") }, ...Array.from({ length: maxPer }, (_, k) => h("option", { value: String(k + 1), selected: k === 1 }, String(k + 1))));
    const cat = h("select", { name: "category", "aria-label": t("sel.category") }, h("option", { value: "" }, t("sel.any")), ...categories.map((c) => h("option", { value: c }, c)));
    const { lines, total } = seatRows([...selected]);
    render(side,
      h("h2", null, t("sel.title")),
      map.size ? h("div", { class: "best" },
        h("label", null, t("sel.qty"), qty),
        h("label", null, t("sel.category"), cat),
        h("button", { class: "btn", type: "button", "data-testid": "best-available", onclick: () => createHold({ quantity: Number(qty.value), category: cat.value || undefined, adjacent: true }) }, t("sel.best"))) : null,
      selected.size ? h("ul", { class: "lines", "data-testid": "selection" }, lines) : h("p", { class: "muted" }, t(map.size ? "sel.empty" : "sel.emptyGa")),
      selected.size ? h("div", { class: "total" }, h("span", null, t("hold.total")), h("strong", null, money(total, currency))) : null,
      selected.size ? h("div", { class: "actions" },
        h("button", { class: "btn ghost", type: "button", onclick: () => { selected.clear(); refreshMarks(); renderSide(); } }, t("sel.clear")),
        h("button", { class: "btn primary", type: "button", "data-testid": "hold", onclick: () => createHold({ seats: [...selected].map((i) => map.seats[i].id) }) }, t("sel.hold", { n: selected.size }))) : null);
  }

  function renderNotOpenYet() {
    // Like the hold's countdown, a timer that screen readers do not read out every second; the
    // panel (a polite live region) announces the sale when it opens.
    const notice = h("p", { class: "notice", role: "timer", "aria-live": "off", "data-testid": "opens-in" }, t("sel.opensIn", { time: timeUntil(opensAt) }));
    render(side, h("h2", null, t("sel.title")), notice);
    timers.push(setInterval(() => {
      if (notOpenYet()) notice.textContent = t("sel.opensIn", { time: timeUntil(opensAt) });
      else renderSide();
    }, 1000));
  }

  async function createHold(body) {
    if (!currentUser()) return emit("tf:signin-required", {});
    for (const b of side.querySelectorAll("button")) b.disabled = true;
    try {
      // One key per click: if the answer is lost and the request sent again, it is the same hold.
      const headers = { "Idempotency-Key": crypto.randomUUID() };
      hold = await api(`/api/sessions/${encodeURIComponent(sessionId)}/holds`, { method: "POST", body, headers });
      hold.idempotencyKey = crypto.randomUUID();
      sessionStorage.setItem(holdKey, JSON.stringify({ holdId: hold.holdId, key: hold.idempotencyKey }));
      selected.clear();
      // Our own seats are held now, whatever the socket says later.
      map.applyChanges((hold.seats || []).map((seatId) => ({ seatId, status: "h" })));
      refreshMarks();
    } catch (err) {
      if (err.code === "SEAT_TAKEN") {
        const taken = (err.details && err.details.seats) || [];
        map.applyChanges(taken.map((seatId) => ({ seatId, status: "h" })));
        for (const id of taken) selected.delete(map.indexOf(id));
        refreshMarks();
        const labels = taken.map((id) => { const i = map.indexOf(id); return i >= 0 ? `${map.seats[i].row}-${map.seats[i].label}` : id; });
        notify(t("sel.taken", { seats: labels.join(", ") }), "error");
      } else notify(err.message, "error");
    }
    renderSide();
  }

  function renderHold() {
    const items = holdItems();
    let total = 0;
    const lines = items.map((it) => {
      const p = prices[it.category];
      if (typeof p === "number") total += p;
      return h("li", null, h("span", null, it.label || it.seatId), h("span", { class: "muted" }, it.category || "", " ", typeof p === "number" ? money(p, currency) : ""));
    });
    const countdown = h("div", { class: "countdown", role: "timer", "aria-live": "off", "data-testid": "countdown" });
    const tick = () => {
      const left = Math.max(0, Math.floor((Date.parse(hold.expiresAt) - Date.now()) / 1000));
      countdown.textContent = t("hold.left", { time: `${Math.floor(left / 60)}:${pad2(left % 60)}` });
      countdown.classList.toggle("urgent", left < 60);
      if (left <= 0) expired();
    };
    tick();
    timers.push(setInterval(tick, 1000));

    const form = h("form", { class: "form pay", novalidate: true });
    const number = h("input", { name: "number", inputmode: "numeric", autocomplete: "cc-number", placeholder: "4242 4242 4242 4242", maxlength: "23", required: true });
    const exp = h("input", { name: "exp", inputmode: "numeric", autocomplete: "cc-exp", placeholder: "12/30", maxlength: "5", required: true });
    const cvc = h("input", { name: "cvc", inputmode: "numeric", autocomplete: "cc-csc", placeholder: "123", maxlength: "4", required: true });
    number.addEventListener("input", () => {
      const digits = number.value.replace(/\D/g, "").slice(0, 19);
      number.value = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
    });
    exp.addEventListener("input", () => {
      const d = exp.value.replace(/\D/g, "").slice(0, 4);
      exp.value = d.length > 2 ? `${d.slice(0, 2)}/${d.slice(2)}` : d;
    });
    const formError = h("div", { class: "form-error", role: "alert" });
    const submit = h("button", { class: "btn primary block", type: "submit", "data-testid": "pay" }, t("pay.submit", { total: money(total, currency) }));
    render(form,
      field(t("pay.card"), number),
      h("div", { class: "two" }, field(t("pay.exp"), exp), field(t("pay.cvc"), cvc)),
      h("p", { class: "hint test-cards" }, t("pay.testCards")),
      formError, submit);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      formError.textContent = "";
      const digits = number.value.replace(/\D/g, "");
      const m = /^(\d{2})\/(\d{2})$/.exec(exp.value.trim());
      const errors = {};
      if (!/^\d{12,19}$/.test(digits)) errors.number = t("v.card");
      let expMonth = 0, expYear = 0;
      if (m) {
        expMonth = Number(m[1]);
        expYear = 2000 + Number(m[2]);
        const now = new Date();
        if (expMonth < 1 || expMonth > 12 || expYear < now.getFullYear() || (expYear === now.getFullYear() && expMonth < now.getMonth() + 1)) errors.exp = t("v.exp");
      } else errors.exp = t("v.exp");
      if (!/^\d{3,4}$/.test(cvc.value.trim())) errors.cvc = t("v.cvc");
      if (showFieldErrors(form, errors)) return;
      submit.disabled = true;
      try {
        const answer = await api("/api/orders", {
          method: "POST",
          headers: { "Idempotency-Key": hold.idempotencyKey },
          body: { holdId: hold.holdId, payment: { method: "card", card: { number: digits, expMonth, expYear, cvc: cvc.value.trim() } } },
        });
        order = { orderId: answer.orderId || answer.id, status: answer.status || "PENDING", reason: answer.reason };
        sessionStorage.removeItem(holdKey);
        renderSide();
        followOrder();
      } catch (err) {
        submit.disabled = false;
        // A request that may have been done (no answer, or "try again") keeps its key for the next try.
        if (err.status !== 0 && err.status !== 503) hold.idempotencyKey = crypto.randomUUID();
        const fields = fieldErrorsOf(err);
        const mapped = {};
        for (const [k, v] of Object.entries(fields)) mapped[/exp/i.test(k) ? "exp" : /cvc/i.test(k) ? "cvc" : /number|card/i.test(k) ? "number" : k] = v;
        if (err.code === "HOLD_EXPIRED") return expired();
        if (err.code === "PAYMENT_DECLINED") formError.textContent = failureMessage("declined");
        else if (!showFieldErrors(form, mapped)) formError.textContent = err.message;
      }
    });

    render(side,
      h("h2", null, t("hold.title")),
      countdown,
      h("ul", { class: "lines", "data-testid": "held-seats" }, lines),
      h("div", { class: "total" }, h("span", null, t("hold.total")), h("strong", null, money(total, currency))),
      h("h3", null, t("pay.title")),
      form,
      h("button", { class: "btn ghost block", type: "button", onclick: releaseHold }, t("hold.release")));
  }

  function expired() {
    if (!hold) return;
    const old = hold;
    hold = null;
    sessionStorage.removeItem(holdKey);
    map.applyChanges((old.seats || []).map((seatId) => ({ seatId, status: "a" })));
    refreshMarks();
    notify(t("hold.expired"), "error");
    renderSide();
    refreshMap();
  }

  async function releaseHold() {
    if (!hold) return;
    const old = hold;
    try {
      await api(`/api/holds/${encodeURIComponent(old.holdId)}`, { method: "DELETE" });
      notify(t("hold.released"));
    } catch (err) {
      if (err.status !== 404) return notify(err.message, "error");
    }
    hold = null;
    sessionStorage.removeItem(holdKey);
    map.applyChanges((old.seats || []).map((seatId) => ({ seatId, status: "a" })));
    refreshMarks();
    renderSide();
    refreshMap();
  }

  // ---- order status ----
  let polling = null;
  function followOrder() {
    clearInterval(polling);
    // Socket events move the status at once; polling is the fallback when the socket is down.
    polling = setInterval(checkOrder, 2000);
  }
  async function checkOrder() {
    if (!order) return;
    try {
      const o = await api(`/api/orders/${encodeURIComponent(order.orderId)}`);
      setOrderStatus(o.status, o.reason, o);
    } catch {
      /* the next tick retries */
    }
  }
  function setOrderStatus(status, reason, full) {
    if (!order || !status) return;
    const changed = order.status !== status;
    order = { ...order, status, reason: reason ?? order.reason, full: full || order.full };
    if (status !== "PENDING") clearInterval(polling);
    if (changed) {
      if (status === "FAILED" || status === "CANCELLED") {
        // The saga puts the seats back on sale; show that now rather than wait for the socket.
        const old = hold;
        hold = null;
        if (old) map.applyChanges((old.seats || []).map((seatId) => ({ seatId, status: "a" })));
        refreshMap();
      }
      if (status === "CONFIRMED" && hold) {
        map.applyChanges((hold.seats || []).map((seatId) => ({ seatId, status: "s" })));
        emit("tf:order-confirmed", { orderId: order.orderId, sessionId });
      }
      refreshMarks();
      renderSide();
    }
  }

  function renderOrder() {
    const s = order.status;
    const icon = s === "CONFIRMED" ? "✓" : s === "PENDING" ? "" : "!";
    render(side,
      h("h2", null, t("order.title")),
      h("div", { class: `order-state ${s.toLowerCase()}`, "data-testid": "order-status", "data-status": s, role: "status" },
        s === "PENDING" ? h("span", { class: "spinner" }) : h("span", { class: "state-icon", "aria-hidden": "true" }, icon),
        h("div", null,
          h("strong", null, t(`order.${s}`)),
          s === "FAILED" ? h("p", { "data-testid": "order-reason" }, failureMessage(order.reason)) : null)),
      s === "CONFIRMED" ? h("a", { class: "btn primary block", href: "#/tickets", "data-testid": "view-tickets" }, t("order.viewTickets")) : null,
      s !== "PENDING" && s !== "CONFIRMED" ? h("button", { class: "btn block", type: "button", onclick: () => { order = null; hold = null; refreshMarks(); renderSide(); } }, t("order.again")) : null);
  }

  // ---- live updates ----
  async function refreshMap() {
    try {
      const m = await api(`/api/sessions/${encodeURIComponent(sessionId)}/seat-map`, { query: { statusOnly: 1 } });
      if (!m) return;
      version = m.version || version;
      if (typeof m.status === "string") map.setStatus(m.status);
      if (hold) map.applyChanges((hold.seats || []).map((seatId) => ({ seatId, status: "h" })));
      dropLostSelections();
      renderGa(m.areas);
    } catch {
      /* keep the last known map; the next refresh retries */
    }
  }
  function dropLostSelections() {
    let lost = false;
    for (const i of [...selected]) if (map.status(i) !== "a") { selected.delete(i); lost = true; }
    if (lost) {
      refreshMarks();
      renderSide();
      notify(t("sel.lost"), "error");
    }
  }
  const onSeats = (e) => {
    const d = e.detail || {};
    if (d.sessionId !== sessionId) return;
    if (typeof d.version === "number" && version && d.version < version) return;
    if (typeof d.version === "number") version = d.version;
    const mineIds = new Set(hold ? hold.seats || [] : []);
    map.applyChanges((d.changes || []).filter((c) => !mineIds.has(c.seatId) || statusChar(c.status) === "s"));
    dropLostSelections();
  };
  const onStock = debounce((e) => { if (e.detail && e.detail.sessionId === sessionId && (layout.areas || []).length) refreshMap(); }, 300);
  const onOrder = (e) => {
    const d = e.detail || {};
    if (order && d.orderId === order.orderId) {
      setOrderStatus(d.status, d.reason);
      if (d.status !== "PENDING") checkOrder();
    }
  };
  const onResync = () => refreshMap();
  const onLive = (e) => { liveNote.textContent = e.detail && e.detail.connected ? "" : t("map.liveOff"); };
  window.addEventListener("tf:seats", onSeats);
  window.addEventListener("tf:stock", onStock);
  window.addEventListener("tf:order", onOrder);
  window.addEventListener("tf:resync", onResync);
  window.addEventListener("tf:live", onLive);
  emit("tf:subscribe", { sessionId });
  // Without a socket the page still converges: poll quickly; with one, a slow safety net.
  let slow = 0;
  const mapPoll = setInterval(() => {
    slow = (slow + 1) % 10;
    if (!window.__tfLive || slow === 0) refreshMap();
  }, 2000);

  // Restore a hold made before a reload.
  try {
    const saved = JSON.parse(sessionStorage.getItem(holdKey) || "null");
    if (saved && saved.holdId && currentUser()) {
      const h0 = await api(`/api/holds/${encodeURIComponent(saved.holdId)}`);
      if (h0 && h0.status === "ACTIVE" && Date.parse(h0.expiresAt) > Date.now()) {
        hold = { ...h0, idempotencyKey: saved.key };
        refreshMarks();
      } else sessionStorage.removeItem(holdKey);
    }
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    sessionStorage.removeItem(holdKey);
  }
  renderSide();

  return () => {
    timers.forEach(clearInterval);
    clearInterval(polling);
    clearInterval(mapPoll);
    map.destroy();
    window.removeEventListener("tf:seats", onSeats);
    window.removeEventListener("tf:stock", onStock);
    onStock.cancel();
    window.removeEventListener("tf:order", onOrder);
    window.removeEventListener("tf:resync", onResync);
    window.removeEventListener("tf:live", onLive);
    emit("tf:unsubscribe", { sessionId });
  };
}
