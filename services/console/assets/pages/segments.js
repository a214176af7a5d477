// Segments: the list with sizes; a builder with a visual form and a text form of the same
// condition, its size previewed while it is edited and a mistake shown where it is; and a
// segment's own page with its size over time, its members and their export.

import { ApiError, download, get, listOrNothing, post, put, remove } from "../api.js";
import { chart } from "../chart.js";
import { h, show, table, when, problem } from "../dom.js";
import { conditionForm } from "./condition.js";

const EXAMPLE = 'trait plan = "pro" and performed "Order Completed" >= 1 times within 30 days';

export async function segmentsPage(view, { may }) {
  const list = h("section", { "aria-label": "Segments" }, h("p", {}, "Loading…"));
  const form = h("div");
  show(view, h("h1", {}, "Segments"), form, list);
  const segments = await load(list);
  if (may("segments:write")) show(form, await builder({ segments, saved: () => load(list) }));
}

async function load(list) {
  try {
    const { segments } = await get("/v1/segments");
    show(
      list,
      h("h2", {}, "All segments"),
      segments.length
        ? table(
            ["Name", "Members", "State", "Condition", "Changed"],
            segments.map((s) => [
              h("a", { href: `#/segments/${encodeURIComponent(s.segment_id)}` }, s.name),
              h("span", { class: "size" }, String(s.size ?? "")),
              state(s.status),
              h("code", {}, s.text),
              when(s.updated_at),
            ]),
          )
        : h("p", {}, "No segment yet."),
    );
    return segments;
  } catch (error) {
    show(list, problem(error));
    return [];
  }
}

function state(status) {
  if (!status) return "";
  if (status.state === "backfilling") return `backfilling (${status.profiles_done} of ${status.profiles_total} profiles)`;
  if (status.state === "rebuilding") return `rebuilding (${status.events_done} of ${status.events_total} events)`;
  return status.state;
}

/**
 * The builder, for a new segment or (with `editing`) an existing one. The visual and the
 * text form edit the same condition: switching converts through the preview, which
 * answers both forms.
 */
