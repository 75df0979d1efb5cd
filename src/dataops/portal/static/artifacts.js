// Artifact lists, review actions, and the register / attach forms shared by the task,
// bundle, review and artifact pages. Write controls are only built for the roles that may
// use them: review decisions for operators/admins, register/attach/submit also for
// assistants; no Approve/Reject on one's own artifact under the independent review policy,
// no second Approve by the same person (the API refuses them anyway).
import { api } from "./api.js";
import {
  ARTIFACT_TYPES,
  badge,
  busy,
  DATA_CLASSES,
  empty,
  enc,
  expiry,
  field,
  fill,
  h,
  messageArea,
  namedUrlGiven,
  routeLink,
  select,
  uid,
} from "./dom.js";
import {
  approvalsOf,
  artifactCard,
  capitalized,
  withdrawnApproval,
} from "./cards.js";

/** Which review moves the server allows from each status (CONTRACT §5, §7: approving an
 * approved artifact adds the actor's approval). */
export const MOVES = {
  submit: new Set(["draft", "rejected"]),
  approve: new Set(["draft", "needs-review", "approved"]),
  reject: new Set(["draft", "needs-review", "approved"]),
  archive: new Set(["draft", "needs-review", "approved", "rejected"]),
  supersede: new Set(["approved"]),
};

/** Which decisions the actor may take on this artifact, and why the others are hidden. */
export function reviewLimits(artifact, ctx) {
  if (!ctx.canWrite) return { approve: false, reject: false, why: null };
  const me = ctx.user && ctx.user.id;
  const own = Boolean(me) && artifact.createdBy === me;
  const independent = Boolean(ctx.settings) && ctx.settings.reviewPolicy === "independent";
  const decidable = MOVES.approve.has(artifact.status) || MOVES.reject.has(artifact.status);
  if (own && independent && decidable) {
    return {
      approve: false,
      reject: false,
      why: "You created this artifact: under the independent review policy another reviewer approves or rejects it.",
    };
  }
  const approved = approvalsOf(artifact).some((a) => a.userId === me);
  return {
    approve: MOVES.approve.has(artifact.status) && !approved,
    reject: MOVES.reject.has(artifact.status),
    why: approved ? "You have approved it." : null,
  };
}

async function review(artifact, action, body) {
  return api(`/work/api/artifacts/${enc(artifact.id)}/${action}`, {
    method: "POST",
    json: { ...body, expectedVersion: artifact.version },
  });
}

function handleError(ctx, message, error, what) {
  if (error.versionMismatch) {
    ctx.reload(
      `${what}: the artifact changed since this page was loaded; it has been reloaded.`,
      "error",
    );
    return;
  }
  if (error.status === 403) {
    message.error(`${what} was refused: ${error.full}`);
    return;
  }
  message.error(`${what} failed: ${error.full}`);
}

/**
 * The review buttons for one artifact (nothing for viewers; submit and attach only for
 * assistants).
 * opts: {ctx, candidates: [artifact], attachTaskId, onDone(message)}
 */
