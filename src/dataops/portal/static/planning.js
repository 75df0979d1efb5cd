// Planning in the browser (issue 19): start a bundle from a template with the dated tasks
// previewed first (POST /api/templates/{id}/preview, then /instantiate); edit a template's
// task definitions; add, edit, reschedule, reassign and archive tasks; edit a bundle; and
// upload a file as an artifact from the task page (announce → PUT → complete → register).
// Every write goes through the API with If-Match. A stale form (someone else saved the
// record since the page was loaded) says so and keeps what the user typed; Reload shows
// the record as it is now.
import { api } from "./api.js";
import {
  ARTIFACT_TYPES,
  busy,
  dueText,
  empty,
  enc,
  field,
  fill,
  h,
  messageArea,
  select,
  todayIso,
  uid,
} from "./dom.js";

export const STALE_TEXT = "changed by someone else — reload";

const PROOF_TYPES = [
  ["", "no proof needed"],
  ["url", "a link"],
  ["file", "a file"],
  ["comment", "a comment"],
  ["external-status", "an external status"],
  ["artifact", "an approved artifact"],
];

// ---- shared pieces -----------------------------------------------------------------------

function ifMatch(record) {
  return { "If-Match": `"${record.version}"` };
}

/** A form's message area that also knows the stale-record case: the form (and what the
 * user typed) stays as it is; a Reload button shows the record as it is now. */
function formMessages(ctx, what) {
  const message = messageArea();
  const focusMessage = () => {
    const shown = message.el.querySelector("p");
    if (shown) {
      shown.tabIndex = -1;
      shown.focus();
    }
  };
  return {
    el: message.el,
    clear: () => message.clear(),
    ok(text) {
      message.ok(text); // announced (aria-live); focus stays where the result is
    },
    failed(error, doing) {
      if (error && error.versionMismatch) {
        const reload = h(
          "button",
          { type: "button", class: "link-button", dataset: { action: "reload" } },
          "Reload",
        );
        reload.addEventListener("click", () => ctx.reload());
        fill(
          message.el,
          h(
            "p",
            { class: "error stale", role: "alert" },
            `Not saved: this ${what} was ${STALE_TEXT}. `,
            "What you typed is still here (copy it if you need it), then ",
            reload,
            " to see their changes.",
          ),
        );
      } else {
        message.error(`${doing}: ${error.full || error.message}`);
      }
      focusMessage();
    },
  };
}

function userOptions(users, selectedId, noneText) {
  const list = [...users.values()].sort((a, b) =>
    (a.name || a.email || "").localeCompare(b.name || b.email || ""),
  );
  const options = [h("option", { value: "", selected: !selectedId }, noneText)];
  for (const u of list) {
    const text = u.name || u.email || u.id;
    options.push(h("option", { value: u.id, selected: u.id === selectedId }, text));
  }
  if (selectedId && !users.has(selectedId)) {
    options.push(h("option", { value: selectedId, selected: true }, selectedId));
  }
  return options;
}

function assigneeSelect(users, selectedId, noneText = "nobody") {
  return h("select", { name: "assigneeId" }, userOptions(users, selectedId, noneText));
}

function userLabel(users, id, none = "nobody") {
  if (!id) return none;
  const user = users.get(id);
  return user ? user.name || user.email : id;
}

function sectionDetails(summary, className, ...children) {
  return h("details", { class: ["more-forms", className] }, h("summary", {}, summary), children);
}

// ---- start a bundle from a template -------------------------------------------------------

/** "Start a bundle": pick a template (or the given one), a title and an anchor date;
 * the first Create shows the dated tasks the server would create (nothing is stored),
 * a second Create with the same inputs creates them. */
