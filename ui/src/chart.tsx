// A time series chart of range queries' results, drawn by uPlot, with Grafana's
// time-series options: lines, bars or points, fill, stacking, a right axis, thresholds as
// lines or areas, min and max, negative-Y, a legend as a list or a table of calculations,
// and a tooltip of one or all series; exemplars as marks linking to their traces.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import type { Series } from "./api";
import { type ExemplarPoint, exemplarHref } from "./exemplars";
import { CALCS, type FieldConfig, PALETTE, cssColor } from "./fields";
import { autoRange } from "./scale";
import { formatTicks, formatValue } from "./units";

/** Sent on `window` when the theme changes. */
export const THEME_EVENT = "skywatch-theme";

export interface LegendOptions {
  displayMode?: "list" | "table" | "hidden";
  placement?: "bottom" | "right";
  calcs?: string[];
  showLegend?: boolean;
}

export interface ChartProps {
  series: Series[];
  names: string[];
  start: number;
  end: number;
  step: number;
  height?: number;
  /** Grafana's unit id for the y axis, when no field configuration gives one. */
  unit?: string;
  /** Each series' field configuration (defaults and overrides merged). */
  configs?: FieldConfig[];
  legend?: LegendOptions;
  tooltip?: "single" | "multi" | "none";
  /** Charts with the same key share their cursor (Grafana's shared crosshair). */
  sync?: string;
  /** Exemplars drawn over the series, on the left axis. */
  exemplars?: ExemplarPoint[];
  /** The most a legend under the chart may take, in pixels; a longer one scrolls. */
  legendHeight?: number;
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

type Ys = (number | null)[];

/** Stacks the series of each stacking group (`custom.stacking`), in order: each drawn
 * value is the sum of its own and the ones before it; in percent mode, of the total. */
export function stack(ys: Ys[], configs: FieldConfig[]): { drawn: Ys[]; below: (number | null)[] } {
  const drawn = ys.map((y) => y.slice());
  const below: (number | null)[] = ys.map(() => null);
  const groups = new Map<string, number[]>();
  ys.forEach((_, i) => {
    const s = configs[i]?.custom?.stacking as { mode?: string; group?: string } | undefined;
    if (!s?.mode || s.mode === "none") return;
    const key = `${s.mode}:${s.group ?? "A"}:${axisOf(configs[i])}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  for (const [key, members] of groups) {
    const percent = key.startsWith("percent:");
    const n = ys[0]?.length ?? 0;
    for (let x = 0; x < n; x++) {
      const total = percent ? members.reduce((a, i) => a + Math.abs(ys[i][x] ?? 0), 0) : 1;
      let acc = 0;
      for (const i of members) {
        const v = ys[i][x];
        if (v === null) continue;
        acc += percent ? (total ? v / total : 0) : v;
        drawn[i][x] = acc;
      }
    }
    members.forEach((i, k) => (below[i] = k ? members[k - 1] : null));
  }
  return { drawn, below };
}

function axisOf(c: FieldConfig | undefined): "left" | "right" {
  return c?.custom?.axisPlacement === "right" ? "right" : "left";
}

function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const a = Math.round(Math.min(Math.max(alpha, 0), 1) * 255)
    .toString(16)
    .padStart(2, "0");
  return `#${m[1]}${a}`;
}

/** Series paths for a field's draw style and interpolation. */
function pathsFor(c: FieldConfig): uPlot.Series.PathBuilder | undefined {
  const custom = c.custom ?? {};
  if (custom.drawStyle === "bars") return uPlot.paths.bars?.({ size: [0.7, 60], align: 0 });
  if (custom.drawStyle === "points") return () => null;
  switch (custom.lineInterpolation) {
    case "smooth":
      return uPlot.paths.spline?.();
    case "stepBefore":
      return uPlot.paths.stepped?.({ align: -1 });
    case "stepAfter":
      return uPlot.paths.stepped?.({ align: 1 });
    default:
      return undefined;
  }
}

export function Chart({ series, names, start, end, step, height = 320, unit, configs = [], legend = {}, tooltip = "multi", sync, exemplars, legendHeight }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  // Redrawn in the theme's colours when it changes.
  const [theme, setTheme] = useState(document.documentElement.dataset.theme);
  useEffect(() => {
    const changed = () => setTheme(document.documentElement.dataset.theme);
    addEventListener(THEME_EVENT, changed);
    return () => removeEventListener(THEME_EVENT, changed);
  }, []);

  const colors = useMemo(
    () => names.map((_, i) => (configs[i]?.color?.mode === "fixed" && cssColor(configs[i].color?.fixedColor)) || PALETTE[i % PALETTE.length]),
    [names, configs],
  );
  // `values` are the series as they are, for the legend and the tooltip; `raw` as drawn:
  // negative-Y draws a series below the axis (transmit under receive, say), and Grafana
  // still lists its values as they are.
  const values = useMemo(() => align(series, start, end, step), [series, start, end, step]);
  const raw = useMemo(() => {
    const data = values.slice();
    configs.forEach((c, i) => {
      if (c?.custom?.transform === "negative-Y") data[i + 1] = (data[i + 1] as Ys).map((v) => (v === null ? null : -v));
    });
    return data;
  }, [values, configs]);
  const hidden = legend.showLegend === false || legend.displayMode === "hidden";
  const ownLegend = !hidden && (legend.displayMode === "table" || (legend.calcs?.length ?? 0) > 0);

  useEffect(() => {
    const el = box.current?.querySelector<HTMLDivElement>(".chart");
    if (!el) return;
    // The canvas takes colours, not CSS variables: read the theme's now.
    const css = getComputedStyle(document.documentElement);
    const [muted, grid] = ["--muted", "--grid"].map((v) => css.getPropertyValue(v).trim());
    const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const ys = raw.slice(1) as Ys[];
    const { drawn, below } = stack(ys, configs);
    const unitOf = (side: "left" | "right") => configs.find((c) => axisOf(c) === side)?.unit ?? unit;
    const percentOf = (side: "left" | "right") =>
      configs.some((c) => axisOf(c) === side && (c?.custom?.stacking as { mode?: string })?.mode === "percent");
    const hasRight = configs.some((c) => axisOf(c) === "right");
    const defaults = configs[0] ?? {};
    const fractions = (side: "left" | "right") => percentOf(side) || unitOf(side) === "percentunit";
    const range =
      (side: "left" | "right", hardMin?: number, hardMax?: number, softMin?: number, softMax?: number): uPlot.Range.Function =>
      (_u, dmin, dmax) =>
        autoRange(dmin, dmax, { hardMin, hardMax, softMin, softMax, fractions: fractions(side) });
    const custom = (defaults.custom ?? {}) as Record<string, number | undefined>;
    const opts: uPlot.Options = {
      width: el.clientWidth || 600,
      height,
      legend: { show: !hidden && !ownLegend },
      cursor: { points: { size: 6 }, sync: sync ? { key: sync } : undefined },
      scales: {
        x: { time: true },
        y: { range: range("left", defaults.min, defaults.max, custom.axisSoftMin, custom.axisSoftMax) },
        ...(hasRight ? { y2: { range: range("right") } } : {}),
      },
      axes: [
        axis,
        {
          ...axis,
          scale: "y",
          size: 84,
          show: configs.every((c) => c?.custom?.axisPlacement !== "hidden") || hasRight,
          label: (configs.find((c) => axisOf(c) === "left")?.custom?.axisLabel as string) || undefined,
          values: (_u: uPlot, splits: number[]) => formatTicks(splits, percentOf("left") ? "percentunit" : unitOf("left")),
        },
        ...(hasRight
          ? [
              {
                ...axis,
                scale: "y2",
                side: 1,
                size: 84,
                grid: { show: false },
                label: (configs.find((c) => axisOf(c) === "right")?.custom?.axisLabel as string) || undefined,
                values: (_u: uPlot, splits: number[]) => formatTicks(splits, percentOf("right") ? "percentunit" : unitOf("right")),
              },
            ]
          : []),
      ],
      series: [
        {},
        ...names.map((label, i): uPlot.Series => {
          const c = configs[i] ?? {};
          const cu = c.custom ?? {};
          const color = colors[i];
          const fillOpacity = Number(cu.fillOpacity ?? 0);
          const bars = cu.drawStyle === "bars";
          const points = cu.drawStyle === "points";
          const showPoints = points || cu.showPoints === "always";
          const dash = (cu.lineStyle as { fill?: string; dash?: number[] } | undefined)?.fill === "dash" ? ((cu.lineStyle as { dash?: number[] }).dash ?? [10, 10]) : undefined;
          return {
            label,
            scale: axisOf(c) === "right" ? "y2" : "y",
            stroke: color,
            width: Number(cu.lineWidth ?? (bars ? 1 : 1.5)),
            dash,
            fill: fillOpacity > 0 || bars ? withAlpha(color, bars ? Math.max(fillOpacity, 60) / 100 : fillOpacity / 100) : undefined,
            paths: pathsFor(c),
            points: { show: showPoints, size: Number(cu.pointSize ?? 5), fill: color },
            spanGaps: cu.spanNulls === true,
            show: !(cu.hideFrom as { viz?: boolean } | undefined)?.viz,
            // The legend shows a series' own value, not its stacked sum.
            value: (_u: uPlot, _v: number | null, si: number, idx: number | null) =>
              idx === null ? "" : formatValue((values[si] as Ys)[idx] ?? null, c.unit ?? unit, c.decimals),
          };
        }),
      ],
      // Stacked series fill down to the one below them.
      bands: below.flatMap((b, i) => (b === null ? [] : [{ series: [i + 1, b + 1] as [number, number] }])),
    };
    // `fillBelowTo`: a series fills down to another (by its name) rather than to zero, as
    // Grafana draws a band between Max and Min.
    const fillTo = names.map((_, i) => {
      const target = configs[i]?.custom?.fillBelowTo;
      const j = typeof target === "string" ? names.indexOf(target) : -1;
      return j >= 0 && j !== i ? j : null;
    });
    fillTo.forEach((j, i) => {
      if (j === null) return;
      const own = opts.series[i + 1];
      const opacity = Number(configs[i]?.custom?.fillOpacity ?? 0) || 10;
      own.fill = undefined;
      opts.bands!.push({ series: [i + 1, j + 1], fill: withAlpha(colors[i], opacity / 100) });
    });
    const thresholds = thresholdDrawer(defaults, muted);
    // After each draw: whether the y scale came out finite (a chart with values and no
    // scale draws nothing), for a test or a person inspecting the page.
    opts.hooks = {
      drawClear: [thresholds.areas],
      draw: [
        thresholds.lines,
        (u: uPlot) => {
          const y = u.scales.y;
          el.dataset.scale = Number.isFinite(y?.min) && Number.isFinite(y?.max) ? "finite" : "none";
        },
        (u: uPlot) => placeExemplars(u, box.current, exemplars ?? [], configs[0]?.unit ?? unit),
      ],
      setCursor: [tooltip === "none" ? () => {} : tooltipUpdater(box.current!, values, names, colors, configs, unit, tooltip)],
    };
    const plot = new uPlot(opts, [raw[0], ...drawn] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [raw, values, names, height, theme, unit, configs, colors, hidden, ownLegend, tooltip, sync, exemplars]);
  // How many values the chart holds: what a test (or a person inspecting the page) reads
  // to tell an empty chart from one with lines.
  const points = useMemo(
    () => series.reduce((n, s) => n + (s.values ?? []).filter(([, v]) => Number.isFinite(Number(v))).length, 0),
    [series],
  );
  return (
    <div
      class={`chart-wrap${legend.placement === "right" && ownLegend ? " right" : ""}`}
      ref={box}
      style={legendHeight !== undefined && legend.placement !== "right" ? { "--legend-max": `${legendHeight}px` } : undefined}
    >
      <div class="chart" data-points={points} />
      {exemplars && <div class="exemplars" />}
      {ownLegend && <LegendTable raw={values} names={names} colors={colors} configs={configs} unit={unit} calcs={legend.calcs ?? []} />}
      <div class="chart-tooltip" hidden />
    </div>
  );
}

/** Places the exemplars over the plot, after each draw: a diamond at each one's time and
 * value, a link to its trace when it names one; those outside the plot are left out.
 * `data-drawn` on the layer says how many are shown. */
function placeExemplars(u: uPlot, root: HTMLElement | null, points: ExemplarPoint[], unit: string | undefined) {
  const layer = root?.querySelector<HTMLDivElement>(".exemplars");
  if (!root || !layer) return;
  layer.replaceChildren();
  let drawn = 0;
  if (Number.isFinite(u.scales.y?.min)) {
    const plot = u.over.getBoundingClientRect();
    const base = root.getBoundingClientRect();
    for (const e of points) {
      const x = u.valToPos(e.t, "x");
      const y = u.valToPos(e.v, "y");
      if (!(x >= 0 && x <= plot.width && y >= 0 && y <= plot.height)) continue;
      const href = exemplarHref(e);
      const mark = document.createElement(href ? "a" : "span");
      if (href) (mark as HTMLAnchorElement).href = href;
      mark.className = "exemplar";
      mark.title = `${formatValue(e.v, unit)} at ${new Date(e.t * 1000).toLocaleString()}${e.traceId ? `: trace ${e.traceId}` : ""}`;
      mark.style.left = `${plot.left - base.left + x}px`;
      mark.style.top = `${plot.top - base.top + y}px`;
      layer.append(mark);
      drawn++;
    }
  }
  layer.dataset.drawn = String(drawn);
}

/** Grafana's thresholds style: lines (solid or dashed) and areas between the steps. */
function thresholdDrawer(c: FieldConfig, fallback: string) {
  const mode = String((c.custom?.thresholdsStyle as { mode?: string } | undefined)?.mode ?? "off");
  const steps = (c.thresholds?.steps ?? []).map((s) => ({ value: s.value, color: cssColor(s.color) ?? fallback }));
  const box = (u: uPlot, v: number | null) => (v === null ? null : u.valToPos(v, "y", true));
  const areas = (u: uPlot) => {
    if (!mode.includes("area") || !u.scales.y || !Number.isFinite(u.scales.y.min)) return;
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    steps.forEach((s, i) => {
      const from = box(u, s.value) ?? top + height;
      const next = steps[i + 1];
      const to = next ? (box(u, next.value) ?? top) : top;
      const y0 = Math.min(Math.max(to, top), top + height);
      const y1 = Math.min(Math.max(from, top), top + height);
      if (y1 <= y0) return;
      ctx.fillStyle = withAlpha(s.color, 0.12);
      ctx.fillRect(left, y0, width, y1 - y0);
    });
  };
  const lines = (u: uPlot) => {
    if (!(mode.includes("line") || mode.includes("dashed")) || !Number.isFinite(u.scales.y?.min)) return;
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.setLineDash(mode.includes("dashed") ? [10 * devicePixelRatio, 10 * devicePixelRatio] : []);
    for (const s of steps) {
      const y = box(u, s.value);
      if (y === null || y < top || y > top + height) continue;
      ctx.strokeStyle = s.color;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
    }
    ctx.restore();
  };
  return { areas, lines };
}

/** Shows the values at the cursor: every series (`multi`) or the one nearest (`single`). */
function tooltipUpdater(
  root: HTMLElement,
  raw: uPlot.AlignedData,
  names: string[],
  colors: string[],
  configs: FieldConfig[],
  unit: string | undefined,
  mode: "single" | "multi",
) {
  return (u: uPlot) => {
    const tip = root.querySelector<HTMLDivElement>(".chart-tooltip");
    if (!tip) return;
    const { idx, left, top } = u.cursor;
    if (idx == null || left == null || top == null || left < 0) {
      tip.hidden = true;
      return;
    }
    let rows = names.map((name, i) => ({ name, i, v: (raw[i + 1] as Ys)[idx] ?? null })).filter((r) => r.v !== null && u.series[r.i + 1]?.show !== false);
    if (mode === "single" && rows.length) {
      const nearest = rows.reduce((a, b) => {
        const d = (r: typeof a) => Math.abs(u.valToPos(r.v as number, u.series[r.i + 1].scale ?? "y") - top);
        return d(b) < d(a) ? b : a;
      });
      rows = [nearest];
    }
    if (!rows.length) {
      tip.hidden = true;
      return;
    }
    tip.replaceChildren();
    const when = document.createElement("div");
    when.className = "tooltip-time";
    when.textContent = new Date((raw[0][idx] as number) * 1000).toLocaleString();
    tip.append(when);
    for (const r of rows.slice(0, 20)) {
      const row = document.createElement("div");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colors[r.i];
      const value = document.createElement("b");
      value.textContent = formatValue(r.v, configs[r.i]?.unit ?? unit, configs[r.i]?.decimals);
      row.append(swatch, `${r.name} `, value);
      tip.append(row);
    }
    tip.hidden = false;
    const plot = u.over.getBoundingClientRect();
    const base = root.getBoundingClientRect();
    const x = plot.left - base.left + left + 12;
    const flip = x + tip.offsetWidth > base.width;
    tip.style.left = `${flip ? Math.max(x - tip.offsetWidth - 24, 0) : x}px`;
    tip.style.top = `${plot.top - base.top + top + 12}px`;
  };
}

/** A legend of the calculations Grafana's `legend.calcs` asks for, one row per series. */
function LegendTable({ raw, names, colors, configs, unit, calcs }: { raw: uPlot.AlignedData; names: string[]; colors: string[]; configs: FieldConfig[]; unit?: string; calcs: string[] }) {
  const known = calcs.filter((c) => c in CALCS);
  return (
    <div class="legend-table scroll">
      <table>
        {known.length > 0 && (
          <thead>
            <tr>
              <th />
              {known.map((c) => (
                <th class="num">{CALCS[c].title}</th>
              ))}
            </tr>
          </thead>
        )}
        <tbody>
          {names.map((name, i) => {
            const xs = (raw[i + 1] as Ys).filter((v): v is number => v !== null);
            return (
              <tr class="legend-series">
                <td class="name" title={name}>
                  <span class="swatch" style={{ background: colors[i] }} />
                  {name}
                </td>
                {known.map((c) => (
                  <td class="num">{formatValue(CALCS[c].reduce(xs), configs[i]?.unit ?? unit, configs[i]?.decimals)}</td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
