// Home: today's and overdue tasks, tasks blocked on missing proof, artifacts waiting for
// review, done tasks whose proof was withdrawn, evidence about to expire, and the
// workspace's review policy. One call (GET /api/overview) brings every lane's first page
// and its count, judged on the server; "Show more" pages a lane on through the route
// that serves it alone (GET /api/tasks with the lane's query; the expiring lane
// GET /api/artifacts?expiringWithinDays=). However big the workspace, the page makes the
// same few calls.
import { api } from "./api.js";
import { expiryNote, selfApprovedFlag, taskRow } from "./cards.js";
import {
  add,
  badge,
  busy,
  chip,
  empty,
  enc,
  errorBox,
  fill,
  h,
  loading,
  messageArea,
  routeLink,
  todayIso,
  userName,
  when,
} from "./dom.js";
import { kindChip } from "./proof.js";

const LANE_LIMIT = 20;
const EXPIRING_WINDOW_DAYS = 14; // services/overview.py EXPIRING_DAYS

const POLICY_TEXT = {
  "self-allowed": "Self-approval allowed",
  independent: "Independent review",
};
const POLICY_HELP = {
  "self-allowed":
    "Whoever creates an artifact may also approve it (the one-operator flow); such approvals are marked “self-approved”.",
  independent: "Nobody approves or rejects an artifact they created: another reviewer decides.",
};

/** The lanes in page order: what each shows, and the query (of GET /api/tasks unless
 * the lane names its `route`) that pages it on. */
const LANES = [
  {
    key: "today",
    title: "Due today",
    none: "Nothing is due today.",
    more: { due: "today", include: "bundles" },
  },
  {
    key: "overdue",
    title: "Overdue",
    none: "Nothing is overdue.",
    more: { due: "overdue", include: "bundles" },
  },
  {
    key: "blocked",
    title: "Blocked on missing proof",
    help: "Open tasks due today or earlier that the server will not let you complete yet.",
    none: "No due task is blocked on missing proof.",
    more: { blocked: "true", include: "proof,bundles" },
  },
  {
    key: "review",
    title: "Waiting for review",
    help: "Artifacts marked “needs review”.",
    none: "Nothing is waiting for review.",
    artifacts: true,
  },
  {
    key: "withdrawn",
    title: "Proof withdrawn",
    help: "Done tasks whose completion proof no longer holds (rejected, archived, superseded, changed or expired evidence).",
    none: "Every done task's proof still holds.",
    more: { proofWithdrawn: "true", include: "bundles" },
  },
  {
    key: "expiring",
    title: "Evidence expiring",
    help: `Approved artifacts whose validity ends within ${EXPIRING_WINDOW_DAYS} days.`,
    none: `No approved evidence expires in the next ${EXPIRING_WINDOW_DAYS} days.`,
    artifacts: true,
    route: "/work/api/artifacts",
    more: { expiringWithinDays: EXPIRING_WINDOW_DAYS, include: "context" },
  },
];

function titleLink(kind, id, titles, fallback) {
  if (!id) return null;
  const title = titles && titles[id];
  return routeLink(`/work/${kind}/${enc(id)}`, title || fallback, { class: "context" });
}

function missingList(task) {
  const missing = (task.proof && task.proof.missing) || [];
  if (!missing.length) return null;
  return h(
    "ul",
    { class: "missing-list" },
    missing.map((r) =>
      h("li", {}, kindChip(r.kind), " ", h("strong", {}, r.label), " — ", r.reason || ""),
    ),
  );
}

function artifactRow(a, lane) {
  return h(
    "li",
    { class: "row", dataset: { artifactId: a.id } },
    h(
      "div",
      { class: "row-main" },
      routeLink(`/work/artifacts/${enc(a.id)}`, a.title, { class: "row-title" }),
      " ",
      lane.key === "expiring" ? expiryNote(a) : badge(a.status),
      lane.key === "expiring" && a.selfReviewed ? [" ", selfApprovedFlag()] : null,
      lane.key === "review" && (a.sourceType === "assistant-output" || a.assistantJobId)
        ? [" ", chip("assistant output", "assistant")]
        : null,
    ),
    h(
      "div",
      { class: "row-meta" },
      a.type,
      a.taskId ? [" · ", titleLink("tasks", a.taskId, lane.tasks, "its task")] : null,
      a.bundleId ? [" · ", titleLink("bundles", a.bundleId, lane.bundles, "its bundle")] : null,
    ),
  );
}

