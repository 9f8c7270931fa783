// A line chart of active sessions and connected clients: one sample per refresh, the last
// 10 minutes kept in memory, drawn as an inline SVG (createElementNS: no markup strings),
// summed up in text for screen readers.

import { $, replaceChildren } from "../dom.js";
import { duration } from "./format.js";
import { setText } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
export const WINDOW_MS = 10 * 60 * 1000;
const MIN_SPAN_MS = 60 * 1000;
const HEIGHT = 200;
const MARGIN = { top: 12, right: 16, bottom: 26, left: 40 };
const SERIES = [
  { key: "sessions", label: "Active sessions", className: "line-sessions" },
  { key: "clients", label: "Connected clients", className: "line-clients" },
];
const TIME_STEPS_S = [10, 15, 30, 60, 120, 300];

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child);
  return element;
}

export class ActivityChart {
  constructor() {
    this.container = $("#chart");
    this.samples = [];
    // Redrawn at the container's width, so text is never stretched.
    if (window.ResizeObserver) new ResizeObserver(() => this.draw()).observe(this.container);
  }

  add({ sessions, clients }, time = Date.now()) {
    this.samples.push({ time, sessions, clients });
    this.samples = this.samples.filter((sample) => sample.time >= time - WINDOW_MS);
    setText($("#chart-latest-sessions"), sessions);
    setText($("#chart-latest-clients"), clients);
    this.draw();
    this.summarize();
  }

  reset() {
    this.samples = [];
    replaceChildren(this.container);
    setText($("#chart-latest-sessions"), "–");
    setText($("#chart-latest-clients"), "–");
    setText($("#chart-summary"), "");
  }

  summarize() {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const span = duration((last.time - first.time) / 1000);
    const parts = SERIES.map(({ key, label }) => {
      const values = this.samples.map((sample) => sample[key]);
      const [low, high] = [Math.min(...values), Math.max(...values)];
      return `${label}: now ${last[key]}, between ${low} and ${high}`;
    });
    const samples = `${this.samples.length} samples`;
    setText($("#chart-summary"), `Over the last ${span} (${samples}). ${parts.join(". ")}.`);
  }

  draw() {
    const width = Math.max(280, Math.round(this.container.clientWidth || 600));
    if (!this.samples.length) return;
    const end = this.samples[this.samples.length - 1].time;
    const start = Math.min(this.samples[0].time, end - MIN_SPAN_MS);
    const range = scale(Math.max(...this.samples.map((s) => Math.max(s.sessions, s.clients))));
    const top = range.top;
    const plot = {
      x: MARGIN.left,
      y: MARGIN.top,
      w: width - MARGIN.left - MARGIN.right,
      h: HEIGHT - MARGIN.top - MARGIN.bottom,
    };
    const x = (time) => plot.x + ((time - start) / (end - start)) * plot.w;
    const y = (value) => plot.y + plot.h - (value / top) * plot.h;
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${HEIGHT}`,
      width,
      height: HEIGHT,
      role: "img",
      "aria-labelledby": "chart-title",
      "aria-describedby": "chart-summary",
      class: "chart-svg",
    });
    chart.append(...yAxis(plot, range, y), ...xAxis(plot, start, end, x));
    for (const { key, className } of SERIES) {
      chart.append(...line(this.samples, key, className, x, y));
    }
    replaceChildren(this.container, chart);
  }
}

/**
 * The top of the y axis and its step: round numbers, always a little above the highest value
 * (a line along the top edge is hard to read), at most five steps.
 */
function scale(highest) {
  for (let magnitude = 1; ; magnitude *= 10) {
    for (const factor of [1, 2, 5]) {
      const step = factor * magnitude;
      const steps = Math.max(Math.floor(highest / step) + 1, step === 1 ? 4 : 1);
      if (steps <= 5) return { top: steps * step, step };
    }
  }
}

function yAxis(plot, { top, step }, y) {
  const ticks = [];
  for (let value = 0; value <= top; value += step) ticks.push(value);
  return ticks.flatMap((value) => [
    svg("line", {
      x1: plot.x,
      x2: plot.x + plot.w,
      y1: y(value),
      y2: y(value),
      class: value ? "grid" : "axis",
    }),
    svg(
      "text",
      { x: plot.x - 6, y: y(value) + 4, "text-anchor": "end", class: "tick" },
      String(value),
    ),
  ]);
}

function xAxis(plot, start, end, x) {
  const spanS = (end - start) / 1000;
  const step = (TIME_STEPS_S.find((s) => spanS / s <= 6) || 600) * 1000;
  const bottom = plot.y + plot.h;
  const elements = [svg("line", { x1: plot.x, x2: plot.x, y1: plot.y, y2: bottom, class: "axis" })];
  for (let time = Math.ceil(start / step) * step; time <= end; time += step) {
    const at = x(time);
    const label = new Date(time).toLocaleTimeString([], {
      hour: "numeric",
      minute: "2-digit",
      second: step < 60000 ? "2-digit" : undefined,
    });
    elements.push(
      svg("line", { x1: at, x2: at, y1: bottom, y2: bottom + 4, class: "axis" }),
      svg("text", { x: at, y: bottom + 18, "text-anchor": "middle", class: "tick" }, label),
    );
  }
  return elements;
}

function line(samples, key, className, x, y) {
  const points = samples.map(
    (sample) => `${x(sample.time).toFixed(1)},${y(sample[key]).toFixed(1)}`,
  );
  const last = samples[samples.length - 1];
  return [
    svg("polyline", { points: points.join(" "), class: `series ${className}`, "data-series": key }),
    svg("circle", { cx: x(last.time), cy: y(last[key]), r: 3.5, class: `dot ${className}` }),
  ];
}
