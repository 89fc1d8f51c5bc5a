/**
 * Reads a QR code the way a scanner would: from pixels. PDFs are rasterised with poppler's
 * pdftoppm (Debian package poppler-utils), then decoded with jsQR.
 */
import { execFileSync } from "child_process";
import fs from "fs";
import os from "os";
import path from "path";
import jsQR from "jsqr";
import { PNG } from "pngjs";

export function decodeQrPng(png: Buffer): string | undefined {
  const image = PNG.sync.read(png);
  const found = jsQR(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length), image.width, image.height);
  return found?.data;
}

function withTempPdf<T>(pdf: Buffer, fn: (file: string, dir: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-pdf-"));
  try {
    const file = path.join(dir, "ticket.pdf");
    fs.writeFileSync(file, pdf);
    return fn(file, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Page 1 at 150 dpi as PNG. */
export function rasterizePdf(pdf: Buffer): Buffer {
  return withTempPdf(pdf, (file, dir) => {
    execFileSync("pdftoppm", ["-png", "-r", "150", "-f", "1", "-l", "1", "-singlefile", file, path.join(dir, "page")]);
    return fs.readFileSync(path.join(dir, "page.png"));
  });
}

export function pdfInfo(pdf: Buffer): string {
  return withTempPdf(pdf, (file) => execFileSync("pdfinfo", [file]).toString());
}

export function pdfText(pdf: Buffer): string {
  return withTempPdf(pdf, (file) => execFileSync("pdftotext", [file, "-"]).toString());
}

export function decodeQrFromPdf(pdf: Buffer): string | undefined {
  return decodeQrPng(rasterizePdf(pdf));
}
