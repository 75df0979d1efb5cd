import { api } from "./api.js";
import { add, busy, field, h, messageArea } from "./dom.js";

export function loginPage(view, ctx) {
  const params = new URLSearchParams(location.search);
  const email = h("input", {
    type: "email",
    name: "email",
    autocomplete: "username",
    required: true,
    id: "login-email",
  });
  const password = h("input", {
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
    id: "login-password",
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const message = messageArea();
  const notice = params.get("expired")
    ? h(
        "p",
        { class: "notice", role: "status" },
        "Your session has ended. Log in again to continue where you were.",
      )
    : null;
  const form = h(
    "form",
    { class: "card login-form", "aria-labelledby": "login-title", novalidate: true },
    h("h1", { id: "login-title" }, "Log in to DataOps"),
    notice,
    field("Email", email),
    field("Password", password),
    submit,
    message.el,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.clear();
    if (!email.value.trim() || !password.value) {
      message.error("Enter your email and password.");
      (email.value.trim() ? password : email).focus();
      return;
    }
    await busy(submit, async () => {
      try {
        const result = await api("/auth/login", {
          method: "POST",
          json: { email: email.value.trim(), password: password.value },
          allow401: true,
        });
        ctx.onLogin(result.user);
      } catch (error) {
        if (error.status === 401) message.error("Wrong email or password.");
        else message.error(`Could not log in: ${error.full}`);
        password.focus();
      }
    });
  });
  add(view, form);
  email.focus();
}
