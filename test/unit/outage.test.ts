import { Context } from "moleculer";
import { ApiError } from "../../src/platform/errors";
import { everySecondAtMost, isOutage, OutageMiddleware } from "../../src/platform/outage";

const errorWith = (props: Record<string, unknown>) => Object.assign(new Error(String(props.message ?? "boom")), props);

describe("what counts as an outage", () => {
  it.each([
    ["the backend terminated (restart, failover)", { code: "57P01", message: "terminating connection due to administrator command" }],
    ["the server starting up", { code: "57P03", message: "the database system is starting up" }],
    ["too many connections", { code: "53300", message: "sorry, too many clients already" }],
    ["a connection exception", { code: "08006", message: "connection failure" }],
    ["refused", { code: "ECONNREFUSED", message: "connect ECONNREFUSED 127.0.0.1:5432" }],
    ["reset", { code: "ECONNRESET", message: "read ECONNRESET" }],
    ["pg: connection cut", { message: "Connection terminated unexpectedly" }],
    ["pg: connection cut, as knex words it", { message: 'select * from "orders" where "id" = $1 limit $2 - Connection terminated unexpectedly' }],
    ["pg: connect timed out", { message: "Connection terminated due to connection timeout" }],
    ["pg-pool: connect timed out", { message: "timeout exceeded when trying to connect" }],
    ["knex: pool exhausted", { name: "KnexTimeoutError", message: "Knex: Timeout acquiring a connection. The pool is probably full. Are you missing a .transacting(trx) call?" }],
    ["a database closed for connections", { code: "55000", message: 'database "shop" is not currently accepting connections' }],
  ])("%s", (_, props) => expect(isOutage(errorWith(props))).toBe(true));

  it.each([
    ["a unique violation", { code: "23505", message: "duplicate key value violates unique constraint" }],
    ["a syntax error", { code: "42601", message: "syntax error at or near" }],
    ["a serialization failure (retried where it happens)", { code: "40001", message: "could not serialize access" }],
    ["another 55000", { code: "55000", message: "object not in prerequisite state" }],
    ["a numeric code", { code: 500, message: "Connection" }],
    ["a plain error", { message: "something else" }],
    ["a message merely quoting the words", { message: "seat label 'Connection terminated' is too long" }],
  ])("not %s", (_, props) => expect(isOutage(errorWith(props))).toBe(false));

  it("not a thrown non-object", () => {
    expect(isOutage(undefined)).toBe(false);
    expect(isOutage("ECONNREFUSED")).toBe(false);
  });
});

describe("the outage middleware", () => {
  const wrap = (handler: (ctx: Context) => unknown) => {
    const mw = OutageMiddleware();
    mw.created({ getLogger: () => ({ warn: () => undefined }) } as never);
    return mw.localAction(handler, { name: "orders.get" });
  };
  const ctx = {} as Context;

  it("answers an outage as 503 SERVICE_UNAVAILABLE with a retry time, thrown or rejected", async () => {
    const outage = errorWith({ code: "57P01" });
    for (const handler of [() => Promise.reject(outage), () => { throw outage; }]) {
      const err = await Promise.resolve().then(() => wrap(handler)(ctx)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(err).toMatchObject({ code: 503, type: "SERVICE_UNAVAILABLE", data: { retryAfter: 2 } });
    }
  });

  it("leaves every other error and every answer as it was", async () => {
    const refusal = new ApiError(409, "SEAT_TAKEN", "taken");
    await expect(wrap(() => Promise.reject(refusal))(ctx)).rejects.toBe(refusal);
    const bug = new TypeError("x is undefined");
    expect(() => wrap(() => { throw bug; })(ctx)).toThrow(bug);
    await expect(wrap(async () => 42)(ctx)).resolves.toBe(42);
    expect(wrap(() => "plain")(ctx)).toBe("plain");
  });
});

describe("everySecondAtMost", () => {
  it("passes the first call, skips the rest of the second, then tells how many it skipped", () => {
    let now = 10_000;
    const lines: string[] = [];
    const log = everySecondAtMost((what: string, skipped: number) => lines.push(`${what} +${skipped}`), () => now);
    log("a");
    now += 400;
    log("b");
    log("c");
    now += 700;
    log("d");
    now += 5_000;
    log("e");
    expect(lines).toEqual(["a +0", "d +2", "e +0"]);
  });
});
