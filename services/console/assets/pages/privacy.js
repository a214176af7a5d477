// Data-subject requests: the queue with due dates (overdue ones marked), a form to record a
// new request, and each request's receipt once it is carried out.

import { get, post } from "../api.js";
import { h, show, submitted, table, text, when, problem } from "../dom.js";

const TYPES = ["erasure", "access", "suppression", "unsuppression"];
const SUBJECT_TYPES = ["user_id", "email", "anonymous_id", "phone"];

export async function privacyPage(view, { may }) {
  const queue = h("section", { "aria-label": "Requests" }, h("p", {}, "Loading…"));
  const detail = h("section", { "aria-live": "polite" });
  const reload = () => load(queue, detail, reload);
  show(view, h("h1", {}, "Privacy requests"), may("privacy:write") ? form(detail, reload) : null, detail, queue);
  reload();
}

async function load(queue, detail, reload) {
  try {
    const { requests } = await get("/v1/privacy/requests?limit=100");
    show(
      queue,
      h("h2", {}, "Queue"),
      requests.length
        ? table(
            ["Request", "Type", "Status", "Received", "Due"],
            requests.map((r) => [
              h("button", { type: "button", class: "link", onclick: () => open(detail, r.id, reload) }, r.id),
              r.type,
              h("span", { class: `status ${r.status}` }, r.status),
              when(r.received_at),
              h("span", { class: r.overdue ? "overdue" : "" }, when(r.due_at), r.overdue ? " (overdue)" : ""),
            ]),
          )
        : h("p", {}, "No request yet."),
    );
  } catch (error) {
    show(queue, problem(error));
  }
}

function form(detail, done) {
  const type = h("select", { name: "type", "aria-label": "Request type" }, TYPES.map((t) => h("option", { value: t }, t)));
  const subjectType = h("select", { name: "subject_type", "aria-label": "Identity type" }, SUBJECT_TYPES.map((t) => h("option", { value: t }, t)));
  const value = h("input", { name: "subject", required: true, "aria-label": "Identity value" });
  const regulation = h("select", { name: "regulation" }, h("option", { value: "gdpr" }, "GDPR (30 days)"), h("option", { value: "ccpa" }, "CCPA (45 days)"));
  return h(
    "form",
    {
      class: "card row",
      onsubmit: submitted(detail, async () => {
        const request = await post("/v1/privacy/requests", {
          type: type.value,
          subject: { type: subjectType.value, value: value.value },
          regulation: regulation.value,
        });
        value.value = "";
        done();
        open(detail, request.id, done);
      }),
    },
    h("label", {}, "Request", type),
    h("label", {}, "Person", subjectType, value),
    h("label", {}, "Law", regulation),
    h("button", { type: "submit" }, "Record request"),
  );
}

/** Shows one request; `reload` refreshes the queue beside it. */
async function open(detail, id, reload) {
  try {
    const r = await get(`/v1/privacy/requests/${encodeURIComponent(id)}`);
    const receipt = r.receipt
      ? table(["Receipt", ""], Object.entries(r.receipt).map(([k, v]) => [k, text(v)]))
      : h("p", {}, "No receipt yet: the request is being carried out.");
    show(
      detail,
      h(
        "div",
        { class: "card", "data-request": r.id, "data-status": r.status },
        h("h2", {}, `${r.type} request ${r.id}`),
        h("p", {}, "Status: ", h("strong", {}, r.status), ` · due ${when(r.due_at)}`, r.failure ? ` · ${r.failure}` : ""),
        receipt,
        h("p", {},
          h("button", { type: "button", onclick: () => (reload(), open(detail, id, reload)) }, "Refresh"),
          r.export_url ? [" ", h("a", { href: r.export_url }, "Access export")] : null,
        ),
      ),
    );
  } catch (error) {
    show(detail, problem(error));
  }
}
