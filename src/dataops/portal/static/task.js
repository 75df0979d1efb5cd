// Task page: every proof requirement as the server sees it, the evidence (links, files,
// artifacts — each its own kind), review actions, registering/attaching/uploading, and
// the completion button with the reason it is blocked. A done task shows the proof
// recorded at completion as it stands now: withdrawn proof (CONTRACT §7) is said in
// words, with the server's reasons, never behind a green tick.
import { api } from "./api.js";
import { attachForm, artifactList, registerForm } from "./artifacts.js";
import {
  add,
  badge,
  busy,
  bytes,
  dueText,
  empty,
  enc,
  errorBox,
  externalLink,
  field,
  FILE_CATEGORIES,
  fill,
  flag,
  focusResult,
  h,
  httpUrl,
  messageArea,
  namedUrlGiven,
  routeLink,
  select,
  userName,
  when,
} from "./dom.js";
import { taskPlanning, uploadArtifactForm } from "./planning.js";
import { isOpen, kindChip } from "./proof.js";

const FIELD_KINDS = new Set(["link", "url", "comment", "external-status"]);

function fileOpen(file) {
  const uri = file.storageUri || "";
  if (
    file.storageProvider === "local-dev" ||
    file.storageProvider === "s3" ||
    /^(local-dev|s3):\/\//.test(uri) ||
    (!uri && file.storagePath)
  ) {
    return h(
      "a",
      {
        href: `/work/api/files/${enc(file.id)}/content`,
        class: "download",
        "aria-label": `Download ${file.filename}`,
      },
      "Download",
    );
  }
  if (httpUrl(uri)) return externalLink(uri, "Open link ↗", `Open ${file.filename} in a new tab`);
  return h("span", { class: "uri" }, uri || "no location");
}

/** What satisfied a requirement, shown by kind. An artifact's badge is its status now
 * (from `artifacts`, the records this page loaded); for a recorded (completion) proof
 * whose artifact this page did not load, no badge rather than a claim. */
function evidence(requirement, files, users, artifacts, recorded) {
  const by = requirement.satisfiedBy || {};
  switch (requirement.kind) {
    case "link":
    case "url":
      return h("span", {}, "Link: ", externalLink(by.link, by.link));
    case "file": {
      const file = files.find((f) => f.id === by.fileId);
      return h(
        "span",
        {},
        "File: ",
        file ? [file.filename, " ", fileOpen(file)] : by.fileId || "recorded",
      );
    }
    case "artifact": {
      const now = artifacts && artifacts.get(by.artifactId);
      return h(
        "span",
        {},
        "Artifact: ",
        routeLink(`/work/artifacts/${enc(by.artifactId)}`, by.title || by.artifactId),
        " ",
        now ? badge(now.status) : recorded ? null : badge("approved"),
        by.reviewedBy ? ` approved by ${userName(users, by.reviewedBy)}` : null,
        now && now.selfReviewed ? [" ", flag("self-approved", "self")] : null,
      );
    }
    case "comment":
      return h("span", {}, "Comment: ", h("q", {}, by.comment || ""));
    case "external-status":
      return h("span", {}, "External status: ", h("q", {}, by.externalStatus || ""));
    default:
      return null;
  }
}

function missingText(requirements) {
  const missing = requirements.filter((r) => !r.satisfied).length;
  const noun = requirements.length === 1 ? "requirement" : "requirements";
  return `${missing} of ${requirements.length} ${noun} missing.`;
}

/**
 * The requirements as the server reports them (`/proof`, or a done task's
 * `completionProof`). opts.withdrawn(r) gives the reasons a recorded requirement no
 * longer holds (a done task with withdrawn proof); opts.artifacts: id → artifact.
 */
