// Building the page. Every value shown goes in as a text node or an attribute set one by
// one: nothing is ever parsed as HTML, so a trait value holding markup shows as text.

/** An element: `h("p", {class: "note"}, "text", child, [more])`. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "value" || name === "checked" || name === "disabled") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces what `el` holds. */
export function show(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A table with a header row and one row per item, scrolling sideways when too wide. */
export function table(headers, rows) {
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows.map((cells) => tableRow(headers, cells))),
    ),
  );
}

/** One row of a `table`; each cell names its column, for the phone layout where the
 * header row is hidden. */
export function tableRow(headers, cells) {
  return h("tr", {}, cells.map((cell, i) => h("td", { "data-label": headers[i] || null }, cell)));
}

/** Puts the keyboard on the enabled control in `within` named `name` (its label, or else
 * its text): the one a redraw put in place of the control pressed. Says if there was one. */
export function focusNamed(within, name) {
  const found = [...within.querySelectorAll("a, button, input, select, textarea")].find(
    (el) => !el.disabled && (el.getAttribute("aria-label") ?? el.textContent) === name,
  );
  if (found) found.focus();
  return Boolean(found);
}

/** A value as people read it: strings as they are, anything else as JSON. */
export function text(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A time in the reader's own zone. */
export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** A message saying what went wrong, for a region that announces itself, with each of
 * the problems the API listed (a field's path and what is wrong with it). */
export function problem(error) {
  const problems = (error.body && Array.isArray(error.body.problems) && error.body.problems) || [];
  return h(
    "div",
    { class: "error", role: "alert" },
    h("p", {}, error.message || String(error)),
    problems.length
      ? h("ul", {}, problems.map((p) => h("li", {}, typeof p === "string" ? p : [p.path ? `${p.path}: ` : "", p.message])))
      : null,
  );
}

/** A form's submit handler: the page stays, `action` runs, and its failure shows in `status`. */
export function submitted(status, action) {
  return async (event) => {
    event.preventDefault();
    try {
      await action();
    } catch (error) {
      show(status, problem(error));
    }
  };
}

/** Hands `blob` to the browser as a download named `filename`. */
export function saveFile(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
