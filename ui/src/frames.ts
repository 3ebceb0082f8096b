// Data frames as Grafana defines them: a frame is named columns (fields) of equal length,
// each with a type, values, its own configuration and labels. Transformations work on
// frames, so query results become frames here, the way Grafana's Prometheus data source
// makes them, and frames become series again for the panels that draw series.

import type { Labels, Series } from "./api";
import type { FieldConfig } from "./fields";

export type FieldType = "time" | "number" | "string" | "boolean" | "other";
/** A cell. `undefined` is a cell no source row filled (a join's or merge's gap), as in Grafana. */
export type Value = number | string | boolean | null | undefined;

export interface Field {
  name: string;
  type: FieldType;
  values: Value[];
  /** What transformations set (a rename's `displayName`, a unit); the panel's field
   * configuration is applied over it when drawing. */
  config: FieldConfig & { displayNameFromDS?: string };
  labels?: Labels;
}

export interface Frame {
  name?: string;
  refId?: string;
  fields: Field[];
}

/** The number of rows of a frame. */
export function rowCount(frame: Frame): number {
  return frame.fields.reduce((n, f) => Math.max(n, f.values.length), 0);
}

/** `{a="1", b="2"}`: labels sorted by name, as Grafana's `formatLabels`. */
export function formatLabels(labels: Labels | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  if (!keys.length) return "";
  return `{${keys.map((k) => `${k}="${labels![k]}"`).join(", ")}}`;
}

/** The one label name all fields' labels use, if there is exactly one. */
function singleLabelName(frames: Frame[]): string | null {
  let single: string | null = null;
  for (const frame of frames) {
    for (const f of frame.fields) {
      for (const k of Object.keys(f.labels ?? {})) {
        if (single === null) single = k;
        else if (k !== single) return null;
      }
    }
  }
  return single;
}

/** The name a field is shown and matched by, as Grafana's `getFieldDisplayName`: its
 * configured display name, else the data source's, else its name with the frame name (when
 * frames' names differ) and its labels. */
export function displayName(field: Field, frame?: Frame, all?: Frame[]): string {
  if (field.config.displayName) return field.config.displayName;
  if (frame && field.config.displayNameFromDS) return field.config.displayNameFromDS;
  if (field.type === "time" && !field.labels) return field.name || "Time";
  const parts: string[] = [];
  const namesDiffer = !!all && all.length > 1 && all.some((f, i) => i > 0 && f.name !== all[i - 1].name);
  let frameNamed = false;
  let labelled = false;
  if (namesDiffer && frame?.name) {
    parts.push(frame.name);
    frameNamed = true;
  }
  if (field.name && field.name !== "Value") parts.push(field.name);
  if (field.labels && frame) {
    const single = singleLabelName(all ?? [frame]);
    if (!single) {
      const text = formatLabels(field.labels);
      if (text) {
        parts.push(text);
        labelled = true;
      }
    } else if (field.labels[single]) {
      parts.push(field.labels[single]);
      labelled = true;
    }
  }
  if (frame && !frameNamed && !labelled && field.name === "Value" && frame.name) parts.push(frame.name);
  return parts.length ? parts.join(" ") : field.name || "Value";
}

/** A frame's title, as Grafana's `getFrameDisplayName`. */
export function frameDisplayName(frame: Frame, index?: number): string {
  if (frame.name) return frame.name;
  const labelled = frame.fields.filter((f) => f.labels !== undefined);
  if (labelled.length === 1) return formatLabels(labelled[0].labels);
  if (index === undefined) {
    return frame.fields
      .filter((f) => f.type !== "time")
      .map((f) => displayName(f, frame))
      .join(", ");
  }
  return frame.refId ? `Series (${frame.refId})` : `Series (${index})`;
}

/** A pattern as Grafana's `stringToJsRegex` reads one: `/re/flags`, or else a whole-string
 * match. Throws on a bad pattern. */
export function patternRegex(pattern: string): RegExp {
  if (pattern[0] !== "/") return new RegExp(`^${pattern}$`);
  const m = /^\/(.*?)\/(g?i?m?y?s?)$/.exec(pattern);
  if (!m) throw new Error(`'${pattern}' is not a valid regular expression`);
  return new RegExp(m[1], m[2]);
}

