import crypto from "crypto";
import { execFileSync } from "child_process";
import { renderTicketPdf, renderTicketQrPng } from "../../src/domain/ticket-pdf";
import { signTicketCode, verifyTicketCode } from "../../src/domain/ticket-code";
import { decodeQrFromPdf, decodeQrPng, pdfInfo, pdfText } from "../helpers/qr";

const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519");
const keys = {
  privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
};

const ticketId = crypto.randomUUID();
const code = signTicketCode(
  { ticketId, sessionId: crypto.randomUUID(), seatId: "S1-R3-12", seatLabel: "Row C, seat 12", holderName: "Ada Lovelace" },
  keys.privateKey,
);
const doc = {
  ticketId,
  code,
  eventTitle: "Symphony No. 9 in the Park",
  startsAt: "2027-03-05T19:30:00.000Z",
  venueName: "Riverside Hall",
  venueAddress: "1 River Road, Springfield",
  seatLabel: "Row C, seat 12",
  category: "premium",
  holderName: "Ada Lovelace",
};

describe("ticket PDF", () => {
  it("is a PDF document", async () => {
    const pdf = await renderTicketPdf(doc);
    expect(pdf.subarray(0, 5).toString("latin1")).toBe("%PDF-");
    expect(pdf.subarray(-8).toString("latin1")).toContain("%%EOF");
  });

  it("is read by poppler: one page with the event, time, venue, seat, holder and ticket id", async () => {
    const pdf = await renderTicketPdf(doc);
    expect(pdfInfo(pdf)).toMatch(/Pages:\s+1/);
    const text = pdfText(pdf);
    for (const s of ["Symphony No. 9 in the Park", "2027-03-05 19:30 UTC", "Riverside Hall", "Row C, seat 12", "Ada Lovelace", ticketId]) {
      expect(text).toContain(s);
    }
  });

  it("names its two fonts in every document, also when many are rendered at once (the fonts' metrics are shared)", async () => {
    const pdfs = await Promise.all(
      ["Row A, seat 1", "Row B, seat 2", "Row C, seat 3"].map((seatLabel) => renderTicketPdf({ ...doc, seatLabel, ticketId: crypto.randomUUID() })),
    );
    for (const [i, pdf] of pdfs.entries()) {
      const fonts = execFileSync("pdffonts", ["-"], { input: pdf }).toString();
      expect(fonts).toMatch(/^Helvetica-Bold\s+Type 1/m);
      expect(fonts).toMatch(/^Helvetica\s+Type 1/m);
      expect(pdfText(pdf)).toContain(["Row A, seat 1", "Row B, seat 2", "Row C, seat 3"][i]);
    }
  });

  it("carries a QR, drawn as vectors, that a scanner decodes to the signed code", async () => {
    const pdf = await renderTicketPdf(doc);
    // Vector, not an embedded image.
    expect(pdf.toString("latin1")).not.toMatch(/\/Subtype\s*\/Image/);
    const scanned = decodeQrFromPdf(pdf);
    expect(scanned).toBe(code);
    expect(verifyTicketCode(scanned, keys.publicKey).valid).toBe(true);
  });

  it("is the same file each time a ticket is rendered, dated at its issuance", async () => {
    const issued = { ...doc, issuedAt: "2027-01-02T03:04:05.000Z" };
    const first = await renderTicketPdf(issued);
    // pdfkit dates a document with its rendering unless told otherwise: a second later, the same bytes.
    await new Promise((r) => setTimeout(r, 1100));
    const second = await renderTicketPdf(issued);
    expect(Buffer.compare(first, second)).toBe(0);
    expect(first.toString("latin1")).toContain("(D:20270102030405Z)");
    // Another ticket's issuance is another file.
    expect(Buffer.compare(first, await renderTicketPdf({ ...issued, issuedAt: "2027-01-02T03:04:06.000Z" }))).not.toBe(0);
  });

  it("renders without optional catalog details", async () => {
    const pdf = await renderTicketPdf({ ticketId, code, eventTitle: "Gig", seatLabel: "GA", holderName: "" , startsAt: "not a date" });
    expect(pdf.subarray(0, 5).toString("latin1")).toBe("%PDF-");
  });

  it("the QR PNG decodes to the code", async () => {
    const png = renderTicketQrPng(code);
    expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
    expect(decodeQrPng(png)).toBe(code);
  });
});
