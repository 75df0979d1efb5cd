// DataOps operator UI: session, client-side routing under /work, page layout.
// Plain ES modules, no build step. User data is rendered with textContent only.
import { api, listAll, setUnauthorizedHandler } from "./api.js";
import {
  add,
  errorBox,
  fill,
  focusResult,
  h,
  labelCells,
  notFound,
  routeLink,
  setTimeZone,
} from "./dom.js";
import { loginPage } from "./login.js";
import { homePage } from "./home.js";
import { bundlePage, bundlesPage } from "./bundles.js";
import { taskPage } from "./task.js";
import { reviewPage } from "./review.js";
import { artifactPage } from "./artifact.js";
import { templatePage, templatesPage } from "./templates.js";
import { bell, inboxPage, unreadCount } from "./inbox.js";
import { myWorkPage } from "./mywork.js";
import { webhooksPage } from "./webhooks.js";
import { accountPage, peoplePage, tokensPage } from "./admin.js";
import { headerSearch, searchPage } from "./search.js";
import { allArtifactsPage } from "./artifactlists.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const flashArea = document.getElementById("flash");

const state = {
  user: null,
  healthPromise: null,
  usersPromise: null,
  firstRender: true,
  renderedPath: null,
  unread: null,
};

/** Operators land on My work; everyone else on the overview. */
function landsOnMyWork() {
  return Boolean(state.user && state.user.role === "operator");
}

function landingPage(view, ctx) {
  if (landsOnMyWork()) return myWorkPage(view, ctx);
  return homePage(view, ctx);
}

const ROUTES = [
  [/^\/work\/?$/, landingPage, "landing"],
  [/^\/work\/overview\/?$/, homePage, "home"],
  [/^\/work\/my-work\/?$/, myWorkPage, "my-work"],
  [/^\/work\/inbox\/?$/, inboxPage, "inbox"],
  [/^\/work\/templates\/?$/, templatesPage, "templates"],
  [/^\/work\/templates\/([^/]+)\/?$/, templatePage, "templates"],
  [/^\/work\/bundles\/?$/, bundlesPage, "bundles"],
  [/^\/work\/bundles\/([^/]+)\/?$/, bundlePage, "bundles"],
  [/^\/work\/tasks\/([^/]+)\/?$/, taskPage, "bundles"],
  [/^\/work\/review\/?$/, reviewPage, "review"],
  [/^\/work\/artifacts\/?$/, allArtifactsPage, "artifacts"],
  [/^\/work\/artifacts\/([^/]+)\/?$/, artifactPage, "review"],
  [/^\/work\/search\/?$/, searchPage, "search"],
  [/^\/work\/webhooks\/?$/, webhooksPage, "webhooks"],
  [/^\/work\/admin\/users\/?$/, peoplePage, "admin"],
  [/^\/work\/admin\/tokens\/?$/, tokensPage, "admin"],
  [/^\/work\/account\/?$/, accountPage, "account"],
];

/** Only same-app paths are accepted as a post-login destination. */
function safeNext(value) {
  if (typeof value !== "string") return "/work";
  if (value !== "/work" && !value.startsWith("/work/") && !value.startsWith("/work?")) {
    return "/work";
  }
  if (value.startsWith("//") || value.includes("\\") || value.startsWith("/work/login")) {
    return "/work";
  }
  return value;
}

function here() {
  return location.pathname + location.search;
}

function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  flash(null);
  render();
}

function flash(text, kind = "ok") {
  if (!text) {
    flashArea.replaceChildren();
    return;
  }
  fill(
    flashArea,
    h(
      "p",
      { class: ["flash", `flash-${kind}`], role: kind === "error" ? "alert" : "status" },
      text,
    ),
  );
}

function renderChrome(section) {
  if (!state.user) {
    nav.hidden = true;
    who.replaceChildren();
    return;
  }
  nav.hidden = false;
  if (section === "landing") section = landsOnMyWork() ? "my-work" : "home";
  const item = (path, text, key) =>
    h("li", {}, routeLink(path, text, { "aria-current": section === key ? "page" : undefined }));
  fill(
    nav,
    h(
      "ul",
      {},
      item("/work/my-work", "My work", "my-work"),
      item("/work/overview", "Overview", "home"),
      item("/work/bundles", "Bundles", "bundles"),
      item("/work/templates", "Templates", "templates"),
      item("/work/review", "Review queue", "review"),
      item("/work/artifacts", "Artifacts", "artifacts"),
      // Webhooks are managed by an admin alone (the API refuses everyone else).
      state.user.role === "admin" ? item("/work/webhooks", "Webhooks", "webhooks") : null,
      state.user.role === "admin" ? item("/work/admin/users", "People", "admin") : null,
    ),
  );
  const logout = h(
    "button",
    { type: "button", class: "link-button", on: { click: logoutNow } },
    "Log out",
  );
  const bellSlot = h("span", { class: "bell-slot" });
  drawBell(bellSlot, section === "inbox");
  refreshBell();
  fill(
    who,
    headerSearch(navigate),
    bellSlot,
    routeLink("/work/account", state.user.name || state.user.email, {
      class: "who-name",
      title: "Your account",
      "aria-current": section === "account" ? "page" : undefined,
    }),
    h("span", { class: ["role", `role-${state.user.role}`] }, state.user.role),
    logout,
  );
}

function drawBell(slot, current) {
  if (state.unread === null) slot.replaceChildren();
  else fill(slot, bell(state.unread, current));
}

let bellAsk = 0;

