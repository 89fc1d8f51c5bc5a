/**
 * The web UI in a real browser against a real embedded node (PGlite, every service, the demo
 * seed): buy seats, watch them go live in a second browser, a declined card, organizer setup with
 * the live dashboard, and check-in at the door.
 */
import fs from "fs";
import jwt from "jsonwebtoken";
import type { Browser, Page } from "playwright-core";
import crypto from "crypto";
import { signAccessToken } from "../../src/platform/auth";
import { startTestNode, TestNode } from "../helpers/node";
import { accountsRoutesReady, signUp, SignedUp } from "../helpers/accounts";
import { launch, openTab, screenshot, Tab, visibleTextProblems } from "./browser";

jest.setTimeout(400_000);

let node: TestNode;
let browser: Browser;
let buyer: Tab;
let watcher: Tab;
let sessionUrl = "";
let boughtSeats: string[] = [];
let ticketCode = "";

/** Waits until the seat with this index shows one of these states ("a", "h", "s", "b", "sel", "mine"). */
function waitSeatState(page: Page, i: string, states: string[]) {
  return page.waitForFunction(
    ([idx, wanted]) => {
      const el = document.querySelector(`rect.seat[data-i="${idx}"]`);
      return !!el && (wanted as string[]).includes(String(el.getAttribute("class")).split(" ").pop() as string);
    },
    [i, states] as const,
    { timeout: 60_000 },
  );
}

async function signInUi(page: Page, user: { email: string; password: string }) {
  await page.click("[data-testid=signin-open]");
  await page.fill("#auth-dialog input[name=email]", user.email);
  await page.fill("#auth-dialog input[name=password]", user.password);
  await page.click("#auth-dialog button[type=submit]");
  await page.waitForSelector("#account .avatar");
}

/** Two available seats side by side in one row (same y, neighbouring indexes). */
async function twoFreeSeats(page: Page): Promise<string[]> {
  await page.waitForSelector("rect.seat.a");
  return page.evaluate(() => {
    const seats = Array.from(document.querySelectorAll("rect.seat"));
    for (let k = 0; k + 1 < seats.length; k++) {
      const [a, b] = [seats[k], seats[k + 1]];
      if (a.classList.contains("a") && b.classList.contains("a") && a.getAttribute("y") === b.getAttribute("y")) {
        return [a.getAttribute("data-i") as string, b.getAttribute("data-i") as string];
      }
    }
    return [];
  });
}

async function pay(page: Page, card: string) {
  await page.fill("input[name=number]", card);
  await page.fill("input[name=exp]", "12/30");
  await page.fill("input[name=cvc]", "123");
  await page.click("[data-testid=pay]");
}

