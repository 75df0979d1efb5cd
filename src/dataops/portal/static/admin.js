// People, API tokens (admin) and the Account page (everyone), CONTRACT §9.
// People: list, add (a generated first password, shown once), change role, disable or
// enable, reset a password (shown once). Tokens: create with an expiry (the secret shown
// once), revoke, last use. Account: one's own password (current + new; one's other
// sessions end) and e-mail choice. Every change of a user sends If-Match; a stale form says
// so and keeps what was chosen. User data reaches the page through textContent only.
import { api, listAll } from "./api.js";
import {
  add,
  badge,
  busy,
  enc,
  errorBox,
  field,
  fill,
  fillList,
  focusResult,
  h,
  loading,
  messageArea,
  routeLink,
  shownOnce,
  select,
  uid,
  when,
  zoneName,
} from "./dom.js";

const USERS = "/work/api/users";
const TOKENS = "/work/api/tokens";
const ROLES = [
  ["viewer", "Viewer — reads"],
  ["operator", "Operator — works on tasks and reviews"],
  ["assistant", "Assistant — adds files and artifacts"],
  ["admin", "Admin — also manages people and tokens"],
];
const EXPIRIES = [
  ["7", "7 days"],
  ["30", "30 days"],
  ["90", "90 days"],
  ["365", "1 year"],
  ["0", "Never"],
];
const STALE = "Changed by someone else — reload to see the current state (your choice is kept here).";

function say(message, text, kind = "ok") {
  if (kind === "ok") message.ok(text);
  else message.error(text);
  focusResult(message.el.querySelector("p"), true);
}

/** A form of `fields` with one primary submit button (`saveText`) and a message area;
 * `submit(message)` runs on submit with the message cleared and the button busy. */
function submitForm(label, saveText, fields, submit) {
  const message = messageArea();
  const save = h("button", { type: "submit", class: "primary" }, saveText);
  const form = h(
    "form",
    { class: "form", "aria-label": label, novalidate: true },
    fields,
    h("div", { class: "actions" }, save),
    message.el,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, async () => {
      message.clear();
      await submit(message);
    });
  });
  return form;
}

/** A password for a new user: 18 random bytes, URL-safe base64 (as the server makes). */
function generatedPassword() {
  const bytes = new Uint8Array(18);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
}

function subnav(current) {
  const item = (path, text, key) =>
    h("li", {}, routeLink(path, text, { "aria-current": current === key ? "page" : undefined }));
  return h(
    "nav",
    { class: "subnav", "aria-label": "Administration" },
    h("ul", {}, item("/work/admin/users", "People", "users"), item("/work/admin/tokens", "API tokens", "tokens")),
  );
}

function adminOnly(view, ctx, what) {
  if (ctx.isAdmin) return true;
  add(view, h("p", { class: "empty" }, `${what} are managed by an admin.`));
  return false;
}

/** A card section headed by an h2 (`id`), which names it for assistive technology. */
function card(id, title, ...content) {
  return h(
    "section",
    { class: "card", "aria-labelledby": id },
    h("h2", { id }, title),
    ...content,
  );
}

// ---- People -----------------------------------------------------------------------

export async function peoplePage(view, ctx) {
  document.title = "People · DataOps";
  add(view, h("h1", {}, "People"));
  if (!adminOnly(view, ctx, "People")) return;
  const page = { ctx, me: ctx.user, secretSlot: h("div", { class: "secret-slot" }) };
  page.list = h("div", {}, loading());
  page.refresh = () => refreshPeople(page);
  add(
    view,
    subnav("users"),
    h(
      "p",
      { class: "subtitle" },
      "Who can log in and what their role lets them do. A disabled person cannot log in; ",
      "their sessions end and their API tokens stop working until they are enabled again.",
    ),
    page.secretSlot,
    card("people-add-title", "Add a person", addPersonForm(page)),
    card("people-list-title", "Everyone", page.list),
  );
  await page.refresh();
}

function addPersonForm(page) {
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "off" });
  const name = h("input", { type: "text", name: "name", required: true, maxlength: "200" });
  const role = select("role", ROLES, "operator");
  const form = submitForm(
    "Add a person",
    "Add person",
    [
      field("Email", email),
      field("Name", name),
      field("Role", role),
      h("p", { class: "hint" }, "A first password is made for them and shown to you once."),
    ],
    async (message) => {
      if (!email.value.trim() || !name.value.trim()) {
        say(message, "Not added: give an email and a name.", "error");
        return;
      }
      const password = generatedPassword();
      let made;
      try {
        made = await api(USERS, {
          method: "POST",
          json: { email: email.value.trim(), name: name.value.trim(), role: role.value, password },
        });
      } catch (error) {
        say(message, `Not added: ${error.full || error.message}`, "error");
        return;
      }
      form.reset();
      role.value = "operator";
      await page.refresh();
      shownOnce(
        page.secretSlot,
        `Added ${made.name} (${made.email})`,
        "Give them this first password; they can change it on their Account page.",
        "First password",
        password,
        () => page.list.querySelector(`[data-user-id="${CSS.escape(made.id)}"] h3`),
      );
    },
  );
  return form;
}

