/**
 * The shell: layout, sign-in/up, the session (tokens live in lib/api.js, which the shell drives),
 * the socket.io connection, notifications, language, and hash routing that loads the feature
 * modules on demand. Modules and shell talk only through CustomEvents on window:
 *   module -> shell: tf:notify {message, kind}, tf:subscribe / tf:unsubscribe {sessionId},
 *                    tf:signin-required {}
 *   shell -> module: tf:auth {user}, tf:lang {lang}, tf:live {connected},
 *                    tf:seats / tf:stock / tf:order / tf:ticket (socket payloads), tf:route-refresh
 * A module exports `mount(root, route)` and may return a function that unmounts it.
 */
import { api, currentUser, hasRole, setAuth, refreshSession, accessToken, ApiError } from "./lib/api.js";
import { t, getLang, setLang, LANGS } from "./lib/i18n.js";
import { h, render, notify, field, showFieldErrors, fieldErrorsOf } from "./lib/dom.js";

const ROUTES = {
  "": { module: "shop" },
  event: { module: "shop" },
  session: { module: "shop" },
  tickets: { module: "tickets", auth: true },
  admin: { module: "admin", roles: ["organizer"] },
  scanner: { module: "scanner", roles: ["scanner"] },
};

const view = document.getElementById("view");
let unmount = null;
let mountSeq = 0;

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [pathPart, queryPart = ""] = raw.split("?");
  const parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || "", parts, query: Object.fromEntries(new URLSearchParams(queryPart)) };
}

async function route() {
  const seq = ++mountSeq;
  const hash = location.hash;
  const r = parseRoute();
  const def = ROUTES[r.name];
  if (unmount) {
    try {
      unmount();
    } catch (err) {
      console.error(err);
    }
    unmount = null;
  }
  renderNav();
  view.setAttribute("aria-busy", "true");
  if (!def) {
    render(view, h("section", { class: "empty card" }, h("h1", null, t("err.notFound")), h("a", { class: "btn", href: "#/" }, t("nav.shop"))));
    view.setAttribute("aria-busy", "false");
    return;
  }
  if ((def.auth || def.roles) && !currentUser()) {
    render(view, h("section", { class: "empty card" }, h("h1", null, t("auth.required")),
      h("button", { class: "btn primary", onclick: () => openAuth("signin") }, t("nav.signin"))));
    view.setAttribute("aria-busy", "false");
    openAuth("signin");
    return;
  }
  if (def.roles && !hasRole(...def.roles)) {
    render(view, h("section", { class: "empty card" }, h("h1", null, t("err.forbidden"))));
    view.setAttribute("aria-busy", "false");
    return;
  }
  render(view, h("div", { class: "loading", role: "progressbar", "aria-label": t("shop.loading") }, h("span", { class: "spinner" }), t("shop.loading")));
  try {
    const mod = await import(`./modules/${def.module}.js`);
    if (seq !== mountSeq) return;
    // The address moved on while the module loaded and its hashchange is still queued: mount
    // what the address says now, not the page the buyer already left.
    if (location.hash !== hash) return void route();
    const root = h("div", { class: `module module-${def.module}` });
    render(view, root);
    const cleanup = await mod.mount(root, r);
    if (seq !== mountSeq) {
      if (typeof cleanup === "function") cleanup();
      return;
    }
    unmount = typeof cleanup === "function" ? cleanup : null;
  } catch (err) {
    console.error(err);
    if (seq !== mountSeq) return;
    render(view, h("section", { class: "empty card" }, h("h1", null, t("err.generic")),
      h("p", null, err instanceof ApiError ? err.message : t("err.generic")),
      h("button", { class: "btn", onclick: () => route() }, "↻")));
  } finally {
    if (seq === mountSeq) view.setAttribute("aria-busy", "false");
  }
}

// ---------- header ----------

