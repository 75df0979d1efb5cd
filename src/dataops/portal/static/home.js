// Home: today's and overdue tasks, tasks blocked on missing proof, artifacts waiting for
// review, done tasks whose proof was withdrawn, evidence about to expire, and the
// workspace's review policy. Each lane loads on its own and shows its own "unavailable"
// state on failure.
import { api, listAll, recordCache } from "./api.js";
import { expiryNote, selfApprovedFlag } from "./artifacts.js";
import {
  add,
  addDays,
  badge,
  busy,
  chip,
  dueText,
  empty,
  enc,
  errorBox,
  fill,
  h,
  loading,
  messageArea,
  pool,
  routeLink,
  todayIso,
  userName,
  when,
} from "./dom.js";
import { hasProofRequirement, kindChip, loadProof } from "./proof.js";

const BLOCKED_WINDOW_DAYS = 14;
const BLOCKED_MAX_TASKS = 60;
const EXPIRING_WINDOW_DAYS = 14;
const LANE_LIMIT = 20;

const POLICY_TEXT = {
  "self-allowed": "Self-approval allowed",
  independent: "Independent review",
};
const POLICY_HELP = {
  "self-allowed":
    "Whoever creates an artifact may also approve it (the one-operator flow); such approvals are marked “self-approved”.",
  independent: "Nobody approves or rejects an artifact they created: another reviewer decides.",
};

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
  const withdrawn = lane(
    "lane-withdrawn",
    "Proof withdrawn",
    "Done tasks whose completion proof no longer holds (rejected, archived, superseded, changed or expired evidence).",
  );
  const expiring = lane(
    "lane-expiring",
    "Evidence expiring",
    `Approved artifacts whose validity ends within ${EXPIRING_WINDOW_DAYS} days.`,
  );
  add(
    view,
    h("h1", {}, `Good to see you, ${ctx.user.name || ctx.user.email}`),
    h("p", { class: "subtitle" }, `Today is ${today}.`),
    h(
      "div",
      { class: "lanes" },
      dueToday.root,
      overdue.root,
      blocked.root,
      review.root,
      withdrawn.root,
      expiring.root,
    ),
    policyCard(ctx),
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

  const withdrawnLane = (async () => {
    let page;
    try {
      page = await api("/work/api/tasks", { query: { proofWithdrawn: "true", limit: LANE_LIMIT } });
    } catch (error) {
      fill(withdrawn.body, errorBox("Tasks with withdrawn proof are", error));
      return;
    }
    const bundles = await bundlesPromise;
    fill(
      withdrawn.body,
      page.items.length
        ? h(
            "ul",
            { class: "rows" },
            page.items.map((t) =>
              taskRow(
                t,
                bundles,
                h(
                  "ul",
                  { class: "missing-list" },
                  (t.proofWithdrawnReasons || []).map((reason) => h("li", {}, reason)),
                ),
              ),
            ),
          )
        : empty("Every done task's proof still holds."),
      page.nextCursor
        ? h("p", { class: "notice" }, `Only the first ${LANE_LIMIT} are shown.`)
        : null,
    );
  })();

  const expiringLane = (async () => {
    let page;
    try {
      page = await api("/work/api/artifacts", {
        query: { expiringWithinDays: EXPIRING_WINDOW_DAYS, limit: LANE_LIMIT },
      });
    } catch (error) {
      fill(expiring.body, errorBox("Expiring evidence is", error));
      return;
    }
    const bundles = await bundlesPromise;
    const task = recordCache("tasks");
    const taskLink = (id) => {
      const link = routeLink(`/work/tasks/${enc(id)}`, "its task", { class: "context" });
      task(id).then(
        (t) => {
          link.textContent = t.description;
        },
        () => {},
      );
      return link;
    };
    fill(
      expiring.body,
      page.items.length
        ? h(
            "ul",
            { class: "rows" },
            page.items.map((a) =>
              h(
                "li",
                { class: "row", dataset: { artifactId: a.id } },
                h(
                  "div",
                  { class: "row-main" },
                  routeLink(`/work/artifacts/${enc(a.id)}`, a.title, { class: "row-title" }),
                  " ",
                  expiryNote(a),
                  a.selfReviewed ? [" ", selfApprovedFlag()] : null,
                ),
                h(
                  "div",
                  { class: "row-meta" },
                  a.type,
                  a.taskId ? [" · ", taskLink(a.taskId)] : null,
                  a.bundleId ? [" · ", bundleName(bundles, a.bundleId)] : null,
                ),
              ),
            ),
          )
        : empty(`No approved evidence expires in the next ${EXPIRING_WINDOW_DAYS} days.`),
      page.items.length >= LANE_LIMIT
        ? h("p", { class: "notice" }, `The ${LANE_LIMIT} that expire first are shown.`)
        : null,
    );
  })();

  await Promise.all([taskLanes, blockedLane, reviewLane, withdrawnLane, expiringLane]);
}

function lastChanged(ctx, settings) {
  const note = h("p", { class: "hint" }, `Last changed ${when(settings.updatedAt)}.`);
  ctx.users().then((users) => {
    const who = userName(users, settings.updatedBy);
    note.textContent = `Last changed ${when(settings.updatedAt)} by ${who}.`;
  });
  return note;
}

/** The workspace's review policy: shown to everyone, changed by admins (PATCH
 * /api/settings, audited on the server). */
function policyCard(ctx) {
  const settings = ctx.settings;
  const card = h(
    "section",
    { class: "card policy-card", "aria-labelledby": "policy-title" },
    h("h2", { id: "policy-title" }, "Review policy"),
  );
  if (!settings) {
    const problem = new Error("the settings could not be loaded");
    return add(card, errorBox("The review policy is", problem));
  }
  const current = settings.reviewPolicy;
  add(
    card,
    h(
      "p",
      { class: "policy-current" },
      h("strong", {}, POLICY_TEXT[current] || current),
      ` — ${POLICY_HELP[current] || ""}`,
    ),
    settings.updatedBy ? lastChanged(ctx, settings) : null,
  );
  if (!ctx.isAdmin) return card;
  const message = messageArea();
  const name = "reviewPolicy";
  const radios = Object.keys(POLICY_TEXT).map((value) => {
    const id = `policy-${value}`;
    return h(
      "div",
      { class: "radio" },
      h("input", { type: "radio", id, name, value, checked: value === current }),
      h("label", { for: id }, POLICY_TEXT[value]),
    );
  });
  const save = h("button", { type: "submit" }, "Save review policy");
  const form = h(
    "form",
    { class: "form policy-form", "aria-label": "Change the review policy", novalidate: true },
    h("fieldset", { class: "radios" }, h("legend", {}, "Review policy (admins)"), radios),
    save,
    message.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = form.querySelector(`input[name="${name}"]:checked`).value;
    if (chosen === current) {
      message.ok("Nothing to change.");
      return;
    }
    busy(save, async () => {
      try {
        await api("/work/api/settings", {
          method: "PATCH",
          json: { reviewPolicy: chosen, expectedVersion: settings.version },
        });
        ctx.reload(`Review policy set to “${POLICY_TEXT[chosen]}”.`);
      } catch (error) {
        if (error.versionMismatch) {
          ctx.reload("The settings changed meanwhile; they have been reloaded.", "error");
        } else {
          message.error(`Could not change the review policy: ${error.full}`);
        }
      }
    });
  });
  return add(card, form);
}
