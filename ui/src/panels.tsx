// The panels other than the time series chart: stat, gauge, bar gauge, table, pie chart,
// text and alert list, each from Grafana's options and field configuration.

import type { ComponentChildren, VNode } from "preact";
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { Series } from "./api";
import { type FieldConfig, type FieldConfigSource, PALETTE, configsFor, cssColor, display, fieldConfig, numbers, reduce, seriesField, thresholdColor } from "./fields";
import { FitText, fitFontSize } from "./fit";
import { displayName, frameDisplayName, rowCount, tableFrames } from "./frames";
import { type Transformation, applyTransformations } from "./transformations";
import { formatValue } from "./units";

/** Query results as a panel receives them. */
export interface Drawn {
  series: Series[];
  names: string[];
  /** The refId of the query each series came from. */
  refs: string[];
}

/** Panel options the renderers read (Grafana's `options`). */
export interface PanelOptions {
  reduceOptions?: { calcs?: string[] };
  colorMode?: string;
  graphMode?: string;
  textMode?: string;
  orientation?: string;
  displayMode?: string;
  showThresholdMarkers?: boolean;
  legend?: { displayMode?: "list" | "table" | "hidden"; placement?: "bottom" | "right"; calcs?: string[]; showLegend?: boolean; values?: string[] };
  tooltip?: { mode?: "single" | "multi" | "none" };
  pieType?: string;
  showHeader?: boolean;
  mode?: string;
  content?: string;
  stateFilter?: Record<string, boolean>;
  maxItems?: number;
  sortOrder?: number;
  alertName?: string;
  color?: { mode?: string; scheme?: string; fill?: string; exponent?: number };
  calculate?: boolean;
  yAxis?: { unit?: string; decimals?: number };
}

/** Each series' field configuration: the overrides that match it (by name, query,
 * values...), and the range Grafana draws it in. */
export function configsOf(drawn: Drawn, source: FieldConfigSource | undefined): FieldConfig[] {
  return configsFor(
    source,
    drawn.series.map((s, i) => seriesField(s, drawn.names[i], drawn.refs[i])),
  );
}

/** A series' display name: its field's `displayName` if one is set. */
function nameOf(drawn: Drawn, configs: FieldConfig[], i: number): string {
  return configs[i]?.displayName ?? drawn.names[i];
}

/** A small area chart of a series' values, as a stat's background. */
function Sparkline({ s, color }: { s: Series; color: string }) {
  const ys = numbers(s);
  const finite = ys.filter(Number.isFinite);
  if (finite.length < 2) return null;
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const y = (v: number) => (hi > lo ? 30 - ((v - lo) / (hi - lo)) * 28 : 15);
  const x = (i: number) => (i / (ys.length - 1)) * 100;
  let line = "";
  ys.forEach((v, i) => {
    if (Number.isFinite(v)) line += `${line ? "L" : "M"}${x(i).toFixed(2)} ${y(v).toFixed(2)} `;
  });
  const first = ys.findIndex(Number.isFinite);
  const last = ys.length - 1 - [...ys].reverse().findIndex(Number.isFinite);
  return (
    <svg class="sparkline" viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true">
      <path d={`${line}L${x(last)} 30 L${x(first)} 30 Z`} fill={color} fill-opacity="0.18" stroke="none" />
      <path d={line} fill="none" stroke={color} stroke-width="1.5" vector-effect="non-scaling-stroke" />
    </svg>
  );
}

