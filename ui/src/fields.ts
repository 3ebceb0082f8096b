// Grafana's field configuration: a panel's defaults, its overrides by field name or
// query, value mappings, thresholds, colours and the reducers ("calcs") of legends and
// stats.

import type { Series } from "./api";

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
  displayName?: string;
  noValue?: string;
  thresholds?: { mode?: "absolute" | "percentage"; steps?: Threshold[] };
  mappings?: Mapping[];
  color?: { mode?: string; fixedColor?: string };
  /** `custom.*`: drawStyle, fillOpacity, stacking, axisPlacement, hidden, width, ... */
  custom?: Record<string, unknown>;
}

export interface Override {
  matcher?: { id?: string; options?: unknown };
  properties?: { id: string; value?: unknown }[];
}

export interface FieldConfigSource {
  defaults?: FieldConfig;
  overrides?: Override[];
}

/** Whether an override's matcher picks the field `name` of query `ref`. */
function matches(o: Override, name: string, ref: string): boolean {
  const what = o.matcher?.options;
  switch (o.matcher?.id) {
    case "byName":
      return what === name;
    case "byRegexp":
      try {
        return typeof what === "string" && new RegExp(`^(?:${what})$`).test(name);
      } catch {
        return false;
      }
    case "byFrameRefID":
      return what === ref;
    case "byNames":
      return Array.isArray((what as { names?: string[] })?.names) && (what as { names: string[] }).names.includes(name);
    default:
      return false;
  }
}

/** Sets `path` (`unit`, `custom.axisPlacement`, `thresholds`...) in `config`. */
function setPath(config: FieldConfig, path: string, value: unknown): void {
  const parts = path.split(".");
  let at = config as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) {
    at[p] = { ...((at[p] as Record<string, unknown>) ?? {}) };
    at = at[p] as Record<string, unknown>;
  }
  at[parts[parts.length - 1]] = value;
}

/** The configuration of field `name` (a series' display name or a column) of query `ref`. */
export function fieldConfig(source: FieldConfigSource | undefined, name: string, ref: string): FieldConfig {
  const config: FieldConfig = { ...(source?.defaults ?? {}), custom: { ...(source?.defaults?.custom ?? {}) } };
  for (const o of source?.overrides ?? []) {
    if (!matches(o, name, ref)) continue;
    for (const p of o.properties ?? []) setPath(config, p.id, p.value);
  }
  return config;
}

/** Grafana's named colours, the ones dashboards use most. */
const NAMED: Record<string, string> = {
  green: "#73bf69",
  "dark-green": "#37872d",
  "semi-dark-green": "#56a64b",
  "light-green": "#96d98d",
  red: "#f2495c",
  "dark-red": "#c4162a",
  "semi-dark-red": "#e02f44",
  "light-red": "#ff7383",
  orange: "#ff9830",
  "dark-orange": "#fa6400",
  "light-orange": "#ffb357",
  yellow: "#fade2a",
  "dark-yellow": "#e0b400",
  "light-yellow": "#ffee52",
  blue: "#5794f2",
  "dark-blue": "#1f60c4",
  "light-blue": "#8ab8ff",
  purple: "#b877d9",
  "dark-purple": "#8f3bb8",
  "light-purple": "#ca95e5",
  transparent: "transparent",
  text: "var(--text)",
};

/** A colour as CSS: Grafana's names resolved, anything else as written. */
export function cssColor(c: string | undefined): string | undefined {
  return c === undefined ? undefined : (NAMED[c] ?? c);
}

/** Distinct, legible on light and dark backgrounds (Grafana's classic palette). */
export const PALETTE = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642", "#cca300"];

/** The threshold colour of `v`: the last step at or below it (in percent of min..max in
 * percentage mode). */
export function thresholdColor(v: number | null, f: FieldConfig): string | undefined {
  const steps = f.thresholds?.steps;
  if (v === null || !Number.isFinite(v) || !steps?.length) return undefined;
  let x = v;
  if (f.thresholds?.mode === "percentage") {
    const lo = f.min ?? 0;
    const hi = f.max ?? 100;
    x = hi > lo ? ((v - lo) / (hi - lo)) * 100 : 0;
  }
  let c = steps[0].color;
  for (const s of steps) if (s.value === null || x >= s.value) c = s.color;
  return cssColor(c);
}

/** The mapping that applies to `v`, if any. */
export function mapValue(v: number | null, mappings: Mapping[] | undefined): MappingResult | undefined {
  for (const m of mappings ?? []) {
    switch (m.type) {
      case "value": {
        if (v === null) break;
        const hit = m.options[String(v)];
        if (hit) return hit;
        break;
      }
      case "range": {
        const { from, to, result } = m.options;
        if (v !== null && Number.isFinite(v) && (from == null || v >= from) && (to == null || v <= to)) return result;
        break;
      }
      case "regex": {
        try {
          if (v !== null && new RegExp(m.options.pattern).test(String(v))) return m.options.result;
        } catch {
          // A bad pattern maps nothing.
        }
        break;
      }
      case "special": {
        const { match, result } = m.options;
        const isNull = v === null;
        const isNaN = v !== null && Number.isNaN(v);
        if (
          (match === "null" && isNull) ||
          (match === "nan" && isNaN) ||
          (match === "null+nan" && (isNull || isNaN)) ||
          (match === "true" && v === 1) ||
          (match === "false" && v === 0)
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

export function display(v: number | null, f: FieldConfig, format: (v: number | null, unit?: string, decimals?: number) => string): Display {
  const mapped = mapValue(v, f.mappings);
  const color = cssColor(mapped?.color) ?? thresholdColor(v, f) ?? (f.color?.mode === "fixed" ? cssColor(f.color.fixedColor) : undefined);
  if (mapped?.text !== undefined) return { text: mapped.text, color };
  if (v === null && f.noValue !== undefined) return { text: f.noValue, color };
  return { text: format(v, f.unit, f.decimals), color };
}

/** A series' values as numbers, NaN and ±Inf included; an instant value is one point. */
export function numbers(s: Series): number[] {
  if (s.value) return [Number(s.value[1])];
  return (s.values ?? []).map(([, v]) => Number(v));
}

/** Grafana's reducers, by their ids in `reduceOptions.calcs` and `legend.calcs`. */
export const CALCS: Record<string, { title: string; reduce: (xs: number[]) => number | null }> = {
  lastNotNull: { title: "Last *", reduce: (xs) => lastOf(finite(xs)) },
  last: { title: "Last", reduce: (xs) => lastOf(xs) },
  firstNotNull: { title: "First *", reduce: (xs) => finite(xs)[0] ?? null },
  first: { title: "First", reduce: (xs) => xs[0] ?? null },
  mean: { title: "Mean", reduce: (xs) => (finite(xs).length ? sum(finite(xs)) / finite(xs).length : null) },
  min: { title: "Min", reduce: (xs) => (finite(xs).length ? Math.min(...finite(xs)) : null) },
  max: { title: "Max", reduce: (xs) => (finite(xs).length ? Math.max(...finite(xs)) : null) },
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
};

function lastOf(xs: number[]): number | null {
  return xs.length ? xs[xs.length - 1] : null;
}

function finite(xs: number[]): number[] {
  return xs.filter(Number.isFinite);
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** Reduces a series to one value by the first known calc of `calcs` (lastNotNull if none). */
export function reduce(s: Series, calcs: string[] | undefined): number | null {
  const calc = CALCS[(calcs ?? []).find((c) => c in CALCS) ?? "lastNotNull"];
  return calc.reduce(numbers(s));
}
