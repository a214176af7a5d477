// Platform administration: the workspaces (tenants) of this deployment. Creating one (its
// first keys and owner's one-time password shown once), suspending and resuming, quotas,
// storage used, the projector of each, and deletion (its keys shredded).

import { get, patch, post, put, remove } from "../api.js";
import { chart } from "../chart.js";
import { focusNamed, h, show, submitted, table, when, problem } from "../dom.js";

export async function workspacesPage(view) {
  const list = h("section", { "aria-label": "Workspaces" }, h("p", {}, "Loading…"));
  const created = h("div", { "aria-live": "polite" });
  const lag = h("section", { "aria-label": "Projectors" });
  const reload = () => load(list, lag);
  show(view, h("h1", {}, "Workspaces"), form(created, reload), created, list, lag);
  reload();
}

async function load(list, lagSection) {
  try {
    // The projectors' figures are extra: without them the workspaces still show.
    let lagProblem = null;
    const [{ tenants }, { projections }] = await Promise.all([
      get("/v1/admin/tenants"),
      get("/v1/admin/projections").catch((error) => {
        lagProblem = error;
        return { projections: [] };
      }),
    ]);
    const lag = new Map(projections.map((p) => [p.tenant_id, p]));
    show(
      list,
      h("h2", {}, "All workspaces"),
      table(
        ["Name", "Id", "State", "Events", "Not yet applied", "Created"],
        tenants.map((t) => {
          const p = lag.get(t.id);
          return [
            h("a", { href: `#/workspaces/${encodeURIComponent(t.id)}` }, t.name),
            h("code", {}, t.id),
            h("span", { class: `status ${t.status}` }, t.status),
            p ? String(p.log_head) : "",
            p ? `${p.lag}${p.stopped ? " (stopped)" : ""}` : "",
            when(t.created_at),
          ];
        }),
      ),
    );
    const open = tenants.filter((t) => t.status !== "deleted" && lag.has(t.id));
    if (lagProblem) return show(lagSection, problem(lagProblem));
    show(
      lagSection,
      open.length
        ? chart("Events waiting for the projector, per workspace", [{ name: "events", points: open.map((t) => ({ label: t.name, value: lag.get(t.id).lag })) }], { unit: "events", kind: "bars" })
        : null,
    );
  } catch (error) {
    show(list, problem(error));
  }
}

function form(created, done) {
  const name = h("input", { name: "name", required: true, maxlength: 100 });
  const owner = h("input", { name: "owner_email", type: "email", placeholder: "optional" });
  return h(
    "form",
    {
      class: "card row",
      onsubmit: submitted(created, async () => {
        const body = { name: name.value };
        if (owner.value.trim()) body.owner_email = owner.value.trim();
        const made = await post("/v1/admin/tenants", body);
        show(
          created,
          h("div", { class: "card", "data-tenant": made.tenant_id },
            h("h2", {}, `Workspace "${made.name}" created`),
            h("p", {}, "Its first keys are shown this once: hand them over now."),
            table(["", ""], [
              ["Workspace id", h("code", {}, made.tenant_id)],
              ["Write key (first source)", h("code", {}, made.write_key)],
              ["API key", h("code", {}, made.api_key)],
              made.owner ? ["Owner", made.owner.email] : null,
              made.owner && made.owner.one_time_password ? ["Owner's one-time password", h("code", { class: "one-time-password" }, made.owner.one_time_password)] : null,
            ].filter(Boolean))),
        );
        name.value = "";
        owner.value = "";
        done();
      }),
    },
    h("label", {}, "Name of the new workspace", name),
    h("label", {}, "Owner's e-mail", owner),
    h("button", { type: "submit" }, "Create workspace"),
  );
}

const mebibytes = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

/** One workspace: state, quotas and usage, its projector, and the actions on it. `focus`
 * names the button to put the keyboard on, when the page is drawn again after one. */
