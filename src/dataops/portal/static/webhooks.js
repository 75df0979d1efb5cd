// Webhooks (CONTRACT §8, admin only): the endpoints (URL, events, enabled, created), add
// one, enable/disable, rotate its secret, delete it, send a test event, and its delivery
// log with "Redeliver". The signing secret is in the answer of create and rotate-secret
// alone: it is shown once, in a panel the admin dismisses, and kept nowhere else.
import { api } from "./api.js";
import {
  add,
  badge,
  busy,
  empty,
  enc,
  errorBox,
  field,
  fill,
  fillList,
  focusResult,
  h,
  loading,
  messageArea,
  shownOnce,
  uid,
  when,
  zoneName,
} from "./dom.js";

const HOOKS = "/work/api/webhooks";
const LOG_PAGE = 20;
const EVENTS = [
  ["artifact.created", "An artifact is registered"],
  ["artifact.status-changed", "An artifact is approved, rejected, archived…"],
  ["task.completed", "A task is completed"],
  ["task.proof-withdrawn", "A completed task's proof no longer holds"],
  ["bundle.created", "A bundle is created"],
  ["notification.created", "A notification is created"],
];

function failedIn(message, what, error) {
  message.error(`${what}: ${error.full || error.message}`);
  focusResult(message.el.querySelector("p"), true);
}

export async function webhooksPage(view, ctx) {
  document.title = "Webhooks · DataOps";
  add(view, h("h1", {}, "Webhooks"));
  if (!ctx.isAdmin) {
    add(view, h("p", { class: "empty" }, "Webhooks are managed by an admin."));
    return;
  }
  add(
    view,
    h(
      "p",
      { class: "subtitle" },
      "Signed HTTP calls (Standard Webhooks) to your endpoints when something happens here. ",
      `Times are shown in ${zoneName()}.`,
    ),
  );
  const secretSlot = h("div", { class: "secret-slot" });
  const listBody = h("div", {}, loading());
  const page = { ctx, secretSlot, listBody };
  page.refresh = () => refreshList(page);
  add(
    view,
    secretSlot,
    h(
      "section",
      { class: "card", "aria-labelledby": "webhooks-add-title" },
      h("h2", { id: "webhooks-add-title" }, "Add an endpoint"),
      addForm(page),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "webhooks-list-title" },
      h("h2", { id: "webhooks-list-title" }, "Endpoints"),
      listBody,
    ),
  );
  await page.refresh();
}

/** The secret, once: "copy it now". Dismissing the panel removes it from the page. */
function showSecret(page, webhook, secret, what) {
  const intro =
    `This is the signing secret of ${webhook.url}. Your receiver verifies each delivery's ` +
    "webhook-signature header with it.";
  shownOnce(page.secretSlot, what, intro, "Signing secret", secret, () =>
    document.getElementById("webhooks-list-title"),
  );
}

function addForm(page) {
  const url = h("input", {
    type: "url",
    name: "url",
    required: true,
    placeholder: "https://example.com/hooks/dataops",
    spellcheck: "false",
    autocapitalize: "off",
  });
  const description = h("input", { type: "text", name: "description", maxlength: "200" });
  const { boxes, events } = eventChoices();
  const fields = {
    url: field("URL", url, "https and a public address (http to loopback only in local/test)."),
    events,
    description: field("Description (optional)", description),
  };
  const controls = { url, events, description };
  const message = messageArea();
  const save = h("button", { type: "submit", class: "primary" }, "Add endpoint");
  const form = h(
    "form",
    { class: "form webhook-form", "aria-label": "Add a webhook endpoint", novalidate: true },
    fields.url,
    fields.events,
    fields.description,
    h("div", { class: "actions" }, save),
    message.el,
  );
  const { clearErrors, showError } = markedErrors(controls, fields);
  const focusField = (key) => (key === "events" ? boxes[0] : controls[key]).focus();

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, async () => {
      clearErrors();
      message.clear();
      const body = {
        url: url.value.trim(),
        events: boxes.filter((b) => b.checked).map((b) => b.value),
      };
      if (description.value.trim()) body.description = description.value.trim();
      if (!body.events.length) {
        showError("events", "Choose at least one event.");
        focusField("events");
        return;
      }
      let made;
      try {
        made = await api(HOOKS, { method: "POST", json: body });
      } catch (error) {
        notAdded(error, { controls, message, showError, focusField });
        return;
      }
      form.reset();
      await page.refresh();
      showSecret(page, made, made.secret, `Endpoint added: ${made.url}`);
    });
  });
  return form;
}

