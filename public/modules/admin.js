/**
 * Organizer/admin: venues (seat layout generator + JSON import, with a live preview), events with
 * a German translation, sessions with prices per category, and a live sales dashboard.
 * Routes: #/admin (dashboard), #/admin/venues, #/admin/events, #/admin/sessions, #/admin/dashboard/:sessionId
 */
import { api, itemsOf, currentUser, hasRole } from "../lib/api.js";
import { t, getLang, money, dateTime, eventText } from "../lib/i18n.js";
import { h, svg, render, notify, field, showFieldErrors, fieldErrorsOf, emit, debounce } from "../lib/dom.js";
import { createSeatMap, categoriesOf } from "../lib/seatmap.js";

const TABS = [
  ["dashboard", "admin.dashboard"],
  ["venues", "admin.venues"],
  ["events", "admin.events"],
  ["sessions", "admin.sessions"],
];

// What this browser created, so a fresh draft event or session is listed even before any list
// route shows drafts.
const MINE = "tf.admin.mine";
function mine() {
  try {
    return { venues: [], events: [], sessions: [], ...JSON.parse(localStorage.getItem(MINE) || "{}") };
  } catch {
    return { venues: [], events: [], sessions: [] };
  }
}
function remember(kind, id) {
  const m = mine();
  m[kind] = [id, ...m[kind].filter((x) => x !== id)].slice(0, 50);
  localStorage.setItem(MINE, JSON.stringify(m));
}

export async function mount(root, route) {
  const tab = TABS.some(([k]) => k === route.parts[1]) ? route.parts[1] : "dashboard";
  const body = h("div", { class: "admin-body" });
  render(root,
    h("h1", null, t("admin.title")),
    h("nav", { class: "tabs", "aria-label": t("admin.title") },
      ...TABS.map(([k, label]) => h("a", { href: `#/admin/${k}`, class: "tab", "aria-current": k === tab ? "page" : undefined }, t(label)))),
    body);
  if (tab === "venues") return venuesTab(body);
  if (tab === "events") return eventsTab(body);
  if (tab === "sessions") return sessionsTab(body, route.query);
  return dashboardTab(body, route.parts[2] || route.query.session);
}

// ---------------------------------------------------------------- data

async function listVenues() {
  const fromApi = await api("/api/venues", { query: { pageSize: 100 } }).then(itemsOf).catch(() => []);
  const ids = new Set(fromApi.map((v) => v.id));
  const extra = await Promise.all(mine().venues.filter((id) => !ids.has(id)).map((id) => api(`/api/venues/${encodeURIComponent(id)}`).catch(() => null)));
  return [...fromApi, ...extra.filter(Boolean)];
}

async function listEvents() {
  const fromApi = await api("/api/events", { query: { pageSize: 100, lang: getLang() } }).then(itemsOf).catch(() => []);
  const ids = new Set(fromApi.map((e) => e.id));
  const extra = await Promise.all(mine().events.filter((id) => !ids.has(id)).map((id) => api(`/api/events/${encodeURIComponent(id)}`, { query: { lang: getLang() } }).catch(() => null)));
  const me = currentUser();
  const order = mine().events;
  // An organizer works on their own events; an admin sees everyone's.
  return [...extra.filter(Boolean), ...fromApi]
    .filter((ev) => hasRole("admin") || !ev.organizerId || (me && ev.organizerId === me.id))
    .sort((a, b) => (order.indexOf(a.id) < 0 ? 1e9 : order.indexOf(a.id)) - (order.indexOf(b.id) < 0 ? 1e9 : order.indexOf(b.id)));
}

async function listSessions(events) {
  const lists = await Promise.all(events.map(async (ev) => {
    const sessions = Array.isArray(ev.sessions) ? ev.sessions : await api("/api/sessions", { query: { eventId: ev.id } }).then(itemsOf).catch(() => []);
    return sessions.map((s) => ({ ...s, event: ev }));
  }));
  return lists.flat().sort((a, b) => {
    const ma = mine().sessions.indexOf(a.id);
    const mb = mine().sessions.indexOf(b.id);
    if (ma !== mb) return (ma < 0 ? 1e9 : ma) - (mb < 0 ? 1e9 : mb);
    return Date.parse(a.startsAt) - Date.parse(b.startsAt);
  });
}

function formErrorSlot() {
  return h("div", { class: "form-error", role: "alert" });
}

