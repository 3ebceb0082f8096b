// The panel types community dashboards use beyond the common ones: state timeline, status
// history, bar chart, histogram, dashboard list and news. Each follows Grafana's panel of
// the same id: its options, its defaults where the JSON leaves them out, and its way of
// turning query results into what it draws (learnt from Grafana's source: the panels'
// modules and `packages/grafana-data/src/transformations/transformers/histogram.ts`).
// They are drawn with plain elements, positioned in percent of the panel's width.
//
// Not drawn as Grafana draws them, and said so where it matters: tooltips, legends of
// state timelines beyond their value mappings, a bar chart's stacking, and the
// histogram of a `format: heatmap` query (Grafana's bucket rows).

import { useEffect, useState } from "preact/hooks";
import { align } from "./chart";
import type { FieldConfig, FieldConfigSource, Threshold } from "./fields";
import { PALETTE, configsFor, cssColor, display } from "./fields";
import { type Field, type Frame, rowCount, tableFrames } from "./frames";
import { type Drawn, type PanelOptions, configsOf } from "./panels";
import { type Transformation, applyTransformations } from "./transformations";
import { formatValue } from "./units";

/** The window a panel's range queries were asked over, in seconds. */
export interface TimeWindow {
  start: number;
  end: number;
  step: number;
}

/** Options of the panels here, as Grafana writes them. */
export interface ExtraOptions extends PanelOptions {
  mergeValues?: boolean;
  showValue?: "auto" | "always" | "never";
  rowHeight?: number;
  colWidth?: number;
  alignValue?: "left" | "center" | "right";
  xField?: string;
  stacking?: string;
  barWidth?: number;
  groupWidth?: number;
  bucketSize?: number | string;
  bucketCount?: number;
  bucketOffset?: number | string;
  combine?: boolean;
  // Dashboard list.
  showStarred?: boolean;
  showRecentlyViewed?: boolean;
  showSearch?: boolean;
  showHeadings?: boolean;
  query?: string;
  tags?: string[];
  folderId?: number;
  // News.
  feedUrl?: string;
  showImage?: boolean;
}

/** The defaults Grafana's state timeline and status history give their fields: a
 * continuous green-yellow-red scheme, and the standard green/red-at-80 thresholds. */
const TIMELINE_DEFAULTS: FieldConfig = {
  color: { mode: "continuous-GrYlRd" },
  thresholds: { mode: "absolute", steps: [{ color: "green", value: null }, { color: "red", value: 80 }] },
};

/** The least height of a drawing, in pixels: where the page leaves a panel's height to
 * its content (a phone's stacked panels), bars and lanes still show. */
const MIN_HEIGHT = 80;

/** `color` at `opacity` (0..1) as a fill, the text over it staying opaque. */
function fill(color: string, opacity: number): string {
  const percent = Math.round(Math.min(Math.max(opacity, 0), 1) * 100);
  return `color-mix(in srgb, ${color} ${percent}%, transparent)`;
}

function withDefaults(source: FieldConfigSource | undefined, defaults: FieldConfig): FieldConfigSource {
  return { ...source, defaults: { ...defaults, ...(source?.defaults ?? {}) } };
}

/** A run of one value of a state timeline, from `from` to `to` (seconds). */
export interface Segment {
  from: number;
  to: number;
  value: number;
}

/** A series on the query's step grid as states: each value holds until the next point,
 * a missing point is a gap, the last value holds one step (or to the end); with `merge`,
 * equal neighbours are one state (Grafana's `mergeValues`, on by default). */
export function segments(xs: number[], ys: (number | null)[], end: number, step: number, merge = true): Segment[] {
  const out: Segment[] = [];
  for (let i = 0; i < xs.length; i++) {
    const v = ys[i];
    if (v === null || v === undefined) continue;
    const to = i + 1 < xs.length ? xs[i + 1] : Math.min(end, xs[i] + step);
    const last = out[out.length - 1];
    if (merge && last && last.to === xs[i] && Object.is(last.value, v)) last.to = to;
    else out.push({ from: xs[i], to, value: v });
  }
  return out;
}

