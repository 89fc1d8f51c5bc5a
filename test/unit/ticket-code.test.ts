import crypto from "crypto";
import { signTicketCode, TicketClaims, verifyTicketCode } from "../../src/domain/ticket-code";

function keyPair() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519");
  return {
    privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

const keys = keyPair();
const other = keyPair();
const claims: TicketClaims = {
  ticketId: crypto.randomUUID(),
  sessionId: crypto.randomUUID(),
  seatId: "A-12-7",
  seatLabel: "Stalls A, row 12, seat 7",
  holderName: "Zoë O'Brien <script>",
};

function swapSegment(code: string, index: number, value: string): string {
  const parts = code.split(".");
  parts[index] = value;
  return parts.join(".");
}

describe("ticket code", () => {
  const code = signTicketCode(claims, keys.privateKey);

  it("is a compact versioned string that verifies with the public key and carries the claims", () => {
    expect(code).toMatch(/^TF1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
    expect(code.length).toBeLessThan(400);
    expect(verifyTicketCode(code, keys.publicKey)).toEqual({ valid: true, claims });
  });

  it("is rejected by another key", () => {
    expect(verifyTicketCode(code, other.publicKey)).toEqual({ valid: false, reason: "BAD_SIGNATURE" });
    const forged = signTicketCode(claims, other.privateKey);
    expect(verifyTicketCode(forged, keys.publicKey).valid).toBe(false);
  });

  it("is rejected when any claim is altered (another seat, another holder)", () => {
    for (const change of [{ seatId: "A-12-8" }, { holderName: "Mallory" }, { ticketId: crypto.randomUUID() }]) {
      const altered = signTicketCode({ ...claims, ...change }, other.privateKey);
      // Keep our valid signature, swap in the altered claims.
      const replayed = swapSegment(altered, 2, code.split(".")[2]);
      expect(verifyTicketCode(replayed, keys.publicKey)).toEqual({ valid: false, reason: "BAD_SIGNATURE" });
    }
  });

  it("is rejected when a single character is flipped anywhere", () => {
    for (let i = 4; i < code.length; i++) {
      if (code[i] === ".") continue;
      const flipped = code.slice(0, i) + (code[i] === "A" ? "B" : "A") + code.slice(i + 1);
      expect(verifyTicketCode(flipped, keys.publicKey).valid).toBe(false);
    }
  });

  it("rejects truncation, re-labelled versions and garbage without throwing", () => {
    const inputs: unknown[] = [
      code.slice(0, -1),
      code.slice(0, code.lastIndexOf(".")),
      code.replace(/^TF1/, "TF2"),
      code + "=",
      code + ".x",
      "",
      "TF1..",
      "TF1.!!!." + "A".repeat(86),
      "x".repeat(100_000),
      null,
      undefined,
      42,
      { code },
      ["TF1", "a", "b"],
    ];
    for (const input of inputs) {
      expect(verifyTicketCode(input, keys.publicKey)).toEqual({ valid: false, reason: expect.any(String) });
    }
  });

  it("rejects a validly signed payload that is not our claim shape", () => {
    const signed = `TF1.${Buffer.from(JSON.stringify({ t: 1 })).toString("base64url")}`;
    const sig = crypto.sign(null, Buffer.from(signed), crypto.createPrivateKey(keys.privateKey)).toString("base64url");
    expect(verifyTicketCode(`${signed}.${sig}`, keys.publicKey)).toEqual({ valid: false, reason: "MALFORMED" });
  });

  it("shortens an overlong holder name or seat label instead of failing, and refuses empty ids", () => {
    const long = signTicketCode({ ...claims, holderName: "N".repeat(500), seatLabel: "L".repeat(300) }, keys.privateKey);
    const result = verifyTicketCode(long, keys.publicKey);
    expect(result.valid && result.claims.holderName).toBe("N".repeat(80));
    expect(result.valid && result.claims.seatLabel).toBe("L".repeat(64));
    expect(() => signTicketCode({ ...claims, seatId: "" }, keys.privateKey)).toThrow();
  });

  it("a bad public key fails verification instead of throwing", () => {
    expect(verifyTicketCode(code, "not a pem")).toEqual({ valid: false, reason: "BAD_SIGNATURE" });
  });
});
