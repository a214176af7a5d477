// Charts drawn as SVG with DOM calls (no HTML parsed, no library), each with its figures
// beside it as a table for those who read rather than look, and for screen readers.

import { h, table } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 180;
const PAD = { left: 48, right: 8, top: 8, bottom: 22 };

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, String(value));
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A round upper bound for the axis, so that its labels read easily. */
function ceiling(max) {
  if (max <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= max) return m * step;
  return 10 * step;
}

function short(n) {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(+n.toFixed(2));
}

/**
 * A chart of `series` ({name, points: [{label, value}]}) sharing one set of labels along
 * the bottom: bars for one series, lines for several. `unit` names what the values count.
 */
export function chart(title, series, { unit = "", kind } = {}) {
  const labels = series.length ? series[0].points.map((p) => p.label) : [];
  const max = ceiling(Math.max(0, ...series.flatMap((one) => one.points.map((p) => p.value))));
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const y = (v) => PAD.top + innerH - (v / max) * innerH;
  const bars = (kind || (series.length === 1 ? "bars" : "lines")) === "bars";
  // Bars keep clear of the edges: their labels sit in the middle of equal slots.
  const x = bars
    ? (i) => PAD.left + ((i + 0.5) * innerW) / Math.max(1, labels.length)
    : (i) => PAD.left + (labels.length <= 1 ? innerW / 2 : (i * innerW) / (labels.length - 1));

  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", role: "img", "aria-label": title });
  for (const tick of [0, max / 2, max]) {
    svg.appendChild(s("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(tick), y2: y(tick), class: "grid-line" }));
    svg.appendChild(s("text", { x: PAD.left - 6, y: y(tick) + 4, "text-anchor": "end", class: "axis" }, short(tick)));
  }
  const every = Math.max(1, Math.ceil(labels.length / 6));
  labels.forEach((label, i) => {
    if (i % every === 0 || i === labels.length - 1) {
      svg.appendChild(s("text", { x: x(i), y: HEIGHT - 6, "text-anchor": "middle", class: "axis" }, label));
    }
  });
  series.forEach((one, n) => {
    const colour = `series-${n % 6}`;
    if (bars) {
      // Several series: their bars side by side around each label.
      const slot = innerW / Math.max(1, labels.length);
      const w = Math.max(2, Math.min(24, slot / series.length - 2));
      const offset = (n - (series.length - 1) / 2) * (w + 1);
      one.points.forEach((p, i) =>
        svg.appendChild(
          s("rect", { x: x(i) + offset - w / 2, y: y(p.value), width: w, height: Math.max(0, y(0) - y(p.value)), class: colour },
            s("title", {}, `${series.length > 1 ? `${one.name}, ` : ""}${p.label}: ${p.value}${unit ? ` ${unit}` : ""}`)),
        ),
      );
    } else {
      const d = one.points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
      svg.appendChild(s("path", { d, class: `line ${colour}` }, s("title", {}, one.name)));
      // Dots where few enough to tell apart, so that a series of one point shows at all.
      if (one.points.length <= 60) {
        one.points.forEach((p, i) =>
          svg.appendChild(s("circle", { cx: x(i), cy: y(p.value), r: 3, class: colour }, s("title", {}, `${one.name}, ${p.label}: ${p.value}`))),
        );
      }
    }
  });

  const legend = series.length > 1
    ? h("ul", { class: "legend" }, series.map((one, n) => h("li", {}, h("span", { class: `swatch series-${n % 6}` }), one.name)))
    : null;
  return h(
    "figure",
    { class: "card figure" },
    h("figcaption", {}, title),
    svg,
    legend,
    h(
      "details",
      {},
      h("summary", {}, "Figures"),
      table(["", ...series.map((one) => one.name)], labels.map((label, i) => [label, ...series.map((one) => String(one.points[i]?.value ?? ""))])),
    ),
  );
}