function numberInput(name, value, min, max) {
  return h("input", { type: "number", name, value: String(value), min: String(min), max: String(max), step: "1", inputmode: "numeric", required: true });
}

function intIn(control, min, max, errors) {
  const v = Number(control.value);
  if (!Number.isInteger(v) || v < min || v > max) errors[control.name] = t("v.number", { min, max });
  return v;
}

// ---------------------------------------------------------------- venues

/** The catalog's generator, mirrored for the preview: sections stacked front to back, rows centred. */
function generatePreview(spec) {
  const widest = spec.sections.reduce((m, s) => Math.max(m, s.seatsPerRow), 0);
  let y = 0;
  const rowLabel = (i) => {
    let n = i + 1;
    let out = "";
    while (n > 0) {
      out = String.fromCharCode(65 + ((n - 1) % 26)) + out;
      n = Math.floor((n - 1) / 26);
    }
    return out;
  };
  const sections = spec.sections.map((s, si) => {
    const id = `S${si + 1}`;
    const x0 = Math.floor((widest - s.seatsPerRow) / 2);
    const rows = [];
    for (let r = 0; r < s.rows; r++, y++) {
      const label = rowLabel(r);
      const seats = [];
      for (let n = 1; n <= s.seatsPerRow; n++) seats.push({ id: `${id}-${label}-${n}`, label: `${s.name} ${label}-${n}`, x: x0 + n - 1, y, category: s.category });
      rows.push({ id: `${id}-${label}`, label, seats });
    }
    y += 2;
    return { id, name: s.name, rows };
  });
  return { sections, areas: (spec.areas || []).map((a, i) => ({ id: `A${i + 1}`, ...a })) };
}

