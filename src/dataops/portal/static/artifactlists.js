// Artifact lists with server-side filters: the "All artifacts" page (/work/artifacts) and
// the filter bar the review queue shares. Filters live in the address (?status=&type=
// &dataClass=&provider=&createdBy=&createdFrom=&createdTo=), so a filtered list can be
// linked and Back restores it. Pages come from GET /work/api/artifacts, "More" follows
// nextCursor; the count says when more may match (the server does not count).
import { api } from "./api.js";
import { artifactList } from "./artifacts.js";
import {
  ARTIFACT_TYPES,
  DATA_CLASSES,
  PROVIDER_TEXT,
  add,
  empty,
  errorBox,
  field,
  fill,
  h,
  loading,
  select,
} from "./dom.js";

const STATUSES = ["draft", "needs-review", "approved", "rejected", "archived", "superseded"];
const FILTERS = ["status", "type", "dataClass", "provider", "createdBy", "createdFrom", "createdTo"];
const PAGE_SIZE = 25;

/** The filters in the address bar (only known names, empty values dropped). */
export function filtersFromAddress() {
  const params = new URLSearchParams(location.search);
  const out = {};
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value) out[name] = value;
  }
  return out;
}

/**
 * A filter bar; applying it navigates to the same page with the filters in the address.
 * opts: {ctx, users (Map), values, withStatus}
 */
export function filterForm(opts) {
  const { ctx, values, withStatus = true } = opts;
  const form = h(
    "form",
    {
      class: ["card", "artifact-filters"],
      // A search landmark: it only narrows what is shown, it changes nothing.
      role: "search",
      "aria-label": "Filter artifacts",
      on: {
        submit(event) {
          event.preventDefault();
          const data = new FormData(form);
          const params = new URLSearchParams();
          for (const name of FILTERS) {
            const value = data.get(name);
            if (value) params.set(name, String(value));
          }
          const query = params.toString();
          ctx.navigate(location.pathname + (query ? `?${query}` : ""));
        },
      },
    },
    filterFields(opts.users, values, withStatus),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit" }, "Apply filters"),
      Object.keys(values).some((k) => k !== "status" || withStatus)
        ? h(
            "button",
            {
              type: "button",
              class: "quiet",
              on: { click: () => ctx.navigate(location.pathname) },
            },
            "Clear filters",
          )
        : null,
    ),
  );
  return form;
}

/** One control per filter, holding its value from the address (`values`). */
function filterFields(users, values, withStatus) {
  const choice = (name, options, label) => {
    const control = select(name, [["", "Any"], ...options], values[name] || "");
    control.id = `filter-${name}`;
    return field(label, control);
  };
  const people = [...users.values()]
    .map((u) => [u.id, u.name || u.email || u.id])
    .sort((a, b) => a[1].localeCompare(b[1]));
  const date = (name, label) =>
    field(
      label,
      h("input", { type: "date", name, id: `filter-${name}`, value: values[name] || "" }),
    );
  return h(
    "div",
    { class: "grid-filters" },
    withStatus ? choice("status", STATUSES.map((s) => [s, s.replace("-", " ")]), "Status") : null,
    choice("type", ARTIFACT_TYPES.map((t) => [t, t]), "Type"),
    choice("dataClass", DATA_CLASSES.map((c) => [c, c]), "Data class"),
    choice("provider", Object.entries(PROVIDER_TEXT), "Provider"),
    choice("createdBy", people, "Created by"),
    date("createdFrom", "Created from"),
    date("createdTo", "Created to"),
  );
}

/**
 * Load pages of GET /work/api/artifacts with `query` into `body`: a count line, the items
 * (`render(items, page)` gives the list element for one page's items; `page` is the whole
 * response, with what `query.include` asked for), and "More artifacts".
 */
export async function pagedArtifacts(body, query, render, noneText) {
  const status = h("p", { class: "list-count", role: "status" });
  const lists = h("div", { class: "artifact-pages" });
  const more = h("button", { type: "button", class: "more" }, "More artifacts");
  let cursor = null;
  let shown = 0;
  let last = null;
  const next = async () => {
    const page = await api("/work/api/artifacts", {
      query: { ...query, limit: PAGE_SIZE, cursor },
    });
    cursor = page.nextCursor;
    shown += page.items.length;
    last = page;
    more.hidden = !cursor;
    status.textContent = cursor
      ? `Showing ${shown} ${shown === 1 ? "artifact" : "artifacts"} — more may match.`
      : `${shown} ${shown === 1 ? "artifact matches" : "artifacts match"}.`;
    return page.items;
  };
  fill(body, loading());
  let first;
  try {
    first = await next();
  } catch (error) {
    fill(body, errorBox("The artifacts are", error));
    return;
  }
  if (!shown && !cursor) {
    fill(body, empty(noneText));
    return;
  }
  if (first.length) add(lists, render(first, last));
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const items = await next();
      if (items.length) {
        const list = render(items, last);
        add(lists, list);
        const link = list.querySelector("a");
        if (link) link.focus();
      } else {
        more.focus();
      }
    } catch (error) {
      add(body, errorBox("The next artifacts are", error));
    } finally {
      more.disabled = false;
    }
  });
  fill(body, status, lists, more);
}

export async function allArtifactsPage(view, ctx) {
  document.title = "All artifacts · DataOps";
  const values = filtersFromAddress();
  const users = await ctx.users();
  add(
    view,
    h("h1", {}, "All artifacts"),
    h(
      "p",
      { class: "subtitle" },
      "Every registered artifact, oldest first. Filter by status, type, data class, " +
        "provider, who registered it and when.",
    ),
    filterForm({ ctx, users, values }),
  );
  const body = h("div", {});
  add(view, body);
  await pagedArtifacts(
    body,
    values,
    (items) => artifactList(items, { ctx, users, candidates: [], label: "Artifacts" }),
    Object.keys(values).length ? "No artifact matches these filters." : "No artifacts yet.",
  );
}
