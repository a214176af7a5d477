// The audit log: every action taken in the workspace, who took it and with what outcome,
// and whether the hash chain that makes it tamper-evident still holds.

import { get } from "../api.js";
import { h, show, table, text, when, problem } from "../dom.js";

const PAGE = 100;

export async function auditPage(view) {
  const check = h("section", { "aria-live": "polite" }, h("p", {}, "Checking the chain…"));
  const entries = h("section", { "aria-label": "Entries" });
  show(view, h("h1", {}, "Audit log"), check, entries);
  verify(check);
  more(entries, 0, false);
}

async function verify(check) {
  try {
    const report = await get("/v1/audit/verify");
    show(
      check,
      report.valid
        ? h("p", { class: "ok chain", "data-valid": "true" }, `Chain verified: ${report.entries} entries, every link holds.`)
        : h("p", { class: "error chain", role: "alert", "data-valid": "false" },
            `The chain is broken at entry ${report.first_broken.seq}: ${report.first_broken.reason}.`),
    );
  } catch (error) {
    show(check, problem(error));
  }
}

/** The next page of entries; `keepFocus` when "More" was pressed (it is replaced). */
async function more(entries, after, keepFocus) {
  try {
    const page = await get(`/v1/audit?after=${after}&limit=${PAGE}`);
    entries.querySelector("button.more")?.remove();
    entries.appendChild(
      table(
        ["#", "When", "Action", "Actor", "Target", "Outcome", "Details"],
        page.entries.map((e) => [
          String(e.seq),
          when(e.at),
          e.action,
          [e.actor_kind, e.actor_role, e.actor_id].filter(Boolean).join(" "),
          [e.target_kind, e.target_id].filter(Boolean).join(" "),
          h("span", { class: `status ${e.outcome === "success" ? "completed" : "failed"}` }, e.outcome),
          h("code", {}, text(e.details)),
        ]),
      ),
    );
    if (page.entries.length === PAGE) {
      const button = h("button", { type: "button", class: "more", onclick: () => more(entries, page.next_after, true) }, "More");
      entries.appendChild(button);
      if (keepFocus) button.focus();
    } else if (keepFocus) {
      // No more pages: the keyboard goes to the entries rather than to nothing.
      entries.setAttribute("tabindex", "-1");
      entries.focus();
    }
  } catch (error) {
    entries.appendChild(problem(error));
  }
}