export function startBundleForm(ctx, templates, users, selected = null) {
  if (!ctx.canWrite || !templates.length) return null;
  const formId = uid("start");
  const { template, title, anchor } = startInputs(templates, selected);
  const previewBody = h("div", { class: "preview", tabindex: "-1" });
  const message = formMessages(ctx, "template");
  const previewButton = h("button", { type: "button" }, "Preview the tasks");
  const create = h("button", { type: "submit", class: "primary" }, "Create bundle");
  const form = h(
    "form",
    {
      class: "card form start-bundle-form",
      "aria-labelledby": `${formId}-title`,
      novalidate: true,
    },
    h("h2", { id: `${formId}-title` }, "Start a bundle"),
    h(
      "p",
      { class: "hint" },
      "One bundle and its tasks, each dated from the anchor date by the template. " +
        "Check the preview, then create.",
    ),
    h(
      "div",
      { class: "grid-2" },
      selected ? null : field("Template", template),
      field("Title", title, "e.g. Episode 44"),
      field("Anchor date", anchor, "The date the template's offsets count from."),
    ),
    h("div", { class: "actions" }, previewButton, create),
    message.el,
    previewBody,
  );
  const body = () => ({ title: title.value.trim(), anchorDate: anchor.value });
  let previewed = null;

  const runPreview = async () => {
    message.clear();
    const sent = body();
    if (!sent.title) {
      message.failed(new Error("Give the bundle a title."), "No preview");
      title.focus();
      return false;
    }
    const shown = await previewBundle(template.value, sent, { previewBody, message, users });
    previewed = shown ? JSON.stringify([template.value, sent]) : null;
    return shown;
  };

  previewButton.addEventListener("click", () => busy(previewButton, runPreview));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(create, async () => {
      const sent = body();
      if (previewed !== JSON.stringify([template.value, sent])) {
        // Nothing is created unseen: the preview of exactly these inputs comes first.
        if (await runPreview()) {
          message.ok("Check the tasks below, then select Create bundle again.");
        }
        return;
      }
      await createBundle(ctx, template.value, sent, message);
    });
  });
  return form;
}

/** The start form's controls: the template, the bundle's title, the anchor date. */
function startInputs(templates, selected) {
  return {
    template: h(
      "select",
      { name: "templateId" },
      templates.map((t) => h("option", { value: t.id, selected: selected === t.id }, t.name)),
    ),
    title: h("input", { type: "text", name: "title", required: true, maxlength: 500 }),
    anchor: h("input", {
      type: "date",
      name: "anchorDate",
      required: true,
      value: todayIso(),
    }),
  };
}

/** Show the dated tasks the template would create from `sent`; false when the server
 * refuses (the message says why). */
async function previewBundle(templateId, sent, { previewBody, message, users }) {
  let found;
  try {
    found = await api(`/work/api/templates/${enc(templateId)}/preview`, {
      method: "POST",
      json: sent,
    });
  } catch (error) {
    previewBody.replaceChildren();
    message.failed(error, "No preview");
    return false;
  }
  showBundlePreview(previewBody, found, users);
  return true;
}

/** The dated tasks the template would create, in the preview. */
function showBundlePreview(previewBody, found, users) {
  const headingId = uid("preview-title");
  fill(
    previewBody,
    h("h3", { id: headingId }, `“${found.bundle.title}”: ${found.tasks.length} task(s)`),
    found.tasks.length
      ? h(
          "ol",
          { class: "preview-tasks" },
          // A list, not a table: it wraps on a phone instead of scrolling sideways.
          found.tasks.map((t) =>
            h(
              "li",
              {},
              h("strong", {}, t.description),
              h("br"),
              dueText(t.date),
              ` · assigned to ${userLabel(users, t.assigneeId)}`,
            ),
          ),
        )
      : empty("The template defines no tasks: the bundle would be empty."),
  );
  previewBody.setAttribute("aria-labelledby", headingId);
  previewBody.focus();
}

