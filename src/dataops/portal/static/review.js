// Review queue: every needs-review artifact with its task and bundle.
import { filterForm, filtersFromAddress, pagedArtifacts } from "./artifactlists.js";
import { artifactActions } from "./artifacts.js";
import { artifactCard, capitalized, withdrawnApproval } from "./cards.js";
import { add, enc, h, routeLink, when } from "./dom.js";

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
      items.map((a) =>
        artifactCard(a, {
          variant: "card",
          users,
          context: h(
            "div",
            { class: "artifact-context" },
            a.taskId ? h("span", {}, "Task: ", contextLink("tasks", a.taskId, page.tasks)) : null,
            a.bundleId
              ? h("span", {}, "Bundle: ", contextLink("bundles", a.bundleId, page.bundles))
              : null,
            !a.taskId && !a.bundleId ? h("span", {}, "Not attached to a task or bundle") : null,
            h("span", {}, `Registered ${when(a.createdAt)}`),
            a.assistantJobId ? h("span", {}, `Assistant job ${a.assistantJobId}`) : null,
          ),
          notes: [
            withdrawnApproval(a)
              ? h("p", { class: "review-note" }, capitalized(a.reviewReason), ".")
              : null,
            a.description ? h("p", {}, a.description) : null,
          ],
          actions: artifactActions(a, { ctx, candidates: [] }),
        }),
      ),
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