/** A refused endpoint: the errors on its fields under them (the first takes the focus),
 * anything else in the message. */
function notAdded(error, { controls, message, showError, focusField }) {
  const mine = (error.errors || []).filter((e) => controls[e.field]);
  mine.forEach((e) => showError(e.field, e.message));
  if (mine.length && mine.length === (error.errors || []).length) {
    message.error("Not added: check the marked field(s).");
    focusField(mine[0].field);
  } else {
    failedIn(message, "Not added", error);
  }
}

/** One checkbox per event, in a fieldset. */
function eventChoices() {
  const boxes = EVENTS.map(([name]) =>
    h("input", { type: "checkbox", name: "events", value: name, id: uid("event") }),
  );
  const events = h(
    "fieldset",
    { class: "events", id: uid("events") },
    h("legend", {}, "Events"),
    boxes.map((box, i) =>
      h(
        "div",
        { class: "check" },
        box,
        h("label", { for: box.id }, h("code", {}, EVENTS[i][0]), " ", h("small", {}, EVENTS[i][1])),
      ),
    ),
  );
  return { boxes, events };
}

/** Errors shown under their field (`fields[key]`), marking its control (`controls[key]`)
 * invalid and described by the error: showError(key, text), clearErrors(). */
function markedErrors(controls, fields) {
  const errorEls = [];
  const clearErrors = () => {
    errorEls.splice(0).forEach((el) => el.remove());
    Object.values(controls).forEach((c) => {
      c.removeAttribute("aria-invalid");
      const hint = document.getElementById(`${c.id}-hint`);
      if (hint) c.setAttribute("aria-describedby", hint.id);
      else c.removeAttribute("aria-describedby");
    });
  };
  const showError = (key, text) => {
    const control = controls[key];
    const el = h("p", { class: "field-error", id: `${control.id}-error` }, text);
    errorEls.push(el);
    fields[key].append(el);
    control.setAttribute("aria-invalid", "true");
    const hint = document.getElementById(`${control.id}-hint`);
    control.setAttribute("aria-describedby", [el.id, hint ? hint.id : null].filter(Boolean).join(" "));
  };
  return { clearErrors, showError };
}

async function refreshList(page) {
  await fillList(
    page.listBody,
    () => api(HOOKS, { query: { limit: 100 } }),
    "The endpoints are",
    "No webhook endpoint yet.",
    (items) => h("ul", { class: "webhooks" }, items.map((webhook) => endpointCard(page, webhook))),
  );
}

function endpointCard(page, webhook) {
  const titleId = uid("webhook");
  const at = {
    page,
    webhook,
    message: messageArea(),
    confirmSlot: h("div", {}),
    log: h("div", { class: "delivery-log" }),
  };
  const toggle = h(
    "button",
    { type: "button" },
    webhook.enabled ? "Disable" : "Enable",
  );
  toggle.addEventListener("click", () =>
    busy(toggle, () =>
      patchEndpoint(
        at,
        { enabled: !webhook.enabled },
        `${webhook.url} ${webhook.enabled ? "disabled" : "enabled"}.`,
      ),
    ),
  );
  return h(
    "li",
    { class: ["card", "webhook"], "aria-labelledby": titleId, dataset: { webhookId: webhook.id } },
    h(
      "h3",
      { id: titleId },
      h("span", { class: "webhook-url" }, webhook.url),
      " ",
      badge(webhook.enabled ? "enabled" : "disabled"),
    ),
    webhook.description ? h("p", { class: "hint" }, webhook.description) : null,
    endpointMeta(webhook),
    h(
      "div",
      { class: "actions", role: "group", "aria-label": `Actions for ${webhook.url}` },
      toggle,
      testButton(at),
      logButton(at),
      rotateButton(at),
      removeButton(at),
    ),
    at.confirmSlot,
    at.message.el,
    at.log,
  );
}

function endpointMeta(webhook) {
  return h(
    "dl",
    { class: "meta" },
    h("dt", {}, "Events"),
    h(
      "dd",
      {},
      h("ul", { class: "event-list" }, webhook.events.map((e) => h("li", {}, h("code", {}, e)))),
    ),
    h("dt", {}, "Created"),
    h("dd", {}, `${when(webhook.createdAt)} (${zoneName()})`),
    webhook.secretRotatedUntil
      ? [
          h("dt", {}, "Old secret signs until"),
          h("dd", {}, `${when(webhook.secretRotatedUntil)} (${zoneName()})`),
        ]
      : null,
  );
}