export function artifactActions(artifact, opts) {
  const { ctx } = opts;
  if (!ctx.canContribute) return null;
  const decides = ctx.canWrite;
  const limits = reviewLimits(artifact, ctx);
  const title = artifact.title;
  const at = {
    artifact,
    ctx,
    title,
    message: messageArea(),
    formSlot: h("div", { class: "inline-form-slot" }),
    done: opts.onDone || ((text) => ctx.reload(text)),
  };
  const { done } = at;
  const buttons = [];
  if (limits.approve) buttons.push(approveButton(at));
  if (MOVES.submit.has(artifact.status)) {
    buttons.push(moveButton(at, "submit", "Submit for review", `Submitted “${title}” for review.`));
  }
  if (limits.reject) {
    buttons.push(
      formButton(at, "reject", "Reject", "bad", (close) => rejectForm(artifact, ctx, done, close)),
    );
  }
  if (decides && MOVES.supersede.has(artifact.status)) {
    const candidates = opts.candidates || [];
    buttons.push(
      formButton(at, "supersede", "Supersede", undefined, (close) =>
        supersedeForm(artifact, candidates, ctx, done, close),
      ),
    );
  }
  if (decides && MOVES.archive.has(artifact.status)) {
    // Archive sits next to Approve: it asks first, in the page.
    buttons.push(
      formButton(at, "archive", "Archive", "quiet", (close) =>
        archiveConfirm(artifact, ctx, done, close),
      ),
    );
  }
  if (opts.attachTaskId && artifact.taskId !== opts.attachTaskId) {
    buttons.push(attachButton(at, opts.attachTaskId));
  }
  const why = limits.why ? h("p", { class: "hint review-limit" }, limits.why) : null;
  if (!buttons.length) return why;
  return h(
    "div",
    { class: "actions-block" },
    h("div", { class: "actions", role: "group", "aria-label": `Actions for ${title}` }, buttons),
    why,
    at.formSlot,
    at.message.el,
  );
}

function approveButton(at) {
  const { title } = at;
  if (at.artifact.status === "approved") {
    // A further approval: a requirement may ask for N reviewers or an independent one.
    const success = `Added your approval to “${title}”.`;
    const button = moveButton(at, "approve", "Approve as well", success, "good");
    button.setAttribute("aria-label", `Approve ${title} as well`);
    return button;
  }
  return moveButton(at, "approve", "Approve", `Approved “${title}”. It now counts as proof.`, "good");
}

/** A review move in one click (approve, submit). `at`: the artifact's action state
 * {artifact, ctx, title, message, formSlot, done}. */
function moveButton(at, action, text, success, cls) {
  const { artifact, ctx, message, title } = at;
  const button = h(
    "button",
    { type: "button", class: cls, "aria-label": `${text} ${title}`, dataset: { action } },
    text,
  );
  button.addEventListener("click", () =>
    busy(button, async () => {
      message.clear();
      try {
        await review(artifact, action, {});
        at.done(success);
      } catch (error) {
        handleError(ctx, message, error, `${text} “${title}”`);
      }
    }),
  );
  return button;
}

/** "Reject…", "Supersede…", "Archive…": opens `form(close)` in the form slot; the form's
 * close empties the slot and gives the focus back to the button. */
function formButton(at, action, text, cls, form) {
  const { formSlot } = at;
  const button = h(
    "button",
    {
      type: "button",
      class: cls,
      "aria-label": `${text} ${at.title}…`,
      "aria-expanded": "false",
      dataset: { action },
    },
    `${text}…`,
  );
  button.addEventListener("click", () => {
    button.setAttribute("aria-expanded", "true");
    fill(
      formSlot,
      form(() => {
        formSlot.replaceChildren();
        button.setAttribute("aria-expanded", "false");
        button.focus();
      }),
    );
  });
  return button;
}

function attachButton(at, taskId) {
  const { artifact, ctx, message, title } = at;
  const button = h(
    "button",
    {
      type: "button",
      "aria-label": `Attach ${title} to this task`,
      dataset: { action: "attach" },
    },
    "Attach to this task",
  );
  button.addEventListener("click", () =>
    busy(button, async () => {
      message.clear();
      try {
        await api(`/work/api/artifacts/${enc(artifact.id)}/attach`, {
          method: "POST",
          json: { taskId, expectedVersion: artifact.version },
        });
        at.done(`Attached “${title}” to this task.`);
      } catch (error) {
        handleError(ctx, message, error, `Attaching “${title}”`);
      }
    }),
  );
  return button;
}

