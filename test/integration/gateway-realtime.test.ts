/**
 * socket.io on the gateway's port: session rooms, per-user order/ticket events, token checks.
 * Events are sent the way the seats actor and the saga send them (Moleculer broadcast/emit).
 */
import { randomUUID } from "crypto";
import jwt from "jsonwebtoken";
import { io as connect, Socket } from "socket.io-client";
import { signAccessToken } from "../../src/platform/auth";
import { MAX_ROOMS_PER_SOCKET } from "../../src/platform/realtime";
import { startTestNode, TestNode } from "../helpers/node";

describe("gateway real-time (socket.io)", () => {
  let node: TestNode;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    node = await startTestNode({ services: ["api"] });
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.disconnect();
  });
  afterAll(() => node.stop());

  const buyer = () => {
    const user = { id: randomUUID(), email: `${randomUUID()}@example.test`, name: "Buyer", roles: ["buyer" as const] };
    return { user, token: signAccessToken(node.platform.secrets.jwtSecret, user) };
  };

  /** A connected socket, websocket-only (the transport that needs no sticky sessions). */
  async function open(token?: string): Promise<Socket> {
    const socket = connect(node.baseUrl, { transports: ["websocket"], auth: token === undefined ? {} : { token }, reconnection: false, forceNew: true });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    });
    return socket;
  }

  function collect(socket: Socket, event: string): unknown[] {
    const seen: unknown[] = [];
    socket.on(event, (payload) => seen.push(payload));
    return seen;
  }

  /** Emits with an acknowledgement; a missing answer fails the test instead of hanging it. */
  const ask = (socket: Socket, event: string, payload: unknown): Promise<any> =>
    socket.timeout(5000).emitWithAck(event, payload).catch((err: Error) => {
      throw new Error(`no answer to ${event} ${JSON.stringify(payload)}: ${err.message}`);
    });

  /**
   * Ordering barrier: a marker broadcast after the events under test reaches `socket` only after
   * them (one node, one connection), so events that were not delivered by then never will be.
   */
  async function settle(...observers: Socket[]) {
    const marker = `barrier-${randomUUID()}`;
    for (const s of observers) expect(await ask(s, "subscribe", { sessionId: marker })).toMatchObject({ ok: true });
    const arrived = Promise.all(observers.map((s) => new Promise((resolve) => s.once("stock", resolve))));
    await node.broker.broadcast("seats.stock", { sessionId: marker, available: 0 });
    await arrived;
    await Promise.all(observers.map((s) => ask(s, "unsubscribe", { sessionId: marker })));
  }

  it("serves the browser client bundle on the same port", async () => {
    const res = await node.http.get("/socket.io/socket.io.min.js");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/javascript/);
  });

  it("delivers seat changes and stock only to the session's room", async () => {
    const a = await open();
    const b = await open();
    expect(await ask(a, "subscribe", { sessionId: "s-1" })).toEqual({ ok: true, sessionId: "s-1" });
    expect(await ask(b, "subscribe", { sessionId: "s-2" })).toEqual({ ok: true, sessionId: "s-2" });
    const seatsA = collect(a, "seats");
    const seatsB = collect(b, "seats");

    const change = { sessionId: "s-1", version: 7, changes: [{ seatId: "A-1", status: "h" }] };
    await node.broker.broadcast("seats.changed", change);
    await node.broker.broadcast("seats.stock", { sessionId: "s-2", available: 41 });
    const stockB = await new Promise((resolve) => b.once("stock", resolve));
    await settle(a, b);

    expect(seatsA).toEqual([change]);
    expect(seatsB).toEqual([]);
    expect(stockB).toEqual({ sessionId: "s-2", available: 41 });
  });

  it("stops delivering after unsubscribe", async () => {
    const a = await open();
    await ask(a, "subscribe", { sessionId: "s-3" });
    expect(await ask(a, "unsubscribe", { sessionId: "s-3" })).toEqual({ ok: true, sessionId: "s-3" });
    const seen = collect(a, "seats");
    await node.broker.broadcast("seats.changed", { sessionId: "s-3", version: 1, changes: [] });
    await settle(a);
    expect(seen).toEqual([]);
  });

  it("refuses malformed subscriptions and bounds the rooms per socket", async () => {
    const a = await open();
    for (const bad of [undefined, "s-1", { sessionId: 5 }, { sessionId: "" }, { sessionId: "../../etc/passwd" }, { sessionId: "x".repeat(101) }, { sessionId: "s", extra: 1 }]) {
      const answer = await ask(a, "subscribe", bad);
      expect(answer).toEqual({ error: { code: "VALIDATION_ERROR", message: expect.any(String), details: expect.anything() } });
    }
    for (let i = 0; i < MAX_ROOMS_PER_SOCKET; i++) expect(await ask(a, "subscribe", { sessionId: `room-${i}` })).toMatchObject({ ok: true });
    expect((await ask(a, "subscribe", { sessionId: "one-too-many" })).error.code).toBe("TOO_MANY_SUBSCRIPTIONS");
    // Subscribing again to a room it already has is not a new room.
    expect(await ask(a, "subscribe", { sessionId: "room-0" })).toMatchObject({ ok: true });
    // The socket still works after refusals (and frees a room for the barrier).
    await ask(a, "unsubscribe", { sessionId: "room-0" });
    const seen = collect(a, "seats");
    await node.broker.broadcast("seats.changed", { sessionId: "room-3", version: 1, changes: [] });
    await settle(a);
    expect(seen).toHaveLength(1);
  });

  it("sends order and ticket events only to the socket(s) of their user", async () => {
    const alice = buyer();
    const bob = buyer();
    const aliceTab1 = await open(alice.token);
    const aliceTab2 = await open(alice.token);
    const bobTab = await open(bob.token);
    const anonymous = await open();
    const orders = [aliceTab1, aliceTab2, bobTab, anonymous].map((s) => collect(s, "order"));
    const tickets = [aliceTab1, aliceTab2, bobTab, anonymous].map((s) => collect(s, "ticket"));

    // The saga may `emit` (balanced) or `broadcast`; both must reach the user's sockets.
    await node.broker.emit("orders.status", { orderId: "o-1", userId: alice.user.id, status: "PENDING" });
    await node.broker.broadcast("orders.status", { orderId: "o-1", userId: alice.user.id, status: "FAILED", reason: "PAYMENT_DECLINED" });
    await node.broker.emit("tickets.ready", { ticketId: "t-1", orderId: "o-1", userId: alice.user.id });
    await settle(aliceTab1, aliceTab2, bobTab, anonymous);

    const aliceOrders = [{ orderId: "o-1", status: "PENDING" }, { orderId: "o-1", status: "FAILED", reason: "PAYMENT_DECLINED" }];
    expect(orders).toEqual([aliceOrders, aliceOrders, [], []]);
    expect(tickets).toEqual([[{ ticketId: "t-1", orderId: "o-1" }], [{ ticketId: "t-1", orderId: "o-1" }], [], []]);
  });

  it("cannot join another user's room by asking", async () => {
    const alice = buyer();
    const mallory = await open(buyer().token);
    const seen = collect(mallory, "order");
    // Room names are not session ids: "user:<id>" fails validation, so it is never joined.
    expect((await ask(mallory, "subscribe", { sessionId: `user:${alice.user.id}` })).error.code).toBe("VALIDATION_ERROR");
    await node.broker.emit("orders.status", { orderId: "o-2", userId: alice.user.id, status: "CONFIRMED" });
    await settle(mallory);
    expect(seen).toEqual([]);
  });

  it("refuses a forged, expired or malformed token at the handshake", async () => {
    const { user } = buyer();
    const forged = signAccessToken("not-the-server-secret-" + randomUUID(), user);
    const expired = jwt.sign({ email: user.email, name: user.name, roles: user.roles }, node.platform.secrets.jwtSecret, {
      algorithm: "HS256", subject: user.id, issuer: "ticketflash", expiresIn: -10,
    });
    const unsigned = jwt.sign({ roles: ["admin"] }, "", { algorithm: "none", subject: user.id, issuer: "ticketflash" });
    for (const token of [forged, expired, unsigned, "garbage", "a.b.c"]) {
      const err = await open(token).then(
        () => undefined,
        (e: Error & { data?: { code: string } }) => e,
      );
      expect(err?.data?.code).toBe("INVALID_TOKEN");
    }
    const nonString = await open(42 as unknown as string).then(() => undefined, (e: Error & { data?: { code: string } }) => e);
    expect(nonString?.data?.code).toBe("INVALID_TOKEN");
  });

  it("stops a signed-in socket's order events when its token expires, keeping its seat rooms", async () => {
    const { user } = buyer();
    const shortLived = jwt.sign({ email: user.email, name: user.name, roles: user.roles }, node.platform.secrets.jwtSecret, {
      algorithm: "HS256", subject: user.id, issuer: "ticketflash", expiresIn: 2,
    });
    const socket = await open(shortLived);
    await ask(socket, "subscribe", { sessionId: "s-exp" });
    await new Promise((resolve) => socket.once("auth_expired", resolve));
    const orders = collect(socket, "order");
    const seats = collect(socket, "seats");
    await node.broker.emit("orders.status", { orderId: "o-exp", userId: user.id, status: "CONFIRMED" });
    await node.broker.broadcast("seats.changed", { sessionId: "s-exp", version: 1, changes: [] });
    await settle(socket);
    expect(orders).toEqual([]);
    expect(seats).toHaveLength(1);
    expect(socket.connected).toBe(true);
  });

  it("works with the default transport (long-polling, then upgrade) on one node", async () => {
    const socket = connect(node.baseUrl, { reconnection: false, forceNew: true });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    });
    await ask(socket, "subscribe", { sessionId: "s-poll" });
    const got = new Promise((resolve) => socket.once("seats", resolve));
    await node.broker.broadcast("seats.changed", { sessionId: "s-poll", version: 2, changes: [{ seatId: "B-2", status: "s" }] });
    expect(await got).toEqual({ sessionId: "s-poll", version: 2, changes: [{ seatId: "B-2", status: "s" }] });
  });
});
