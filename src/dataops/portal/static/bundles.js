// Bundles: the list, and one bundle with its tasks (status, date, proof state), links
// and artifacts.
import { api, listAll } from "./api.js";
import { artifactList, attachForm, registerForm } from "./artifacts.js";
import {
  add,
  badge,
  busy,
  dueText,
  empty,
  enc,
  errorBox,
  externalLink,
  field,
  fill,
  h,
  headedTable,
  labelCells,
  loading,
  messageArea,
  routeLink,
} from "./dom.js";
import { bundlePlanning } from "./planning.js";
import { isOpen, proofSummary } from "./proof.js";

const BUNDLES_PAGE = 50;

function bundleRow(b) {
  return h(
    "tr",
    {},
    h("td", {}, routeLink(`/work/bundles/${enc(b.id)}`, b.title)),
    h("td", {}, b.anchorDate || "—"),
    h("td", {}, b.stage || "—"),
    h("td", {}, badge(b.status)),
    h("td", {}, String(b.artifactCount ?? (b.artifactRefs || []).length)),
  );
}

/** A page of bundles at a time (the server counts each one's artifacts: its own and its
 * tasks', once each), "More bundles" for the next: one call per page shown. */
export async function bundlesPage(view, ctx) {
  document.title = "Bundles · DataOps";
  add(view, h("h1", {}, "Bundles"));
  const body = h("div", {}, loading());
  add(view, body);
  let cursor = null;
  const next = () =>
    api("/work/api/bundles", {
      query: { include: "artifactCount", limit: BUNDLES_PAGE, cursor },
    }).then((page) => {
      cursor = page.nextCursor;
      return page.items;
    });
  let first;
  try {
    first = await next();
  } catch (error) {
    fill(body, errorBox("Bundles are", error));
    return;
  }
  if (!first.length) {
    fill(body, empty("No bundles yet. A bundle is created from a workflow template."));
    return;
  }
  const rows = h("tbody", {}, first.map(bundleRow));
  const table = headedTable(
    "table",
    "Bundles, in the order they were created",
    ["Bundle", "Anchor date", "Stage", "Status", "Artifacts"],
    rows,
  );
  const more = h("button", { type: "button", class: "more", hidden: !cursor }, "More bundles");
  const message = h("p", { role: "status", class: "list-count" });
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const items = await next();
      const added = items.map(bundleRow);
      add(rows, added);
      labelCells(table);
      message.textContent = `${items.length} more shown.`;
      const link = added.length ? added[0].querySelector("a") : null;
      if (link) link.focus();
    } catch (error) {
      message.textContent = `More bundles could not be loaded: ${error.message}`;
    } finally {
      more.disabled = false;
      more.hidden = !cursor;
    }
  });
  fill(body, h("div", { class: "table-wrap" }, table), more, message);
}

function linksSection(bundle, ctx) {
  const links = bundle.bundleLinks || [];
  const section = h(
    "section",
    { class: "card", "aria-labelledby": "links-title" },
    h("h2", { id: "links-title" }, "Bundle links"),
  );
  if (!links.length) {
    add(section, empty("This bundle has no links."));
  } else {
    add(
      section,
      h(
        "ul",
        { class: "links" },
        links.map((link) =>
          h(
            "li",
            {},
            h("strong", {}, link.name),
            ": ",
            link.url
              ? externalLink(link.url, link.url)
              : h("span", { class: "missing-text" }, "not set"),
          ),
        ),
      ),
    );
  }
  if ((bundle.references || []).length) {
    add(
      section,
      h("h3", {}, "References"),
      h(
        "ul",
        { class: "links" },
        bundle.references.map((ref) =>
          h("li", {}, ref.url ? externalLink(ref.url, ref.title) : ref.title),
        ),
      ),
    );
  }
  if (ctx.canWrite && links.length) {
    const form = linksForm(bundle, ctx);
    add(section, h("details", { class: "edit-links" }, h("summary", {}, "Edit links"), form));
  }
  return section;
}

/** Set or change the URL of each of the bundle's links. */
function linksForm(bundle, ctx) {
  const links = bundle.bundleLinks || [];
  const inputs = links.map((link) =>
    h("input", { type: "url", name: link.name, value: link.url || "", placeholder: "https://…" }),
  );
  const message = messageArea();
  const save = h("button", { type: "submit" }, "Save links");
  const form = h(
    "form",
    { class: "form links-form", "aria-label": "Edit bundle links", novalidate: true },
    h(
      "div",
      { class: "grid-2" },
      links.map((link, i) => field(link.name, inputs[i])),
    ),
    save,
    message.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const bundleLinks = links.map((link, i) => ({
      name: link.name,
      url: inputs[i].value.trim() || null,
    }));
    busy(save, async () => {
      try {
        await api(`/work/api/bundles/${enc(bundle.id)}`, {
          method: "PATCH",
          json: { bundleLinks, expectedVersion: bundle.version },
        });
        ctx.reload("Bundle links saved.");
      } catch (error) {
        if (error.versionMismatch)
          ctx.reload("The bundle changed; it has been reloaded.", "error");
        else message.error(`Could not save the links: ${error.full}`);
      }
    });
  });
  return form;
}

const TASK_PAGE = 100;

