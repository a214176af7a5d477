// The visual form of a segment's condition: a list of clauses joined by "all" or "any",
// each a trait, computed trait, event, segment or consent test. It reads and writes the
// condition's JSON form, the same one the text form converts to; a condition it cannot
// show (nested groups, event property filters) stays in the text form.

import { focusNamed, h, show } from "../dom.js";

const OPS = [
  ["eq", "="],
  ["neq", "≠"],
  ["gt", ">"],
  ["gte", "≥"],
  ["lt", "<"],
  ["lte", "≤"],
  ["contains", "contains"],
  ["starts_with", "starts with"],
  ["exists", "exists"],
  ["in", "is one of"],
  ["before", "before"],
  ["after", "after"],
  ["within_last_days", "within the last (days)"],
];
const TIMES = [
  ["gte", "at least"],
  ["eq", "exactly"],
  ["neq", "not exactly"],
  ["lte", "at most"],
  ["gt", "more than"],
  ["lt", "fewer than"],
];
/** What a value is compared as, for the operators where it could be either. */
const TYPES = [
  ["text", "as text"],
  ["number", "as a number"],
  ["boolean", "as true or false"],
];
const TYPED_OPS = ["eq", "neq", "in"];
const NUMBER_OPS = ["gt", "gte", "lt", "lte", "within_last_days"];
const KINDS = [
  ["trait", "Trait"],
  ["computed", "Computed trait"],
  ["performed", "Did event"],
  ["not_performed", "Did not do event"],
  ["in_segment", "In segment"],
  ["not_in_segment", "Not in segment"],
  ["consent", "Gave consent"],
  ["no_consent", "No consent"],
];

/** The choices, with the current value among them even when it is not in the list (a
 * segment or computed trait the condition names that the list does not know). */
const withCurrent = (pairs, current) => (current && !pairs.some(([v]) => v === current) ? [[current, current], ...pairs] : pairs);

const options = (pairs, chosen) => pairs.map(([value, label]) => h("option", { value, selected: value === chosen }, label));

/** The type a value is compared as: ordering and day counts are numbers; `contains`,
 * `starts with` and dates are text; for the rest, the clause's own choice. */
function typeFor(op, chosen) {
  if (NUMBER_OPS.includes(op)) return "number";
  if (TYPED_OPS.includes(op)) return chosen || "text";
  return "text";
}

function typed(raw, type) {
  const text = raw.trim();
  if (type === "number") return Number(text);
  if (type === "boolean") return text === "true" || text === "yes";
  return text;
}

function comparisonValue(op, raw, type) {
  if (op === "exists") return undefined;
  const as = typeFor(op, type);
  if (op === "in") return raw.split(",").map((v) => v.trim()).filter(Boolean).map((v) => typed(v, as));
  return typed(raw, as);
}

/** The type of a value as the JSON form holds it. */
function typeOf(value) {
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === "number" ? "number" : typeof first === "boolean" ? "boolean" : "text";
}

const shown = (value) => (value === undefined || value === null ? "" : Array.isArray(value) ? value.join(", ") : String(value));

/** One clause as the form holds it, from a node of the JSON form (null when it has no place here). */
function clauseOf(node) {
  const [key] = Object.keys(node);
  const v = node[key];
  if (key === "trait" || key === "computed") {
    return { kind: key, name: v.name, op: v.op, value: shown(v.value), valueType: typeOf(v.value) };
  }
  if (key === "performed" && !v.where) {
    return {
      kind: "performed",
      event: v.event,
      timesOp: v.times ? v.times.op : "gte",
      times: v.times ? v.times.value : 1,
      windowN: v.within ? v.within.days ?? v.within.hours : "",
      unit: v.within && v.within.hours ? "hours" : "days",
    };
  }
  if (key === "in_segment") return { kind: "in_segment", segment: v };
  if (key === "consent") return { kind: "consent", purpose: v };
  if (key === "not") {
    const inner = clauseOf(v);
    if (!inner) return null;
    if (inner.kind === "performed" && inner.timesOp === "gte" && inner.times === 1) return { ...inner, kind: "not_performed" };
    if (inner.kind === "in_segment") return { ...inner, kind: "not_in_segment" };
    if (inner.kind === "consent") return { ...inner, kind: "no_consent" };
  }
  return null;
}

/** The JSON node of one clause. */
function nodeOf(c) {
  switch (c.kind) {
    case "trait":
    case "computed": {
      const comparison = { name: c.name.trim(), op: c.op };
      const value = comparisonValue(c.op, c.value || "", c.valueType);
      if (value !== undefined) comparison.value = value;
      return { [c.kind]: comparison };
    }
    case "performed":
    case "not_performed": {
      const performed = { event: c.event };
      if (c.kind === "performed" && !(c.timesOp === "gte" && Number(c.times) === 1)) {
        performed.times = { op: c.timesOp, value: Number(c.times) };
      }
      if (String(c.windowN ?? "").trim() !== "") performed.within = { [c.unit]: Number(c.windowN) };
      return c.kind === "performed" ? { performed } : { not: { performed } };
    }
    case "in_segment":
      return { in_segment: c.segment };
    case "not_in_segment":
      return { not: { in_segment: c.segment } };
    case "consent":
      return { consent: c.purpose.trim() };
    default:
      return { not: { consent: c.purpose.trim() } };
  }
}

