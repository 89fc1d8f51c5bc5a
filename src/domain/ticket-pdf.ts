/**
 * A ticket as a one-page PDF (pdfkit) and its QR code as a PNG (qrcode).
 *
 * The QR is drawn as vector rectangles from the QR matrix rather than embedded as an image:
 * measured on this machine, ~490 tickets/s per core against ~110/s with a PNG; the image, not
 * the PDF, is the cost. Runs of dark modules in a row become one rectangle, so a version-10
 * code is a few hundred path segments.
 */
import zlib from "zlib";
import PDFDocument from "pdfkit";
import QRCode from "qrcode";

export interface TicketDocument {
  ticketId: string;
  code: string;
  eventTitle: string;
  /** ISO time; rendered in UTC (the venue's zone is not part of the catalog). */
  startsAt?: string | null;
  venueName?: string | null;
  venueAddress?: string | null;
  seatLabel: string;
  category?: string | null;
  holderName: string;
  /**
   * When the ticket was issued: the PDF's creation date. With it, a ticket's PDF is the same
   * bytes whoever renders it and when (the worker, a buyer's GET, another node, a render after
   * its file was lost); pdfkit otherwise dates each document with its rendering.
   */
  issuedAt?: string | Date | null;
}

/** M: the code survives a scuffed print or a cracked phone screen, and stays small. */
const QR_ERROR_CORRECTION = "M" as const;
const QUIET_ZONE_MODULES = 4;
/** Mask 0, the (row + column) % 2 checkerboard. */
const QR_MASK = 0;

export function qrMatrix(code: string): { size: number; dark(row: number, col: number): boolean } {
  // One byte-mode segment: a signed code is base64url text, which no other QR mode encodes, so
  // letting qrcode search for the optimal mix of segments (a shortest-path search per code, a
  // fifth of a PDF's CPU) always ended in byte mode anyway. One fixed mask: the standard lets
  // an encoder pick any of the eight, and scoring all eight (qrcode's default) was 6% of the
  // PDF worker's CPU in the benchmark; scanners read every mask.
  const { modules } = QRCode.create([{ data: Buffer.from(code, "utf8"), mode: "byte" }], { errorCorrectionLevel: QR_ERROR_CORRECTION, maskPattern: QR_MASK });
  return { size: modules.size, dark: (row, col) => !!modules.get(row, col) };
}

/**
 * Draws the QR of `code` with its top-left corner at (x, y), `width` points wide incl. quiet zone.
 * The modules are written as one path in module units under a scaling transform: each run of
 * dark modules in a row is `col row length 1 re`, small integers, instead of pdfkit's `rect`
 * with four formatted decimals per run. That was a third of a ticket's render time, and the
 * shorter content stream is also cheaper to compress.
 */
function drawQr(doc: PDFKit.PDFDocument, code: string, x: number, y: number, width: number) {
  const qr = qrMatrix(code);
  const total = qr.size + 2 * QUIET_ZONE_MODULES;
  const m = width / total;
  doc.save();
  doc.rect(x, y, width, width).fill("#ffffff");
  doc.transform(m, 0, 0, m, x + QUIET_ZONE_MODULES * m, y + QUIET_ZONE_MODULES * m);
  const runs: string[] = [];
  for (let row = 0; row < qr.size; row++) {
    let col = 0;
    while (col < qr.size) {
      if (!qr.dark(row, col)) {
        col++;
        continue;
      }
      const start = col;
      while (col < qr.size && qr.dark(row, col)) col++;
      runs.push(`${start} ${row} ${col - start} 1 re`);
    }
  }
  (doc as unknown as { addContent(ops: string): void }).addContent(runs.join("\n"));
  doc.fill("#000000");
  doc.restore();
}