function countText(count, shown) {
  if (count === null || count === undefined) return `${shown} shown (more to check)`;
  return String(count);
}

/** One lane: its first page from the overview, its count, "Show more" through the
 * lane's own route. */
function laneCard(lane, first) {
  const id = `lane-${lane.key}`;
  const rows = h("ul", { class: "rows" });
  const body = h("div", { class: "lane-body" });
  const status = h("p", { class: "sr-only", role: "status" });
  const counter = h("span", { class: "lane-count" });
  const at = { lane, rows, body, status, cursor: first.nextCursor, shown: 0 };
  at.setCount = () => {
    counter.textContent = ` · ${countText(first.count, at.shown)}`;
  };
  const card = h(
    "section",
    { class: "card lane", id, "aria-labelledby": `${id}-title`, dataset: { lane: lane.key } },
    h("h2", { id: `${id}-title` }, lane.title, counter),
    lane.help ? h("p", { class: "lane-help" }, lane.help) : null,
    body,
    status,
  );
  at.shown = first.items.length;
  at.setCount();
  if (!first.items.length && !first.nextCursor) {
    add(body, empty(lane.none));
    return card;
  }
  add(rows, laneRows(lane, first.items, first));
  add(body, rows);
  if (lane.key === "review") {
    add(
      body,
      h(
        "p",
        { class: "lane-more" },
        routeLink("/work/review", first.nextCursor ? "See the whole review queue" : "Open the review queue"),
      ),
    );
    return card;
  }
  if (!at.cursor) return card;
  const more = h("button", { type: "button", class: "more" }, "Show more");
  add(body, more);
  more.addEventListener("click", () => showMore(at, more));
  return card;
}

/** A lane's rows: its tasks or artifacts (`titles`: the titles of their tasks and bundles). */
function laneRows(lane, items, titles) {
  return items.map((item) =>
    lane.artifacts
      ? artifactRow(item, { key: lane.key, tasks: titles.tasks, bundles: titles.bundles })
      : taskRow(
          item,
          titleLink("bundles", item.bundleId, titles.bundles, "its bundle"),
          missingList(item),
        ),
  );
}

/** The lane's next page, through its own route. `at`: {lane, rows, body, status, cursor,
 * shown, setCount}. */
async function showMore(at, more) {
  const { lane, rows, body, status } = at;
  more.disabled = true;
  try {
    const page = await api(lane.route || "/work/api/tasks", {
      query: { ...lane.more, cursor: at.cursor, limit: LANE_LIMIT },
    });
    const added = laneRows(lane, page.items, page);
    add(rows, added);
    at.shown += added.length;
    at.setCount();
    at.cursor = page.nextCursor;
    more.hidden = !at.cursor;
    status.textContent = added.length
      ? `${added.length} more shown.`
      : "None in this stretch; show more to look further.";
    if (added.length) added[0].querySelector("a").focus();
  } catch (error) {
    add(body, errorBox(lane.artifacts ? "More artifacts are" : "More tasks are", error));
  } finally {
    more.disabled = false;
  }
}

export async function homePage(view, ctx) {
  document.title = "Home · DataOps";
  const lanes = h("div", { class: "lanes" }, loading());
  add(
    view,
    h("h1", {}, `Good to see you, ${ctx.user.name || ctx.user.email}`),
    h("p", { class: "subtitle" }, `Today is ${todayIso()}.`),
    lanes,
    policyCard(ctx),
  );
  let data;
  try {
    data = await api("/work/api/overview", { query: { limit: LANE_LIMIT } });
  } catch (error) {
    fill(lanes, errorBox("The overview is", error));
    return;
  }
  fill(
    lanes,
    LANES.map((lane) => laneCard(lane, data[lane.key] || { items: [], nextCursor: null, count: 0 })),
  );
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
  return add(card, policyForm(ctx, settings));
}

/** The admins' form: one radio per policy, saved with the settings' version. */
function policyForm(ctx, settings) {
  const current = settings.reviewPolicy;
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
  return form;
}
