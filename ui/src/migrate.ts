// Legacy panels turned into the panels that replaced them, as Grafana turns them when a
// dashboard loads: `graph` becomes `timeseries` (a bar gauge for `xaxis.mode: series`, a
// histogram for `xaxis.mode: histogram`), `singlestat` becomes `stat` (a gauge when its
// gauge was shown), and `table-old`, with the angular `table` of dashboards older than
// schema 24, becomes `table`; in dashboards older than schema 30 every panel's legacy
// value mappings are upgraded too. Community dashboards exported before Grafana 7 or 8 are
// full of these; Grafana has not drawn them since it dropped Angular.
//
// The rules are Grafana's, learnt from its source (the panels' type-change handlers:
// `timeseries/migrations.ts` graphToTimeseriesOptions, `SingleStatBaseOptions.ts`,
// `stat/StatMigrations.ts`, `gauge/GaugeMigrations.ts`, `histogram/migrations.ts`,
// `table/migrations.ts`; `PanelModel.ts` for what survives a type change, and
// `DashboardMigrator.ts` for when a migration applies). Everything here is a pure function
// of the old JSON: the dashboard view calls `migrateDashboard` once on what it loads.
//
// Deliberate differences: `maxPerRow` is kept (Grafana keeps it in the grid item of a
// repeated panel, outside the panel's options); time regions of a graph (Grafana turns
// them into dashboard annotations) and its legacy `alert` are dropped, since Skywatch
// draws neither; the new panel's option defaults are left to the renderer, which applies
// Grafana's own.

import support from "./panel-support.json";
import { reducerInfo } from "./reducers";

/** A panel or row as it is in a dashboard's JSON. */
// The legacy panels' options are many and loosely typed; this module reads them as JSON.
export type PanelJson = Record<string, any>;

/** The legacy panel types migrated here, and the type each becomes by default; listed
 * in `panel-support.json` (`migrated`), which `skywatch check dashboards` reads too. */
export const MIGRATED_TYPES: Readonly<Record<string, string>> = support.migrated;

/** Whether a panel of `type` is migrated on load (so its new type is what is drawn). */
export function isMigratedType(type: string): boolean {
  return Object.prototype.hasOwnProperty.call(MIGRATED_TYPES, type);
}

/** The schema version from which a saved `singlestat` is no longer turned into a gauge
 * (Grafana's DashboardMigrator does that below 28; above, the plain stat mapping). */
const SINGLESTAT_SCHEMA = 28;
/** Below this schema version value mappings may be in the legacy form (`type` 1 or 2). */
const MAPPINGS_SCHEMA = 30;
/** Below this schema version a `table` with `styles` is the angular table (`table-old`). */
const TABLE_OLD_SCHEMA = 24;

/** What a panel keeps across a change of type (Grafana's `mustKeepProps`, less what is
 * never saved); `maxPerRow` is kept too (see the file comment). Everything else was the
 * old panel's own option and is handed to the new panel's migration. */
const KEPT = new Set([
  "id",
  "gridPos",
  "type",
  "title",
  "scopedVars",
  "repeat",
  "repeatPanelId",
  "repeatDirection",
  "repeatedByRow",
  "maxPerRow",
  "minSpan",
  "collapsed",
  "panels",
  "targets",
  "datasource",
  "timeFrom",
  "timeShift",
  "hideTimeOverride",
  "description",
  "links",
  "cacheTimeout",
  "queryCachingTTL",
  "transparent",
  "pluginVersion",
  "transformations",
  "fieldConfig",
  "maxDataPoints",
  "interval",
  "libraryPanel",
]);

/** A dashboard with its legacy panels migrated, rows' collapsed panels included. The
 * input is not changed. */
export function migrateDashboard<D extends { panels?: PanelJson[]; schemaVersion?: number }>(dashboard: D): D {
  if (!Array.isArray(dashboard.panels)) return dashboard;
  const schema = typeof dashboard.schemaVersion === "number" ? dashboard.schemaVersion : 0;
  return { ...dashboard, panels: dashboard.panels.map((p) => migratePanel(p, schema)) };
}