/** Create the bundle and its tasks, then open it. */
async function createBundle(ctx, templateId, sent, message) {
  try {
    const made = await api(`/work/api/templates/${enc(templateId)}/instantiate`, {
      method: "POST",
      json: sent,
    });
    ctx.navigate(`/work/bundles/${enc(made.bundle.id)}`);
    ctx.flash(`Bundle “${made.bundle.title}” created with ${made.tasks.length} task(s).`);
  } catch (error) {
    message.failed(error, "Not created");
  }
}

// ---- the template editor ------------------------------------------------------------------

/** Edit a template: name, description, default assignee and its task definitions (add,
 * remove, reorder; description, offset, proof, required link, assignee). Fields this form
 * does not show are sent back as they were. */
export function templateEditor(ctx, template, users) {
  if (!ctx.canWrite) return null;
  const name = h("input", { type: "text", name: "name", required: true, value: template.name });
  const description = h("textarea", {
    name: "description",
    rows: 2,
    value: template.description || "",
  });
  const defaultAssignee = assigneeSelect(users, template.defaultAssigneeId, "nobody");
  const list = h("ol", { class: "definition-editors" });
  const editors = definitionEditors(list, users, () => addButton);
  const { rows } = editors;
  (template.taskDefinitions || []).forEach(editors.add);

  const addButton = h(
    "button",
    { type: "button", dataset: { action: "add-definition" } },
    "Add a task",
  );
  addButton.addEventListener("click", () => {
    const row = editors.add(null);
    row.description.focus();
  });
  const form = patchForm(ctx, {
    what: "template",
    attrs: {
      class: "form template-form",
      "aria-label": `Edit the template ${template.name}`,
      novalidate: true,
    },
    children: [
      h(
        "div",
        { class: "grid-2" },
        field("Name", name),
        field("Default assignee", defaultAssignee, "Tasks without their own assignee get this one."),
      ),
      field("Description", description),
      h("h3", {}, "Tasks of each bundle"),
      list,
    ],
    addButton,
    saveText: "Save template",
    problem: () => templateProblem(name, rows),
    body: () => templateBody({ name, description, defaultAssignee }, rows),
    url: `/work/api/templates/${enc(template.id)}`,
    record: template,
    saved: () => `Template “${name.value.trim()}” saved.`,
  });
  return sectionDetails("Edit the template", "template-edit", form);
}

/** What keeps the template from being saved: no name, or a task without a description. */
function templateProblem(name, rows) {
  if (!name.value.trim()) return { text: "Give the template a name.", control: name };
  const missing = rows.find((row) => !row.description.value.trim());
  if (!missing) return null;
  return {
    text: `${missing.legend.textContent} needs a description.`,
    control: missing.description,
  };
}

function templateBody({ name, description, defaultAssignee }, rows) {
  const taken = new Set(rows.map((row) => row.refId).filter(Boolean));
  return {
    name: name.value.trim(),
    description: description.value.trim() || null,
    defaultAssigneeId: defaultAssignee.value || null,
    taskDefinitions: rows.map((row) => row.value(taken)),
  };
}

/** The template's task definitions, one editor each in `list`: add(definition) appends
 * one; an editor moves up or down or is removed, and the focus follows (to `addButton()`
 * when none is left). */
function definitionEditors(list, users, addButton) {
  const rows = [];

  const renumber = () => {
    rows.forEach((row, index) => {
      row.legend.textContent = `Task ${index + 1}`;
      row.up.disabled = index === 0;
      row.down.disabled = index === rows.length - 1;
      list.append(row.el);
    });
  };

  const addRow = (definition) => {
    const row = definitionRow(definition, users, {
      move(delta) {
        const index = rows.indexOf(row);
        const target = index + delta;
        if (target < 0 || target >= rows.length) return;
        rows.splice(index, 1);
        rows.splice(target, 0, row);
        renumber();
        // Focus stays on the button that moved the row, or its twin at the end of the list.
        const same = delta < 0 ? row.up : row.down;
        (same.disabled ? (delta < 0 ? row.down : row.up) : same).focus();
      },
      remove() {
        const index = rows.indexOf(row);
        rows.splice(index, 1);
        row.el.remove();
        renumber();
        const next = rows[Math.min(index, rows.length - 1)];
        (next ? next.description : addButton()).focus();
      },
    });
    rows.push(row);
    renumber();
    return row;
  };
  return { rows, add: addRow };
}