async function venuesTab(body) {
  const name = h("input", { name: "name", maxlength: "200", required: true });
  const city = h("input", { name: "city", maxlength: "100", required: true });
  const address = h("input", { name: "address", maxlength: "300" });
  const sections = numberInput("sections", 3, 1, 200);
  const rows = numberInput("rows", 8, 1, 500);
  const seatsPerRow = numberInput("seatsPerRow", 20, 1, 1000);
  const cats = h("input", { name: "categories", value: "Premium, Standard, Economy", maxlength: "300", required: true });
  const sectionNames = h("input", { name: "sectionNames", value: "Stalls, Circle, Balcony", maxlength: "600" });
  const ga = numberInput("ga", 0, 0, 200000);
  const json = h("textarea", { name: "layout", rows: "5", placeholder: '{"sections":[{"id":"S1","name":"Stalls","rows":[{"id":"S1-A","label":"A","seats":[{"id":"S1-A-1","label":"A-1","x":0,"y":0,"category":"Standard"}]}]}],"areas":[]}', spellcheck: "false" });
  const file = h("input", { type: "file", accept: "application/json,.json", "aria-label": t("admin.import.file") });
  const preview = h("div", { class: "preview" });
  const stats = h("p", { class: "muted", role: "status" });
  const formError = formErrorSlot();
  const submit = h("button", { class: "btn primary", type: "submit", "data-testid": "create-venue" }, t("admin.venue.create"));
  const list = h("ul", { class: "simple-list" });
  const form = h("form", { class: "form", novalidate: true },
    h("div", { class: "grid3" }, field(t("admin.venue.name"), name), field(t("admin.venue.city"), city), field(t("admin.venue.address"), address)),
    h("fieldset", null, h("legend", null, t("admin.gen")),
      h("div", { class: "grid3" }, field(t("admin.gen.sections"), sections), field(t("admin.gen.rows"), rows), field(t("admin.gen.seats"), seatsPerRow)),
      field(t("admin.gen.categories"), cats),
      field(t("admin.gen.names"), sectionNames),
      field(t("admin.gen.ga"), ga)),
    h("fieldset", null, h("legend", null, t("admin.import")), field("JSON", json), file),
    h("div", { class: "preview-box" }, h("h3", null, t("admin.gen.preview")), stats, preview),
    formError, submit);
  render(body, h("div", { class: "admin-grid" }, h("section", { class: "card" }, h("h2", null, t("admin.venue.new")), form), h("section", { class: "card" }, h("h2", null, t("admin.venues")), list)));

  function spec(errors) {
    const nSections = intIn(sections, 1, 200, errors);
    const nRows = intIn(rows, 1, 500, errors);
    const nSeats = intIn(seatsPerRow, 1, 1000, errors);
    const gaCap = intIn(ga, 0, 200000, errors);
    const categories = cats.value.split(",").map((c) => c.trim()).filter(Boolean);
    if (!categories.length || categories.some((c) => !/^[A-Za-z0-9][A-Za-z0-9 _-]*$/.test(c) || c.length > 40)) errors.categories = t("v.required");
    if (Object.keys(errors).length) return null;
    if (nSections * nRows * nSeats > 150000) {
      errors.rows = t("v.number", { min: 1, max: Math.floor(150000 / nSections / nSeats) });
      return null;
    }
    const names = sectionNames.value.split(",").map((s) => s.trim()).filter(Boolean);
    return {
      sections: Array.from({ length: nSections }, (_, i) => ({
        name: (names[i] || `Block ${i + 1}`).slice(0, 100),
        rows: nRows,
        seatsPerRow: nSeats,
        // Categories run front to back: the first sections get the first category.
        category: categories[Math.min(categories.length - 1, Math.floor((i * categories.length) / nSections))],
      })),
      areas: gaCap > 0 ? [{ name: "Standing", capacity: gaCap, category: categories[categories.length - 1] }] : [],
    };
  }

  function importedLayout(errors) {
    const text = json.value.trim();
    if (!text) return null;
    try {
      const parsed = JSON.parse(text);
      if (!parsed || typeof parsed !== "object" || (!Array.isArray(parsed.sections) && !Array.isArray(parsed.areas) && !parsed.generate)) throw new Error("expected {sections, areas}");
      return parsed;
    } catch (err) {
      errors.layout = t("v.json", { msg: err.message });
      return undefined;
    }
  }

  let previewMap = null;
  const updatePreview = debounce(() => {
    const errors = {};
    const imported = importedLayout(errors);
    let layout = null;
    if (imported && imported.generate) layout = generatePreview({ sections: imported.generate.sections || [], areas: imported.generate.areas || [] });
    else if (imported) layout = { sections: imported.sections || [], areas: imported.areas || [] };
    else if (imported === null) {
      const s = spec(errors);
      if (s) layout = generatePreview(s);
    }
    if (!layout) {
      stats.textContent = Object.values(errors).join(" ");
      return;
    }
    let seats = 0;
    for (const s of layout.sections) for (const r of s.rows || []) seats += (r.seats || []).length;
    const gaCap = (layout.areas || []).reduce((a, x) => a + (Number(x.capacity) || 0), 0);
    stats.textContent = `${seats.toLocaleString(getLang())} seats${gaCap ? ` + ${gaCap.toLocaleString(getLang())} standing` : ""} · ${categoriesOf(layout).join(", ")}`;
    if (previewMap) previewMap.destroy();
    previewMap = seats <= 60000 ? createSeatMap({ layout }) : null;
    render(preview, previewMap ? previewMap.el : null);
  }, 300);
  for (const c of [sections, rows, seatsPerRow, cats, sectionNames, ga, json]) c.addEventListener("input", updatePreview);
  file.addEventListener("change", async () => {
    const f = file.files && file.files[0];
    if (!f) return;
    if (f.size > 5_000_000) return notify(t("v.json", { msg: "file too large" }), "error");
    json.value = await f.text();
    updatePreview();
  });
  updatePreview();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const errors = {};
    if (!name.value.trim()) errors.name = t("v.required");
    if (!city.value.trim()) errors.city = t("v.required");
    const imported = importedLayout(errors);
    const generated = imported === null ? spec(errors) : null;
    if (showFieldErrors(form, errors)) return;
    submit.disabled = true;
    try {
      const layout = imported || { generate: generated };
      const body = { name: name.value.trim(), city: city.value.trim(), layout };
      if (address.value.trim()) body.address = address.value.trim();
      const venue = await api("/api/venues", { method: "POST", body });
      remember("venues", venue.id);
      notify(t("admin.venue.created", { name: venue.name, n: venue.seatCount ?? "" }), "success");
      form.reset();
      json.value = "";
      loadList();
    } catch (err) {
      if (!showFieldErrors(form, fieldErrorsOf(err))) formError.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });

  async function loadList() {
    const venues = await listVenues();
    render(list, ...(venues.length ? venues.map((v) => h("li", null, h("strong", null, v.name), h("span", { class: "muted" }, [v.city, v.seatCount ? t("admin.venue.seats", { n: v.seatCount }) : "", v.capacity > (v.seatCount || 0) ? t("admin.venue.standing", { n: v.capacity - (v.seatCount || 0) }) : ""].filter(Boolean).join(" · ")))) : [h("li", { class: "muted" }, t("admin.none"))]));
  }
  await loadList();
  return () => {
    updatePreview.cancel();
    if (previewMap) previewMap.destroy();
  };
}