/** One panel migrated as Grafana migrates it on loading a dashboard of schema version
 * `schemaVersion`; a row's panels are migrated too; any other panel is returned as it is. */
export function migratePanel(panel: PanelJson, schemaVersion = 0): PanelJson {
  if (!panel || typeof panel !== "object") return panel;
  if (panel.type === "row") {
    return Array.isArray(panel.panels) ? { ...panel, panels: panel.panels.map((p: PanelJson) => migratePanel(p, schemaVersion)) } : panel;
  }
  const migrated = migrateType(withRefIds(panel), schemaVersion);
  return schemaVersion < MAPPINGS_SCHEMA ? withUpgradedMappings(migrated) : migrated;
}

/** `panel` with a `refId` for each query that has none: the first of A, B, ... Z, AA,
 * AB... no query has yet, as Grafana's panel model gives them on load (so that a
 * transformation's `Value #B` finds the second query of a dashboard that names none). */
export function withRefIds(panel: PanelJson): PanelJson {
  const targets = panel.targets;
  if (!Array.isArray(targets) || targets.every((t) => !t || typeof t !== "object" || t.refId)) return panel;
  const taken = new Set<string>(targets.map((t) => t?.refId).filter((r): r is string => typeof r === "string" && r !== ""));
  const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const refId = (n: number): string => (n < letters.length ? letters[n] : refId(Math.floor(n / letters.length) - 1) + letters[n % letters.length]);
  const next = () => {
    for (let n = 0; ; n++) {
      const id = refId(n);
      if (!taken.has(id)) {
        taken.add(id);
        return id;
      }
    }
  };
  return { ...panel, targets: targets.map((t) => (t && typeof t === "object" && !t.refId ? { ...t, refId: next() } : t)) };
}

/** A legacy panel as the panel that replaced it; any other as it is. */
function migrateType(panel: PanelJson, schemaVersion: number): PanelJson {
  let type: string = panel.type;
  // The angular table was called `table` before Grafana 7 (schema 24); React tables of
  // that time said so with `table: "table2"`, and a table without styles kept defaults.
  if (type === "table" && schemaVersion < TABLE_OLD_SCHEMA && Array.isArray(panel.styles) && panel.table !== "table2") type = "table-old";
  if (!isMigratedType(type)) return panel;

  const old = rememberedOptions(panel);
  const kept = keptProperties(panel);
  const cleared = clearedFieldConfig(panel.fieldConfig);
  switch (type) {
    case "graph": {
      if (old.xaxis?.mode === "series") return { ...kept, type: "bargauge", ...graphToBarGauge(old, cleared) };
      if (old.xaxis?.mode === "histogram") return { ...kept, type: "histogram", ...graphToHistogram(old) };
      return { ...kept, type: "timeseries", ...graphToTimeseries(old, cleared) };
    }
    case "singlestat":
    case "grafana-singlestat-panel": {
      const gauge = type === "singlestat" && schemaVersion < SINGLESTAT_SCHEMA && old.gauge?.show;
      const { fieldConfig, options } = singlestatToStat(old, cleared);
      if (gauge) {
        // The gauge's own handler adds its threshold markers and labels.
        const marks = defined({ showThresholdMarkers: old.gauge.thresholdMarkers, showThresholdLabels: old.gauge.thresholdLabels });
        return { ...kept, type: "gauge", fieldConfig, options: { ...options, ...marks } };
      }
      return { ...kept, type: "stat", fieldConfig, options: { ...options, ...statOptions(old, fieldConfig) } };
    }
    default:
      return { ...kept, type: "table", ...tableOldToTable(old, kept.transformations, cleared) };
  }
}

