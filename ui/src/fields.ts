//! Grafana's field configuration: a panel's defaults, then its overrides in order, each
//! applied to the fields its matcher picks (`byName`, `byRegexp`, `byNames`, `byType`,
//! `byFrameRefID`, `byValue`, ...); value mappings, thresholds (absolute and percentage),
//! colour schemes, the automatic min/max, and the reducers ("calcs") of legends and stats.
//!
//! The rules are Grafana's (`packages/grafana-data/src/field/` and
//! `transformations/matchers/`), learnt from its source and tests. The matcher ids this
//! module knows are listed in `field-support.json`, which `skywatch check dashboards`
//! reads too, so that it can warn about any other.

import type { Labels, Series } from "./api";
import support from "./field-support.json";

export interface Threshold {
  color: string;
  value: number | null;
}

/** One value mapping, as Grafana writes them. */
export type Mapping =
  | { type: "value"; options: Record<string, MappingResult> }
  | { type: "range"; options: { from?: number | null; to?: number | null; result: MappingResult } }
  | { type: "regex"; options: { pattern: string; result: MappingResult } }
  | { type: "special"; options: { match: "null" | "nan" | "null+nan" | "true" | "false" | "empty"; result: MappingResult } };
export interface MappingResult {
  text?: string;
  color?: string;
  index?: number;
}

/** What a field's configuration says, defaults and overrides merged. */
export interface FieldConfig {
  unit?: string;
  decimals?: number;
  min?: number;
  max?: number;
  /** Min and max taken from each field's own values rather than from all of them. */
  fieldMinMax?: boolean;
  displayName?: string;
  noValue?: string;
  thresholds?: { mode?: "absolute" | "percentage"; steps?: Threshold[] };
  mappings?: Mapping[];
  color?: { mode?: string; fixedColor?: string; seriesBy?: "min" | "max" | "last" };
  /** `custom.*`: drawStyle, fillOpacity, stacking, axisPlacement, hidden, width, ... */
  custom?: Record<string, unknown>;
  /** The range percentages and by-value colours are taken in: min and max when set,
   * else the data's (Grafana's `field.state.range`); set by `configsFor`. */
  range?: { min: number; max: number };
}

export interface Override {
  matcher?: { id?: string; options?: unknown };
  properties?: { id: string; value?: unknown }[];
}

export interface FieldConfigSource {
  defaults?: FieldConfig;
  overrides?: Override[];
}

/** Grafana's field types, as matchers see them. */
export type FieldType = "number" | "time" | "string" | "boolean" | "other";

/** A field as matchers see it: a Prometheus series is a number field named by its
 * metric (or "Value"), shown by its display name, in the frame of its query. */
export interface FieldInfo {
  /** The field's own name (Grafana's `field.name`). */
  name: string;
  /** Its display name: the legend, or the labels (`getFieldDisplayName`). */
  displayName: string;
  /** The refId of the query whose frame holds it. */
  refId: string;
  type: FieldType;
  values: number[];
  labels?: Labels;
}

/** The field a series of query `refId` is, shown as `displayName`. */
export function seriesField(s: Series, displayName: string, refId: string): FieldInfo {
  return { name: s.metric.__name__ ?? "Value", displayName, refId, type: "number", values: numbers(s), labels: s.metric };
}

/** Grafana's `stringToJsRegex`: `/pattern/flags` as written, anything else anchored at
 * both ends. The `g` flag is dropped: it makes `test` remember where it stopped, so the
 * same override would match every other field. */
export function toRegex(pattern: string): RegExp {
  if (!pattern.startsWith("/")) return new RegExp(`^${pattern}$`);
  const m = /^\/(.*?)\/(g?i?m?y?s?)$/.exec(pattern);
  if (!m) throw new Error(`'${pattern}' is not a valid regular expression.`);
  return new RegExp(m[1], m[2].replace("g", ""));
}

type Matcher = (f: FieldInfo, index: number, all: FieldInfo[]) => boolean;

const compare = (left: unknown, op: string, right: unknown): boolean => {
  // Grafana's compareValues: a missing side is "null", and >= or <= of it is equality.
  const l = left ?? "null";
  const r = right ?? "null";
  if ((left == null || right == null) && (op === "gte" || op === "lte")) op = "eq";
  switch (op) {
    case "eq":
      return `${l}` === `${r}`;
    case "neq":
      return `${l}` !== `${r}`;
    case "gt":
      return (l as number) > (r as number);
    case "gte":
      return (l as number) >= (r as number);
    case "lt":
      return (l as number) < (r as number);
    case "lte":
      return (l as number) <= (r as number);
    default:
      return false;
  }
};

