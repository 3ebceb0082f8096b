// A time series chart of a range query's result, drawn by uPlot.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import type { Series } from "./api";
import { formatValue } from "./units";

/** Sent on `window` when the theme changes. */
export const THEME_EVENT = "skywatch-theme";

/** Distinct, legible on light and dark backgrounds (Grafana's classic palette). */
const PALETTE = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642", "#cca300"];

export interface ChartProps {
  series: Series[];
  names: string[];
  start: number;
  end: number;
  step: number;
  height?: number;
  /** Grafana's unit id for the y axis. */
  unit?: string;
}

/** Aligns the series on the query's step grid: uPlot wants one x array for all. */
export function align(series: Series[], start: number, end: number, step: number): uPlot.AlignedData {
  const xs: number[] = [];
  for (let t = start; t <= end + 1e-9; t += step) xs.push(Math.round(t * 1000) / 1000);
  const index = new Map(xs.map((t, i) => [t, i]));
  const ys = series.map((s) => {
    const y: (number | null)[] = new Array(xs.length).fill(null);
    for (const [t, v] of s.values ?? []) {
      const i = index.get(Math.round(t * 1000) / 1000);
      // NaN and ±Inf ("NaN", "+Inf" in the API's JSON) are gaps: uPlot would take them
      // into the scale and draw nothing at all.
      const n = Number(v);
      if (i !== undefined) y[i] = Number.isFinite(n) ? n : null;
    }
    return y;
  });
  return [xs, ...ys] as uPlot.AlignedData;
}

export function Chart({ series, names, start, end, step, height = 320, unit }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  // Redrawn in the theme's colours when it changes.
  const [theme, setTheme] = useState(document.documentElement.dataset.theme);
  useEffect(() => {
    const changed = () => setTheme(document.documentElement.dataset.theme);
    addEventListener(THEME_EVENT, changed);
    return () => removeEventListener(THEME_EVENT, changed);
  }, []);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    // The canvas takes colours, not CSS variables: read the theme's now.
    const css = getComputedStyle(document.documentElement);
    const [muted, grid] = ["--muted", "--grid"].map((v) => css.getPropertyValue(v).trim());
    const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts: uPlot.Options = {
      width: el.clientWidth || 600,
      height,
      legend: { show: series.length <= 20 },
      cursor: { points: { size: 6 } },
      scales: { x: { time: true } },
      axes: [axis, { ...axis, size: 84, values: (_u: uPlot, splits: number[]) => splits.map((v) => formatValue(v, unit)) }],
      series: [
        {},
        ...names.map((label, i) => ({
          label,
          stroke: PALETTE[i % PALETTE.length],
          width: 1.5,
          spanGaps: false,
        })),
      ],
    };
    // After each draw: whether the y scale came out finite (a chart with values and no
    // scale draws nothing), for a test or a person inspecting the page.
    opts.hooks = {
      draw: [
        (u: uPlot) => {
          const y = u.scales.y;
          el.dataset.scale = Number.isFinite(y?.min) && Number.isFinite(y?.max) ? "finite" : "none";
        },
      ],
    };
    const plot = new uPlot(opts, align(series, start, end, step), el);
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [series, names, start, end, step, height, theme, unit]);
  // How many values the chart holds: what a test (or a person inspecting the page) reads
  // to tell an empty chart from one with lines.
  const points = useMemo(
    () => series.reduce((n, s) => n + (s.values ?? []).filter(([, v]) => Number.isFinite(Number(v))).length, 0),
    [series],
  );
  return <div class="chart" ref={box} data-points={points} />;
}
