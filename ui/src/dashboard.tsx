// A Grafana dashboard, drawn from its JSON: the grid, rows, variables, time range,
// refresh, and the panels this renderer knows (see DRAWN); any other panel says that it
// is not drawn yet rather than break the page.

import { useEffect, useMemo, useState } from "preact/hooks";
import { ApiError, type Series, get, labelValues, queryInstant, queryRange, seriesName } from "./api";
import { type ExemplarPoint, loadExemplars } from "./exemplars";
import { parseVariableQuery, queryResultTexts, seriesText, variableOptionsFrom } from "./variables";
import { Chart } from "./chart";
import type { FieldConfigSource } from "./fields";
import { Heatmap } from "./heatmap";
import { REFRESHES, RANGES, seconds } from "./time-range";
import { layout, legendSplit } from "./layout";
import { LogsPanel, type LogsPanelOptions } from "./logs-panel";
import { migrateDashboard } from "./migrate";
import { NotDrawnMarker } from "./not-drawn";
import { NON_NUMERIC, NON_NUMERIC_TYPES, type PanelData, dataAttributes, panelData } from "./panel-data";
import panelSupport from "./panel-support.json";
import { BarChart, DashList, HistogramPanel, News, StateTimeline, StatusHistory } from "./panels-extra";
import { AlertList, BarGauge, type Drawn, Gauge, type PanelOptions, PieChart, Stat, Table, Text, type Transformation, configsOf } from "./panels";

interface Target {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  hide?: boolean;
  /** Asked at the range's end only (Grafana's "Instant" query type). */
  instant?: boolean;
  format?: string;
  /** Whether the panel shows the query's exemplars (Grafana's "Exemplars" switch). */
  exemplar?: boolean;
}
export interface Panel {
  id?: number;
  type: string;
  title?: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  fieldConfig?: FieldConfigSource;
  options?: PanelOptions;
  transformations?: Transformation[];
  panels?: Panel[];
  collapsed?: boolean;
  /** The variable this panel (or row) is repeated for, once per chosen value. */
  repeat?: string;
  repeatDirection?: "h" | "v";
  maxPerRow?: number;
}
interface Variable {
  name: string;
  label?: string;
  type: string;
  query?: string | { query?: string };
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string | null;
  hide?: number;
  current?: { value?: string | string[] };
  /** Takes part of each option, or filters them (query variables). */
  regex?: string;
  /** How the options are sorted (query variables; 0: as they come). */
  sort?: number;
}
interface DashboardJson {
  title: string;
  uid: string;
  time?: { from?: string; to?: string };
  refresh?: string;
  /** 0: each panel its own cursor; 1: a shared crosshair; 2: a shared tooltip. */
  graphTooltip?: number;
  templating?: { list?: Variable[] };
  panels?: Panel[];
}

/** The scrape interval Grafana assumes of a Prometheus data source. */
const SCRAPE_INTERVAL = 15;
const ROW_PX = 30;
const GAP_PX = 8;

function regexEscape(v: string): string {
  return v.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");
}

/** What a variable's value becomes in a query, as Grafana's Prometheus data source does. */
function formatVariable(v: Variable, values: string[], options: string[]): string {
  const all = values.includes("$__all");
  if (all && v.allValue) return v.allValue;
  const chosen = all ? options : values;
  if (!v.multi && !v.includeAll) return chosen[0] ?? "";
  const escaped = chosen.map(regexEscape);
  return escaped.length === 1 ? escaped[0] : `(${escaped.join("|")})`;
}

/** Replaces variables and macros in `text`. */
export function interpolate(text: string, values: Map<string, string>): string {
  return text.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)/g, (whole, a, b, c) => {
    const value = values.get(a ?? b ?? c);
    return value ?? whole;
  });
}

/** A series' legend: `legendFormat` with `{{label}}` filled in, or the series' name. */
function legend(format: string | undefined, metric: Record<string, string>): string {
  if (!format || format === "__auto") return seriesName(metric);
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name) => metric[name] ?? "");
}