// ---------------------------------------------------------------- events

async function eventsTab(body) {
  const title = h("input", { name: "title", maxlength: "200", required: true });
  const description = h("textarea", { name: "description", rows: "3", maxlength: "5000" });
  const category = h("input", { name: "category", maxlength: "50", list: "tf-admin-cats", required: true, placeholder: "concert" });
  const city = h("input", { name: "city", maxlength: "100", required: true });
  const status = h("select", { name: "status" }, h("option", { value: "on_sale" }, "on_sale"), h("option", { value: "draft" }, "draft"));
  const deTitle = h("input", { name: "deTitle", maxlength: "200" });
  const deDescription = h("textarea", { name: "deDescription", rows: "2", maxlength: "5000" });
  const formError = formErrorSlot();
  const submit = h("button", { class: "btn primary", type: "submit", "data-testid": "create-event" }, t("admin.event.create"));
  const list = h("ul", { class: "simple-list" });
  const form = h("form", { class: "form", novalidate: true },
    field(t("admin.event.title"), title), field(t("admin.event.description"), description),
    h("div", { class: "grid3" }, field(t("admin.event.category"), category), field(t("admin.event.city"), city), field(t("admin.event.status"), status)),
    h("datalist", { id: "tf-admin-cats" }, ...["concert", "theatre", "sports", "comedy", "festival", "family"].map((c) => h("option", { value: c }))),
    h("fieldset", null, h("legend", null, t("admin.event.de")), field(`${t("admin.event.title")} (de)`, deTitle), field(`${t("admin.event.description")} (de)`, deDescription)),
    formError, submit);
  render(body, h("div", { class: "admin-grid" }, h("section", { class: "card" }, h("h2", null, t("admin.event.new")), form), h("section", { class: "card" }, h("h2", null, t("admin.events")), list)));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const errors = {};
    if (!title.value.trim()) errors.title = t("v.required");
    if (!category.value.trim()) errors.category = t("v.required");
    if (!city.value.trim()) errors.city = t("v.required");
    if (deDescription.value.trim() && !deTitle.value.trim()) errors.deTitle = t("v.required");
    if (showFieldErrors(form, errors)) return;
    const payload = { title: title.value.trim(), description: description.value.trim(), category: category.value.trim().toLowerCase(), city: city.value.trim(), status: status.value };
    if (deTitle.value.trim()) payload.translations = { de: { title: deTitle.value.trim(), description: deDescription.value.trim() } };
    submit.disabled = true;
    try {
      const ev = await api("/api/events", { method: "POST", body: payload });
      remember("events", ev.id);
      notify(t("admin.event.created", { title: ev.title || payload.title }), "success");
      form.reset();
      loadList();
    } catch (err) {
      const fe = fieldErrorsOf(err);
      for (const k of Object.keys(fe)) if (k.startsWith("translations")) fe.deTitle = fe[k];
      if (!showFieldErrors(form, fe)) formError.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });

  async function loadList() {
    const events = await listEvents();
    render(list, ...(events.length ? events.map((ev) => h("li", null,
      h("div", { class: "grow" }, h("a", { href: `#/event/${encodeURIComponent(ev.id)}` }, eventText(ev, "title")), " ",
        h("span", { class: "muted" }, [ev.category, ev.city, ev.status].filter(Boolean).join(" · "))),
      h("a", { class: "btn small", href: `#/admin/sessions?event=${encodeURIComponent(ev.id)}` }, t("admin.session.new")))) : [h("li", { class: "muted" }, t("admin.none"))]));
  }
  await loadList();
}

// ---------------------------------------------------------------- sessions