function requirementList(requirements, files, users, opts = {}) {
  if (!requirements.length) return empty("This task needs no proof to be completed.");
  return h(
    "ul",
    { class: "requirements" },
    requirements.map((r) => {
      const withdrawn = opts.withdrawn ? opts.withdrawn(r) : [];
      const state = withdrawn.length ? "withdrawn" : r.satisfied ? "satisfied" : "missing";
      const text = {
        withdrawn: "✗ Withdrawn",
        satisfied: opts.recorded ? "✓ Satisfied at completion" : "✓ Satisfied",
        missing: "✗ Missing",
      }[state];
      return h(
        "li",
        {
          class: ["requirement", state],
          dataset: { kind: r.kind, satisfied: String(r.satisfied), state },
        },
        h(
          "div",
          { class: "requirement-head" },
          h(
            "span",
            { class: ["state", state === "satisfied" ? "state-ok" : "state-missing"] },
            text,
          ),
          " ",
          kindChip(r.kind),
          " ",
          h("strong", { class: "requirement-label" }, r.label),
        ),
        r.satisfied
          ? h(
              "div",
              { class: "requirement-detail" },
              evidence(r, files, users, opts.artifacts, opts.recorded),
            )
          : null,
        withdrawn.map((reason) => h("div", { class: "requirement-detail reason" }, reason)),
        r.satisfied
          ? null
          : h("div", { class: "requirement-detail reason" }, r.reason || "missing"),
      );
    }),
  );
}

/** The withdrawal reasons (`proofWithdrawnReasons`) of a recorded requirement: the
 * server starts each with the requirement's label; a reason that names none (evidence
 * that expired before the server's daily pass) concerns every artifact requirement. */
function reasonsFor(task) {
  const reasons = task.proofWithdrawn ? task.proofWithdrawnReasons || [] : [];
  const labels = (task.completionProof || []).map((r) => `${r.label}: `);
  const unnamed = reasons.filter((reason) => !labels.some((l) => reason.startsWith(l)));
  return (r) =>
    r.kind === "artifact"
      ? [...reasons.filter((reason) => reason.startsWith(`${r.label}: `)), ...unnamed]
      : [];
}

function completeCard(task, proof, ctx) {
  const requirement =
    task.proofRequirement && task.proofRequirement.required !== false
      ? task.proofRequirement
      : null;
  const { inputs, fields } = completionFields(task, requirement);
  const blockedId = `complete-blocked-${task.id}`;
  const blocked = blockedNote(proof, blockedId);
  const complete = h(
    "button",
    {
      type: "submit",
      class: ["primary", proof && !proof.canComplete ? "is-blocked" : null],
      "aria-describedby": blockedId,
      dataset: { action: "complete" },
    },
    proof && !proof.canComplete ? "Mark done (blocked)" : "Mark done",
  );
  const save = h(
    "button",
    { type: "button", dataset: { action: "save" } },
    "Save without completing",
  );
  const serverBox = h("div", { class: "server-refusal", "aria-live": "assertive" });
  const message = messageArea();
  const form = h(
    "form",
    { class: "card form complete-form", "aria-labelledby": "complete-title", novalidate: true },
    h("h2", { id: "complete-title" }, "Complete the task"),
    h("div", { class: "grid-2" }, fields),
    blocked,
    h("div", { class: "actions" }, complete, save),
    serverBox,
    message.el,
  );
  const at = { task, ctx, inputs, serverBox, message };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    markDone(at, complete);
  });
  save.addEventListener("click", () => saveWithoutCompleting(at, save));
  return form;
}

/** The fields Mark done sends: the required link, the external status, the comment. */
function completionFields(task, requirement) {
  const needsLink = Boolean(task.requiredLinkName) || (requirement && requirement.type === "url");
  const needsStatus = requirement && requirement.type === "external-status";
  const needsComment = requirement && requirement.type === "comment";
  const inputs = {};
  const fields = [];
  if (needsLink) {
    inputs.link = h("input", {
      type: "url",
      name: "link",
      value: task.link || "",
      placeholder: "https://…",
    });
    const name = task.requiredLinkName || (requirement && requirement.label) || "Link";
    fields.push(
      field(`${name} (link)`, inputs.link, "Sent with the task; it counts as link proof."),
    );
  }
  if (needsStatus) {
    inputs.externalStatus = h("input", {
      type: "text",
      name: "externalStatus",
      value: task.externalStatus || "",
    });
    fields.push(field(requirement.label || "External status", inputs.externalStatus));
  }
  inputs.comment = h("textarea", { name: "comment", rows: 2, value: task.comment || "" });
  fields.push(
    field(
      needsComment ? `${requirement.label || "Comment"} (required)` : "Comment (optional)",
      inputs.comment,
    ),
  );
  return { inputs, fields };
}