/**
 * The form. `onChange(condition)` hears every edit; `segments` ([{segment_id, name}]) and
 * `computed` (names) fill the choices. Answers `{element, condition(), load(json)}`, where
 * `load` answers false for a condition the form cannot show.
 */
export function conditionForm({ onChange, segments = [], computed = [] }) {
  let clauses = [{ kind: "trait", name: "", op: "eq", value: "" }];
  let match = "and";
  const list = h("div", { class: "clauses" });
  const matchSelect = h(
    "select",
    { "aria-label": "Match", onchange: () => ((match = matchSelect.value), changed()) },
    options([["and", "all of these"], ["or", "any of these"]], match),
  );

  function condition() {
    const nodes = clauses.map(nodeOf);
    return nodes.length === 1 ? nodes[0] : { [match]: nodes };
  }

  function changed() {
    onChange(condition());
  }

  function field(c, key, attrs) {
    const input = h("input", { ...attrs, value: c[key] ?? "" });
    input.addEventListener("input", () => ((c[key] = input.value), changed()));
    return input;
  }

  function choice(c, key, pairs, label, redraw) {
    const select = h("select", { "aria-label": label }, options(pairs, c[key]));
    select.addEventListener("change", () => {
      c[key] = select.value;
      if (redraw) render();
      changed();
    });
    return select;
  }

  function row(c, i) {
    const n = i + 1;
    const parts = [choice(c, "kind", KINDS, `Condition ${n} kind`, true)];
    if (c.kind === "trait" || c.kind === "computed") {
      parts.push(
        c.kind === "computed" && computed.length
          ? choice(c, "name", withCurrent(computed.map((name) => [name, name]), c.name), `Condition ${n} computed trait`)
          : field(c, "name", { "aria-label": `Condition ${n} name`, placeholder: c.kind === "trait" ? "plan" : "total_revenue", required: true }),
        choice(c, "op", OPS, `Condition ${n} operator`, true),
      );
      if (c.op !== "exists") {
        parts.push(field(c, "value", { "aria-label": `Condition ${n} value`, placeholder: c.op === "in" ? "a, b, c" : "value" }));
      }
      if (TYPED_OPS.includes(c.op)) parts.push(choice(c, "valueType", TYPES, `Condition ${n} compared`));
    } else if (c.kind === "performed" || c.kind === "not_performed") {
      parts.push(field(c, "event", { "aria-label": `Condition ${n} event`, placeholder: "Order Completed", required: true }));
      if (c.kind === "performed") {
        parts.push(
          choice(c, "timesOp", TIMES, `Condition ${n} how often`),
          field(c, "times", { type: "number", min: 0, "aria-label": `Condition ${n} times`, class: "short" }),
          h("span", {}, "times"),
        );
      }
      parts.push(
        h("span", {}, "within"),
        field(c, "windowN", { type: "number", min: 1, "aria-label": `Condition ${n} window`, placeholder: "ever", class: "short" }),
        choice(c, "unit", [["days", "days"], ["hours", "hours"]], `Condition ${n} window unit`),
      );
    } else if (c.kind === "in_segment" || c.kind === "not_in_segment") {
      parts.push(
        segments.length
          ? choice(c, "segment", withCurrent(segments.map((s) => [s.segment_id, s.name]), c.segment), `Condition ${n} segment`)
          : h("span", { class: "muted" }, "no other segment yet"),
      );
    } else {
      parts.push(field(c, "purpose", { "aria-label": `Condition ${n} purpose`, placeholder: "marketing", required: true }));
    }
    const removeButton = h(
      "button",
      { type: "button", class: "secondary", "aria-label": `Remove condition ${n}`, disabled: clauses.length === 1 },
      "Remove",
    );
    removeButton.addEventListener("click", () => {
      clauses.splice(i, 1);
      render();
      changed();
    });
    return h("div", { class: "clause", role: "group", "aria-label": `Condition ${n}` }, parts, removeButton);
  }

  function defaults(c) {
    c.op = c.op || "eq";
    c.timesOp = c.timesOp || "gte";
    c.times = c.times ?? 1;
    c.unit = c.unit || "days";
    c.valueType = c.valueType || "text";
    c.segment = c.segment || (segments[0] && segments[0].segment_id) || "";
    if (c.kind === "computed" && computed.length && !c.name) c.name = computed[0];
    return c;
  }

  /** Draws the clauses again; the keyboard stays on the field of the same name (after a
   * removal, the same place in the list), or goes to "Add condition" when there is none. */
  function render() {
    const active = list.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    clauses.forEach(defaults);
    show(list, clauses.map(row));
    if (active === null) return;
    if (!focusNamed(list, active)) add.focus();
  }

  const add = h("button", { type: "button", class: "secondary" }, "Add condition");
  add.addEventListener("click", () => {
    clauses.push(defaults({ kind: "trait", name: "", op: "eq", value: "" }));
    render();
    changed();
    const fields = list.querySelectorAll(".clause:last-child input, .clause:last-child select");
    if (fields.length) fields[0].focus();
  });

  function load(json) {
    const group = json.and ? "and" : json.or ? "or" : null;
    const nodes = group ? json[group] : [json];
    const read = nodes.map(clauseOf);
    if (!read.length || read.some((c) => c === null)) return false;
    clauses = read;
    match = group || "and";
    matchSelect.value = match;
    render();
    return true;
  }

  render();
  return {
    element: h("div", { class: "visual" }, h("p", { class: "row" }, h("label", {}, "Profiles that match", matchSelect)), list, add),
    condition,
    load,
  };
}
