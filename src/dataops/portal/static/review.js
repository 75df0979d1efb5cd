// Review queue: every needs-review artifact with its task and bundle.
import { filterForm, filtersFromAddress, pagedArtifacts } from "./artifactlists.js";
import {
  artifactActions,
  capitalized,
  dataClassChip,
  isAssistant,
  openControl,
  provenance,
  providerText,
  withdrawnApproval,
} from "./artifacts.js";
import {
  add,
  badge,
  chip,
  enc,
  h,
  routeLink,
  when,
} from "./dom.js";

export async function reviewPage(view, ctx) {
  document.title = "Review queue · DataOps";
  add(
    view,
    h("h1", {}, "Review queue"),
    h(
      "p",
      { class: "subtitle" },
      "Artifacts waiting for a decision. Only approved artifacts count as proof for a task.",
    ),
  );
  const values = filtersFromAddress();
  delete values.status; // the queue is what waits for review
  const users = await ctx.users();
  add(view, filterForm({ ctx, users, values, withStatus: false }));
  const body = h("div", {});
  add(view, body);
  // The page's tasks and bundles come with it (include=context): one call per page.
  const contextLink = (kind, id, titles) =>
    routeLink(`/work/${kind}/${enc(id)}`, (titles && titles[id]) || id, { class: "context" });
  const render = (items, page) =>
    h(
      "ul",
      { class: "artifacts review-list", "aria-label": "Artifacts waiting for review" },
      items.map((a) => {
        return h(
          "li",
          { class: ["artifact", "card"], dataset: { artifactId: a.id, status: a.status } },
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
          h(
            "div",
            { class: "artifact-context" },
            a.taskId
              ? h(
                  "span",
                  {},
                  "Task: ",
                  contextLink("tasks", a.taskId, page.tasks),
                )
              : null,
            a.bundleId
              ? h(
                  "span",
                  {},
                  "Bundle: ",
                  contextLink("bundles", a.bundleId, page.bundles),
                )
              : null,
            !a.taskId && !a.bundleId ? h("span", {}, "Not attached to a task or bundle") : null,
            h("span", {}, `Registered ${when(a.createdAt)}`),
            a.assistantJobId ? h("span", {}, `Assistant job ${a.assistantJobId}`) : null,
          ),
          provenance(a, users),
          withdrawnApproval(a)
            ? h("p", { class: "review-note" }, capitalized(a.reviewReason), ".")
            : null,
          a.description ? h("p", {}, a.description) : null,
          artifactActions(a, { ctx, candidates: [] }),
        );
      }),
    );
  await pagedArtifacts(
    body,
    { ...values, status: "needs-review", include: "context" },
    render,
    Object.keys(values).length
      ? "Nothing waiting for review matches these filters."
      : "Nothing is waiting for review.",
  );
}
