// Signing in: e-mail and password; the workspace to enter when the person has several; a
// new password when theirs was given to them once (a new member's first sign-in).

import { ApiError, call, forget, session, signIn } from "../api.js";
import { h, show, problem } from "../dom.js";

export function signInPage(view, done) {
  if (session() && session().password_change_required) return newPasswordForm(view, done);
  const status = h("div", { "aria-live": "polite" });
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", {
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
  });
  const platform = h("input", { type: "checkbox", name: "platform" });
  const form = h(
    "form",
    { class: "card narrow", onsubmit: (e) => submit(e) },
    h("h1", {}, "Sign in"),
    h("label", {}, "E-mail", email),
    h("label", {}, "Password", password),
    h("label", { class: "check" }, h("span", {}, platform, " Administer the platform (platform admins)")),
    h("button", { type: "submit" }, "Sign in"),
    status,
  );

  async function submit(event, tenantId, asPlatform = platform.checked) {
    if (event) event.preventDefault();
    show(status, h("p", {}, "Signing in…"));
    try {
      const tokens = await signIn(email.value, password.value, tenantId, asPlatform);
      if (tokens.password_change_required) return newPasswordForm(view, done);
      if (!tokens.tenant_id && !tokens.platform_admin) {
        forget();
        return show(status, problem(new Error("This account belongs to no workspace.")));
      }
      done();
    } catch (error) {
      if (error instanceof ApiError && error.body.tenants) {
        return show(
          status,
          h("p", {}, "Choose a workspace:"),
          h(
            "ul",
            { class: "choices" },
            error.body.tenants.map((t) =>
              h("li", {}, h("button", { type: "button", onclick: () => submit(null, t.tenant_id, false) }, `${t.name} (${t.role})`)),
            ),
            error.body.platform_admin
              ? h("li", {}, h("button", { type: "button", onclick: () => submit(null, null, true) }, "Platform administration"))
              : null,
          ),
        );
      }
      show(status, problem(error));
    }
  }

  show(view, form);
  email.focus();
}

function newPasswordForm(view, done) {
  const status = h("div", { "aria-live": "polite" });
  const current = h("input", { type: "password", name: "current", autocomplete: "current-password", required: true });
  const fresh = h("input", { type: "password", name: "new", autocomplete: "new-password", required: true, minlength: 12 });
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await call("POST", "/v1/auth/password", {
            current_password: current.value,
            new_password: fresh.value,
          });
          // The token in hand was issued for the change alone: sign in with the new password.
          const email = (await call("GET", "/v1/auth/me")).email;
          const { tenant_id: tenantId, platform_admin: platform } = session();
          forget();
          await signIn(email, fresh.value, tenantId, platform);
          done();
        } catch (error) {
          show(status, problem(error));
        }
      },
    },
    h("h1", {}, "Choose your password"),
    h("p", {}, "The password you were given works once. Choose your own to go on."),
    h("label", {}, "The password you were given", current),
    h("label", {}, "New password", fresh),
    h("button", { type: "submit" }, "Save and go on"),
    status,
  );
  show(view, form);
  current.focus();
}