/** Each matcher Grafana's overrides use, by id: the function that picks fields, from
 * the matcher's options. */
const MATCHERS: Record<string, (options: unknown) => Matcher> = {
  byName: (o) => (f) => o === f.name || o === f.displayName,
  byRegexp: (o) => {
    let re: RegExp | undefined;
    try {
      re = typeof o === "string" && o ? toRegex(o) : undefined;
    } catch {
      re = undefined;
    }
    return (f) => !!re && re.test(f.displayName);
  },
  byNames: (o) => {
    const { names = [], mode = "include" } = (o ?? {}) as { names?: string[]; mode?: string };
    const set = new Set(names);
    return (f) => (set.has(f.name) || set.has(f.displayName)) !== (mode === "exclude");
  },
  byRegexpOrNames: (o) => {
    const { pattern = "", names = [] } = (o ?? {}) as { pattern?: string; names?: string[] };
    const byNames = MATCHERS.byNames({ names });
    const byRegexp = MATCHERS.byRegexp(pattern);
    return (f, i, all) => byNames(f, i, all) || byRegexp(f, i, all);
  },
  byType: (o) => (f) => o === f.type,
  numeric: () => (f) => f.type === "number",
  time: () => (f) => f.type === "time",
  first: () => (_f, i) => i === 0,
  firstTimeField: () => (f, _i, all) => all.find((g) => g.type === "time") === f,
  byFrameRefID: (o) => (f) => o === f.refId,
  byValue: (o) => {
    const { reducer, op = "eq", value } = (o ?? {}) as { reducer?: string; op?: string; value?: number };
    if (!reducer || !(reducer in CALCS)) return () => false;
    return (f) => {
      const left = CALCS[reducer].reduce(f.values);
      if (reducer === "allIsNull" || reducer === "allIsZero") return Boolean(left);
      return compare(left, op, value);
    };
  },
};

/** The matcher ids Skywatch applies as Grafana does (`field-support.json`). */
export const SUPPORTED_MATCHERS: readonly string[] = support.matchers;

/** Whether Skywatch applies overrides with matcher `id` as Grafana does. */
export function isSupportedMatcher(id: string | undefined): boolean {
  return id !== undefined && id in MATCHERS;
}

/** The ids of MATCHERS, for the support file's test. */
export function matcherIds(): string[] {
  return Object.keys(MATCHERS);
}

/** Whether override `o` applies to field `f` (`index`-th of `all`); an unknown matcher
 * applies to nothing. */
export function overrideMatches(o: Override, f: FieldInfo, index = 0, all: FieldInfo[] = [f]): boolean {
  const make = MATCHERS[o.matcher?.id ?? ""];
  return !!make && make(o.matcher?.options)(f, index, all);
}

/** Sets `path` (`unit`, `custom.axisPlacement`, `thresholds`...) in `config`; a null or
 * missing value removes it, as Grafana's overrides do. */
function setPath(config: FieldConfig, path: string, value: unknown): void {
  const parts = path.split(".");
  let at = config as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) {
    at[p] = { ...((at[p] as Record<string, unknown>) ?? {}) };
    at = at[p] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1];
  if (value === null || value === undefined) delete at[last];
  else at[last] = value;
}

/** The configuration of one field: the defaults, then every override that matches it,
 * in order, so a later override wins. `field` is a display name (a number field of query
 * `ref`) or a whole field. */
export function fieldConfig(source: FieldConfigSource | undefined, field: string | FieldInfo, ref = "", index = 0, all?: FieldInfo[]): FieldConfig {
  const f = typeof field === "string" ? { name: field, displayName: field, refId: ref, type: "number" as const, values: [] } : field;
  const config: FieldConfig = { ...(source?.defaults ?? {}), custom: { ...(source?.defaults?.custom ?? {}) } };
  for (const o of source?.overrides ?? []) {
    if (!overrideMatches(o, f, index, all ?? [f])) continue;
    for (const p of o.properties ?? []) setPath(config, p.id, p.value);
  }
  return config;
}