function taskRowOf(t) {
  return h(
    "tr",
    { dataset: { taskId: t.id } },
    h("td", {}, routeLink(`/work/tasks/${enc(t.id)}`, t.description)),
    h("td", { class: "nowrap" }, dueText(t.date, isOpen(t))),
    h("td", {}, badge(t.status)),
    h("td", {}, proofSummary(t, t.proof)),
    h(
      "td",
      {},
      (t.artifactRefs || []).length
        ? h(
            "ul",
            { class: "ref-list" },
            t.artifactRefs.map((ref) =>
              h(
                "li",
                {},
                routeLink(`/work/artifacts/${enc(ref.artifactId)}`, ref.title || ref.artifactId),
                " ",
                badge(ref.status),
              ),
            ),
          )
        : "—",
    ),
  );
}

/** The bundle's tasks in date order, each open one with its proof state, as one call
 * gives them (GET /api/tasks?bundleId=&include=proof&count=true); "Show more" pages on. */
function taskTable(bundleId, first) {
  if (!first.items.length) return empty("This bundle has no tasks.");
  const tbody = h("tbody", {}, first.items.map(taskRowOf));
  const table = headedTable(
    "table tasks-table",
    "Tasks of the bundle",
    ["Task", "Date", "Status", "Proof", "Artifacts"],
    tbody,
  );
  let shown = first.items.length;
  const counter = h("p", { class: "hint tasks-count", role: "status" });
  const setCount = () => {
    counter.textContent =
      shown < first.count ? `${shown} of ${first.count} tasks shown.` : `${first.count} tasks.`;
  };
  setCount();
  let cursor = first.nextCursor;
  const wrap = h("div", {}, counter, h("div", { class: "table-wrap" }, table));
  if (!cursor) return wrap;
  const more = h("button", { type: "button", class: "more" }, "Show more tasks");
  add(wrap, more);
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await api("/work/api/tasks", {
        query: { bundleId, include: "proof", limit: TASK_PAGE, cursor },
      });
      const added = page.items.map(taskRowOf);
      add(tbody, added);
      shown += added.length;
      setCount();
      cursor = page.nextCursor;
      more.hidden = !cursor;
      if (added.length) added[0].querySelector("a").focus();
    } catch (error) {
      add(wrap, errorBox("More tasks are", error));
    } finally {
      more.disabled = false;
    }
  });
  return wrap;
}

export async function bundlePage(view, ctx, bundleId) {
  const bundle = await api(`/work/api/bundles/${enc(bundleId)}`);
  document.title = `${bundle.title} · DataOps`;
  add(
    view,
    h(
      "nav",
      { class: "breadcrumb", "aria-label": "Breadcrumb" },
      routeLink("/work/bundles", "Bundles"),
      " › ",
      h("span", { "aria-current": "page" }, bundle.title),
    ),
    h("h1", {}, bundle.title),
    h(
      "p",
      { class: "subtitle" },
      badge(bundle.status),
      ` · stage ${bundle.stage || "—"} · anchor date ${bundle.anchorDate || "—"}`,
    ),
    bundle.description ? h("p", {}, bundle.description) : null,
  );
  add(view, bundlePlanning(ctx, bundle, await ctx.users()));

  const tasksBody = h("div", {}, loading());
  add(
    view,
    h(
      "section",
      { class: "card", "aria-labelledby": "tasks-title" },
      h("h2", { id: "tasks-title" }, "Tasks"),
      tasksBody,
    ),
    linksSection(bundle, ctx),
  );
  const artifactsBody = h("div", {}, loading());
  const artifactsCard = h(
    "section",
    { class: "card", "aria-labelledby": "bundle-artifacts-title" },
    h("h2", { id: "bundle-artifacts-title" }, "Bundle artifacts"),
    h(
      "p",
      { class: "hint" },
      "Approved artifacts attached to the bundle count as proof for its artifact-gated tasks.",
    ),
    artifactsBody,
  );
  add(view, artifactsCard);

  const tasksDone = loadTasks(tasksBody, bundle);
  const artifactsDone = loadArtifacts(artifactsCard, artifactsBody, bundle, ctx);
  await Promise.all([tasksDone, artifactsDone]);
}

async function loadTasks(tasksBody, bundle) {
  try {
    const first = await api("/work/api/tasks", {
      query: { bundleId: bundle.id, include: "proof", count: "true", limit: TASK_PAGE },
    });
    fill(tasksBody, taskTable(bundle.id, first));
  } catch (error) {
    fill(tasksBody, errorBox("Tasks are", error));
  }
}

/** The bundle's artifacts, then (for contributors) the register and attach forms. */
async function loadArtifacts(artifactsCard, artifactsBody, bundle, ctx) {
  try {
    const [page, users] = await Promise.all([
      listAll("/work/api/artifacts", { bundleId: bundle.id }),
      ctx.users(),
    ]);
    fill(
      artifactsBody,
      artifactList(page.items, {
        ctx,
        users,
        candidates: page.items,
        emptyText: "No artifacts are attached to the bundle.",
        label: "Artifacts of the bundle",
      }),
    );
  } catch (error) {
    fill(artifactsBody, errorBox("The bundle's artifacts are", error));
  }
  if (ctx.canContribute) {
    add(
      artifactsCard,
      h("div", { class: "forms" }, registerForm({ ctx, bundle }), attachForm({ ctx, bundle })),
    );
  }
}