/** Time labels for an axis from `start` to `end`: about `count` of them, at round times. */
function timeTicks(start: number, end: number, count: number): { at: number; text: string }[] {
  const span = end - start;
  if (!(span > 0)) return [];
  const steps = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
  const every = steps.find((s) => span / s <= count) ?? steps[steps.length - 1];
  const offset = new Date().getTimezoneOffset() * 60;
  const first = Math.ceil((start - offset) / every) * every + offset;
  const out: { at: number; text: string }[] = [];
  for (let t = first; t <= end; t += every) {
    const d = new Date(t * 1000);
    const p = (n: number) => String(n).padStart(2, "0");
    const text = every >= 86400 ? `${p(d.getMonth() + 1)}/${p(d.getDate())}` : `${p(d.getHours())}:${p(d.getMinutes())}`;
    out.push({ at: (t - start) / span, text });
  }
  return out;
}

function TimeAxis({ start, end }: { start: number; end: number }) {
  return (
    <div class="timeline-axis" style={{ position: "relative", height: "16px", fontSize: "11px", color: "var(--muted)" }}>
      {timeTicks(start, end, 6).map((t) => (
        <span style={{ position: "absolute", left: `${t.at * 100}%`, transform: "translateX(-50%)", whiteSpace: "nowrap" }}>{t.text}</span>
      ))}
    </div>
  );
}

/** The legend of a state panel: its value mappings' texts and colours, or its threshold
 * steps when it is coloured by thresholds. */
function StateLegend({ config }: { config: FieldConfig }) {
  const items: { text: string; color: string }[] = [];
  for (const m of config.mappings ?? []) {
    if (m.type === "value") for (const [k, r] of Object.entries(m.options)) items.push({ text: r.text ?? k, color: cssColor(r.color) ?? "var(--muted)" });
    else if (m.options.result.text !== undefined) items.push({ text: m.options.result.text, color: cssColor(m.options.result.color) ?? "var(--muted)" });
  }
  if (!items.length && config.color?.mode === "thresholds") {
    const steps: Threshold[] = config.thresholds?.steps ?? [];
    steps.forEach((s, i) => {
      const next = steps[i + 1];
      const text = s.value === null || s.value === undefined ? (next ? `< ${formatValue(next.value, config.unit)}` : "Base") : `${formatValue(s.value, config.unit)}+`;
      items.push({ text, color: cssColor(s.color) ?? "var(--muted)" });
    });
  }
  if (!items.length) return null;
  return (
    <div class="state-legend" style={{ display: "flex", flexWrap: "wrap", gap: "0.75rem", fontSize: "11px" }}>
      {items.map((it) => (
        <span>
          <span class="swatch" style={{ background: it.color }} /> {it.text}
        </span>
      ))}
    </div>
  );
}

/** Whether a value's text is shown in its box: `always`, `never`, or (`auto`) when the
 * box is wide enough for it, judged at about 7 px a character. */
function showText(mode: string | undefined, text: string, widthPx: number): boolean {
  if (mode === "never") return false;
  if (mode === "always") return true;
  return widthPx >= text.length * 7 + 6;
}

interface StateProps {
  drawn: Drawn;
  source?: FieldConfigSource;
  options: ExtraOptions;
  window: TimeWindow;
  /** The panel's width in pixels, for whether texts fit. */
  width: number;
}

/** One lane per series, its states as coloured spans across the time range (Grafana's
 * state timeline), or as one cell per point (its status history). */
