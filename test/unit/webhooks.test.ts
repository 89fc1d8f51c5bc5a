import { DEFAULT_RETRY_POLICY, isPrivateAddress, nextRetryDelayMs, parseWebhookUrl, signWebhookBody, verifyWebhookSignature } from "../../src/domain/webhooks";

describe("webhook signatures", () => {
  const body = JSON.stringify({ event: "orders.confirmed", data: { orderId: "o1" } });

  it("is the hex HMAC-SHA256 of the body with the hook's secret", () => {
    // Independently computed: printf hello | openssl dgst -sha256 -hmac s3cret
    expect(signWebhookBody("s3cret", "hello")).toBe("sha256=e5a01537481fa0b2c697f787c7aff885412cf0760d08e08502259b39d2d6ae68");
    expect(signWebhookBody("s3cret", body)).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it("verifies only the exact body with the exact secret", () => {
    const sig = signWebhookBody("s3cret", body);
    expect(verifyWebhookSignature("s3cret", body, sig)).toBe(true);
    expect(verifyWebhookSignature("other", body, sig)).toBe(false);
    expect(verifyWebhookSignature("s3cret", body + " ", sig)).toBe(false);
    expect(verifyWebhookSignature("s3cret", body, sig.slice(0, -1))).toBe(false);
    expect(verifyWebhookSignature("s3cret", body, undefined)).toBe(false);
  });
});

describe("webhook URLs", () => {
  it("accepts http(s) and refuses other schemes, credentials and garbage", () => {
    expect(parseWebhookUrl("https://example.com/hook?x=1")).toBe("https://example.com/hook?x=1");
    expect(parseWebhookUrl("http://127.0.0.1:8080/h")).toBe("http://127.0.0.1:8080/h");
    for (const bad of ["file:///etc/passwd", "ftp://example.com/", "javascript:alert(1)", "gopher://x", "https://user:pw@example.com/", "/relative", "not a url", ""]) {
      expect(parseWebhookUrl(bad)).toBeUndefined();
    }
  });
});

describe("webhook target addresses", () => {
  it("treats loopback, private, link-local, CGNAT and special addresses as private", () => {
    for (const ip of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "::1", "::", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "not-an-ip"]) {
      expect([ip, isPrivateAddress(ip)]).toEqual([ip, true]);
    }
  });
  it("lets public addresses through", () => {
    for (const ip of ["93.184.216.34", "172.32.0.1", "100.128.0.1", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]) {
      expect([ip, isPrivateAddress(ip)]).toEqual([ip, false]);
    }
  });
});

describe("webhook retry backoff", () => {
  const policy = { baseMs: 1000, maxMs: 60_000, maxAttempts: 8 };

  it("doubles after each failure, within [half, full] of the exponential step", () => {
    expect(nextRetryDelayMs(1, policy, () => 0)).toBe(500);
    expect(nextRetryDelayMs(1, policy, () => 1)).toBe(1000);
    expect(nextRetryDelayMs(2, policy, () => 1)).toBe(2000);
    expect(nextRetryDelayMs(4, policy, () => 1)).toBe(8000);
  });

  it("is capped and stops after the last attempt", () => {
    expect(nextRetryDelayMs(7, policy, () => 1)).toBe(60_000);
    expect(nextRetryDelayMs(8, policy)).toBeUndefined();
    expect(nextRetryDelayMs(DEFAULT_RETRY_POLICY.maxAttempts, DEFAULT_RETRY_POLICY)).toBeUndefined();
  });
});
