import { execFileSync } from "child_process";
import fs from "fs";
import os from "os";
import path from "path";
import { pdfRendererState, renderPdf, stopPdfRenderer } from "../../src/platform/pdf-renderer";
import type { TicketDocument } from "../../src/domain/ticket-pdf";

const doc = (n: number): TicketDocument => ({
  ticketId: `ticket-${n}`,
  code: `TF1.code-${n}`,
  eventTitle: "Hamlet",
  startsAt: "2027-03-01T19:30:00.000Z",
  venueName: "The Globe",
  venueAddress: "21 New Globe Walk, London",
  seatLabel: `Stalls, row A, seat ${n}`,
  category: "A",
  holderName: "Ada Buyer",
});

/** The PDF's text, read by poppler as a PDF viewer would. */
function pdfText(pdf: Buffer): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tf-pdf-")), "t.pdf");
  fs.writeFileSync(file, pdf);
  return execFileSync("pdftotext", [file, "-"], { encoding: "utf8" });
}

describe("PDF renderer (a thread of its own)", () => {
  afterAll(() => stopPdfRenderer());

  it("renders tickets on its thread, each its own PDF, concurrently asked", async () => {
    const pdfs = await Promise.all([1, 2, 3, 4, 5].map((n) => renderPdf(doc(n))));
    expect(await pdfRendererState()).toBe("thread");
    pdfs.forEach((pdf, i) => {
      expect(pdf.subarray(0, 5).toString()).toBe("%PDF-");
      const text = pdfText(pdf);
      expect(text).toContain(`Stalls, row A, seat ${i + 1}`);
      expect(text).toContain(`Ticket ticket-${i + 1}`);
      expect(text).toContain("Hamlet");
    });
  });

  it("loses no PDF when its thread goes away: what was asked is rendered here, and the next render starts a new thread", async () => {
    const asked = [6, 7, 8].map((n) => renderPdf(doc(n)));
    await stopPdfRenderer();
    const pdfs = await Promise.all(asked);
    pdfs.forEach((pdf, i) => expect(pdfText(pdf)).toContain(`Stalls, row A, seat ${i + 6}`));
    expect(pdfText(await renderPdf(doc(9)))).toContain("seat 9");
    expect(await pdfRendererState()).toBe("thread");

    // Asked while the thread is being stopped: rendered all the same.
    const stopping = stopPdfRenderer();
    const late = renderPdf(doc(10));
    await stopping;
    expect(pdfText(await late)).toContain("seat 10");
  });
});