/**
 * A form that saves one record with PATCH (If-Match its version): `children`, then the
 * actions (`addButton`, the submit button) and the message. On submit `problem()` names
 * what is missing ({text, control}: the message says it, the control takes the focus);
 * else `body()` is sent to `url` and the page reloads saying `saved()`.
 */
function patchForm(ctx, opts) {
  const message = formMessages(ctx, opts.what);
  const save = h("button", { type: "submit", class: "primary" }, opts.saveText);
  const form = h(
    "form",
    opts.attrs,
    opts.children,
    h("div", { class: "actions" }, opts.addButton, save),
    message.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    message.clear();
    const problem = opts.problem();
    if (problem) {
      message.failed(new Error(problem.text), "Not saved");
      problem.control.focus();
      return;
    }
    const json = opts.body();
    busy(save, async () => {
      try {
        await api(opts.url, { method: "PATCH", json, headers: ifMatch(opts.record) });
        ctx.reloadAndFocus(opts.saved());
      } catch (error) {
        message.failed(error, "Not saved");
      }
    });
  });
  return form;
}

/** The `refId` of a new definition: a slug of its description, unique in the template. */
function newRefId(text, taken) {
  const base =
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 40) || "task";
  let ref = base;
  for (let n = 2; taken.has(ref); n += 1) ref = `${base}-${n}`;
  return ref;
}

function definitionRow(definition, users, actions) {
  const original = definition || {};
  const proof = original.proofRequirement || null;
  const inputs = definitionInputs(original, proof, users);
  const artifactField = field("Artifact type", inputs.artifactType);
  const showArtifact = () => {
    artifactField.hidden = inputs.proofType.value !== "artifact";
  };
  inputs.proofType.addEventListener("change", showArtifact);
  showArtifact();
  const legend = h("legend", {}, "Task");
  const up = h("button", { type: "button", class: "link-button" }, "Move up");
  const down = h("button", { type: "button", class: "link-button" }, "Move down");
  const remove = h("button", { type: "button", class: "link-button danger" }, "Remove");
  up.addEventListener("click", () => actions.move(-1));
  down.addEventListener("click", () => actions.move(1));
  remove.addEventListener("click", () => actions.remove());
  const checkId = uid("requires-file");
  inputs.requiresFile.id = checkId;
  const el = definitionEditor(inputs, { legend, artifactField, checkId, up, down, remove });
  // Name the row's buttons by its task, for screen readers.
  const labelButtons = () => {
    const what = inputs.description.value.trim() || legend.textContent;
    up.setAttribute("aria-label", `Move up: ${what}`);
    down.setAttribute("aria-label", `Move down: ${what}`);
    remove.setAttribute("aria-label", `Remove: ${what}`);
  };
  inputs.description.addEventListener("input", labelButtons);
  const row = {
    el,
    refId: original.refId || null,
    legend,
    up,
    down,
    description: inputs.description,
    value: (taken) => definitionValue(original, inputs, taken),
  };
  // Lines up with labelButtons once the legend is numbered.
  queueMicrotask(labelButtons);
  return row;
}

/** One definition's editor: its fieldset of controls and its Move up / Move down /
 * Remove buttons. */
function definitionEditor(inputs, { legend, artifactField, checkId, up, down, remove }) {
  return h(
    "li",
    { class: "definition-editor" },
    h(
      "fieldset",
      { class: "card" },
      legend,
      field("Description", inputs.description),
      h(
        "div",
        { class: "grid-2" },
        field(
          "Offset (days from the anchor date)",
          inputs.offset,
          "Negative: before the anchor date.",
        ),
        field("Assignee", inputs.assignee),
        field("Proof needed", inputs.proofType),
        artifactField,
        field("Required link name (optional)", inputs.linkName),
        h(
          "div",
          { class: "radio" },
          inputs.requiresFile,
          h("label", { for: checkId }, "Requires a file"),
        ),
      ),
      h("div", { class: "actions" }, up, down, remove),
    ),
  );
}

