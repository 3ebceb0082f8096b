// Grafana's field reducers ("calcs"), by the ids dashboards write in `reduce`, `groupBy`
// and `calculateField` transformations, over a field's values as Grafana computes them:
// nulls ignored (Grafana's default null mode), NaN not a "not null" value, sum and count 0
// on no values, delta counting only increases (a counter reset adds nothing).

import type { FieldType, Value } from "./frames";

export interface Reducer {
  /** The column title Grafana gives the reducer's results (`reduce` transformation). */
  name: string;
  /** The result on no values at all. */
  empty: Value | Value[];
}

const PLAIN: Record<string, Reducer> = {
  lastNotNull: { name: "Last *", empty: null },
  last: { name: "Last", empty: null },
  firstNotNull: { name: "First *", empty: null },
  first: { name: "First", empty: null },
  min: { name: "Min", empty: null },
  max: { name: "Max", empty: null },
  mean: { name: "Mean", empty: null },
  median: { name: "Median", empty: null },
  variance: { name: "Variance", empty: null },
  stdDev: { name: "StdDev", empty: null },
  sum: { name: "Total", empty: 0 },
  count: { name: "Count", empty: 0 },
  countAll: { name: "Count all", empty: 0 },
  range: { name: "Range", empty: null },
  delta: { name: "Delta", empty: null },
  step: { name: "Step", empty: null },
  diff: { name: "Difference", empty: null },
  diffperc: { name: "Difference percent", empty: null },
  logmin: { name: "Min (above zero)", empty: null },
  allIsZero: { name: "All Zeros", empty: false },
  allIsNull: { name: "All Nulls", empty: true },
  changeCount: { name: "Change Count", empty: null },
  distinctCount: { name: "Distinct Count", empty: null },
  allValues: { name: "All values", empty: [] },
  uniqueValues: { name: "All unique values", empty: [] },
};

/** Ids Grafana also accepts for some reducers. */
const ALIASES: Record<string, string> = { current: "lastNotNull", avg: "mean", total: "sum" };

function ordinal(n: number): string {
  return n > 3 && n < 21 ? "th" : n % 10 === 1 ? "st" : n % 10 === 2 ? "nd" : n % 10 === 3 ? "rd" : "th";
}

/** The reducer of `id` (an alias or `p1`..`p99` included), or undefined if Grafana has none. */
export function reducerInfo(id: string): (Reducer & { id: string }) | undefined {
  const real = ALIASES[id] ?? id;
  if (PLAIN[real]) return { id: real, ...PLAIN[real] };
  const p = /^p([1-9]\d?)$/.exec(real);
  if (p) return { id: real, name: `${p[1]}${ordinal(Number(p[1]))} %`, empty: null };
  return undefined;
}

/** Every reducer id Grafana knows. */
export const REDUCER_IDS: string[] = [...Object.keys(PLAIN), ...Array.from({ length: 99 }, (_, i) => `p${i + 1}`)];

const present = (v: Value): v is number | string | boolean => v !== null && v !== undefined;
const notNull = (v: Value) => present(v) && !(typeof v === "number" && Number.isNaN(v));

