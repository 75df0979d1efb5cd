// Minimal operator shell: login, then the bundle list. All data goes through
// /work/api/*; user data is written with textContent, never innerHTML.
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "application/json" },
    ...options,
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(body.detail || response.statusText), { status: response.status });
  return body;
}

async function showHome(user) {
  $("login").hidden = true;
  $("home").hidden = false;
  $("who").textContent = `${user.name} (${user.role})`;
  const list = $("bundles");
  list.replaceChildren();
  try {
    const page = await api("/work/api/bundles?limit=100");
    for (const bundle of page.items) {
      const item = document.createElement("li");
      item.textContent = `${bundle.title} — ${bundle.stage ?? bundle.status} (${bundle.anchorDate ?? "no date"})`;
      list.append(item);
    }
    if (!page.items.length) list.textContent = "No bundles yet.";
  } catch (error) {
    list.textContent = `Bundles are unavailable: ${error.message}`;
  }
}

function showLogin() {
  $("home").hidden = true;
  $("login").hidden = false;
  $("who").textContent = "";
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const result = await api("/auth/login", {
      method: "POST",
      body: JSON.stringify({ email: $("email").value, password: $("password").value }),
    });
    await showHome(result.user);
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});

$("logout").addEventListener("click", async () => {
  await api("/auth/logout", { method: "POST" }).catch(() => {});
  showLogin();
});

api("/auth/session").then((s) => showHome(s.user), showLogin);
