// Destinations: webhooks the workspace's events and audience changes go to. Setting one up
// (its signing secret shown once), a test delivery, the delivery log with its dead letters
// and their replay, and how deliveries have fared.

import { get, listOrNothing, post, put, remove } from "../api.js";
import { chart } from "../chart.js";
import { focusNamed, h, show, submitted, table, text, when, problem } from "../dom.js";

const STATUSES = ["pending", "delivered", "dead", "cancelled"];
const list = (value) => value.split(",").map((v) => v.trim()).filter(Boolean);

export async function destinationsPage(view, { may }) {
  const all = h("section", { "aria-label": "Destinations" }, h("p", {}, "Loading…"));
  const created = h("div", { "aria-live": "polite" });
  const form = h("div");
  show(view, h("h1", {}, "Destinations"), form, created, all);
  load(all);
  if (may("destinations:write")) show(form, await setup(created, () => load(all), may));
}

async function load(section) {
  try {
    const { destinations } = await get("/v1/destinations");
    show(
      section,
      h("h2", {}, "All destinations"),
      destinations.length
        ? table(
            ["Name", "Address", "Purpose", "State", "Circuit", "Created"],
            destinations.map((d) => [
              h("a", { href: `#/destinations/${encodeURIComponent(d.id)}` }, d.name),
              h("code", {}, d.url),
              d.purpose,
              enabled(d),
              d.breaker ? d.breaker.state : "",
              when(d.created_at),
            ]),
          )
        : h("p", {}, "No destination yet."),
    );
  } catch (error) {
    show(section, problem(error));
  }
}

function enabled(d) {
  return h("span", { class: `status ${d.enabled ? "active" : "suspended"}` }, d.enabled ? "enabled" : `disabled${d.disabled_reason ? ` (${d.disabled_reason})` : ""}`);
}

/** The choices of sources and segments a destination can be limited to. */
async function choices(may) {
  const [sources, segments] = await Promise.all([
    listOrNothing(may("sources:read"), "/v1/sources", "sources"),
    listOrNothing(may("segments:read"), "/v1/segments", "segments"),
  ]);
  return { sources, segments };
}

async function setup(created, done, may) {
  const { sources, segments } = await choices(may);
  const name = h("input", { name: "name", required: true, maxlength: 200 });
  const url = h("input", { name: "url", type: "url", required: true, placeholder: "https://example.com/hooks/cdp" });
  const purpose = h("input", { name: "purpose", required: true, value: "marketing", pattern: "[A-Za-z0-9_.\\-]{1,64}" });
  const events = h("input", { type: "checkbox", name: "events", checked: true });
  const names = h("input", { name: "event_names", placeholder: "all events (or: Order Completed, Signed Up)" });
  const fromSources = h("select", { name: "sources", multiple: true, size: Math.min(4, Math.max(2, sources.length)) }, sources.map((s) => h("option", { value: s.id }, s.name)));
  const audiences = h("select", { name: "segments", multiple: true, size: Math.min(4, Math.max(2, segments.length)) }, segments.map((s) => h("option", { value: s.segment_id }, s.name)));
  const picked = (select) => [...select.selectedOptions].map((o) => o.value);
  return h(
    "form",
    {
      class: "card",
      onsubmit: submitted(created, async () => {
        const filter = {};
        if (list(names.value).length) filter.event_names = list(names.value);
        if (picked(fromSources).length) filter.sources = picked(fromSources);
        const made = await post("/v1/destinations", {
          name: name.value,
          url: url.value,
          purpose: purpose.value,
          receives: { events: events.checked, segments: picked(audiences) },
          filter,
        });
        show(created, secretShown(`Destination "${made.name}" created`, made.signing_secret));
        name.value = "";
        url.value = "";
        done();
      }),
    },
    h("h2", {}, "New destination"),
    h("div", { class: "grid" },
      h("label", {}, "Name", name),
      h("label", {}, "Webhook address", url),
      h("label", {}, "Consent purpose (only people who gave it)", purpose),
      h("label", {}, "Only these events", names),
      h("label", {}, "Only from these sources", fromSources),
      h("label", {}, "Audience changes of these segments", audiences),
    ),
    h("label", { class: "check" }, h("span", {}, events, " Send events")),
    h("button", { type: "submit" }, "Create destination"),
  );
}

function secretShown(title, secret) {
  return h(
    "div",
    { class: "card" },
    h("h2", {}, title),
    h("p", {}, "Its signing secret is shown this once. Receivers check each delivery's webhook-signature with it (Standard Webhooks)."),
    h("p", {}, h("code", { class: "signing-secret" }, secret)),
  );
}

/** One destination: settings, a test delivery, outcomes, and the delivery log. `focus`
 * names the button to put the keyboard on, when the page is drawn again after one. */
