/**
 * The API's errors: a refusal (4xx) or "try again" (503) is an answer and carries no stack trace
 * (it costs CPU on every refused request of a sold-out sale); a server fault keeps its stack for
 * the log. Either way the gateway answers in shared/API.md's shape.
 */
import { ApiError, conflict, toHttpError, unavailable } from "../../src/platform/errors";

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
