// Sources: where a workspace's data comes from. A new source's write key is shown once,
// with the snippets that send events with it.

import { get, post } from "../api.js";
import { h, show, submitted, table, when, problem } from "../dom.js";

export async function sourcesPage(view, { may }) {
  const list = h("section", { "aria-label": "Sources" }, h("p", {}, "Loading…"));
  const created = h("div", { "aria-live": "polite" });
  show(view, h("h1", {}, "Sources"), may("sources:write") ? form(created, () => load(list)) : null, created, list);
  load(list);
}

async function load(list) {
  try {
    const { sources } = await get("/v1/sources");
    show(
      list,
      h("h2", {}, "All sources"),
      table(["Name", "Kind", "Id", "Created"], sources.map((s) => [s.name, s.kind, h("code", {}, s.id), when(s.created_at)])),
    );
  } catch (error) {
    show(list, problem(error));
  }
}

function form(created, done) {
  const name = h("input", { name: "name", required: true, maxlength: 200 });
  const kind = h("select", { name: "kind" }, h("option", { value: "tracking" }, "tracking (SDKs, HTTP)"), h("option", { value: "webhook" }, "webhook"));
  return h(
    "form",
    {
      class: "card row",
      onsubmit: submitted(created, async () => {
        const source = await post("/v1/sources", { name: name.value, kind: kind.value });
        show(created, snippets(source));
        name.value = "";
        done();
      }),
    },
    h("label", {}, "Name", name),
    h("label", {}, "Kind", kind),
    h("button", { type: "submit" }, "Create source"),
  );
}

function snippets(source) {
  const base = location.origin;
  const key = source.write_key;
  const curl = `curl -u '${key}:' ${base}/v1/track -H 'content-type: application/json' \\\n  -d '{"userId": "42", "event": "Order Completed", "properties": {"total": 99.5}}'`;
  const node = `import { Analytics } from "@segment/analytics-node";\nconst analytics = new Analytics({ writeKey: "${key}", host: "${base}" });\nanalytics.track({ userId: "42", event: "Order Completed", properties: { total: 99.5 } });`;
  const python = `import segment.analytics as analytics\nanalytics.write_key = "${key}"\nanalytics.host = "${base}"\nanalytics.track("42", "Order Completed", {"total": 99.5})`;
  return h(
    "div",
    { class: "card" },
    h("h2", {}, `Source "${source.name}" created`),
    h("p", {}, "Its write key is shown this once: copy it now."),
    h("p", {}, h("code", { class: "write-key", "data-write-key": key }, key), " ", copyButton(key)),
    source.webhook_path ? h("p", {}, "Webhook address: ", h("code", {}, `${base}${source.webhook_path}`)) : null,
    ["curl", curl, "Node.js", node, "Python", python].reduce((out, item, i, all) => {
      if (i % 2 === 0) out.push(h("h3", {}, item), h("pre", {}, all[i + 1]), copyButton(all[i + 1]));
      return out;
    }, []),
  );
}

function copyButton(textToCopy) {
  return h(
    "button",
    {
      type: "button",
      class: "link",
      onclick: (event) => {
        navigator.clipboard.writeText(textToCopy).then(
          () => (event.target.textContent = "Copied"),
          () => (event.target.textContent = "Select and copy by hand"),
        );
      },
    },
    "Copy",
  );
}
