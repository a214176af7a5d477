// Sources: where a workspace's data comes from. A new source's write key is shown once,
// with the snippets that send events with it; each source's page has its write keys and
// the live event debugger.

import { follow, get, post } from "../api.js";
import { h, show, submitted, table, text, when, problem } from "../dom.js";
import { credentialTable } from "./keys.js";

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
      table(
        ["Name", "Kind", "Id", "Created"],
        sources.map((s) => [h("a", { href: `#/sources/${encodeURIComponent(s.id)}` }, s.name), s.kind, h("code", {}, s.id), when(s.created_at)]),
      ),
    );
  } catch (error) {
    show(list, problem(error));
  }
}

/** Shipped mappings for webhook sources (docs/ingestion.md describes each). */
const PRESETS = [
  ["ecommerce_order", "an e-commerce platform's order webhook"],
  ["payment", "a payment provider's event"],
];

function form(created, done) {
  const name = h("input", { name: "name", required: true, maxlength: 200 });
  const kind = h("select", { name: "kind" }, h("option", { value: "tracking" }, "tracking (SDKs, HTTP)"), h("option", { value: "webhook" }, "webhook"));
  const mapping = h(
    "select",
    { name: "mapping" },
    PRESETS.map(([preset, what]) => h("option", { value: preset }, `${preset}: ${what}`)),
    h("option", { value: "custom" }, "custom mapping (JSON)"),
  );
  const custom = h("textarea", {
    name: "custom_mapping",
    rows: 6,
    spellcheck: "false",
    "aria-label": "Custom mapping",
    placeholder: '{"type": "track", "event": "Ticket Opened", "userId": {"path": "requester.id"}}',
  });
  const mappingRow = h("label", { hidden: true }, "Mapping", mapping);
  const customRow = h("label", { hidden: true, class: "wide" }, "Custom mapping (JSON, see the ingestion guide)", custom);
  const sync = () => {
    mappingRow.hidden = kind.value !== "webhook";
    customRow.hidden = kind.value !== "webhook" || mapping.value !== "custom";
  };
  kind.addEventListener("change", sync);
  mapping.addEventListener("change", sync);
  return h(
    "form",
    {
      class: "card row",
      onsubmit: submitted(created, async () => {
        const body = { name: name.value, kind: kind.value };
        if (kind.value === "webhook") body.mapping = mappingOf(mapping.value, custom.value);
        const source = await post("/v1/sources", body);
        show(created, snippets(source));
        name.value = "";
        done();
      }),
    },
    h("label", {}, "Name", name),
    h("label", {}, "Kind", kind),
    mappingRow,
    customRow,
    h("button", { type: "submit" }, "Create source"),
  );
}

/** The mapping a webhook source is created with: a preset by name, or the JSON written. */
function mappingOf(choice, written) {
  if (choice !== "custom") return { preset: choice };
  try {
    return JSON.parse(written);
  } catch (error) {
    throw new Error(`The custom mapping is not JSON: ${error.message}`);
  }
}

function snippets(source) {
  const base = location.origin;
  const key = source.write_key;
  const curl = `curl -u '${key}:' ${base}/v1/track -H 'content-type: application/json' \\\n  -d '{"userId": "42", "event": "Order Completed", "properties": {"total": 99.5}}'`;
  const node = `import { Analytics } from "@segment/analytics-node";\nconst analytics = new Analytics({ writeKey: "${key}", host: "${base}" });\nanalytics.track({ userId: "42", event: "Order Completed", properties: { total: 99.5 } });`;
  const python = `import segment.analytics as analytics\nanalytics.write_key = "${key}"\nanalytics.host = "${base}"\nanalytics.track("42", "Order Completed", {"total": 99.5})`;
  // A webhook source is posted the other system's own JSON, not tracking calls: a sample
  // of what its mapping reads (a custom mapping's own shape is its author's to know).
  const sample = WEBHOOK_SAMPLES[source.mapping && source.mapping.preset] || { id: "test-1", user_id: "42" };
  const webhook = `curl -X POST ${base}${source.webhook_path} -H 'content-type: application/json' \\\n  -d '${JSON.stringify(sample)}'`;
  return h(
    "div",
    { class: "card" },
    h("h2", {}, `Source "${source.name}" created`),
    h("p", {}, "Its write key is shown this once: copy it now."),
    h("p", {}, copyable(h("code", { class: "write-key", "data-write-key": key }, key), "the write key")),
    source.webhook_path ? h("p", {}, "Webhook address: ", copyable(h("code", {}, `${base}${source.webhook_path}`), "the webhook address")) : null,
    (source.webhook_path ? ["curl", webhook] : ["curl", curl, "Node.js", node, "Python", python]).reduce((out, item, i, all) => {
      if (i % 2 === 0) out.push(h("h3", {}, item), copyable(h("pre", {}, all[i + 1]), `the ${item} snippet`));
      return out;
    }, []),
  );
}

