// Computed traits: figures worked out from each person's events (a count, a sum, the last
// value, days since an event…), kept up to date by the projector and usable in segments.

import { get, put, remove } from "../api.js";
import { h, show, submitted, table, text, when, problem } from "../dom.js";

const KINDS = ["count", "sum", "avg", "min", "max", "first", "last", "most_frequent", "distinct_count", "distinct_list", "days_since_last"];
const PRESETS = ["total_revenue", "order_count", "average_order_value", "days_since_last_order", "rfm_score"];
const WITHOUT_PROPERTY = ["count", "days_since_last"];

export async function traitsPage(view, { may }) {
  const list = h("section", { "aria-label": "Computed traits" }, h("p", {}, "Loading…"));
  const status = h("div", { "aria-live": "polite" });
  const reload = () => load(list, status, may);
  show(view, h("h1", {}, "Computed traits"), may("segments:write") ? form(status, reload) : null, status, list);
  reload();
}

function window(w) {
  if (!w) return "ever";
  return w.days ? `${w.days} days` : `${w.hours} hours`;
}

async function load(list, status, may) {
  try {
    const { computed_traits: traits } = await get("/v1/computed-traits");
    show(
      list,
      h("h2", {}, "Defined"),
      traits.length
        ? table(
            ["Name", "Kind", "Event", "Property", "Within", "Changed", ""],
            traits.map((t) => [
              h("code", {}, t.name),
              t.preset ? `${t.kind} (${t.preset})` : t.kind,
              text(t.event),
              text(t.property),
              window(t.window),
              when(t.updated_at),
              may("segments:write")
                ? h("button", {
                    type: "button",
                    class: "link",
                    "aria-label": `Delete ${t.name}`,
                    onclick: async () => {
                      if (!confirm(`Delete the computed trait ${t.name}?`)) return;
                      try {
                        await remove(`/v1/computed-traits/${encodeURIComponent(t.name)}`);
                        load(list, status, may);
                      } catch (error) {
                        show(status, problem(error));
                      }
                    },
                  }, "Delete")
                : "",
            ]),
          )
        : h("p", {}, "None yet."),
    );
  } catch (error) {
    show(list, problem(error));
  }
}

function form(status, done) {
  const name = h("input", { name: "name", required: true, pattern: "[A-Za-z_][A-Za-z0-9_]{0,63}", placeholder: "lifetime_orders" });
  const preset = h("select", { name: "preset", "aria-label": "Preset" }, h("option", { value: "" }, "none: choose below"), PRESETS.map((p) => h("option", { value: p }, p)));
  const kind = h("select", { name: "kind", "aria-label": "Kind" }, KINDS.map((k) => h("option", { value: k }, k)));
  const event = h("input", { name: "event", placeholder: "Order Completed" });
  const property = h("input", { name: "property", placeholder: "revenue" });
  const days = h("input", { name: "days", type: "number", min: 1, placeholder: "ever", class: "short" });
  const own = h("div", { class: "row" }, h("label", {}, "Kind", kind), h("label", {}, "Event", event), h("label", {}, "Property", property));
  const sync = () => {
    own.hidden = Boolean(preset.value);
    property.disabled = WITHOUT_PROPERTY.includes(kind.value);
  };
  preset.addEventListener("change", sync);
  kind.addEventListener("change", sync);
  sync();
  return h(
    "form",
    {
      class: "card",
      onsubmit: submitted(status, async () => {
        const body = { name: name.value };
        if (preset.value) {
          body.preset = preset.value;
        } else {
          body.kind = kind.value;
          body.event = event.value;
          if (!property.disabled && property.value.trim()) body.property = property.value.trim();
        }
        if (preset.value && event.value.trim()) body.event = event.value.trim();
        if (days.value) body.window = { days: Number(days.value) };
        const saved = await put(`/v1/computed-traits/${encodeURIComponent(name.value)}`, body);
        show(status, h("p", { class: "ok" }, `Saved ${saved.name}; profiles get it as their events are applied.`));
        name.value = "";
        done();
      }),
    },
    h("h2", {}, "Define a computed trait"),
    h("div", { class: "row" }, h("label", {}, "Name", name), h("label", {}, "Preset", preset), h("label", {}, "Within the last (days)", days)),
    own,
    h("button", { type: "submit" }, "Save computed trait"),
  );
}
