// Templates: the list, and one template with its task definitions and its recurring
// configs (CONTRACT §8) — list with the next anchor date and state; create and edit with
// the next five occurrences previewed (POST /api/recurring-configs/preview) before a save;
// pause/resume and skip one occurrence. Every write sends If-Match.
import { api, listAll } from "./api.js";
import {
  add,
  badge,
  busy,
  empty,
  enc,
  errorBox,
  field,
  fill,
  h,
  loading,
  messageArea,
  routeLink,
  todayIso,
  uid,
  userName,
} from "./dom.js";
import { startBundleForm, templateEditor } from "./planning.js";

const CONFIGS = "/work/api/recurring-configs";

export async function templatesPage(view, ctx) {
  document.title = "Templates · DataOps";
  add(
    view,
    h("h1", {}, "Templates"),
    h(
      "p",
      { class: "subtitle" },
      "Workflow templates: each bundle is made from one, by hand or on a schedule.",
    ),
  );
  const body = h("div", {}, loading());
  add(view, body);
  let page;
  try {
    page = await listAll("/work/api/templates");
  } catch (error) {
    fill(body, errorBox("Templates are", error));
    return;
  }
  if (!page.items.length) {
    fill(body, empty("No templates yet."));
    return;
  }
  const items = [...page.items].sort((a, b) => a.name.localeCompare(b.name));
  fill(
    body,
    startBundleForm(ctx, items, await ctx.users()),
    h(
      "ul",
      { class: "rows card" },
      items.map((t) =>
        h(
          "li",
          { class: "row" },
          h(
            "div",
            { class: "row-main" },
            routeLink(`/work/templates/${enc(t.id)}`, t.name, { class: "row-title" }),
          ),
          h(
            "div",
            { class: "row-meta" },
            `${(t.taskDefinitions || []).length} task(s)`,
            t.description ? ` · ${t.description}` : null,
          ),
        ),
      ),
    ),
  );
}

export async function templatePage(view, ctx, templateId) {
  const template = await api(`/work/api/templates/${enc(templateId)}`);
  const users = await ctx.users();
  document.title = `${template.name} · DataOps`;
  add(
    view,
    h(
      "nav",
      { class: "breadcrumb", "aria-label": "Breadcrumb" },
      routeLink("/work/templates", "Templates"),
      " › ",
      h("span", { "aria-current": "page" }, template.name),
    ),
    h("h1", {}, template.name),
    template.description ? h("p", { class: "subtitle" }, template.description) : null,
    startBundleForm(ctx, [template], users, template.id),
    definitionsCard(template, templateEditor(ctx, template, users)),
  );
  const configsBody = h("div", {}, loading());
  const card = h(
    "section",
    { class: "card", id: "recurring", "aria-labelledby": "recurring-title" },
    h("h2", { id: "recurring-title" }, "Recurring work"),
    h(
      "p",
      { class: "hint" },
      "Each occurrence of a schedule becomes one bundle from this template, created “lead days” before its date.",
    ),
    configsBody,
  );
  add(view, card);
  let page;
  try {
    page = await listAll(CONFIGS, { templateId: template.id });
  } catch (error) {
    fill(configsBody, errorBox("Recurring configs are", error));
    return;
  }
  fill(
    configsBody,
    page.items.length
      ? h(
          "ul",
          { class: "configs" },
          page.items.map((c) => configItem(c, template, ctx, users)),
        )
      : empty("No recurring schedule for this template yet."),
  );
  if (ctx.canWrite) {
    add(
      card,
      h(
        "details",
        { class: "more-forms config-create" },
        h("summary", {}, "Add a recurring schedule"),
        configForm({ ctx, template, users, config: null }),
      ),
    );
  }
}

function definitionsCard(template, editor) {
  const definitions = template.taskDefinitions || [];
  return h(
    "section",
    { class: "card", "aria-labelledby": "definitions-title" },
    h("h2", { id: "definitions-title" }, "Tasks of each bundle"),
    definitions.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "table" },
            h("caption", { class: "sr-only" }, "Task definitions"),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                h("th", { scope: "col" }, "Task"),
                h("th", { scope: "col" }, "Due"),
              ),
            ),
            h(
              "tbody",
              {},
              definitions.map((d) =>
                h("tr", {}, h("td", {}, d.description), h("td", {}, offsetText(d.offsetDays))),
              ),
            ),
          ),
        )
      : empty("This template defines no tasks."),
    editor,
  );
}