function varQuery(v: Variable): string {
  return typeof v.query === "string" ? v.query : (v.query?.query ?? "");
}

/** The texts a query variable's query gives, as Grafana's Prometheus data source gives
 * them (see `variables.ts`). */
async function queryTexts(query: string): Promise<string[]> {
  const q = parseVariableQuery(query);
  const now = Date.now() / 1000;
  switch (q?.kind) {
    case "label_values":
      return (await labelValues(q.label, q.match)).data;
    case "label_names":
      return (await get<string[]>("/api/v1/labels", q.match ? { "match[]": q.match } : {})).data;
    case "metrics": {
      const re = new RegExp(q.regex);
      return (await labelValues("__name__")).data.filter((n) => re.test(n));
    }
    case "query_result": {
      const answer = await queryInstant(q.expr, now);
      return answer.data.resultType === "vector" ? queryResultTexts(answer.data.result as any) : [];
    }
    case "series": {
      const params = { "match[]": q.match, start: String(now - 3600), end: String(now) };
      return (await get<Record<string, string>[]>("/api/v1/series", params)).data.map(seriesText);
    }
    default:
      return [];
  }
}

/** A variable's options: a query variable's from the data source, the others' from their
 * own text. */
async function variableOptions(v: Variable, values: Map<string, string>): Promise<string[]> {
  const q = varQuery(v);
  switch (v.type) {
    case "custom":
      return q.split(",").map((o) => o.split(" : ").pop()!.trim()).filter(Boolean);
    case "constant":
    case "textbox":
      return [q];
    case "interval":
      return q.split(",").map((o) => o.trim()).filter(Boolean);
    case "query": {
      // An error answer throws; the caller takes it as no options.
      return variableOptionsFrom(await queryTexts(interpolate(q, values)), v.regex ?? "", v.sort ?? 0);
    }
    default:
      return [];
  }
}

function param(name: string): string | null {
  return new URLSearchParams(location.search).get(name);
}

