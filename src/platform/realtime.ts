/**
 * socket.io on the gateway's HTTP server (shared/API.md "Real-time").
 *
 * Rooms: `session:<id>` for seat changes (anyone may subscribe; seat availability is public) and
 * `user:<id>` for a buyer's order and ticket updates (joined only by a socket whose access token
 * was verified at the handshake). Every gateway node receives the Moleculer events and emits to
 * its own sockets, so fan-out works whichever node a browser is connected to; across several
 * gateway nodes the HTTP long-polling transport needs sticky sessions, the websocket transport
 * does not.
 */
import type { Server as HttpServer } from "http";
import { Server, Socket } from "socket.io";
import type { AuthUser } from "./auth";
import { toHttpError } from "./errors";

/** A socket may watch this many sessions at once (a seat map page needs one). */
export const MAX_ROOMS_PER_SOCKET = 20;
const SESSION_ID = /^[A-Za-z0-9_-]{1,100}$/;

export interface RealtimeOptions {
  /** Verifies an access token exactly as REST does; throws (401) when it is not valid. */
  authenticate(token: string): Promise<AuthUser>;
  corsOrigins: string;
  logger: { warn(...args: unknown[]): void };
}

type Ack = (answer: unknown) => void;

function errorAnswer(code: string, message: string, details?: Record<string, unknown>) {
  return { error: details ? { code, message, details } : { code, message } };
}

/** The rooms of one socket that it chose to watch (not its own id or its user room). */
function sessionRooms(socket: Socket): number {
  let n = 0;
  for (const room of socket.rooms) if (room.startsWith("session:")) n++;
  return n;
}

function readSessionId(payload: unknown): string | undefined {
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) return undefined;
  const { sessionId, ...rest } = payload as Record<string, unknown>;
  if (Object.keys(rest).length) return undefined;
  return typeof sessionId === "string" && SESSION_ID.test(sessionId) ? sessionId : undefined;
}

export class Realtime {
  readonly io: Server;

  constructor(server: HttpServer, private opts: RealtimeOptions) {
    this.io = new Server(server, {
      serveClient: true,
      cors: { origin: opts.corsOrigins === "*" ? "*" : opts.corsOrigins.split(",") },
      // Socket messages are tiny ({sessionId}); refuse anything large before parsing it.
      maxHttpBufferSize: 16 * 1024,
    });

    this.io.use((socket, next) => {
      const token = (socket.handshake.auth as Record<string, unknown> | undefined)?.token;
      if (token === undefined || token === null || token === "") return next();
      if (typeof token !== "string") return next(refusal("INVALID_TOKEN", "The access token is invalid or expired."));
      this.opts.authenticate(token).then(
        (user) => {
          socket.data.user = user;
          socket.data.expiresAt = expiryOf(token);
          next();
        },
        (err) => {
          const http = toHttpError(err);
          next(refusal(http.body.error.code, http.body.error.message));
        },
      );
    });

    this.io.on("connection", (socket) => this.onConnection(socket));
  }

  private onConnection(socket: Socket) {
    const user = socket.data.user as AuthUser | undefined;
    if (user) void socket.join(`user:${user.id}`);
    // The user's events last as long as the token: then the socket leaves the user's room (seat
    // rooms stay) and is told `auth_expired`; reconnecting with a fresh token (socket.io-client's
    // `auth` may be a function) joins it again. A signed-out user stops getting order events.
    const expiresAt = socket.data.expiresAt as number | undefined;
    if (user && expiresAt !== undefined) {
      const timer = setTimeout(() => {
        void socket.leave(`user:${user.id}`);
        socket.data.user = undefined;
        socket.emit("auth_expired", {});
      }, Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1));
      socket.once("disconnect", () => clearTimeout(timer));
    }

    socket.on("subscribe", (payload: unknown, ack?: Ack) => {
      const reply = typeof ack === "function" ? ack : () => undefined;
      const sessionId = readSessionId(payload);
      if (!sessionId) {
        return reply(errorAnswer("VALIDATION_ERROR", "Send {sessionId}.", { fields: [{ field: "sessionId", message: "must be a session id" }] }));
      }
      const room = `session:${sessionId}`;
      if (!socket.rooms.has(room) && sessionRooms(socket) >= MAX_ROOMS_PER_SOCKET) {
        return reply(errorAnswer("TOO_MANY_SUBSCRIPTIONS", `A connection may watch at most ${MAX_ROOMS_PER_SOCKET} sessions.`));
      }
      void socket.join(room);
      reply({ ok: true, sessionId });
    });

    socket.on("unsubscribe", (payload: unknown, ack?: Ack) => {
      const reply = typeof ack === "function" ? ack : () => undefined;
      const sessionId = readSessionId(payload);
      if (!sessionId) {
        return reply(errorAnswer("VALIDATION_ERROR", "Send {sessionId}.", { fields: [{ field: "sessionId", message: "must be a session id" }] }));
      }
      void socket.leave(`session:${sessionId}`);
      reply({ ok: true, sessionId });
    });
  }

  toSession(sessionId: unknown, event: string, payload: unknown) {
    if (typeof sessionId !== "string" || !sessionId) return;
    this.io.to(`session:${sessionId}`).emit(event, payload);
  }

  toUser(userId: unknown, event: string, payload: unknown) {
    if (typeof userId !== "string" || !userId) return;
    this.io.to(`user:${userId}`).emit(event, payload);
  }

  /** Disconnects every socket; the HTTP server itself belongs to moleculer-web and is closed there. */
  close() {
    this.io.disconnectSockets(true);
    this.io.engine.close();
  }
}

/** The token's `exp` in ms (verified already; this only reads it). */
function expiryOf(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp?: unknown };
    return typeof payload.exp === "number" ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function refusal(code: string, message: string): Error & { data: unknown } {
  const err = new Error(message) as Error & { data: unknown };
  err.data = { code, message };
  return err;
}