function offsetText(days) {
  const n = Number(days) || 0;
  if (n === 0) return "on the anchor date";
  return n > 0 ? `${n} day(s) after the anchor date` : `${-n} day(s) before the anchor date`;
}

function ruleText(config) {
  return config.rrule ? `RRULE ${config.rrule}` : `cron ${config.cronExpression}`;
}

function configItem(config, template, ctx, users) {
  const message = messageArea();
  const item = h(
    "li",
    { class: "config card", dataset: { configId: config.id } },
    h(
      "h3",
      {},
      config.title,
      " ",
      badge(config.enabled ? "active" : "paused", config.enabled ? null : "badge-waiting"),
    ),
    configMeta(config, users),
  );
  if (!ctx.canWrite) return item;
  const toggle = pauseButton(config, ctx, message);
  add(
    item,
    h("div", { class: "actions" }, toggle),
    message.el,
    skipForm(config, ctx),
    h(
      "details",
      { class: "more-forms config-edit" },
      h("summary", {}, "Edit the schedule"),
      configForm({ ctx, template, users, config }),
    ),
  );
  return item;
}

/** A schedule's rule, next occurrence, span, lead days, assignee and skipped dates. */
function configMeta(config, users) {
  return h(
    "dl",
    { class: "meta" },
    h("dt", {}, "Schedule"),
    h("dd", {}, ruleText(config), ` (${config.timezone})`),
    h("dt", {}, "Next occurrence"),
    h(
      "dd",
      { class: "next-anchor" },
      config.nextAnchorDate || "none — the series has ended",
      config.enabled ? null : " (paused)",
    ),
    h("dt", {}, "Runs"),
    h("dd", {}, `from ${config.startDate}`, config.endDate ? ` to ${config.endDate}` : ""),
    h("dt", {}, "Bundle created"),
    h("dd", {}, `${config.leadDays} day(s) before each occurrence`),
    h("dt", {}, "Assignee"),
    h("dd", {}, config.assigneeId ? userName(users, config.assigneeId) : "template default"),
    (config.skippedDates || []).length
      ? [h("dt", {}, "Skipped"), h("dd", {}, config.skippedDates.join(", "))]
      : null,
  );
}

/** "Pause" or "Resume" the schedule (If-Match its version). */
function pauseButton(config, ctx, message) {
  const toggle = h(
    "button",
    { type: "button", class: config.enabled ? null : "good" },
    config.enabled ? "Pause" : "Resume",
  );
  toggle.addEventListener("click", () =>
    busy(toggle, async () => {
      try {
        await api(`${CONFIGS}/${enc(config.id)}`, {
          method: "PATCH",
          json: { enabled: !config.enabled },
          headers: { "If-Match": `"${config.version}"` },
        });
        ctx.reloadAndFocus(config.enabled ? `“${config.title}” paused.` : `“${config.title}” resumed.`);
      } catch (error) {
        if (error.versionMismatch) ctx.reloadAndFocus("The schedule changed; it has been reloaded.", "error");
        else {
          message.error(`Could not change the schedule: ${error.full}`);
          toggle.focus();
        }
      }
    }),
  );
  return toggle;
}

/** Skip one of the next occurrences: the choices come from the preview of the config as
 * it is (its own skipped dates left out). */
function skipForm(config, ctx) {
  const body = h("div", {}, loading("Loading the next occurrences…"));
  const details = h(
    "details",
    { class: "more-forms config-skip" },
    h("summary", {}, "Skip an occurrence"),
    body,
  );
  let loaded = false;
  details.addEventListener("toggle", async () => {
    if (!details.open || loaded) return;
    loaded = true;
    let found;
    try {
      found = await api(`${CONFIGS}/preview`, {
        method: "POST",
        json: { ...bodyOf(config), configId: config.id },
      });
    } catch (error) {
      fill(body, errorBox("The next occurrences are", error));
      loaded = false;
      return;
    }
    if (!found.occurrences.length) {
      fill(body, empty("There is no occurrence left to skip."));
      return;
    }
    fill(body, skipChoice(config, ctx, found.occurrences));
  });
  return details;
}