/** A body each shipped mapping takes, for a first try of a new webhook source. */
const WEBHOOK_SAMPLES = {
  ecommerce_order: { id: 1001, email: "buyer@example.com", total_price: "9.99", currency: "EUR", customer: { id: "42", email: "buyer@example.com" } },
  payment: { id: "evt_1", type: "payment_intent.succeeded", created: 1767225600, data: { object: { id: "pi_1", amount: 999, currency: "eur", customer: "cus_42" } } },
};

/** `shown` with a button that copies its text; where the page may not use the clipboard
 * (plain http away from localhost) the button selects the text for copying by hand. */
function copyable(shown, what) {
  const button = h("button", { type: "button", class: "link", "aria-label": `Copy ${what}` }, "Copy");
  // What happened replaces the label as well as the text, so it is heard too.
  const tell = (outcome) => {
    button.textContent = outcome;
    button.setAttribute("aria-label", `${outcome}: ${what}`);
  };
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(shown.textContent);
      tell("Copied");
    } catch {
      const range = document.createRange();
      range.selectNodeContents(shown);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      tell("Selected: copy it by hand");
    }
  });
  return [shown, " ", button];
}

/** One source: its write keys and, for those who may read events, the live debugger. */
export async function sourcePage(view, id, { may, onLeave }) {
  show(view, h("p", {}, "Loading…"));
  let source;
  try {
    source = await get(`/v1/sources/${encodeURIComponent(id)}`);
  } catch (error) {
    return show(view, h("h1", {}, "Source"), problem(error), h("a", { href: "#/sources" }, "Back to the sources"));
  }
  const keys = h("section", { "aria-label": "Write keys" });
  const live = h("section", { "aria-label": "Live events" });
  show(
    view,
    h("p", {}, h("a", { href: "#/sources" }, "All sources")),
    h("h1", {}, source.name),
    h("p", { class: "muted" }, `${source.kind} source `, h("code", {}, source.id), ` · created ${when(source.created_at)}`),
    keys,
    live,
  );
  if (may("keys:read")) writeKeys(keys, source, may);
  if (may("events:read")) debuggerFor(live, source, onLeave);
}

async function writeKeys(section, source, may) {
  const fresh = h("div", { "aria-live": "polite" });
  try {
    const { keys } = await get("/v1/keys");
    const mine = keys.filter((k) => k.source_id === source.id && k.kind === "write_key");
    const reload = () => writeKeys(section, source, may);
    show(
      section,
      h("h2", {}, "Write keys"),
      credentialTable(mine, {
        permissions: false,
        revocable: may("keys:write"),
        warning: "Senders using it are refused from now on.",
        done: reload,
        status: fresh,
      }),
      may("sources:write")
        ? h("button", {
            type: "button",
            class: "secondary",
            onclick: async () => {
              try {
                const made = await post(`/v1/sources/${encodeURIComponent(source.id)}/keys`, {});
                await reload();
                show(fresh, h("div", { class: "card" }, h("p", {}, "The new write key, shown this once:"), h("p", {}, h("code", { class: "write-key", "data-write-key": made.write_key }, made.write_key))));
              } catch (error) {
                show(fresh, problem(error));
              }
            },
          }, "New write key")
        : null,
      fresh,
    );
  } catch (error) {
    show(section, h("h2", {}, "Write keys"), problem(error));
  }
}

/** Most events kept on the page; older ones drop off the end. */
const FEED = 200;