/** A task definition's controls, holding `original` (or empty). */
function definitionInputs(original, proof, users) {
  return {
    description: h("textarea", {
      name: "description",
      rows: 2,
      required: true,
      value: original.description || "",
    }),
    offset: h("input", {
      type: "number",
      name: "offsetDays",
      step: "1",
      inputmode: "numeric",
      value: String(original.offsetDays || 0),
    }),
    proofType: select("proofType", PROOF_TYPES, proof ? proof.type : ""),
    artifactType: select(
      "artifactType",
      [["", "any type"], ...ARTIFACT_TYPES],
      proof && proof.artifactType ? proof.artifactType : "",
    ),
    linkName: h("input", {
      type: "text",
      name: "requiredLinkName",
      value: original.requiredLinkName || "",
    }),
    requiresFile: h("input", {
      type: "checkbox",
      name: "requiresFile",
      checked: Boolean(original.requiresFile),
    }),
    assignee: assigneeSelect(users, original.assigneeId, "the template's default"),
  };
}

/** The definition as the form holds it now; a new one gets a `refId` not in `taken`. */
function definitionValue(original, inputs, taken) {
  const proof = original.proofRequirement || null;
  const text = inputs.description.value.trim();
  const offset = inputs.offset.value.trim();
  const type = inputs.proofType.value;
  let proofRequirement = null;
  if (type) {
    proofRequirement = proof && proof.type === type ? { ...proof } : { type };
    if (type === "artifact") proofRequirement.artifactType = inputs.artifactType.value || null;
    else delete proofRequirement.artifactType;
  }
  const refId = original.refId || newRefId(text, taken);
  taken.add(refId);

  return {
    ...original,
    refId,
    description: text,
    // A number when it is one; otherwise the text, so the server says what is wrong.
    offsetDays: /^-?\d+$/.test(offset) ? Number(offset) : offset === "" ? 0 : offset,
    proofRequirement,
    requiredLinkName: inputs.linkName.value.trim() || null,
    requiresFile: inputs.requiresFile.checked,
    assigneeId: inputs.assignee.value || null,
  };
}

// ---- bundles --------------------------------------------------------------------------------

/** The bundle page's planning forms: edit the bundle (title, stage, links) and add a task. */
export function bundlePlanning(ctx, bundle, users) {
  if (!ctx.canWrite) return null;
  return h(
    "section",
    { class: "card planning", "aria-labelledby": "planning-title" },
    h("h2", { id: "planning-title" }, "Plan"),
    sectionDetails("Edit the bundle", "bundle-edit", bundleForm(ctx, bundle)),
    sectionDetails("Add a task", "task-add", addTaskForm(ctx, bundle, users)),
  );
}