function rememberedOptions(panel: PanelJson): PanelJson {
  return Object.fromEntries(Object.entries(panel).filter(([k]) => !KEPT.has(k)));
}

function keptProperties(panel: PanelJson): PanelJson {
  return Object.fromEntries(Object.entries(panel).filter(([k]) => KEPT.has(k) && k !== "fieldConfig"));
}

interface FieldConfigJson {
  defaults: PanelJson;
  overrides: PanelJson[];
}

/** The field configuration a panel keeps when its type changes: the standard defaults
 * with no `custom` ones, and overrides of standard properties only. */
function clearedFieldConfig(fc: PanelJson | undefined): FieldConfigJson {
  const overrides = (Array.isArray(fc?.overrides) ? fc.overrides : [])
    .map((o: PanelJson) => ({ ...o, properties: (o.properties ?? []).filter((p: PanelJson) => !String(p.id).startsWith("custom.")) }))
    .filter((o: PanelJson) => o.properties.length > 0);
  return { defaults: { ...(fc?.defaults ?? {}), custom: {} }, overrides };
}

/** An object without its null and undefined members (lodash's `omitBy(x, isNil)`). */
function defined(x: PanelJson): PanelJson {
  return Object.fromEntries(Object.entries(x).filter(([, v]) => v !== null && v !== undefined));
}

/** A number from a number or a numeric string; undefined otherwise. */
function validNumber(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const n = Number(v);
    if (!Number.isNaN(n)) return n;
  }
  return undefined;
}

/** A threshold's `-Infinity` base as JSON keeps it (Grafana saves it as null). */
const BASE = null;

/** The reducer of a legacy name (`avg`, `current`, `total`...) or id, as Grafana's
 * reducer registry finds it; undefined if it has none. */
function reducerId(name: unknown): string | undefined {
  return typeof name === "string" ? reducerInfo(name)?.id : undefined;
}

/** The legend's calculations: every enabled member of the old legend that names a
 * reducer (`avg`, `current`, `min`, `max`, `total`...), in the legend's order. */
function legendCalcs(legend: PanelJson): string[] {
  return Object.entries(legend)
    .filter(([, v]) => Boolean(v))
    .map(([k]) => reducerId(k))
    .filter((id): id is string => id !== undefined);
}

/** A legend's options from the old `legend`. */
function legendOptions(legend: PanelJson | undefined): PanelJson {
  const out: PanelJson = { displayMode: "list", showLegend: true, placement: "bottom", calcs: [] };
  if (!legend) return out;
  if (legend.show) out.displayMode = legend.alignAsTable ? "table" : "list";
  else out.showLegend = false;
  if (legend.rightSide) out.placement = "right";
  if (legend.values) out.calcs = legendCalcs(legend);
  if (legend.sideWidth) out.width = legend.sideWidth;
  return out;
}

/** A y axis of the old graph as field configuration. */
function axisConfig(axis: PanelJson | undefined): PanelJson {
  if (!axis) return {};
  const custom: PanelJson = { axisPlacement: axis.show ? "auto" : "hidden" };
  if (axis.label) custom.axisLabel = axis.label;
  if (axis.logBase === 2 || axis.logBase === 10) custom.scaleDistribution = { type: "log", log: axis.logBase };
  return defined({ unit: axis.format, decimals: validNumber(axis.decimals), min: validNumber(axis.min), max: validNumber(axis.max), custom });
}

/** The properties a series on the right axis overrides: those of the right axis that
 * differ from the left's. */
function rightAxisProperties(y1: PanelJson, y2: PanelJson): PanelJson[] {
  const props: PanelJson[] = [];
  for (const [key, value] of Object.entries(y2)) if (key !== "custom" && value !== y1[key]) props.push({ id: key, value });
  const c1 = y1.custom ?? {};
  for (const [key, value] of Object.entries(y2.custom ?? {})) if (value !== c1[key]) props.push({ id: `custom.${key}`, value });
  return props;
}