/** What blocks Mark done (each missing proof and where to add it), that nothing does, or
 * that the proof state is unknown. */
function blockedNote(proof, blockedId) {
  const missing = proof ? proof.requirements.filter((r) => !r.satisfied) : [];
  if (proof && !proof.canComplete) {
    return h(
      "div",
      { class: "blocked-note", id: blockedId },
      h("strong", {}, "Mark done is blocked until:"),
      h(
        "ul",
        {},
        missing.map((r) =>
          h(
            "li",
            {},
            kindChip(r.kind),
            " ",
            h("strong", {}, r.label),
            " — ",
            r.reason || "missing",
            FIELD_KINDS.has(r.kind) ? " (fill in the field above; it is sent with Mark done)" : null,
            r.kind === "artifact"
              ? [" (", h("a", { href: "#artifacts-title" }, "approve or register one below"), ")"]
              : null,
            r.kind === "file"
              ? [" (", h("a", { href: "#files-title" }, "upload or register a file below"), ")"]
              : null,
          ),
        ),
      ),
    );
  }
  return proof
    ? h(
        "p",
        { class: "ready-note", id: blockedId },
        "✓ All proof is in place. The task can be marked done.",
      )
    : h(
        "p",
        { class: "notice", id: blockedId },
        "The proof state could not be loaded; the server still checks it when you mark the task done.",
      );
}

/** The completion fields whose value differs from the task's (empty → null). `at`:
 * {task, ctx, inputs, serverBox, message}. */
function completionChanges(at) {
  const body = {};
  for (const [name, input] of Object.entries(at.inputs)) {
    const value = input.value.trim();
    const before = at.task[name] || "";
    if (value !== before) body[name] = value === "" ? null : value;
  }
  return body;
}

function markDone(at, complete) {
  const { task, ctx, serverBox, message } = at;
  serverBox.replaceChildren();
  message.clear();
  busy(complete, async () => {
    try {
      await api(`/work/api/tasks/${enc(task.id)}`, {
        method: "PATCH",
        json: { ...completionChanges(at), status: "done", expectedVersion: task.version },
      });
      ctx.reload("Task marked done. Its proof is recorded.");
    } catch (error) {
      if (error.versionMismatch) {
        ctx.reload("The task changed since this page was loaded; it has been reloaded.", "error");
        return;
      }
      if (error.status === 409) {
        const refusal = h(
          "div",
          { class: "error-state", role: "alert" },
          h("strong", {}, "The server refused to mark the task done. "),
          h("span", { class: "server-detail" }, error.detail || error.message),
        );
        fill(serverBox, refusal);
        focusResult(refusal);
      } else {
        message.error(`Could not complete the task: ${error.full}`);
      }
    }
  });
}

function saveWithoutCompleting(at, save) {
  const { task, ctx, serverBox, message } = at;
  serverBox.replaceChildren();
  message.clear();
  const body = completionChanges(at);
  if (!Object.keys(body).length) {
    message.ok("Nothing to save.");
    return;
  }
  busy(save, async () => {
    try {
      await api(`/work/api/tasks/${enc(task.id)}`, {
        method: "PATCH",
        json: { ...body, expectedVersion: task.version },
      });
      ctx.reload("Saved.");
    } catch (error) {
      if (error.versionMismatch) {
        ctx.reload("The task changed since this page was loaded; it has been reloaded.", "error");
      } else {
        message.error(`Could not save: ${error.full}`);
      }
    }
  });
}

/** "Completed with proof that was later withdrawn: <reason>", each reason the server
 * gives (`proofWithdrawnReasons`). */
