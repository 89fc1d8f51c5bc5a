import { clientAddress, parseTrustedProxies } from "../../src/platform/rate-limit";

describe("client address for rate limits", () => {
  const proxies = parseTrustedProxies(["10.0.0.0/8", "127.0.0.1", "fd00::/8"]);

  it("uses the socket address when no proxy is trusted, whatever the header says", () => {
    expect(clientAddress("203.0.113.9", "198.51.100.1", undefined)).toBe("203.0.113.9");
    expect(clientAddress("::ffff:203.0.113.9", "198.51.100.1", proxies)).toBe("203.0.113.9");
  });

  it("reads X-Forwarded-For from the right, skipping trusted proxies", () => {
    expect(clientAddress("10.1.2.3", "198.51.100.7", proxies)).toBe("198.51.100.7");
    expect(clientAddress("10.1.2.3", "198.51.100.7, 10.9.9.9", proxies)).toBe("198.51.100.7");
    expect(clientAddress("::ffff:127.0.0.1", ["198.51.100.7", "10.9.9.9"], proxies)).toBe("198.51.100.7");
    expect(clientAddress("fd00::1", "2001:db8::5", proxies)).toBe("2001:db8::5");
  });

  it("ignores what a client prepends: only the hop the trusted proxy added counts", () => {
    // The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the address it saw.
    expect(clientAddress("10.1.2.3", "1.2.3.4, 198.51.100.7", proxies)).toBe("198.51.100.7");
  });

  it("falls back to the last trusted hop when the header is missing or garbage", () => {
    expect(clientAddress("10.1.2.3", undefined, proxies)).toBe("10.1.2.3");
    expect(clientAddress("10.1.2.3", "not-an-ip", proxies)).toBe("10.1.2.3");
    expect(clientAddress("10.1.2.3", "198.51.100.7, nonsense", proxies)).toBe("10.1.2.3");
  });

  it("refuses a malformed TRUSTED_PROXIES entry instead of trusting everyone", () => {
    expect(() => parseTrustedProxies(["10.0.0.0/8", "ingress"])).toThrow(/ingress/);
    expect(parseTrustedProxies([])).toBeUndefined();
  });
});