/** The gateway builds its routes a moment after start; the seat map route is the last we need. */
async function routesReady() {
  await accountsRoutesReady(node);
  const events = await node.http.get("/api/events?q=Hamlet");
  const sessionId = events.body.items[0] && (await node.http.get(`/api/events/${events.body.items[0].id}`)).body.sessions[0].id;
  for (let i = 0; i < 200; i++) {
    if ((await node.http.get(`/api/sessions/${sessionId}/seat-map?statusOnly=1`)).status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("seat map route never appeared");
}

beforeAll(async () => {
  node = await startTestNode({ seed: true, env: { SEED_DEMO: "1", LOG_LEVEL: "error" } });
  await routesReady();
  browser = await launch();
});

let testStarted = 0;
beforeEach(() => {
  testStarted = Date.now();
});

// What the buyer saw when a test ended (a failing one above all); after a test that ran into a
// timeout, also the watcher's page and what both pages asked the server and got back.
afterEach(async () => {
  const name = (expect.getState().currentTestName || "test").replace(/[^\w]+/g, "-").slice(0, 80);
  if (buyer && !buyer.page.isClosed()) await screenshot(buyer.page, `last-${name}`).catch(() => undefined);
  if (Date.now() - testStarted < 55_000) return;
  if (watcher && !watcher.page.isClosed()) await screenshot(watcher.page, `last-watcher-${name}`).catch(() => undefined);
  for (const [who, tab] of [["buyer", buyer], ["watcher", watcher]] as const) {
    if (tab) console.log(`${who} page, ${tab.page.url()}\nproblems: ${tab.problems.join("; ") || "none"}\n${tab.network().join("\n")}`);
  }
});

afterAll(async () => {
  await browser?.close();
  await node?.stop();
});

describe("buyer", () => {
  it("signs up, picks two seats on the map, pays with 4242 and sees CONFIRMED while a second browser sees the seats go live", async () => {
    buyer = await openTab(browser, node.baseUrl);
    const { page } = buyer;

    // Bad input is caught before sending and shown next to the field.
    await page.click("[data-testid=signin-open]");
    await page.click("#auth-dialog .link");
    await page.fill("#auth-dialog input[name=name]", "Ada Buyer");
    await page.fill("#auth-dialog input[name=email]", "not-an-email");
    await page.fill("#auth-dialog input[name=password]", "short");
    await page.click("#auth-dialog button[type=submit]");
    expect(await page.textContent("#auth-dialog")).toContain("Enter a valid email address.");
    expect(await page.getAttribute("#auth-dialog input[name=password]", "aria-invalid")).toBe("true");
    await page.fill("#auth-dialog input[name=email]", `ada-${Date.now()}@example.test`);
    await page.fill("#auth-dialog input[name=password]", "correct horse battery");
    await page.click("#auth-dialog button[type=submit]");
    await page.waitForSelector("#account .avatar");
    await page.waitForSelector("nav a[href='#/tickets']");

    await page.waitForSelector("[data-testid=event-card]");
    await screenshot(page, "01-events");
    await page.click("[data-testid=event-card]:has-text('Hamlet')");
    await page.waitForSelector("[data-testid=choose-seats]");
    await screenshot(page, "02-event");
    await page.click("[data-testid=choose-seats]");
    await page.waitForSelector("rect.seat");
    sessionUrl = page.url();

    watcher = await openTab(browser, node.baseUrl);
    await watcher.page.goto(sessionUrl);
    await watcher.page.waitForSelector("rect.seat.a");
    await watcher.page.waitForSelector("#live.on");
    // Record what reaches the watcher over the socket, to tell live pushes from a page refresh.
    await watcher.page.evaluate(() => {
      const w = window as unknown as { pushed: string[] };
      w.pushed = [];
      window.addEventListener("tf:seats", (e) => {
        for (const c of (e as CustomEvent).detail.changes) w.pushed.push(`${c.seatId}:${c.status}`);
      });
    });

    boughtSeats = await twoFreeSeats(page);
    expect(boughtSeats).toHaveLength(2);
    for (const i of boughtSeats) await page.click(`rect.seat[data-i="${i}"]`);
    expect(await page.locator("[data-testid=selection] li").count()).toBe(2);
    await screenshot(page, "03-session-selected");
    await page.click("[data-testid=hold]");
    await page.waitForSelector("[data-testid=held-seats] li");
    expect(await page.locator("[data-testid=held-seats] li").count()).toBe(2);
    expect(await page.textContent("[data-testid=countdown]")).toMatch(/Held for \d+:\d\d/);
    await screenshot(page, "04-hold-checkout");

    // The other browser learns about the hold over the socket, without reloading.
    for (const i of boughtSeats) await waitSeatState(watcher.page, i, ["h"]);
    const pushed = await watcher.page.evaluate(() => (window as unknown as { pushed: string[] }).pushed);
    expect(pushed.filter((p) => /:h/.test(p))).toHaveLength(2);

    await pay(page, "4242 4242 4242 4242");
    await page.waitForSelector("[data-testid=order-status][data-status=CONFIRMED]");
    await screenshot(page, "05-order-confirmed");
    for (const i of boughtSeats) await waitSeatState(watcher.page, i, ["s"]);
    expect(await visibleTextProblems(page)).toEqual([]);
  });

  it("shows the tickets with their QR code and downloads a real PDF, refreshing an expired access token", async () => {
    const { page } = buyer;
    // The access token has expired: the first call answers 401, the UI refreshes once and carries on.
    const spent = await page.evaluate(() => {
      const auth = JSON.parse(localStorage.getItem("tf.auth") as string);
      auth.accessToken = "expired.token.value";
      localStorage.setItem("tf.auth", JSON.stringify(auth));
      return auth.refreshToken as string;
    });
    await page.reload();
    await page.click("nav a[href='#/tickets']");
    await page.waitForSelector(".ticket[data-status=VALID]");
    await page.waitForFunction(() => document.querySelectorAll(".ticket").length === 2);
    expect(await page.evaluate(() => JSON.parse(localStorage.getItem("tf.auth") as string).refreshToken)).not.toBe(spent);
    await page.click("[data-testid=show-qr] >> nth=0");
    await page.waitForFunction(() => {
      const img = document.querySelector("img.qr") as HTMLImageElement | null;
      return !!img && img.complete && img.naturalWidth > 0;
    });
    ticketCode = ((await page.textContent(".ticket-code")) || "").trim();
    expect(ticketCode.length).toBeGreaterThan(20);
    await screenshot(page, "06-tickets");

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=pdf] >> nth=0")]);
    const file = await download.path();
    const pdf = fs.readFileSync(file as string);
    expect(pdf.subarray(0, 5).toString("latin1")).toBe("%PDF-");
    expect(pdf.subarray(-1024).toString("latin1")).toContain("%%EOF");
    expect(buyer.problems).toEqual([]);
  });

  it("keeps getting its order events over the socket after the token it connected with expires", async () => {
    const { page } = buyer;
    // The page connects its socket with a token that expires in 10 s.
    const user = await page.evaluate(() => JSON.parse(localStorage.getItem("tf.auth") as string).user as { id: string; email: string; name: string; roles: string[] });
    const shortLived = jwt.sign({ email: user.email, name: user.name, roles: user.roles }, node.platform.secrets.jwtSecret, {
      algorithm: "HS256", subject: user.id, issuer: "ticketflash", expiresIn: 10,
    });
    const expiresAt = (jwt.decode(shortLived) as { exp: number }).exp * 1000;
    await page.evaluate((token) => {
      const auth = JSON.parse(localStorage.getItem("tf.auth") as string);
      auth.accessToken = token;
      localStorage.setItem("tf.auth", JSON.stringify(auth));
    }, shortLived);
    await page.reload();
    await page.waitForSelector("#live.on");
    // Connected with the short-lived token while it was still valid (after, the handshake itself
    // would refuse it and the page would connect with a fresh token at once).
    expect(Date.now()).toBeLessThan(expiresAt - 1000);
    await page.evaluate(() => {
      const w = window as unknown as { orders: Array<{ orderId: string; status: string }> };
      w.orders = [];
      window.addEventListener("tf:order", (e) => w.orders.push((e as CustomEvent).detail));
    });
    // At expiry the server takes the socket out of the user's room and says so; the page gets a
    // fresh token and connects again. An order event sent after that must reach the page.
    await page.waitForFunction((spent) => JSON.parse(localStorage.getItem("tf.auth") as string).accessToken !== spent, shortLived, { timeout: 40_000 });
    const orderId = `order-after-expiry-${Date.now()}`;
    let seen = false;
    for (let i = 0; i < 40 && !seen; i++) {
      await node.broker.emit("orders.status", { orderId, userId: user.id, status: "CONFIRMED" });
      seen = await page
        .waitForFunction((id) => (window as unknown as { orders: Array<{ orderId: string; status: string }> }).orders.some((o) => o.orderId === id && o.status === "CONFIRMED"), orderId, { timeout: 500 })
        .then(() => true, () => false);
    }
    expect(seen).toBe(true);
    expect(buyer.problems).toEqual([]);
  });

  it("shows a declined card plainly and puts the seats back on sale", async () => {
    const { page } = buyer;
    await page.goto(sessionUrl);
    const seats = await twoFreeSeats(page);
    for (const i of seats) await page.click(`rect.seat[data-i="${i}"]`);
    await page.click("[data-testid=hold]");
    await page.waitForSelector("[data-testid=held-seats] li");
    for (const i of seats) await waitSeatState(watcher.page, i, ["h"]);
    await pay(page, "4000 0000 0000 0002");
    await page.waitForSelector("[data-testid=order-status][data-status=FAILED]");
    expect(await page.textContent("[data-testid=order-reason]")).toContain("Your card was declined");
    await screenshot(page, "07-order-declined");
    // The seats are back on sale for everyone: the other browser sees it live, the API agrees.
    for (const i of seats) await waitSeatState(watcher.page, i, ["a"]);
    const sessionId = sessionUrl.split("/").pop() as string;
    const map = await node.http.get(`/api/sessions/${sessionId}/seat-map`);
    for (const i of seats) expect(map.body.status[Number(i)]).toBe("a");
    for (const i of boughtSeats) expect(map.body.status[Number(i)]).toBe("s");
    expect(buyer.problems).toEqual([]);
    expect(watcher.problems).toEqual([]);
  });

  it("sends a hold whose answer was lost again, and holds the seats once", async () => {
    const { page } = buyer;
    await page.goto(sessionUrl);
    const seats = await twoFreeSeats(page);
    for (const i of seats) await page.click(`rect.seat[data-i="${i}"]`);
    // The first hold reaches the server, which holds the seats, but its answer never reaches the
    // browser (a dropped connection); the page sends it again.
    const keys: string[] = [];
    await page.route("**/api/sessions/*/holds", async (route) => {
      keys.push(route.request().headers()["idempotency-key"] ?? "");
      if (keys.length > 1) return route.continue();
      await route.fetch();
      await route.abort("connectionreset");
    });
    try {
      await page.click("[data-testid=hold]");
      await page.waitForSelector("[data-testid=held-seats] li");
    } finally {
      await page.unroute("**/api/sessions/*/holds");
    }
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/\S{16,}/);
    expect(keys[1]).toBe(keys[0]);
    // One hold, of the seats picked: the page shows it, and the database has no second one.
    const sessionId = decodeURIComponent(sessionUrl.split("/").pop() as string);
    const made = await node.platform.db().then((db) => db("holds").where({ session_id: sessionId }).where("created_at", ">=", new Date(testStarted)));
    expect(made).toHaveLength(1);
    expect(made[0].status).toBe("ACTIVE");
    expect(await page.locator("[data-testid=held-seats] li").count()).toBe(2);
    const { seatIds } = (await node.http.get(`/api/sessions/${sessionId}/seat-map`)).body as { seatIds: string[] };
    const claimed = await node.platform.db().then((db) => db("seat_claims").where({ session_id: sessionId, hold_id: made[0].id }).pluck("seat_id"));
    expect(claimed.sort()).toEqual(seats.map((i) => seatIds[Number(i)]).sort());
    for (const i of seats) await waitSeatState(watcher.page, i, ["h"]);
    await page.click("button:has-text('Release')");
    for (const i of seats) await waitSeatState(watcher.page, i, ["a"]);
    expect(buyer.problems).toEqual([]);
  });

  it("selects seats with the keyboard, holds and releases the best available, and switches the event texts to German", async () => {
    const { page } = buyer;
    await page.goto(sessionUrl);
    await page.reload();
    await page.waitForSelector("rect.seat.a");
    await page.focus("rect.seat[tabindex='0']");
    // Move onto a free seat with the arrow keys and take it with Enter.
    let label = "";
    for (let k = 0; k < 40; k++) {
      label = (await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))) || "";
      if (label.endsWith("available")) break;
      await page.keyboard.press("ArrowRight");
    }
    expect(label).toMatch(/^Section .+, row .+, seat .+, available$/);
    await page.keyboard.press("Enter");
    expect(await page.locator("[data-testid=selection] li").count()).toBe(1);

    // "Best available" holds seats the server picks; releasing them puts them back for everyone.
    await page.selectOption("select[name=qty]", "3");
    await page.click("[data-testid=best-available]");
    await page.waitForSelector("[data-testid=held-seats] li");
    expect(await page.locator("[data-testid=held-seats] li").count()).toBe(3);
    const best = await page.evaluate(() => Array.from(document.querySelectorAll("rect.seat.mine")).map((r) => r.getAttribute("data-i") as string));
    expect(best).toHaveLength(3);
    for (const i of best) await waitSeatState(watcher.page, i, ["h"]);
    await page.click("button:has-text('Release')");
    for (const i of best) await waitSeatState(watcher.page, i, ["a"]);

    await page.selectOption("#lang", "de");
    await page.goto(`${node.baseUrl}/#/`);
    await page.waitForSelector("[data-testid=event-card]:has-text('Stadiontour')");
    expect(await page.textContent(".hero h1")).toBe("Finden Sie Ihr nächstes Erlebnis");
    await page.selectOption("#lang", "en");
  });

  it("counts down to a sale's opening and opens it on the page, without a reload", async () => {
    const { page } = buyer;
    // An organizer's new date of Hamlet, in its venue at its prices, on sale a few seconds from now.
    const organizerId = crypto.randomUUID();
    const organizer = node.http.as(signAccessToken(node.platform.secrets.jwtSecret, { id: organizerId, email: `${organizerId}@example.test`, name: "Organizer", roles: ["buyer", "organizer"] }));
    const hamlet = (await node.http.get("/api/events?q=Hamlet")).body.items[0];
    const model = (await node.http.get(`/api/events/${hamlet.id}`)).body.sessions[0];
    const event = await organizer.post("/api/events", { title: "Hamlet, extra dates", category: "theatre", city: "Berlin", status: "on_sale" });
    expect(event.status).toBe(201);
    const opensAt = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();
    const newSession = async (salesOpenAt: string) => {
      const startsAt = Date.now() + 10 * 86_400_000;
      const res = await organizer.post("/api/sessions", {
        eventId: event.body.id,
        venueId: model.venueId,
        prices: model.prices,
        currency: model.currency,
        startsAt: new Date(startsAt).toISOString(),
        endsAt: new Date(startsAt + 3 * 3_600_000).toISOString(),
        salesOpenAt,
      });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };
    await newSession(opensAt(12));
    const later = await newSession(opensAt(24));

    // The event page counts down; when the time comes, the date goes on sale on the page itself.
    // So it does in a browser whose clock is an hour fast: the countdown keeps the server's time.
    const fastClock = await openTab(browser, node.baseUrl);
    await fastClock.page.clock.setSystemTime(Date.now() + 3_600_000);
    for (const p of [page, fastClock.page]) {
      await p.goto(`${node.baseUrl}/#/event/${event.body.id}`);
      await p.waitForSelector("[data-testid=opens-in]");
      expect(await p.textContent("[data-testid=opens-in]")).toMatch(/^On sale in 0:[01]\d$/);
      expect(await p.locator("[data-testid=choose-seats]").count()).toBe(0);
      await p.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    }
    for (const p of [page, fastClock.page]) {
      await p.waitForSelector("[data-testid=choose-seats]", { timeout: 20_000 });
      expect(await p.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
      expect(await p.locator("[data-testid=choose-seats]").count()).toBe(1);
    }
    await screenshot(page, "08-sale-opened");
    expect(fastClock.problems).toEqual([]);
    await fastClock.page.context().close();

    // The later date's own page: the map to look at, no way to hold yet, then the sale opens.
    await page.goto(`${node.baseUrl}/#/session/${later}`);
    await page.waitForSelector("rect.seat.a");
    expect(await page.textContent("[data-testid=opens-in]")).toMatch(/^Tickets go on sale in 0:\d\d\./);
    expect(await page.locator("[data-testid=best-available]").count()).toBe(0);
    await page.waitForSelector("[data-testid=best-available]", { timeout: 20_000 });
    await page.click("[data-testid=best-available]");
    await page.waitForSelector("[data-testid=held-seats] li");
    await page.click("button:has-text('Release')");
    await page.waitForSelector("[data-testid=best-available]");
    expect(buyer.problems).toEqual([]);
  });

  it("renders the 22,000-seat stadium on a phone and zooms", async () => {
    const phone = await openTab(browser, node.baseUrl, { mobile: true });
    const { page } = phone;
    await page.waitForSelector("[data-testid=event-card]");
    await screenshot(page, "08-events-phone");
    await page.click("[data-testid=event-card]:has-text('Stadium')");
    await page.click("[data-testid=choose-seats]");
    await page.waitForFunction(() => document.querySelectorAll("rect.seat").length === 22000);
    await screenshot(page, "09-stadium-phone");
    const before = await page.getAttribute("svg.seatmap-svg", "viewBox");
    await page.click("button[aria-label='Zoom in']");
    await page.click("button[aria-label='Zoom in']");
    await page.waitForFunction((vb) => document.querySelector("svg.seatmap-svg")?.getAttribute("viewBox") !== vb, before);
    await screenshot(page, "10-stadium-zoomed-phone");
    expect(phone.problems).toEqual([]);
    await phone.context.close();
  });

  it("keeps the buyer on the page they opened while the events list is still searching or loading", async () => {
    const tab = await openTab(browser, node.baseUrl);
    const { page } = tab;
    await page.waitForSelector("[data-testid=event-card]:has-text('Hamlet')");

    // Type a search and open an event before the list has run it (it waits for typing to pause).
    await page.fill("input[name=q]", "Stadium");
    await page.click("[data-testid=event-card]:has-text('Hamlet')");
    await page.waitForSelector("[data-testid=choose-seats]");
    const eventUrl = page.url();
    expect(eventUrl).toMatch(/#\/event\/[^/?]+$/);
    // Let the search's pause go by (a page timer set now fires after it): the address is still the
    // event's, so reloading or sharing it shows the event, not the list.
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 600)));
    expect(page.url()).toBe(eventUrl);
    await page.reload();
    await page.waitForSelector("[data-testid=choose-seats]");
    await page.click("[data-testid=choose-seats]");
    await page.waitForSelector("rect.seat.a");
    const sessionHash = new URL(page.url()).hash;
    expect(sessionHash).toMatch(/^#\/session\//);

    // The list starts loading just as the address moves on to a session (its hashchange not handled
    // yet): the buyer gets the session's seat map, not the list again.
    await page.goto(`${node.baseUrl}/#/`);
    await page.waitForSelector("[data-testid=event-card]");
    await page.evaluate((hash) => {
      location.hash = hash;
      document.querySelector<HTMLFormElement>("form.filters")!.requestSubmit();
    }, sessionHash);
    await page.waitForSelector("rect.seat.a");
    expect(new URL(page.url()).hash).toBe(sessionHash);
    expect(await page.locator("[data-testid=event-card]").count()).toBe(0);
    expect(tab.problems).toEqual([]);
    await tab.context.close();
  });
});