/** "Archive “X”? Yes, archive / Cancel": archiving takes the artifact out of proof. */
function archiveConfirm(artifact, ctx, done, cancel) {
  const message = messageArea();
  const yes = h(
    "button",
    { type: "button", class: "bad", dataset: { action: "confirm-archive" } },
    "Yes, archive",
  );
  const box = h(
    "div",
    {
      class: "inline-form confirm",
      role: "group",
      "aria-label": `Confirm archiving ${artifact.title}`,
    },
    h(
      "p",
      {},
      h("strong", {}, `Archive “${artifact.title}”? `),
      artifact.status === "approved"
        ? "It will no longer count as proof, and tasks completed with it will show their proof as withdrawn."
        : "It leaves the review flow for good: an archived artifact cannot be approved later.",
    ),
    h(
      "div",
      { class: "actions" },
      yes,
      h("button", { type: "button", class: "quiet", on: { click: cancel } }, "Cancel"),
    ),
    message.el,
  );
  yes.addEventListener("click", () =>
    busy(yes, async () => {
      message.clear();
      try {
        await review(artifact, "archive", {});
        done(`Archived “${artifact.title}”.`);
      } catch (error) {
        handleError(ctx, message, error, `Archiving “${artifact.title}”`);
      }
    }),
  );
  queueMicrotask(() => yes.focus());
  return box;
}

function rejectForm(artifact, ctx, done, cancel) {
  const reason = h("textarea", { name: "reason", rows: 2, required: true, maxlength: 2000 });
  const message = messageArea();
  const submit = h("button", { type: "submit", class: "bad" }, "Reject");
  const form = h(
    "form",
    { class: "inline-form", "aria-label": `Reject ${artifact.title}`, novalidate: true },
    field(
      `Why is “${artifact.title}” rejected?`,
      reason,
      "The reason is shown to whoever fixes it.",
    ),
    h(
      "div",
      { class: "actions" },
      submit,
      h("button", { type: "button", class: "quiet", on: { click: cancel } }, "Cancel"),
    ),
    message.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!reason.value.trim()) {
      message.error("Give a reason for the rejection.");
      reason.focus();
      return;
    }
    busy(submit, async () => {
      try {
        await review(artifact, "reject", { reason: reason.value.trim() });
        done(`Rejected “${artifact.title}”.`);
      } catch (error) {
        handleError(ctx, message, error, `Rejecting “${artifact.title}”`);
      }
    });
  });
  queueMicrotask(() => reason.focus());
  return form;
}

function supersedeForm(artifact, candidates, ctx, done, cancel) {
  const listId = uid("successors");
  const options = candidates.filter(
    (c) => c.id !== artifact.id && !["archived", "superseded", "rejected"].includes(c.status),
  );
  const input = h("input", {
    type: "text",
    name: "supersededBy",
    list: listId,
    required: true,
    autocomplete: "off",
  });
  const message = messageArea();
  const submit = h("button", { type: "submit" }, "Supersede");
  const form = h(
    "form",
    { class: "inline-form", "aria-label": `Supersede ${artifact.title}`, novalidate: true },
    successorField(input, listId, options),
    h(
      "div",
      { class: "actions" },
      submit,
      h("button", { type: "button", class: "quiet", on: { click: cancel } }, "Cancel"),
    ),
    message.el,
  );
  // Superseding with a replacement that is not approved takes the proof away from every
  // task that used this artifact: say so first, and ask again.
  let confirmedFor = null;
  input.addEventListener("input", () => {
    confirmedFor = null;
    submit.textContent = "Supersede";
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const successor = input.value.trim();
    if (!successor) {
      message.error("Enter the ID of the replacing artifact.");
      input.focus();
      return;
    }
    busy(submit, async () => {
      if (confirmedFor !== successor) {
        const replacement = await replacementOf(candidates, successor);
        if (replacement && replacement.status !== "approved") {
          confirmedFor = successor;
          message.error(
            `“${replacement.title}” is ${replacement.status.replace("-", " ")}, not approved: ` +
              `every task that uses “${artifact.title}” as proof loses that proof until ` +
              "the replacement is approved. Select “Supersede anyway” to go on.",
          );
          return "warned";
        }
      }
      await supersede(artifact, successor, { ctx, message, done });
      return null;
    }).then((outcome) => {
      if (outcome === "warned") submit.textContent = "Supersede anyway";
    });
  });
  queueMicrotask(() => input.focus());
  return form;
}