/** The skip form: one of the next `occurrences`, skipped (If-Match the config's version). */
function skipChoice(config, ctx, occurrences) {
  const choice = h(
    "select",
    { name: "anchorDate" },
    occurrences.map((o) => h("option", { value: o.anchorDate }, `${o.anchorDate} — ${o.title}`)),
  );
  const message = messageArea();
  const submit = h("button", { type: "submit" }, "Skip this occurrence");
  const form = h(
    "form",
    { class: "form inline-form", "aria-label": `Skip an occurrence of ${config.title}`, novalidate: true },
    field("Occurrence", choice),
    submit,
    message.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(submit, async () => {
      try {
        await api(`${CONFIGS}/${enc(config.id)}/skip`, {
          method: "POST",
          json: { anchorDate: choice.value },
          headers: { "If-Match": `"${config.version}"` },
        });
        ctx.reloadAndFocus(`The occurrence of ${choice.value} will be skipped.`);
      } catch (error) {
        if (error.versionMismatch) ctx.reloadAndFocus("The schedule changed; it has been reloaded.", "error");
        else {
          message.error(`Could not skip it: ${error.full}`);
          choice.focus();
        }
      }
    });
  });
  return form;
}

/** The create/preview body of a stored config (what an edit starts from). */
function bodyOf(config) {
  const body = {
    templateId: config.templateId,
    title: config.title,
    timezone: config.timezone,
    startDate: config.startDate,
    endDate: config.endDate || null,
    leadDays: config.leadDays,
    assigneeId: config.assigneeId || null,
  };
  if (config.rrule) body.rrule = config.rrule;
  else body.cronExpression = config.cronExpression;
  return body;
}

function zoneList(id) {
  const zones =
    typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return h(
    "datalist",
    { id },
    ["UTC", ...zones.filter((z) => z !== "UTC")].map((z) => h("option", { value: z })),
  );
}

/** Create (config null) or edit a schedule. Save first shows the next five occurrences
 * of exactly what is about to be saved; a second Save stores it. Errors are shown next to
 * their field, and focus moves to the preview or to the first error. */
function configForm({ ctx, template, users, config }) {
  const editing = Boolean(config);
  const inputs = configInputs(template, users, config ? bodyOf(config) : null);
  const zones = zoneList(inputs.timezone.getAttribute("list"));
  const fields = configFields(inputs);
  const errors = fieldErrors(inputs, fields);

  const previewBody = h("div", { class: "preview", tabindex: "-1" });
  const message = messageArea();
  const previewButton = h("button", { type: "button" }, "Preview the next five");
  const save = h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Save schedule");
  const form = h(
    "form",
    {
      class: "form config-form",
      "aria-label": editing ? `Edit the schedule ${config.title}` : "Add a recurring schedule",
      novalidate: true,
    },
    fields.title,
    h("div", { class: "grid-2" }, fields.kind, fields.rule, fields.timezone, fields.leadDays),
    h("div", { class: "grid-2" }, fields.startDate, fields.endDate),
    fields.assignee,
    zones,
    h("div", { class: "actions" }, previewButton, save),
    message.el,
    previewBody,
  );

  const at = { config, errors, message, previewBody };
  const current = () => configBody(template, inputs, editing);
  let previewed = null; // the body (JSON) whose occurrences are on show
  const runPreview = async () => {
    const body = current();
    const shown = await previewConfig(at, body);
    previewed = shown ? JSON.stringify(body) : null;
    return shown;
  };

  previewButton.addEventListener("click", () => busy(previewButton, runPreview));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, async () => {
      const body = current();
      if (previewed !== JSON.stringify(body)) {
        // Nothing is saved unseen: show what this would do first.
        if (await runPreview()) {
          message.ok("Check the next occurrences below, then select Save again.");
        }
        return;
      }
      errors.clear();
      try {
        await saveConfig(ctx, config, body);
      } catch (error) {
        if (error.versionMismatch) ctx.reloadAndFocus("The schedule changed; it has been reloaded.", "error");
        else configFailed(at, error, "Not saved");
      }
    });
  });
  return form;
}

