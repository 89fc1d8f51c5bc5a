/**
 * Accounts for tests, made the way a user makes them: registered through REST. With `roles`, the
 * roles are set through the internal `users.setRoles` action and the session refreshed, so the
 * access token carries them exactly as in production.
 *
 *   const org = await signUp(node, { roles: ["organizer"] });
 *   await org.http.post("/api/events", {...});
 *
 * Each sign-up connects from its own loopback address (127.x.y.z), so that many sign-ups in one
 * test file do not trip the per-address rate limit of the auth routes (20 a minute), which a
 * real client still meets.
 */
import crypto from "crypto";
import type { Role } from "../../src/platform/auth";
import type { User } from "../../src/domain/users";
import { HttpClient, TestNode } from "./node";

export interface SignedUp {
  user: User;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  /** The node's HTTP client, signed in as this user. */
  http: HttpClient;
}

export interface SignUpOptions {
  roles?: Role[];
  name?: string;
  email?: string;
  password?: string;
}

/** A random loopback address other than 127.0.0.1 (Linux routes all of 127/8 to `lo`). */
export function randomLoopbackAddress(): string {
  const b = crypto.randomBytes(3);
  return `127.${1 + (b[0] % 254)}.${1 + (b[1] % 254)}.${1 + (b[2] % 254)}`;
}

/** POSTs JSON from a chosen source address; answers {status, body}. */
export async function postFrom(baseUrl: string, path: string, body: unknown, localAddress = randomLoopbackAddress()): Promise<{ status: number; body: any }> {
  const { status, body: answer } = await new HttpClient(baseUrl).from(localAddress).post(path, body);
  return { status, body: answer };
}

/**
 * The gateway builds its REST routes from the registry a moment after the node starts
 * (moleculer-web debounces `$services.changed`); wait until the accounts routes answer.
 */
export async function accountsRoutesReady(node: Pick<TestNode, "http">, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await node.http.as(undefined).get("/api/users/me")).status === 404) {
    if (Date.now() > deadline) throw new Error("accounts routes did not appear: does the node run api, auth and users?");
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function signUp(node: Pick<TestNode, "baseUrl" | "broker" | "http">, opts: SignUpOptions = {}): Promise<SignedUp> {
  const suffix = crypto.randomBytes(6).toString("hex");
  const email = opts.email ?? `user-${suffix}@example.test`;
  const password = opts.password ?? `pw-${crypto.randomBytes(12).toString("base64url")}`;
  const name = opts.name ?? `Test User ${suffix}`;
  await accountsRoutesReady(node);
  const reg = await postFrom(node.baseUrl, "/api/auth/register", { email, password, name });
  if (reg.status !== 201) throw new Error(`signUp: register answered ${reg.status} ${JSON.stringify(reg.body)}`);
  let session = reg.body as { user: User; accessToken: string; refreshToken: string };
  if (opts.roles) {
    await node.broker.call("users.setRoles", { id: session.user.id, roles: opts.roles });
    const refreshed = await postFrom(node.baseUrl, "/api/auth/refresh", { refreshToken: session.refreshToken });
    if (refreshed.status !== 200) throw new Error(`signUp: refresh answered ${refreshed.status} ${JSON.stringify(refreshed.body)}`);
    session = refreshed.body;
  }
  return { ...session, email, password, http: node.http.as(session.accessToken) };
}