/** The standard calculations, in one pass as Grafana's `doStandardCalcs`. */
function standard(values: Value[], type: FieldType, countNulls: boolean): Record<string, Value> {
  const numeric = type === "number" || type === "time";
  let sum = 0;
  let max = -Number.MAX_VALUE;
  let min = Number.MAX_VALUE;
  let logmin = Number.MAX_VALUE;
  let step = Number.MAX_VALUE;
  let delta = 0;
  let count = 0;
  let nonNull = 0;
  let allIsNull = true;
  let allIsZero = true;
  let up = true;
  let first: Value = null;
  let last: Value = null;
  let firstNotNull: Value = null;
  let lastNotNull: Value = null;
  values.forEach((v, i) => {
    if (i === 0) first = v;
    last = v;
    if (!present(v) && !countNulls) return;
    count++;
    if (!notNull(v)) return;
    const isFirst = firstNotNull === null;
    if (isFirst) firstNotNull = v;
    if (numeric) {
      const x = v as number;
      sum += x || 0;
      allIsNull = false;
      nonNull++;
      if (!isFirst) {
        const d = x - (lastNotNull as number);
        if (step > d) step = d;
        if ((lastNotNull as number) > x) up = false;
        else {
          if (up) delta += d;
          up = true;
        }
      }
      if (x > max) max = x;
      if (x < min) min = x;
      if (x < logmin && x > 0) logmin = x;
    }
    if (v !== 0) allIsZero = false;
    lastNotNull = v;
  });
  const maxOut = max === -Number.MAX_VALUE ? null : max;
  const minOut = min === Number.MAX_VALUE ? null : min;
  const diff = typeof firstNotNull === "number" && typeof lastNotNull === "number" ? lastNotNull - firstNotNull : null;
  return {
    sum,
    max: maxOut,
    min: minOut,
    logmin: logmin === Number.MAX_VALUE ? null : logmin,
    step: step === Number.MAX_VALUE ? null : step,
    mean: nonNull > 0 ? sum / nonNull : null,
    first,
    last,
    firstNotNull,
    lastNotNull,
    count,
    allIsNull,
    allIsZero: allIsNull ? false : allIsZero,
    range: maxOut !== null && minOut !== null ? maxOut - minOut : null,
    delta,
    diff,
    diffperc: typeof firstNotNull === "number" && diff !== null ? (diff / firstNotNull) * 100 : 0,
  };
}

function variance(values: Value[]): number {
  let n = 0;
  let mean = 0;
  let squares = 0;
  for (const v of values) {
    if (!present(v)) continue;
    const x = v as number;
    n++;
    const old = mean;
    mean += (x - old) / n;
    squares += (x - old) * (x - mean);
  }
  return n > 0 ? squares / n : 0;
}

/** How nulls count: skipped (Grafana's default, "connected"), kept as nulls that count but
 * compute nothing ("null"), or read as zero ("null as zero"). */
export type NullMode = "ignore" | "keep" | "zero";

/** Reduces `values` (of a field of `type`) by reducer `id`; undefined for an unknown id. */
export function reduceValues(id: string, input: Value[], type: FieldType = "number", nulls: NullMode = "ignore"): Value | Value[] | undefined {
  const info = reducerInfo(id);
  if (!info) return undefined;
  if (input.length === 0) return info.empty;
  const values = nulls === "zero" ? input.map((v) => (v === null || v === undefined ? 0 : v)) : input;
  const real = info.id;
  const kept = values.filter(present);
  switch (real) {
    case "lastNotNull":
      return [...values].reverse().find(notNull) ?? null;
    case "firstNotNull":
      return values.find(notNull) ?? null;
    case "first":
      return values[0];
    case "last":
      return values[values.length - 1];
    case "countAll":
      return values.length;
    case "allValues":
      return [...values];
    case "uniqueValues":
      return [...new Set(values)];
    case "changeCount": {
      let changes = 0;
      kept.forEach((v, i) => {
        if (i > 0 && kept[i - 1] !== v) changes++;
      });
      return changes;
    }
    case "distinctCount":
      return new Set(kept).size;
    case "variance":
    case "stdDev": {
      if (type !== "number" && type !== "time") return 0;
      const v = variance(values);
      return real === "variance" ? v : Math.sqrt(v);
    }
    case "median": {
      const xs = (kept as number[]).slice().sort((a, b) => a - b);
      const mid = Math.floor(xs.length / 2);
      return xs.length % 2 === 0 ? (xs[mid - 1] + xs[mid]) / 2 : xs[mid];
    }
  }
  if (real.startsWith("p")) {
    const xs = (kept as number[]).slice().sort((a, b) => a - b);
    return xs[Math.round((xs.length - 1) * (Number(real.slice(1)) / 100))];
  }
  return standard(values, type, nulls === "keep")[real];
}

/** The type of a reducer's results on a field of `type`: counts are numbers, the `all*`
 * checks booleans, the rest keep the field's type. */
export function reducedType(id: string, type: FieldType): FieldType {
  const real = ALIASES[id] ?? id;
  if (["count", "distinctCount", "changeCount", "countAll"].includes(real)) return "number";
  if (real === "allIsNull" || real === "allIsZero") return "boolean";
  return type;
}