describe("organizer", () => {
  let organizer: SignedUp;
  let buyerApi: SignedUp;

  it("creates a venue, an event and a session, and sees a sale arrive on the live dashboard", async () => {
    organizer = await signUp(node, { roles: ["organizer"], name: "Olga Organizer" });
    buyerApi = await signUp(node, { name: "Bo Buyer" });
    const tab = await openTab(browser, node.baseUrl);
    const { page } = tab;
    await signInUi(page, organizer);
    await page.click("nav a[href='#/admin']");

    await page.click("a.tab[href='#/admin/venues']");
    await page.waitForSelector("input[name=sections]");
    await page.click("[data-testid=create-venue]");
    expect(await page.textContent(".field:has(input[name=name]) .field-error")).toBe("Required.");
    await page.fill("input[name=name]", "Kleine Bühne");
    await page.fill("input[name=city]", "Leipzig");
    await page.fill("input[name=sections]", "2");
    await page.fill("input[name=rows]", "4");
    await page.fill("input[name=seatsPerRow]", "10");
    await page.fill("input[name=categories]", "Front, Back");
    await page.fill("input[name=sectionNames]", "Parkett, Rang");
    await page.waitForFunction(() => document.querySelectorAll(".preview rect.seat").length === 80);
    await screenshot(page, "11-admin-venue");
    await page.click("[data-testid=create-venue]");
    await page.waitForSelector(".simple-list li:has-text('Kleine Bühne')");

    await page.click("a.tab[href='#/admin/events']");
    await page.waitForSelector("input[name=title]");
    // Titles are text, never markup.
    const title = "<img src=x onerror=alert(1)> Gala & Friends";
    await page.fill("input[name=title]", title);
    await page.fill("textarea[name=description]", "An evening of music.");
    await page.fill("input[name=category]", "concert");
    await page.fill("input[name=city]", "Leipzig");
    await page.fill("input[name=deTitle]", "Gala und Freunde");
    await page.click("[data-testid=create-event]");
    await page.waitForSelector(".simple-list li:has-text('Gala & Friends')");
    expect(await page.locator("img[src=x]").count()).toBe(0);
    expect(await page.textContent(".simple-list")).toContain(title);

    await page.click("a.tab[href='#/admin/sessions']");
    await page.waitForSelector("select[name=eventId]");
    await page.selectOption("select[name=eventId]", { label: title });
    const venueValue = await page.evaluate(() => Array.from(document.querySelectorAll("select[name=venueId] option")).find((o) => o.textContent?.startsWith("Kleine Bühne"))?.getAttribute("value"));
    await page.selectOption("select[name=venueId]", venueValue as string);
    await page.waitForSelector("input[data-category=Front]");
    await page.fill("input[data-category=Front]", "40.00");
    await page.fill("input[data-category=Back]", "abc");
    await page.click("[data-testid=create-session]");
    expect(await page.textContent(".field:has(input[data-category=Back]) .field-error")).toContain("Enter a price");
    await page.fill("input[data-category=Back]", "25.50");
    await page.click("[data-testid=create-session]");
    await page.waitForSelector("[data-testid=session-dashboard]");
    await screenshot(page, "12-admin-sessions");
    await page.click("[data-testid=session-dashboard] >> nth=0");
    await page.waitForSelector("[data-testid=kpi-sold]");
    expect(await page.textContent("[data-testid=kpi-sold]")).toBe("0");
    expect(await page.textContent("[data-testid=kpi-available]")).toBe("80");

    // A buyer takes two Front seats through the API while the organizer watches.
    const sessionId = decodeURIComponent(page.url().split("/").pop() as string);
    const hold = await buyerApi.http.post(`/api/sessions/${sessionId}/holds`, { quantity: 2, category: "Front" });
    expect(hold.status).toBe(201);
    const order = await buyerApi.http.post("/api/orders", { holdId: hold.body.holdId, payment: { method: "card", card: { number: "4242424242424242", expMonth: 12, expYear: 2030, cvc: "123" } } }, { "Idempotency-Key": `e2e-${Date.now()}` });
    expect(order.status).toBe(202);
    await page.waitForFunction(() => document.querySelector("[data-testid=kpi-sold]")?.textContent === "2");
    expect(await page.textContent("[data-testid=kpi-revenue]")).toMatch(/80[.,]00/);
    await page.waitForSelector(".chart path.line");
    await screenshot(page, "13-dashboard");
    expect(await visibleTextProblems(page)).toEqual([]);
    expect(tab.problems).toEqual([]);
    await tab.context.close();
  });
});