function withdrawnNote(task, reopen) {
  const reasons = task.proofWithdrawnReasons || [];
  const lead = "Completed with proof that was later withdrawn";
  return h(
    "div",
    { class: "withdrawn-note", id: `withdrawn-${task.id}` },
    reasons.length === 1
      ? h("p", {}, h("strong", {}, `⚠ ${lead}: `), reasons[0])
      : [
          h("p", {}, h("strong", {}, `⚠ ${lead}:`)),
          h(
            "ul",
            { class: "withdrawn-reasons" },
            reasons.length
              ? reasons.map((reason) => h("li", {}, reason))
              : h("li", {}, "the server gave no reason"),
          ),
        ],
    h(
      "p",
      { class: "hint" },
      "The task stays done until an operator reopens it; reopening sends it back to to-do so new proof can be added.",
    ),
    reopen,
  );
}

/** What was written when the task was completed (its comment), shown on the done task. */
function completionNote(task) {
  if (!task.comment) return null;
  // A comment that was the proof is already shown in the recorded proof below.
  if ((task.completionProof || []).some((r) => r.kind === "comment")) return null;
  return h(
    "figure",
    { class: "completion-comment" },
    h("figcaption", {}, "Completion comment"),
    h("blockquote", {}, task.comment),
  );
}

function doneCard(task, ctx, files, users, artifacts) {
  const message = messageArea();
  const withdrawn = Boolean(task.proofWithdrawn);
  let reopen = null;
  if (ctx.canWrite) {
    reopen = h(
      "button",
      {
        type: "button",
        class: withdrawn ? "primary" : null,
        dataset: { action: "reopen" },
        "aria-describedby": withdrawn ? `withdrawn-${task.id}` : undefined,
      },
      "Reopen task",
    );
    reopen.addEventListener("click", () =>
      busy(reopen, async () => {
        try {
          await api(`/work/api/tasks/${enc(task.id)}`, {
            method: "PATCH",
            json: { status: "todo", expectedVersion: task.version },
          });
          ctx.reload("Task reopened.");
        } catch (error) {
          message.error(`Could not reopen: ${error.full}`);
        }
      }),
    );
  }
  return h(
    "section",
    {
      class: ["card", "done-card", withdrawn ? "done-withdrawn" : null],
      "aria-labelledby": "done-title",
    },
    h(
      "h2",
      { id: "done-title" },
      withdrawn ? "Completed · proof withdrawn" : "Completed · proof recorded",
    ),
    withdrawn ? withdrawnNote(task, reopen ? h("div", { class: "actions" }, reopen) : null) : null,
    h(
      "p",
      {},
      `Done ${when(task.completedAt)} by ${userName(users, task.completedBy)}. `,
      "The proof recorded at completion:",
    ),
    completionNote(task),
    requirementList(task.completionProof || [], files, users, {
      withdrawn: reasonsFor(task),
      artifacts,
      recorded: true,
    }),
    reopen && !withdrawn ? h("div", { class: "actions" }, reopen) : null,
    message.el,
  );
}

function uploadForm(task, ctx, health) {
  if (health && health.blobStore === "disabled") {
    return h(
      "div",
      { class: "notice", role: "note" },
      h("strong", {}, "File uploads are disabled on this server "),
      "(no binary storage is configured). Register where the file is kept instead.",
    );
  }
  const file = h("input", { type: "file", name: "file", required: true });
  const category = select("category", FILE_CATEGORIES, "document");
  const message = messageArea();
  const submit = h("button", { type: "submit", class: "primary" }, "Upload");
  const form = h(
    "form",
    { class: "card form upload-form", "aria-labelledby": "upload-title", novalidate: true },
    h("h3", { id: "upload-title" }, "Upload a file"),
    h("div", { class: "grid-2" }, field("File", file), field("Category", category)),
    submit,
    message.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    message.clear();
    if (!file.files || !file.files.length) {
      message.error("Choose a file to upload.");
      file.focus();
      return;
    }
    const data = new FormData();
    data.append("file", file.files[0]);
    data.append("taskId", task.id);
    if (task.bundleId) data.append("bundleId", task.bundleId);
    data.append("category", category.value);
    busy(submit, async () => {
      try {
        const record = await api("/work/api/files", { method: "POST", form: data });
        ctx.reload(`Uploaded “${record.filename}” (${bytes(record.sizeBytes)}).`);
      } catch (error) {
        if (error.status === 503) {
          message.error(
            `Uploads are unavailable on this server: ${error.detail || "storage is disabled"}. ` +
              "Register where the file is kept instead.",
          );
        } else if (error.status === 413) {
          message.error(`The file is too large: ${error.detail || error.message}`);
        } else {
          message.error(`Upload failed: ${error.full}`);
        }
      }
    });
  });
  return form;
}

