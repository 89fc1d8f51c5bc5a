import zlib from "zlib";
import { acceptsGzip, EncodedAnswer } from "../../src/platform/encoded-answer";
import { SeatMapAnswers, SeatMapBody } from "../../src/seats/seat-map-answer";

const body = (version: number, prices = { standard: 4500 }): SeatMapBody => ({
  sessionId: "s1",
  version,
  status: "aahs".repeat(5000),
  prices,
  currency: "EUR",
  areas: [],
});

describe("the seat map's encoded answer", () => {
  it("is the JSON of the body, gzipped on demand, with a strong ETag over the whole body", () => {
    const answer = EncodedAnswer.of(body(3));
    expect(JSON.parse(answer.json)).toEqual(body(3));
    expect(JSON.parse(zlib.gunzipSync(answer.gzip).toString())).toEqual(body(3));
    expect(answer.gzip.length).toBeLessThan(answer.json.length / 10);
    expect(Buffer.from(answer.gzipBase64, "base64").equals(answer.gzip)).toBe(true);
    expect(answer.etag).toMatch(/^"[\w-]+"$/);
    expect(EncodedAnswer.of(body(3)).etag).toBe(answer.etag);
    expect(EncodedAnswer.of(body(4)).etag).not.toBe(answer.etag);
    expect(EncodedAnswer.of(body(3, { standard: 5000 })).etag).not.toBe(answer.etag);
  });

  it("matches If-None-Match lists, weak validators and *", () => {
    const answer = EncodedAnswer.of(body(1));
    expect(answer.matches(answer.etag)).toBe(true);
    expect(answer.matches(`"x", W/${answer.etag}`)).toBe(true);
    expect(answer.matches("*")).toBe(true);
    expect(answer.matches('"other"')).toBe(false);
    expect(answer.matches(undefined)).toBe(false);
  });

  it("is built once per version and sale data, per variant", () => {
    const answers = new SeatMapAnswers();
    let built = 0;
    const build = (v: number) => () => (built++, body(v));
    const sale = { prices: { standard: 4500 } };
    const first = answers.answer(1, sale, true, build(1));
    expect(answers.answer(1, sale, true, build(1))).toBe(first);
    expect(answers.answer(1, sale, false, build(1))).not.toBe(first);
    expect(built).toBe(2);
    expect(answers.answer(2, sale, true, build(2))).not.toBe(first);
    // The actor re-read its sale data (prices may have changed): built afresh.
    answers.answer(2, { ...sale }, true, build(2));
    expect(built).toBe(4);
  });
});

describe("Accept-Encoding", () => {
  it.each([
    ["gzip, deflate, br", true],
    ["br;q=1.0, gzip;q=0.8, *;q=0.1", true],
    ["GZIP", true],
    ["gzip;q=0", false],
    ["gzip;q=0, *", false],
    ["deflate, *", true],
    ["*;q=0", false],
    ["identity", false],
    ["", false],
  ])("%j allows gzip: %s", (header, allowed) => {
    expect(acceptsGzip(header)).toBe(allowed);
  });
});