function localInput(date) {
  const d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

async function sessionsTab(body, query) {
  const [events, venues] = await Promise.all([listEvents(), listVenues()]);
  const eventSel = h("select", { name: "eventId", required: true }, h("option", { value: "" }, "—"), ...events.map((ev) => h("option", { value: ev.id, selected: ev.id === query.event }, eventText(ev, "title"))));
  const venueSel = h("select", { name: "venueId", required: true }, h("option", { value: "" }, "—"), ...venues.map((v) => h("option", { value: v.id }, `${v.name} (${v.city || ""})`)));
  const start = new Date(Date.now() + 30 * 864e5);
  start.setHours(20, 0, 0, 0);
  const startsAt = h("input", { type: "datetime-local", name: "startsAt", value: localInput(start), required: true });
  const endsAt = h("input", { type: "datetime-local", name: "endsAt", value: localInput(new Date(start.getTime() + 3 * 3600e3)), required: true });
  const currency = h("select", { name: "currency" }, ...["EUR", "USD", "GBP", "CHF"].map((c) => h("option", { value: c }, c)));
  const maxPer = numberInput("maxPerCustomer", 10, 1, 100);
  const priceBox = h("div", { class: "prices", "data-testid": "prices" }, h("p", { class: "muted" }, t("admin.pickVenue")));
  const pricesSlot = h("input", { type: "hidden", name: "prices" });
  const formError = formErrorSlot();
  const submit = h("button", { class: "btn primary", type: "submit", "data-testid": "create-session" }, t("admin.session.create"));
  const form = h("form", { class: "form", novalidate: true },
    h("div", { class: "grid2" }, field(t("admin.session.event"), eventSel), field(t("admin.session.venue"), venueSel)),
    h("div", { class: "grid2" }, field(t("admin.session.starts"), startsAt), field(t("admin.session.ends"), endsAt)),
    h("div", { class: "grid2" }, field(t("admin.session.currency"), currency), field(t("admin.session.max"), maxPer)),
    h("fieldset", null, h("legend", null, t("admin.session.prices")), priceBox, field("", pricesSlot)),
    formError, submit);
  const list = h("ul", { class: "simple-list" });
  render(body, h("div", { class: "admin-grid" }, h("section", { class: "card" }, h("h2", null, t("admin.session.new")), form), h("section", { class: "card" }, h("h2", null, t("admin.sessions")), list)));

  let categories = [];
  venueSel.addEventListener("change", async () => {
    categories = [];
    if (!venueSel.value) return render(priceBox, h("p", { class: "muted" }, t("admin.pickVenue")));
    const v = await api(`/api/venues/${encodeURIComponent(venueSel.value)}`);
    categories = categoriesOf(v.layout || { sections: [], areas: [] });
    render(priceBox, ...categories.map((c, i) => field(c, h("input", { name: `price-${i}`, "data-category": c, inputmode: "decimal", placeholder: "49.00", value: String(Math.max(15, 90 - i * 25)) + ".00", required: true }))));
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const errors = {};
    if (!eventSel.value) errors.eventId = t("v.required");
    if (!venueSel.value) errors.venueId = t("v.required");
    const s = new Date(startsAt.value);
    const en = new Date(endsAt.value);
    if (Number.isNaN(s.getTime())) errors.startsAt = t("v.required");
    if (Number.isNaN(en.getTime())) errors.endsAt = t("v.required");
    else if (!(en > s)) errors.endsAt = t("v.dates");
    const max = intIn(maxPer, 1, 100, errors);
    const prices = {};
    for (const input of priceBox.querySelectorAll("input[data-category]")) {
      const v = input.value.trim().replace(",", ".");
      if (!/^\d{1,7}(\.\d{1,2})?$/.test(v)) errors[input.name] = t("v.price");
      else prices[input.dataset.category] = Math.round(Number(v) * 100);
    }
    if (showFieldErrors(form, errors)) return;
    submit.disabled = true;
    try {
      const session = await api("/api/sessions", { method: "POST", body: {
        eventId: eventSel.value, venueId: venueSel.value, startsAt: s.toISOString(), endsAt: en.toISOString(),
        prices, currency: currency.value, maxPerCustomer: max,
      } });
      remember("sessions", session.id);
      notify(t("admin.session.created"), "success");
      loadList();
    } catch (err) {
      if (!showFieldErrors(form, fieldErrorsOf(err))) formError.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });

  async function loadList() {
    const sessions = await listSessions(events);
    render(list, ...(sessions.length ? sessions.map((s) => h("li", { "data-session": s.id },
      h("div", { class: "grow" }, h("strong", null, eventText(s.event, "title")), " ", h("span", { class: "muted" }, dateTime(s.startsAt))),
      h("span", { class: "row-actions" },
        h("a", { class: "btn small", href: `#/session/${encodeURIComponent(s.id)}` }, t("admin.open")),
        h("a", { class: "btn small primary", href: `#/admin/dashboard/${encodeURIComponent(s.id)}`, "data-testid": "session-dashboard" }, t("admin.dashboard"))))) : [h("li", { class: "muted" }, t("admin.none"))]));
  }
  await loadList();
}

// ---------------------------------------------------------------- dashboard

/** Sales numbers from /api/analytics/sales when it answers, else from the seat map and prices. */
let analyticsMissing = false;

async function salesOf(session, venueLayout) {
  try {
    if (analyticsMissing) throw new Error("no analytics route");
    const a = await api("/api/analytics/sales", { query: { sessionId: session.id } }).catch((err) => {
      if (err.status === 404 && err.code !== "SESSION_NOT_FOUND") analyticsMissing = true;
      throw err;
    });
    if (a && typeof a === "object") {
      const src = Array.isArray(a.items) ? a.items.find((x) => x.sessionId === session.id) || a.items[0] || {} : a;
      const num = (...keys) => { for (const k of keys) if (typeof src[k] === "number") return src[k]; return undefined; };
      const sold = num("sold", "ticketsSold", "seatsSold");
      if (sold !== undefined) {
        const series = src.series || src.timeline || src.overTime || a.series || null;
        return {
          sold, held: num("held", "seatsHeld"), available: num("available", "seatsAvailable"),
          revenueCents: num("revenueCents", "revenue", "grossCents"), orders: num("orders", "ordersConfirmed", "orderCount"),
          currency: src.currency || session.currency,
          series: Array.isArray(series) ? series.map((p) => ({ t: Date.parse(p.t || p.at || p.time || p.bucket || p.date), v: Number(p.cumulative ?? p.sold ?? p.tickets ?? p.count ?? 0) })).filter((p) => !Number.isNaN(p.t)) : null,
          cumulative: Array.isArray(series) && series.some((p) => p.cumulative !== undefined),
        };
      }
    }
  } catch {
    /* analytics not available: fall back */
  }
  const m = await api(`/api/sessions/${encodeURIComponent(session.id)}/seat-map`);
  const counts = { a: 0, h: 0, s: 0, b: 0 };
  let revenue = 0;
  const seatCats = [];
  if (venueLayout) for (const sec of venueLayout.sections || []) for (const r of sec.rows || []) for (const seat of r.seats || []) seatCats.push(seat.category);
  const status = m.status || "";
  const prices = m.prices || session.prices || {};
  for (let i = 0; i < status.length; i++) {
    const c = status[i];
    counts[c] = (counts[c] || 0) + 1;
    if (c === "s" && typeof prices[seatCats[i]] === "number") revenue += prices[seatCats[i]];
  }
  for (const area of m.areas || []) {
    const def = ((venueLayout && venueLayout.areas) || []).find((x) => x.id === area.id);
    const soldGa = Math.max(0, (area.capacity || 0) - (area.available || 0) - (area.held || 0));
    counts.a += area.available || 0;
    counts.s += soldGa;
    counts.h += area.held || 0;
    if (def && typeof prices[def.category] === "number") revenue += soldGa * prices[def.category];
  }
  return { sold: counts.s, held: counts.h, available: counts.a, revenueCents: revenue, currency: session.currency, series: null };
}

function chart(points) {
  const W = 600, H = 180, P = 28;
  const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": t("dash.chart") });
  if (points.length < 1) return box;
  const t0 = points[0].t;
  const t1 = Math.max(points[points.length - 1].t, t0 + 60_000);
  const vmax = Math.max(1, ...points.map((p) => p.v));
  const x = (tt) => P + ((tt - t0) / (t1 - t0)) * (W - 2 * P);
  const y = (v) => H - P - (v / vmax) * (H - 2 * P);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  const last = points[points.length - 1];
  box.append(
    svg("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, class: "axis" }),
    svg("line", { x1: P, y1: P, x2: P, y2: H - P, class: "axis" }),
    svg("path", { d: `${path} L${x(last.t).toFixed(1)},${H - P} L${x(t0).toFixed(1)},${H - P} Z`, class: "area" }),
    svg("path", { d: path, class: "line" }),
    svg("circle", { cx: x(last.t), cy: y(last.v), r: 4, class: "dot" }),
    svg("text", { x: P - 6, y: P + 4, "text-anchor": "end", class: "tick" }, String(vmax)),
    svg("text", { x: P - 6, y: H - P, "text-anchor": "end", class: "tick" }, "0"),
    svg("text", { x: P, y: H - 8, class: "tick" }, dateTime(new Date(t0).toISOString(), { timeStyle: "short" })),
    svg("text", { x: W - P, y: H - 8, "text-anchor": "end", class: "tick" }, dateTime(new Date(t1).toISOString(), { timeStyle: "short" })));
  return box;
}

async function dashboardTab(body, sessionIdFromRoute) {
  const events = await listEvents();
  const sessions = await listSessions(events);
  if (!sessions.length && !sessionIdFromRoute) {
    render(body, h("div", { class: "empty card" }, h("p", null, t("dash.empty")), h("a", { class: "btn primary", href: "#/admin/venues" }, t("admin.venue.new"))));
    return;
  }
  let sessionId = sessionIdFromRoute || sessions[0].id;
  const picker = h("select", { "aria-label": t("dash.pick") }, ...sessions.map((s) => h("option", { value: s.id, selected: s.id === sessionId }, `${eventText(s.event, "title")} · ${dateTime(s.startsAt)}`)));
  picker.addEventListener("change", () => { location.hash = `#/admin/dashboard/${encodeURIComponent(picker.value)}`; });
  const kpis = h("div", { class: "kpis" });
  const chartBox = h("div", { class: "chart-box" });
  const liveBadge = h("span", { class: "badge ok pulse" }, t("dash.live"));
  render(body, h("section", { class: "card dashboard", "data-testid": "dashboard" },
    h("div", { class: "dash-head" }, h("h2", null, t("dash.title"), " ", liveBadge), field(t("dash.pick"), picker)),
    kpis, h("h3", null, t("dash.chart")), chartBox));

  const session = await api(`/api/sessions/${encodeURIComponent(sessionId)}`);
  const venue = await api(`/api/venues/${encodeURIComponent(session.venueId)}`).catch(() => null);
  const key = `tf.dash.${sessionId}`;
  let samples = [];
  try {
    samples = JSON.parse(sessionStorage.getItem(key) || "[]");
  } catch {
    samples = [];
  }

  function kpi(label, value, testid) {
    return h("div", { class: "kpi" }, h("div", { class: "kpi-label" }, label), h("div", { class: "kpi-value", "data-testid": testid }, value));
  }

  let loading = false;
  async function refresh() {
    if (loading) return;
    loading = true;
    try {
      const s = await salesOf(session, venue && venue.layout);
      render(kpis,
        kpi(t("dash.sold"), String(s.sold ?? 0), "kpi-sold"),
        kpi(t("dash.held"), String(s.held ?? 0), "kpi-held"),
        kpi(t("dash.available"), String(s.available ?? 0), "kpi-available"),
        kpi(t("dash.revenue"), money(s.revenueCents ?? 0, s.currency), "kpi-revenue"),
        s.orders !== undefined ? kpi(t("dash.orders"), String(s.orders), "kpi-orders") : null);
      let points;
      if (s.series && s.series.length) {
        points = s.series.sort((a, b) => a.t - b.t);
        if (!s.cumulative) {
          let acc = 0;
          points = points.map((p) => ({ t: p.t, v: (acc += p.v) }));
        }
      } else {
        // No history from the server: chart what this page has seen since it opened.
        const last = samples[samples.length - 1];
        if (!last || last.v !== s.sold || Date.now() - last.t > 60_000) samples.push({ t: Date.now(), v: s.sold || 0 });
        samples = samples.slice(-500);
        sessionStorage.setItem(key, JSON.stringify(samples));
        points = samples;
      }
      render(chartBox, chart(points));
    } catch (err) {
      render(kpis, h("p", { class: "error" }, err.message));
    } finally {
      loading = false;
    }
  }
  const soon = debounce(refresh, 400);
  const onSeats = (e) => { if (e.detail && e.detail.sessionId === sessionId) soon(); };
  window.addEventListener("tf:seats", onSeats);
  window.addEventListener("tf:stock", onSeats);
  emit("tf:subscribe", { sessionId });
  const timer = setInterval(refresh, 5000);
  await refresh();
  return () => {
    clearInterval(timer);
    soon.cancel();
    window.removeEventListener("tf:seats", onSeats);
    window.removeEventListener("tf:stock", onSeats);
    emit("tf:unsubscribe", { sessionId });
  };
}
