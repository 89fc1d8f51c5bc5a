/**
 * Debian's Chromium driven by playwright-core (no browser is ever downloaded). Screenshots of each
 * main page go to test/e2e/screenshots/ (git-ignored) for a person to look at.
 */
import fs from "fs";
import path from "path";
import { chromium, Browser, BrowserContext, Page } from "playwright-core";

export const SCREENSHOTS = path.resolve(__dirname, "screenshots");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

export async function launch(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export interface Tab {
  context: BrowserContext;
  page: Page;
  /** Problems the page reported: uncaught errors, console errors, requests to other origins. */
  problems: string[];
  /** What the page asked the server lately and what came back (the last 60 lines), and what is still unanswered. */
  network(): string[];
}

/** A fresh browser profile (its own storage) on the app; phone-sized with `mobile`. */
export async function openTab(browser: Browser, baseUrl: string, opts: { mobile?: boolean } = {}): Promise<Tab> {
  const context = await browser.newContext({
    viewport: opts.mobile ? { width: 390, height: 844 } : { width: 1366, height: 900 },
    deviceScaleFactor: 1,
    hasTouch: !!opts.mobile,
    acceptDownloads: true,
    locale: "en-US",
  });
  const page = await context.newPage();
  // Waits, not assertions on speed: on a shared 2-core machine a PDF render can stall the node for a while.
  page.setDefaultTimeout(90_000);
  const problems: string[] = [];
  const origin = new URL(baseUrl).origin;
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    // The browser logs every non-2xx fetch; those are expected answers (409, 422), not UI errors.
    if (msg.type() === "error" && !/Failed to load resource/.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  page.on("request", (req) => {
    const url = req.url();
    if (!url.startsWith(origin) && !url.startsWith("data:") && !url.startsWith("blob:")) problems.push(`foreign request: ${url}`);
  });
  // Kept for a test that times out: which request went unanswered, or what the server said.
  const recent: string[] = [];
  const pending = new Map<unknown, string>();
  const note = (line: string) => {
    recent.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
    if (recent.length > 60) recent.shift();
  };
  page.on("request", (req) => {
    const line = `${req.method()} ${req.url().replace(origin, "")}`;
    pending.set(req, `${new Date().toISOString().slice(11, 23)} ${line}`);
    note(`-> ${line}`);
  });
  page.on("response", (res) => note(`<- ${res.status()} ${res.request().method()} ${res.url().replace(origin, "")}`));
  page.on("requestfinished", (req) => pending.delete(req));
  page.on("requestfailed", (req) => {
    pending.delete(req);
    note(`!! ${req.failure()?.errorText ?? "failed"} ${req.method()} ${req.url().replace(origin, "")}`);
  });
  const network = () => [...recent, ...[...pending.values()].map((p) => `unanswered since ${p}`)];
  if (process.env.E2E_TRACE) {
    page.on("request", (req) => console.log(`${new Date().toISOString()} -> ${req.method()} ${req.url().replace(origin, "")}`));
    page.on("response", (res) => console.log(`${new Date().toISOString()} <- ${res.status()} ${res.request().method()} ${res.url().replace(origin, "")}`));
  }
  await page.goto(`${baseUrl}/#/`);
  return { context, page, problems, network };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** No "undefined", "NaN", "[object Object]" or stack trace anywhere in the visible text. */
export async function visibleTextProblems(page: Page): Promise<string[]> {
  const text = await page.evaluate(() => document.body.innerText);
  return ["undefined", "NaN", "[object Object]", "    at "].filter((bad) => text.includes(bad));
}
