/**
 * The error shape of shared/API.md: {"error": {"code", "message", "details"?}} with the right status.
 * Services throw ApiError (or the helpers below); the gateway turns anything into that shape.
 */
import { Errors } from "moleculer";

export class ApiError extends Errors.MoleculerClientError {
  /**
   * `status` is the HTTP status; `type` carries the API's SNAKE_CASE code. A refusal (4xx) or
   * "try again" (503) is an answer, not a fault: it carries no stack trace, which took 21 µs of a
   * refused hold's ~400 (bench/fixes.md, tenth round). Other 5xx keep theirs, for the log.
   */
  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    const limit = Error.stackTraceLimit;
    if (status < 500 || status === 503) Error.stackTraceLimit = 0;
    super(message, status, code, details);
    Error.stackTraceLimit = limit;
    this.name = "ApiError";
  }
}

export const badRequest = (message: string, details?: Record<string, unknown>) =>
  new ApiError(400, "VALIDATION_ERROR", message, details);
export const unauthorized = (message = "Sign in to continue.", code = "UNAUTHORIZED") =>
  new ApiError(401, code, message);
export const forbidden = (message = "You are not allowed to do this.") => new ApiError(403, "FORBIDDEN", message);
export const notFound = (what = "Resource") => new ApiError(404, "NOT_FOUND", `${what} not found.`);
export const conflict = (code: string, message: string, details?: Record<string, unknown>) =>
  new ApiError(409, code, message, details);
export const unprocessable = (code: string, message: string, details?: Record<string, unknown>) =>
  new ApiError(422, code, message, details);
export const unavailable = (message = "Temporarily unavailable, try again shortly.", retryAfterSeconds = 1) =>
  new ApiError(503, "SERVICE_UNAVAILABLE", message, { retryAfter: retryAfterSeconds });

/**
 * Whether a call failed with the called service's own answer of one of these statuses (the thing
 * is not there, or not in that state), and not with Moleculer's word that the service could not be
 * reached: SERVICE_NOT_FOUND and SERVICE_NOT_AVAILABLE are 404s too, but retryable. Taken for "the
 * hold is gone", they failed paid orders as HOLD_EXPIRED and left their seats sold while NATS was
 * down (test/cluster/outage.test.ts).
 */
export function isRefusal(err: unknown, ...statuses: number[]): boolean {
  const e = err as { code?: unknown; retryable?: boolean } | null | undefined;
  return !!e && !e.retryable && statuses.includes(Number(e.code));
}

export interface HttpError {
  status: number;
  body: { error: { code: string; message: string; details?: Record<string, unknown> } };
  headers: Record<string, string>;
}

interface ErrorLike {
  name?: string;
  message?: string;
  code?: unknown;
  status?: unknown;
  type?: unknown;
  data?: unknown;
  retryable?: boolean;
}

/** Maps any thrown value (ours, Moleculer's, moleculer-web's, body-parser's) to the API shape. */
export function toHttpError(thrown: unknown): HttpError {
  const err = (thrown ?? {}) as ErrorLike;
  const headers: Record<string, string> = {};
  const make = (status: number, code: string, message: string, details?: Record<string, unknown>): HttpError => ({
    status,
    headers,
    body: { error: details ? { code, message, details } : { code, message } },
  });

  if (err.name === "ApiError" || (err.name === "MoleculerClientError" && typeof err.type === "string")) {
    const status = Number(err.code) || 400;
    const details = (err.data ?? undefined) as Record<string, unknown> | undefined;
    if ((status === 503 || status === 429) && details && typeof details.retryAfter === "number") {
      headers["Retry-After"] = String(details.retryAfter);
    }
    return make(status, String(err.type), err.message ?? "Request failed.", details);
  }
  if (err.name === "ValidationError" || err.type === "VALIDATION_ERROR") {
    const fields = Array.isArray(err.data)
      ? (err.data as Array<{ field?: string; message?: string; type?: string; actual?: unknown }>).flatMap((f) =>
          // Unknown fields come as one error on the parent object; name each of them.
          f.type === "objectStrict" && typeof f.actual === "string"
            ? f.actual.split(", ").map((name) => ({
                field: f.field ? `${f.field}.${name}` : name,
                message: `The field '${name}' is not allowed.`,
                type: "unknownField",
              }))
            : [{ field: f.field, message: f.message, type: f.type }],
        )
      : [];
    return make(400, "VALIDATION_ERROR", "Some fields are missing or invalid.", { fields });
  }
  // body-parser errors carry an HTTP status and a string type.
  const httpStatus = Number(err.status ?? err.code);
  if (err.type === "entity.too.large" || httpStatus === 413) {
    return make(413, "PAYLOAD_TOO_LARGE", "The request body is too large.");
  }
  if (err.type === "entity.parse.failed" || err.type === "INVALID_REQUEST_BODY") {
    return make(400, "INVALID_JSON", "The request body is not valid JSON.");
  }
  if (err.type === "encoding.unsupported" || err.type === "charset.unsupported") {
    return make(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported content encoding.");
  }
  switch (err.name) {
    case "UnAuthorizedError":
      return make(401, err.type === "NO_TOKEN" ? "UNAUTHORIZED" : "INVALID_TOKEN",
        err.type === "NO_TOKEN" ? "Sign in to continue." : "The access token is invalid or expired.");
    case "ForbiddenError":
      return make(403, "FORBIDDEN", "You are not allowed to do this.");
    case "NotFoundError":
      return make(404, "NOT_FOUND", "Not found.");
    case "RateLimitExceeded":
      headers["Retry-After"] = headers["Retry-After"] ?? "60";
      return make(429, "RATE_LIMITED", "Too many requests, slow down.");
    case "ServiceNotFoundError":
    case "ServiceNotAvailableError":
    case "ServiceUnavailableError":
    case "RequestTimeoutError":
    case "RequestSkippedError":
    case "BrokerDisconnectedError":
    case "QueueIsFullError":
      headers["Retry-After"] = "1";
      return make(503, "SERVICE_UNAVAILABLE", "Temporarily unavailable, try again shortly.");
  }
  if (httpStatus >= 400 && httpStatus < 500) {
    return make(httpStatus, typeof err.type === "string" ? err.type.toUpperCase().replace(/[^A-Z0-9]+/g, "_") : "BAD_REQUEST",
      err.message || "Bad request.");
  }
  return make(500, "INTERNAL_ERROR", "Something went wrong on our side.");
}
