/**
 * UI strings in English and German. Event texts come translated from the API (`lang=`) or from the
 * event's own `translations`; these are only the interface's words.
 */
const STRINGS = {
  en: {
    "app.tagline": "Tickets for the moments that sell out",
    "nav.shop": "Events", "nav.tickets": "My tickets", "nav.admin": "Organize", "nav.scanner": "Scanner",
    "nav.signin": "Sign in", "nav.signout": "Sign out", "nav.lang": "Language",
    "auth.signin": "Sign in", "auth.signup": "Create account", "auth.email": "Email", "auth.password": "Password",
    "auth.name": "Full name", "auth.haveAccount": "Already have an account? Sign in", "auth.noAccount": "New here? Create an account",
    "auth.welcome": "Welcome, {name}!", "auth.signedOut": "You are signed out.", "auth.required": "Please sign in to continue.",
    "auth.passwordHint": "At least 8 characters.", "auth.close": "Close",
    "v.required": "Required.", "v.email": "Enter a valid email address.", "v.password": "Use at least 8 characters.",
    "v.number": "Enter a whole number between {min} and {max}.", "v.card": "Enter the 16-digit card number.",
    "v.exp": "Enter a valid expiry (MM/YY) in the future.", "v.cvc": "3 or 4 digits.", "v.json": "This is not valid JSON: {msg}",
    "v.dates": "The end must be after the start.", "v.price": "Enter a price, e.g. 49.00.",
    "err.network": "Cannot reach TicketFlash. Check your connection and try again.",
    "err.generic": "Something went wrong. Please try again.", "err.notFound": "Not found.",
    "err.forbidden": "Your account is not allowed to do this.", "err.rateLimited": "Too many requests, please wait a moment.",
    "shop.title": "Find your next event", "shop.search": "Search events, artists, venues", "shop.category": "Category",
    "shop.city": "City", "shop.from": "From", "shop.to": "To", "shop.all": "All", "shop.none": "No events match your search.",
    "shop.sessions": "Dates", "shop.noSessions": "No dates scheduled yet.", "shop.choose": "Choose seats",
    "shop.onSale": "On sale", "shop.notOnSale": "Not on sale", "shop.from.price": "from {price}", "shop.back": "Back",
    "shop.opensAt": "On sale from {date}", "shop.opensIn": "On sale in {time}",
    "sel.opensIn": "Tickets go on sale in {time}. Look around the map meanwhile: the page opens the sale by itself, no need to reload.",
    "shop.loading": "Loading…", "shop.results": "{n} events",
    "map.zoomIn": "Zoom in", "map.zoomOut": "Zoom out", "map.reset": "Fit", "map.legend": "Legend", "map.stage": "STAGE",
    "map.available": "Available", "map.held": "On hold", "map.sold": "Sold", "map.blocked": "Blocked", "map.selected": "Your selection",
    "map.help": "Seat map. Use the arrow keys to move between seats, Enter to select, + and - to zoom.",
    "map.seat": "Section {section}, row {row}, seat {seat}, {category}, {price}, {status}",
    "map.liveOff": "Live updates paused, refreshing every few seconds.",
    "sel.title": "Your selection", "sel.empty": "Pick seats on the map or let us find the best ones.",
    "sel.emptyGa": "Choose how many tickets you want for an area.", "sel.best": "Best available", "sel.qty": "Seats", "sel.category": "Category", "sel.any": "Any",
    "sel.hold": "Hold {n} seats", "sel.clear": "Clear", "sel.max": "You can pick up to {n} seats.",
    "sel.taken": "Sorry, someone just took {seats}. Please pick other seats.",
    "sel.lost": "Some seats you picked were just taken by someone else.", "sel.ga": "General admission", "sel.gaLeft": "{n} left", "sel.gaHold": "Hold tickets",
    "hold.title": "Seats held for you", "hold.left": "Held for {time}", "hold.expired": "Your hold expired and the seats went back on sale. Please pick again.",
    "hold.release": "Release", "hold.released": "Seats released.", "hold.total": "Total",
    "pay.title": "Payment", "pay.card": "Card number", "pay.exp": "Expiry (MM/YY)", "pay.cvc": "CVC", "pay.name": "Name on ticket",
    "pay.submit": "Pay {total}", "pay.testCards": "Test cards: 4242 4242 4242 4242 succeeds · 4000 0000 0000 0002 is declined · 4000 0000 0000 9995 insufficient funds · 4000 0000 0000 0259 succeeds after 3 s",
    "order.title": "Order", "order.PENDING": "Processing your payment…", "order.CONFIRMED": "Confirmed! Your tickets are ready.",
    "order.FAILED": "Payment failed", "order.CANCELLED": "Cancelled", "order.REFUNDED": "Refunded",
    "order.declined": "Your card was declined. No money was taken and the seats are back on sale.",
    "order.insufficient": "Your card has insufficient funds. No money was taken and the seats are back on sale.",
    "order.expired": "Your hold expired before the payment finished. No money was taken.",
    "order.failedOther": "The payment did not go through: {reason}",
    "order.viewTickets": "View my tickets", "order.again": "Pick seats again", "order.status": "Status",
    "os.PENDING": "Pending", "os.CONFIRMED": "Confirmed", "os.FAILED": "Failed", "os.CANCELLED": "Cancelled", "os.REFUNDED": "Refunded",
    "tickets.title": "My tickets", "tickets.none": "No orders yet. Find an event you love!", "tickets.order": "Order {id}",
    "tickets.pdf": "Download PDF", "tickets.qr": "Show QR", "tickets.cancel": "Cancel order",
    "tickets.cancelConfirm": "Cancel this order? You will be refunded and the tickets stop working.",
    "tickets.cancelled": "Order cancelled; the refund is on its way.", "tickets.seat": "Seat", "tickets.holder": "Holder",
    "tickets.VALID": "Valid", "tickets.USED": "Checked in", "tickets.REVOKED": "Revoked", "tickets.pending": "Tickets are being issued…",
    "admin.title": "Organizer", "admin.venues": "Venues", "admin.events": "Events", "admin.sessions": "Sessions", "admin.dashboard": "Dashboard",
    "admin.venue.new": "New venue", "admin.venue.name": "Venue name", "admin.venue.city": "City", "admin.venue.address": "Address",
    "admin.gen": "Seat layout generator", "admin.gen.sections": "Sections", "admin.gen.rows": "Rows per section", "admin.gen.seats": "Seats per row",
    "admin.gen.categories": "Categories (front to back, comma separated)", "admin.gen.ga": "Standing area capacity (0 for none)",
    "admin.gen.preview": "Preview", "admin.gen.names": "Section names (front to back, comma separated)", "admin.venue.seats": "{n} seats", "admin.venue.standing": "{n} standing", "admin.import": "…or import a layout (JSON)", "admin.import.file": "Load JSON file",
    "admin.venue.create": "Create venue", "admin.venue.created": "Venue “{name}” created with {n} seats.",
    "admin.event.new": "New event", "admin.event.title": "Title", "admin.event.description": "Description",
    "admin.event.category": "Category", "admin.event.city": "City", "admin.event.status": "Status", "admin.event.de": "German translation",
    "admin.event.create": "Create event", "admin.event.created": "Event “{title}” created.",
    "admin.session.new": "New session", "admin.session.event": "Event", "admin.session.venue": "Venue",
    "admin.session.starts": "Starts", "admin.session.ends": "Ends", "admin.session.currency": "Currency",
    "admin.session.max": "Max tickets per customer", "admin.session.prices": "Prices per category",
    "admin.session.create": "Create session", "admin.session.created": "Session created.", "admin.pickVenue": "Choose a venue first",
    "admin.none": "None yet", "admin.open": "Open",
    "dash.title": "Live sales", "dash.pick": "Session", "dash.sold": "Sold", "dash.held": "Held", "dash.available": "Available",
    "dash.revenue": "Revenue", "dash.orders": "Orders", "dash.chart": "Tickets sold over time", "dash.live": "Live", "dash.empty": "Create a session to see its sales here.",
    "scan.title": "Check-in", "scan.code": "Ticket code", "scan.codeHint": "Scan the QR code or paste the code printed under it.",
    "scan.submit": "Check in", "scan.camera": "Start camera", "scan.stopCamera": "Stop camera", "scan.noCamera": "This browser cannot read QR codes with the camera; type or paste the code instead.",
    "scan.ok": "OK: welcome in", "scan.already": "Already checked in", "scan.alreadyAt": "First checked in at {time}",
    "scan.revoked": "Revoked ticket", "scan.unknown": "Unknown ticket", "scan.next": "Ready for the next ticket",
    "status.a": "available", "status.h": "on hold", "status.s": "sold", "status.b": "blocked", "status.mine": "selected",
    "live.connected": "Live", "live.offline": "Offline",
  },
  de: {
    "app.tagline": "Tickets für Momente, die ausverkauft sind",
    "nav.shop": "Veranstaltungen", "nav.tickets": "Meine Tickets", "nav.admin": "Veranstalten", "nav.scanner": "Einlass",
    "nav.signin": "Anmelden", "nav.signout": "Abmelden", "nav.lang": "Sprache",
    "auth.signin": "Anmelden", "auth.signup": "Konto erstellen", "auth.email": "E-Mail", "auth.password": "Passwort",
    "auth.name": "Vollständiger Name", "auth.haveAccount": "Schon ein Konto? Anmelden", "auth.noAccount": "Neu hier? Konto erstellen",
    "auth.welcome": "Willkommen, {name}!", "auth.signedOut": "Sie sind abgemeldet.", "auth.required": "Bitte melden Sie sich an, um fortzufahren.",
    "auth.passwordHint": "Mindestens 8 Zeichen.", "auth.close": "Schließen",
    "v.required": "Pflichtfeld.", "v.email": "Bitte eine gültige E-Mail-Adresse eingeben.", "v.password": "Mindestens 8 Zeichen verwenden.",
    "v.number": "Ganze Zahl zwischen {min} und {max} eingeben.", "v.card": "Die 16-stellige Kartennummer eingeben.",
    "v.exp": "Gültiges Ablaufdatum (MM/JJ) in der Zukunft eingeben.", "v.cvc": "3 oder 4 Ziffern.", "v.json": "Kein gültiges JSON: {msg}",
    "v.dates": "Das Ende muss nach dem Beginn liegen.", "v.price": "Preis eingeben, z. B. 49,00.",
    "err.network": "TicketFlash ist nicht erreichbar. Bitte Verbindung prüfen und erneut versuchen.",
    "err.generic": "Etwas ist schiefgelaufen. Bitte erneut versuchen.", "err.notFound": "Nicht gefunden.",
    "err.forbidden": "Ihr Konto darf das nicht.", "err.rateLimited": "Zu viele Anfragen, bitte einen Moment warten.",
    "shop.title": "Finden Sie Ihr nächstes Erlebnis", "shop.search": "Veranstaltungen, Künstler, Orte suchen", "shop.category": "Kategorie",
    "shop.city": "Stadt", "shop.from": "Von", "shop.to": "Bis", "shop.all": "Alle", "shop.none": "Keine Veranstaltungen gefunden.",
    "shop.sessions": "Termine", "shop.noSessions": "Noch keine Termine.", "shop.choose": "Plätze wählen",
    "shop.onSale": "Im Verkauf", "shop.notOnSale": "Nicht im Verkauf", "shop.from.price": "ab {price}", "shop.back": "Zurück",
    "shop.opensAt": "Im Verkauf ab {date}", "shop.opensIn": "Im Verkauf in {time}",
    "sel.opensIn": "Der Verkauf beginnt in {time}. Sehen Sie sich den Saalplan schon an: Die Seite öffnet den Verkauf selbst, ohne Neuladen.",
    "shop.loading": "Lädt…", "shop.results": "{n} Veranstaltungen",
    "map.zoomIn": "Vergrößern", "map.zoomOut": "Verkleinern", "map.reset": "Einpassen", "map.legend": "Legende", "map.stage": "BÜHNE",
    "map.available": "Frei", "map.held": "Reserviert", "map.sold": "Verkauft", "map.blocked": "Gesperrt", "map.selected": "Ihre Auswahl",
    "map.help": "Saalplan. Mit den Pfeiltasten zwischen Plätzen wechseln, Enter wählt, + und - zoomen.",
    "map.seat": "Block {section}, Reihe {row}, Platz {seat}, {category}, {price}, {status}",
    "map.liveOff": "Live-Aktualisierung pausiert, Aktualisierung alle paar Sekunden.",
    "sel.title": "Ihre Auswahl", "sel.empty": "Wählen Sie Plätze im Plan oder lassen Sie uns die besten finden.",
    "sel.emptyGa": "Wählen Sie, wie viele Tickets Sie für einen Bereich möchten.", "sel.best": "Beste verfügbare", "sel.qty": "Plätze", "sel.category": "Kategorie", "sel.any": "Beliebig",
    "sel.hold": "{n} Plätze reservieren", "sel.clear": "Leeren", "sel.max": "Sie können bis zu {n} Plätze wählen.",
    "sel.taken": "Leider wurde gerade {seats} vergeben. Bitte andere Plätze wählen.",
    "sel.lost": "Einige Ihrer gewählten Plätze wurden gerade vergeben.", "sel.ga": "Stehplätze", "sel.gaLeft": "noch {n}", "sel.gaHold": "Tickets reservieren",
    "hold.title": "Für Sie reserviert", "hold.left": "Reserviert für {time}", "hold.expired": "Ihre Reservierung ist abgelaufen, die Plätze sind wieder frei. Bitte neu wählen.",
    "hold.release": "Freigeben", "hold.released": "Plätze freigegeben.", "hold.total": "Summe",
    "pay.title": "Zahlung", "pay.card": "Kartennummer", "pay.exp": "Gültig bis (MM/JJ)", "pay.cvc": "Prüfziffer", "pay.name": "Name auf dem Ticket",
    "pay.submit": "{total} bezahlen", "pay.testCards": "Testkarten: 4242 4242 4242 4242 klappt · 4000 0000 0000 0002 wird abgelehnt · 4000 0000 0000 9995 keine Deckung · 4000 0000 0000 0259 klappt nach 3 s",
    "order.title": "Bestellung", "order.PENDING": "Ihre Zahlung wird verarbeitet…", "order.CONFIRMED": "Bestätigt! Ihre Tickets sind bereit.",
    "order.FAILED": "Zahlung fehlgeschlagen", "order.CANCELLED": "Storniert", "order.REFUNDED": "Erstattet",
    "order.declined": "Ihre Karte wurde abgelehnt. Es wurde nichts abgebucht, die Plätze sind wieder frei.",
    "order.insufficient": "Ihre Karte ist nicht gedeckt. Es wurde nichts abgebucht, die Plätze sind wieder frei.",
    "order.expired": "Ihre Reservierung lief ab, bevor die Zahlung fertig war. Es wurde nichts abgebucht.",
    "order.failedOther": "Die Zahlung ist nicht durchgegangen: {reason}",
    "order.viewTickets": "Meine Tickets ansehen", "order.again": "Neu wählen", "order.status": "Status",
    "os.PENDING": "In Bearbeitung", "os.CONFIRMED": "Bestätigt", "os.FAILED": "Fehlgeschlagen", "os.CANCELLED": "Storniert", "os.REFUNDED": "Erstattet",
    "tickets.title": "Meine Tickets", "tickets.none": "Noch keine Bestellungen. Finden Sie eine Veranstaltung!", "tickets.order": "Bestellung {id}",
    "tickets.pdf": "PDF herunterladen", "tickets.qr": "QR zeigen", "tickets.cancel": "Bestellung stornieren",
    "tickets.cancelConfirm": "Diese Bestellung stornieren? Sie erhalten eine Erstattung und die Tickets werden ungültig.",
    "tickets.cancelled": "Bestellung storniert; die Erstattung ist unterwegs.", "tickets.seat": "Platz", "tickets.holder": "Inhaber",
    "tickets.VALID": "Gültig", "tickets.USED": "Eingelassen", "tickets.REVOKED": "Ungültig", "tickets.pending": "Tickets werden ausgestellt…",
    "admin.title": "Veranstalter", "admin.venues": "Spielstätten", "admin.events": "Veranstaltungen", "admin.sessions": "Termine", "admin.dashboard": "Dashboard",
    "admin.venue.new": "Neue Spielstätte", "admin.venue.name": "Name der Spielstätte", "admin.venue.city": "Stadt", "admin.venue.address": "Adresse",
    "admin.gen": "Saalplan-Generator", "admin.gen.sections": "Blöcke", "admin.gen.rows": "Reihen pro Block", "admin.gen.seats": "Plätze pro Reihe",
    "admin.gen.categories": "Kategorien (von vorne nach hinten, mit Komma)", "admin.gen.ga": "Stehplatz-Kapazität (0 für keine)",
    "admin.gen.preview": "Vorschau", "admin.gen.names": "Blocknamen (von vorne nach hinten, mit Komma)", "admin.venue.seats": "{n} Sitzplätze", "admin.venue.standing": "{n} Stehplätze", "admin.import": "…oder Saalplan importieren (JSON)", "admin.import.file": "JSON-Datei laden",
    "admin.venue.create": "Spielstätte anlegen", "admin.venue.created": "Spielstätte „{name}“ mit {n} Plätzen angelegt.",
    "admin.event.new": "Neue Veranstaltung", "admin.event.title": "Titel", "admin.event.description": "Beschreibung",
    "admin.event.category": "Kategorie", "admin.event.city": "Stadt", "admin.event.status": "Status", "admin.event.de": "Deutsche Übersetzung",
    "admin.event.create": "Veranstaltung anlegen", "admin.event.created": "Veranstaltung „{title}“ angelegt.",
    "admin.session.new": "Neuer Termin", "admin.session.event": "Veranstaltung", "admin.session.venue": "Spielstätte",
    "admin.session.starts": "Beginn", "admin.session.ends": "Ende", "admin.session.currency": "Währung",
    "admin.session.max": "Max. Tickets pro Kunde", "admin.session.prices": "Preise pro Kategorie",
    "admin.session.create": "Termin anlegen", "admin.session.created": "Termin angelegt.", "admin.pickVenue": "Zuerst eine Spielstätte wählen",
    "admin.none": "Noch keine", "admin.open": "Öffnen",
    "dash.title": "Verkäufe live", "dash.pick": "Termin", "dash.sold": "Verkauft", "dash.held": "Reserviert", "dash.available": "Frei",
    "dash.revenue": "Umsatz", "dash.orders": "Bestellungen", "dash.chart": "Verkaufte Tickets über die Zeit", "dash.live": "Live", "dash.empty": "Legen Sie einen Termin an, um hier die Verkäufe zu sehen.",
    "scan.title": "Einlass", "scan.code": "Ticket-Code", "scan.codeHint": "QR-Code scannen oder den Code darunter einfügen.",
    "scan.submit": "Einlassen", "scan.camera": "Kamera starten", "scan.stopCamera": "Kamera stoppen", "scan.noCamera": "Dieser Browser kann keine QR-Codes mit der Kamera lesen; bitte Code eingeben oder einfügen.",
    "scan.ok": "OK: willkommen", "scan.already": "Bereits eingelassen", "scan.alreadyAt": "Zuerst eingelassen um {time}",
    "scan.revoked": "Ungültiges Ticket", "scan.unknown": "Unbekanntes Ticket", "scan.next": "Bereit für das nächste Ticket",
    "status.a": "frei", "status.h": "reserviert", "status.s": "verkauft", "status.b": "gesperrt", "status.mine": "ausgewählt",
    "live.connected": "Live", "live.offline": "Offline",
  },
};