async function builder({ segments, saved, editing }) {
  const computed = await listOrNothing(true, "/v1/computed-traits", "computed_traits");
  const name = h("input", { name: "name", required: true, maxlength: 200, value: editing ? editing.name : "" });
  const description = h("input", { name: "description", maxlength: 2000, value: editing ? editing.description || "" : "" });
  const condition = h("textarea", { name: "condition", rows: 4, spellcheck: "false", placeholder: EXAMPLE, "aria-label": "Condition" });
  const preview = h("div", { class: "preview", "aria-live": "polite" });
  const status = h("div", { "aria-live": "polite" });
  const others = segments.filter((s) => !editing || s.segment_id !== editing.segment_id);
  const visual = conditionForm({ onChange: later, segments: others, computed: computed.map((c) => c.name) });
  const textPane = h("div", { hidden: true }, h("label", {}, "Condition", condition));
  const visualButton = h("button", { type: "button", "aria-pressed": "true" }, "Visual");
  const textButton = h("button", { type: "button", "aria-pressed": "false" }, "Text");
  let mode = "visual";
  let timer = null;
  let asked = 0;

  const body = () => (mode === "text" ? { text: condition.value } : { condition: visual.condition() });

  function later() {
    clearTimeout(timer);
    timer = setTimeout(estimate, 300);
  }
  condition.addEventListener("input", later);

  async function estimate() {
    if (mode === "text" && !condition.value.trim()) return show(preview);
    const mine = ++asked;
    try {
      const found = await post("/v1/segments/preview", body());
      if (mine !== asked) return;
      show(
        preview,
        h("p", {}, h("strong", { class: "size", "data-size": found.size }, String(found.size)), ` of ${found.total} profiles`, found.estimated ? " (estimated)" : ""),
        mode === "visual" ? h("p", { class: "muted" }, "As text: ", h("code", { class: "as-text" }, found.text)) : null,
      );
      return found;
    } catch (error) {
      if (mine !== asked) return;
      show(preview, mistake(mode === "text" ? condition.value : null, error));
    }
  }

  /** Converts the condition into the other form (the API reads it, counting no one). A
   * visual form not filled in yet, with no text written, opens the text form empty. */
  async function switchTo(next) {
    if (next === mode) return;
    try {
      if (next === "text") {
        try {
          const found = await post("/v1/segments/preview", { condition: visual.condition(), evaluate: false });
          condition.value = found.text;
        } catch (error) {
          // Refused as incomplete with nothing written as text yet: nothing to lose.
          if (!(error instanceof ApiError && error.status === 400 && !condition.value.trim())) throw error;
        }
      } else if (condition.value.trim()) {
        const found = await post("/v1/segments/preview", { text: condition.value, evaluate: false });
        if (!visual.load(found.condition)) {
          return show(status, h("p", { class: "error", role: "alert" }, "This condition has nested groups or event filters: keep editing it as text."));
        }
      }
    } catch (error) {
      return show(status, mistake(mode === "text" ? condition.value : null, error));
    }
    setMode(next);
  }

  function setMode(next) {
    mode = next;
    show(status);
    textPane.hidden = mode !== "text";
    visual.element.hidden = mode !== "visual";
    visualButton.setAttribute("aria-pressed", String(mode === "visual"));
    textButton.setAttribute("aria-pressed", String(mode === "text"));
    later();
  }
  visualButton.addEventListener("click", () => switchTo("visual"));
  textButton.addEventListener("click", () => switchTo("text"));

  if (editing && !visual.load(editing.condition)) {
    // Nested groups or event filters: the text form is the one that can hold it.
    condition.value = editing.text;
    setMode("text");
  } else if (editing) {
    later();
  }

  async function submit(event) {
    event.preventDefault();
    try {
      const fields = { name: name.value, ...body() };
      if (description.value.trim()) fields.description = description.value;
      const done = editing
        ? await put(`/v1/segments/${encodeURIComponent(editing.segment_id)}`, fields)
        : await post("/v1/segments", fields);
      show(status, h("p", { class: "ok" }, `Saved "${done.name}".`));
      if (!editing) {
        name.value = "";
        description.value = "";
      }
      saved(done);
    } catch (error) {
      show(status, mistake(mode === "text" ? condition.value : null, error));
    }
  }

  return h(
    "form",
    { class: "card", onsubmit: submit },
    h("h2", {}, editing ? "Change the segment" : "New segment"),
    h("div", { class: "grid" }, h("label", {}, "Name", name), h("label", {}, "Description", description)),
    h("div", { class: "tabs", role: "group", "aria-label": "Condition form" }, visualButton, textButton),
    visual.element,
    textPane,
    preview,
    h("button", { type: "submit" }, "Save segment"),
    status,
  );
}

/** An error; for a text parse error, the line it is on with a mark under its column. */
function mistake(text, error) {
  const position = error instanceof ApiError && error.body.position;
  if (position && text !== null) {
    const line = text.split("\n")[position.line - 1] ?? "";
    return h(
      "div",
      { class: "error", role: "alert" },
      h("p", {}, `Line ${position.line}, column ${position.column}: ${error.message}`),
      h("pre", {}, line, "\n", " ".repeat(Math.max(0, position.column - 1)), "^"),
    );
  }
  return problem(error);
}

