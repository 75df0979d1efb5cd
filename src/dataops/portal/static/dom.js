// DOM helpers. Every piece of user data reaches the page through textContent,
// attribute setters or element properties — never through innerHTML.

const PROPERTIES = new Set([
  "value",
  "checked",
  "disabled",
  "hidden",
  "selected",
  "multiple",
  "required",
]);
const FORBIDDEN = new Set(["innerHTML", "outerHTML", "style", "srcdoc"]);

let counter = 0;
/** A document-unique id for label/for pairs. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * h("a", {href: "/work", class: "x", on: {click: fn}}, "text", child, [more])
 * Strings become text nodes; null/undefined/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (FORBIDDEN.has(name) || (name.startsWith("on") && name !== "on")) {
      throw new Error(`h(): attribute ${name} is not allowed`);
    }
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (name === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    } else if (name === "for") {
      el.htmlFor = value;
    } else if (name === "text") {
      el.textContent = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (PROPERTIES.has(name)) {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

/** Append children to `el` (skipping null/false, flattening arrays). Use this instead of
 * el.append(), which would render null as the text "null". */
export function add(el, ...children) {
  append(el, children);
  return el;
}

/** Replace all children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ---- links -----------------------------------------------------------------

/** The URL when `value` is an absolute http(s) URL, else null. */
export function httpUrl(value) {
  if (typeof value !== "string" || !value) return null;
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url : null;
}

/** Whether a form's `name` field is filled in and its `url` field holds an http(s) URL;
 * if not, `message` says what is missing and that field takes the focus. */
export function namedUrlGiven(message, name, missingName, url) {
  if (!name.value.trim()) {
    message.error(missingName);
    name.focus();
    return false;
  }
  if (!httpUrl(url.value.trim())) {
    message.error("Enter a full http:// or https:// address.");
    url.focus();
    return false;
  }
  return true;
}

/** An external link (new tab, no opener, no referrer) — only for http(s) URLs;
 * anything else is shown as plain text, never made clickable. */
export function externalLink(value, text, label) {
  const url = httpUrl(value);
  if (!url) return h("span", { class: "uri", title: value || "" }, text || value || "");
  return h(
    "a",
    {
      href: url.href,
      target: "_blank",
      rel: "noopener noreferrer",
      class: "external",
      "aria-label": label || undefined,
    },
    text || value,
  );
}

/** An in-app link handled by the client-side router. */
export function routeLink(path, text, attrs = {}) {
  return h("a", { ...attrs, href: path, dataset: { route: "" } }, text);
}

export function enc(value) {
  return encodeURIComponent(value);
}

// ---- layout: narrow screens ----------------------------------------------------

/** Give every body cell of each `table.table` under `root` its column's name
 * (data-label), which the CSS shows above the cell when tables stack into cards on a
 * narrow screen. Idempotent; app.js runs it on every change of the page. */
export function labelCells(root) {
  for (const table of root.querySelectorAll("table.table")) {
    const heads = table.tHead ? [...table.tHead.rows].pop() : null;
    if (!heads) continue;
    const names = [];
    for (const cell of heads.cells) {
      const text = cell.textContent.trim();
      for (let i = 0; i < (cell.colSpan || 1); i += 1) names.push(text);
    }
    for (const body of table.tBodies) {
      for (const row of body.rows) {
        let column = 0;
        for (const cell of row.cells) {
          const name = names[column];
          if (cell.tagName === "TD" && name && cell.dataset.label !== name) {
            cell.dataset.label = name;
          }
          column += cell.colSpan || 1;
        }
      }
    }
  }
}

/** A box that scrolls sideways on purpose (wide content that cannot stack): keyboard
 * scrollable, named, and with a visible cue saying it scrolls. */
export function scrollRegion(label, child) {
  return h(
    "div",
    {},
    h("p", { class: "scroll-x-cue", "aria-hidden": "true" }, "Scroll sideways for more →"),
    h("div", { class: "scroll-x", tabindex: "0", role: "region", "aria-label": label }, child),
  );
}

/** A table: `className`, a caption for screen readers, one header row of `headings`
 * (column headers) and `body` (its tbody). */
export function headedTable(className, caption, headings, body) {
  return h(
    "table",
    { class: className },
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, headings.map((text) => h("th", { scope: "col" }, text)))),
    body,
  );
}

// ---- badges and labels -------------------------------------------------------

const STATUS_TEXT = {
  "needs-review": "needs review",
  "external-status": "external status",
};

export function badge(status, extraClass) {
  const value = status || "unknown";
  return h(
    "span",
    { class: ["badge", `badge-${value.replace(/[^a-z-]/g, "")}`, extraClass] },
    STATUS_TEXT[value] || value,
  );
}

export function chip(text, extraClass) {
  return h("span", { class: ["chip", extraClass] }, text);
}

