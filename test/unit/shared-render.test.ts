/**
 * One rendering of a ticket at a time (mixins/ticket-files.ts `renderShared`): the PDF worker and
 * a buyer's GET racing for the same ticket share one render.
 */
import { renderShared, SHARED_RENDER_GRACE_MS } from "../../mixins/ticket-files";

function deferred() {
  let resolve!: (b: Buffer) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<Buffer>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("renderShared", () => {
  afterEach(() => jest.useRealTimers());

  it("renders a ticket once for callers that ask while it renders, each ticket on its own", async () => {
    const first = deferred();
    const render = jest.fn(() => first.promise);
    const other = jest.fn(async () => Buffer.from("other"));
    const a = renderShared("t-race-1", render);
    const b = renderShared("t-race-1", render);
    const c = renderShared("t-race-2", other);
    first.resolve(Buffer.from("pdf"));
    expect((await a).toString()).toBe("pdf");
    expect(await b).toBe(await a);
    expect((await c).toString()).toBe("other");
    expect(render).toHaveBeenCalledTimes(1);
    expect(other).toHaveBeenCalledTimes(1);
  });

  it("shares a finished render for a short while (the worker stores it just after), then renders again", async () => {
    jest.useFakeTimers();
    let renders = 0;
    const render = jest.fn(async (): Promise<Buffer> => Buffer.from(`pdf-${++renders}`));
    const first = await renderShared("t-grace", render);
    await jest.advanceTimersByTimeAsync(SHARED_RENDER_GRACE_MS - 100);
    expect(await renderShared("t-grace", render)).toBe(first);
    expect(render).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(200);
    expect((await renderShared("t-grace", render)).toString()).toBe("pdf-2");
    expect(render).toHaveBeenCalledTimes(2);
  });

  it("forgets a failed render at once: the next caller renders again", async () => {
    const failing = deferred();
    const render = jest.fn(() => failing.promise);
    const a = renderShared("t-fail", render);
    const b = renderShared("t-fail", render);
    failing.reject(new Error("renderer crashed"));
    await expect(a).rejects.toThrow("renderer crashed");
    await expect(b).rejects.toThrow("renderer crashed");
    const retry = await renderShared("t-fail", async () => Buffer.from("ok"));
    expect(retry.toString()).toBe("ok");
    expect(render).toHaveBeenCalledTimes(1);
  });
});