/** The configuration of each of `fields`, with the range each is drawn in: its min and
 * max when set, else the least and greatest value of all number fields together, or of
 * its own values when `fieldMinMax` says so (Grafana's auto min/max). */
export function configsFor(source: FieldConfigSource | undefined, fields: FieldInfo[]): FieldConfig[] {
  const configs = fields.map((f, i) => fieldConfig(source, f, f.refId, i, fields));
  const extent = (xs: number[]) => {
    const finite = xs.filter(Number.isFinite);
    return finite.length ? { min: Math.min(...finite), max: Math.max(...finite) } : undefined;
  };
  const shared = extent(fields.filter((f) => f.type === "number").flatMap((f) => f.values));
  return configs.map((c, i) => {
    const auto = (c.fieldMinMax ? extent(fields[i].values) : shared) ?? { min: 0, max: 100 };
    return { ...c, range: { min: c.min ?? auto.min, max: c.max ?? auto.max } };
  });
}

/** Grafana's named colours (its dark theme's), by the names dashboards write. */
const SHADES: Record<string, [string, string, string, string, string]> = {
  // super-light, light, (main), semi-dark, dark
  red: ["#ffa6b0", "#ff7383", "#f2495c", "#e02f44", "#c4162a"],
  orange: ["#ffcb7d", "#ffb357", "#ff9830", "#ff780a", "#fa6400"],
  yellow: ["#fff899", "#ffee52", "#fade2a", "#f2cc0c", "#e0b400"],
  green: ["#c8f2c2", "#96d98d", "#73bf69", "#56a64b", "#37872d"],
  blue: ["#c0d8ff", "#8ab8ff", "#5794f2", "#3274d9", "#1f60c4"],
  purple: ["#deb6f2", "#ca95e5", "#b877d9", "#a352cc", "#8f3bb8"],
};
const NAMED: Record<string, string> = {
  transparent: "transparent",
  text: "var(--text)",
  "panel-bg": "var(--panel)",
  ...Object.fromEntries(
    Object.entries(SHADES).flatMap(([hue, [superLight, light, main, semiDark, dark]]) => [
      [`super-light-${hue}`, superLight],
      [`light-${hue}`, light],
      [hue, main],
      [`semi-dark-${hue}`, semiDark],
      [`dark-${hue}`, dark],
    ]),
  ),
};

/** A colour as CSS: Grafana's names resolved, anything else as written. */
export function cssColor(c: string | undefined): string | undefined {
  return c === undefined ? undefined : (NAMED[c] ?? c);
}

/** Grafana's classic palette: series colours in order. */
export const PALETTE = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642", "#cca300"];

/** Grafana's colour when nothing says otherwise. */
export const FALLBACK_COLOR = "#808080";

/** The stops of Grafana's continuous schemes, low to high. */
const CONTINUOUS: Record<string, string[]> = {
  "continuous-GrYlRd": ["green", "yellow", "red"],
  "continuous-RdYlGr": ["red", "yellow", "green"],
  "continuous-BlYlRd": ["dark-blue", "super-light-yellow", "dark-red"],
  "continuous-YlRd": ["super-light-yellow", "dark-red"],
  "continuous-BlPu": ["blue", "purple"],
  "continuous-YlBl": ["super-light-yellow", "dark-blue"],
  "continuous-blues": ["#181b1f", "dark-blue"],
  "continuous-reds": ["#181b1f", "dark-red"],
  "continuous-greens": ["#181b1f", "dark-green"],
  "continuous-purples": ["#181b1f", "dark-purple"],
  // d3's perceptual schemes, sampled at five points.
  "continuous-viridis": ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"],
  "continuous-magma": ["#000004", "#51127c", "#b73779", "#fc8961", "#fcfdbf"],
  "continuous-plasma": ["#0d0887", "#7e03a8", "#cc4778", "#f89540", "#f0f921"],
  "continuous-inferno": ["#000004", "#56106e", "#bb3754", "#f98e09", "#fcffa4"],
  "continuous-cividis": ["#00204d", "#414d6b", "#7c7b78", "#bcaf6f", "#ffea46"],
};

/** The colour modes Skywatch draws (`field-support.json` lists them for the check). */
export const COLOR_MODES = ["fixed", "shades", "thresholds", "palette-classic", "palette-classic-by-name", ...Object.keys(CONTINUOUS)];