export function Stat({ drawn, source, options }: { drawn: Drawn; source?: FieldConfigSource; options: PanelOptions }) {
  const configs = configsOf(drawn, source);
  const graph = (options.graphMode ?? "area") === "area";
  return (
    <div class="stat">
      {drawn.series.map((s, i) => {
        const f = configs[i];
        const v = reduce(s, options.reduceOptions?.calcs);
        const shown = display(v, f, formatValue, i, nameOf(drawn, configs, i));
        const c = shown.color ?? "var(--text)";
        const mode = options.colorMode ?? "value";
        const style = mode.startsWith("background") ? { background: c, color: "#fff" } : mode === "none" ? {} : { color: c };
        const textMode = options.textMode ?? "auto";
        const name = nameOf(drawn, configs, i);
        const showName = textMode === "name" || textMode === "value_and_name" || (textMode === "auto" && drawn.series.length > 1);
        return (
          <div class="stat-value" style={style} title={name}>
            {textMode !== "name" && textMode !== "none" && <FitText class="stat-text" text={shown.text} share={showName ? 0.7 : 1} />}
            {showName && <span class="stat-name">{name}</span>}
            {graph && s.values && <Sparkline s={s} color={mode.startsWith("background") ? "#fff" : c} />}
          </div>
        );
      })}
    </div>
  );
}

/** An arc from `min` to `max` filled to the value, in its threshold colour, with the
 * thresholds marked on the outside, as Grafana's gauge. */
export function Gauge({ drawn, source, options }: { drawn: Drawn; source?: FieldConfigSource; options: PanelOptions }) {
  const configs = configsOf(drawn, source);
  return (
    <div class="stat">
      {drawn.series.map((s, i) => {
        const f = configs[i];
        // Grafana's range: min and max, else the data's; a flat one (a single instant
        // value) cannot hold an arc, so it keeps 0 to 100 (0 to 1 for percentunit).
        const flat = !f.range || f.range.max <= f.range.min;
        const lo = f.min ?? (flat ? 0 : f.range!.min);
        const hi = f.max ?? (flat ? (f.unit === "percentunit" ? 1 : 100) : f.range!.max);
        const arc = (from: number, to: number, r: number) => {
          const at = (x: number) => {
            const a = Math.PI * (1 - Math.min(Math.max(x, 0), 1));
            return `${50 + r * Math.cos(a)} ${55 - r * Math.sin(a)}`;
          };
          return `M ${at(from)} A ${r} ${r} 0 0 1 ${at(to)}`;
        };
        const fraction = (v: number) => (hi > lo ? (v - lo) / (hi - lo) : 0);
        const v = reduce(s, options.reduceOptions?.calcs);
        // No value and NaN take the first step's colour, as Grafana's gauge keeps its band.
        const shown = display(v, f, formatValue, i, nameOf(drawn, configs, i));
        const steps = f.thresholds?.steps ?? [];
        const percent = f.thresholds?.mode === "percentage";
        // The base step has no value (null, or no key at all, in dashboards' JSON): it
        // starts at the arc's start.
        const at = (value: number | null | undefined) =>
          value === null || value === undefined || !Number.isFinite(value) ? 0 : percent ? value / 100 : fraction(value);
        const marks = steps.map((t, j) => ({
          from: at(t.value),
          to: j + 1 < steps.length && Number.isFinite(steps[j + 1].value) ? at(steps[j + 1].value) : 1,
          color: cssColor(t.color) ?? "var(--accent)",
        }));
        const name = nameOf(drawn, configs, i);
        return (
          <svg class="gauge" viewBox="0 0 100 62" role="img" aria-label={`${name}: ${shown.text}`}>
            {options.showThresholdMarkers !== false && marks.map((m) => <path d={arc(m.from, m.to, 44)} stroke={m.color} stroke-width="2.5" fill="none" />)}
            <path d={arc(0, 1, 36)} stroke="var(--grid)" stroke-width="9" fill="none" />
            {v !== null && Number.isFinite(v) && <path d={arc(0, fraction(v), 36)} stroke={shown.color ?? "var(--accent)"} stroke-width="9" fill="none" />}
            <text x="50" y="54" text-anchor="middle" class="gauge-value" fill={shown.color ?? "currentColor"} style={{ fontSize: `${fitFontSize(shown.text, 56, 20, 1.2, 14)}px` }}>
              {shown.text}
            </text>
            {drawn.series.length > 1 && (
              <text x="50" y="61" text-anchor="middle" class="gauge-name">
                {name}
              </text>
            )}
          </svg>
        );
      })}
    </div>
  );
}

/** A bar per series from min to max: one colour (basic), the threshold colours up to the
 * value (gradient), or lit cells (lcd); horizontal or vertical. */