/** Reload the list, then say `text` in the flash and move the focus there. */
async function reloadWith(page, text, kind = "ok") {
  await page.refresh();
  page.ctx.flash(text, kind);
  focusResult(document.querySelector("#flash .flash"), true);
}

/** PATCH the endpoint (If-Match its version) and reload saying `done`. `at`: the
 * endpoint card's state {page, webhook, message, confirmSlot, log}. */
async function patchEndpoint(at, changes, done) {
  const { page, webhook } = at;
  try {
    await api(`${HOOKS}/${enc(webhook.id)}`, {
      method: "PATCH",
      json: changes,
      headers: { "If-Match": `"${webhook.version}"` },
    });
  } catch (error) {
    if (error.versionMismatch) await reloadWith(page, "The endpoint changed; it has been reloaded.", "error");
    else failedIn(at.message, "Not changed", error);
    return;
  }
  await reloadWith(page, done);
}

function testButton(at) {
  const { page, webhook, message, log } = at;
  const test = h("button", { type: "button", disabled: !webhook.enabled }, "Send test event");
  test.addEventListener("click", () =>
    busy(test, async () => {
      message.clear();
      try {
        await api(`${HOOKS}/${enc(webhook.id)}/test`, { method: "POST" });
      } catch (error) {
        failedIn(message, "No test event", error);
        return;
      }
      message.ok("Test event queued: the dispatcher sends it within seconds (see the delivery log).");
      focusResult(message.el.querySelector("p"), true);
      if (log.hasChildNodes()) await loadLog(webhook, log, page.ctx, false);
    }),
  );
  return test;
}

/** A button that asks first: it opens confirmBox(`ask`) in the card's confirm slot; its
 * Cancel empties the slot and gives the focus back to the button. */
function confirmingButton(at, text, cls, ask) {
  const { confirmSlot } = at;
  const button = h("button", { type: "button", class: cls }, text);
  button.addEventListener("click", () => {
    fill(
      confirmSlot,
      confirmBox({
        ...ask,
        cancel: () => {
          confirmSlot.replaceChildren();
          button.focus();
        },
      }),
    );
  });
  return button;
}

function rotateButton(at) {
  const { page, webhook } = at;
  return confirmingButton(at, "Rotate secret", undefined, {
    label: `Confirm rotating the secret of ${webhook.url}`,
    question: "Rotate the signing secret? ",
    detail:
      "A new secret is made and shown once; the old one keeps signing too for 24 hours, so your receiver can switch.",
    yes: "Yes, rotate",
    act: async (box) => {
      const made = await api(`${HOOKS}/${enc(webhook.id)}/rotate-secret`, {
        method: "POST",
        headers: { "If-Match": `"${webhook.version}"` },
      }).catch((error) => {
        failedIn(box.message, "Not rotated", error);
        return null;
      });
      if (!made) return;
      await page.refresh();
      showSecret(page, made, made.secret, `New secret for ${made.url}`);
    },
  });
}

function removeButton(at) {
  const { page, webhook } = at;
  return confirmingButton(at, "Delete", "bad", {
    label: `Confirm deleting ${webhook.url}`,
    question: `Delete the endpoint ${webhook.url}? `,
    detail: "Nothing more is sent to it; deliveries still waiting fail.",
    yes: "Yes, delete",
    danger: true,
    act: async (box) => {
      try {
        await api(`${HOOKS}/${enc(webhook.id)}`, {
          method: "DELETE",
          headers: { "If-Match": `"${webhook.version}"` },
        });
      } catch (error) {
        failedIn(box.message, "Not deleted", error);
        return;
      }
      await reloadWith(page, `Endpoint ${webhook.url} deleted.`);
    },
  });
}

/** "Delivery log": shows the endpoint's deliveries below the card, or hides them. */
function logButton(at) {
  const { page, webhook, log } = at;
  const showLog = h("button", { type: "button", "aria-expanded": "false" }, "Delivery log");
  showLog.addEventListener("click", () =>
    busy(showLog, async () => {
      if (showLog.getAttribute("aria-expanded") === "true") {
        log.replaceChildren();
        showLog.setAttribute("aria-expanded", "false");
        return;
      }
      showLog.setAttribute("aria-expanded", "true");
      await loadLog(webhook, log, page.ctx, true);
    }),
  );
  return showLog;
}