function bundleForm(ctx, bundle) {
  const title = h("input", { type: "text", name: "title", required: true, value: bundle.title });
  const stage = h("input", { type: "text", name: "stage", value: bundle.stage || "" });
  const linkList = h("ul", { class: "link-editors" });
  const links = [];
  const addLink = (link) => {
    const name = h("input", { type: "text", name: "linkName", value: link ? link.name : "" });
    const url = h("input", {
      type: "url",
      name: "linkUrl",
      value: link && link.url ? link.url : "",
      placeholder: "https://…",
      inputmode: "url",
    });
    const remove = h("button", { type: "button", class: "link-button danger" }, "Remove link");
    const item = h(
      "li",
      { class: "grid-2 link-editor" },
      field("Link name", name),
      field("URL", url),
      h("div", { class: "actions" }, remove),
    );
    const entry = { name, url, item };
    remove.addEventListener("click", () => {
      links.splice(links.indexOf(entry), 1);
      item.remove();
      addButton.focus();
    });
    remove.setAttribute("aria-label", `Remove link ${link ? link.name : "(new)"}`);
    links.push(entry);
    linkList.append(item);
    return entry;
  };
  (bundle.bundleLinks || []).forEach(addLink);
  const addButton = h("button", { type: "button" }, "Add a link");
  addButton.addEventListener("click", () => addLink(null).name.focus());
  const form = patchForm(ctx, {
    what: "bundle",
    attrs: { class: "form bundle-form", "aria-label": "Edit the bundle", novalidate: true },
    children: [
      h("div", { class: "grid-2" }, field("Title", title), field("Stage", stage)),
      h("h3", {}, "Links"),
      linkList,
    ],
    addButton,
    saveText: "Save bundle",
    problem() {
      if (!title.value.trim()) return { text: "Give the bundle a title.", control: title };
      const unnamed = links.find((l) => !l.name.value.trim());
      return unnamed ? { text: "Every link needs a name.", control: unnamed.name } : null;
    },
    body: () => ({
      title: title.value.trim(),
      stage: stage.value.trim() || null,
      bundleLinks: links.map((l) => ({
        name: l.name.value.trim(),
        url: l.url.value.trim() || null,
      })),
    }),
    url: `/work/api/bundles/${enc(bundle.id)}`,
    record: bundle,
    saved: () => "Bundle saved.",
  });
  return form;
}

function addTaskForm(ctx, bundle, users) {
  const description = h("input", { type: "text", name: "description", required: true });
  const date = h("input", {
    type: "date",
    name: "date",
    required: true,
    value: bundle.anchorDate || todayIso(),
  });
  const assignee = assigneeSelect(users, null, "nobody");
  const message = formMessages(ctx, "bundle");
  const submit = h("button", { type: "submit", class: "primary" }, "Add task");
  const form = h(
    "form",
    { class: "form task-add-form", "aria-label": "Add a task to the bundle", novalidate: true },
    h(
      "div",
      { class: "grid-2" },
      field("Task", description),
      field("Date", date),
      field("Assignee", assignee),
    ),
    submit,
    message.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    message.clear();
    if (!description.value.trim()) {
      message.failed(new Error("Describe the task."), "Not added");
      description.focus();
      return;
    }
    busy(submit, async () => {
      try {
        await api("/work/api/tasks", {
          method: "POST",
          json: {
            description: description.value.trim(),
            date: date.value,
            bundleId: bundle.id,
            assigneeId: assignee.value || null,
          },
        });
        ctx.reloadAndFocus(`Task “${description.value.trim()}” added.`);
      } catch (error) {
        message.failed(error, "Not added");
      }
    });
  });
  return form;
}

// ---- tasks -----------------------------------------------------------------------------------

/** The task page's planning card: edit the description, reschedule, reassign; archive
 * (or restore an archived task to to-do). */