/** The replacement's ID, with the open candidates (`options`) as suggestions. */
function successorField(input, listId, options) {
  return [
    field(
      "ID of the artifact that replaces it",
      input,
      options.length
        ? "Pick one of the suggestions or paste an artifact ID."
        : "Register the replacement first, then paste its artifact ID.",
    ),
    h(
      "datalist",
      { id: listId },
      options.map((c) => h("option", { value: c.id }, `${c.title} (${c.status})`)),
    ),
  ];
}

/** The replacing artifact: one of `candidates`, else read by its ID (null when unreadable). */
async function replacementOf(candidates, successor) {
  const replacement = candidates.find((c) => c.id === successor);
  if (replacement) return replacement;
  return api(`/work/api/artifacts/${enc(successor)}`).catch(() => null);
}

async function supersede(artifact, successor, { ctx, message, done }) {
  try {
    await api(`/work/api/artifacts/${enc(artifact.id)}/supersede`, {
      method: "POST",
      json: { supersededBy: successor, expectedVersion: artifact.version },
    });
    done(`“${artifact.title}” is superseded.`);
  } catch (error) {
    handleError(ctx, message, error, `Superseding “${artifact.title}”`);
  }
}

/**
 * A list of artifacts with type, provider, data class, a status badge, who created and
 * who reviewed each (names from `users`, the ctx.users() map) and its expiry.
 * opts: {ctx, users, emptyText, candidates, attachTaskId, label}
 */
export function artifactList(artifacts, opts) {
  if (!artifacts.length) return empty(opts.emptyText || "No artifacts.");
  return h(
    "ul",
    { class: "artifacts", "aria-label": opts.label || "Artifacts" },
    artifacts.map((a) =>
      artifactCard(a, {
        variant: `artifact-${a.status}`,
        users: opts.users,
        notes: [
          a.status === "rejected" && a.reviewReason
            ? h("p", { class: "review-reason" }, "Rejected: ", a.reviewReason)
            : null,
          a.status === "needs-review"
            ? h(
                "p",
                { class: "review-note" },
                withdrawnApproval(a) ? [capitalized(a.reviewReason), ". "] : null,
                "Waiting for review — does not count as proof until approved.",
              )
            : null,
          a.status === "superseded" && a.supersededBy
            ? h(
                "p",
                { class: "review-note" },
                "Replaced by ",
                routeLink(`/work/artifacts/${enc(a.supersededBy)}`, a.supersededBy),
              )
            : null,
        ],
        actions: artifactActions(a, opts),
      }),
    ),
  );
}

/**
 * Register an external URL as an artifact (metadata only, no upload).
 * opts: {ctx, task, bundle, defaultType}
 */
export function registerForm(opts) {
  const { ctx, task, bundle } = opts;
  if (!ctx.canContribute) return null;
  const { type, title, url, dataClass, status } = registerInputs(opts.defaultType);
  const { targets, groupName, radios } = attachTargets(task, bundle);
  const message = messageArea();
  const submit = h("button", { type: "submit", class: "primary" }, "Register link");
  const formId = uid("register");
  const form = h(
    "form",
    { class: "card form register-form", "aria-labelledby": `${formId}-title`, novalidate: true },
    h("h3", { id: `${formId}-title` }, "Register an external link as an artifact"),
    h(
      "p",
      { class: "hint" },
      "No upload: DataOps keeps the address and its review status, not the file.",
    ),
    h(
      "div",
      { class: "grid-2" },
      field("Title", title),
      field("Type", type),
      field("URL", url, "An http(s) address, e.g. a Google Doc or a published page."),
      field("Data class", dataClass),
      field("Review", status),
    ),
    targets.length > 1
      ? h("fieldset", { class: "radios" }, h("legend", {}, "Attach to"), radios)
      : null,
    submit,
    message.el,
  );
  let idempotencyKey = null;
  form.addEventListener("input", () => {
    idempotencyKey = null;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    message.clear();
    if (!namedUrlGiven(message, title, "Give the artifact a title.", url)) return;
    const target =
      targets.length > 1
        ? form.querySelector(`input[name="${groupName}"]:checked`).value
        : targets[0][0];
    const body = {
      type: type.value,
      title: title.value.trim(),
      storageUri: url.value.trim(),
      dataClass: dataClass.value,
      status: status.value,
      sourceType: "manual-link",
    };
    if (target === "task") body.taskId = task.id;
    else body.bundleId = bundle.id;
    idempotencyKey =
      idempotencyKey || (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()));
    const key = idempotencyKey;
    busy(submit, () => registerLink(ctx, message, body, key));
  });
  return form;
}