/**
 * The live debugger: the source's events as they are stored (from the live stream), and
 * the requests refused with why, newest on top. Runs until paused or the page is left.
 */
function debuggerFor(section, source, onLeave) {
  const rows = h("tbody");
  const state = h("p", { class: "muted", "aria-live": "polite" });
  const toggle = h("button", { type: "button" }, "Pause");
  const detail = h("div", { tabindex: -1 });
  let running = null;
  let lastRejection = 0;
  let count = 0;

  function add(row) {
    rows.prepend(row);
    while (rows.children.length > FEED) rows.lastChild.remove();
  }

  function eventRow(e) {
    const payload = e.payload || {};
    const who = payload.userId || payload.anonymousId || "";
    const name = payload.event || payload.name || "";
    const open = h("button", { type: "button", class: "link" }, "show");
    open.addEventListener("click", () => {
      show(detail, h("h3", {}, `Event ${e.seq}`), h("pre", { class: "value" }, JSON.stringify(payload, null, 2)));
      detail.focus();
    });
    return row({ class: "accepted", "data-seq": e.seq }, [
      ["Received", when(e.received_at)],
      ["Type", e.type],
      ["Event", text(name)],
      ["Person", text(who)],
      ["Message id", h("code", {}, e.message_id)],
      ["", ["stored ", open]],
    ]);
  }

  function rejectionRow(r) {
    return row({ class: "rejected" }, [
      ["Received", when(r.at)],
      ["Answer", String(r.status)],
      ["Code", r.code],
      ["Message", r.message, 2],
      ["", "refused"],
    ]);
  }

  // Each cell names its column, for the phone layout where the header row is hidden.
  const row = (attrs, cells) =>
    h("tr", attrs, cells.map(([label, content, span]) => h("td", { "data-label": label || null, colspan: span || null }, content)));

  async function rejections(signal) {
    while (!signal.aborted) {
      try {
        const { rejections: found } = await get(`/v1/sources/${encodeURIComponent(source.id)}/rejections?after=${lastRejection}`);
        for (const r of found) {
          lastRejection = Math.max(lastRejection, r.id);
          add(rejectionRow(r));
        }
      } catch {
        // The refusals are a help, not the feed: the events go on without them.
      }
      await new Promise((done) => setTimeout(done, 2000));
    }
  }

  let lastSeq = null;

  function start() {
    const controller = new AbortController();
    running = controller;
    toggle.textContent = "Pause";
    show(state, "Listening for events…");
    // After a pause or a dropped connection, on from the last event shown.
    const from = lastSeq === null ? "" : `&after=${lastSeq}`;
    follow(
      `/v1/stream?include=events&sources=${encodeURIComponent(source.id)}${from}`,
      (frame) => {
        if (frame.id) lastSeq = frame.id;
        let event;
        try {
          event = JSON.parse(frame.data);
        } catch {
          return; // not an event of this feed
        }
        count += 1;
        add(eventRow(event));
        show(state, `Listening: ${count} ${count === 1 ? "event" : "events"} since the page opened.`);
      },
      controller.signal,
    ).then(
      () => reconnect(controller, "The stream closed; connecting again…"),
      (error) => {
        if (!controller.signal.aborted) reconnect(controller, `${error.message}; connecting again…`);
      },
    );
    rejections(controller.signal);
  }

  function reconnect(controller, why) {
    if (running !== controller) return;
    controller.abort();
    show(state, why);
    setTimeout(() => running === controller && start(), 2000);
  }

  function stop() {
    if (running) running.abort();
    running = null;
    toggle.textContent = "Resume";
    show(state, "Paused.");
  }

  toggle.addEventListener("click", () => (running ? stop() : start()));
  show(
    section,
    h("h2", {}, "Live events"),
    h("p", {}, "Events sent with this source's keys appear as they are stored; refused requests show what their sender was told. ", toggle),
    state,
    detail,
    h("div", { class: "scroll feed" },
      h("table", { class: "live" },
        h("thead", {}, h("tr", {}, ["Received", "Type", "Event", "Person", "Message id", ""].map((n) => h("th", { scope: "col" }, n)))),
        rows)),
  );
  start();
  onLeave(stop);
}