/** A warning flag that says what it means in words (never colour alone), e.g.
 * "self-approved"; `title` explains it further on hover. */
export function flag(text, kind, title) {
  return h("span", { class: ["flag", `flag-${kind}`], title: title || undefined }, "⚠ ", text);
}

/** A user's name (or email) from the `ctx.users()` map; the ID when unknown. */
export function userName(users, id) {
  if (!id) return "—";
  const user = users && users.get(id);
  return user ? user.name || user.email : id;
}

export const PROVIDER_TEXT = {
  s3: "S3 (DataOps)",
  "local-dev": "Local (DataOps)",
  dropbox: "Dropbox",
  "google-drive": "Google Drive",
  github: "GitHub",
  "external-url": "External URL",
  unknown: "Unknown",
};

export const ARTIFACT_TYPES = [
  "podcast-doc",
  "transcript",
  "recording",
  "report",
  "invoice",
  "event-page",
  "assistant-output",
  "external-link",
  "other",
];
export const DATA_CLASSES = ["public", "internal", "private", "sensitive"];
export const FILE_CATEGORIES = ["document", "invoice", "image"];

export const KIND_TEXT = {
  link: "Link",
  url: "Link",
  file: "File",
  artifact: "Artifact",
  comment: "Comment",
  "external-status": "External status",
};

// ---- dates and sizes ---------------------------------------------------------

export function todayIso() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

export function addDays(iso, days) {
  const [y, m, d] = iso.split("-").map(Number);
  const date = new Date(Date.UTC(y, m - 1, d + days));
  return date.toISOString().slice(0, 10);
}

function dayNumber(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return Date.UTC(y, m - 1, d) / 86400000;
}

/** "2026-11-28 · in 3 days" / "· today" / "· 4 days overdue" for open tasks. */
export function dueText(iso, open = true) {
  if (!iso) return "no date";
  if (!open) return iso;
  const diff = dayNumber(iso) - dayNumber(todayIso());
  if (diff === 0) return `${iso} · today`;
  if (diff === 1) return `${iso} · tomorrow`;
  if (diff > 1) return `${iso} · in ${diff} days`;
  if (diff === -1) return `${iso} · 1 day overdue`;
  return `${iso} · ${-diff} days overdue`;
}

/** An artifact's `validUntil` (valid through that day): "expires in 3 days (2026-05-04)",
 * "expires today", "expired on 2026-05-01"; {text, state} with state "expired", "soon"
 * (within `soonDays`) or "later"; null without a date. */
export function expiry(validUntil, soonDays = 14) {
  if (!validUntil) return null;
  const diff = dayNumber(validUntil) - dayNumber(todayIso());
  if (diff < 0) return { text: `expired on ${validUntil}`, state: "expired" };
  const state = diff <= soonDays ? "soon" : "later";
  if (diff === 0) return { text: `expires today (${validUntil})`, state };
  if (diff === 1) return { text: `expires tomorrow (${validUntil})`, state };
  return { text: `expires in ${diff} days (${validUntil})`, state };
}

let timeZone = "UTC";

/** The zone timestamps are shown in: the user's own (`timezone` of the session user), UTC
 * when they have none or the browser does not know it. */
export function setTimeZone(zone) {
  timeZone = "UTC";
  if (!zone) return;
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: zone });
    timeZone = zone;
  } catch {
    // an unknown zone name: stay on UTC, which is labelled as such
  }
}

/** The browser's time zone ("local time" when it has none), for the admin pages' times. */
export function zoneName() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
}

/** A timestamp in the user's zone, always labelled with it: "6 Dec 2026, 14:05 UTC". */
export function when(timestamp) {
  if (!timestamp) return "—";
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return timestamp;
  return date.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone,
    timeZoneName: "short",
  });
}