/** Ask the server for the unread count and redraw the bell. */
async function refreshBell() {
  if (!state.user) return;
  bellAsk += 1;
  const mine = bellAsk;
  let count;
  try {
    count = await unreadCount();
  } catch {
    return; // keep the last count; the pages say what failed
  }
  if (mine !== bellAsk) return;
  state.unread = count;
  const slot = who.querySelector(".bell-slot");
  if (slot) drawBell(slot, location.pathname.startsWith("/work/inbox"));
}

async function logoutNow() {
  await api("/auth/logout", { method: "POST", allow401: true }).catch(() => {});
  state.user = null;
  state.usersPromise = null;
  state.unread = null;
  navigate("/work/login");
}

function context() {
  const role = state.user ? state.user.role : "viewer";
  return {
    user: state.user,
    // What the role may do (domain/permissions.py; the API refuses the rest anyway):
    // an operator or admin works on tasks and decides reviews; an assistant only adds
    // files and artifacts, submits and attaches them.
    canWrite: role === "operator" || role === "admin",
    canContribute: role === "assistant" || role === "operator" || role === "admin",
    isAdmin: role === "admin",
    // The workspace settings (GET /api/settings), loaded before each page: under the
    // `independent` review policy nobody approves or rejects what they created.
    settings: null,
    navigate,
    flash,
    /** Reload the page after an action; with a message, focus moves to it (the result
     * of what was done), not to the top of the page. */
    async reload(message, kind) {
      const done = render({ keepFlash: true });
      if (message) flash(message, kind);
      await done;
      if (message) focusResult(flashArea.querySelector(".flash"), true);
    },
    reloadAndFocus(message, kind) {
      return this.reload(message, kind);
    },
    refreshBell,
    health() {
      if (!state.healthPromise) {
        state.healthPromise = api("/work/health").catch(() => null);
      }
      return state.healthPromise;
    },
    async users() {
      if (!state.usersPromise) {
        state.usersPromise = listAll("/work/api/users")
          .then((page) => new Map(page.items.map((u) => [u.id, u])))
          .catch(() => new Map());
      }
      return state.usersPromise;
    },
    onLogin(user) {
      state.user = user;
      setTimeZone(user.timezone);
      state.usersPromise = null;
      const params = new URLSearchParams(location.search);
      navigate(safeNext(params.get("next")), { replace: true });
    },
  };
}

let renderCount = 0;

async function render({ keepFlash = false } = {}) {
  renderCount += 1;
  const mine = renderCount;
  const path = location.pathname;
  state.renderedPath = here();
  if (!keepFlash) flash(null);
  if (path === "/work/login" || path === "/work/login/") {
    if (state.user) {
      navigate(safeNext(new URLSearchParams(location.search).get("next")), { replace: true });
      return;
    }
    renderChrome(null);
    const view = h("div", { class: "view view-login" });
    main.replaceChildren(view);
    document.title = "Log in · DataOps";
    loginPage(view, context());
    return;
  }
  if (!state.user) {
    navigate(`/work/login?next=${encodeURIComponent(here())}`, { replace: true });
    return;
  }
  const match = ROUTES.map(([pattern, page, section]) => [path.match(pattern), page, section]).find(
    ([m]) => m,
  );
  const view = h("div", { class: "view" });
  const scroll = keepFlash ? window.scrollY : 0;
  main.replaceChildren(view);
  if (!match) {
    renderChrome(null);
    document.title = "Not found · DataOps";
    fill(view, notFound(path));
    return;
  }
  const [m, page, section] = match;
  renderChrome(section);
  try {
    const params = m.slice(1).map((p) => decodeURIComponent(p));
    const ctx = context();
    ctx.settings = await api("/work/api/settings").catch(() => null);
    if (mine !== renderCount) return;
    await page(view, ctx, ...params);
  } catch (error) {
    if (mine === renderCount && error && error.status === 404) {
      // An unknown ID (task, bundle, artifact, template): say so, with a way back.
      document.title = "Not found · DataOps";
      fill(view, notFound(path));
    } else if (mine === renderCount && error && error.status !== 401) {
      add(view, errorBox("This page is", error));
    }
  }
  if (mine !== renderCount) return;
  if (keepFlash) {
    window.scrollTo(0, scroll);
  } else if (!state.firstRender) {
    const heading = view.querySelector("h1");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
    window.scrollTo(0, 0);
  }
  state.firstRender = false;
}

// Tables stack into labelled cards on a narrow screen: label the cells of whatever a page
// draws, whenever it draws it.
let labelling = false;
new MutationObserver(() => {
  if (labelling) return;
  labelling = true;
  queueMicrotask(() => {
    labelCells(main);
    labelling = false;
  });
}).observe(main, { childList: true, subtree: true });

setUnauthorizedHandler(() => {
  if (!state.user) return;
  state.user = null;
  state.usersPromise = null;
  const next = encodeURIComponent(here());
  navigate(`/work/login?next=${next}&expired=1`, { replace: true });
});

document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[data-route]") : null;
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});

window.addEventListener("popstate", () => {
  // An in-page #fragment link changes only the hash: let the browser scroll, keep the page.
  if (here() === state.renderedPath) return;
  render();
});

async function boot() {
  try {
    const session = await api("/auth/session", { allow401: true });
    state.user = session.user;
    setTimeZone(session.user.timezone);
  } catch (error) {
    if (error.status !== 401) {
      renderChrome(null);
      fill(main, errorBox("The session check is", error));
      return;
    }
  }
  await render();
}

boot();