export async function workspacePage(view, id, _ctx, focus) {
  show(view, h("p", {}, "Loading…"));
  const path = `/v1/admin/tenants/${encodeURIComponent(id)}`;
  let found;
  try {
    found = await get(path);
  } catch (error) {
    return show(view, h("h1", {}, "Workspace"), problem(error), h("a", { href: "#/workspaces" }, "Back to the workspaces"));
  }
  const { tenant, quotas, usage, purge } = found;
  const status = h("div", { "aria-live": "polite" });
  const reload = (button) => workspacePage(view, id, _ctx, button);
  const act = (label, run, cls = "secondary") =>
    h("button", { type: "button", class: cls, onclick: () => run().catch((error) => show(status, problem(error))) }, label);
  const deleted = tenant.status === "deleted";
  const number = (name, value) => h("input", { name, type: "number", min: 0, value: value ?? "", placeholder: "deployment default", class: "short" });
  const rate = number("events_per_second", quotas.events_per_second);
  const burst = number("burst", quotas.burst);
  const storage = number("storage_mib", quotas.storage_bytes ? Math.round(quotas.storage_bytes / 1048576) : "");
  const storageAsShown = storage.value;
  const value = (input, scale = 1) => (input.value.trim() === "" ? null : Math.round(Number(input.value) * scale));

  show(
    view,
    h("p", {}, h("a", { href: "#/workspaces" }, "All workspaces")),
    h("h1", {}, tenant.name),
    h("p", { class: "muted" }, h("code", {}, tenant.id), ` · created ${when(tenant.created_at)}`),
    h("div", { class: "tiles" },
      h("div", { class: "tile" }, "State", h("strong", { class: `status ${tenant.status}`, "data-status": tenant.status }, tenant.status)),
      h("div", { class: "tile" }, "Stored", h("strong", {}, mebibytes(usage.stored_bytes)), quotas.storage_bytes ? ` of ${mebibytes(quotas.storage_bytes)}` : ""),
      purge ? h("div", { class: "tile" }, "Removal of its data", h("strong", {}, purge.status)) : null,
    ),
    deleted
      ? null
      : h("p", { class: "row" },
          act(tenant.status === "suspended" ? "Resume" : "Suspend", async () => {
            await patch(path, { status: tenant.status === "suspended" ? "active" : "suspended" });
            reload(tenant.status === "suspended" ? "Suspend" : "Resume");
          }),
          act("Resume its projector", async () => {
            await post(`${path}/projection/resume`);
            show(status, h("p", { class: "ok" }, "The projector goes on from where it stopped."));
          }),
        ),
    status,
    deleted
      ? null
      : h(
          "form",
          {
            class: "card row",
            onsubmit: submitted(status, async () => {
              // Shown in whole MiB: an unedited field keeps the exact quota it stood for.
              const bytes = storage.value === storageAsShown ? quotas.storage_bytes ?? null : value(storage, 1048576);
              await put(`${path}/quotas`, { events_per_second: value(rate), burst: value(burst), storage_bytes: bytes });
              show(status, h("p", { class: "ok" }, "Quotas saved."));
            }),
          },
          h("label", {}, "Events per second", rate),
          h("label", {}, "Burst", burst),
          h("label", {}, "Storage (MiB)", storage),
          h("button", { type: "submit" }, "Save quotas"),
        ),
    deleted ? null : deletion(path, tenant, status),
  );
  if (focus) focusNamed(view, focus);
}

function deletion(path, tenant, status) {
  const confirmation = h("input", { name: "confirm", "aria-label": "Workspace id to confirm", placeholder: tenant.id });
  return h(
    "form",
    {
      class: "card row",
      onsubmit: submitted(status, async () => {
        await remove(path, { confirm: confirmation.value });
        location.hash = "#/workspaces";
      }),
    },
    h("p", {}, "Deleting shreds the workspace's keys: its events can never be read again. Type its id to confirm."),
    confirmation,
    h("button", { type: "submit", class: "danger" }, "Delete the workspace"),
  );
}