/** Show the next occurrences of `body` (a schedule not yet saved) in the preview; false
 * when the server refuses it. `at`: {config, errors, message, previewBody}. */
async function previewConfig(at, body) {
  const { config, errors, message, previewBody } = at;
  errors.clear();
  message.clear();
  let found;
  try {
    found = await api(`${CONFIGS}/preview`, {
      method: "POST",
      json: config ? { ...body, configId: config.id } : body,
    });
  } catch (error) {
    previewBody.replaceChildren();
    configFailed(at, error, "No preview");
    return false;
  }
  showOccurrences(previewBody, found.occurrences);
  return true;
}

/** A refused preview or save: next to the fields it names, or in the message. */
function configFailed(at, error, what) {
  const { errors, message, previewBody } = at;
  if (errors.show(error, what, message)) return;
  message.error(`${what}: ${error.full}`);
  previewBody.replaceChildren();
  message.el.querySelector("p").tabIndex = -1;
  message.el.querySelector("p").focus();
}

/** The schedule form's controls, holding `initial` (a schedule's body) or the defaults. */
function configInputs(template, users, initial) {
  return {
    title: h("input", {
      type: "text",
      name: "title",
      required: true,
      value: initial ? initial.title : `${template.name} {date}`,
    }),
    kind: h(
      "select",
      { name: "ruleKind" },
      h("option", { value: "rrule", selected: !initial || Boolean(initial.rrule) }, "RRULE (RFC 5545)"),
      h("option", { value: "cron", selected: Boolean(initial && initial.cronExpression) }, "cron (5 fields)"),
    ),
    rule: h("input", {
      type: "text",
      name: "rule",
      required: true,
      spellcheck: "false",
      autocapitalize: "off",
      value: initial ? initial.rrule || initial.cronExpression : "FREQ=WEEKLY;BYDAY=MO",
    }),
    timezone: h("input", {
      type: "text",
      name: "timezone",
      list: uid("zones"),
      value: initial ? initial.timezone : Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
    }),
    startDate: h("input", {
      type: "date",
      name: "startDate",
      required: true,
      value: initial ? initial.startDate : todayIso(),
    }),
    endDate: h("input", { type: "date", name: "endDate", value: initial ? initial.endDate || "" : "" }),
    leadDays: h("input", {
      type: "number",
      name: "leadDays",
      min: "0",
      max: "365",
      step: "1",
      inputmode: "numeric",
      value: String(initial ? initial.leadDays : 7),
    }),
    assignee: assigneeChoice(users, initial),
  };
}

function assigneeChoice(users, initial) {
  return h(
    "select",
    { name: "assigneeId" },
    h("option", { value: "" }, "the template's default"),
    [...users.values()]
      .sort((a, b) => (a.name || a.email || "").localeCompare(b.name || b.email || ""))
      .map((u) =>
        h(
          "option",
          { value: u.id, selected: Boolean(initial && initial.assigneeId === u.id) },
          u.name || u.email || u.id,
        ),
      ),
  );
}

function configFields(inputs) {
  return {
    title: field("Bundle title", inputs.title, "{date} becomes the occurrence's date, {n} its number."),
    kind: field("Rule syntax", inputs.kind),
    rule: field("Rule", inputs.rule, "e.g. FREQ=WEEKLY;BYDAY=TU, or cron 0 9 * * 1-5"),
    timezone: field("Time zone", inputs.timezone, "An IANA name, e.g. Europe/Berlin"),
    startDate: field("Start date", inputs.startDate),
    endDate: field("End date (optional)", inputs.endDate),
    leadDays: field("Lead days", inputs.leadDays, "How many days before each occurrence its bundle is created (0–365)."),
    assignee: field("Assignee", inputs.assignee),
  };
}

