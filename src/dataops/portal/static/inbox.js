// Notifications (CONTRACT §8): the header bell with the unread count, and the inbox —
// one's own notifications, newest first, an unread filter, mark read, dismiss, and a link
// to what each is about.
import { api } from "./api.js";
import { add, empty, enc, errorBox, fill, h, loading, routeLink, when } from "./dom.js";

const NOTIFICATIONS = "/work/api/notifications";
const PAGE = 20;

const TYPE_TEXT = {
  "task-due": "due today",
  "task-overdue": "overdue",
  "follow-up-due": "follow-up due",
  "missing-evidence": "missing evidence",
  "recurring-due": "new bundle",
  "stage-change": "stage change",
  "automation-failure": "automation failure",
  "review-requested": "review requested",
  "artifact-rejected": "rejected",
  "proof-withdrawn": "proof withdrawn",
};

/** The actor's unread count. */
export async function unreadCount() {
  const result = await api(`${NOTIFICATIONS}/unread-count`);
  return typeof result.unread === "number" ? result.unread : 0;
}

/** The bell: a link to the inbox whose name says the count. */
export function bell(count, current) {
  const text = count === 1 ? "1 unread notification" : `${count} unread notifications`;
  return routeLink(
    "/work/inbox",
    [
      h("img", { class: "bell-icon", src: "/work/static/bell.svg", alt: "", width: 18, height: 18 }),
      count > 0 ? h("span", { class: "bell-count", "aria-hidden": "true" }, String(count)) : null,
    ],
    {
      class: ["bell", count > 0 ? "bell-unread" : null],
      "aria-label": `Inbox: ${text}`,
      title: text,
      "aria-current": current ? "page" : undefined,
    },
  );
}

/** Where a notification points: its artifact, task or bundle (the most specific). */
export function subjectLink(n) {
  if (n.artifactId) return routeLink(`/work/artifacts/${enc(n.artifactId)}`, "Open the artifact");
  if (n.taskId) return routeLink(`/work/tasks/${enc(n.taskId)}`, "Open the task");
  if (n.bundleId) return routeLink(`/work/bundles/${enc(n.bundleId)}`, "Open the bundle");
  if (n.templateId) return routeLink(`/work/templates/${enc(n.templateId)}`, "Open the template");
  return null;
}

function isUnread(n) {
  return !n.readAt && !n.dismissed;
}

export async function inboxPage(view, ctx) {
  document.title = "Inbox · DataOps";
  const unreadOnly = new URLSearchParams(location.search).get("unread") === "true";
  add(
    view,
    h("h1", {}, "Inbox"),
    h(
      "nav",
      { class: "filters", "aria-label": "Show" },
      routeLink("/work/inbox", "All", { "aria-current": unreadOnly ? undefined : "page" }),
      routeLink("/work/inbox?unread=true", "Unread", {
        "aria-current": unreadOnly ? "page" : undefined,
      }),
    ),
  );
  const status = h("p", { class: "sr-only", role: "status" });
  const list = h("ul", { class: "rows notifications" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "Show more");
  const body = h("div", { class: "card" }, loading());
  add(view, status, body);
  const inbox = { ctx, unreadOnly, status, list, body };

  let cursor = null;
  const load = async () => {
    const page = await api(NOTIFICATIONS, {
      query: { unread: unreadOnly ? "true" : undefined, limit: PAGE, cursor },
    });
    cursor = page.nextCursor;
    more.hidden = !cursor;
    return page.items;
  };

  let first;
  try {
    first = await load();
  } catch (error) {
    fill(body, errorBox("Notifications are", error));
    return;
  }
  if (!first.length) {
    fill(body, empty(unreadOnly ? "Nothing unread." : "No notifications."));
    return;
  }
  add(list, first.map((n) => notificationRow(inbox, n)));
  fill(body, list, more);

  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const items = await load();
      const rows = items.map((n) => notificationRow(inbox, n));
      add(list, rows);
      status.textContent = `${items.length} more shown.`;
      const link = rows.length ? rows[0].querySelector("a, button") : null;
      if (link) link.focus();
    } catch (error) {
      add(body, errorBox("More notifications are", error));
    } finally {
      more.disabled = false;
    }
  });
}

/** One notification with its link and its Mark read / Dismiss buttons; it redraws itself
 * after a change (or leaves the unread list). `inbox`: {ctx, unreadOnly, status, list,
 * body}. */
function notificationRow(inbox, n) {
  const item = h("li", { class: ["row", "notification"], dataset: { notificationId: n.id } });
  const draw = (current) => {
    item.classList.toggle("is-unread", isUnread(current));
    const actions = h("div", { class: "actions" }, subjectLink(current));
    const action = (text, verb) => notificationAction(inbox, item, draw, current, text, verb);
    if (!current.readAt && !current.dismissed) {
      actions.append(action("Mark read", "read"));
    }
    if (!current.dismissed) actions.append(action("Dismiss", "dismiss"));
    fill(
      item,
      h(
        "div",
        { class: "row-main" },
        isUnread(current) ? h("span", { class: "chip unread" }, "unread") : null,
        " ",
        h("span", { class: "chip" }, TYPE_TEXT[current.type] || current.type),
        " ",
        h("span", { class: "notification-message" }, current.message),
      ),
      h(
        "div",
        { class: "row-meta" },
        when(current.createdAt),
        current.dueAt ? ` · due ${current.dueAt}` : null,
        current.dismissed ? " · dismissed" : current.readAt ? " · read" : null,
      ),
      actions,
    );
  };
  draw(n);
  return item;
}

/** "Mark read" (verb read) or "Dismiss" (verb dismiss) for the notification `current`
 * shown in `item`; `draw` shows it again as the server answers. */
function notificationAction(inbox, item, draw, current, text, verb) {
  const { ctx, unreadOnly, status, list, body } = inbox;
  const button = h(
    "button",
    { type: "button", class: verb === "dismiss" ? "quiet" : null },
    text,
  );
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const updated = await api(`${NOTIFICATIONS}/${enc(current.id)}/${verb}`, {
        method: "POST",
      });
      if (unreadOnly) {
        item.remove();
        status.textContent = `Notification ${verb === "read" ? "marked read" : "dismissed"}.`;
        const next = list.querySelector("a, button");
        if (next) next.focus();
        else fill(body, empty("Nothing unread."));
      } else {
        draw(updated);
        status.textContent = `Notification ${verb === "read" ? "marked read" : "dismissed"}.`;
        const focus = item.querySelector(".actions a, .actions button");
        if (focus) focus.focus();
      }
      ctx.refreshBell();
    } catch (error) {
      button.disabled = false;
      add(item, errorBox("That change is", error));
      button.focus();
    }
  });
  return button;
}