export function taskPlanning(ctx, task, users) {
  if (!ctx.canWrite) return null;
  const { description, date, assignee } = taskInputs(task, users);
  const message = formMessages(ctx, "task");
  const save = h("button", { type: "submit", class: "primary" }, "Save task");
  const archived = task.status === "archived";
  const archive = archiveButton(archived);
  const form = h(
    "form",
    { class: "form task-edit-form", "aria-label": "Edit the task", novalidate: true },
    field("Task", description),
    h("div", { class: "grid-2" }, field("Date", date), field("Assignee", assignee)),
    h("div", { class: "actions" }, save, task.status === "done" ? null : archive),
    archived
      ? null
      : h(
          "p",
          { class: "hint" },
          "An archived task leaves the lanes and needs no proof; it can be restored.",
        ),
    message.el,
  );
  const changes = () => taskChanges(task, { description, date, assignee });
  const send = (body, done) => saveTask(ctx, task, message, body, done);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    message.clear();
    if (!description.value.trim()) {
      message.failed(new Error("Describe the task."), "Not saved");
      description.focus();
      return;
    }
    const body = changes();
    if (!Object.keys(body).length) {
      message.ok("Nothing to save: nothing was changed.");
      return;
    }
    busy(save, () => send(body, savedText(body, users)));
  });
  archive.addEventListener("click", () => {
    message.clear();
    busy(archive, () =>
      send(
        { ...changes(), status: archived ? "todo" : "archived" },
        archived ? "Task restored to to-do." : "Task archived.",
      ),
    );
  });
  return h(
    "section",
    { class: "card planning", "aria-labelledby": "task-planning-title" },
    h("h2", { id: "task-planning-title" }, "Plan"),
    sectionDetails("Edit, reschedule, reassign or archive", "task-edit", form),
  );
}

/** The task form's controls: description, date, assignee. */
function taskInputs(task, users) {
  return {
    description: h("textarea", {
      name: "description",
      rows: 2,
      required: true,
      value: task.description,
    }),
    date: h("input", { type: "date", name: "date", required: true, value: task.date }),
    assignee: assigneeSelect(users, task.assigneeId, "nobody"),
  };
}

/** "Archive task", or "Restore to to-do" for an archived one. */
function archiveButton(archived) {
  return h(
    "button",
    {
      type: "button",
      class: archived ? null : "danger",
      dataset: { action: archived ? "restore" : "archive" },
    },
    archived ? "Restore to to-do" : "Archive task",
  );
}

/** What the task form changes: description, date, assignee (only those that differ). */
function taskChanges(task, { description, date, assignee }) {
  const body = {};
  if (description.value.trim() !== task.description) body.description = description.value.trim();
  if (date.value !== task.date) body.date = date.value;
  const assigneeId = assignee.value || null;
  if (assigneeId !== (task.assigneeId || null)) body.assigneeId = assigneeId;
  return body;
}

async function saveTask(ctx, task, message, body, done) {
  try {
    await api(`/work/api/tasks/${enc(task.id)}`, {
      method: "PATCH",
      json: body,
      headers: ifMatch(task),
    });
    ctx.reloadAndFocus(done);
  } catch (error) {
    message.failed(error, "Not saved");
  }
}

function savedText(body, users) {
  const what = [
    body.date ? `rescheduled to ${body.date}` : null,
    "assigneeId" in body ? `assigned to ${userLabel(users, body.assigneeId)}` : null,
    body.description ? "description changed" : null,
  ].filter(Boolean);
  return `Task saved: ${what.join(", ")}.`;
}

// ---- upload as artifact ---------------------------------------------------------------------

async function sha256(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"));
  return `sha256:${hex.join("")}`;
}

/** PUT the bytes where the upload ticket says: the portal (local-dev, with the session)
 * or a presigned S3 URL (no cookies; the browser sets Content-Length itself). */
async function putBytes(ticket, file) {
  const headers = {};
  for (const [name, value] of Object.entries(ticket.headers || {})) {
    if (name.toLowerCase() !== "content-length") headers[name] = value;
  }
  const sameOrigin = ticket.url.startsWith("/");
  let response;
  try {
    response = await fetch(ticket.url, {
      method: ticket.method || "PUT",
      headers,
      body: file,
      credentials: sameOrigin ? "same-origin" : "omit",
    });
  } catch {
    throw new Error(
      sameOrigin
        ? "the server could not be reached (network error)"
        : "the storage service refused the browser's upload (network or CORS error); " +
            "ask an admin to set the stack's PortalOrigin",
    );
  }
  if (!response.ok) {
    throw new Error(`the storage service answered ${response.status} to the upload`);
  }
}