async function refreshPeople(page) {
  await fillList(page.list, () => listAll(USERS), "The people are", "Nobody yet.", (items) => {
    const people = items.slice().sort((a, b) => a.email.localeCompare(b.email));
    return h("ul", { class: "people" }, people.map((user) => personCard(page, user)));
  });
}

function personCard(page, user) {
  const titleId = uid("person");
  const self = page.me && page.me.id === user.id;
  const message = messageArea();
  const confirmSlot = h("div", {});
  const role = select("role", ROLES, user.role);
  role.disabled = self;
  const setRole = h("button", { type: "button", disabled: self }, "Change role");
  const reload = h("button", { type: "button", class: "quiet", hidden: true }, "Reload");
  reload.addEventListener("click", () => busy(reload, () => page.refresh()));
  const at = { page, user, message, reload };
  setRole.addEventListener("click", () =>
    busy(setRole, async () => {
      if (role.value === user.role) {
        say(message, `${user.name} already has the role ${user.role}.`);
        return;
      }
      await patchPerson(at, { role: role.value }, `${user.name} is now ${role.value}.`);
    }),
  );
  const toggle = h(
    "button",
    { type: "button", class: user.disabled ? "" : "bad", disabled: self },
    user.disabled ? "Enable" : "Disable",
  );
  toggle.addEventListener("click", () =>
    busy(toggle, () =>
      patchPerson(
        at,
        { disabled: !user.disabled },
        user.disabled ? `${user.name} is enabled again.` : `${user.name} is disabled: logged out, tokens refused.`,
      ),
    ),
  );
  const reset = h("button", { type: "button", disabled: self }, "Reset password");
  reset.addEventListener("click", () => confirmReset(page, user, confirmSlot, reset));
  return h(
    "li",
    { class: ["card", "person"], "aria-labelledby": titleId, dataset: { userId: user.id } },
    personHead(user, titleId, self),
    h(
      "div",
      { class: "actions", role: "group", "aria-label": `Actions for ${user.name}` },
      field(`Role of ${user.name}`, role),
      setRole,
      toggle,
      reset,
      reload,
    ),
    self ? h("p", { class: "hint" }, "You cannot change your own role or disable yourself.") : null,
    confirmSlot,
    message.el,
  );
}

/** The person's name, state, email, role and when they were added. */
function personHead(user, titleId, self) {
  return [
    h(
      "h3",
      { id: titleId },
      h("span", { class: "person-name" }, user.name),
      " ",
      badge(user.disabled ? "disabled" : "active"),
      self ? h("span", { class: "hint" }, " (you)") : null,
    ),
    h(
      "dl",
      { class: "meta" },
      h("dt", {}, "Email"),
      h("dd", { class: "person-email" }, user.email),
      h("dt", {}, "Role"),
      h("dd", {}, user.role),
      h("dt", {}, "Added"),
      h("dd", {}, `${when(user.createdAt)} (${zoneName()})`),
    ),
  ];
}

/** PATCH the person (If-Match their version); then the list reloads and their card says
 * `done`. A stale version shows the card's Reload button. `at`: {page, user, message,
 * reload}. */
async function patchPerson(at, changes, done) {
  const { page, user, message, reload } = at;
  message.clear();
  try {
    await api(`${USERS}/${enc(user.id)}`, {
      method: "PATCH",
      json: changes,
      headers: { "If-Match": `"${user.version}"` },
    });
  } catch (error) {
    if (error.versionMismatch) {
      reload.hidden = false;
      say(message, STALE, "error");
    } else {
      say(message, `Not changed: ${error.full || error.message}`, "error");
    }
    return;
  }
  await page.refresh();
  const card = page.list.querySelector(`[data-user-id="${CSS.escape(user.id)}"]`);
  const area = card && card.querySelector(".form-message");
  if (area) {
    fill(area, h("p", { class: "ok", role: "status" }, done));
    focusResult(area.querySelector("p"), true);
  }
}

/** "Reset the password of X? Yes, reset / Cancel" in the card; yes shows the new
 * password once. */