function registerFileForm(task, ctx) {
  const filename = h("input", { type: "text", name: "filename", required: true, maxlength: 500 });
  const url = h("input", {
    type: "url",
    name: "storageUri",
    required: true,
    placeholder: "https://…",
  });
  const message = messageArea();
  const submit = h("button", { type: "submit" }, "Register file");
  const form = h(
    "form",
    {
      class: "card form register-file-form",
      "aria-labelledby": "register-file-title",
      novalidate: true,
    },
    h("h3", { id: "register-file-title" }, "Register a file kept elsewhere"),
    h("p", { class: "hint" }, "For a file in Dropbox, Google Drive or on a website: no upload."),
    h("div", { class: "grid-2" }, field("File name", filename), field("File URL", url)),
    submit,
    message.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    message.clear();
    if (!namedUrlGiven(message, filename, "Give the file a name.", url)) return;
    busy(submit, async () => {
      try {
        const body = {
          taskId: task.id,
          filename: filename.value.trim(),
          storageUri: url.value.trim(),
        };
        if (task.bundleId) body.bundleId = task.bundleId;
        await api("/work/api/files/register", { method: "POST", json: body });
        ctx.reload(`Registered the file “${body.filename}”.`);
      } catch (error) {
        message.error(`Could not register the file: ${error.full}`);
      }
    });
  });
  return form;
}

/** The add-evidence forms: open on an open task, folded away on a closed one. */
function formsBlock(open, summary, ...forms) {
  const grid = h("div", { class: "forms" }, forms);
  if (open) return grid;
  return h("details", { class: "more-forms" }, h("summary", {}, summary), grid);
}

function fileList(files) {
  if (!files.length) return empty("No files for this task.");
  return h(
    "ul",
    { class: "files", "aria-label": "Files" },
    files.map((f) =>
      h(
        "li",
        { class: "file", dataset: { fileId: f.id } },
        h("span", { class: "file-name" }, f.filename),
        h(
          "span",
          { class: "file-meta" },
          `${f.category || "document"} · ${bytes(f.sizeBytes)} · ${when(f.createdAt)} · `,
          fileOpen(f),
        ),
      ),
    ),
  );
}

/** When a list holds more than the page shows, say so (never a silently partial list). */
function moreNote(page, what) {
  if (!page || !page.nextCursor) return null;
  return h("p", { class: "hint" }, `Showing the first ${page.items.length} ${what}; there are more.`);
}

export async function taskPage(view, ctx, taskId) {
  // One call brings what the page shows (the proof verdict, the bundle, the first page of
  // the task's files, its artifacts and its bundle's artifacts).
  const task = await api(`/work/api/tasks/${enc(taskId)}`, {
    query: { include: "proof,bundle,files,artifacts" },
  });
  document.title = `${task.description} · DataOps`;
  const page = await taskParts(task, ctx);
  const { bundle, proof, userMap, fileItems, byId } = page;
  add(view, taskHead(task, bundle, userMap));
  if (!bundle.ok) add(view, errorBox("The bundle is", bundle.error));

  const proofCard = proofCardOf(task, page);
  if (task.status !== "done") add(view, proofCard);

  // ---- completion (a done task: what was recorded, then what the server says now)
  if (isOpen(task) && ctx.canWrite) {
    add(view, completeCard(task, proof.ok ? proof.value : null, ctx));
  } else if (task.status === "done") {
    add(view, doneCard(task, ctx, fileItems, userMap, byId));
    if (task.proofWithdrawn) add(view, proofCard);
  }
  add(view, artifactsCardOf(task, ctx, page));
  add(view, filesCardOf(task, ctx, page));
  add(view, taskPlanning(ctx, task, userMap));
}