function renderNav() {
  const r = parseRoute();
  const current = ROUTES[r.name] ? ROUTES[r.name].module : "";
  const links = [["#/", "shop", t("nav.shop")]];
  if (currentUser()) links.push(["#/tickets", "tickets", t("nav.tickets")]);
  if (hasRole("organizer")) links.push(["#/admin", "admin", t("nav.admin")]);
  if (hasRole("scanner")) links.push(["#/scanner", "scanner", t("nav.scanner")]);
  render(document.getElementById("nav"), ...links.map(([href, mod, label]) =>
    h("a", { href, class: "nav-link", "aria-current": current === mod ? "page" : undefined }, label)));

  const user = currentUser();
  const account = document.getElementById("account");
  if (user) {
    render(account,
      h("span", { class: "avatar", title: user.email, "aria-hidden": "true" }, (user.name || user.email || "?").trim().charAt(0).toUpperCase()),
      h("span", { class: "who" }, user.name || user.email),
      h("button", { class: "btn ghost small", onclick: signOut }, t("nav.signout")));
  } else {
    render(account, h("button", { class: "btn primary small", onclick: () => openAuth("signin"), "data-testid": "signin-open" }, t("nav.signin")));
  }

  const select = document.getElementById("lang");
  render(select, ...LANGS.map((l) => h("option", { value: l.code, selected: l.code === getLang() }, l.name)));
  document.getElementById("lang-label").textContent = t("nav.lang");
}

document.getElementById("lang").addEventListener("change", (e) => setLang(e.target.value));

// ---------- notifications ----------

function toast({ message, kind = "info" }) {
  if (!message) return;
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", null, String(message)),
    h("button", { class: "toast-close", "aria-label": t("auth.close"), onclick: () => el.remove() }, "×"));
  box.append(el);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => el.classList.add("fade"), kind === "error" ? 7000 : 4000);
  setTimeout(() => el.remove(), kind === "error" ? 7600 : 4600);
}

// ---------- sign in / sign up ----------

const dialog = document.getElementById("auth-dialog");

function openAuth(mode) {
  const form = h("form", { class: "form", novalidate: true });
  const isUp = mode === "signup";
  const name = h("input", { name: "name", autocomplete: "name", maxlength: "100", required: true });
  const email = h("input", { name: "email", type: "email", autocomplete: "email", maxlength: "200", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: isUp ? "new-password" : "current-password", minlength: "8", maxlength: "200", required: true });
  const formError = h("div", { class: "form-error", role: "alert" });
  const submit = h("button", { class: "btn primary block", type: "submit" }, isUp ? t("auth.signup") : t("auth.signin"));
  render(form,
    isUp ? field(t("auth.name"), name) : null,
    field(t("auth.email"), email),
    field(t("auth.password"), password, isUp ? t("auth.passwordHint") : null),
    formError, submit,
    h("button", { type: "button", class: "link", onclick: () => openAuth(isUp ? "signin" : "signup") }, isUp ? t("auth.haveAccount") : t("auth.noAccount")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    formError.textContent = "";
    const values = { email: email.value.trim(), password: password.value };
    if (isUp) values.name = name.value.trim();
    const errors = {};
    if (isUp && !values.name) errors.name = t("v.required");
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(values.email)) errors.email = t("v.email");
    if (values.password.length < (isUp ? 8 : 1)) errors.password = isUp ? t("v.password") : t("v.required");
    if (showFieldErrors(form, errors)) return;
    submit.disabled = true;
    try {
      const answer = await api(isUp ? "/api/auth/register" : "/api/auth/login", { method: "POST", body: values });
      setAuth(answer);
      dialog.close();
      notify(t("auth.welcome", { name: (answer.user && answer.user.name) || values.email }), "success");
    } catch (err) {
      if (!showFieldErrors(form, fieldErrorsOf(err))) formError.textContent = err.message || t("err.generic");
    } finally {
      submit.disabled = false;
    }
  });
  render(dialog,
    h("div", { class: "dialog-head" },
      h("h2", { id: "auth-title" }, isUp ? t("auth.signup") : t("auth.signin")),
      h("button", { class: "icon-btn", type: "button", "aria-label": t("auth.close"), onclick: () => dialog.close() }, "×")),
    form);
  if (!dialog.open) dialog.showModal();
  (isUp ? name : email).focus();
}

async function signOut() {
  const auth = JSON.parse(localStorage.getItem("tf.auth") || "null");
  if (auth && auth.refreshToken) {
    api("/api/auth/logout", { method: "POST", body: { refreshToken: auth.refreshToken } }).catch(() => {});
  }
  setAuth(null);
  notify(t("auth.signedOut"));
  if (location.hash !== "#/") location.hash = "#/";
}

