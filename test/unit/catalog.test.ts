import { acceptedLanguages, chooseLanguage, isOnSale, localize, priceProblems, scheduleProblems } from "../../src/domain/catalog";

describe("catalog rules", () => {
  const now = new Date("2027-03-01T12:00:00Z");
  const session = { status: "scheduled" as const, startsAt: "2027-03-10T19:00:00Z", salesOpenAt: null, salesCloseAt: null };

  it("a session is on sale only while its event is on sale, it is scheduled and the sales window is open", () => {
    expect(isOnSale("on_sale", session, now)).toBe(true);
    expect(isOnSale("draft", session, now)).toBe(false);
    expect(isOnSale("cancelled", session, now)).toBe(false);
    expect(isOnSale("on_sale", { ...session, status: "cancelled" }, now)).toBe(false);
    expect(isOnSale("on_sale", { ...session, salesOpenAt: "2027-03-02T00:00:00Z" }, now)).toBe(false);
    expect(isOnSale("on_sale", { ...session, salesOpenAt: "2027-03-01T12:00:00Z" }, now)).toBe(true);
    expect(isOnSale("on_sale", { ...session, salesCloseAt: "2027-03-01T12:00:00Z" }, now)).toBe(false);
    // Without a close time sales end when the session starts.
    expect(isOnSale("on_sale", session, new Date("2027-03-10T19:00:00Z"))).toBe(false);
    expect(isOnSale("on_sale", session, new Date("2027-03-10T18:59:59Z"))).toBe(true);
  });

  it("reads Accept-Language by preference and skips junk", () => {
    expect(acceptedLanguages("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.95, *;q=0.5")).toEqual(["fr", "de", "en"]);
    expect(acceptedLanguages("de-DE")).toEqual(["de"]);
    expect(acceptedLanguages("'; DROP TABLE, 12, en;q=0")).toEqual([]);
    expect(acceptedLanguages(undefined)).toEqual([]);
  });

  it("picks an explicit lang first, then the header, else English", () => {
    expect(chooseLanguage(["de"], "de")).toBe("de");
    expect(chooseLanguage(["de"], "DE-at")).toBe("de");
    expect(chooseLanguage(["de"], "fr", "de")).toBe("en");
    expect(chooseLanguage(["de"], undefined, "fr, de;q=0.5")).toBe("de");
    expect(chooseLanguage(["de"], undefined, "en, de;q=0.5")).toBe("en");
    expect(chooseLanguage([], undefined, undefined)).toBe("en");
  });

  it("localizes field by field with English fallback", () => {
    const base = { title: "Concert", description: "Loud" };
    expect(localize(base, { de: { title: "Konzert", description: "Laut" } }, "de")).toEqual({ title: "Konzert", description: "Laut", lang: "de" });
    expect(localize(base, { de: { title: "Konzert", description: "" } }, "de")).toEqual({ title: "Konzert", description: "Loud", lang: "de" });
    expect(localize(base, {}, "fr")).toEqual({ ...base, lang: "en" });
    expect(localize(base, null, "de")).toEqual({ ...base, lang: "en" });
  });

  it("finds categories a price list misses or invents", () => {
    expect(priceProblems({ A: 1, B: 2 }, ["A", "B"])).toEqual({ missing: [], unknown: [] });
    expect(priceProblems({ A: 1, Z: 2 }, ["A", "B"])).toEqual({ missing: ["B"], unknown: ["Z"] });
  });
});

describe("session schedule", () => {
  const d = (s: string) => new Date(s);
  const ok = { startsAt: d("2027-05-01T19:00:00Z"), endsAt: d("2027-05-01T22:00:00Z") };
  it("accepts a plain schedule and a sales window", () => {
    expect(scheduleProblems(ok)).toEqual([]);
    expect(scheduleProblems({ ...ok, salesOpenAt: d("2027-04-01T00:00:00Z"), salesCloseAt: d("2027-05-01T18:00:00Z") })).toEqual([]);
  });
  it("names the field that breaks a rule", () => {
    expect(scheduleProblems({ ...ok, endsAt: ok.startsAt }).map((p) => p.field)).toEqual(["endsAt"]);
    expect(scheduleProblems({ ...ok, salesOpenAt: d("2027-04-02T00:00:00Z"), salesCloseAt: d("2027-04-01T00:00:00Z") }).map((p) => p.field)).toEqual(["salesCloseAt"]);
    expect(scheduleProblems({ ...ok, salesOpenAt: d("2027-05-02T00:00:00Z") }).map((p) => p.field)).toEqual(["salesOpenAt"]);
    expect(scheduleProblems({ startsAt: new Date(5), endsAt: new Date(10) }).map((p) => p.field)).toEqual(["startsAt", "endsAt"]);
  });
});