/** A legacy threshold line or band of the graph. */
interface GraphThreshold {
  op?: string;
  value: number;
  fill?: boolean;
  line?: boolean;
  colorMode?: string;
  fillColor?: string;
  lineColor?: string;
}

function thresholdColor(t: GraphThreshold): string | undefined {
  if (t.colorMode === "warning") return "orange";
  if (t.colorMode === "custom") return t.fillColor || t.lineColor;
  return "red";
}

/** Graph thresholds (`gt` bands up, `lt` bands down) as threshold steps: a band below a
 * value is its colour from the base to the value, transparent after. */
function graphThresholds(list: GraphThreshold[]): { steps: PanelJson[]; mode: string } {
  const sorted = [...list].sort((a, b) => (a.value > b.value ? 1 : -1));
  const steps: PanelJson[] = [];
  let area = false;
  let line = false;
  sorted.forEach((t, i) => {
    const next = sorted[i + 1];
    if (t.fill) area = true;
    if (t.line) line = true;
    if (t.op === "gt") steps.push({ value: t.value, color: thresholdColor(t) });
    if (t.op === "lt") {
      if (!steps.length) steps.push({ value: BASE, color: thresholdColor(t) });
      const color = next && next.op === "lt" ? thresholdColor(next) : "transparent";
      steps.push({ value: t.value, color });
    }
  });
  if (steps.length && steps[0].value !== BASE) steps.unshift({ value: BASE, color: "transparent" });
  return { steps, mode: line && area ? "line+area" : area ? "area" : "line" };
}

/** One entry of the graph's `seriesOverrides` as an override of the series its alias
 * names (a `/regex/` alias matches by regex). Undefined when it changes nothing. */