function confirmReset(page, user, confirmSlot, reset) {
  const yes = h("button", { type: "button", class: "primary" }, "Yes, reset");
  const no = h("button", { type: "button", class: "quiet" }, "Cancel");
  const box = messageArea();
  fill(
    confirmSlot,
    h(
      "div",
      { class: "inline-form confirm", role: "group", "aria-label": `Confirm resetting the password of ${user.name}` },
      h(
        "p",
        {},
        h("strong", {}, `Reset the password of ${user.name}? `),
        "A new password is made and shown to you once; they are logged out everywhere.",
      ),
      h("div", { class: "actions" }, yes, no),
      box.el,
    ),
  );
  no.addEventListener("click", () => {
    confirmSlot.replaceChildren();
    reset.focus();
  });
  yes.addEventListener("click", () =>
    busy(yes, async () => {
      let made;
      try {
        made = await api(`${USERS}/${enc(user.id)}/password-reset`, { method: "POST" });
      } catch (error) {
        say(box, `Not reset: ${error.full || error.message}`, "error");
        return;
      }
      confirmSlot.replaceChildren();
      shownOnce(
        page.secretSlot,
        `New password for ${user.name}`,
        `Give it to ${user.email}; they can change it on their Account page.`,
        "New password",
        made.password,
        () => reset,
      );
    }),
  );
  queueMicrotask(() => yes.focus());
}

// ---- API tokens -----------------------------------------------------------------------

export async function tokensPage(view, ctx) {
  document.title = "API tokens · DataOps";
  add(view, h("h1", {}, "API tokens"));
  if (!adminOnly(view, ctx, "API tokens")) return;
  const page = { ctx, secretSlot: h("div", { class: "secret-slot" }) };
  page.list = h("div", {}, loading());
  page.refresh = () => refreshTokens(page);
  let users;
  try {
    users = (await listAll(USERS)).items;
  } catch (error) {
    add(view, subnav("tokens"), errorBox("The people are", error));
    return;
  }
  page.users = users;
  add(
    view,
    subnav("tokens"),
    h(
      "p",
      { class: "subtitle" },
      "Bearer tokens for scripts and assistants (`Authorization: Bearer …`). A token acts as ",
      "its person, with their role. ",
      `Times are shown in ${zoneName()}.`,
    ),
    page.secretSlot,
    card("tokens-add-title", "Create a token", tokenForm(page)),
    card("tokens-list-title", "Tokens", page.list),
  );
  await page.refresh();
}

function tokenForm(page) {
  const people = page.users
    .filter((u) => !u.disabled)
    .sort((a, b) => a.email.localeCompare(b.email))
    .map((u) => [u.id, `${u.name} (${u.email}, ${u.role})`]);
  const user = select("userId", people, people.length ? people[0][0] : "");
  const name = h("input", {
    type: "text",
    name: "name",
    required: true,
    maxlength: "200",
    placeholder: "podcast-assistant",
  });
  const expires = select("expiresIn", EXPIRIES, "90");
  const form = submitForm(
    "Create an API token",
    "Create token",
    [
      field("For", user),
      field("Label", name, "What uses it, e.g. the podcast assistant."),
      field("Expires in", expires),
    ],
    async (message) => {
      if (!name.value.trim()) {
        say(message, "Not created: give the token a label.", "error");
        name.focus();
        return;
      }
      let made;
      try {
        made = await api(TOKENS, {
          method: "POST",
          json: { userId: user.value, name: name.value.trim(), expiresIn: Number(expires.value) },
        });
      } catch (error) {
        say(message, `Not created: ${error.full || error.message}`, "error");
        return;
      }
      name.value = "";
      await page.refresh();
      const expiry = made.expiresAt ? `It expires ${when(made.expiresAt)} (${zoneName()}).` : "It never expires.";
      shownOnce(
        page.secretSlot,
        `Token ${made.name} for ${made.userEmail}`,
        `Put it where the script reads it (DATAOPS_TOKEN). ${expiry}`,
        "API token",
        made.secret,
        () => page.list.querySelector(`[data-token-id="${CSS.escape(made.id)}"] h3`),
      );
    },
  );
  return form;
}

function tokenStatus(token) {
  if (token.revokedAt) return "revoked";
  if (token.expiresAt && new Date(token.expiresAt) <= new Date()) return "expired";
  return "active";
}

async function refreshTokens(page) {
  await fillList(page.list, () => listAll(TOKENS), "The tokens are", "No API token yet.", (items) =>
    h("ul", { class: "people" }, items.map((t) => tokenCard(page, t))),
  );
}