describe("scanner", () => {
  it("checks a ticket in once (OK), then says it was already checked in, and turns away a cancelled order's ticket", async () => {
    const scanner = await signUp(node, { roles: ["scanner"], name: "Sam Scanner" });
    const tab = await openTab(browser, node.baseUrl);
    const { page } = tab;
    await signInUi(page, scanner);
    await page.click("nav a[href='#/scanner']");
    await page.waitForSelector("[data-testid=scan-code]");
    await page.click("button[type=submit]");
    expect(await page.textContent(".field-error")).toBe("Required.");

    await page.fill("[data-testid=scan-code]", "TF1.not-a-ticket");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=scan-result][data-result=unknown]");

    await page.fill("[data-testid=scan-code]", ticketCode);
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=scan-result][data-result=ok]");
    expect(await page.textContent("[data-testid=scan-result]")).toContain("OK");
    await screenshot(page, "14-scanner-ok");

    await page.fill("[data-testid=scan-code]", ticketCode);
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=scan-result][data-result=already]");
    expect(await page.textContent("[data-testid=scan-result]")).toMatch(/Already checked in.*First checked in at/s);
    await screenshot(page, "15-scanner-already");

    // The buyer cancels another order in My tickets; its ticket is turned away at the door.
    const token = await buyer.page.evaluate(() => JSON.parse(localStorage.getItem("tf.auth") as string).accessToken as string);
    const api = node.http.as(token);
    const sessionId = sessionUrl.split("/").pop() as string;
    const hold = await api.post(`/api/sessions/${sessionId}/holds`, { quantity: 1 });
    expect(hold.status).toBe(201);
    const order = await api.post("/api/orders", { holdId: hold.body.holdId, payment: { method: "card", card: { number: "4242424242424242", expMonth: 12, expYear: 2030, cvc: "123" } } }, { "Idempotency-Key": `e2e-cancel-${Date.now()}` });
    expect(order.status).toBe(202);
    const orderId = order.body.orderId as string;
    await buyer.page.goto(`${node.baseUrl}/#/tickets`);
    await buyer.page.waitForSelector(`[data-order="${orderId}"] .ticket[data-status=VALID]`);
    buyer.page.once("dialog", (d) => void d.accept());
    await buyer.page.click(`[data-order="${orderId}"] button.danger`);
    await buyer.page.waitForSelector(`[data-order="${orderId}"] .ticket[data-status=REVOKED]`);
    expect(["CANCELLED", "REFUNDED"]).toContain(await buyer.page.getAttribute(`[data-order="${orderId}"]`, "data-status"));
    await screenshot(buyer.page, "16-tickets-cancelled");
    const revoked = (await api.get(`/api/tickets/my?orderId=${orderId}`)).body.items[0];
    await page.fill("[data-testid=scan-code]", revoked.code);
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=scan-result][data-result=revoked]");
    await screenshot(page, "17-scanner-revoked");
    expect(tab.problems).toEqual([]);
    await tab.context.close();
  });
});
