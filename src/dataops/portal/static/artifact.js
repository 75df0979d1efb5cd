// Artifact page: metadata, relationships, supersede chain and audit history.
import { api } from "./api.js";
import { artifactActions } from "./artifacts.js";
import {
  approvalsOf,
  capitalized,
  dataClassChip,
  expiryNote,
  isAssistant,
  openControl,
  providerText,
  selfApprovedFlag,
  withdrawnApproval,
} from "./cards.js";
import {
  add,
  badge,
  busy,
  bytes,
  chip,
  empty,
  enc,
  errorBox,
  field,
  fill,
  h,
  loading,
  messageArea,
  routeLink,
  userName,
  when,
} from "./dom.js";

const NOISE = new Set(["updatedAt", "version"]);

function row(label, ...value) {
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

/** Every approval (who, when), the creator's marked; or why there is none. */
function approvalList(artifact, users) {
  const approvals = approvalsOf(artifact);
  if (!approvals.length) {
    return artifact.status === "approved" ? "—" : `none (it is ${artifact.status})`;
  }
  return h(
    "ul",
    { class: "approval-list" },
    approvals.map((a) =>
      h(
        "li",
        {},
        h("strong", {}, userName(users, a.userId)),
        a.at ? `, ${when(a.at)}` : null,
        a.userId === artifact.createdBy ? [" ", selfApprovedFlag()] : null,
      ),
    ),
  );
}

/** Attach this artifact to a task and/or a bundle, by ID. */
function attachTargetForm(artifact, ctx) {
  if (!ctx.canContribute) return null;
  const taskId = h("input", { type: "text", name: "taskId", autocomplete: "off" });
  const bundleId = h("input", { type: "text", name: "bundleId", autocomplete: "off" });
  const message = messageArea();
  const submit = h("button", { type: "submit" }, "Attach");
  const form = h(
    "form",
    {
      class: "form attach-target-form",
      "aria-labelledby": "attach-target-title",
      novalidate: true,
    },
    h("h3", { id: "attach-target-title" }, "Attach to a task or bundle"),
    h("div", { class: "grid-2" }, field("Task ID", taskId), field("Bundle ID", bundleId)),
    h("p", { class: "hint" }, "Attaching elsewhere moves the artifact and removes the old link."),
    submit,
    message.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {};
    if (taskId.value.trim()) body.taskId = taskId.value.trim();
    if (bundleId.value.trim()) body.bundleId = bundleId.value.trim();
    if (!Object.keys(body).length) {
      message.error("Enter a task ID or a bundle ID.");
      taskId.focus();
      return;
    }
    busy(submit, async () => {
      try {
        await api(`/work/api/artifacts/${enc(artifact.id)}/attach`, {
          method: "POST",
          json: { ...body, expectedVersion: artifact.version },
        });
        ctx.reload("Attached.");
      } catch (error) {
        if (error.versionMismatch)
          ctx.reload("The artifact changed; it has been reloaded.", "error");
        else message.error(`Could not attach: ${error.full}`);
      }
    });
  });
  return h("details", { class: "edit-links" }, h("summary", {}, "Attach or move"), form);
}

/** A link to the page of the last chain link shown, whose own chain reads on. */
function continueLink(record, direction) {
  return h(
    "p",
    { class: "hint chain-more" },
    `More ${direction} versions: `,
    routeLink(`/work/artifacts/${enc(record.id)}`, `continue from “${record.title}”`),
  );
}

function changedFields(event) {
  if (!event.before || !event.after) return [];
  const keys = new Set([...Object.keys(event.before), ...Object.keys(event.after)]);
  return [...keys].filter(
    (k) => !NOISE.has(k) && JSON.stringify(event.before[k]) !== JSON.stringify(event.after[k]),
  );
}

function auditTable(events, users) {
  if (!events.length) return empty("No history recorded.");
  const table = h(
    "table",
    { class: "table audit-table" },
    h("caption", { class: "sr-only" }, "Audit history"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "When"),
        h("th", { scope: "col" }, "Who"),
        h("th", { scope: "col" }, "Action"),
        h("th", { scope: "col" }, "Change"),
      ),
    ),
    h(
      "tbody",
      {},
      events.map((e) => {
        const statusBefore = e.before && e.before.status;
        const statusAfter = e.after && e.after.status;
        const fields = changedFields(e).filter((k) => k !== "status");
        return h(
          "tr",
          { dataset: { action: e.action } },
          h("td", { class: "nowrap" }, when(e.createdAt)),
          h("td", {}, userName(users, e.actorId)),
          h("td", {}, e.action),
          h(
            "td",
            {},
            statusBefore && statusAfter && statusBefore !== statusAfter
              ? h("span", { class: "status-move" }, badge(statusBefore), " → ", badge(statusAfter))
              : !statusBefore && statusAfter
                ? h("span", { class: "status-move" }, "created as ", badge(statusAfter))
                : null,
            e.summary ? h("div", { class: "summary" }, e.summary) : null,
            fields.length ? h("div", { class: "fields" }, `Changed: ${fields.join(", ")}`) : null,
          ),
        );
      }),
    ),
  );
  return h("div", { class: "table-wrap" }, table);
}