export function bytes(size) {
  if (size === null || size === undefined) return "—";
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

// ---- small building blocks ---------------------------------------------------

/** An honest error state: what failed and why, never an empty list. */
export function errorBox(what, error) {
  const detail = error && error.message ? error.message : String(error || "unknown error");
  return h(
    "div",
    { class: "error-state", role: "alert" },
    h("strong", {}, `${what} unavailable. `),
    h("span", {}, detail),
  );
}

const NOT_FOUND = {
  tasks: ["task", "/work/bundles", "Go to the bundles"],
  bundles: ["bundle", "/work/bundles", "Go to the bundles"],
  artifacts: ["artifact", "/work/review", "Go to the review queue"],
  templates: ["template", "/work/templates", "Go to the templates"],
};

/** The page for an unknown address or an unknown ID (`path` is the address asked for):
 * says what was not found and offers a way back. */
export function notFound(path = "") {
  const kind = NOT_FOUND[path.split("/")[2]];
  const back = [];
  if (kind && path.split("/")[3]) back.push(h("li", {}, routeLink(kind[1], kind[2])));
  back.push(h("li", {}, routeLink("/work", "Go to the home page")));
  const what = kind && path.split("/")[3] ? `There is no ${kind[0]} with this ID` : null;
  return h(
    "section",
    { class: "not-found", "aria-labelledby": "not-found-title" },
    h("h1", { id: "not-found-title" }, what ? `${kind[0][0].toUpperCase()}${kind[0].slice(1)} not found` : "Page not found"),
    h(
      "p",
      {},
      what
        ? `${what}: it may have been removed, or the link is mistyped.`
        : "There is no page at this address.",
    ),
    h("ul", { class: "way-back" }, back),
  );
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", "aria-busy": "true" }, text);
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/** Fill `el` with the list `load()` brings ({items}): an error box saying `what` could
 * not be read, `none` when it is empty, else render(items). */
export async function fillList(el, load, what, none, render) {
  let found;
  try {
    found = await load();
  } catch (error) {
    fill(el, errorBox(what, error));
    return;
  }
  if (!found.items.length) {
    fill(el, empty(none));
    return;
  }
  fill(el, render(found.items));
}

/** A labelled field: returns {wrap, input}. */
export function field(labelText, control, hint) {
  const id = control.id || uid("f");
  control.id = id;
  const hintEl = hint ? h("small", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, labelText), control, hintEl);
}

export function select(name, options, value) {
  return h(
    "select",
    { name },
    options.map((option) => {
      const [optValue, text] = Array.isArray(option) ? option : [option, option];
      return h("option", { value: optValue, selected: optValue === value }, text);
    }),
  );
}

/** Whether focus is free to move to an action's result: it is on nothing, on a control
 * the page has since removed, or on the button that started the action — not on a field
 * the code chose to focus (e.g. the invalid one). */
function focusIsFree() {
  const active = document.activeElement;
  return (
    !active ||
    active === document.body ||
    !active.isConnected ||
    active.tagName === "BUTTON" ||
    (active.tagName === "INPUT" && active.type === "submit")
  );
}

/** Move focus to what an action produced (its message, the error, the new record), so a
 * keyboard or screen-reader user continues from there and not from the top of the page.
 * `force` moves it even from a field. */
export function focusResult(el, force = false) {
  if (!el || !el.isConnected || (!force && !focusIsFree())) return;
  if (!el.hasAttribute("tabindex") && el.tabIndex < 0) el.tabIndex = -1;
  el.focus();
}

/** A message area for a form: role=status for success, role=alert for errors. The
 * message takes the focus (see focusResult). */
export function messageArea() {
  const el = h("div", { class: "form-message", "aria-live": "polite" });
  return {
    el,
    ok(text) {
      const shown = h("p", { class: "ok", role: "status" }, text);
      fill(el, shown);
      focusResult(shown);
    },
    error(text) {
      const shown = h("p", { class: "error", role: "alert" }, text);
      fill(el, shown);
      focusResult(shown);
    },
    clear() {
      el.replaceChildren();
    },
  };
}

/** Run `action` with the button busy; returns its result. */
export async function busy(button, action) {
  const before = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = before;
  }
}

/** Map over `items` with at most `limit` calls in flight. */
export async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next;
      next += 1;
      try {
        results[index] = { ok: true, value: await fn(items[index]) };
      } catch (error) {
        results[index] = { ok: false, error };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A secret shown once (a password, a token, a signing secret), in a panel the user
 * dismisses: then it is gone from the page and the focus moves to `after()`. */
export function shownOnce(slot, title, intro, label, secret, after) {
  const input = h("input", {
    type: "text",
    readonly: true,
    value: secret,
    class: "secret-value",
    spellcheck: "false",
    autocomplete: "off",
    on: { focus: (event) => event.target.select() },
  });
  const copied = h("p", { class: "sr-only", role: "status" });
  const copy = h("button", { type: "button" }, "Copy");
  copy.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      copied.textContent = "Copied.";
    } catch {
      copied.textContent = "Copying failed: select the text and copy it by hand.";
    }
  });
  const done = h("button", { type: "button", class: "primary" }, "I have copied it");
  const titleId = uid("once");
  const panel = h(
    "div",
    { class: ["card", "secret-panel"], role: "region", "aria-labelledby": titleId },
    h("h2", { id: titleId }, title),
    h("p", {}, h("strong", {}, "Copy it now: it will not be shown again. "), intro),
    field(label, input),
    h("div", { class: "actions" }, copy, done),
    copied,
  );
  done.addEventListener("click", () => {
    input.value = "";
    slot.replaceChildren();
    if (after) focusResult(after(), true);
  });
  fill(slot, panel);
  focusResult(panel.querySelector("h2"), true);
}
