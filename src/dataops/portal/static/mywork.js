// My work (GET /api/my-work): my due and overdue tasks, reviews waiting for me, my
// rejected artifacts and my withdrawn proofs — four lists, each paged with "Show more"
// (GET /api/my-work?list=…&cursor=…). The operators' landing page.
import { api } from "./api.js";
import { taskRow } from "./cards.js";
import { add, badge, empty, enc, errorBox, h, routeLink } from "./dom.js";

const MY_WORK = "/work/api/my-work";
const PAGE = 20;

const LISTS = [
  {
    key: "due",
    title: "Due and overdue",
    help: "Open tasks assigned to you, due today or earlier, oldest first.",
    none: "Nothing of yours is due.",
    kind: "task",
  },
  {
    key: "reviews",
    title: "Reviews waiting for you",
    help: "Artifacts that need review and that you may decide.",
    none: "No review is waiting for you.",
    kind: "artifact",
  },
  {
    key: "rejected",
    title: "Your rejected artifacts",
    help: "Artifacts you created that a reviewer rejected.",
    none: "None of your artifacts is rejected.",
    kind: "artifact",
  },
  {
    key: "withdrawn",
    title: "Your withdrawn proofs",
    help: "Tasks you completed whose proof no longer holds.",
    none: "Every task you completed still has its proof.",
    kind: "task",
  },
];

function artifactRow(artifact) {
  return h(
    "li",
    { class: "row" },
    h(
      "div",
      { class: "row-main" },
      routeLink(`/work/artifacts/${enc(artifact.id)}`, artifact.title, { class: "row-title" }),
      " ",
      badge(artifact.status),
    ),
    h(
      "div",
      { class: "row-meta" },
      artifact.type,
      artifact.taskId
        ? [" · ", routeLink(`/work/tasks/${enc(artifact.taskId)}`, "its task", { class: "context" })]
        : null,
      artifact.reviewReason ? [" · ", h("span", { class: "review-reason" }, artifact.reviewReason)] : null,
    ),
  );
}

/** My work: the four lists of GET /api/my-work, each with "Show more". */
export async function myWorkPage(view, ctx) {
  const data = await api(MY_WORK);
  document.title = "My work · DataOps";
  add(
    view,
    h("h1", {}, "My work"),
    h("p", { class: "subtitle" }, `${ctx.user.name || ctx.user.email}, this is what waits for you.`),
  );
  const lanes = h("div", { class: "lanes" });
  add(view, lanes);
  for (const list of LISTS) add(lanes, lane(list, data[list.key] || { items: [], nextCursor: null }));
}

function lane(list, first) {
  const id = `my-${list.key}`;
  const rows = h("ul", { class: "rows" });
  const status = h("p", { class: "sr-only", role: "status" });
  const more = h("button", { type: "button", class: "more" }, "Show more");
  const body = h("div", { class: "lane-body" });
  const bundleLink = (task) =>
    task.bundleId
      ? routeLink(`/work/bundles/${enc(task.bundleId)}`, "its bundle", { class: "context" })
      : null;
  const render = (item) =>
    list.kind === "task" ? taskRow(item, bundleLink(item), null) : artifactRow(item);
  let cursor = first.nextCursor;
  more.hidden = !cursor;
  if (first.items.length) {
    add(rows, first.items.map(render));
    add(body, rows, more);
  } else {
    add(body, empty(list.none));
  }
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await api(MY_WORK, { query: { list: list.key, cursor, limit: PAGE } });
      const added = page.items.map(render);
      add(rows, added);
      cursor = page.nextCursor;
      more.hidden = !cursor;
      status.textContent = `${added.length} more shown.`;
      if (added.length) added[0].querySelector("a").focus();
    } catch (error) {
      add(body, errorBox("More items are", error));
    } finally {
      more.disabled = false;
    }
  });
  return h(
    "section",
    { class: "card lane", id, "aria-labelledby": `${id}-title`, dataset: { list: list.key } },
    h("h2", { id: `${id}-title` }, list.title),
    h("p", { class: "lane-help" }, list.help),
    body,
    status,
  );
}