export function BarGauge({ drawn, source, options }: { drawn: Drawn; source?: FieldConfigSource; options: PanelOptions }) {
  const configs = configsOf(drawn, source);
  const values = drawn.series.map((s) => reduce(s, options.reduceOptions?.calcs));
  const vertical = options.orientation === "vertical";
  const mode = options.displayMode ?? "gradient";
  return (
    <div class={`bargauge${vertical ? " vertical" : ""}`}>
      {values.map((v, i) => {
        const f = configs[i];
        const lo = f.min ?? 0;
        const hi = f.max ?? Math.max(...values.map((x) => x ?? 0), lo + 1);
        const fill = v === null || !Number.isFinite(v) || hi <= lo ? 0 : Math.min(Math.max((v - lo) / (hi - lo), 0), 1);
        const shown = display(v, f, formatValue);
        const color = shown.color ?? "var(--accent)";
        let bar: VNode;
        if (mode === "lcd") {
          const cells = 20;
          bar = (
            <span class="bar-track lcd">
              {Array.from({ length: cells }, (_, k) => {
                const at = lo + ((k + 0.5) / cells) * (hi - lo);
                const lit = (k + 0.5) / cells <= fill;
                return <span class="bar-cell" style={{ background: thresholdColor(at, f) ?? color, opacity: lit ? 1 : 0.15 }} />;
              })}
            </span>
          );
        } else {
          // Gradient: the threshold colours met from min up to the value.
          const stops = (f.thresholds?.steps ?? []).map((t) => cssColor(t.color)).filter(Boolean);
          const background = mode === "gradient" && stops.length > 1 ? `linear-gradient(${vertical ? "0deg" : "90deg"}, ${stops.join(", ")})` : color;
          bar = (
            <span class="bar-track">
              <span class="bar-fill" style={vertical ? { height: `${fill * 100}%`, background } : { width: `${fill * 100}%`, background }} />
            </span>
          );
        }
        return (
          <div class="bar-row">
            <span class="bar-name" title={nameOf(drawn, configs, i)}>
              {nameOf(drawn, configs, i)}
            </span>
            {bar}
            <span class="bar-value" style={{ color: shown.color }}>
              {shown.text}
            </span>
          </div>
        );
      })}
    </div>
  );
}

export type { Transformation } from "./transformations";

/** A time as Grafana's tables show one: `YYYY-MM-DD HH:mm:ss`, local time. */
function dateTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The frames of Grafana's Prometheus table format (one per query: `Time`, the labels,
 * `Value #<refId>`) through the panel's transformations, one frame shown at a time as
 * Grafana's table (a choice of frame under it when there are several). Overrides match a
 * column by its display name (after renames) and set unit, decimals, width, alignment,
 * hiding, cell colouring and gauge cells; transformations Skywatch cannot apply are named
 * above the table. */
