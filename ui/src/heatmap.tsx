// A heatmap of histogram buckets over time, as Grafana draws a Prometheus query of
// `_bucket` series with the heatmap format: one row per bucket (`le`), one column per
// step, each cell's colour the count that fell in that bucket (cumulative counts are
// differenced into per-bucket ones).

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Series } from "./api";
import { THEME_EVENT } from "./chart";
import { cssColor } from "./fields";
import { formatValue } from "./units";

export interface Buckets {
  /** Upper bounds, ascending, `+Inf` last. */
  bounds: number[];
  /** Step times, seconds. */
  times: number[];
  /** counts[bucket][step], per bucket (not cumulative); null where there is no value. */
  counts: (number | null)[][];
}

/** Groups series by their `le` label and turns cumulative counts into per-bucket counts. */
export function buckets(series: Series[], start: number, end: number, step: number): Buckets {
  const times: number[] = [];
  for (let t = start; t <= end + 1e-9; t += step) times.push(Math.round(t * 1000) / 1000);
  const index = new Map(times.map((t, i) => [t, i]));
  const byBound = new Map<number, (number | null)[]>();
  for (const s of series) {
    const le = s.metric.le;
    if (le === undefined) continue;
    const bound = le === "+Inf" ? Infinity : Number(le);
    if (Number.isNaN(bound)) continue;
    const row = byBound.get(bound) ?? new Array(times.length).fill(null);
    for (const [t, v] of s.values ?? []) {
      const i = index.get(Math.round(t * 1000) / 1000);
      const n = Number(v);
      if (i !== undefined && Number.isFinite(n)) row[i] = (row[i] ?? 0) + n;
    }
    byBound.set(bound, row);
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  const cumulative = bounds.map((b) => byBound.get(b)!);
  const counts = cumulative.map((row, k) =>
    row.map((v, i) => {
      if (v === null) return null;
      const below = k ? cumulative[k - 1][i] : 0;
      return Math.max(v - (below ?? 0), 0);
    }),
  );
  return { bounds, times, counts };
}

function bucketLabel(bounds: number[], k: number, unit?: string): string {
  return bounds[k] === Infinity ? `> ${formatValue(bounds[k - 1] ?? 0, unit)}` : formatValue(bounds[k], unit);
}

export function Heatmap({ series, start, end, step, height, unit, color }: { series: Series[]; start: number; end: number; step: number; height: number; unit?: string; color?: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [theme, setTheme] = useState(document.documentElement.dataset.theme);
  useEffect(() => {
    const changed = () => setTheme(document.documentElement.dataset.theme);
    addEventListener(THEME_EVENT, changed);
    return () => removeEventListener(THEME_EVENT, changed);
  }, []);
  const data = useMemo(() => buckets(series, start, end, step), [series, start, end, step]);
  const filled = useMemo(() => data.counts.reduce((n, row) => n + row.filter((v) => v !== null && v > 0).length, 0), [data]);
  const [hover, setHover] = useState<string | null>(null);

  useEffect(() => {
    const el = canvas.current;
    if (!el) return;
    const draw = () => {
      const css = getComputedStyle(document.documentElement);
      const muted = css.getPropertyValue("--muted").trim();
      const width = el.clientWidth || 600;
      const ratio = devicePixelRatio || 1;
      el.width = width * ratio;
      el.height = height * ratio;
      const ctx = el.getContext("2d")!;
      ctx.scale(ratio, ratio);
      const left = 64;
      const bottom = 20;
      const plotW = Math.max(width - left - 4, 10);
      const plotH = Math.max(height - bottom - 4, 10);
      const rows = data.bounds.length;
      const cols = data.times.length;
      const max = Math.max(0, ...data.counts.flat().map((v) => v ?? 0));
      const fill = cssColor(color) ?? "#fa6400";
      ctx.clearRect(0, 0, width, height);
      const cw = plotW / Math.max(cols, 1);
      const ch = plotH / Math.max(rows, 1);
      for (let k = 0; k < rows; k++) {
        for (let i = 0; i < cols; i++) {
          const v = data.counts[k][i];
          if (v === null || v <= 0 || max <= 0) continue;
          // Opacity by the square root of the share: small counts stay visible.
          ctx.globalAlpha = 0.12 + 0.88 * Math.sqrt(v / max);
          ctx.fillStyle = fill;
          ctx.fillRect(left + i * cw, 4 + (rows - 1 - k) * ch, Math.ceil(cw), Math.ceil(ch) - 1);
        }
      }
      ctx.globalAlpha = 1;
      ctx.fillStyle = muted;
      ctx.font = "11px system-ui, sans-serif";
      ctx.textBaseline = "middle";
      const every = Math.max(1, Math.ceil(rows / Math.max(Math.floor(plotH / 16), 1)));
      for (let k = 0; k < rows; k += every) ctx.fillText(bucketLabel(data.bounds, k, unit), 2, 4 + (rows - 1 - k + 0.5) * ch, left - 6);
      ctx.textBaseline = "alphabetic";
      const ticks = Math.max(Math.floor(plotW / 110), 1);
      for (let j = 0; j <= ticks; j++) {
        const i = Math.min(Math.round((j / ticks) * (cols - 1)), cols - 1);
        if (i < 0) break;
        const label = new Date(data.times[i] * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        const x = Math.min(left + i * cw, width - ctx.measureText(label).width - 2);
        ctx.fillText(label, x, height - 4);
      }
    };
    draw();
    const resize = new ResizeObserver(draw);
    resize.observe(el);
    return () => resize.disconnect();
  }, [data, height, theme, color, unit]);

  const onMove = (e: MouseEvent) => {
    const el = canvas.current;
    if (!el) return;
    const r = el.getBoundingClientRect();
    const left = 64;
    const plotW = Math.max(r.width - left - 4, 10);
    const plotH = Math.max(height - 20 - 4, 10);
    const i = Math.floor(((e.clientX - r.left - left) / plotW) * data.times.length);
    const k = data.bounds.length - 1 - Math.floor(((e.clientY - r.top - 4) / plotH) * data.bounds.length);
    const v = data.counts[k]?.[i];
    setHover(v === undefined ? null : `${new Date(data.times[i] * 1000).toLocaleTimeString()} · le ${bucketLabel(data.bounds, k, unit)}: ${v === null ? "no value" : formatValue(v)}`);
  };
  return (
    <div class="heatmap-wrap">
      <canvas class="heatmap" ref={canvas} style={{ height: `${height}px` }} data-cells={filled} data-buckets={data.bounds.length} onMouseMove={onMove} onMouseLeave={() => setHover(null)} />
      <div class="heatmap-hover muted">{hover ?? "\u00a0"}</div>
    </div>
  );
}
