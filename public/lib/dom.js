/**
 * Tiny DOM helpers. Every string child becomes a text node, so text from users (event titles,
 * names, venue labels) can never be interpreted as HTML; there is deliberately no way to pass markup.
 */
const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value" || key === "checked" || key === "selected") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** h("button", {class: "btn", onclick}, "Text", otherNode) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replaces el's content. */
export function render(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

export function emit(name, detail) {
  window.dispatchEvent(new CustomEvent(name, { detail }));
}

export function notify(message, kind = "info") {
  emit("tf:notify", { message, kind });
}

export function navigate(hash) {
  if (location.hash === hash) emit("tf:route-refresh", {});
  else location.hash = hash;
}

/** A field wrapper with a label, the control, and a slot for the API's or our own error message. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const error = h("div", { class: "field-error", id: `${id}-error`, role: "alert" });
  control.setAttribute("aria-describedby", `${id}-error`);
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), control, hint ? h("div", { class: "hint" }, hint) : null, error);
  return wrap;
}

/**
 * Shows per-field messages from a VALIDATION_ERROR (or our own checks) next to the controls named
 * like the field ("layout.generate.sections[0].rows" falls back to the control named "layout");
 * messages without a control go to the form's .form-error. Returns true if anything was shown.
 */
export function showFieldErrors(form, errors) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const general = form.querySelector(".form-error");
  if (general) general.textContent = "";
  let shown = false;
  for (const [name, message] of Object.entries(errors || {})) {
    const root = name.split(/[.[]/)[0];
    const control = form.querySelector(`[name="${window.CSS.escape(name)}"]`) || form.querySelector(`[name="${window.CSS.escape(root)}"]`);
    const slot = control && form.querySelector(`#${window.CSS.escape(control.id)}-error`);
    const text = control && control.name === name ? String(message) : `${name}: ${message}`;
    if (slot) {
      control.setAttribute("aria-invalid", "true");
      slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
    } else if (general) {
      general.textContent = general.textContent ? `${general.textContent} ${text}` : text;
    } else continue;
    shown = true;
  }
  return shown;
}

/** VALIDATION_ERROR details -> {field: message}. Accepts {fields: [{field, message}]} or {fields: {name: message}}. */
export function fieldErrorsOf(err) {
  const fields = err && err.details && err.details.fields;
  if (!fields) return {};
  const out = {};
  const add = (k, v) => { if (k) out[k] = out[k] ? `${out[k]} ${v}` : v; };
  if (Array.isArray(fields)) {
    for (const f of fields) if (f && f.field) add(String(f.field), f.message || f.type || "invalid");
  } else {
    for (const [k, v] of Object.entries(fields)) add(k, typeof v === "string" ? v : (v && v.message) || "invalid");
  }
  return out;
}

/** Calls fn once things have been quiet for ms; `cancel()` drops a pending call (on unmount). */
export function debounce(fn, ms) {
  let timer;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

/** The route name in the address right now ("" for the events list, "session", "tickets", ...). */
export function currentRouteName() {
  return location.hash.replace(/^#\/?/, "").split("?")[0].split("/")[0];
}
