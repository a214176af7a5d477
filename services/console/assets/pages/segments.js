// Segments: the list with sizes, and a builder where the condition is written in the
// segment language, its size previewed while it is typed, and a mistake shown where it is.

import { ApiError, get, post } from "../api.js";
import { h, show, table, when, problem } from "../dom.js";

const EXAMPLE = 'trait plan = "pro" and performed "Order Completed" >= 1 times within 30 days';

export async function segmentsPage(view, { may }) {
  const list = h("section", { "aria-label": "Segments" }, h("p", {}, "Loading…"));
  show(view, h("h1", {}, "Segments"), may("segments:write") ? builder(() => load(list)) : null, list);
  load(list);
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
              s.name,
              h("span", { class: "size" }, String(s.size ?? "")),
              s.status ? s.status.state : "",
              h("code", {}, s.text),
              when(s.updated_at),
            ]),
          )
        : h("p", {}, "No segment yet."),
    );
  } catch (error) {
    show(list, problem(error));
  }
}

function builder(saved) {
  const name = h("input", { name: "name", required: true, maxlength: 200 });
  const condition = h("textarea", { name: "condition", rows: 4, spellcheck: "false", placeholder: EXAMPLE, required: true });
  const preview = h("div", { class: "preview", "aria-live": "polite" });
  const status = h("div", { "aria-live": "polite" });
  let timer = null;
  let asked = 0;

  condition.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(estimate, 300);
  });

  async function estimate() {
    const text = condition.value.trim();
    if (!text) return show(preview);
    const mine = ++asked;
    try {
      const found = await post("/v1/segments/preview", { text });
      if (mine !== asked) return;
      show(
        preview,
        h("p", {}, h("strong", { class: "size", "data-size": found.size }, String(found.size)), ` of ${found.total} profiles`, found.estimated ? " (estimated)" : ""),
      );
    } catch (error) {
      if (mine !== asked) return;
      show(preview, mistake(text, error));
    }
  }

  async function submit(event) {
    event.preventDefault();
    try {
      const created = await post("/v1/segments", { name: name.value, text: condition.value });
      show(status, h("p", { class: "ok" }, `Saved "${created.name}".`));
      name.value = "";
      condition.value = "";
      show(preview);
      saved();
    } catch (error) {
      show(status, mistake(condition.value, error));
    }
  }

  return h(
    "form",
    { class: "card", onsubmit: submit },
    h("h2", {}, "New segment"),
    h("label", {}, "Name", name),
    h("label", {}, "Condition", condition),
    preview,
    h("button", { type: "submit" }, "Save segment"),
    status,
  );
}

/** An error, and for a parse error the line it is on with a mark under its column. */
function mistake(text, error) {
  const position = error instanceof ApiError && error.body.position;
  if (!position) return problem(error);
  const line = text.split("\n")[position.line - 1] ?? "";
  return h(
    "div",
    { class: "error", role: "alert" },
    h("p", {}, `Line ${position.line}, column ${position.column}: ${error.message}`),
    h("pre", {}, line, "\n", " ".repeat(Math.max(0, position.column - 1)), "^"),
  );
}
