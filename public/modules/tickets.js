/**
 * My tickets: the buyer's orders with their tickets, the QR code on screen, the PDF, and cancel.
 * Protected files (QR, PDF) are fetched with the token and shown through object URLs.
 */
import { api, itemsOf, blobUrl } from "../lib/api.js";
import { t, getLang, money, dateTime, eventText } from "../lib/i18n.js";
import { h, render, notify } from "../lib/dom.js";

const ORDER_BADGE = { CONFIRMED: "ok", PENDING: "warn", FAILED: "bad", CANCELLED: "muted", REFUNDED: "muted" };
const TICKET_BADGE = { VALID: "ok", USED: "muted", REVOKED: "bad" };

export async function mount(root) {
  const urls = [];
  const qrUrls = new Map(); // ticket id -> object URL of its QR, kept across re-renders
  const sessions = new Map();
  let shown = "";
  let alive = true;
  const list = h("div", { class: "orders" });
  render(root, h("h1", null, t("tickets.title")), list);

  function sessionInfo(id) {
    if (!id) return Promise.resolve(null);
    if (!sessions.has(id)) {
      sessions.set(id, (async () => {
        const s = await api(`/api/sessions/${encodeURIComponent(id)}`);
        const ev = await api(`/api/events/${encodeURIComponent(s.eventId)}`, { query: { lang: getLang() } }).catch(() => null);
        return { session: s, event: ev };
      })().catch(() => null));
    }
    return sessions.get(id);
  }

  async function load() {
    const [orders, tickets] = await Promise.all([
      api("/api/orders/my", { query: { pageSize: 100 } }).then(itemsOf),
      api("/api/tickets/my", { query: { pageSize: 100 } }).then(itemsOf).catch(() => []),
    ]);
    const byOrder = new Map();
    for (const tk of tickets) {
      if (!byOrder.has(tk.orderId)) byOrder.set(tk.orderId, []);
      byOrder.get(tk.orderId).push(tk);
    }
    orders.sort((a, b) => Date.parse(b.createdAt || 0) - Date.parse(a.createdAt || 0));
    // Live events arrive often (every rendered PDF); redraw only when something visible changed.
    const signature = JSON.stringify([orders.map((o) => [o.id, o.status]), tickets.map((tk) => [tk.id, tk.status])]);
    if (signature === shown) return;
    shown = signature;
    if (!orders.length) {
      render(list, h("div", { class: "empty card" }, h("p", null, t("tickets.none")), h("a", { class: "btn primary", href: "#/" }, t("nav.shop"))));
      return;
    }
    render(list, ...orders.map((o) => orderCard(o, byOrder.get(o.id) || o.tickets || [])));
  }

  function orderCard(o, tickets) {
    const title = h("h2", null, t("tickets.order", { id: String(o.id).slice(0, 8) }));
    const when = h("div", { class: "muted" }, dateTime(o.createdAt));
    sessionInfo(o.sessionId).then((info) => {
      if (!info) return;
      if (info.event) title.textContent = eventText(info.event, "title");
      when.textContent = [dateTime(info.session.startsAt, { dateStyle: "full", timeStyle: "short" }), t("tickets.order", { id: String(o.id).slice(0, 8) })].join(" · ");
    });
    const total = typeof o.totalCents === "number" ? o.totalCents : typeof o.total === "number" ? o.total : (o.total && o.total.amountCents);
    const canCancel = o.status === "CONFIRMED";
    const ticketList = h("ul", { class: "tickets" }, ...tickets.map(ticketRow));
    return h("article", { class: "order card", "data-order": o.id, "data-status": o.status },
      h("header", { class: "order-head" },
        h("div", null, title, when),
        h("div", { class: "order-side" },
          h("span", { class: `badge ${ORDER_BADGE[o.status] || "muted"}`, "data-testid": "order-badge" }, t(`os.${o.status}`)),
          typeof total === "number" ? h("strong", null, money(total, o.currency)) : null)),
      o.status === "CONFIRMED" && !tickets.length ? h("p", { class: "muted" }, h("span", { class: "spinner small" }), t("tickets.pending")) : null,
      tickets.length ? ticketList : null,
      canCancel ? h("div", { class: "actions" }, h("button", { class: "btn ghost danger", type: "button", onclick: () => cancel(o) }, t("tickets.cancel"))) : null);
  }

  function ticketRow(tk) {
    const qrSlot = h("div", { class: "qr-slot" });
    const fillQr = (url) => render(qrSlot, h("img", { class: "qr", src: url, alt: `QR ${tk.seatLabel || ""}`, "data-testid": "qr" }), tk.code ? h("code", { class: "ticket-code" }, tk.code) : null);
    const showQr = async (btn) => {
      btn.disabled = true;
      try {
        const url = await blobUrl(`/api/tickets/${encodeURIComponent(tk.id)}/qr.png`);
        urls.push(url);
        qrUrls.set(tk.id, url);
        fillQr(url);
        btn.remove();
      } catch (err) {
        btn.disabled = false;
        if (alive) notify(err.message, "error");
      }
    };
    if (qrUrls.has(tk.id) && tk.status !== "REVOKED") fillQr(qrUrls.get(tk.id));
    const pdf = async (btn) => {
      btn.disabled = true;
      try {
        const url = await blobUrl(`/api/tickets/${encodeURIComponent(tk.id)}/pdf`);
        urls.push(url);
        const a = h("a", { href: url, download: `ticket-${tk.seatLabel || tk.id}.pdf`.replace(/[^\w.-]+/g, "_") });
        document.body.append(a);
        a.click();
        a.remove();
      } catch (err) {
        notify(err.message, "error");
      } finally {
        btn.disabled = false;
      }
    };
    return h("li", { class: "ticket", "data-ticket": tk.id, "data-status": tk.status },
      h("div", { class: "ticket-main" },
        h("strong", null, tk.seatLabel || tk.seatId || ""),
        h("span", { class: "muted" }, [tk.category, tk.holderName].filter(Boolean).join(" · ")),
        h("span", { class: `badge ${TICKET_BADGE[tk.status] || "muted"}` }, t(`tickets.${tk.status}`))),
      h("div", { class: "ticket-actions" },
        tk.status !== "REVOKED" && !qrUrls.has(tk.id) ? h("button", { class: "btn small", type: "button", "data-testid": "show-qr", onclick: (e) => showQr(e.currentTarget) }, t("tickets.qr")) : null,
        tk.status !== "REVOKED" ? h("button", { class: "btn small", type: "button", "data-testid": "pdf", onclick: (e) => pdf(e.currentTarget) }, t("tickets.pdf")) : null),
      qrSlot);
  }

  async function cancel(o) {
    if (!window.confirm(t("tickets.cancelConfirm"))) return;
    try {
      await api(`/api/orders/${encodeURIComponent(o.id)}/cancel`, { method: "POST", body: {} });
      notify(t("tickets.cancelled"), "success");
      setTimeout(reload, 800);
    } catch (err) {
      notify(err.message, "error");
    }
  }

  let timer = null;
  const reload = () => {
    clearTimeout(timer);
    timer = setTimeout(() => load().catch((err) => alive && notify(err.message, "error")), 150);
  };
  window.addEventListener("tf:order", reload);
  window.addEventListener("tf:ticket", reload);
  // Tickets are issued asynchronously after payment; poll until every confirmed order has them.
  const poll = setInterval(() => {
    const unsettled = root.querySelector(".order[data-status=PENDING], .order[data-status=CANCELLED] .ticket:not([data-status=REVOKED]), .order[data-status=REFUNDED] .ticket:not([data-status=REVOKED])");
    if (unsettled || root.textContent.includes(t("tickets.pending"))) reload();
  }, 2500);
  await load();
  return () => {
    alive = false;
    clearInterval(poll);
    clearTimeout(timer);
    window.removeEventListener("tf:order", reload);
    window.removeEventListener("tf:ticket", reload);
    for (const u of urls) URL.revokeObjectURL(u);
  };
}
