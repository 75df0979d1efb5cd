// Search: one box over tasks, bundles and artifacts (GET /work/api/search), the header's
// form and the results page /work/search?q=&kind=, paged with "More results".
import { api } from "./api.js";
import { add, badge, chip, empty, enc, errorBox, fill, h, loading, routeLink, select } from "./dom.js";

const KINDS = [
  ["", "Everything"],
  ["task", "Tasks"],
  ["bundle", "Bundles"],
  ["artifact", "Artifacts"],
];
const PATHS = { task: "tasks", bundle: "bundles", artifact: "artifacts" };
const KIND_LABEL = { task: "Task", bundle: "Bundle", artifact: "Artifact" };
const PAGE_SIZE = 20;

function searchPath(q, kind) {
  const params = new URLSearchParams({ q });
  if (kind) params.set("kind", kind);
  return `/work/search?${params}`;
}

/** The header's search form: leads to the results page. */
export function headerSearch(navigate) {
  const input = h("input", {
    type: "search",
    name: "q",
    id: "header-search",
    placeholder: "Search",
    "aria-label": "Search tasks, bundles and artifacts",
    autocomplete: "off",
    minlength: "2",
    required: true,
  });
  if (location.pathname.startsWith("/work/search")) {
    input.value = new URLSearchParams(location.search).get("q") || "";
  }
  return h(
    "form",
    {
      role: "search",
      class: "header-search",
      on: {
        submit(event) {
          event.preventDefault();
          const q = input.value.trim();
          if (q) navigate(searchPath(q, ""));
        },
      },
    },
    input,
    h("button", { type: "submit", class: "search-go" }, "Search"),
  );
}

export async function searchPage(view, ctx) {
  const params = new URLSearchParams(location.search);
  const q = (params.get("q") || "").trim();
  const kind = PATHS[params.get("kind")] ? params.get("kind") : "";
  document.title = q ? `Search: ${q} · DataOps` : "Search · DataOps";
  add(
    view,
    h("h1", {}, "Search"),
    h(
      "p",
      { class: "subtitle" },
      "Finds tasks, bundles and artifacts holding every word you type: in titles, " +
        "descriptions, tags and link hosts (whole words, any case).",
    ),
    searchForm(ctx, q, kind),
  );
  const results = h("div", { class: "search-results" });
  add(view, results);
  if (!q) {
    fill(results, empty("Type at least two characters to search."));
    return;
  }
  await showResults(results, q, kind);
}

/** The results page's form: the words and which kind of record to show. */
function searchForm(ctx, q, kind) {
  const input = h("input", {
    type: "search",
    name: "q",
    id: "search-q",
    value: q,
    minlength: "2",
    required: true,
  });
  const kindSelect = select("kind", KINDS, kind);
  kindSelect.id = "search-kind";
  return h(
    "form",
    {
      role: "search",
      class: "search-form",
      "aria-label": "Search",
      on: {
        submit(event) {
          event.preventDefault();
          const text = input.value.trim();
          if (text) ctx.navigate(searchPath(text, kindSelect.value));
        },
      },
    },
    h(
      "div",
      { class: "search-fields" },
      h("label", { for: "search-q" }, "Words"),
      input,
      h("label", { for: "search-kind" }, "Show"),
      kindSelect,
      h("button", { type: "submit" }, "Search"),
    ),
  );
}

/** The hits for `q` in `results`, a page at a time ("More results"). */
async function showResults(results, q, kind) {
  const list = h("ul", { class: "search-hits", "aria-label": `Results for ${q}` });
  const status = h("p", { class: "search-count", role: "status" });
  const more = h("button", { type: "button", class: "more" }, "More results");
  let cursor = null;
  let shown = 0;
  const loadPage = async () => {
    const page = await api("/work/api/search", {
      query: { q, kind, limit: PAGE_SIZE, cursor },
    });
    add(list, page.items.map(hitItem));
    shown += page.items.length;
    cursor = page.nextCursor;
    more.hidden = !cursor;
    status.textContent = cursor
      ? `Showing the first ${shown} results — more match.`
      : `${shown} ${shown === 1 ? "result" : "results"}.`;
    return page.items.length;
  };
  fill(results, loading("Searching…"));
  try {
    await loadPage();
  } catch (error) {
    fill(results, errorBox("The search is", error));
    return;
  }
  if (!shown) {
    fill(results, status, empty(`Nothing holds all of “${q}”.`));
    return;
  }
  more.addEventListener("click", async () => {
    more.disabled = true;
    const before = list.children.length;
    try {
      await loadPage();
      const first = list.children[before];
      const link = first && first.querySelector("a");
      if (link) link.focus();
    } catch (error) {
      add(results, errorBox("The next results are", error));
    } finally {
      more.disabled = false;
    }
  });
  fill(results, status, list, more);
}

function hitItem(hit) {
  return h(
    "li",
    { class: ["search-hit", "card"], dataset: { kind: hit.kind, id: hit.id } },
    h(
      "div",
      { class: "search-hit-head" },
      chip(KIND_LABEL[hit.kind] || hit.kind, `kind-${hit.kind}`),
      " ",
      routeLink(`/work/${PATHS[hit.kind]}/${enc(hit.id)}`, hit.title || hit.id, {
        class: "search-hit-title",
      }),
      " ",
      badge(hit.status),
    ),
    hit.snippet ? h("p", { class: "search-snippet" }, hit.snippet) : null,
  );
}