// The server's error fields → the control that shows them.
const ERROR_TARGET = {
  title: "title",
  rrule: "rule",
  cronExpression: "rule",
  timezone: "timezone",
  startDate: "startDate",
  endDate: "endDate",
  leadDays: "leadDays",
  assigneeId: "assignee",
};

/** The server's field errors shown next to their field: clear() takes them away;
 * show(error, what, message) marks them and focuses the first, and is false when the
 * error is not (only) about fields. */
function fieldErrors(inputs, fields) {
  const errorEls = new Map();
  const clear = () => {
    for (const [key, el] of errorEls) {
      el.remove();
      const control = inputs[key];
      control.removeAttribute("aria-invalid");
      const hint = control.id ? `${control.id}-hint` : "";
      if (document.getElementById(hint)) control.setAttribute("aria-describedby", hint);
      else control.removeAttribute("aria-describedby");
    }
    errorEls.clear();
  };
  const showOne = (key, text) => {
    const control = inputs[key];
    let el = errorEls.get(key);
    if (!el) {
      el = h("p", { class: "field-error", id: `${control.id}-error` });
      errorEls.set(key, el);
      fields[key].append(el);
    }
    el.textContent = el.textContent ? `${el.textContent} ${text}` : text;
    control.setAttribute("aria-invalid", "true");
    const hint = document.getElementById(`${control.id}-hint`);
    control.setAttribute("aria-describedby", [el.id, hint ? hint.id : null].filter(Boolean).join(" "));
  };
  const show = (error, what, message) => {
    const onFields = (error.errors || []).filter((e) => ERROR_TARGET[e.field]);
    onFields.forEach((e) => showOne(ERROR_TARGET[e.field], e.message));
    const others = (error.errors || []).filter((e) => !ERROR_TARGET[e.field]);
    if (!onFields.length || others.length) return false;
    message.error(`${what}: check the marked field(s).`);
    inputs[ERROR_TARGET[onFields[0].field]].focus();
    return true;
  };
  return { clear, show };
}

/** What the form would save now (an edit sends the rule kind it drops as null). */
function configBody(template, inputs, editing) {
  const body = {
    templateId: template.id,
    title: inputs.title.value.trim(),
    timezone: inputs.timezone.value.trim() || "UTC",
    startDate: inputs.startDate.value || null,
    endDate: inputs.endDate.value || null,
    assigneeId: inputs.assignee.value || null,
  };
  const rule = inputs.rule.value.trim();
  if (inputs.kind.value === "cron") {
    body.cronExpression = rule;
    if (editing) body.rrule = null;
  } else {
    body.rrule = rule;
    if (editing) body.cronExpression = null;
  }
  const lead = inputs.leadDays.value.trim();
  // A number when it is one; otherwise the text, so the server says what is wrong.
  body.leadDays = /^-?\d+$/.test(lead) ? Number(lead) : lead === "" ? null : lead;
  return body;
}

function showOccurrences(previewBody, occurrences) {
  const today = todayIso();
  fill(
    previewBody,
    h("h4", { id: uid("preview-title") }, "Next occurrences"),
    occurrences.length
      ? h(
          "ol",
          { class: "occurrences" },
          occurrences.map((o) =>
            h(
              "li",
              {},
              h("strong", {}, o.anchorDate),
              ` — “${o.title}”, bundle created `,
              o.createsOn <= today ? "at the next pass" : `on ${o.createsOn}`,
            ),
          ),
        )
      : empty("No occurrence from today on: the series has ended."),
  );
  previewBody.setAttribute("aria-labelledby", previewBody.firstChild.id);
  previewBody.focus();
}

/** Store the schedule: PATCH (If-Match) an edited one, POST a new one; the page reloads. */
async function saveConfig(ctx, config, body) {
  if (config) {
    await api(`${CONFIGS}/${enc(config.id)}`, {
      method: "PATCH",
      json: body,
      headers: { "If-Match": `"${config.version}"` },
    });
    ctx.reloadAndFocus(`Schedule “${body.title}” saved.`);
  } else {
    await api(CONFIGS, { method: "POST", json: body });
    ctx.reloadAndFocus(`Schedule “${body.title}” created.`);
  }
}
