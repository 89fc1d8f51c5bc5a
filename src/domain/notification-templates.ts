/**
 * The emails a buyer receives, as plain text and HTML. Everything that comes from users (names,
 * event titles, seat labels, failure reasons) is escaped in the HTML part; the subject line is
 * kept to one line so a title cannot inject mail headers.
 */

export type NotificationKind = "order_confirmed" | "order_failed" | "order_cancelled";

export interface OrderConfirmedMail {
  holderName: string;
  orderId: string;
  eventTitle: string;
  startsAt?: string | null;
  venueName?: string | null;
  currency: string;
  totalCents: number;
  items: Array<{ seatLabel: string; category?: string | null; amountCents: number }>;
  ticketCount: number;
}

export interface OrderFailedMail {
  orderId: string;
  reason: string;
}

export interface OrderCancelledMail {
  orderId: string;
  currency?: string | null;
  refundedCents: number;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: unknown): string {
  return String(text ?? "").replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** One line, bounded: CR/LF and other control characters become spaces. */
export function oneLine(text: unknown, max = 120): string {
  // eslint-disable-next-line no-control-regex
  const flat = String(text ?? "").replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return flat.length > max ? flat.slice(0, max - 1) + "…" : flat;
}

export function formatMoney(cents: number, currency?: string | null): string {
  const amount = (cents / 100).toFixed(2);
  return currency ? `${amount} ${currency}` : amount;
}

function formatTime(iso?: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

// Reasons the saga records as codes, in words a buyer understands.
const REASONS: Record<string, string> = {
  PAYMENT_DECLINED: "your card was declined",
  INSUFFICIENT_FUNDS: "the card has insufficient funds",
  HOLD_EXPIRED: "your seat reservation expired before the payment completed",
  VELOCITY_LIMIT: "too many payment attempts were made in a short time",
};

function html(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
    `<body style="font-family:system-ui,sans-serif;max-width:560px;margin:auto;color:#222">${body}` +
    `<p style="color:#777;font-size:12px">TicketFlash</p></body></html>`;
}

export function renderOrderConfirmed(m: OrderConfirmedMail): RenderedMail {
  const when = formatTime(m.startsAt);
  const where = [when, m.venueName].filter(Boolean).join(", ");
  const lines = m.items.map((i) => `${i.seatLabel}${i.category ? ` (${i.category})` : ""}: ${formatMoney(i.amountCents, m.currency)}`);
  const text = [
    `Hello ${m.holderName},`,
    "",
    `your order for ${m.eventTitle} is confirmed.${where ? ` ${where}.` : ""}`,
    "",
    ...lines,
    `Total: ${formatMoney(m.totalCents, m.currency)}`,
    "",
    `Your ${m.ticketCount === 1 ? "ticket is" : `${m.ticketCount} tickets are`} attached as PDF. Show the QR code at the entrance.`,
    `Order ${m.orderId}`,
  ].join("\n");
  const rows = m.items.map((i) =>
    `<tr><td>${escapeHtml(i.seatLabel)}${i.category ? ` <small>(${escapeHtml(i.category)})</small>` : ""}</td>` +
    `<td style="text-align:right">${escapeHtml(formatMoney(i.amountCents, m.currency))}</td></tr>`).join("");
  const body = `<p>Hello ${escapeHtml(m.holderName)},</p>` +
    `<p>your order for <strong>${escapeHtml(m.eventTitle)}</strong> is confirmed.${where ? ` ${escapeHtml(where)}.` : ""}</p>` +
    `<table style="width:100%;border-collapse:collapse">${rows}<tr><td><strong>Total</strong></td>` +
    `<td style="text-align:right"><strong>${escapeHtml(formatMoney(m.totalCents, m.currency))}</strong></td></tr></table>` +
    `<p>Your tickets are attached as PDF. Show the QR code at the entrance.</p><p><small>Order ${escapeHtml(m.orderId)}</small></p>`;
  return { subject: oneLine(`Your tickets for ${m.eventTitle}`), text, html: html("Your tickets", body) };
}

export function renderOrderFailed(m: OrderFailedMail): RenderedMail {
  const reason = REASONS[m.reason] ?? oneLine(m.reason, 200);
  const text = [
    "Hello,",
    "",
    `we could not complete your order: ${reason}.`,
    "You have not been charged, and the seats are back on sale.",
    "",
    `Order ${m.orderId}`,
  ].join("\n");
  const body = `<p>Hello,</p><p>we could not complete your order: ${escapeHtml(reason)}.</p>` +
    `<p>You have not been charged, and the seats are back on sale.</p><p><small>Order ${escapeHtml(m.orderId)}</small></p>`;
  return { subject: "Your order could not be completed", text, html: html("Order not completed", body) };
}

export function renderOrderCancelled(m: OrderCancelledMail): RenderedMail {
  const refund = m.refundedCents > 0 ? `${formatMoney(m.refundedCents, m.currency)} will be refunded to your card.` : "";
  const text = ["Hello,", "", "your order has been cancelled and its tickets are no longer valid.", refund, "", `Order ${m.orderId}`]
    .filter((l, i, all) => l !== "" || all[i - 1] !== "").join("\n");
  const body = `<p>Hello,</p><p>your order has been cancelled and its tickets are no longer valid.</p>` +
    (refund ? `<p>${escapeHtml(refund)}</p>` : "") + `<p><small>Order ${escapeHtml(m.orderId)}</small></p>`;
  return { subject: "Your order has been cancelled", text, html: html("Order cancelled", body) };
}