/** One segment: what it is, its size over time, its members and their export. */
export async function segmentPage(view, id, { may }) {
  show(view, h("p", {}, "Loading…"));
  const path = `/v1/segments/${encodeURIComponent(id)}`;
  let segment;
  let segments;
  try {
    [segment, { segments }] = await Promise.all([get(path), get("/v1/segments")]);
  } catch (error) {
    return show(view, h("h1", {}, "Segment"), problem(error), h("a", { href: "#/segments" }, "Back to the segments"));
  }
  const sizes = h("section", { "aria-label": "Size over time" });
  const members = h("section", { "aria-label": "Members" });
  const editor = h("div");
  const status = h("div", { "aria-live": "polite" });
  const file = (format) => `${segment.name.replace(/[^\w.-]+/g, "_")}.${format === "ndjson" ? "ndjson" : "csv"}`;
  const exportButton = (format, label) =>
    h("button", {
      type: "button",
      class: "secondary",
      onclick: () => download(`${path}/members?format=${format}`, file(format)).catch((error) => show(status, problem(error))),
    }, label);
  show(
    view,
    h("p", {}, h("a", { href: "#/segments" }, "All segments")),
    h("h1", {}, segment.name),
    segment.description ? h("p", {}, segment.description) : null,
    h("div", { class: "tiles" },
      h("div", { class: "tile" }, "Members", h("strong", { class: "size", "data-size": segment.size }, String(segment.size ?? ""))),
      h("div", { class: "tile" }, "State", h("strong", {}, state(segment.status))),
      h("div", { class: "tile" }, "Version", h("strong", {}, String(segment.version))),
    ),
    h("p", {}, "Condition: ", h("code", {}, segment.text)),
    h("p", { class: "row" },
      exportButton("csv", "Export members (CSV)"),
      exportButton("ndjson", "Export members (NDJSON)"),
      may("segments:write")
        ? h("button", { type: "button", class: "secondary", onclick: async () => show(editor, await builder({ segments, editing: segment, saved: () => segmentPage(view, id, { may }) })) }, "Change")
        : null,
      may("segments:write")
        ? h("button", {
            type: "button",
            class: "danger",
            onclick: async () => {
              if (!confirm(`Delete the segment "${segment.name}"?`)) return;
              try {
                await remove(path);
                location.hash = "#/segments";
              } catch (error) {
                show(status, problem(error));
              }
            },
          }, "Delete")
        : null,
    ),
    status,
    editor,
    sizes,
    members,
  );
  sizeChart(sizes, path);
  memberList(members, path, null);
}

async function sizeChart(section, path) {
  try {
    const since = new Date(Date.now() - 14 * 86400e3).toISOString();
    const { sizes } = await get(`${path}/sizes?since=${encodeURIComponent(since)}`);
    if (!sizes.length) return show(section, h("h2", {}, "Size over time"), h("p", {}, "No change in the last 14 days."));
    // The answer lists only the hours that changed; each size holds until the next change.
    const points = [];
    const changes = new Map(sizes.map((s) => [Date.parse(s.hour), s.members]));
    let members = 0;
    for (let hour = Date.parse(sizes[0].hour); hour <= Date.now(); hour += 3600e3) {
      members = changes.get(hour) ?? members;
      points.push({ label: new Date(hour).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit" }), value: members });
    }
    show(section, chart("Members, hour by hour", [{ name: "members", points }], { unit: "members", kind: "lines" }));
  } catch (error) {
    show(section, h("h2", {}, "Size over time"), problem(error));
  }
}

async function memberList(section, path, cursor) {
  try {
    const page = await get(`${path}/members?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    const rows = page.members.map((m) => [h("a", { href: `#/profiles/${encodeURIComponent(m.profile_id)}` }, m.profile_id), when(m.since)]);
    show(
      section,
      h("h2", {}, "Members"),
      rows.length ? table(["Profile", "Member since"], rows) : h("p", {}, "No member."),
      h("p", { class: "row" },
        cursor ? h("button", { type: "button", class: "secondary", onclick: () => memberList(section, path, null) }, "First page") : null,
        page.next_cursor ? h("button", { type: "button", class: "secondary", onclick: () => memberList(section, path, page.next_cursor) }, "Next page") : null,
      ),
    );
  } catch (error) {
    show(section, h("h2", {}, "Members"), problem(error));
  }
}