/** "Do X? Yes / Cancel"; `act(box)` runs on yes, with the button busy. */
function confirmBox({ label, question, detail, yes, danger = false, cancel, act }) {
  const message = messageArea();
  const yesButton = h("button", { type: "button", class: danger ? "bad" : "primary" }, yes);
  const box = h(
    "div",
    { class: "inline-form confirm", role: "group", "aria-label": label },
    h("p", {}, h("strong", {}, question), detail),
    h(
      "div",
      { class: "actions" },
      yesButton,
      h("button", { type: "button", class: "quiet", on: { click: cancel } }, "Cancel"),
    ),
    message.el,
  );
  yesButton.addEventListener("click", () => busy(yesButton, () => act({ message })));
  queueMicrotask(() => yesButton.focus());
  return box;
}

/** Load the first page of the log into `log`; then focus its heading (`focus`) or show
 * `note` as the result and focus that. */
async function loadLog(webhook, log, ctx, focus, note = null) {
  fill(log, loading("Loading the delivery log…"));
  let found;
  try {
    found = await api(`${HOOKS}/${enc(webhook.id)}/deliveries`, { query: { limit: LOG_PAGE } });
  } catch (error) {
    fill(log, errorBox("The delivery log is", error));
    return;
  }
  const headingId = uid("log");
  const message = messageArea();
  const rows = h("tbody", {});
  const more = h("button", { type: "button", class: "more" }, "Show more");
  const refresh = h("button", { type: "button", class: "quiet" }, "Refresh");
  refresh.addEventListener("click", () => busy(refresh, () => loadLog(webhook, log, ctx, true)));
  const row = (d) =>
    deliveryRow(webhook, d, message, (text) => loadLog(webhook, log, ctx, false, text));
  let cursor = found.nextCursor;
  more.hidden = !cursor;
  add(rows, found.items.map(row));
  more.addEventListener("click", () =>
    busy(more, async () => {
      try {
        const next = await api(`${HOOKS}/${enc(webhook.id)}/deliveries`, {
          query: { limit: LOG_PAGE, cursor },
        });
        const added = next.items.map(row);
        add(rows, added);
        cursor = next.nextCursor;
        more.hidden = !cursor;
        if (added.length) focusResult(added[0], true);
      } catch (error) {
        failedIn(message, "More deliveries", error);
      }
    }),
  );
  fill(
    log,
    h("h4", { id: headingId, tabindex: "-1" }, "Delivery log"),
    found.items.length
      ? deliveryTable(headingId, rows)
      : empty("Nothing sent to this endpoint yet."),
    h("div", { class: "actions" }, more, refresh),
    message.el,
  );
  if (note) {
    message.ok(note);
    focusResult(message.el.querySelector("p"), true);
  } else if (focus) {
    focusResult(log.querySelector("h4"), true);
  }
}

function deliveryTable(headingId, rows) {
  const zone = zoneName();
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "table deliveries", "aria-labelledby": headingId },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Event"),
          h("th", { scope: "col" }, "Status"),
          h("th", { scope: "col" }, "HTTP"),
          h("th", { scope: "col" }, "Attempts"),
          h("th", { scope: "col" }, "Last error"),
          h("th", { scope: "col" }, `Time (${zone})`),
          h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
        ),
      ),
      rows,
    ),
  );
}

function deliveryRow(webhook, delivery, message, reload) {
  const redeliver = h("button", { type: "button" }, "Redeliver");
  redeliver.setAttribute("aria-label", `Redeliver ${delivery.eventType} ${delivery.id}`);
  redeliver.addEventListener("click", () =>
    busy(redeliver, async () => {
      message.clear();
      try {
        await api(
          `${HOOKS}/${enc(webhook.id)}/deliveries/${enc(delivery.id)}/redeliver`,
          { method: "POST" },
        );
      } catch (error) {
        failedIn(message, "Not redelivered", error);
        return;
      }
      await reload(`Delivery ${delivery.id} queued again: the dispatcher sends it within seconds.`);
    }),
  );
  const time = delivery.deliveredAt || delivery.lastAttemptAt || delivery.createdAt;
  return h(
    "tr",
    { dataset: { deliveryId: delivery.id } },
    h("td", {}, h("code", {}, delivery.eventType)),
    h("td", {}, badge(delivery.status)),
    h("td", { class: "http-status" }, delivery.lastStatusCode ? String(delivery.lastStatusCode) : "—"),
    h("td", {}, String(delivery.attempts)),
    h("td", { class: "last-error" }, delivery.lastError || "—"),
    h("td", {}, h("time", { datetime: time }, when(time))),
    h("td", {}, redeliver),
  );
}
