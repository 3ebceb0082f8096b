// What a panel drew, in numbers: how many finite values it received after its
// transformations, how many distinct ones (capped), and their range. The dashboard puts
// them on each panel's root as `data-values`, `data-distinct`, `data-min` and `data-max`,
// so that a test (or a person inspecting the page) can tell a panel of real data from an
// empty or flat one without reading pixels; panels that draw no numbers (text, logs,
// alert list, dashboard list, news) say `data-values="n/a"` and are checked their own way.

import type { Series } from "./api";
import type { Drawn } from "./panels";
import { type Frame, sampleValue, tableFrames } from "./frames";
import { buckets } from "./heatmap";
import { type Transformation, applyTransformations } from "./transformations";

/** How many distinct values are counted at most: a test asks for two, a person for a few. */
export const DISTINCT_CAP = 100;

/** What a panel that draws numbers received. */
export interface PanelData {
  /** Finite values, over all series or number fields. */
  values: number;
  /** Distinct finite values, `DISTINCT_CAP` at most. */
  distinct: number;
  /** The smallest and largest finite value; null when there is none. */
  min: number | null;
  max: number | null;
}

/** What a panel that draws no numbers reports. */
export const NON_NUMERIC = "n/a";

/** The panel types that draw no numbers. */
export const NON_NUMERIC_TYPES = new Set(["text", "logs", "alertlist", "dashlist", "news"]);

/** Counts the finite numbers among `values` (other values are skipped: gaps, labels). */
export function summarize(values: Iterable<unknown>): PanelData {
  let count = 0;
  let min: number | null = null;
  let max: number | null = null;
  const seen = new Set<number>();
  for (const v of values) {
    const n = typeof v === "number" ? v : typeof v === "string" ? sampleValue(v) : Number.NaN;
    if (!Number.isFinite(n)) continue;
    count++;
    // -0 and 0 are one value, as a Set keeps them.
    if (seen.size < DISTINCT_CAP) seen.add(n);
    min = min === null || n < min ? n : min;
    max = max === null || n > max ? n : max;
  }
  return { values: count, distinct: seen.size, min, max };
}

function* seriesValues(series: Series[]): Generator<string> {
  for (const s of series) {
    if (s.value) yield s.value[1];
    for (const [, v] of s.values ?? []) yield v;
  }
}

function* frameNumbers(frames: Frame[]): Generator<unknown> {
  for (const frame of frames) for (const f of frame.fields) if (f.type === "number") yield* f.values;
}

/** The data a panel of `type` draws from `drawn`: a table's and a bar chart's number
 * fields after the panel's transformations (a bar chart of range answers without
 * transformations draws the series themselves), a heatmap's per-bucket counts (what its
 * cells are coloured by), every other panel's series values. */
export function panelData(type: string, drawn: Drawn, transformations: Transformation[] | undefined, window: { start: number; end: number; step: number }): PanelData {
  if (type === "table" || (type === "barchart" && (transformations?.length || drawn.series.every((s) => s.value && !s.values)))) {
    return summarize(frameNumbers(applyTransformations(tableFrames(drawn), transformations).frames));
  }
  if (type === "heatmap") {
    const b = buckets(drawn.series, window.start, window.end, window.step);
    return summarize(b.counts.flat());
  }
  return summarize(seriesValues(drawn.series));
}

/** The data attributes of a panel's root for what it drew: none until it has drawn. */
export function dataAttributes(data: PanelData | typeof NON_NUMERIC | null): Record<string, string> {
  if (data === null) return {};
  if (data === NON_NUMERIC) return { "data-values": NON_NUMERIC };
  const out: Record<string, string> = { "data-values": String(data.values), "data-distinct": String(data.distinct) };
  if (data.min !== null) out["data-min"] = String(data.min);
  if (data.max !== null) out["data-max"] = String(data.max);
  return out;
}
