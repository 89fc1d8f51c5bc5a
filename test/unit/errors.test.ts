/**
 * The API's errors: a refusal (4xx) or "try again" (503) is an answer and carries no stack trace
 * (it costs CPU on every refused request of a sold-out sale); a server fault keeps its stack for
 * the log. Either way the gateway answers in shared/API.md's shape.
 */
import { Errors } from "moleculer";
import { ApiError, conflict, isRefusal, notFound, toHttpError, unavailable } from "../../src/platform/errors";

describe("ApiError", () => {
  it("answers a refusal without a stack trace, in the API's shape", () => {
    const err = conflict("SEAT_TAKEN", "Someone else holds these seats.", { seats: ["A-1"] });
    expect(err.stack).toBe("ApiError: Someone else holds these seats.");
    expect(unavailable().stack).toBe("ApiError: Temporarily unavailable, try again shortly.");
    expect(toHttpError(err)).toEqual({
      status: 409,
      headers: {},
      body: { error: { code: "SEAT_TAKEN", message: "Someone else holds these seats.", details: { seats: ["A-1"] } } },
    });
  });

  it("keeps the stack of a server fault, and leaves the stack limit as it was", () => {
    const limit = Error.stackTraceLimit;
    const err = new ApiError(500, "INTERNAL", "Broken.");
    expect(err.stack).toMatch(/^ApiError: Broken\.\n\s+at /);
    conflict("SEAT_TAKEN", "Taken.");
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error("plain").stack).toMatch(/\n\s+at /);
  });
});

describe("isRefusal", () => {
  it("is the called service's own 404 or 409, also as it arrives from another node", () => {
    expect(isRefusal(notFound("Hold"), 404, 409)).toBe(true);
    expect(isRefusal(conflict("HOLD_EXPIRED", "Expired."), 404, 409)).toBe(true);
    // Across the transporter an ApiError arrives as a plain Error with its fields copied.
    expect(isRefusal(Object.assign(new Error("Hold not found."), { name: "ApiError", code: 404, type: "NOT_FOUND" }), 404)).toBe(true);
    expect(isRefusal(conflict("HOLD_EXPIRED", "Expired."), 404)).toBe(false);
  });

  it("is not Moleculer saying the service could not be reached, though it says 404", () => {
    const unreached = [new Errors.ServiceNotFoundError({ action: "seats.confirm" }), new Errors.ServiceNotAvailableError({ action: "seats.confirm" })];
    for (const err of unreached) {
      expect(err.code).toBe(404);
      expect(isRefusal(err, 404, 409)).toBe(false);
    }
    expect(isRefusal(new Errors.RequestTimeoutError({ action: "seats.confirm" }), 404, 409, 504)).toBe(false);
    expect(isRefusal(undefined, 404)).toBe(false);
  });
});