function tokenCard(page, token) {
  const titleId = uid("token");
  const status = tokenStatus(token);
  const message = messageArea();
  const revoke = h("button", { type: "button", class: "bad", hidden: status === "revoked" }, "Revoke");
  revoke.addEventListener("click", () =>
    busy(revoke, async () => {
      try {
        await api(`${TOKENS}/${enc(token.id)}/revoke`, { method: "POST" });
      } catch (error) {
        say(message, `Not revoked: ${error.full || error.message}`, "error");
        return;
      }
      await page.refresh();
      const card = page.list.querySelector(`[data-token-id="${CSS.escape(token.id)}"]`);
      const area = card && card.querySelector(".form-message");
      if (area) {
        fill(area, h("p", { class: "ok", role: "status" }, `Token ${token.name} revoked.`));
        focusResult(area.querySelector("p"), true);
      }
    }),
  );
  return h(
    "li",
    { class: ["card", "person"], "aria-labelledby": titleId, dataset: { tokenId: token.id } },
    h("h3", { id: titleId }, h("span", { class: "person-name" }, token.name), " ", badge(status)),
    h(
      "dl",
      { class: "meta" },
      h("dt", {}, "Person"),
      h("dd", { class: "person-email" }, token.userEmail || token.userId),
      h("dt", {}, "Created"),
      h("dd", {}, `${when(token.createdAt)} (${zoneName()})`),
      h("dt", {}, "Expires"),
      h("dd", {}, token.expiresAt ? `${when(token.expiresAt)} (${zoneName()})` : "never"),
      h("dt", {}, "Last used"),
      h("dd", { class: "last-used" }, token.lastUsedAt ? `${when(token.lastUsedAt)} (${zoneName()})` : "never"),
      token.revokedAt ? [h("dt", {}, "Revoked"), h("dd", {}, `${when(token.revokedAt)} (${zoneName()})`)] : null,
    ),
    h("div", { class: "actions" }, revoke),
    message.el,
  );
}

// ---- Account ----------------------------------------------------------------------

export async function accountPage(view, ctx) {
  document.title = "Account · DataOps";
  add(view, h("h1", {}, "Your account"));
  let me;
  try {
    me = await api("/work/api/me");
  } catch (error) {
    add(view, errorBox("Your account is", error));
    return;
  }
  add(
    view,
    card(
      "account-who",
      me.name || me.email,
      h(
        "dl",
        { class: "meta" },
        h("dt", {}, "Email"),
        h("dd", { class: "person-email" }, me.email),
        h("dt", {}, "Role"),
        h("dd", {}, me.role),
      ),
    ),
    card("account-password", "Change your password", passwordForm()),
    me.emailNotifications !== undefined
      ? card("account-email", "E-mail", emailForm(me))
      : null,
  );
}

function passwordForm() {
  const current = h("input", { type: "password", name: "currentPassword", autocomplete: "current-password", required: true });
  const next = h("input", { type: "password", name: "newPassword", autocomplete: "new-password", required: true, minlength: "8" });
  const again = h("input", { type: "password", name: "repeatPassword", autocomplete: "new-password", required: true });
  const form = submitForm(
    "Change your password",
    "Change password",
    [
      field("Current password", current),
      field("New password", next, "At least 8 characters. You stay logged in here; your other sessions end."),
      field("Repeat the new password", again),
    ],
    async (message) => {
      if (next.value !== again.value) {
        say(message, "Not changed: the new passwords differ.", "error");
        return;
      }
      try {
        await api("/auth/password", {
          method: "POST",
          json: { currentPassword: current.value, newPassword: next.value },
        });
      } catch (error) {
        const first = (error.errors || [])[0];
        const text = first
          ? `${first.field === "currentPassword" ? "The current password is not right" : `The new password ${first.message}`}.`
          : error.full || error.message;
        say(message, `Not changed: ${text}`, "error");
        return;
      }
      form.reset();
      say(message, "Password changed. Your other sessions have been logged out.");
    },
  );
  return form;
}

function emailForm(me) {
  let version = me.version;
  const choice = select(
    "emailNotifications",
    [
      ["off", "Off — the inbox only"],
      ["immediate", "Immediately, one e-mail per notification"],
      ["daily", "A daily digest (08:00 in your time zone)"],
    ],
    me.emailNotifications,
  );
  const zone = h("input", { type: "text", name: "timezone", value: me.timezone || "UTC", spellcheck: "false" });
  const form = submitForm(
    "E-mail notifications",
    "Save",
    [
      field("Send me notifications by e-mail", choice),
      field("Time zone", zone, "An IANA name, e.g. Europe/Berlin."),
    ],
    async (message) => {
      let saved;
      try {
        saved = await api("/work/api/me", {
          method: "PATCH",
          json: { emailNotifications: choice.value, timezone: zone.value.trim() },
          headers: version !== undefined ? { "If-Match": `"${version}"` } : {},
        });
      } catch (error) {
        say(message, error.versionMismatch ? STALE : `Not saved: ${error.full || error.message}`, "error");
        return;
      }
      version = saved.version;
      say(message, "Saved.");
    },
  );
  return form;
}