/** Grafana's field name matchers (`byName`, `byNames`, `byRegexp`, `byRegexpOrNames`) on
 * display names; a name also matches a field's own name. */
export type FieldMatcher = (field: Field, frame: Frame, all: Frame[]) => boolean;

export function namesMatcher(names: string[]): FieldMatcher {
  const set = new Set(names);
  return (f, frame, all) => set.has(displayName(f, frame, all)) || set.has(f.name);
}

export function regexMatcher(pattern: string): FieldMatcher {
  let re: RegExp | undefined;
  try {
    re = pattern ? patternRegex(pattern) : undefined;
  } catch {
    re = undefined;
  }
  return (f, frame, all) => !!re && re.test(displayName(f, frame, all));
}

/** A Prometheus sample value as Grafana parses one (`+Inf`, `-Inf`, `NaN` included). */
export function sampleValue(v: string): number {
  if (/^[+-]?inf(?:inity)?$/i.test(v)) return v[0] === "-" ? -Infinity : Infinity;
  return parseFloat(v);
}

/** Query results as a panel receives them: each series with its legend name and query. */
export interface Results {
  series: Series[];
  names: string[];
  refs: string[];
}

/** Each series' samples as [seconds, value] pairs. */
function samples(s: Series): [number, string][] {
  return s.value ? [s.value] : (s.values ?? []);
}

/** The frames Grafana's Prometheus data source makes of `format: "table"` results: one per
 * query, with `Time`, a column per label (in the order first met, each series' labels
 * sorted; `le` as a number) and `Value`, named `Value #<refId>` when several queries
 * answered; a row per sample. */
export function tableFrames(results: Results): Frame[] {
  const refs = [...new Set(results.refs)];
  return refs.map((ref) => {
    const members = results.series.filter((_, i) => results.refs[i] === ref);
    const labelNames: string[] = [];
    for (const s of members) for (const l of Object.keys(s.metric).sort()) if (!labelNames.includes(l)) labelNames.push(l);
    const time: Value[] = [];
    const value: Value[] = [];
    const columns = labelNames.map((): Value[] => []);
    for (const s of members) {
      for (const [t, v] of samples(s)) {
        time.push(t * 1000);
        value.push(sampleValue(v));
        labelNames.forEach((l, j) => {
          const text = s.metric[l];
          columns[j].push(text === undefined ? "" : l === "le" ? sampleValue(text) : text);
        });
      }
    }
    const fields: Field[] = [
      { name: "Time", type: "time", values: time, config: {} },
      ...labelNames.map((l, j): Field => ({ name: l, type: l === "le" ? "number" : "string", values: columns[j], config: {} })),
      { name: refs.length > 1 ? `Value #${ref}` : "Value", type: "number", values: value, config: {} },
    ];
    return { refId: ref, fields };
  });
}

/** The frames of `format: "time_series"` results: one per series, `Time` and `Value`, the
 * value field carrying the series' labels and its legend as the data source's display
 * name. */
export function seriesFrames(results: Results): Frame[] {
  return results.series.map((s, i) => {
    const points = samples(s);
    return {
      name: results.names[i],
      refId: results.refs[i],
      fields: [
        { name: "Time", type: "time", values: points.map(([t]) => t * 1000), config: {} },
        {
          name: "Value",
          type: "number",
          values: points.map(([, v]) => sampleValue(v)),
          config: { displayNameFromDS: results.names[i] },
          labels: { ...s.metric },
        },
      ],
    };
  });
}

/** Frames back as series, for the panels that draw series: each number field one series,
 * over its frame's first time field, or over its row numbers (as seconds) without one. */
export function framesToResults(frames: Frame[]): Results {
  const out: Results = { series: [], names: [], refs: [] };
  for (const frame of frames) {
    const time = frame.fields.find((f) => f.type === "time");
    for (const f of frame.fields) {
      if (f.type !== "number") continue;
      const text = (v: Value) => (v === null || v === undefined ? "NaN" : String(v));
      const at = (i: number) => (time ? Number(time.values[i]) / 1000 : i);
      out.series.push({ metric: { ...(f.labels ?? {}) }, values: f.values.map((v, i) => [at(i), text(v)]) });
      out.names.push(displayName(f, frame, frames));
      out.refs.push(frame.refId ?? "");
    }
  }
  return out;
}
