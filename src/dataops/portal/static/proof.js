// Proof state as the server reports it (GET /work/api/tasks/{id}/proof). The UI never
// decides on its own whether a task may be completed.
import { chip, enc, h, KIND_TEXT } from "./dom.js";

export function hasProofRequirement(task) {
  const requirement = task.proofRequirement;
  return Boolean(
    task.requiredLinkName || task.requiresFile || (requirement && requirement.required !== false),
  );
}

export function isOpen(task) {
  return task.status === "todo" || task.status === "waiting";
}

export function kindChip(kind) {
  return chip(KIND_TEXT[kind] || kind, `kind kind-${kind}`);
}

/** A one-line summary for lists: done / proof ready / missing … / no proof required.
 * `proof` is the summary GET /api/tasks?include=proof gives an open task
 * ({canComplete, requirementCount, missing: [{kind, label, reason}]}). */
export function proofSummary(task, proof) {
  if (task.status === "done" && task.proofWithdrawn) {
    return h("span", { class: "proof proof-withdrawn" }, "⚠ Done · proof withdrawn");
  }
  if (task.status === "done") {
    return h("span", { class: "proof proof-done" }, "Done · proof recorded");
  }
  if (task.status === "archived") return h("span", { class: "proof" }, "Archived");
  if (!proof) return h("span", { class: "proof" }, "—");
  if (!proof.requirementCount) return h("span", { class: "proof" }, "No proof required");
  if (proof.canComplete) return h("span", { class: "proof proof-ready" }, "✓ Proof ready");
  return h(
    "span",
    { class: "proof proof-missing" },
    "Missing: ",
    proof.missing.map((r, i) => [i ? ", " : "", kindChip(r.kind), " ", r.label]),
  );
}