export async function destinationPage(view, id, { may }, focus) {
  show(view, h("p", {}, "Loading…"));
  const path = `/v1/destinations/${encodeURIComponent(id)}`;
  let d;
  try {
    d = await get(path);
  } catch (error) {
    return show(view, h("h1", {}, "Destination"), problem(error), h("a", { href: "#/destinations" }, "Back to the destinations"));
  }
  const status = h("div", { "aria-live": "polite" });
  const log = h("section", { "aria-label": "Delivery log" });
  const reload = (button) => destinationPage(view, id, { may }, button);
  const counts = d.deliveries || {};
  const finished = (counts.delivered || 0) + (counts.dead || 0);
  const action = (label, run, cls = "secondary") =>
    h("button", { type: "button", class: cls, onclick: () => run().catch((error) => show(status, problem(error))) }, label);
  const writable = may("destinations:write");
  const settings = { name: d.name, url: d.url, purpose: d.purpose, receives: d.receives, filter: d.filter, mapping: d.mapping };

  show(
    view,
    h("p", {}, h("a", { href: "#/destinations" }, "All destinations")),
    h("h1", {}, d.name),
    h("p", {}, h("code", {}, d.url), " · purpose ", h("strong", {}, d.purpose), " · ", enabled(d)),
    h("div", { class: "tiles" },
      STATUSES.map((s) => h("div", { class: "tile" }, s, h("strong", { "data-count": s }, String(counts[s] ?? 0)))),
      h("div", { class: "tile" }, "Success", h("strong", {}, finished ? `${Math.round((100 * (counts.delivered || 0)) / finished)}%` : "–")),
      h("div", { class: "tile" }, "Skipped (no consent)", h("strong", {}, String(d.skipped_without_consent ?? 0))),
      h("div", { class: "tile" }, "Circuit", h("strong", {}, d.breaker ? d.breaker.state : "")),
    ),
    chart("Deliveries by outcome", [{ name: "deliveries", points: STATUSES.map((s) => ({ label: s, value: counts[s] || 0 })) }], { unit: "deliveries", kind: "bars" }),
    writable
      ? h("p", { class: "row" },
          action("Send a test delivery", async () => show(status, tested(await post(`${path}/test`)))),
          action(d.enabled ? "Disable" : "Enable", async () => {
            await put(path, { ...settings, enabled: !d.enabled });
            reload(d.enabled ? "Enable" : "Disable");
          }),
          action("Rotate the signing secret", async () => {
            const rotated = await post(`${path}/secret`, {});
            show(status, secretShown("New signing secret", rotated.signing_secret), h("p", {}, `The previous one keeps signing until ${when(rotated.previous_secret_expires_at)}.`));
          }),
          action("Delete", async () => {
            if (!confirm(`Delete "${d.name}" and its delivery log?`)) return;
            await remove(path);
            location.hash = "#/destinations";
          }, "danger"),
        )
      : null,
    status,
    h("details", {}, h("summary", {}, "Settings"), h("pre", {}, JSON.stringify({ receives: d.receives, filter: d.filter, mapping: d.mapping }, null, 2))),
    log,
  );
  deliveryLog(log, path, { status: "", after: 0 }, writable);
  if (focus) focusNamed(view, focus);
}

function tested(answer) {
  return h(
    "p",
    { class: answer.delivered ? "ok test-result" : "error test-result", role: "status", "data-delivered": String(answer.delivered) },
    answer.delivered
      ? `Test delivery accepted: the receiver answered ${answer.status} in ${answer.latency_ms} ms.`
      : `Test delivery failed: ${answer.error}${answer.latency_ms ? ` (after ${answer.latency_ms} ms)` : ""}.`,
  );
}

async function deliveryLog(section, path, { status, after }, writable, note) {
  const filter = h(
    "select",
    { "aria-label": "Show deliveries", onchange: () => deliveryLog(section, path, { status: filter.value, after: 0 }, writable) },
    h("option", { value: "" }, "all"),
    STATUSES.map((s) => h("option", { value: s, selected: s === status }, s === "dead" ? "dead letters" : s)),
  );
  const result = h("div", { "aria-live": "polite" }, note);
  try {
    const query = `?limit=100&after=${after}${status ? `&status=${status}` : ""}`;
    const page = await get(`${path}/deliveries${query}`);
    const chosen = new Set();
    const rows = page.deliveries.map((d) => [
      writable && d.status === "dead"
        ? h("input", { type: "checkbox", "aria-label": `Choose delivery ${d.seq}`, onchange: (e) => (e.target.checked ? chosen.add(d.seq) : chosen.delete(d.seq)) })
        : "",
      String(d.seq),
      d.kind,
      h("span", { class: `status ${d.status}` }, d.status),
      String(d.attempts),
      d.last_status ? String(d.last_status) : "",
      text(d.last_error),
      d.latency_ms !== null && d.latency_ms !== undefined ? `${d.latency_ms} ms` : "",
      when(d.created_at),
      d.profile_id ? h("a", { href: `#/profiles/${encodeURIComponent(d.profile_id)}` }, d.profile_id) : "",
    ]);
    const replay = async (seqs) => {
      const done = await post(`${path}/replay`, seqs ? { seqs } : {});
      // Shown again, so the replayed letters no longer read as dead; the keyboard (and a
      // screen reader) goes to what happened, since the button pressed is drawn anew.
      const sent = h("p", { class: "ok", tabindex: -1 }, `${done.replayed} sent again.`);
      await deliveryLog(section, path, { status, after }, writable, sent);
      sent.focus();
    };
    show(
      section,
      h("h2", {}, "Delivery log"),
      h("div", { class: "row" },
        h("label", {}, "Show", filter),
        writable ? h("button", { type: "button", class: "secondary", onclick: () => replay(null).catch((e) => show(result, problem(e))) }, "Replay every dead letter") : null,
        writable ? h("button", { type: "button", class: "secondary", onclick: () => replay([...chosen]).catch((e) => show(result, problem(e))) }, "Replay the chosen") : null,
      ),
      result,
      rows.length
        ? table(["", "#", "Kind", "Status", "Attempts", "Answer", "Error", "Took", "Queued", "Profile"], rows)
        : h("p", {}, "No delivery here."),
      page.next_after ? h("button", { type: "button", class: "secondary", onclick: () => deliveryLog(section, path, { status, after: page.next_after }, writable) }, "Next page") : null,
    );
  } catch (error) {
    show(section, h("h2", {}, "Delivery log"), note, problem(error));
  }
}