export function Table({ drawn, source, options, transformations }: { drawn: Drawn; source?: FieldConfigSource; options: PanelOptions; transformations?: Transformation[] }) {
  const [chosen, setChosen] = useState(0);
  const { frames, problems } = applyTransformations(tableFrames(drawn), transformations);
  const frame = frames[Math.min(chosen, frames.length - 1)];
  const warning = problems.length > 0 && <p class="warning panel-transformations">{problems.join("; ")}</p>;
  if (!frame) return <>{warning}<p class="empty">No data</p></>;
  // A field's own configuration (from transformations) is over the panel's defaults and
  // under its overrides, as in Grafana.
  const columns = frame.fields
    .map((field) => {
      const { displayNameFromDS: _, ...own } = field.config;
      const name = displayName(field, frame, frames);
      const f = fieldConfig({ defaults: { ...(source?.defaults ?? {}), ...own }, overrides: source?.overrides }, name, frame.refId ?? "");
      return { field, f, title: f.displayName ?? name };
    })
    .filter((c) => !c.f.custom?.hidden);
  const rows = rowCount(frame);
  return (
    <div class="scroll panel-table">
      {warning}
      <table class="grid">
        {options.showHeader !== false && (
          <thead>
            <tr>
              {columns.map(({ field, f, title }) => {
                const width = f.custom?.width as number | undefined;
                return (
                  <th class={field.type === "number" ? "num" : undefined} style={width ? { width: `${width}px` } : undefined}>
                    {title}
                  </th>
                );
              })}
            </tr>
          </thead>
        )}
        <tbody>
          {Array.from({ length: rows }, (_, row) => (
            <tr>
              {columns.map(({ field, f }) => {
                const v = field.values[row];
                const align = f.custom?.align as string | undefined;
                const style: Record<string, string> = align && align !== "auto" ? { textAlign: align } : {};
                if (v === null || v === undefined) return <td class={field.type === "number" ? "num" : undefined} style={style} />;
                if (field.type === "time") return <td style={style}>{dateTime(Number(v))}</td>;
                if (field.type !== "number") {
                  const text = String(v);
                  const mapped = f.mappings?.length ? display(Number.isNaN(Number(text)) ? null : Number(text), f, () => text) : { text };
                  return <td style={style}>{mapped.text}</td>;
                }
                const x = v as number;
                const shown = display(x, f, formatValue);
                const cell = (f.custom?.cellOptions as { type?: string } | undefined)?.type ?? (f.custom?.displayMode as string | undefined);
                if (shown.color && /background/.test(cell ?? "")) Object.assign(style, { background: shown.color, color: "#fff" });
                else if (shown.color && /color-text/.test(cell ?? "")) style.color = shown.color;
                if (/gauge/.test(cell ?? "")) {
                  const lo = f.min ?? 0;
                  const hi = f.max ?? 100;
                  const fill = hi > lo && Number.isFinite(x) ? Math.min(Math.max((x - lo) / (hi - lo), 0), 1) : 0;
                  return (
                    <td class="num" style={style}>
                      <span class="bar-track">
                        <span class="bar-fill" style={{ width: `${fill * 100}%`, background: shown.color ?? "var(--accent)" }} />
                      </span>
                      {shown.text}
                    </td>
                  );
                }
                return (
                  <td class="num" style={style}>
                    {shown.text}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      {frames.length > 1 && (
        <select class="panel-frames" aria-label="Frame" value={String(frames.indexOf(frame))} onChange={(e) => setChosen(Number((e.target as HTMLSelectElement).value))}>
          {frames.map((fr, i) => (
            <option value={String(i)}>{frameDisplayName(fr, i)}</option>
          ))}
        </select>
      )}
    </div>
  );
}

/** Each series reduced to one value, as a slice of a pie or a donut, with a legend of
 * names, values and shares. */
export function PieChart({ drawn, source, options }: { drawn: Drawn; source?: FieldConfigSource; options: PanelOptions }) {
  const configs = configsOf(drawn, source);
  const slices = drawn.series
    .map((s, i) => ({
      name: nameOf(drawn, configs, i),
      v: reduce(s, options.reduceOptions?.calcs) ?? 0,
      color: (configs[i].color?.mode === "fixed" && cssColor(configs[i].color?.fixedColor)) || PALETTE[i % PALETTE.length],
      f: configs[i],
    }))
    .filter((s) => Number.isFinite(s.v) && s.v > 0);
  const total = slices.reduce((a, s) => a + s.v, 0);
  if (!total) return <p class="empty">No data</p>;
  const donut = options.pieType === "donut";
  let angle = -Math.PI / 2;
  const point = (a: number, r: number) => `${50 + r * Math.cos(a)} ${50 + r * Math.sin(a)}`;
  const paths = slices.map((s) => {
    const sweep = (s.v / total) * 2 * Math.PI;
    const from = angle;
    angle += sweep;
    // A single slice is a whole circle, which one arc cannot draw.
    const d =
      sweep >= 2 * Math.PI - 1e-9
        ? `M ${point(from, 48)} A 48 48 0 1 1 ${point(from + Math.PI, 48)} A 48 48 0 1 1 ${point(from, 48)} Z`
        : `M 50 50 L ${point(from, 48)} A 48 48 0 ${sweep > Math.PI ? 1 : 0} 1 ${point(angle, 48)} Z`;
    return { ...s, d };
  });
  const values = options.legend?.values ?? ["value", "percent"];
  return (
    <div class="pie">
      <svg class="pie-chart" viewBox="0 0 100 100" role="img" aria-label="pie chart">
        {paths.map((p) => (
          <path class="pie-slice" d={p.d} fill={p.color} stroke="var(--panel)" stroke-width="0.8">
            <title>{`${p.name}: ${formatValue(p.v, p.f.unit, p.f.decimals)} (${((p.v / total) * 100).toFixed(1)}%)`}</title>
          </path>
        ))}
        {donut && <circle cx="50" cy="50" r="26" fill="var(--panel)" />}
      </svg>
      {options.legend?.showLegend !== false && options.legend?.displayMode !== "hidden" && (
        <ul class="pie-legend">
          {paths.map((p) => (
            <li>
              <span class="swatch" style={{ background: p.color }} />
              {p.name}
              {values.includes("value") && <b>{formatValue(p.v, p.f.unit, p.f.decimals)}</b>}
              {values.includes("percent") && <span class="muted">{((p.v / total) * 100).toFixed(1)}%</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Inline markdown: code, bold, italics and links; everything else is text. */
function inline(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  const pattern = /`([^`]+)`|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*]+)\*|_([^_]+)_|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    if (m.index! > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(<code>{m[1]}</code>);
    else if (m[2] !== undefined || m[3] !== undefined) out.push(<strong>{inline(m[2] ?? m[3])}</strong>);
    else if (m[4] !== undefined || m[5] !== undefined) out.push(<em>{inline(m[4] ?? m[5])}</em>);
    else out.push(safeLink(m[7], inline(m[6])));
    last = m.index! + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** A link, if its address is http(s), mailto or relative; its text alone otherwise. */
function safeLink(href: string | null, children: ComponentChildren): ComponentChildren {
  if (!href || !/^(https?:|mailto:|\/|#|\.)/i.test(href)) return children;
  return (
    <a href={href} target={/^https?:/i.test(href) ? "_blank" : undefined} rel="noreferrer">
      {children}
    </a>
  );
}

/** The markdown people write in text panels: headings, paragraphs, lists, quotes, code
 * blocks and rules, as elements (never as HTML, so nothing in it runs). */
export function markdown(source: string): VNode[] {
  const blocks: VNode[] = [];
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (/^\s*$/.test(line)) {
      i++;
    } else if (/^```/.test(line)) {
      const code: string[] = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) code.push(lines[i]);
      i++;
      blocks.push(
        <pre>
          <code>{code.join("\n")}</code>
        </pre>,
      );
    } else if (/^#{1,6}\s/.test(line)) {
      const level = /^#+/.exec(line)![0].length;
      blocks.push(h(`h${level}`, null, inline(line.replace(/^#+\s*/, "").replace(/\s*#+\s*$/, ""))));
      i++;
    } else if (/^(\*{3,}|-{3,}|_{3,})\s*$/.test(line)) {
      blocks.push(<hr />);
      i++;
    } else if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const items: VNode[] = [];
      for (; i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i]); i++) items.push(<li>{inline(lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, ""))}</li>);
      blocks.push(ordered ? <ol>{items}</ol> : <ul>{items}</ul>);
    } else if (/^>/.test(line)) {
      const quoted: string[] = [];
      for (; i < lines.length && /^>/.test(lines[i]); i++) quoted.push(lines[i].replace(/^>\s?/, ""));
      blocks.push(<blockquote>{markdown(quoted.join("\n"))}</blockquote>);
    } else {
      const para: string[] = [];
      for (; i < lines.length && !/^\s*$/.test(lines[i]) && !/^(#{1,6}\s|```|>|\s*([-*+]|\d+[.)])\s+)/.test(lines[i]); i++) para.push(lines[i].trim());
      blocks.push(<p>{inline(para.join(" "))}</p>);
    }
  }
  return blocks;
}

/** The elements of an HTML text panel that are kept; others give only their text, and
 * no attribute but a safe link's `href` survives. */
const KEPT = new Set(["p", "br", "b", "strong", "i", "em", "code", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr", "table", "thead", "tbody", "tr", "th", "td", "span", "div", "a", "small"]);

function fromHtml(node: Node): ComponentChildren {
  if (node.nodeType === Node.TEXT_NODE) return node.textContent;
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const el = node as Element;
  const tag = el.tagName.toLowerCase();
  if (tag === "script" || tag === "style") return null;
  const children = [...el.childNodes].map(fromHtml);
  if (!KEPT.has(tag)) return children;
  if (tag === "a") return safeLink(el.getAttribute("href"), children);
  return h(tag, null, children);
}

export function Text({ options }: { options: PanelOptions }) {
  const content = options.content ?? "";
  const mode = options.mode ?? "markdown";
  let body: ComponentChildren;
  if (mode === "html") body = [...new DOMParser().parseFromString(content, "text/html").body.childNodes].map(fromHtml);
  else if (mode === "code") body = <pre>{content}</pre>;
  else body = markdown(content);
  return <div class="text-panel">{body}</div>;
}

interface Alert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  state: string;
  activeAt?: string;
  value?: string;
}

/** The alerts of `/api/v1/alerts`, filtered by state and name and sorted as the panel's
 * options say. */
export function AlertList({ options, tick }: { options: PanelOptions; tick: unknown }) {
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let cancelled = false;
    fetch("/api/v1/alerts")
      .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
      .then(({ ok, body }) => {
        if (cancelled) return;
        if (!ok) throw new Error(body.error ?? `the alerts API answered ${body.errorType ?? "an error"}`);
        setAlerts(body.data?.alerts ?? []);
        setError(null);
      })
      .catch((e) => !cancelled && setError(String(e.message ?? e)));
    return () => {
      cancelled = true;
    };
  }, [tick]);
  if (error) return <div class="panel-error" role="alert">{error}</div>;
  if (!alerts) return <p class="muted panel-loading">Loading…</p>;
  const filter = options.stateFilter ?? {};
  const any = Object.values(filter).some(Boolean);
  const wanted = (a: Alert) =>
    (!any || (a.state === "firing" && (filter.firing || filter.alerting)) || (a.state === "pending" && filter.pending) || (a.state === "inactive" && (filter.inactive || filter.normal))) &&
    (!options.alertName || (a.labels.alertname ?? "").toLowerCase().includes(options.alertName.toLowerCase()));
  const since = (a: Alert) => (a.activeAt ? Date.parse(a.activeAt) : 0);
  const order: Record<number, (a: Alert, b: Alert) => number> = {
    1: (a, b) => (a.labels.alertname ?? "").localeCompare(b.labels.alertname ?? ""),
    2: (a, b) => (b.labels.alertname ?? "").localeCompare(a.labels.alertname ?? ""),
    3: (a, b) => rank(a) - rank(b) || since(b) - since(a),
    4: (a, b) => since(a) - since(b),
    5: (a, b) => since(b) - since(a),
  };
  const shown = alerts
    .filter(wanted)
    .sort(order[options.sortOrder ?? 3] ?? order[3])
    .slice(0, options.maxItems ?? 20);
  if (!shown.length) return <p class="empty alert-none">No alerts</p>;
  return (
    <ul class="alert-list">
      {shown.map((a) => (
        <li class={`alert-item ${a.state}`}>
          <span class={`badge ${a.state}`}>{a.state}</span>
          <span class="alert-name">{a.labels.alertname ?? "(no alertname)"}</span>
          <span class="muted alert-labels">
            {Object.entries(a.labels)
              .filter(([k]) => k !== "alertname")
              .map(([k, v]) => `${k}=${v}`)
              .join(", ")}
          </span>
          {a.activeAt && <span class="muted">since {new Date(a.activeAt).toLocaleString()}</span>}
          {a.annotations?.summary && <span class="alert-summary">{a.annotations.summary}</span>}
        </li>
      ))}
    </ul>
  );
}

function rank(a: Alert): number {
  return { firing: 0, pending: 1 }[a.state] ?? 2;
}
