// Data-subject requests: the queue with due dates (overdue ones marked), a form to record a
// new request, each request's outcome (an access export to download, an erasure receipt
// to verify and keep), and the consent overview.

import { download, get, post } from "../api.js";
import { chart } from "../chart.js";
import { h, saveFile, show, submitted, table, text, when, problem } from "../dom.js";

const TYPES = ["erasure", "access", "suppression", "unsuppression"];
const SUBJECT_TYPES = ["user_id", "email", "anonymous_id", "phone"];

export async function privacyPage(view, { may }) {
  const queue = h("section", { "aria-label": "Requests" }, h("p", {}, "Loading…"));
  const detail = h("section", { "aria-live": "polite" });
  const consent = h("section", { "aria-label": "Consent" });
  // Which part of the queue is shown: a refresh, or a request recorded, keeps it.
  const shown = { overdue: false, before: null };
  const reload = (focus) => load(queue, detail, reload, shown, focus);
  show(view, h("h1", {}, "Privacy requests"), may("privacy:write") ? form(detail, reload) : null, detail, queue, consent);
  reload();
  overview(consent);
}

async function overview(section) {
  try {
    const { purposes } = await get("/v1/consent");
    if (!purposes.length) return show(section, h("h2", {}, "Consent"), h("p", {}, "No profile has a consent decision yet."));
    const series = [
      ["granted", "granted"],
      ["refused", "refused or withdrawn"],
      ["expired", "expired"],
    ].map(([key, name]) => ({ name, points: purposes.map((p) => ({ label: p.purpose, value: p[key] })) }));
    show(
      section,
      h("h2", {}, "Consent"),
      table(
        ["Purpose", "Granted", "Refused or withdrawn", "Expired"],
        purposes.map((p) => [p.purpose, String(p.granted), String(p.refused), String(p.expired)]),
      ),
      chart("Profiles per purpose and decision", series, { unit: "profiles", kind: "bars" }),
    );
  } catch (error) {
    show(section, h("h2", {}, "Consent"), problem(error));
  }
}

/** The queue, newest first, 100 at a time; all requests or only the overdue ones.
 * `focus` names the control pressed, drawn anew: the keyboard goes back to it. */
async function load(queue, detail, reload, shown, focus) {
  const go = (change, control) => {
    Object.assign(shown, change);
    reload(control);
  };
  const only = h("input", { type: "checkbox", checked: shown.overdue, onchange: () => go({ overdue: only.checked, before: null }, "only") });
  try {
    const query = `?limit=100${shown.overdue ? "&overdue=true" : ""}${shown.before ? `&before=${encodeURIComponent(shown.before)}` : ""}`;
    const { requests, next_before: next } = await get(`/v1/privacy/requests${query}`);
    const newest = shown.before ? h("button", { type: "button", class: "secondary", onclick: () => go({ before: null }, "newest") }, "Newest requests") : null;
    const older = next ? h("button", { type: "button", class: "secondary", onclick: () => go({ before: next }, "older") }, "Older requests") : null;
    const none = shown.before ? "No older request." : shown.overdue ? "No request is overdue." : "No request yet.";
    show(
      queue,
      h("h2", {}, "Queue"),
      h("label", { class: "check" }, h("span", {}, only, " Only overdue requests")),
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
        : h("p", {}, none),
      h("p", { class: "row" }, newest, older),
    );
    if (focus) ({ only, newest, older }[focus] || older || newest || only).focus();
  } catch (error) {
    show(queue, h("h2", {}, "Queue"), problem(error));
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

/** Shows one request; `reload` refreshes the queue beside it. `refreshed`: drawn again
 * by its Refresh button, which the keyboard goes back to. */
async function open(detail, id, reload, refreshed = false) {
  const outcome = h("div", { "aria-live": "polite" });
  const refresh = h("button", { type: "button", onclick: () => (reload(), open(detail, id, reload, true)) }, "Refresh");
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
        h("p", { class: "row" },
          refresh,
          // The first whole download completes the request; later ones hold what came since.
          r.export_url && r.status !== "failed"
            ? h("button", { type: "button", class: "secondary", onclick: () => download(r.export_url, `${r.id}.json`).catch((e) => show(outcome, problem(e))) }, "Download the access export")
            : null,
          r.type === "erasure" && r.receipt
            ? h("button", { type: "button", class: "secondary", onclick: () => verify(outcome, r).catch((e) => show(outcome, problem(e))) }, "Verify the receipt")
            : null,
        ),
        outcome,
      ),
    );
    if (refreshed) refresh.focus();
  } catch (error) {
    show(detail, problem(error));
  }
}

/** Checks an erasure receipt against the keys and the audit chain, and offers the
 * receipt with its verification as a file to keep. */
async function verify(outcome, request) {
  const checked = await get(`/v1/privacy/requests/${encodeURIComponent(request.id)}/receipt/verify`);
  show(
    outcome,
    h("p", { class: checked.verified ? "ok" : "error", "data-verified": String(checked.verified) },
      checked.verified ? "The receipt holds: every check passed." : "The receipt does not hold."),
    table(["Check", "Result"], checked.checks.map((c) => [c.check, c.ok ? "passed" : "FAILED"])),
    h("button", {
      type: "button",
      class: "secondary",
      onclick: () => saveFile(new Blob([JSON.stringify(checked, null, 2)], { type: "application/json" }), `${request.id}-receipt.json`),
    }, "Download the receipt"),
  );
}
