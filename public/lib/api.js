/**
 * The one way the UI talks to the API: JSON in and out, the bearer token attached, one refresh
 * attempt on 401 (refresh tokens rotate, so concurrent 401s share one refresh), and every failure
 * turned into an ApiError carrying the API's {code, message, details}.
 */
import { t } from "./i18n.js";

const STORE = "tf.auth";

function readStored() {
  try {
    return JSON.parse(localStorage.getItem(STORE) || "null");
  } catch {
    return null;
  }
}

let auth = readStored();

// Tabs share one session: sign-in, sign-out and token rotation in one tab apply to all.
window.addEventListener("storage", (e) => {
  if (e.key !== STORE) return;
  const before = auth ? auth.user && auth.user.id : null;
  auth = readStored();
  const after = auth ? auth.user && auth.user.id : null;
  if (before !== after) window.dispatchEvent(new CustomEvent("tf:auth", { detail: { user: currentUser(), changedUser: true } }));
});

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function currentUser() {
  return auth ? auth.user : null;
}

export function accessToken() {
  return auth ? auth.accessToken : null;
}

export function hasRole(...roles) {
  const user = currentUser();
  if (!user || !Array.isArray(user.roles)) return false;
  return user.roles.includes("admin") || roles.some((r) => user.roles.includes(r));
}

/** Stores (or clears) the session and tells everyone: the shell reconnects the socket, modules re-render. */
export function setAuth(next) {
  const before = auth ? auth.user && auth.user.id : null;
  auth = next && next.accessToken ? next : null;
  if (auth) localStorage.setItem(STORE, JSON.stringify(auth));
  else localStorage.removeItem(STORE);
  const after = auth ? auth.user && auth.user.id : null;
  window.dispatchEvent(new CustomEvent("tf:auth", { detail: { user: currentUser(), changedUser: before !== after } }));
}

let refreshing = null;

/** Swaps the refresh token for a new pair once; a failure signs out. */
export function refreshSession() {
  if (!auth || !auth.refreshToken) return Promise.resolve(false);
  if (refreshing) return refreshing;
  // Another tab may have rotated the pair already; refreshing with our spent token would look
  // like token theft to the server and revoke the whole family.
  const stored = readStored();
  if (stored && stored.refreshToken && stored.refreshToken !== auth.refreshToken) {
    auth = stored;
    return Promise.resolve(true);
  }
  const spent = auth.refreshToken;
  refreshing = (async () => {
    try {
      const res = await fetch("/api/auth/refresh", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refreshToken: spent }),
      });
      if (!res.ok) {
        setAuth(null);
        return false;
      }
      const body = await res.json();
      setAuth({ ...auth, ...body, user: body.user || (auth && auth.user) });
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function messageFor(status, body) {
  if (body && body.error && body.error.message) return body.error.message;
  if (status === 404) return t("err.notFound");
  if (status === 403) return t("err.forbidden");
  if (status === 429) return t("err.rateLimited");
  return t("err.generic");
}

/**
 * The server's clock, from its answers' Date header (whole seconds, so the middle of that second),
 * for what opens at a time the server decides: a sale's opening counts down on the server's clock,
 * whatever this device's says. Within 2 s of the device's clock, the device's is kept.
 */
let clockOffsetMs = 0;
function noteServerClock(res) {
  const date = Date.parse(res.headers.get("date") || "");
  if (Number.isNaN(date)) return;
  const offset = date + 500 - Date.now();
  clockOffsetMs = Math.abs(offset) > 2000 ? offset : 0;
}

/** Now, in milliseconds, on the server's clock. */
export function serverNow() {
  return Date.now() + clockOffsetMs;
}

/**
 * api("/api/events", {query: {q}}) -> parsed JSON; {raw: true} -> the Response (for blobs).
 * Throws ApiError; status 0 means the network failed.
 */
export async function api(path, opts = {}) {
  const { method = "GET", body, query, headers = {}, raw = false, signal } = opts;
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
    const qs = params.toString();
    if (qs) url += (url.includes("?") ? "&" : "?") + qs;
  }
  const send = () => {
    const h = { ...headers };
    if (body !== undefined) h["content-type"] = "application/json";
    if (auth && auth.accessToken) h.authorization = `Bearer ${auth.accessToken}`;
    return fetch(url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal });
  };
  // A read, or a change sent with an Idempotency-Key (a hold, an order), may be sent again: the
  // server answers a repeated key with what the first request did, never doing it twice.
  const repeatable = method === "GET" || Object.keys(headers).some((name) => name.toLowerCase() === "idempotency-key");
  const pause = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  let res;
  for (let attempt = 0; ; attempt++) {
    try {
      res = await send();
      noteServerClock(res);
      if (res.status === 401 && auth && (await refreshSession())) res = await send();
      // A busy or restarting node is simply asked again, as the server suggests.
      for (let busy = 0; repeatable && (res.status === 503 || res.status === 429) && busy < 3; busy++) {
        await pause(Math.min(5, Number(res.headers.get("retry-after")) || 1));
        res = await send();
      }
      break;
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      // No answer at all (a dropped connection, a gateway restarting): again, if that is safe.
      if (!repeatable || attempt >= 2) throw new ApiError(0, "NETWORK", t("err.network"));
      await pause(1);
    }
  }
  if (res.status === 401) window.dispatchEvent(new CustomEvent("tf:signin-required", { detail: {} }));
  if (!res.ok && res.status !== 304) {
    let parsed = null;
    try {
      parsed = await res.json();
    } catch {
      parsed = null;
    }
    const e = parsed && parsed.error;
    throw new ApiError(res.status, (e && e.code) || `HTTP_${res.status}`, messageFor(res.status, parsed), e && e.details);
  }
  if (raw) return res;
  if (res.status === 204 || res.status === 304) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(res.status, "BAD_RESPONSE", t("err.generic"));
  }
}

/** A protected binary (PDF, QR image) as an object URL; the caller revokes it. */
export async function blobUrl(path) {
  const res = await api(path, { raw: true });
  return URL.createObjectURL(await res.blob());
}

/** The API's list shape, or a bare array from an older route. */
export function itemsOf(answer) {
  if (Array.isArray(answer)) return answer;
  return (answer && Array.isArray(answer.items) && answer.items) || [];
}
