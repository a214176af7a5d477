// API keys: credentials for programs calling the management API, each limited to the
// permissions it was given (no more than its creator has). A new key is shown once.

import { get, post, remove } from "../api.js";
import { h, show, submitted, table, text, when, problem } from "../dom.js";

export async function keysPage(view, { may, workspace }) {
  const list = h("section", { "aria-label": "API keys" }, h("p", {}, "Loading…"));
  const created = h("div", { "aria-live": "polite" });
  const reload = () => load(list, may, created);
  show(view, h("h1", {}, "API keys"), may("keys:write") ? form(workspace.permissions, created, reload) : null, created, list);
  reload();
}

async function load(list, may, status) {
  try {
    const { keys } = await get("/v1/keys");
    const apiKeys = keys.filter((k) => k.kind === "api_key");
    show(
      list,
      h("h2", {}, "All API keys"),
      h("p", { class: "muted" }, "Sources' write keys are on each source's page."),
      apiKeys.length
        ? credentialTable(apiKeys, {
            permissions: true,
            revocable: may("keys:write"),
            warning: "Programs using it are refused from now on.",
            done: () => load(list, may, status),
            status,
          })
        : h("p", {}, "No API key yet."),
    );
  } catch (error) {
    show(list, problem(error));
  }
}

function form(permissions, created, done) {
  const name = h("input", { name: "name", required: true, maxlength: 100 });
  const boxes = permissions.map((p) => h("input", { type: "checkbox", value: p, checked: p.endsWith(":read") }));
  return h(
    "form",
    {
      class: "card",
      onsubmit: submitted(created, async () => {
        const scopes = boxes.filter((b) => b.checked).map((b) => b.value);
        const made = await post("/v1/keys", { name: name.value, scopes });
        show(
          created,
          h("div", { class: "card" },
            h("h2", {}, `API key "${made.name}" created`),
            h("p", {}, "It is shown this once: copy it now. Programs send it as Authorization: Bearer."),
            h("p", {}, h("code", { class: "api-key", "data-api-key": made.key }, made.key))),
        );
        name.value = "";
        done();
      }),
    },
    h("h2", {}, "New API key"),
    h("label", {}, "Name", name),
    h("fieldset", { class: "scopes" },
      h("legend", {}, "Permissions (at most your own)"),
      boxes.map((box) => h("label", { class: "check" }, h("span", {}, box, ` ${box.value}`)))),
    h("button", { type: "submit" }, "Create API key"),
  );
}

/**
 * Credentials (API keys or write keys) with their state, and for those who may, a button
 * revoking each one still in use; `done` runs after a revocation, `status` shows failures.
 */
export function credentialTable(keys, { permissions, revocable, warning, done, status }) {
  const revoke = (k) =>
    h("button", {
      type: "button",
      class: "link",
      "aria-label": `Revoke ${k.name || k.prefix}`,
      onclick: async () => {
        if (!confirm(`Revoke "${k.name || k.prefix}"? ${warning}`)) return;
        try {
          await remove(`/v1/keys/${encodeURIComponent(k.id)}`);
          done();
        } catch (error) {
          show(status, problem(error));
        }
      },
    }, "Revoke");
  return table(
    ["Name", "Starts with", permissions ? "Permissions" : null, "Created", "State", ""].filter((c) => c !== null),
    keys.map((k) =>
      [
        text(k.name),
        h("code", {}, k.prefix),
        permissions ? k.scopes.join(", ") : null,
        when(k.created_at),
        k.revoked_at ? `revoked ${when(k.revoked_at)}` : "in use",
        revocable && !k.revoked_at ? revoke(k) : "",
      ].filter((c) => c !== null),
    ),
  );
}