export function Dashboard({ uid }: { uid: string }) {
  const [json, setJson] = useState<DashboardJson | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [range, setRange] = useState(param("from")?.replace(/^now-/, "") ?? "");
  const [refresh, setRefresh] = useState(param("refresh") ?? "");
  const [options, setOptions] = useState<Map<string, string[]>>(new Map());
  const [chosen, setChosen] = useState<Map<string, string[]>>(new Map());
  const [tick, setTick] = useState(0);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());

  useEffect(() => {
    fetch(`/api/dashboards/uid/${encodeURIComponent(uid)}`)
      .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
      .then(({ ok, body }) => {
        if (!ok) throw new Error(body.message ?? "cannot load the dashboard");
        const d = migrateDashboard(body.dashboard) as DashboardJson;
        setJson(d);
        document.title = `${d.title} - Skywatch`;
        setRange((r) => r || (d.time?.from ?? "now-1h").replace(/^now-/, ""));
        setRefresh((r) => r || d.refresh || "off");
      })
      .catch((e) => setError(String(e.message ?? e)));
  }, [uid]);

  const variables = json?.templating?.list?.filter((v) => v.type !== "datasource" && v.type !== "adhoc") ?? [];

  // Options and current values, variable by variable: a later one may use an earlier one.
  useEffect(() => {
    if (!json) return;
    let cancelled = false;
    (async () => {
      const opts = new Map<string, string[]>();
      const current = new Map<string, string[]>();
      const values = new Map<string, string>();
      for (const v of variables) {
        const o: string[] = await variableOptions(v, values).catch(() => []);
        opts.set(v.name, o);
        const fromUrl = new URLSearchParams(location.search).getAll(`var-${v.name}`);
        const saved = v.current?.value;
        const initial: string[] = fromUrl.length ? fromUrl : saved === undefined ? [] : Array.isArray(saved) ? saved : [saved];
        const valid = initial.filter((x) => x === "$__all" || o.includes(x));
        const value = valid.length ? valid : v.includeAll ? ["$__all"] : o.slice(0, 1);
        current.set(v.name, value);
        values.set(v.name, formatVariable(v, value, o));
      }
      if (!cancelled) {
        setOptions(opts);
        setChosen((old) => (old.size ? old : current));
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [json]);

  useEffect(() => {
    const s = refresh && refresh !== "off" ? seconds(refresh) : 0;
    if (!s) return;
    const timer = setInterval(() => setTick((t) => t + 1), s * 1000);
    return () => clearInterval(timer);
  }, [refresh]);

  // The URL keeps the view: time range, refresh and variables, as Grafana's does.
  useEffect(() => {
    if (!json) return;
    const p = new URLSearchParams({ from: `now-${range}`, to: "now", refresh });
    for (const [name, vs] of chosen) for (const v of vs) p.append(`var-${name}`, v);
    history.replaceState(null, "", `${location.pathname}?${p}`);
  }, [json, range, refresh, chosen]);

  const window = useMemo(() => {
    const span = seconds(range || "1h");
    const end = Math.floor(Date.now() / 1000);
    const step = Math.max(Math.round(span / 300), 5);
    const values = new Map<string, string>([
      ["__interval", `${step}s`],
      ["__interval_ms", String(step * 1000)],
      ["__rate_interval", `${Math.max(step + SCRAPE_INTERVAL, 4 * SCRAPE_INTERVAL)}s`],
      ["__range", `${span}s`],
      ["__range_s", String(span)],
      ["__range_ms", String(span * 1000)],
    ]);
    for (const v of variables) values.set(v.name, formatVariable(v, chosen.get(v.name) ?? [], options.get(v.name) ?? []));
    return { start: end - span, end, step, values };
  }, [range, chosen, options, tick, json]);

  // Where each panel goes, as Grafana places them (rows, their panels under them,
  // repeats), and the window of each repeat's copy, whose variable has the copy's value.
  const arranged = useMemo(() => {
    const valuesOf = (name: string): string[] => {
      const values = chosen.get(name) ?? [];
      return values.includes("$__all") ? (options.get(name) ?? []) : values;
    };
    const placed = layout(json?.panels ?? [], expanded, valuesOf);
    const height = placed.reduce((m, p) => Math.max(m, p.pos.y + p.pos.h), 0);
    const windows = new Map<string, Window>();
    for (const { key, scoped } of placed) {
      const names = Object.keys(scoped);
      if (!names.length) continue;
      const values = new Map(window.values);
      for (const name of names) {
        const v = variables.find((x) => x.name === name);
        values.set(name, v ? formatVariable(v, [scoped[name]], options.get(name) ?? []) : scoped[name]);
      }
      windows.set(key, { ...window, values });
    }
    // Titles show a variable's values as Grafana's text: `a + b`, or `All`.
    const titles = new Map<string, string>();
    for (const v of variables) {
      const values = chosen.get(v.name) ?? [];
      titles.set(v.name, values.includes("$__all") ? "All" : values.join(" + "));
    }
    return { placed, height, windows, titles };
  }, [json, expanded, chosen, options, window]);

  if (error) return <div class="error" role="alert">{error}</div>;
  if (!json) return <p class="muted">Loading dashboard…</p>;
  const ready = variables.every((v) => chosen.has(v.name));

  const { placed, height, windows, titles } = arranged;

  return (
    <section class="dashboard">
      <div class="dash-bar">
        <h1>{json.title}</h1>
        {variables
          .filter((v) => v.hide !== 2)
          .map((v) => (
            <label class="variable">
              {v.hide === 1 ? "" : (v.label ?? v.name)}
              <Picker
                v={v}
                options={options.get(v.name) ?? []}
                chosen={chosen.get(v.name) ?? []}
                onChange={(picked) => setChosen(new Map(chosen).set(v.name, picked))}
              />
            </label>
          ))}
        <span class="spacer" />
        <select aria-label="Time range" value={range} onChange={(e) => setRange((e.target as HTMLSelectElement).value)}>
          {[...new Set([...RANGES, range])].map((r) => (
            <option value={r}>Last {r}</option>
          ))}
        </select>
        <select aria-label="Refresh" value={refresh} onChange={(e) => setRefresh((e.target as HTMLSelectElement).value)}>
          {[...new Set([...REFRESHES, refresh])].map((r) => (
            <option value={r}>{r === "off" ? "Refresh off" : `Every ${r}`}</option>
          ))}
        </select>
        <button type="button" onClick={() => setTick((t) => t + 1)}>
          Refresh
        </button>
      </div>
      <div class="dash-grid" style={{ height: `${height * (ROW_PX + GAP_PX)}px` }}>
        {placed.map(({ panel: p, pos, scoped, key, rowKey }) => {
          // Grafana's grid: 24 columns with gaps between them, 30 px units 8 px apart.
          const style = {
            left: `calc((100% + ${GAP_PX}px) * ${pos.x / 24})`,
            width: `calc((100% + ${GAP_PX}px) * ${pos.w / 24} - ${GAP_PX}px)`,
            top: `${pos.y * (ROW_PX + GAP_PX)}px`,
            height: `${pos.h * ROW_PX + (pos.h - 1) * GAP_PX}px`,
            // A phone stacks the panels, each as tall as on the grid.
            "--panel-h": `${pos.h * ROW_PX + (pos.h - 1) * GAP_PX}px`,
          };
          const title = p.title === undefined ? undefined : interpolate(p.title, new Map([...titles, ...Object.entries(scoped)]));
          if (p.type === "row") {
            const open = !p.collapsed || expanded.has(rowKey ?? "");
            return (
              <div class="dash-row" style={style} key={key}>
                <button
                  type="button"
                  disabled={!p.collapsed}
                  aria-expanded={open}
                  onClick={() => {
                    const next = new Set(expanded);
                    const k = rowKey ?? "";
                    next.has(k) ? next.delete(k) : next.add(k);
                    setExpanded(next);
                  }}
                >
                  {open ? "▾" : "▸"} {title}
                </button>
              </div>
            );
          }
          return (
            <PanelBox
              key={key}
              panel={p}
              style={style}
              title={title}
              ready={ready}
              window={windows.get(key) ?? window}
              sync={json.graphTooltip ? `dashboard-${uid}` : undefined}
            />
          );
        })}
      </div>
    </section>
  );
}

/** A panel's box: its title and body, with what the body drew in data attributes
 * (`panel-data.ts`). */
function PanelBox({ panel, style, title, ready, window, sync }: { panel: Panel; style: Record<string, string>; title?: string; ready: boolean; window: Window; sync?: string }) {
  const [data, setData] = useState<PanelData | typeof NON_NUMERIC | null>(null);
  return (
    <div class="panel" style={style} data-panel-type={panel.type} {...dataAttributes(data)}>
      <div class="panel-title" title={panel.description}>
        <NotDrawnMarker panel={panel} />
        {title}
      </div>
      {ready ? <PanelBody panel={panel} window={window} sync={sync} onData={setData} /> : <p class="muted panel-loading">…</p>}
    </div>
  );
}

/** A variable's value: a select, or for a multi-value variable a list of checkboxes. */
function Picker({ v, options, chosen, onChange }: { v: Variable; options: string[]; chosen: string[]; onChange: (picked: string[]) => void }) {
  const all = chosen.includes("$__all");
  if (!v.multi) {
    return (
      <select aria-label={v.label ?? v.name} onChange={(e) => onChange([(e.target as HTMLSelectElement).value])}>
        {v.includeAll && (
          <option value="$__all" selected={all}>
            All
          </option>
        )}
        {options.map((o) => (
          <option value={o} selected={!all && chosen.includes(o)}>
            {o}
          </option>
        ))}
      </select>
    );
  }
  const toggle = (o: string, on: boolean) => {
    const next = (all ? [] : chosen).filter((x) => x !== o);
    if (on) next.push(o);
    onChange(next.length ? next : v.includeAll ? ["$__all"] : options.slice(0, 1));
  };
  return (
    <details class="picker">
      <summary aria-label={v.label ?? v.name}>{all ? "All" : chosen.join(" + ") || "None"}</summary>
      <div class="picker-menu">
        {v.includeAll && (
          <label>
            <input type="checkbox" checked={all} onChange={() => onChange(["$__all"])} /> All
          </label>
        )}
        {options.map((o) => (
          <label>
            <input type="checkbox" checked={!all && chosen.includes(o)} onChange={(e) => toggle(o, (e.target as HTMLInputElement).checked)} /> {o}
          </label>
        ))}
      </div>
    </details>
  );
}

interface Window {
  start: number;
  end: number;
  step: number;
  values: Map<string, string>;
}

/** The panel types drawn here, and the ones that draw no query's result: listed in
 * `panel-support.json`, which `skywatch check dashboards` reads too. */
const DRAWN = new Set(panelSupport.drawn);
const QUERYLESS = new Set(panelSupport.queryless);

function PanelBody({ panel, window, sync, onData }: { panel: Panel; window: Window; sync?: string; onData: (data: PanelData | typeof NON_NUMERIC | null) => void }) {
  const [drawn, setDrawn] = useState<Drawn | null>(null);
  const [exemplars, setExemplars] = useState<ExemplarPoint[] | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const known = DRAWN.has(panel.type);
  // A logs panel asks Loki's API itself (logs-panel.tsx).
  const queries = known && !QUERYLESS.has(panel.type) && panel.type !== "logs";
  // A table shows the values now, as Grafana's Prometheus tables with instant queries.
  const instant = panel.type === "table";
  const targets = (panel.targets ?? []).filter((t) => t.expr && !t.hide);
  useEffect(() => {
    if (!queries) return;
    let cancelled = false;
    Promise.all(
      targets.map((t) =>
        (instant || t.instant
          ? queryInstant(interpolate(t.expr!, window.values), window.end)
          : queryRange(interpolate(t.expr!, window.values), window.start, window.end, window.step)
        ).then((a) => ({ t, a })),
      ),
    ).then(
      (answers) => {
        if (cancelled) return;
        const series: Series[] = [];
        const names: string[] = [];
        const refs: string[] = [];
        for (const { t, a } of answers) {
          // A scalar answer is one series without labels.
          const result =
            a.data.resultType === "scalar" ? [{ metric: {}, value: a.data.result as [number, string] }] : (a.data.result as Series[]);
          for (const s of result) {
            series.push(s);
            names.push(legend(t.legendFormat, s.metric));
            refs.push(t.refId ?? "A");
          }
        }
        setDrawn({ series, names, refs });
        setError(null);
      },
      (e) => !cancelled && setError(e instanceof ApiError ? `${e.errorType}: ${e.message}` : String(e)),
    );
    // A time series' exemplars, of the queries that ask for them.
    const asking = panel.type === "timeseries" ? targets.filter((t) => t.exemplar && !t.instant) : [];
    if (asking.length) {
      Promise.all(asking.map((t) => loadExemplars(interpolate(t.expr!, window.values), window.start, window.end))).then(
        (sets) => !cancelled && setExemplars(sets.flat()),
      );
    }
    return () => {
      cancelled = true;
    };
  }, [window]);
  const configs = useMemo(() => (drawn ? configsOf(drawn, panel.fieldConfig) : []), [drawn]);
  // What the panel drew, for its box's data attributes: a number-drawing panel's values
  // once its queries answered (none while one failed), `n/a` for the others.
  useEffect(() => {
    if (known && NON_NUMERIC_TYPES.has(panel.type)) onData(NON_NUMERIC);
    else if (!known || error || !drawn) onData(null);
    else onData(panelData(panel.type, drawn, panel.transformations, window));
  }, [drawn, error, known]);

  if (!known) {
    return <div class="panel-unsupported">Panel type “{panel.type}” is not drawn yet.</div>;
  }
  const options = panel.options ?? {};
  if (panel.type === "text") return <Text options={options} />;
  if (panel.type === "alertlist") return <AlertList options={options} tick={window} />;
  if (panel.type === "dashlist") return <DashList options={options} tick={window} />;
  if (panel.type === "news") return <News options={options} />;
  if (panel.type === "logs") {
    return <LogsPanel queries={targets.map((t) => interpolate(t.expr!, window.values))} options={options as LogsPanelOptions} start={window.start} end={window.end} />;
  }
  if (error) return <div class="panel-error" role="alert">{error}</div>;
  if (!drawn) return <p class="muted panel-loading">Loading…</p>;
  if (!drawn.series.length) return <p class="empty">No data</p>;
  const source = panel.fieldConfig;
  const px = panel.gridPos.h * ROW_PX + (panel.gridPos.h - 1) * GAP_PX;
  switch (panel.type) {
    case "table":
      return <Table drawn={drawn} source={source} options={options} transformations={panel.transformations} />;
    case "bargauge":
      return <BarGauge drawn={drawn} source={source} options={options} />;
    case "gauge":
      return <Gauge drawn={drawn} source={source} options={options} />;
    case "stat":
      return <Stat drawn={drawn} source={source} options={options} />;
    case "piechart":
      return <PieChart drawn={drawn} source={source} options={options} />;
    case "state-timeline":
      return <StateTimeline drawn={drawn} source={source} options={options} window={window} width={(panel.gridPos.w / 24) * innerWidth} />;
    case "status-history":
      return <StatusHistory drawn={drawn} source={source} options={options} window={window} width={(panel.gridPos.w / 24) * innerWidth} />;
    case "barchart":
      return <BarChart drawn={drawn} source={source} options={options} window={window} transformations={panel.transformations} />;
    case "histogram":
      return <HistogramPanel drawn={drawn} source={source} options={options} heatmapFormat={targets.some((t) => t.format === "heatmap")} />;
    case "heatmap":
      return (
        <Heatmap
          series={drawn.series}
          start={window.start}
          end={window.end}
          step={window.step}
          height={Math.max(px - 32 - 20, 60)}
          unit={options.yAxis?.unit ?? source?.defaults?.unit}
          color={options.color?.fill}
        />
      );
  }
  const legendOptions = options.legend ?? {};
  const tableLegend = legendOptions.displayMode === "table" || (legendOptions.calcs?.length ?? 0) > 0;
  // Rows the legend takes under the chart: a list fits about one name per four grid
  // columns of width.
  const perRow = Math.max(1, Math.floor(panel.gridPos.w / 4));
  const legendRows =
    legendOptions.showLegend === false || legendOptions.displayMode === "hidden" || legendOptions.placement === "right"
      ? 0
      : tableLegend
        ? Math.min(drawn.series.length + 1, 6)
        : Math.ceil(drawn.series.length / perRow);
  const split = legendSplit(px - 32, legendRows, tableLegend ? 20 : 28);
  return (
    <Chart
      series={drawn.series}
      names={drawn.names.map((n, i) => configs[i]?.displayName ?? n)}
      start={window.start}
      end={window.end}
      step={window.step}
      unit={source?.defaults?.unit}
      configs={configs}
      legend={legendOptions}
      tooltip={options.tooltip?.mode ?? "multi"}
      sync={sync}
      exemplars={exemplars}
      height={split.chart}
      legendHeight={split.legendMax}
    />
  );
}
