// The documentation page: lists the operations of /openapi.json by tag and sends them.
// Everything shown is set as text, never parsed as HTML.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function tryIt(method, path, op) {
  const form = el("form");
  const inputs = {};
  for (const p of op.parameters || []) {
    const input = el("input", { name: p.name, "aria-label": p.name });
    inputs[p.name] = { input, where: p.in };
    form.append(el("label", { class: "field" }, `${p.name} (${p.in}${p.required ? ", required" : ""}) `, input));
  }
  let body = null;
  if (op.requestBody) {
    body = el("textarea", { "aria-label": "request body" });
    body.value = "{}";
    form.append(el("label", { class: "field" }, "Body", body));
  }
  const output = el("pre", { "aria-live": "polite" });
  form.append(el("button", { type: "submit" }, "Send"), output);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let url = path;
    const query = new URLSearchParams();
    for (const [name, { input, where }] of Object.entries(inputs)) {
      if (where === "path") url = url.replace(`{${name}}`, encodeURIComponent(input.value));
      else if (input.value !== "") query.set(name, input.value);
    }
    if ([...query].length) url += `?${query}`;
    const headers = {};
    const token = document.getElementById("token").value.trim();
    if (token) headers.authorization = `Bearer ${token}`;
    const init = { method: method.toUpperCase(), headers };
    if (body) {
      headers["content-type"] = Object.keys(op.requestBody.content)[0];
      init.body = body.value;
    }
    output.textContent = "…";
    try {
      const response = await fetch(url, init);
      const text = await response.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
      output.textContent = `${response.status} ${response.statusText}\n\n${shown}`;
    } catch (e) {
      output.textContent = String(e);
    }
  });
  return form;
}

function render(spec, filter) {
  const main = document.getElementById("operations");
  main.replaceChildren();
  const byTag = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const text = `${method} ${path} ${op.summary || ""}`.toLowerCase();
      if (filter && !text.includes(filter)) continue;
      const tag = (op.tags || ["Other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([method, path, op]);
    }
  }
  for (const [tag, ops] of byTag) {
    main.append(el("h2", {}, tag));
    for (const [method, path, op] of ops) {
      const head = el("summary", {},
        el("span", { class: "method" }, method.toUpperCase()), " ",
        el("span", { class: "path" }, path), " — ", op.summary || "");
      const details = el("details", {}, head);
      if (op.description) details.append(el("p", { class: "perm" }, op.description));
      const codes = Object.entries(op.responses).map(([code, r]) => `${code}: ${r.description}`);
      details.append(el("p", { class: "perm" }, `Answers ${codes.join(" · ")}`));
      details.append(tryIt(method, path, op));
      main.append(details);
    }
  }
  if (!byTag.size) main.append(el("p", {}, "No operation matches."));
}

(async () => {
  const spec = await (await fetch("/openapi.json")).json();
  const filter = document.getElementById("filter");
  render(spec, "");
  filter.addEventListener("input", () => render(spec, filter.value.trim().toLowerCase()));
})();