/** The colour `t` (0..1) of the way along `stops`, mixed in RGB. */
function along(stops: string[], t: number): string {
  const rgb = stops.map((s) => {
    const hex = cssColor(s)!.replace("#", "");
    return [0, 2, 4].map((k) => parseInt(hex.slice(k, k + 2), 16));
  });
  const x = Math.min(Math.max(Number.isFinite(t) ? t : 0, 0), 1) * (rgb.length - 1);
  const i = Math.min(Math.floor(x), rgb.length - 2);
  const f = x - i;
  const mixed = rgb[i].map((a, k) => Math.round(a + (rgb[i + 1][k] - a) * f));
  return `#${mixed.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

/** The `string-hash` package's hash, which Grafana's by-name palette uses. */
function stringHash(s: string): number {
  let hash = 5381;
  for (let i = s.length - 1; i >= 0; i--) hash = (hash * 33) ^ s.charCodeAt(i);
  return hash >>> 0;
}

/** Where `v` is in the field's range, 0..1 (0 when it cannot say). */
export function percentOf(v: number, f: FieldConfig): number {
  const min = f.range?.min ?? f.min ?? 0;
  const max = f.range?.max ?? f.max ?? 100;
  const p = (v - min) / (max - min);
  return Number.isFinite(p) ? p : 0;
}

/** The threshold step `v` is at: the last whose value it reaches (in percent of the
 * range in percentage mode); the first step for no value or NaN, as Grafana. */
export function activeThreshold(v: number | null, f: FieldConfig): Threshold | undefined {
  const steps = f.thresholds?.steps;
  if (!steps?.length) return undefined;
  const x = v === null || Number.isNaN(v) ? -Infinity : f.thresholds?.mode === "percentage" ? percentOf(v, f) * 100 : v;
  let active = steps[0];
  for (const s of steps) {
    if (s.value === null || x >= s.value) active = s;
    else break;
  }
  return active;
}

/** The threshold colour of `v` (undefined without thresholds). */
export function thresholdColor(v: number | null, f: FieldConfig): string | undefined {
  return cssColor(activeThreshold(v, f)?.color);
}

/** The colour of value `v` of the `index`-th field, named `name`, by its colour scheme
 * (thresholds when none is set, as Grafana). Undefined when nothing gives one. */
export function valueColor(v: number | null, f: FieldConfig, index = 0, name = ""): string | undefined {
  const mode = f.color?.mode ?? "thresholds";
  if (mode === "fixed" || mode === "shades") return cssColor(f.color?.fixedColor) ?? FALLBACK_COLOR;
  if (mode === "palette-classic") return PALETTE[index % PALETTE.length];
  if (mode === "palette-classic-by-name") return PALETTE[stringHash(name) % PALETTE.length];
  const stops = CONTINUOUS[mode];
  if (stops) return along(stops, v === null || Number.isNaN(v) ? 0 : percentOf(v, f));
  return thresholdColor(v, f);
}

/** The mapping that applies to `v`, if any, the first that does in order. Numbers and
 * strings (a table's label cells) both map; regex mappings match only strings, and
 * true/false only booleans or their words, as in Grafana. */
export function mapValue(v: number | string | boolean | null, mappings: Mapping[] | undefined): MappingResult | undefined {
  for (const m of mappings ?? []) {
    switch (m.type) {
      case "value": {
        if (v === null) break;
        const hit = m.options[String(v)];
        if (hit) return hit;
        break;
      }
      case "range": {
        if (v === null) break;
        const x = parseFloat(String(v));
        const { from, to, result } = m.options;
        if (!Number.isNaN(x) && x >= (from ?? -Infinity) && x <= (to ?? Infinity)) return result;
        break;
      }
      case "regex": {
        if (typeof v !== "string") break;
        try {
          const re = toRegex(m.options.pattern);
          if (re.test(v)) return { ...m.options.result, text: m.options.result.text === undefined ? undefined : v.replace(re, m.options.result.text) };
        } catch {
          // A bad pattern maps nothing.
        }
        break;
      }
      case "special": {
        const { match, result } = m.options;
        const nan = typeof v === "number" && Number.isNaN(v);
        if (
          (match === "null" && v === null) ||
          (match === "nan" && nan) ||
          (match === "null+nan" && (v === null || nan)) ||
          (match === "true" && (v === true || v === "true")) ||
          (match === "false" && (v === false || v === "false")) ||
          (match === "empty" && v === "")
        ) {
          return result;
        }
        break;
      }
    }
  }
  return undefined;
}

/** A value as a panel shows it: mapped text if a mapping applies, else formatted. */
export interface Display {
  text: string;
  color?: string;
}

/** Grafana's display processor: the mapping's text and colour if one applies, else the
 * value formatted (`noValue` for none), coloured by the field's scheme. No value and NaN
 * take the first threshold's colour, so a gauge keeps its band. */
export function display(v: number | null, f: FieldConfig, format: (v: number | null, unit?: string, decimals?: number) => string, index = 0, name = ""): Display {
  const mapped = mapValue(v, f.mappings);
  const color = cssColor(mapped?.color) ?? valueColor(v, f, index, name);
  if (mapped?.text !== undefined) return { text: mapped.text, color };
  if (v === null && f.noValue !== undefined) return { text: f.noValue, color };
  return { text: format(v, f.unit, f.decimals), color };
}

/** A series' values as numbers, NaN and ±Inf included; an instant value is one point. */
export function numbers(s: Series): number[] {
  if (s.value) return [Number(s.value[1])];
  return (s.values ?? []).map(([, v]) => Number(v));
}

const finite = (xs: number[]) => xs.filter(Number.isFinite);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const lastOf = (xs: number[]) => (xs.length ? xs[xs.length - 1] : null);
const mean = (xs: number[]) => (xs.length ? sum(xs) / xs.length : null);
function variance(xs: number[]): number | null {
  const m = mean(xs);
  return m === null ? null : sum(xs.map((x) => (x - m) ** 2)) / xs.length;
}

/** Grafana's reducers, by their ids in `reduceOptions.calcs`, `legend.calcs` and
 * `byValue` matchers. */
export const CALCS: Record<string, { title: string; reduce: (xs: number[]) => number | null }> = {
  lastNotNull: { title: "Last *", reduce: (xs) => lastOf(finite(xs)) },
  last: { title: "Last", reduce: (xs) => lastOf(xs) },
  firstNotNull: { title: "First *", reduce: (xs) => finite(xs)[0] ?? null },
  first: { title: "First", reduce: (xs) => xs[0] ?? null },
  mean: { title: "Mean", reduce: (xs) => mean(finite(xs)) },
  min: { title: "Min", reduce: (xs) => (finite(xs).length ? Math.min(...finite(xs)) : null) },
  max: { title: "Max", reduce: (xs) => (finite(xs).length ? Math.max(...finite(xs)) : null) },
  logmin: { title: "Min (above zero)", reduce: (xs) => (xs.some((x) => x > 0) ? Math.min(...xs.filter((x) => x > 0)) : null) },
  sum: { title: "Total", reduce: (xs) => sum(finite(xs)) },
  count: { title: "Count", reduce: (xs) => xs.length },
  range: { title: "Range", reduce: (xs) => (finite(xs).length ? Math.max(...finite(xs)) - Math.min(...finite(xs)) : null) },
  delta: {
    title: "Delta",
    reduce: (xs) => {
      const f = finite(xs);
      return f.length ? f[f.length - 1] - f[0] : null;
    },
  },
  diff: {
    title: "Difference",
    reduce: (xs) => {
      const f = finite(xs);
      return f.length ? f[f.length - 1] - f[0] : null;
    },
  },
  stdDev: { title: "StdDev", reduce: (xs) => (variance(finite(xs)) === null ? null : Math.sqrt(variance(finite(xs))!)) },
  variance: { title: "Variance", reduce: (xs) => variance(finite(xs)) },
  changeCount: { title: "Change count", reduce: (xs) => xs.slice(1).filter((x, i) => x !== xs[i]).length },
  distinctCount: { title: "Distinct count", reduce: (xs) => new Set(xs).size },
  allIsZero: { title: "All zeros", reduce: (xs) => (xs.length > 0 && xs.every((x) => x === 0) ? 1 : 0) },
  allIsNull: { title: "All nulls", reduce: (xs) => (xs.every((x) => Number.isNaN(x)) ? 1 : 0) },
};

/** Reduces a series to one value by the first known calc of `calcs` (lastNotNull if none). */
export function reduce(s: Series, calcs: string[] | undefined): number | null {
  const calc = CALCS[(calcs ?? []).find((c) => c in CALCS) ?? "lastNotNull"];
  return calc.reduce(numbers(s));
}