export async function artifactPage(view, ctx, artifactId) {
  // One call brings its task, its bundle, its history and its supersede chain (include=).
  const artifact = await api(`/work/api/artifacts/${enc(artifactId)}`, {
    query: { include: "task,bundle,audit,chain" },
  });
  document.title = `${artifact.title} · DataOps`;
  const users = await ctx.users();
  const { included } = artifact;
  add(view, pageHead(artifact, users));
  add(view, reviewCard(artifact, ctx));

  const relTask = h("span", {}, artifact.taskId ? loading("…") : "—");
  const relBundle = h("span", {}, artifact.bundleId ? loading("…") : "—");
  add(
    view,
    h(
      "div",
      { class: "two-col" },
      detailsCard(artifact, users),
      relationsCard(artifact, ctx, relTask, relBundle),
    ),
  );

  const chainBody = h("div", {}, loading());
  const auditBody = h("div", {}, loading());
  add(
    view,
    h(
      "section",
      { class: "card", "aria-labelledby": "chain-title" },
      h("h2", { id: "chain-title" }, "Supersede chain"),
      chainBody,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "audit-title" },
      h("h2", { id: "audit-title" }, "History"),
      auditBody,
    ),
  );

  const relations = fillRelations(artifact, relTask, relBundle);
  const chainDone = fillChain(chainBody, artifact);
  const auditDone = fillAudit(auditBody, included.audit, users);
  await Promise.all([relations, chainDone, auditDone]);
}

/** The breadcrumb, the title, the status line and the notices (waiting for review,
 * self-approved, rejected). */
function pageHead(artifact, users) {
  return [
    h(
      "nav",
      { class: "breadcrumb", "aria-label": "Breadcrumb" },
      routeLink("/work/review", "Review queue"),
      " › ",
      h("span", { "aria-current": "page" }, "Artifact"),
    ),
    h("h1", {}, artifact.title),
    h(
      "p",
      { class: "subtitle" },
      badge(artifact.status),
      isAssistant(artifact) ? [" ", chip("assistant output", "assistant")] : null,
      artifact.selfReviewed ? [" ", selfApprovedFlag()] : null,
      " ",
      h("span", {}, artifact.type),
      " · ",
      openControl(artifact),
      artifact.validUntil ? [" · ", expiryNote(artifact)] : null,
    ),
    artifact.status === "needs-review"
      ? h(
          "p",
          { class: "notice" },
          withdrawnApproval(artifact) ? [capitalized(artifact.reviewReason), ". "] : null,
          "Waiting for review: it does not count as proof until it is approved.",
        )
      : null,
    artifact.selfReviewed
      ? h(
          "p",
          { class: "notice notice-warn" },
          h("strong", {}, "Self-approved: "),
          `${userName(users, artifact.createdBy)} created this artifact and approved it. `,
          "A proof requirement that asks for independent review needs another reviewer's approval.",
        )
      : null,
    artifact.status === "rejected" && artifact.reviewReason
      ? h("p", { class: "review-reason" }, "Rejected: ", artifact.reviewReason)
      : null,
  ];
}

/** The Review card: the actions the actor may take, or why none applies (null for a
 * viewer). */
function reviewCard(artifact, ctx) {
  const actions =
    artifactActions(artifact, { ctx, candidates: [] }) ||
    (ctx.canContribute
      ? h(
          "p",
          { class: "empty" },
          `No review action applies to an artifact that is ${artifact.status}.`,
        )
      : null);
  if (!actions) return null;
  return h(
    "section",
    { class: "card", "aria-labelledby": "review-title" },
    h("h2", { id: "review-title" }, "Review"),
    actions,
  );
}