function formatTime(iso?: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/**
 * pdfkit parses a standard font's metrics (glyph widths, kerning pairs: its AFMFont) afresh for
 * every document, once per font used: in the purchase benchmark that was the largest single
 * function of the node (5% of its CPU). The metrics never change, so every ticket document here
 * shares one parse per font. Each document still gets a font object of its own (its own id and
 * PDF dictionary), made like pdfkit's own StandardFont, around the shared metrics.
 */
type FontInternals = { document: unknown; id: string };
type DocumentInternals = { _fontFamilies?: Record<string, FontInternals>; _fontCount: number };
const SHARED_FONTS = new Set(["Helvetica", "Helvetica-Bold"]);
const fontTemplates = new Map<string, FontInternals>();

function sharedFont(doc: DocumentInternals, name: string): FontInternals {
  let template = fontTemplates.get(name);
  if (!template) {
    // pdfkit's own font object, from a throwaway document: it never reaches a PDF.
    const scratch = new PDFDocument({ autoFirstPage: false }).font(name) as unknown as { _font: FontInternals };
    fontTemplates.set(name, (template = scratch._font));
  }
  const font = Object.create(Object.getPrototypeOf(template) as object) as FontInternals;
  return Object.assign(font, template, { document: doc, id: `F${++doc._fontCount}` });
}

class TicketPdfDocument extends PDFDocument {
  font(src: PDFKit.Mixins.PDFFontSource, family?: string | number, size?: number): this {
    const self = this as unknown as DocumentInternals;
    if (typeof src === "string" && SHARED_FONTS.has(src) && self._fontFamilies && !self._fontFamilies[src]) {
      self._fontFamilies[src] = sharedFont(self, src);
    }
    return (super.font as (s: PDFKit.Mixins.PDFFontSource, f?: string | number, z?: number) => this)(src, family, size);
  }
}

function creationDate(issuedAt: TicketDocument["issuedAt"]): { CreationDate?: Date } {
  const at = issuedAt ? new Date(issuedAt) : undefined;
  return at && !Number.isNaN(at.getTime()) ? { CreationDate: at } : {};
}

export function renderTicketPdf(t: TicketDocument): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // A6 portrait: prints on any printer, reads well on a phone.
    const doc = new TicketPdfDocument({
      size: "A6",
      margin: 20,
      info: { Title: `Ticket ${t.ticketId}`, Author: "TicketFlash", Subject: t.eventTitle, ...creationDate(t.issuedAt) },
    });
    const chunks: Buffer[] = [];
    doc.on("data", (c: Buffer) => chunks.push(c));
    doc.on("end", () => resolve(Buffer.concat(chunks)));
    doc.on("error", reject);

    const width = doc.page.width - 40;
    doc.font("Helvetica-Bold").fontSize(15).text(t.eventTitle, 20, 20, { width, height: 40, ellipsis: true });
    doc.moveDown(0.3).font("Helvetica").fontSize(10);
    const when = formatTime(t.startsAt);
    if (when) doc.text(when, { width });
    if (t.venueName) doc.text(t.venueName, { width, height: 14, ellipsis: true });
    if (t.venueAddress) doc.fillColor("#555555").text(t.venueAddress, { width, height: 14, ellipsis: true }).fillColor("#000000");

    doc.moveDown(0.6).font("Helvetica-Bold").fontSize(13).text(t.seatLabel, { width });
    if (t.category) doc.font("Helvetica").fontSize(9).text(t.category, { width });
    doc.font("Helvetica").fontSize(10).text(t.holderName, { width, height: 14, ellipsis: true });

    const qrWidth = Math.min(width, 200);
    const qrY = doc.page.height - qrWidth - 40;
    drawQr(doc, t.code, (doc.page.width - qrWidth) / 2, qrY, qrWidth);
    doc.font("Helvetica").fontSize(7).fillColor("#555555")
      .text(`Ticket ${t.ticketId}`, 20, doc.page.height - 34, { width, align: "center", lineBreak: false });
    doc.end();
  });
}

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

function crc32(bytes: Buffer): number {
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), body.length + 4);
  return out;
}

/**
 * The QR as a black-and-white PNG, `scale` pixels per module. Encoded here with the native zlib:
 * qrcode's own PNG path (pngjs) took seconds per image under load, this takes milliseconds.
 */
export function renderTicketQrPng(code: string, scale = 8): Buffer {
  const qr = qrMatrix(code);
  const modules = qr.size + 2 * QUIET_ZONE_MODULES;
  const width = modules * scale;
  // One grey byte per pixel (0 black, 255 white), each row prefixed by filter type 0.
  const raw = Buffer.alloc((width + 1) * width, 255);
  for (let y = 0; y < width; y++) {
    const row = Math.floor(y / scale) - QUIET_ZONE_MODULES;
    raw[y * (width + 1)] = 0;
    if (row < 0 || row >= qr.size) continue;
    for (let col = 0; col < qr.size; col++) {
      if (!qr.dark(row, col)) continue;
      const start = y * (width + 1) + 1 + (col + QUIET_ZONE_MODULES) * scale;
      raw.fill(0, start, start + scale);
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(width, 4);
  header[8] = 8; // bit depth
  header[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", zlib.deflateSync(raw)),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}