/** What the task page shows besides the task, each as {ok, value} or {ok: false, error}:
 * the bundle, the proof verdict, the artifacts of the task and of its bundle, its files,
 * the users and the server's health; and the artifacts by id. */
async function taskParts(task, ctx) {
  const included = task.included;
  const gone = (what) => ({ ok: false, error: new Error(`${what} could not be read`) });
  const bundle = !task.bundleId
    ? { ok: true, value: null }
    : included.bundle
      ? { ok: true, value: included.bundle }
      : gone("The bundle");
  // A done task whose proof was withdrawn shows what the server says is missing now.
  const proof =
    isOpen(task) || (task.status === "done" && task.proofWithdrawn)
      ? { ok: true, value: included.proof }
      : { ok: true, value: null };
  const taskArtifacts = { ok: true, value: included.artifacts };
  const bundleArtifacts = { ok: true, value: included.bundleArtifacts || null };
  const files = { ok: true, value: included.files };
  const [users, health] = await Promise.all([ctx.users(), ctx.health()]).then((values) =>
    values.map((value) => ({ ok: true, value })),
  );
  const candidates = [
    ...(taskArtifacts.ok ? taskArtifacts.value.items : []),
    ...(bundleArtifacts.ok && bundleArtifacts.value ? bundleArtifacts.value.items : []),
  ];
  const requirement =
    task.proofRequirement && task.proofRequirement.required !== false
      ? task.proofRequirement
      : null;
  return {
    bundle,
    proof,
    taskArtifacts,
    bundleArtifacts,
    files,
    health,
    userMap: users.value,
    fileItems: files.ok ? files.value.items : [],
    candidates,
    byId: new Map(candidates.map((a) => [a.id, a])),
    requirement,
  };
}

/** The breadcrumb, the task's description, its status line and a waiting notice. */
function taskHead(task, bundle, userMap) {
  return [
    h(
      "nav",
      { class: "breadcrumb", "aria-label": "Breadcrumb" },
      routeLink("/work/bundles", "Bundles"),
      task.bundleId
        ? [
            " › ",
            routeLink(
              `/work/bundles/${enc(task.bundleId)}`,
              bundle.ok && bundle.value ? bundle.value.title : "Bundle",
            ),
          ]
        : null,
      " › ",
      h("span", { "aria-current": "page" }, "Task"),
    ),
    h("h1", {}, task.description),
    h(
      "p",
      { class: "subtitle" },
      badge(task.status),
      task.status === "done" && task.proofWithdrawn
        ? [" ", flag("proof withdrawn", "withdrawn")]
        : null,
      " ",
      h("span", { class: "due" }, dueText(task.date, isOpen(task))),
      task.phase ? ` · phase ${task.phase}` : null,
      task.assigneeId ? ` · assigned to ${userName(userMap, task.assigneeId)}` : null,
      task.instructionsUrl ? [" · ", externalLink(task.instructionsUrl, "Instructions ↗")] : null,
    ),
    task.status === "waiting"
      ? h(
          "p",
          { class: "notice" },
          `Waiting for ${task.waitingFor || "—"}; follow up ${task.followUpAt || "—"}.`,
        )
      : null,
  ];
}

/** The proof card (a done task shows the proof recorded at completion instead, and, when
 * it was withdrawn, the proof as the server checks it now). */
