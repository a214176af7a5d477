// The workspace at a glance: events per source over time, how far the projector is behind
// the log, and how deliveries to each destination fare.

import { get, listOrNothing } from "../api.js";
import { chart } from "../chart.js";
import { h, show, problem } from "../dom.js";

const RANGES = [
  ["24h", "Last 24 hours", 24],
  ["7d", "Last 7 days", 24 * 7],
  ["30d", "Last 30 days", 24 * 30],
];

export async function overviewPage(view, { may, workspace, onLeave, left }) {
  const volume = h("section", { "aria-label": "Event volume" });
  const lag = h("section", { "aria-label": "Projector" });
  const deliveries = h("section", { "aria-label": "Deliveries" });
  show(view, h("h1", {}, workspace.name), volume, lag, may("destinations:read") ? deliveries : null);
  volumeChart(volume, "24h", may);
  lagChart(lag, onLeave, left);
  if (may("destinations:read")) deliveryChart(deliveries);
}

function slotLabel(ms, step, hours) {
  const date = new Date(ms);
  // Days are counted from midnight UTC, and named so.
  if (step > 3600e3) return `${date.toLocaleDateString([], { month: "short", day: "numeric", timeZone: "UTC" })} (UTC)`;
  return hours > 24
    ? date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit" })
    : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

async function volumeChart(section, range, may) {
  const [, title, hours] = RANGES.find(([key]) => key === range);
  const picker = h(
    "div",
    { class: "tabs", role: "group", "aria-label": "Period" },
    RANGES.map(([key, label]) =>
      h("button", { type: "button", "aria-pressed": String(key === range), onclick: () => volumeChart(section, key, may) }, label),
    ),
  );
  try {
    const now = Date.now();
    // Hourly up to a week; by day beyond, so that bars stay wide enough to see.
    const step = hours > 24 * 7 ? 86400e3 : 3600e3;
    const first = Math.floor((now - hours * 3600e3) / step + 1) * step;
    const [{ volume }, sources] = await Promise.all([
      get(`/v1/events/volume?since=${encodeURIComponent(new Date(first).toISOString())}&by=${step > 3600e3 ? "day" : "hour"}`),
      listOrNothing(may("sources:read"), "/v1/sources", "sources"),
    ]);
    const names = new Map(sources.map((s) => [s.id, s.name]));
    // Hours with no events are not in the answer: every hour of the period gets a point.
    const bySource = new Map();
    for (const row of volume) {
      const key = row.source_id || "none";
      if (!bySource.has(key)) bySource.set(key, new Map());
      const slot = Math.floor(Date.parse(row.start) / step) * step;
      const counts = bySource.get(key);
      counts.set(slot, (counts.get(slot) || 0) + row.events);
    }
    const slots = [];
    for (let at = first; at <= now; at += step) slots.push(at);
    const series = [...bySource.entries()].map(([key, counts]) => ({
      // Entries of no source: imports without one, consent and privacy records.
      name: key === "none" ? "no source (imports, recorded consent, privacy requests)" : names.get(key) || key,
      points: slots.map((at) => ({ label: slotLabel(at, step, hours), value: counts.get(at) || 0 })),
    }));
    const total = volume.reduce((sum, row) => sum + row.events, 0);
    show(
      section,
      h("h2", {}, "Events received"),
      picker,
      h("p", {}, h("strong", { class: "volume-total", "data-total": total }, String(total)), ` events, ${title.toLowerCase()}`),
      series.length
        ? chart(`Events per ${step > 3600e3 ? "day" : "hour"} by source, ${title.toLowerCase()}`, series, { unit: "events", kind: series.length === 1 ? "bars" : "lines" })
        : h("p", {}, "No event in this period."),
    );
  } catch (error) {
    show(section, h("h2", {}, "Events received"), picker, problem(error));
  }
}

/** Samples the projector every 5 seconds while the page is open. */
function lagChart(section, onLeave, left) {
  const samples = [];
  let timer = null;
  async function sample() {
    try {
      const p = await get("/v1/projection");
      samples.push({ label: new Date().toLocaleTimeString(), value: p.lag });
      if (samples.length > 60) samples.shift();
      const active = (p.generations || []).find((g) => g.status === "active");
      show(
        section,
        h("h2", {}, "Profiles and segments"),
        h("div", { class: "tiles" },
          h("div", { class: "tile" }, "Events in the log", h("strong", {}, String(p.log_head))),
          h("div", { class: "tile" }, "Not yet applied", h("strong", { class: "lag", "data-lag": p.lag }, String(p.lag))),
          h("div", { class: "tile" }, "State", h("strong", {}, p.stopped ? "stopped" : p.rebuilding ? "rebuilding" : "running")),
          active && active.failure ? h("div", { class: "tile error" }, "Stopped at", h("strong", {}, String(active.failed_seq)), active.failure) : null,
        ),
        chart("Events waiting for the projector (sampled every 5 s while this page is open)", [{ name: "lag", points: samples.slice() }], { unit: "events", kind: "lines" }),
      );
    } catch (error) {
      show(section, h("h2", {}, "Profiles and segments"), problem(error));
    }
    // Left while the answer was on its way: no further sample.
    if (!left()) timer = setTimeout(sample, 5000);
  }
  onLeave(() => clearTimeout(timer));
  sample();
}

async function deliveryChart(section) {
  try {
    const { destinations } = await get("/v1/destinations");
    if (!destinations.length) return show(section, h("h2", {}, "Deliveries"), h("p", {}, "No destination yet."));
    const shown = await Promise.all(destinations.map((d) => get(`/v1/destinations/${encodeURIComponent(d.id)}`)));
    // A destination with nothing finished yet has no rate to show (not 0%).
    const points = shown
      .map((d) => ({ d, c: d.deliveries || {} }))
      .filter(({ c }) => (c.delivered || 0) + (c.dead || 0) > 0)
      .map(({ d, c }) => ({ label: d.name, value: Math.round((1000 * (c.delivered || 0)) / ((c.delivered || 0) + (c.dead || 0))) / 10 }));
    show(
      section,
      h("h2", {}, "Deliveries"),
      points.length
        ? chart("Delivered, in % of finished deliveries (the rest became dead letters)", [{ name: "% delivered", points }], { unit: "%", kind: "bars" })
        : h("p", {}, "No delivery has finished yet."),
    );
  } catch (error) {
    show(section, h("h2", {}, "Deliveries"), problem(error));
  }
}