function detailsCard(artifact, users) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "meta-title" },
    h("h2", { id: "meta-title" }, "Details"),
    h(
      "dl",
      { class: "meta" },
      row("Status", badge(artifact.status)),
      row("Type", artifact.type),
      row("Provider", providerText(artifact.storageProvider)),
      row("Data class", dataClassChip(artifact.dataClass)),
      row("Stored at", h("span", { class: "uri" }, artifact.storageUri)),
      row("Source", artifact.sourceType || "—"),
      artifact.description ? row("Description", artifact.description) : null,
      artifact.filename ? row("File name", artifact.filename) : null,
      artifact.contentType ? row("Content type", artifact.contentType) : null,
      artifact.sizeBytes !== null && artifact.sizeBytes !== undefined
        ? row("Size", bytes(artifact.sizeBytes))
        : null,
      artifact.checksum ? row("Checksum", h("code", {}, artifact.checksum)) : null,
      (artifact.tags || []).length ? row("Tags", artifact.tags.join(", ")) : null,
      row("Created", `${when(artifact.createdAt)} by ${userName(users, artifact.createdBy)}`),
      row("Approvals", approvalList(artifact, users)),
      artifact.reviewedAt
        ? row(
            "Last decision",
            `${when(artifact.reviewedAt)} by ${userName(users, artifact.reviewedBy)}`,
          )
        : null,
      row(
        "Valid until",
        artifact.validUntil ? expiryNote(artifact) : "no end date (it does not expire)",
      ),
      row("Updated", when(artifact.updatedAt)),
      row("Version", String(artifact.version)),
      row("ID", h("code", {}, artifact.id)),
    ),
  );
}

/** Task and bundle (`relTask`, `relBundle`: filled by fillRelations), file, assistant
 * job, what it supersedes and what supersedes it; and the attach form. */
function relationsCard(artifact, ctx, relTask, relBundle) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "rel-title" },
    h("h2", { id: "rel-title" }, "Relationships"),
    h(
      "dl",
      { class: "meta" },
      row("Task", relTask),
      row("Bundle", relBundle),
      row(
        "File",
        artifact.fileId
          ? h(
              "a",
              { href: `/work/api/files/${enc(artifact.fileId)}/content`, class: "download" },
              `Download file ${artifact.fileId}`,
            )
          : "—",
      ),
      row("Assistant job", artifact.assistantJobId || "—"),
      row(
        "Supersedes",
        artifact.supersedes
          ? routeLink(`/work/artifacts/${enc(artifact.supersedes)}`, artifact.supersedes)
          : "—",
      ),
      row(
        "Superseded by",
        artifact.supersededBy
          ? routeLink(`/work/artifacts/${enc(artifact.supersededBy)}`, artifact.supersededBy)
          : "—",
      ),
    ),
    attachTargetForm(artifact, ctx),
  );
}

/** The artifact's task and bundle, as its page's one call brought them (include=). */
function fillRelations(artifact, relTask, relBundle) {
  const { included } = artifact;
  const related = (id, record, what) =>
    !id
      ? null
      : record
        ? Promise.resolve(record)
        : Promise.reject(new Error(`${what} ${id} could not be read (deleted?)`));
  const taskP = related(artifact.taskId, included.task, "task");
  const bundleP = related(artifact.bundleId, included.bundle, "bundle");
  return Promise.all([
    taskP
      ? taskP.then(
          (t) =>
            fill(
              relTask,
              routeLink(`/work/tasks/${enc(t.id)}`, t.description),
              " ",
              badge(t.status),
            ),
          (error) => fill(relTask, errorBox("The task is", error)),
        )
      : null,
    bundleP
      ? bundleP.then(
          (b) => fill(relBundle, routeLink(`/work/bundles/${enc(b.id)}`, b.title)),
          (error) => fill(relBundle, errorBox("The bundle is", error)),
        )
      : null,
  ]);
}

async function fillChain(chainBody, artifact) {
  if (!artifact.supersedes && !artifact.supersededBy) {
    fill(chainBody, empty("This artifact neither replaces nor is replaced by another."));
    return;
  }
  // The server reads the chain with the artifact, at most 10 links each way; beyond
  // that, the page of the last link shown reads on.
  const { items, earlier, later, missing } = artifact.included.chain;
  const unreadable = missing.length
    ? new Error(`artifact ${missing.join(", ")} could not be read (deleted?)`)
    : null;
  fill(
    chainBody,
    earlier ? continueLink(items[0], "earlier") : null,
    h(
      "ol",
      { class: "chain" },
      items.map((a) =>
        h(
          "li",
          {
            "aria-current": a.id === artifact.id ? "true" : undefined,
            class: a.id === artifact.id ? "current" : null,
          },
          a.id === artifact.id
            ? h("strong", {}, a.title)
            : routeLink(`/work/artifacts/${enc(a.id)}`, a.title),
          " ",
          badge(a.status),
          a.id === artifact.id ? " (this artifact)" : null,
        ),
      ),
    ),
    later ? continueLink(items[items.length - 1], "later") : null,
    unreadable ? errorBox("Part of the chain is", unreadable) : null,
  );
}

async function fillAudit(auditBody, page, users) {
  const events = [...page.items].sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
  fill(
    auditBody,
    auditTable(events, users),
    page.nextCursor
      ? h("p", { class: "hint" }, `Showing the first ${events.length} events; there are more.`)
      : null,
  );
}