function proofCardOf(task, page) {
  const { proof, fileItems, userMap, byId, requirement } = page;
  const proofCard = h(
    "section",
    { class: "card proof-card", "aria-labelledby": "proof-title" },
    h("h2", { id: "proof-title" }, task.status === "done" ? "Proof now" : "Proof"),
  );
  const verdict = (ok, blocked) => {
    if (!proof.ok) return errorBox("The proof state is", proof.error);
    return [
      h(
        "p",
        { class: ["proof-verdict", proof.value.canComplete ? "ok" : "blocked"] },
        proof.value.canComplete ? ok : blocked(missingText(proof.value.requirements)),
      ),
      requirementList(proof.value.requirements, fileItems, userMap, { artifacts: byId }),
    ];
  };
  if (isOpen(task)) {
    add(proofCard, verdict("All required proof is in place.", (missing) => missing));
    if (task.link && !task.requiredLinkName && !(requirement && requirement.type === "url")) {
      add(proofCard, h("p", {}, "Link on the task: ", externalLink(task.link, task.link)));
    }
  } else if (task.status === "done" && task.proofWithdrawn) {
    add(
      proofCard,
      verdict(
        "Other evidence satisfies the requirements now: the task could be completed again.",
        (missing) => `As the server checks it now: ${missing}`,
      ),
    );
  } else if (task.status !== "done") {
    add(proofCard, h("p", {}, `This task is ${task.status}; it is not waiting for proof.`));
  }
  return proofCard;
}

/** The artifacts of the task and of its bundle, and the forms that add one. */
function artifactsCardOf(task, ctx, page) {
  const { taskArtifacts, bundleArtifacts, userMap, candidates, requirement } = page;
  const artifactsCard = h(
    "section",
    { class: "card", "aria-labelledby": "artifacts-title" },
    h(
      "h2",
      { id: "artifacts-title" },
      requirement && requirement.type === "artifact" ? "Artifact proof" : "Artifacts",
    ),
    requirement && requirement.type === "artifact"
      ? h(
          "p",
          { class: "hint" },
          `This task needs an approved ${requirement.artifactType || "(any type)"} artifact attached to the task${task.bundleId ? " or its bundle" : ""}. Draft and needs-review artifacts are shown but do not count.`,
        )
      : null,
    h("h3", {}, "Attached to this task"),
    taskArtifacts.ok
      ? artifactList(taskArtifacts.value.items, {
          ctx,
          users: userMap,
          candidates,
          emptyText: "No artifacts are attached to this task.",
          label: "Artifacts of this task",
        })
      : errorBox("The task's artifacts are", taskArtifacts.error),
    moreNote(taskArtifacts.value, "artifacts of this task"),
  );
  if (task.bundleId) {
    const taskIds = new Set(taskArtifacts.ok ? taskArtifacts.value.items.map((a) => a.id) : []);
    add(
      artifactsCard,
      h("h3", {}, "Attached to the bundle"),
      bundleArtifacts.ok
        ? artifactList(
            bundleArtifacts.value.items.filter((a) => !taskIds.has(a.id)),
            {
              ctx,
              users: userMap,
              candidates,
              attachTaskId: task.id,
              emptyText: "No other artifacts are attached to the bundle.",
              label: "Artifacts of the bundle",
            },
          )
        : errorBox("The bundle's artifacts are", bundleArtifacts.error),
    );
  }
  if (ctx.canContribute) add(artifactsCard, artifactForms(task, ctx, page));
  return artifactsCard;
}

function artifactForms(task, ctx, page) {
  const { bundle, bundleArtifacts, health, requirement } = page;
  return formsBlock(
    isOpen(task),
    "Upload, register or attach an artifact",
    uploadArtifactForm(ctx, task, health.value, requirement && requirement.artifactType),
    registerForm({
      ctx,
      task,
      bundle: bundle.ok ? bundle.value : null,
      defaultType:
        requirement && requirement.type === "artifact"
          ? requirement.artifactType || undefined
          : undefined,
    }),
    attachForm({
      ctx,
      task,
      suggestions:
        bundleArtifacts.ok && bundleArtifacts.value
          ? bundleArtifacts.value.items.filter((a) => a.taskId !== task.id)
          : [],
    }),
  );
}

function filesCardOf(task, ctx, page) {
  const { files, fileItems, health } = page;
  const filesCard = h(
    "section",
    { class: "card", "aria-labelledby": "files-title" },
    h("h2", { id: "files-title" }, "Files"),
    files.ok ? fileList(fileItems) : errorBox("Files are", files.error),
  );
  if (ctx.canContribute) {
    add(
      filesCard,
      formsBlock(
        isOpen(task),
        "Upload or register a file",
        uploadForm(task, ctx, health.value),
        registerFileForm(task, ctx),
      ),
    );
  }
  return filesCard;
}