function seriesOverride(so: PanelJson, y1: PanelJson, yaxes: PanelJson[], dash: { fill: string; dash: number[] }): { rule?: PanelJson; fillBelowTo: boolean } {
  const regex = /^([/~@;%#'])(.*?)\1([gimsuy]*)$/.test(so.alias);
  const properties: PanelJson[] = [];
  let fillBelowTo = false;
  let lineStyle: { fill: string; dash: number[] } | undefined;
  const push = (id: string, value: unknown) => properties.push({ id, value });
  for (const [key, v] of Object.entries(so)) {
    switch (key) {
      case "yaxis":
        if (v === 2) properties.push(...rightAxisProperties(y1, axisConfig(yaxes[1])));
        break;
      case "fill":
        push("custom.fillOpacity", (v as number) * 10);
        break;
      case "fillBelowTo":
        fillBelowTo = true;
        push("custom.fillBelowTo", v);
        break;
      case "fillGradient":
        if (v) {
          push("custom.fillGradient", "opacity");
          push("custom.fillOpacity", (v as number) * 10);
        }
        break;
      case "points":
        push("custom.showPoints", v ? "always" : "never");
        break;
      case "bars":
        if (v) {
          push("custom.drawStyle", "bars");
          push("custom.fillOpacity", 100);
        } else push("custom.drawStyle", "line");
        break;
      case "lines":
        if (v) push("custom.drawStyle", "line");
        else push("custom.lineWidth", 0);
        break;
      case "linewidth":
        push("custom.lineWidth", v);
        break;
      case "pointradius":
        push("custom.pointSize", 2 + (v as number) * 2);
        break;
      case "dashLength":
      case "spaceLength":
      case "dashes":
        lineStyle ??= { fill: dash.fill, dash: [...dash.dash] };
        if (key === "dashLength") lineStyle.dash[0] = v as number;
        else if (key === "spaceLength") lineStyle.dash[1] = v as number;
        else lineStyle.fill = v ? "dash" : "solid";
        break;
      case "stack":
        push("custom.stacking", { mode: v ? "normal" : "none", group: typeof v === "string" ? v : "A" });
        break;
      case "color":
        push("color", { fixedColor: v, mode: "fixed" });
        break;
      case "transform":
        push("custom.transform", v === "negative-Y" ? "negative-Y" : "constant");
        break;
      default:
        // alias, $$hashKey, and what Grafana does not migrate (nullPointMode, zindex,
        // legend, hiddenSeries...).
        break;
    }
  }
  if (lineStyle) push("custom.lineStyle", lineStyle);
  const rule = properties.length ? { matcher: { id: regex ? "byRegexp" : "byName", options: so.alias }, properties } : undefined;
  return { rule, fillBelowTo };
}

/** An override hiding from legend and tooltip the series whose values all pass
 * `reducer` (the legend's hideZero and hideEmpty). */
function legendHideOverride(reducer: string): PanelJson {
  return {
    matcher: { id: "byValue", options: { reducer, op: "gte", value: 0 } },
    properties: [{ id: "custom.hideFrom", value: { tooltip: true, viz: false, legend: true } }],
  };
}

/** The graph panel as a time series panel. */
function graphToTimeseries(old: PanelJson, cleared: FieldConfigJson): { fieldConfig: FieldConfigJson; options: PanelJson } {
  const overrides: PanelJson[] = [...cleared.overrides];
  const yaxes: PanelJson[] = Array.isArray(old.yaxes) ? old.yaxes : [];
  // The left axis' unit and range over what the panel's defaults already had.
  const y1: PanelJson = { ...cleared.defaults, ...axisConfig(yaxes[0]) };
  const dash = { fill: old.dashes ? "dash" : "solid", dash: [old.dashLength ?? 10, old.spaceLength ?? 10] };

  for (const [alias, color] of Object.entries(old.aliasColors ?? {})) {
    if (color) overrides.push({ matcher: { id: "byName", options: alias }, properties: [{ id: "color", value: { mode: "fixed", fixedColor: color } }] });
  }
  let fillBelowTo = false;
  for (const so of Array.isArray(old.seriesOverrides) ? old.seriesOverrides : []) {
    if (!so?.alias) continue;
    const r = seriesOverride(so, y1, yaxes, dash);
    fillBelowTo ||= r.fillBelowTo;
    if (r.rule) overrides.push(r.rule);
  }

  const custom: PanelJson = { ...(y1.custom ?? {}) };
  custom.drawStyle = old.bars ? "bars" : old.lines ? "line" : "points";
  if (old.points) {
    custom.showPoints = "always";
    if (typeof old.pointradius === "number") custom.pointSize = 2 + old.pointradius * 2;
  } else if (custom.drawStyle !== "points") {
    custom.showPoints = "never";
  }
  custom.lineWidth = old.linewidth;
  if (dash.fill !== "solid") custom.lineStyle = dash;
  if (fillBelowTo) custom.fillOpacity = 35;
  else if (typeof old.fill === "number") custom.fillOpacity = old.fill * 10;
  if (typeof old.fillGradient === "number" && old.fillGradient > 0) {
    custom.gradientMode = "opacity";
    custom.fillOpacity = old.fillGradient * 10;
  }
  // "connected" was the graph's way to draw across gaps.
  custom.spanNulls = old.nullPointMode === "connected";
  if (old.steppedLine) custom.lineInterpolation = "stepAfter";
  if (custom.drawStyle === "bars") custom.fillOpacity = 100;
  if (old.stack) custom.stacking = { mode: "normal", group: "A" };
  y1.custom = defined(custom);
  y1.nullValueMode = old.nullPointMode;

  const options: PanelJson = { legend: legendOptions(old.legend), tooltip: { mode: "single", sort: "none" } };
  if (old.legend?.hideZero) overrides.push(legendHideOverride("allIsZero"));
  if (old.legend?.hideEmpty) overrides.push(legendHideOverride("allIsNull"));
  const tooltip = old.tooltip;
  if (tooltip) {
    if (tooltip.shared !== undefined) options.tooltip.mode = tooltip.shared ? "multi" : "single";
    if (tooltip.sort !== undefined && tooltip.shared) options.tooltip.sort = tooltip.sort === 1 ? "asc" : tooltip.sort === 2 ? "desc" : "none";
  }
  if (Array.isArray(old.thresholds) && old.thresholds.length) {
    const { steps, mode } = graphThresholds(old.thresholds);
    y1.custom.thresholdsStyle = { mode };
    y1.thresholds = { mode: "absolute", steps };
  }
  if (old.xaxis && old.xaxis.show === false && old.xaxis.mode === "time") {
    overrides.push({ matcher: { id: "byType", options: "time" }, properties: [{ id: "custom.axisPlacement", value: "hidden" }] });
  }
  return { fieldConfig: { defaults: defined(y1), overrides }, options };
}

/** The graph's "series" x axis (a bar per series) as a bar gauge. */
function graphToBarGauge(old: PanelJson, cleared: FieldConfigJson): { fieldConfig: FieldConfigJson; options: PanelJson } {
  // Each named value as a reducer (names that are none are dropped); no names, none.
  const values: unknown[] = Array.isArray(old.xaxis?.values) ? old.xaxis.values : [];
  const calcs = values.map((v) => reducerId(v)).filter((id): id is string => id !== undefined);
  return {
    fieldConfig: { ...cleared, defaults: { ...cleared.defaults, color: { mode: "palette-classic" } } },
    options: { orientation: "auto", reduceOptions: { values: false, calcs }, legend: legendOptions(old.legend) },
  };
}

/** The graph's "histogram" x axis as a histogram panel. */
function graphToHistogram(old: PanelJson): { fieldConfig: FieldConfigJson; options: PanelJson } {
  const custom: PanelJson = {};
  if (old.stack) custom.stacking = { mode: old.percentage ? "percent" : "normal", group: "A" };
  return {
    fieldConfig: { defaults: { custom }, overrides: [] },
    options: {
      legend: { displayMode: "list", showLegend: true, placement: "bottom", calcs: [] },
      tooltip: { mode: "single", sort: "none" },
      combine: false,
    },
  };
}

/** The colour thresholds give a mapping's text read as a number (how Grafana colours a
 * legacy mapping); undefined if the text is no number or there are no thresholds. */
function textColor(text: unknown, thresholds: PanelJson | undefined): string | undefined {
  const n = parseFloat(String(text));
  if (!thresholds || Number.isNaN(n)) return undefined;
  let color: string | undefined;
  for (const s of thresholds.steps ?? []) if (s.value === BASE || n >= s.value) color = s.color;
  return color;
}

/** One legacy mapping (`kind` 1: value to text, 2: range to text) as a value mapping:
 * the text `null` matches no value; undefined when it maps nothing. */
function legacyMapping(m: PanelJson, kind: number, thresholds: PanelJson | undefined): PanelJson | undefined {
  const result = defined({ text: m.text, color: textColor(m.text, thresholds) });
  if (kind === 1) {
    if (m.value === null || m.value === undefined) return undefined;
    return m.value === "null" ? { type: "special", options: { match: "null", result } } : { type: "value", options: { [String(m.value)]: result } };
  }
  if (kind === 2) {
    if (m.from === "null" || m.to === "null") return { type: "special", options: { match: "null", result } };
    return { type: "range", options: { from: Number(m.from), to: Number(m.to), result } };
  }
  return undefined;
}

/** The singlestat's value maps or range maps (whichever `mappingType` says, else the
 * ones it has) as value mappings. */
function singlestatMappings(old: PanelJson, thresholds: PanelJson | undefined): PanelJson[] {
  const kind = old.mappingType || (old.valueMaps?.length ? 1 : old.rangeMaps?.length ? 2 : undefined);
  const list: PanelJson[] = kind === 1 ? (old.valueMaps ?? []) : kind === 2 ? (old.rangeMaps ?? []) : [];
  return list.map((m) => legacyMapping(m, kind, thresholds)).filter((m): m is PanelJson => m !== undefined);
}

/** Value mappings as Grafana upgrades them in dashboards older than schema 30: legacy
 * ones (`type` 1 or 2) converted, and all value-to-text ones gathered into one, first. */
function upgradeMappings(mappings: unknown, thresholds?: PanelJson): unknown {
  if (!Array.isArray(mappings)) return mappings;
  const values: PanelJson = {};
  const out: PanelJson[] = [];
  for (const m of mappings) {
    if (m?.type && m.options) {
      if (m.type === "value") Object.assign(values, m.options);
      else out.push(m);
      continue;
    }
    const upgraded = legacyMapping(m ?? {}, m?.type, thresholds);
    if (upgraded?.type === "value") Object.assign(values, upgraded.options);
    else if (upgraded) out.push(upgraded);
  }
  if (Object.keys(values).length) out.unshift({ type: "value", options: values });
  return out;
}

/** A panel with its value mappings upgraded (see `upgradeMappings`). */
function withUpgradedMappings(panel: PanelJson): PanelJson {
  const fc = panel.fieldConfig;
  if (!fc || typeof fc !== "object") return panel;
  const defaults = fc.defaults?.mappings ? { ...fc.defaults, mappings: upgradeMappings(fc.defaults.mappings, fc.defaults.thresholds) } : fc.defaults;
  const overrides = Array.isArray(fc.overrides)
    ? fc.overrides.map((o: PanelJson) => ({
        ...o,
        properties: (o.properties ?? []).map((p: PanelJson) => (p.id === "mappings" ? { ...p, value: upgradeMappings(p.value) } : p)),
      }))
    : fc.overrides;
  return { ...panel, fieldConfig: { ...fc, defaults, overrides } };
}

/** What the singlestat's options say in the stat and gauge panels (shared by both). */
function singlestatToStat(old: PanelJson, cleared: FieldConfigJson): { fieldConfig: FieldConfigJson; options: PanelJson } {
  const options: PanelJson = { reduceOptions: { calcs: [reducerId(old.valueName) ?? "mean"] }, orientation: "horizontal" };
  const defaults: PanelJson = {};
  if (old.format) defaults.unit = old.format;
  if (old.tableColumn) options.reduceOptions.fields = `/^${old.tableColumn}$/`;
  if (old.nullPointMode) defaults.nullValueMode = old.nullPointMode;
  if (old.nullText) defaults.noValue = old.nullText;
  if (old.decimals || old.decimals === 0) defaults.decimals = old.decimals;
  if (old.thresholds && Array.isArray(old.colors)) {
    // One more colour than thresholds: the first colour is the base.
    const levels = String(old.thresholds)
      .split(",")
      .map((s) => Number(s.trim()));
    defaults.thresholds = { mode: "absolute", steps: old.colors.map((color: string, i: number) => ({ value: i === 0 ? BASE : levels[i - 1], color })) };
  }
  const mappings = singlestatMappings(old, defaults.thresholds);
  if (mappings.length) defaults.mappings = mappings;
  if (old.gauge?.show) {
    defaults.min = old.gauge.minValue;
    defaults.max = old.gauge.maxValue;
  }
  return { fieldConfig: { defaults, overrides: cleared.overrides }, options };
}

/** The stat panel's own part of a singlestat's migration: sparkline, colouring, text. */
function statOptions(old: PanelJson, fieldConfig: FieldConfigJson): PanelJson {
  const out: PanelJson = { graphMode: old.sparkline?.show ? "area" : "none" };
  if (old.colorBackground) out.colorMode = "background";
  else if (old.colorValue) out.colorMode = "value";
  else {
    out.colorMode = "none";
    if (old.sparkline?.lineColor && out.graphMode === "area") fieldConfig.defaults.color = { mode: "fixed", fixedColor: old.sparkline.lineColor };
  }
  if (old.valueName === "name") out.textMode = "name";
  return out;
}

const TABLE_TRANSFORMS: Record<string, string> = {
  timeseries_to_rows: "seriesToRows",
  timeseries_to_columns: "seriesToColumns",
  timeseries_aggregations: "reduce",
  table: "merge",
};
const TABLE_COLUMNS: Record<string, string> = { avg: "mean", min: "min", max: "max", total: "sum", current: "lastNotNull", count: "count" };
const TABLE_COLOR_MODES: Record<string, string> = { cell: "color-background", row: "color-background", value: "color-text" };

/** A style's thresholds: the base then one step per value, coloured in order. */
function tableThresholds(values: unknown[], colors: string[] = []): PanelJson {
  const steps = [BASE, ...values].map((v, i) => ({ color: colors[i], value: v === BASE ? BASE : typeof v === "number" ? v : parseInt(String(v), 10) }));
  return { mode: "absolute", steps };
}

/** One column style of the old table as an override of the columns it names. */
function styleOverride(style: PanelJson): PanelJson {
  const pattern = String(style.pattern ?? "");
  const properties: PanelJson[] = [];
  const push = (id: string, value: unknown) => properties.push({ id, value });
  if (style.alias) push("displayName", style.alias);
  if (style.unit) push("unit", style.unit);
  if (style.decimals) push("decimals", style.decimals);
  if (style.type === "date") push("unit", `time: ${style.dateFormat}`);
  if (style.type === "hidden") push("custom.hidden", true);
  if (style.link) push("links", [{ title: style.linkTooltip ?? "", url: style.linkUrl ?? "", targetBlank: style.linkTargetBlank ?? false }]);
  if (style.colorMode) push("custom.cellOptions", { type: TABLE_COLOR_MODES[style.colorMode] });
  if (style.align) push("custom.align", style.align === "auto" ? null : style.align);
  if (style.thresholds?.length) push("thresholds", tableThresholds(style.thresholds, style.colors));
  return { matcher: { id: /^\/.*\/$/.test(pattern) ? "byRegexp" : "byName", options: pattern }, properties };
}

/** The old table's `/.*\/` style as the field defaults. */
function tableDefaults(style: PanelJson | undefined): PanelJson {
  if (!style) return { custom: {} };
  const defaults = defined({
    unit: style.unit,
    decimals: style.decimals,
    // Grafana keeps an empty alias, and ignores an empty display name when drawing.
    displayName: style.alias || undefined,
    custom: { align: style.align === "auto" ? null : style.align },
  });
  if (style.thresholds?.length) defaults.thresholds = tableThresholds(style.thresholds, style.colors);
  if (style.colorMode) defaults.custom.cellOptions = { type: TABLE_COLOR_MODES[style.colorMode] };
  return defaults;
}

/** The old table: its transform as a transformation, its column styles as overrides. */
function tableOldToTable(old: PanelJson, transformations: PanelJson[] | undefined, cleared: FieldConfigJson): { fieldConfig: FieldConfigJson; options: PanelJson; transformations: PanelJson[] } {
  const out = [...(transformations ?? [])];
  const id = TABLE_TRANSFORMS[old.transform];
  if (id) {
    const options: PanelJson = { reducers: [] };
    if (old.transform === "timeseries_aggregations") {
      options.includeTimeField = false;
      options.reducers = (old.columns ?? []).map((c: PanelJson) => TABLE_COLUMNS[c.value]);
    }
    out.push({ id, options });
  }
  // Every angular table had styles; Grafana's migration assumes them.
  if (!Array.isArray(old.styles)) return { fieldConfig: cleared, options: {}, transformations: out };
  const styles: PanelJson[] = old.styles;
  const defaults = tableDefaults(styles.find((s) => s.pattern === "/.*/"));
  const overrides = styles.filter((s) => s.pattern !== "/.*/").map(styleOverride);
  return { fieldConfig: { defaults, overrides }, options: {}, transformations: out };
}
