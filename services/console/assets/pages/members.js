// Members of the workspace: who they are, their roles, and (for admins) adding people,
// changing roles and removing them. A new person's one-time password is shown once.

import { call, get, post } from "../api.js";
import { focusNamed, h, show, submitted, table, when, problem } from "../dom.js";

const ROLES = ["analyst", "marketer", "compliance", "admin", "owner"];

export async function membersPage(view, { may }) {
  const list = h("section", { "aria-label": "Members" }, h("p", {}, "Loading…"));
  const status = h("div", { "aria-live": "polite" });
  const reload = () => load(list, status, may("members:write"), reload);
  show(view, h("h1", {}, "Members"), may("members:write") ? form(status, reload) : null, status, list);
  reload();
}

function roleSelect(attrs, current) {
  return h("select", attrs, ROLES.map((r) => h("option", { value: r, selected: r === current }, r)));
}

function form(status, done) {
  const email = h("input", { type: "email", name: "email", required: true, "aria-label": "E-mail of the new member" });
  const role = roleSelect({ name: "role", "aria-label": "Role of the new member" }, "analyst");
  return h(
    "form",
    {
      class: "card row",
      onsubmit: submitted(status, async () => {
        const added = await post("/v1/members", { email: email.value, role: role.value });
        show(
          status,
          h(
            "div",
            { class: "card" },
            h("p", {}, `${added.email} is now ${added.role}.`),
            added.one_time_password
              ? h("p", {}, "Their one-time password, shown this once: ", h("code", { class: "one-time-password" }, added.one_time_password))
              : h("p", {}, "They already have an account and sign in with their own password."),
          ),
        );
        email.value = "";
        done();
      }),
    },
    h("label", {}, "E-mail", email),
    h("label", {}, "Role", role),
    h("button", { type: "submit" }, "Add member"),
  );
}

async function load(list, status, canChange, reload) {
  try {
    const { members } = await get("/v1/members");
    show(
      list,
      h("h2", {}, "Everyone in this workspace"),
      table(
        ["E-mail", "Role", "Since", ""],
        members.map((m) => [
          m.email,
          canChange ? roleChanger(m, status, reload) : m.role,
          when(m.created_at),
          canChange
            ? h("button", { type: "button", class: "link", "aria-label": `Remove ${m.email}`, onclick: submitted(status, async () => {
                if (!confirm(`Remove ${m.email} from this workspace? They lose access at once.`)) return;
                await call("DELETE", `/v1/members/${encodeURIComponent(m.user_id)}`);
                show(status, h("p", { class: "ok" }, `${m.email} was removed.`));
                reload();
              }) }, "Remove")
            : "",
        ]),
      ),
    );
  } catch (error) {
    show(list, problem(error));
  }
}

/** A member's role, changed when "Save" is pressed (not on every choice, which arrow keys
 * on a closed list would make); a refused change puts the list back to the role held. */
function roleChanger(member, status, reload) {
  const select = roleSelect({ "aria-label": `Role of ${member.email}` }, member.role);
  const save = h("button", { type: "button", class: "secondary", disabled: true, "aria-label": `Save the role of ${member.email}` }, "Save");
  select.addEventListener("change", () => (save.disabled = select.value === member.role));
  save.addEventListener("click", async () => {
    try {
      await call("PATCH", `/v1/members/${encodeURIComponent(member.user_id)}`, { role: select.value });
      show(status, h("p", { class: "ok" }, `${member.email} is now ${select.value}.`));
      await reload();
      // The table is drawn anew: the keyboard goes back to this member's role.
      focusNamed(document, select.getAttribute("aria-label"));
    } catch (error) {
      select.value = member.role;
      save.disabled = true;
      show(status, problem(error));
    }
  });
  return h("span", { class: "row" }, select, save);
}