/** Upload a file and register it as an artifact of the task, for review, in one step:
 * announce (size, SHA-256) → PUT the bytes → complete (the server checks what arrived)
 * → register the artifact naming the file (its checksum and size come from the stored
 * object). A retry after a failure resumes where it stopped, never registering twice. */
export function uploadArtifactForm(ctx, task, health, defaultType) {
  if (!ctx.canContribute) return null;
  if (health && health.blobStore === "disabled") return null;
  const formId = uid("upload-artifact");
  const file = h("input", { type: "file", name: "file", required: true });
  const type = select("type", ARTIFACT_TYPES, defaultType || "other");
  const title = h("input", { type: "text", name: "title", maxlength: 500 });
  const message = formMessages(ctx, "task");
  const progress = h("p", { class: "hint", role: "status" });
  const submit = h("button", { type: "submit", class: "primary" }, "Upload for review");
  const form = h(
    "form",
    {
      class: "card form upload-artifact-form",
      "aria-labelledby": `${formId}-title`,
      novalidate: true,
    },
    h("h3", { id: `${formId}-title` }, "Upload a file as an artifact"),
    h("p", { class: "hint" }, "DataOps stores the file and submits the artifact for review."),
    h(
      "div",
      { class: "grid-2" },
      field("File", file),
      field("Type", type),
      field("Title", title, "Leave empty to use the file name."),
    ),
    submit,
    progress,
    message.el,
  );
  let state = null; // {key, ticket, record} of the file being sent, kept across a retry
  form.addEventListener("input", (event) => {
    if (event.target === file) state = null;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    message.clear();
    const chosen = file.files && file.files[0];
    if (!chosen) {
      message.failed(new Error("Choose a file to upload."), "Not uploaded");
      file.focus();
      return;
    }
    busy(submit, async () => {
      try {
        if (!state) {
          progress.textContent = "Checking the file…";
          const checksum = await sha256(chosen);
          state = { checksum, key: `${checksum}-${chosen.size}-${Date.now()}` };
        }
        await storeUpload(state, chosen, task.id, progress);
        progress.textContent = "Registering the artifact…";
        const artifact = await registerUpload(state, task.id, type.value, title.value.trim());
        state = null;
        progress.textContent = "";
        ctx.reloadAndFocus(`Uploaded “${artifact.title}”: it waits for review.`);
      } catch (error) {
        progress.textContent = "";
        if (error && error.status === 422 && state && !state.record) state = null; // announce again
        message.failed(error, "Upload failed");
      }
    });
  });
  return form;
}

/** The upload's steps not done yet (`state` keeps them across a retry): announce the file
 * (size, checksum) → PUT the bytes → complete (the server checks what arrived). */
async function storeUpload(state, chosen, taskId, progress) {
  if (!state.ticket) {
    progress.textContent = "Starting the upload…";
    state.ticket = await api("/work/api/uploads", {
      method: "POST",
      json: {
        filename: chosen.name,
        contentType: chosen.type || "application/octet-stream",
        sizeBytes: chosen.size,
        checksum: state.checksum,
        taskId,
      },
      headers: { "Idempotency-Key": `upload-${state.key}` },
    });
  }
  if (!state.record) {
    progress.textContent = `Sending ${chosen.name}…`;
    await putBytes(state.ticket, chosen);
    progress.textContent = "Verifying what arrived…";
    state.record = await api(`/work/api/uploads/${enc(state.ticket.uploadId)}/complete`, {
      method: "POST",
    });
  }
}

/** Register the stored file as the task's artifact, for review (once per upload). */
function registerUpload(state, taskId, type, title) {
  const record = state.record;
  return api("/work/api/artifacts", {
    method: "POST",
    json: {
      type,
      title: title || record.filename,
      storageUri: record.storageUri,
      fileId: record.id,
      filename: record.filename,
      contentType: record.contentType,
      taskId,
      status: "needs-review",
      sourceType: "manual-upload",
    },
    headers: { "Idempotency-Key": `upload-artifact-${state.ticket.uploadId}` },
  });
}