// ---------- socket.io ----------

const rooms = new Map(); // sessionId -> subscriber count
let socket = null;
let socketLoad = null;

function loadSocketClient() {
  if (window.io) return Promise.resolve(window.io);
  socketLoad ??= new Promise((resolve) => {
    const s = document.createElement("script");
    s.src = "/socket.io/socket.io.js";
    s.onload = () => resolve(window.io || null);
    s.onerror = () => resolve(null);
    document.head.append(s);
  });
  return socketLoad;
}

function setLive(connected) {
  const el = document.getElementById("live");
  el.className = `live ${connected ? "on" : "off"}`;
  el.textContent = connected ? t("live.connected") : t("live.offline");
  window.__tfLive = connected;
  window.dispatchEvent(new CustomEvent("tf:live", { detail: { connected } }));
}

async function connectSocket() {
  const ioClient = await loadSocketClient();
  if (socket) {
    socket.removeAllListeners();
    socket.disconnect();
    socket = null;
  }
  if (!ioClient) {
    setLive(false);
    return;
  }
  // Websocket only: it works behind several gateways without sticky sessions. The token is read
  // at every (re)connect, so a refreshed token is used after a drop.
  let connectedWith = null;
  socket = ioClient({
    transports: ["websocket"],
    auth: (cb) => {
      connectedWith = accessToken();
      cb(connectedWith ? { token: connectedWith } : {});
    },
  });
  socket.on("connect", () => {
    setLive(true);
    for (const sessionId of rooms.keys()) socket.emit("subscribe", { sessionId });
    window.dispatchEvent(new CustomEvent("tf:resync", { detail: {} }));
  });
  socket.on("disconnect", () => setLive(false));
  socket.on("connect_error", async (err) => {
    setLive(false);
    if (/token|auth|jwt/i.test(String(err && err.message)) && (await refreshSession())) socket.connect();
  });
  // When the token the socket connected with expires, the server stops its order and ticket
  // events and says so (src/platform/realtime.ts): connect again with a fresh token (the page may
  // have one already, refreshed by an API call).
  const current = socket;
  socket.on("auth_expired", async () => {
    const fresh = (accessToken() && accessToken() !== connectedWith) || (await refreshSession());
    if (fresh && current === socket) current.disconnect().connect();
  });
  for (const name of ["seats", "stock", "order", "ticket"]) {
    socket.on(name, (payload) => window.dispatchEvent(new CustomEvent(`tf:${name}`, { detail: payload })));
  }
}

window.addEventListener("tf:subscribe", (e) => {
  const id = e.detail && e.detail.sessionId;
  if (!id) return;
  rooms.set(id, (rooms.get(id) || 0) + 1);
  if (socket && socket.connected) socket.emit("subscribe", { sessionId: id });
});

window.addEventListener("tf:unsubscribe", (e) => {
  const id = e.detail && e.detail.sessionId;
  if (!id || !rooms.has(id)) return;
  const n = rooms.get(id) - 1;
  if (n > 0) return void rooms.set(id, n);
  rooms.delete(id);
  if (socket && socket.connected) socket.emit("unsubscribe", { sessionId: id });
});

// ---------- wiring ----------

window.addEventListener("tf:notify", (e) => toast(e.detail || {}));
window.addEventListener("tf:signin-required", () => {
  if (!dialog.open) {
    toast({ message: t("auth.required"), kind: "info" });
    openAuth("signin");
  }
});
window.addEventListener("tf:auth", (e) => {
  renderNav();
  if (e.detail && e.detail.changedUser) {
    connectSocket();
    route();
  }
});
window.addEventListener("tf:lang", () => {
  renderNav();
  setLive(!!(socket && socket.connected));
  route();
});
window.addEventListener("tf:route-refresh", () => route());
window.addEventListener("hashchange", () => {
  route();
  view.focus({ preventScroll: true });
  window.scrollTo(0, 0);
});

document.documentElement.lang = getLang();
renderNav();
setLive(false);
connectSocket();
route();