/** The register form's controls: type, title, URL, data class and review status. */
function registerInputs(defaultType) {
  return {
    type: select("type", ARTIFACT_TYPES, defaultType || "external-link"),
    title: h("input", { type: "text", name: "title", required: true, maxlength: 500 }),
    url: h("input", {
      type: "url",
      name: "storageUri",
      required: true,
      placeholder: "https://…",
      inputmode: "url",
    }),
    dataClass: select("dataClass", DATA_CLASSES, "internal"),
    status: select(
      "status",
      [
        ["needs-review", "Submit for review now"],
        ["draft", "Keep as a draft"],
      ],
      "needs-review",
    ),
  };
}

/** Where a registered link may go: the task and/or the bundle, as radios when both. */
function attachTargets(task, bundle) {
  const targets = [];
  if (task) targets.push(["task", `This task (${task.description})`]);
  if (bundle) targets.push(["bundle", `The bundle (${bundle.title})`]);
  const groupName = uid("attach-to");
  const radios = targets.map(([value, text], index) => {
    const id = uid("attach");
    return h(
      "div",
      { class: "radio" },
      h("input", { type: "radio", id, name: groupName, value, checked: index === 0 }),
      h("label", { for: id }, text),
    );
  });
  return { targets, groupName, radios };
}

async function registerLink(ctx, message, body, idempotencyKey) {
  try {
    await api("/work/api/artifacts", {
      method: "POST",
      json: body,
      headers: { "Idempotency-Key": idempotencyKey },
    });
    const next = body.status === "needs-review" ? "It is waiting for review." : "It is a draft.";
    ctx.reload(`Registered “${body.title}”. ${next}`);
  } catch (error) {
    message.error(`Could not register the link: ${error.full}`);
  }
}

/** Attach an existing artifact (by ID) to the task or the bundle. */
export function attachForm(opts) {
  const { ctx, task, bundle, suggestions = [] } = opts;
  if (!ctx.canContribute) return null;
  const listId = uid("attachable");
  const input = h("input", { type: "text", name: "artifactId", list: listId, autocomplete: "off" });
  const message = messageArea();
  const submit = h(
    "button",
    { type: "submit" },
    task ? "Attach to this task" : "Attach to this bundle",
  );
  const formId = uid("attach-form");
  const form = h(
    "form",
    { class: "card form attach-form", "aria-labelledby": `${formId}-title`, novalidate: true },
    h("h3", { id: `${formId}-title` }, "Attach an existing artifact"),
    field("Artifact ID", input, "Attaching moves the artifact here from any other task or bundle."),
    h(
      "datalist",
      { id: listId },
      suggestions.map((a) => h("option", { value: a.id }, `${a.title} (${a.status})`)),
    ),
    submit,
    message.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = input.value.trim();
    if (!id) {
      message.error("Enter the ID of an existing artifact.");
      input.focus();
      return;
    }
    busy(submit, async () => {
      try {
        const attached = await api(`/work/api/artifacts/${enc(id)}/attach`, {
          method: "POST",
          json: task ? { taskId: task.id } : { bundleId: bundle.id },
        });
        ctx.reload(`Attached “${attached.title}”.`);
      } catch (error) {
        if (error.status === 404)
          message.error(`No artifact with ID ${id} (or its target is gone).`);
        else message.error(`Could not attach: ${error.full}`);
      }
    });
  });
  return form;
}
