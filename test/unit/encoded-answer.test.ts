import { EncodedAnswer, EncodedAnswers } from "../../src/platform/encoded-answer";

/** A make() that counts its calls and resolves when the test says so. */
function maker(body: unknown) {
  const made = { calls: 0, release: () => undefined as void };
  const make = () => {
    made.calls++;
    return new Promise<EncodedAnswer>((resolve) => {
      made.release = () => resolve(EncodedAnswer.of(body));
    });
  };
  return { made, make };
}

describe("encoded answers by key and version", () => {
  it("makes an answer once per version, shared by readers who ask while it is being made", async () => {
    const answers = new EncodedAnswers(4);
    const { made, make } = maker({ layout: "stadium" });
    const waiting = Array.from({ length: 20 }, () => answers.get("v1", '"a"', make));
    made.release();
    const got = await Promise.all(waiting);
    expect(made.calls).toBe(1);
    expect(new Set(got).size).toBe(1);
    expect(await answers.get("v1", '"a"', make)).toBe(got[0]);
    expect(made.calls).toBe(1);
    // A new version of the source is made afresh.
    const next = answers.get("v1", '"b"', make);
    made.release();
    expect(await next).not.toBe(got[0]);
    expect(made.calls).toBe(2);
  });

  it("forgets a failed make, so the next reader tries again", async () => {
    const answers = new EncodedAnswers(4);
    await expect(answers.get("v1", '"a"', () => Promise.reject(new Error("venue gone")))).rejects.toThrow("venue gone");
    await Promise.resolve();
    expect(answers.size).toBe(0);
    const { made, make } = maker({ ok: true });
    const again = answers.get("v1", '"a"', make);
    made.release();
    expect(JSON.parse((await again).json)).toEqual({ ok: true });
  });

  it("keeps at most `kept` keys, dropping the least recently read", async () => {
    const answers = new EncodedAnswers(2);
    const calls: string[] = [];
    const make = (key: string) => () => (calls.push(key), Promise.resolve(EncodedAnswer.of({ key })));
    await answers.get("a", "1", make("a"));
    await answers.get("b", "1", make("b"));
    await answers.get("a", "1", make("a")); // read again: now b is the least recent
    await answers.get("c", "1", make("c"));
    expect(answers.size).toBe(2);
    await answers.get("a", "1", make("a"));
    await answers.get("b", "1", make("b"));
    expect(calls).toEqual(["a", "b", "c", "b"]);
  });
});
