// How an artifact reads in a list: its card (title, status, type, provider, data class,
// how to open it, who created and who reviewed it) and the small pieces the task, bundle,
// review, artifact and home pages share; and a task's row in the home and My work lists.
// Display only: the review actions and forms are in artifacts.js.
import {
  badge,
  chip,
  dueText,
  enc,
  expiry,
  externalLink,
  flag,
  h,
  httpUrl,
  PROVIDER_TEXT,
  routeLink,
  userName,
  when,
} from "./dom.js";

const OWNED = new Set(["s3", "local-dev"]);

export function isAssistant(artifact) {
  return artifact.sourceType === "assistant-output" || Boolean(artifact.assistantJobId);
}

/** How to open the artifact: http(s) → new tab; DataOps-owned bytes → the content
 * route; anything else is shown as text and is not clickable. */
export function openControl(artifact) {
  if (httpUrl(artifact.storageUri)) {
    return externalLink(artifact.storageUri, "Open link ↗", `Open ${artifact.title} in a new tab`);
  }
  if (OWNED.has(artifact.storageProvider)) {
    return h(
      "a",
      {
        href: `/work/api/artifacts/${enc(artifact.id)}/content`,
        class: "download",
        "aria-label": `Download ${artifact.title}`,
      },
      "Download",
    );
  }
  return h("span", { class: "uri", title: artifact.storageUri }, "Stored at ", artifact.storageUri);
}

/** Who approved an approved artifact, and when (an artifact approved before approvals
 * were recorded counts its reviewer, as the server does). */
export function approvalsOf(artifact) {
  if (artifact.status !== "approved") return [];
  const approvals = artifact.approvals || [];
  if (approvals.length) return approvals;
  return artifact.reviewedBy ? [{ userId: artifact.reviewedBy, at: artifact.reviewedAt }] : [];
}

export function selfApprovedFlag() {
  return flag("self-approved", "self", "Approved by the person who created it");
}

/** The expiry of an artifact's evidence ("expires in 3 days", "expired on …"), or null. */
export function expiryNote(artifact) {
  const found = expiry(artifact.validUntil);
  if (!found) return null;
  return h("span", { class: ["expiry", `expiry-${found.state}`] }, found.text);
}

/** Who created the artifact, who decided about it (every approval: who, when), a
 * "self-approved" flag, and when its evidence expires: one line for the lists. */
export function provenance(artifact, users) {
  const approvals = approvalsOf(artifact);
  const creator = h("strong", {}, userName(users, artifact.createdBy));
  const parts = [h("span", {}, "Created by ", creator)];
  if (approvals.length) {
    parts.push(
      h(
        "span",
        { class: "approvals" },
        "Approved by ",
        approvals.map((a, i) => [
          i ? ", " : "",
          h("strong", {}, userName(users, a.userId)),
          a.at ? ` (${when(a.at)})` : null,
        ]),
      ),
    );
  } else if (artifact.reviewedBy) {
    const verb = artifact.status === "rejected" ? "Rejected by " : "Last reviewed by ";
    parts.push(
      h(
        "span",
        {},
        verb,
        h("strong", {}, userName(users, artifact.reviewedBy)),
        artifact.reviewedAt ? ` (${when(artifact.reviewedAt)})` : null,
      ),
    );
  } else {
    parts.push(h("span", {}, "Not reviewed yet"));
  }
  if (artifact.selfReviewed) parts.push(selfApprovedFlag());
  const expires = expiryNote(artifact);
  if (expires) parts.push(expires);
  return h("div", { class: "provenance" }, parts);
}

/** A needs-review artifact whose approval a content change took away (its reason says
 * so; an older rejection reason is not repeated as if it were news). */
export function withdrawnApproval(artifact) {
  return (
    artifact.status === "needs-review" &&
    typeof artifact.reviewReason === "string" &&
    artifact.reviewReason.startsWith("approval withdrawn")
  );
}

export function capitalized(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

export function dataClassChip(dataClass) {
  return chip(dataClass || "internal", `dc dc-${dataClass || "internal"}`);
}

export function providerText(provider) {
  return PROVIDER_TEXT[provider] || provider || "unknown";
}

/**
 * One artifact's card: head (title, status, assistant chip), meta (type, provider, data
 * class, open control), then `context`, the provenance line, `notes` and `actions`.
 * opts: {variant (the li's second class), users, context, notes, actions}
 */
export function artifactCard(a, opts) {
  return h(
    "li",
    { class: ["artifact", opts.variant], dataset: { artifactId: a.id, status: a.status } },
    h(
      "div",
      { class: "artifact-head" },
      routeLink(`/work/artifacts/${enc(a.id)}`, a.title, { class: "artifact-title" }),
      " ",
      badge(a.status),
      isAssistant(a) ? [" ", chip("assistant output", "assistant")] : null,
    ),
    h(
      "div",
      { class: "artifact-meta" },
      h("span", {}, h("span", { class: "meta-label" }, "Type "), a.type),
      h(
        "span",
        {},
        h("span", { class: "meta-label" }, "Provider "),
        providerText(a.storageProvider),
      ),
      h(
        "span",
        {},
        h("span", { class: "meta-label" }, "Data class "),
        dataClassChip(a.dataClass),
      ),
      h("span", { class: "open" }, openControl(a)),
    ),
    opts.context,
    provenance(a, opts.users),
    opts.notes,
    opts.actions,
  );
}

/**
 * A task's row in the home and My work lists: its description, status and due date, a link
 * to its bundle (`bundleLink`, or null), then `missing` and why its proof was withdrawn.
 */
export function taskRow(task, bundleLink, missing) {
  const reasons = task.proofWithdrawnReasons || [];
  return h(
    "li",
    { class: "row" },
    h(
      "div",
      { class: "row-main" },
      routeLink(`/work/tasks/${enc(task.id)}`, task.description, { class: "row-title" }),
      " ",
      task.status !== "todo" ? badge(task.status) : null,
    ),
    h(
      "div",
      { class: "row-meta" },
      h("span", { class: "due" }, dueText(task.date, task.status === "todo" || task.status === "waiting")),
      bundleLink ? [" · ", bundleLink] : null,
    ),
    missing,
    reasons.length ? h("ul", { class: "missing-list" }, reasons.map((r) => h("li", {}, r))) : null,
  );
}
