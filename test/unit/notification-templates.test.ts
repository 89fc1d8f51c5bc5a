import { escapeHtml, oneLine, renderOrderCancelled, renderOrderConfirmed, renderOrderFailed } from "../../src/domain/notification-templates";

const confirmed = {
  holderName: `<img src=x onerror="alert(1)">`,
  orderId: "o-1",
  eventTitle: "Rock & Roll\r\nBcc: victim@example.com",
  startsAt: "2027-01-02T20:00:00.000Z",
  venueName: "Hall <b>1</b>",
  currency: "EUR",
  totalCents: 9000,
  items: [
    { seatLabel: "A1", category: "premium", amountCents: 5000 },
    { seatLabel: "A2", category: "standard", amountCents: 4000 },
  ],
  ticketCount: 2,
};

describe("notification templates", () => {
  it("order confirmation lists seats, prices and the total in both parts", () => {
    const mail = renderOrderConfirmed(confirmed);
    for (const part of [mail.text, mail.html]) {
      expect(part).toContain("A1");
      expect(part).toContain("50.00 EUR");
      expect(part).toContain("90.00 EUR");
      expect(part).toContain("2027-01-02 20:00 UTC");
    }
    expect(mail.text).toContain("2 tickets are attached");
  });

  it("escapes user text in HTML and keeps the subject on one line", () => {
    const mail = renderOrderConfirmed(confirmed);
    expect(mail.html).not.toContain("<img");
    expect(mail.html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(mail.html).toContain("Hall &lt;b&gt;1&lt;/b&gt;");
    expect(mail.html).toContain("Rock &amp; Roll");
    expect(mail.subject).not.toMatch(/[\r\n]/);
    expect(mail.subject).toBe("Your tickets for Rock & Roll Bcc: victim@example.com");
  });

  it("failure mail explains known reasons in words and escapes unknown ones", () => {
    expect(renderOrderFailed({ orderId: "o", reason: "PAYMENT_DECLINED" }).text).toContain("your card was declined");
    const odd = renderOrderFailed({ orderId: "o", reason: "<script>x</script>" });
    expect(odd.html).not.toContain("<script>");
  });

  it("cancellation mail states the refund when there is one", () => {
    expect(renderOrderCancelled({ orderId: "o", currency: "USD", refundedCents: 1250 }).text).toContain("12.50 USD will be refunded");
    expect(renderOrderCancelled({ orderId: "o", refundedCents: 0 }).text).not.toContain("refunded");
  });

  it("helpers", () => {
    expect(escapeHtml(`a&b<c>"d'`)).toBe("a&amp;b&lt;c&gt;&quot;d&#39;");
    expect(oneLine("x".repeat(200), 10)).toHaveLength(10);
  });
});
