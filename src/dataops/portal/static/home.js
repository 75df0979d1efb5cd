// Home: today's and overdue tasks, tasks blocked on missing proof, artifacts waiting for
// review. Each lane loads on its own and shows its own "unavailable" state on failure.
import { api, listAll } from "./api.js";
import {
  add,
  addDays,
  badge,
  chip,
  dueText,
  empty,
  enc,
  errorBox,
  fill,
  h,
  loading,
  pool,
  routeLink,
  todayIso,
} from "./dom.js";
import { hasProofRequirement, kindChip, loadProof } from "./proof.js";

const BLOCKED_WINDOW_DAYS = 14;
const BLOCKED_MAX_TASKS = 60;

function lane(id, title, description) {
  const body = h("div", { class: "lane-body" }, loading());
  const root = h(
    "section",
    { class: "card lane", id, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title),
    description ? h("p", { class: "lane-help" }, description) : null,
    body,
  );
  return { root, body };
}

async function openTasks() {
  const [todo, waiting] = await Promise.all([
    listAll("/work/api/tasks", { status: "todo" }),
    listAll("/work/api/tasks", { status: "waiting" }),
  ]);
  const items = [...todo.items, ...waiting.items];
  items.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  return { items, complete: todo.complete && waiting.complete };
}

function bundleName(bundles, id) {
  if (!id) return null;
  const bundle = bundles && bundles.get(id);
  return routeLink(`/work/bundles/${enc(id)}`, bundle ? bundle.title : "bundle", {
    class: "context",
  });
}

function taskRow(task, bundles, extra) {
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
      h("span", { class: "due" }, dueText(task.date)),
      task.bundleId ? [" · ", bundleName(bundles, task.bundleId)] : null,
    ),
    extra,
  );
}

function taskList(tasks, bundles, emptyText) {
  if (!tasks.length) return empty(emptyText);
  return h(
    "ul",
    { class: "rows" },
    tasks.map((t) => taskRow(t, bundles)),
  );
}

export async function homePage(view, ctx) {
  document.title = "Home · DataOps";
  const today = todayIso();
  const dueToday = lane("lane-today", "Due today", null);
  const overdue = lane("lane-overdue", "Overdue", null);
  const blocked = lane(
    "lane-blocked",
    "Blocked on missing proof",
    `Open tasks due within ${BLOCKED_WINDOW_DAYS} days (or overdue) that the server will not let you complete yet.`,
  );
  const review = lane("lane-review", "Waiting for review", "Artifacts marked “needs review”.");
  add(
    view,
    h("h1", {}, `Good to see you, ${ctx.user.name || ctx.user.email}`),
    h("p", { class: "subtitle" }, `Today is ${today}.`),
    h("div", { class: "lanes" }, dueToday.root, overdue.root, blocked.root, review.root),
  );

  const bundlesPromise = listAll("/work/api/bundles")
    .then((page) => new Map(page.items.map((b) => [b.id, b])))
    .catch(() => null);
  const tasksPromise = openTasks();

  const taskLanes = (async () => {
    let tasks;
    try {
      tasks = await tasksPromise;
    } catch (error) {
      fill(dueToday.body, errorBox("Tasks are", error));
      fill(overdue.body, errorBox("Tasks are", error));
      return;
    }
    const bundles = await bundlesPromise;
    const partial = tasks.complete
      ? null
      : h("p", { class: "notice" }, "Only the first pages of tasks are shown.");
    fill(
      dueToday.body,
      taskList(
        tasks.items.filter((t) => t.date === today),
        bundles,
        "Nothing is due today.",
      ),
      partial,
    );
    fill(
      overdue.body,
      taskList(
        tasks.items.filter((t) => t.date < today),
        bundles,
        "Nothing is overdue.",
      ),
      partial,
    );
  })();

  const blockedLane = (async () => {
    let tasks;
    try {
      tasks = await tasksPromise;
    } catch (error) {
      fill(blocked.body, errorBox("Blocked tasks are", error));
      return;
    }
    const horizon = addDays(today, BLOCKED_WINDOW_DAYS);
    const candidates = tasks.items
      .filter((t) => t.status === "todo" && t.date <= horizon && hasProofRequirement(t))
      .slice(0, BLOCKED_MAX_TASKS);
    const results = await pool(candidates, 6, (t) => loadProof(t.id));
    const bundles = await bundlesPromise;
    const rows = [];
    let failed = 0;
    results.forEach((result, index) => {
      if (!result.ok) {
        failed += 1;
        return;
      }
      if (result.value.canComplete) return;
      const missing = result.value.requirements.filter((r) => !r.satisfied);
      rows.push(
        taskRow(
          candidates[index],
          bundles,
          h(
            "ul",
            { class: "missing-list" },
            missing.map((r) =>
              h("li", {}, kindChip(r.kind), " ", h("strong", {}, r.label), " — ", r.reason || ""),
            ),
          ),
        ),
      );
    });
    fill(
      blocked.body,
      failed
        ? errorBox(
            "Proof state is",
            new Error(`the proof check failed for ${failed} of ${candidates.length} tasks`),
          )
        : null,
      rows.length
        ? h("ul", { class: "rows" }, rows)
        : failed
          ? null
          : empty("No open task is blocked on missing proof."),
    );
  })();

  const reviewLane = (async () => {
    let page;
    try {
      page = await api("/work/api/artifacts", { query: { status: "needs-review", limit: 20 } });
    } catch (error) {
      fill(review.body, errorBox("The review queue is", error));
      return;
    }
    const bundles = await bundlesPromise;
    const known = await tasksPromise.then(
      (tasks) => new Map(tasks.items.map((t) => [t.id, t])),
      () => new Map(),
    );
    if (!page.items.length) {
      fill(review.body, empty("Nothing is waiting for review."));
      return;
    }
    fill(
      review.body,
      h(
        "ul",
        { class: "rows" },
        page.items.map((a) =>
          h(
            "li",
            { class: "row" },
            h(
              "div",
              { class: "row-main" },
              routeLink(`/work/artifacts/${enc(a.id)}`, a.title, { class: "row-title" }),
              " ",
              badge(a.status),
              a.sourceType === "assistant-output" || a.assistantJobId
                ? [" ", chip("assistant output", "assistant")]
                : null,
            ),
            h(
              "div",
              { class: "row-meta" },
              a.type,
              a.taskId
                ? [
                    " · ",
                    routeLink(
                      `/work/tasks/${enc(a.taskId)}`,
                      known.has(a.taskId) ? known.get(a.taskId).description : "its task",
                      { class: "context" },
                    ),
                  ]
                : null,
              a.bundleId ? [" · ", bundleName(bundles, a.bundleId)] : null,
            ),
          ),
        ),
      ),
      h(
        "p",
        { class: "lane-more" },
        routeLink(
          "/work/review",
          page.nextCursor ? "See the whole review queue" : "Open the review queue",
        ),
      ),
    );
  })();

  await Promise.all([taskLanes, blockedLane, reviewLane]);
}