export const LANGS = [
  { code: "en", name: "English" },
  { code: "de", name: "Deutsch" },
];

let lang = (() => {
  const stored = localStorage.getItem("tf.lang");
  if (stored && STRINGS[stored]) return stored;
  const browser = (navigator.language || "en").slice(0, 2);
  return STRINGS[browser] ? browser : "en";
})();

export function getLang() {
  return lang;
}

export function setLang(code) {
  if (!STRINGS[code] || code === lang) return;
  lang = code;
  localStorage.setItem("tf.lang", code);
  document.documentElement.lang = code;
  window.dispatchEvent(new CustomEvent("tf:lang", { detail: { lang: code } }));
}

/** t("hold.left", {time: "9:59"}); unknown keys fall back to English, then to the key itself. */
export function t(key, vars) {
  const template = (STRINGS[lang] && STRINGS[lang][key]) ?? STRINGS.en[key] ?? key;
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (m, name) => (vars[name] === undefined || vars[name] === null ? "" : String(vars[name])));
}

export function money(cents, currency) {
  if (typeof cents !== "number" || !Number.isFinite(cents)) return "";
  try {
    return new Intl.NumberFormat(lang, { style: "currency", currency: currency || "EUR" }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency || ""}`.trim();
  }
}

export function dateTime(iso, opts = { dateStyle: "medium", timeStyle: "short" }) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return new Intl.DateTimeFormat(lang, opts).format(d);
}

/** An event's title/description in the current language: the API's answer for `lang=`, else its translations. */
export function eventText(event, key) {
  if (!event) return "";
  const tr = event.translations && event.translations[lang];
  return (tr && tr[key]) || event[key] || "";
}
