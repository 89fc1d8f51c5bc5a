/**
 * Scanner: check a ticket in by camera (BarcodeDetector, where the browser has it) or by typing
 * or pasting the code. The answer is shown big and plain: OK / already checked in / revoked / unknown.
 */
import { api } from "../lib/api.js";
import { t, dateTime } from "../lib/i18n.js";
import { h, render, field } from "../lib/dom.js";

const RESULTS = {
  ok: { cls: "ok", icon: "✓", title: "scan.ok" },
  already: { cls: "warn", icon: "!", title: "scan.already" },
  revoked: { cls: "bad", icon: "✕", title: "scan.revoked" },
  unknown: { cls: "bad", icon: "?", title: "scan.unknown" },
};

export async function mount(root) {
  const code = h("textarea", { name: "code", rows: "2", maxlength: "1024", autocomplete: "off", spellcheck: "false", required: true, "data-testid": "scan-code" });
  const result = h("div", { class: "scan-result idle", role: "status", "aria-live": "assertive", "data-testid": "scan-result" }, t("scan.next"));
  const submit = h("button", { class: "btn primary big", type: "submit" }, t("scan.submit"));
  const form = h("form", { class: "form scan-form", novalidate: true }, field(t("scan.code"), code, t("scan.codeHint")), submit);
  const video = h("video", { class: "scan-video", playsinline: true, muted: true, hidden: true });
  const cameraBtn = h("button", { class: "btn", type: "button" }, t("scan.camera"));
  const cameraNote = h("p", { class: "muted small" });
  render(root, h("h1", null, t("scan.title")),
    h("div", { class: "scan-layout" },
      h("div", { class: "card" }, form, h("div", { class: "camera" }, cameraBtn, cameraNote, video)),
      result));

  let busy = false;
  let lastCode = "";
  let lastAt = 0;

  function show(kind, lines) {
    const r = RESULTS[kind];
    result.className = `scan-result ${r.cls}`;
    result.dataset.result = kind;
    render(result, h("div", { class: "scan-icon", "aria-hidden": "true" }, r.icon), h("div", { class: "scan-title" }, t(r.title)),
      ...lines.filter(Boolean).map((l) => h("div", { class: "scan-line" }, l)));
  }

  async function check(value) {
    const c = value.trim();
    if (!c) {
      form.querySelector(".field-error").textContent = t("v.required");
      code.setAttribute("aria-invalid", "true");
      return;
    }
    form.querySelector(".field-error").textContent = "";
    code.removeAttribute("aria-invalid");
    if (busy) return;
    busy = true;
    submit.disabled = true;
    try {
      const answer = await api("/api/checkin", { method: "POST", body: { code: c } });
      const s = answer.session || {};
      const seat = answer.seat || {};
      const tk = answer.ticket || {};
      show("ok", [seat.label || tk.seatLabel, tk.holderName, [s.eventTitle, s.startsAt ? dateTime(s.startsAt) : ""].filter(Boolean).join(" · ")]);
    } catch (err) {
      const d = err.details || {};
      if (err.code === "ALREADY_CHECKED_IN") show("already", [d.checkedInAt ? t("scan.alreadyAt", { time: dateTime(d.checkedInAt, { dateStyle: "short", timeStyle: "medium" }) }) : "", d.seatLabel]);
      else if (err.code === "TICKET_REVOKED" || err.status === 410) show("revoked", []);
      else if (err.code === "UNKNOWN_TICKET" || err.status === 404) show("unknown", []);
      else if (err.code === "VALIDATION_ERROR") {
        form.querySelector(".field-error").textContent = err.message;
      } else show("unknown", [err.message]);
    } finally {
      busy = false;
      submit.disabled = false;
      code.select();
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    check(code.value);
  });
  // A USB/Bluetooth scanner "types" the code and presses Enter.
  code.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      check(code.value);
    }
  });

  let stream = null;
  let scanning = false;
  async function startCamera() {
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      cameraNote.textContent = t("scan.noCamera");
      return;
    }
    try {
      const detector = new BarcodeDetector({ formats: ["qr_code"] });
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      scanning = true;
      cameraBtn.textContent = t("scan.stopCamera");
      const loop = async () => {
        if (!scanning) return;
        try {
          const codes = await detector.detect(video);
          const value = codes[0] && codes[0].rawValue;
          // The same code in front of the camera for a moment is one scan, not many.
          if (value && (value !== lastCode || Date.now() - lastAt > 4000)) {
            lastCode = value;
            lastAt = Date.now();
            code.value = value;
            await check(value);
          }
        } catch {
          /* a frame that cannot be read: try the next */
        }
        setTimeout(loop, 250);
      };
      loop();
    } catch (err) {
      cameraNote.textContent = `${t("scan.noCamera")} (${err.message || err.name})`;
      stopCamera();
    }
  }
  function stopCamera() {
    scanning = false;
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.hidden = true;
    cameraBtn.textContent = t("scan.camera");
  }
  cameraBtn.addEventListener("click", () => (scanning ? stopCamera() : startCamera()));
  if (!("BarcodeDetector" in window)) cameraNote.textContent = t("scan.noCamera");
  code.focus();
  return stopCamera;
}