function StateLanes({ drawn, source, options, window, width, kind }: StateProps & { kind: "state-timeline" | "status-history" }) {
  const configs = configsOf(drawn, withDefaults(source, TIMELINE_DEFAULTS));
  const data = align(drawn.series, window.start, window.end, window.step);
  const xs = data[0] as number[];
  const span = window.end - window.start || 1;
  const rowHeight = Math.min(Math.max(options.rowHeight ?? 0.9, 0), 1);
  const colWidth = Math.min(Math.max(options.colWidth ?? 0.9, 0), 1);
  const laneWidthPx = width * 0.8;
  const showLegend = options.legend?.showLegend !== false && options.legend?.displayMode !== "hidden";
  return (
    <div class={`state-lanes ${kind}`} style={{ flex: 1, display: "flex", flexDirection: "column", minHeight: `${MIN_HEIGHT}px`, gap: "4px" }}>
      <div style={{ flex: 1, display: "grid", gridTemplateColumns: "minmax(3rem, 20%) 1fr", gridTemplateRows: `repeat(${drawn.series.length}, 1fr) auto`, minHeight: 0, columnGap: "6px" }}>
        {drawn.series.map((_, i) => {
          const f = configs[i];
          const name = f.displayName ?? drawn.names[i];
          const ys = data[i + 1] as (number | null)[];
          const boxes =
            kind === "state-timeline"
              ? segments(xs, ys, window.end, window.step, options.mergeValues !== false).map((s) => ({ from: s.from, to: s.to, value: s.value, pad: 0 }))
              : xs.flatMap((x, j) => (ys[j] === null ? [] : [{ from: x - window.step / 2, to: x + window.step / 2, value: ys[j] as number, pad: (1 - colWidth) / 2 }]));
          return [
            <span class="lane-name" title={name} style={{ fontSize: "12px", color: "var(--muted)", overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap", alignSelf: "center" }}>
              {name}
            </span>,
            <div class="lane" style={{ position: "relative", overflow: "hidden" }}>
              {boxes.map((b) => {
                const shown = display(b.value, f, formatValue, i, name);
                const left = Math.max((b.from - window.start) / span, 0);
                const right = Math.min((b.to - window.start) / span, 1);
                const w = right - left;
                if (w <= 0) return null;
                const inner = { left: left + w * b.pad, width: w * (1 - 2 * b.pad) };
                const color = shown.color ?? PALETTE[i % PALETTE.length];
                const opacity = Number(f.custom?.fillOpacity ?? 70) / 100;
                return (
                  <div
                    class="state-box"
                    title={`${name}: ${shown.text}`}
                    style={{
                      position: "absolute",
                      left: `${inner.left * 100}%`,
                      width: `${inner.width * 100}%`,
                      top: `${((1 - rowHeight) / 2) * 100}%`,
                      height: `${rowHeight * 100}%`,
                      background: fill(color, Math.max(opacity, 0.15)),
                      border: Number(f.custom?.lineWidth ?? 0) > 0 ? `1px solid ${color}` : undefined,
                      boxSizing: "border-box",
                      overflow: "hidden",
                      fontSize: "11px",
                      color: "#fff",
                      display: "flex",
                      alignItems: "center",
                      justifyContent: kind === "status-history" || options.alignValue === "center" ? "center" : options.alignValue === "right" ? "flex-end" : "flex-start",
                      padding: "0 2px",
                      whiteSpace: "nowrap",
                    }}
                  >
                    {showText(options.showValue, shown.text, inner.width * laneWidthPx) && shown.text}
                  </div>
                );
              })}
            </div>,
          ];
        })}
        <span />
        <TimeAxis start={window.start} end={window.end} />
      </div>
      {showLegend && configs[0] && <StateLegend config={configs[0]} />}
    </div>
  );
}

export function StateTimeline(props: StateProps) {
  return <StateLanes {...props} kind="state-timeline" />;
}

export function StatusHistory(props: StateProps) {
  return <StateLanes {...props} kind="status-history" />;
}

/** A bar chart's data: the categories along x and, per value field, a value for each. */
export interface Bars {
  labels: string[];
  fields: { name: string; values: (number | null)[]; config: FieldConfig }[];
}

/** What Grafana's bar chart takes from a frame: the x field (`xField` by name, else the
 * first string field, else the first time field) and every other number field. */
export function barsOfFrame(frame: Frame, xField?: string, format: (f: Field, v: unknown) => string = (_, v) => String(v)): Bars | string {
  const named = xField ? frame.fields.find((f) => f.name === xField || f.config.displayName === xField) : undefined;
  const x = named ?? frame.fields.find((f) => f.type === "string") ?? frame.fields.find((f) => f.type === "time");
  if (!x) return "Bar charts requires a string or time field";
  const numbers = frame.fields.filter((f) => f !== x && f.type === "number");
  if (!numbers.length) return "No numeric fields found";
  const n = rowCount(frame);
  return {
    labels: Array.from({ length: n }, (_, i) => format(x, x.values[i])),
    fields: numbers.map((f) => ({
      name: String(f.config.displayNameFromDS ?? f.name),
      values: f.values.map((v) => (typeof v === "number" && Number.isFinite(v) ? v : null)),
      config: f.config as FieldConfig,
    })),
  };
}

function clock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** The bar chart's input: instant answers as Grafana's table frames (through the
 * panel's transformations), range answers joined on time, one field per series. */
function barData(drawn: Drawn, window: TimeWindow, transformations: Transformation[] | undefined, xField?: string): { bars: Bars | string; problems: string[] } {
  const instant = drawn.series.every((s) => s.value && !s.values);
  if (instant || transformations?.length) {
    const { frames, problems } = applyTransformations(tableFrames(drawn), transformations);
    if (!frames.length) return { bars: "No data", problems };
    const time = (f: Field, v: unknown) => (f.type === "time" ? clock(Number(v)) : String(v ?? ""));
    return { bars: barsOfFrame(frames[0], xField, time), problems };
  }
  const data = align(drawn.series, window.start, window.end, window.step);
  const xs = data[0] as number[];
  return {
    bars: {
      labels: xs.map((t) => clock(t * 1000)),
      fields: drawn.series.map((_, i) => ({ name: drawn.names[i], values: data[i + 1] as (number | null)[], config: {} })),
    },
    problems: [],
  };
}

/** Grafana's bar chart: a group of bars per x category, one bar per value field, up from
 * zero (or down for negative values), coloured by each field's scheme. */
export function BarChart({ drawn, source, options, window, transformations }: { drawn: Drawn; source?: FieldConfigSource; options: ExtraOptions; window: TimeWindow; transformations?: Transformation[] }) {
  const { bars, problems } = barData(drawn, window, transformations, options.xField);
  const warning = problems.length > 0 && <p class="warning panel-transformations">{problems.join("; ")}</p>;
  if (typeof bars === "string") return <>{warning}<p class="empty">{bars}</p></>;
  const configs = configsFor(
    withDefaults(source, { color: { mode: "palette-classic" } }),
    bars.fields.map((f) => ({ name: f.name, displayName: f.name, refId: "A", type: "number", values: f.values.map((v) => v ?? NaN) })),
  );
  const all = bars.fields.flatMap((f) => f.values).filter((v): v is number => v !== null);
  const lo = Math.min(0, configs[0]?.min ?? Math.min(...all, 0));
  const hi = Math.max(configs[0]?.max ?? Math.max(...all, 0), lo + 1e-9);
  const zero = (0 - lo) / (hi - lo);
  const groupWidth = options.groupWidth ?? 0.7;
  const barWidth = options.barWidth ?? 0.97;
  const labelEvery = Math.max(1, Math.ceil(bars.labels.length / 12));
  return (
    <div class="barchart" style={{ flex: 1, display: "flex", flexDirection: "column", minHeight: `${MIN_HEIGHT}px` }}>
      {warning}
      <div class="bars" style={{ flex: 1, display: "flex", alignItems: "stretch", minHeight: 0, borderBottom: "1px solid var(--grid)" }}>
        {bars.labels.map((label, j) => (
          // A group is `groupWidth` of its slot; each bar `barWidth` of its share of it
          // (percent margins and paddings would be of the whole chart's width).
          <div class="bar-group" title={label} style={{ flex: 1, display: "flex", justifyContent: "center", minWidth: 0 }}>
            <div style={{ width: `${groupWidth * 100}%`, display: "flex" }}>
              {bars.fields.map((f, i) => {
                const v = f.values[j];
                const shown = display(v, configs[i], formatValue, i, f.name);
                const color = shown.color ?? PALETTE[i % PALETTE.length];
                const from = v === null ? zero : (Math.min(v, 0) - lo) / (hi - lo);
                const to = v === null ? zero : (Math.max(v, 0) - lo) / (hi - lo);
                return (
                  <div style={{ flex: 1, display: "flex", justifyContent: "center", minWidth: 0 }} title={`${label} ${f.name}: ${shown.text}`}>
                    <div style={{ width: `${barWidth * 100}%`, position: "relative" }}>
                      <div class="bar" style={{ position: "absolute", left: 0, right: 0, bottom: `${from * 100}%`, height: `${(to - from) * 100}%`, background: fill(color, Number(configs[i].custom?.fillOpacity ?? 80) / 100) }} />
                    </div>
                  </div>
                );
              })}
            </div>
          </div>
        ))}
      </div>
      <div style={{ display: "flex", fontSize: "11px", color: "var(--muted)" }}>
        {bars.labels.map((label, j) => (
          <span style={{ flex: 1, textAlign: "center", overflow: "visible", whiteSpace: "nowrap", minWidth: 0 }}>{j % labelEvery === 0 ? label : ""}</span>
        ))}
      </div>
      {bars.fields.length > 1 && options.legend?.showLegend !== false && (
        <div style={{ display: "flex", flexWrap: "wrap", gap: "0.75rem", fontSize: "11px" }}>
          {bars.fields.map((f, i) => (
            <span>
              <span class="swatch" style={{ background: PALETTE[i % PALETTE.length] }} /> {configs[i].displayName ?? f.name}
            </span>
          ))}
        </div>
      )}
    </div>
  );
}

/** Grafana's automatic histogram bucket sizes, smallest first. */
const BUCKET_SIZES: number[] = (() => {
  const out: number[] = [];
  for (let e = -9; e <= 9; e++) for (const m of [1, 2, 2.5, 4, 5]) if (!(e === 0 && m === 2.5)) out.push(Number(`${m}e${e}`));
  return out;
})();

/** Buckets of a histogram: their lower bounds, their size, and each field's counts. */
export interface Histogram {
  mins: number[];
  size: number;
  counts: number[][];
}

/** Grafana's histogram: the bucket size given, else the first of its sizes larger than
 * a `count`-th of the range (30 by default) and no smaller than the smallest gap between
 * values; values floored to their bucket (from `offset`); per field, or all combined. */
export function histogram(fields: number[][], options: { size?: number; count?: number; offset?: number; combine?: boolean } = {}): Histogram | null {
  const clean = fields.map((vs) => vs.filter(Number.isFinite));
  if (!clean.length) return null;
  const offset = options.offset ?? 0;
  let size = options.size && options.size > 0 ? options.size : undefined;
  if (!size) {
    const all = clean.flat().sort((a, b) => a - b);
    if (!all.length) return null;
    let smallest = Infinity;
    if (all.length === 1) smallest = 1;
    for (let i = 1; i < all.length; i++) {
      const d = all[i] - all[i - 1];
      if (d !== 0) smallest = Math.min(smallest, d);
    }
    const target = (all[all.length - 1] - all[0]) / (options.count ?? 30);
    size = BUCKET_SIZES.find((s) => target < s && s >= smallest);
    if (!size) return null;
  }
  const round = (x: number) => Math.round(x * 1e9) / 1e9;
  const bucket = (v: number) => round(Math.floor((v - offset) / size!) * size! + offset);
  const perField = clean.map((vs) => {
    const m = new Map<number, number>();
    for (const v of vs) m.set(bucket(v), (m.get(bucket(v)) ?? 0) + 1);
    return m;
  });
  const mins = [...new Set(perField.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  let counts = perField.map((m) => mins.map((b) => m.get(b) ?? 0));
  if (options.combine) counts = [mins.map((_, j) => counts.reduce((a, c) => a + c[j], 0))];
  return { mins, size, counts };
}

function num(v: number | string | undefined): number | undefined {
  const n = typeof v === "string" ? parseFloat(v) : v;
  return n !== undefined && Number.isFinite(n) ? n : undefined;
}

/** Grafana's histogram panel: every value of each series counted into buckets, the
 * series' bars overlaid (or combined), the buckets' bounds along x. */
export function HistogramPanel({ drawn, source, options, heatmapFormat }: { drawn: Drawn; source?: FieldConfigSource; options: ExtraOptions; heatmapFormat?: boolean }) {
  const configs = configsOf(drawn, withDefaults(source, { color: { mode: "palette-classic" } }));
  const h = histogram(
    drawn.series.map((s) => (s.values ?? (s.value ? [s.value] : [])).map(([, v]) => Number(v))),
    { size: num(options.bucketSize), count: options.bucketCount, offset: num(options.bucketOffset), combine: options.combine },
  );
  const note = heatmapFormat && <p class="warning">A histogram of a heatmap-format query (Grafana's bucket rows) is drawn from the raw bucket values.</p>;
  if (!h || !h.mins.length) return <>{note}<p class="empty">No data</p></>;
  const top = Math.max(...h.counts.flat(), 1);
  const unit = configs[0]?.unit;
  const labelEvery = Math.max(1, Math.ceil(h.mins.length / 10));
  return (
    <div class="histogram" style={{ flex: 1, display: "flex", flexDirection: "column", minHeight: `${MIN_HEIGHT}px` }}>
      {note}
      <div style={{ flex: 1, display: "flex", alignItems: "stretch", minHeight: 0, borderBottom: "1px solid var(--grid)" }}>
        {h.mins.map((min, j) => (
          <div class="bucket" style={{ flex: 1, position: "relative", minWidth: 0 }} title={`${formatValue(min, unit)} – ${formatValue(min + h.size, unit)}`}>
            {h.counts.map((c, i) => {
              const color = (configs[i]?.color?.mode === "fixed" && cssColor(configs[i].color?.fixedColor)) || PALETTE[i % PALETTE.length];
              return <div class="bar" title={`${configs[i]?.displayName ?? drawn.names[i] ?? "Count"}: ${c[j]}`} style={{ position: "absolute", left: "1px", right: "1px", bottom: 0, height: `${(c[j] / top) * 100}%`, background: fill(color, Number(configs[i]?.custom?.fillOpacity ?? 80) / 100) }} />;
            })}
          </div>
        ))}
      </div>
      <div style={{ display: "flex", fontSize: "11px", color: "var(--muted)" }}>
        {h.mins.map((min, j) => (
          <span style={{ flex: 1, whiteSpace: "nowrap", minWidth: 0 }}>{j % labelEvery === 0 ? formatValue(min, unit) : ""}</span>
        ))}
      </div>
    </div>
  );
}

interface SearchHit {
  uid: string;
  title: string;
  url: string;
  folderTitle?: string;
  tags?: string[];
}

/** Grafana's dashboard list: Skywatch has no starred or recently viewed dashboards, so
 * those sections are empty; the search section lists Skywatch's dashboards matching the
 * panel's query and tags, `maxItems` at most. Older panels' `mode` and `limit` are read
 * as Grafana's migration reads them. */
export function DashList({ options, tick }: { options: ExtraOptions & { mode?: string; limit?: number }; tick: unknown }) {
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const legacy = options.mode !== undefined;
  const showSearch = legacy ? options.mode === "search" : Boolean(options.showSearch);
  const showStarred = legacy ? options.mode === "starred" : options.showStarred ?? true;
  const showRecent = legacy ? options.mode === "recently" : Boolean(options.showRecentlyViewed);
  const max = options.maxItems ?? options.limit ?? 10;
  useEffect(() => {
    if (!showSearch) return;
    let cancelled = false;
    const p = new URLSearchParams({ query: options.query ?? "" });
    for (const t of options.tags ?? []) p.append("tag", t);
    fetch(`/api/search?${p}`)
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`the search API answered ${r.status}`))))
      .then((list: SearchHit[]) => {
        if (cancelled) return;
        setHits(list);
        setError(null);
      })
      .catch((e) => !cancelled && setError(String(e.message ?? e)));
    return () => {
      cancelled = true;
    };
  }, [tick, showSearch, options.query, (options.tags ?? []).join(",")]);
  const headings = options.showHeadings !== false;
  return (
    <div class="dashlist" style={{ flex: 1, overflow: "auto", fontSize: "13px" }}>
      {showStarred && (
        <section>
          {headings && <h4>Starred dashboards</h4>}
          <p class="empty">Skywatch has no starred dashboards.</p>
        </section>
      )}
      {showRecent && (
        <section>
          {headings && <h4>Recently viewed dashboards</h4>}
          <p class="empty">Skywatch keeps no recently viewed dashboards.</p>
        </section>
      )}
      {showSearch && (
        <section>
          {headings && <h4>Search</h4>}
          {error ? (
            <div class="panel-error" role="alert">{error}</div>
          ) : !hits ? (
            <p class="muted panel-loading">Loading…</p>
          ) : !hits.length ? (
            <p class="empty">No dashboards found</p>
          ) : (
            <ul class="dashlist-items" style={{ listStyle: "none", margin: 0, padding: 0 }}>
              {hits.slice(0, max).map((d) => (
                <li>
                  <a href={d.url}>{d.title}</a> {d.folderTitle && <span class="muted">{d.folderTitle}</span>}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </div>
  );
}

/** Grafana's news panel reads an RSS feed; Skywatch fetches nothing from the network for
 * a dashboard, so it says so and names the feed. */
export function News({ options }: { options: ExtraOptions }) {
  return (
    <div class="news" style={{ flex: 1, fontSize: "13px" }}>
      <p class="empty">News feeds are not fetched.</p>
      {options.feedUrl && <p class="muted news-feed">Feed: {options.feedUrl}</p>}
    </div>
  );
}
