// Grafana's data transformations, applied to a panel's frames in order before it draws
// them, as Grafana's `packages/grafana-data/src/transformations/transformers` do: the same
// option names, the same column names (`Value #A (lastNotNull)`, `Last *`, `Used`), the
// same edge cases (a merge without common fields changes nothing, a join without a join
// field drops the frame). A transformation Skywatch does not have, or one whose options it
// cannot follow, is reported by name and leaves the frames as they were, so a panel can
// say what it could not do rather than draw something else.

import {
  type Field,
  type FieldMatcher,
  type FieldType,
  type Frame,
  type Results,
  type Value,
  displayName,
  frameDisplayName,
  framesToResults,
  namesMatcher,
  patternRegex,
  regexMatcher,
  rowCount,
  seriesFrames,
  tableFrames,
} from "./frames";
import { reduceValues, reducedType, reducerInfo } from "./reducers";

/** One entry of a panel's `transformations`. */
export interface Transformation {
  id: string;
  disabled?: boolean;
  options?: any;
}

/** What a transformation may need from the dashboard: its variables. */
export interface Context {
  interpolate?: (text: string) => string;
}

type Transformer = (frames: Frame[], options: any, ctx: Required<Context>) => Frame[];

/** A transformation's options Skywatch cannot follow; the frames stay as they were. */
class Unsupported extends Error {}

/** Whether Skywatch applies the transformation `id`. */
export function isSupportedTransformation(id: string): boolean {
  return id in TRANSFORMERS;
}

/** The result of a panel's transformations: the frames, and what could not be done. */
export interface Transformed {
  frames: Frame[];
  problems: string[];
}

/** Applies `transformations` in order, skipping disabled ones. An unknown id or options
 * that cannot be followed are reported in `problems` and that step changes nothing. */
export function applyTransformations(frames: Frame[], transformations: Transformation[] | undefined, context: Context = {}): Transformed {
  const ctx: Required<Context> = { interpolate: context.interpolate ?? ((s) => s) };
  const problems: string[] = [];
  let data = frames;
  for (const t of transformations ?? []) {
    if (t.disabled) continue;
    const run = TRANSFORMERS[t.id];
    if (!run) {
      problems.push(`transformation "${t.id}" is not supported`);
      continue;
    }
    try {
      data = run(data, t.options ?? {}, ctx);
    } catch (e) {
      problems.push(`transformation "${t.id}": ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { frames: data, problems };
}

/** A panel's query results through its transformations, for the panels that draw series
 * (stat, gauge, bar gauge, pie chart, time series): the results become frames as the
 * queries' `format` makes them, and the frames series again. Without transformations the
 * results are returned as they are. */
export function transformResults(results: Results, transformations: Transformation[] | undefined, format: "table" | "time_series" = "time_series", context: Context = {}): { results: Results; problems: string[] } {
  if (!transformations?.some((t) => !t.disabled)) return { results, problems: [] };
  const frames = format === "table" ? tableFrames(results) : seriesFrames(results);
  const out = applyTransformations(frames, transformations, context);
  return { results: framesToResults(out.frames), problems: out.problems };
}

// ---------------------------------------------------------------------------------------
// Helpers shared by several transformations.

/** A copy of `frame` with the rows `rows` (in that order) of every field. */
function pickRows(frame: Frame, rows: number[]): Frame {
  return { ...frame, fields: frame.fields.map((f) => ({ ...f, values: rows.map((i) => f.values[i]) })) };
}

/** `a - b` as JavaScript computes it on any two cells, with NaN read as "equal", as
 * `Array.prototype.sort` reads a NaN comparison. */
function minus(a: Value, b: Value): number {
  const d = (a as number) - (b as number);
  return Number.isNaN(d) ? 0 : d;
}

function falsyCompare(a: Value, b: Value): number {
  return !a && b ? 1 : a && !b ? -1 : 0;
}

/** Sorts a frame's rows by a field, as Grafana's `sortDataFrame`: numbers and times by
 * value, strings by `localeCompare` with empty ones last, booleans true first. */
function sortFrame(frame: Frame, index: number, desc = false): Frame {
  const field = frame.fields[index];
  if (!field) return frame;
  const v = field.values;
  let cmp: (a: number, b: number) => number;
  switch (field.type) {
    case "string":
      cmp = (a, b) => (!v[a] || !v[b] ? falsyCompare(v[a], v[b]) : String(v[a]).localeCompare(String(v[b])));
      break;
    case "boolean":
      cmp = (a, b) => falsyCompare(v[a], v[b]);
      break;
    case "number":
    case "time":
      cmp = (a, b) => minus(v[a], v[b]);
      break;
    default:
      cmp = (a, b) => a - b;
  }
  const rows = Array.from({ length: rowCount(frame) }, (_, i) => i);
  rows.sort(desc ? (a, b) => cmp(b, a) : cmp);
  return pickRows(frame, rows);
}

/** The first time field of a frame. */
function timeFieldOf(frame: Frame): Field | undefined {
  return frame.fields.find((f) => f.type === "time");
}

/** Grafana's field matchers by their ids in a transformation's `MatcherConfig`. */
function fieldMatcher(config: { id?: string; options?: any } | undefined): FieldMatcher {
  const o = config?.options;
  switch (config?.id) {
    case "byName":
      return namesMatcher([String(o ?? "")]);
    case "byNames": {
      const m = namesMatcher(o?.names ?? []);
      return o?.mode === "exclude" ? (f, fr, all) => !m(f, fr, all) : m;
    }
    case "byRegexp":
      return regexMatcher(String(o ?? ""));
    case "byRegexpOrNames": {
      const names = namesMatcher(o?.names ?? []);
      const re = regexMatcher(o?.pattern ?? "");
      return (f, fr, all) => names(f, fr, all) || re(f, fr, all);
    }
    case "byType":
      return (f) => f.type === o;
    case "numeric":
      return (f) => f.type === "number";
    case "time":
      return (f) => f.type === "time";
    case "byFrameRefID":
      return (_, fr) => fr.refId === o;
    default:
      throw new Unsupported(`field matcher "${config?.id}" is not supported`);
  }
}

/** The matcher of a `{names, pattern, variable}` option (filterFieldsByName, organize,
 * partitionByValues), or undefined when it names nothing. */
function namesOrPattern(o: { names?: string[]; pattern?: string; variable?: string } | undefined, byVariable: boolean | undefined, ctx: Required<Context>): FieldMatcher | undefined {
  if (!o) return undefined;
  if (byVariable && o.variable) {
    const text = ctx.interpolate(o.variable);
    const names = /^\{.*\}$/.test(text) ? text.slice(1, -1).split(",") : text.split(",");
    return namesMatcher(names);
  }
  const names = Array.isArray(o.names) ? o.names : [];
  if (!names.length && !o.pattern) return undefined;
  if (!o.pattern) return namesMatcher(names);
  if (!names.length) return regexMatcher(o.pattern);
  return fieldMatcher({ id: "byRegexpOrNames", options: o });
}

/** Keeps the fields `include` matches (all if none) that `exclude` does not; frames left
 * without fields are dropped (Grafana's `filterFields`). */
function filterFields(frames: Frame[], include?: FieldMatcher, exclude?: FieldMatcher): Frame[] {
  if (!include && !exclude) return frames;
  const out: Frame[] = [];
  for (const frame of frames) {
    const fields = frame.fields.filter((f) => !(exclude && exclude(f, frame, frames)) && (!include || include(f, frame, frames)));
    if (fields.length) out.push({ ...frame, fields });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The transformations.

/** Rows of all frames in one frame: fields by name, rows with equal values in the fields
 * every frame has merged into one. */
const merge: Transformer = (frames) => {
  if (frames.length <= 1) return frames;
  const data = frames.filter((f) => f.fields.length > 0);
  if (!data.length) return [frames[0]];
  const fields: Field[] = [];
  const indexByName = new Map<string, Map<number, number>>();
  const keyNames: string[] = [];
  data.forEach((frame, fi) => {
    frame.fields.forEach((field, i) => {
      if (!indexByName.has(field.name)) {
        const { displayName: _, ...config } = field.config;
        fields.push({ name: field.name, type: field.type, values: [], config });
        indexByName.set(field.name, new Map());
      }
      indexByName.get(field.name)!.set(fi, i);
      if (fi === data.length - 1 && indexByName.get(field.name)!.size === data.length) keyNames.push(field.name);
    });
  });
  if (!keyNames.length) return frames;
  const keyIndexes = data.map((_, fi) => keyNames.map((n) => indexByName.get(n)!.get(fi)!));
  const byKey = new Map<string, Record<string, Value>[]>();
  const order: [string, number][] = [];
  data.forEach((frame, fi) => {
    for (let row = 0; row < rowCount(frame); row++) {
      const key = keyIndexes[fi].reduce((k, i) => k + String(frame.fields[i].values[row]), "");
      const value: Record<string, Value> = {};
      for (const [name, at] of indexByName) if (at.has(fi)) value[name] = frame.fields[at.get(fi)!].values[row];
      const existing = byKey.get(key);
      if (!existing) {
        byKey.set(key, [value]);
        order.push([key, 0]);
        continue;
      }
      let merged = false;
      const next = existing.map((e) => {
        const fits = Object.keys(value).every((p) => e[p] === undefined || e[p] === null || e[p] === value[p]);
        if (!fits) return e;
        merged = true;
        return { ...e, ...value };
      });
      byKey.set(key, next);
      if (!merged) {
        next.push(value);
        order.push([key, next.length - 1]);
      }
    }
  });
  for (const [key, i] of order) {
    const row = byKey.get(key)![i];
    for (const f of fields) f.values.push(row[f.name]);
  }
  return [{ fields }];
};

/** Orders fields: by `indexByName` (manual, the default), or by name or label (auto). */
function orderFields(frames: Frame[], o: any): Frame[] {
  const mode = o.orderByMode ?? "manual";
  if (mode === "manual") {
    const index: Record<string, number> = o.indexByName ?? {};
    const at = (n: string) => (Number.isInteger(index[n]) ? index[n] : Number.MAX_SAFE_INTEGER);
    return frames.map((frame) => ({
      ...frame,
      fields: [...frame.fields].sort((a, b) => at(displayName(a, frame, frames)) - at(displayName(b, frame, frames))),
    }));
  }
  const orderBy: { type?: string; name?: string; desc?: boolean }[] = o.orderBy ?? [];
  const collator = new Intl.Collator(undefined, { sensitivity: "base", numeric: true });
  return frames.map((frame) => {
    const firstTime = timeFieldOf(frame);
    const fields = [...frame.fields].sort((a, b) => {
      if (a === firstTime) return -1;
      if (b === firstTime) return 1;
      for (const { type, name = "", desc } of orderBy) {
        const key = (f: Field) => (type === "name" ? displayName(f, frame, frames) : (f.labels?.[name] ?? ""));
        const r = collator.compare(key(a), key(b)) * (desc ? -1 : 1);
        if (r) return r;
      }
      return 0;
    });
    return { ...frame, fields };
  });
}

/** Renames fields by display name (their configured display name changes). */
function renameFields(frames: Frame[], renameByName: Record<string, string> | undefined): Frame[] {
  if (!renameByName || !Object.keys(renameByName).length) return frames;
  return frames.map((frame) => ({
    ...frame,
    fields: frame.fields.map((f) => {
      const to = renameByName[displayName(f, frame)];
      return typeof to === "string" && to.length ? { ...f, config: { ...f.config, displayName: to } } : f;
    }),
  }));
}

const trueKeys = (m: Record<string, boolean> | undefined) => Object.keys(m ?? {}).filter((k) => m![k]);

const organize: Transformer = (frames, o) => {
  const include = o.includeByName ? namesOrPattern({ names: trueKeys(o.includeByName) }, false, { interpolate: (s) => s }) : undefined;
  const exclude = namesOrPattern({ names: trueKeys(o.excludeByName) }, false, { interpolate: (s) => s });
  return renameFields(orderFields(filterFields(frames, include, exclude), o), o.renameByName);
};

const filterFieldsByName: Transformer = (frames, o, ctx) =>
  filterFields(frames, namesOrPattern(o.include, o.byVariable, ctx), namesOrPattern(o.exclude, o.byVariable, ctx));

/** The type Grafana guesses from values: that of the first one present. */
function guessType(values: Value[]): FieldType {
  const v = values.find((x) => x !== null && x !== undefined);
  return typeof v === "number" ? "number" : typeof v === "string" ? "string" : typeof v === "boolean" ? "boolean" : "other";
}

function checkedReducers(ids: string[]): string[] {
  for (const id of ids) if (!reducerInfo(id)) throw new Unsupported(`reducer "${id}" is not supported`);
  return ids;
}

/** Reduces each field to one value per reducer: a row per field (`seriesToRows`, the
 * default) or the fields kept, one row each (`reduceFields`). */
const reduce: Transformer = (frames, o) => {
  const reducers = checkedReducers(o.reducers ?? []);
  if (!reducers.length) return frames;
  const matcher: FieldMatcher = o.fields ? fieldMatcher(o.fields) : o.includeTimeField && o.mode === "reduceFields" ? () => true : (f) => f.type !== "time";
  if (o.mode === "reduceFields") {
    const out: Frame[] = [];
    for (const frame of frames) {
      const fields: Field[] = [];
      for (const f of frame.fields) {
        if (!matcher(f, frame, frames)) continue;
        for (const r of reducers) {
          const v = reduceValues(r, f.values, f.type) as Value;
          const labels = reducers.length > 1 ? { ...(f.labels ?? {}), reducer: reducerInfo(r)!.name } : f.labels;
          fields.push({ ...f, type: guessType([v]), values: [v], labels });
        }
      }
      if (fields.length) out.push({ ...frame, fields });
    }
    return out;
  }
  const labelKeys = o.labelsToFields ? [...new Set(frames.flatMap((fr) => fr.fields.flatMap((f) => Object.keys(f.labels ?? {}))))] : [];
  const per: Frame[] = frames.map((frame) => {
    const source = frame.fields.filter((f) => matcher(f, frame, frames));
    const names: Field = { name: "Field", type: "string", values: [], config: {} };
    const labels: Field[] = labelKeys.map((k) => ({ name: k, type: "string", values: [], config: {} }));
    const calcs: Field[] = reducers.map((r) => ({ name: reducerInfo(r)!.name, type: "other", values: [], config: {} }));
    for (const f of source) {
      names.values.push(o.labelsToFields ? f.name : displayName(f, frame, frames));
      labels.forEach((l, j) => l.values.push(f.labels?.[labelKeys[j]]));
      reducers.forEach((r, j) => calcs[j].values.push(reduceValues(r, f.values, f.type) as Value));
    }
    for (const c of calcs) {
      const t = guessType(c.values);
      if (t !== "other") c.type = t;
    }
    return { ...frame, fields: [names, ...labels, ...calcs] };
  });
  if (!per.length) return [];
  // One frame: each frame's rows appended to the first's fields of the same name and type.
  const base = per[0];
  for (const frame of per.slice(1)) {
    base.fields.forEach((b, bi) => {
      frame.fields.forEach((f, fi) => {
        if ((bi === 0 && fi === 0) || (b.type === f.type && b.name === f.name)) b.values = b.values.concat(f.values);
      });
    });
  }
  return [{ ...base, name: undefined }];
};

/** Joins frames on a field (`byField`, or the first time field): outer (all keys, sorted),
 * inner (keys every frame has) or outerTabular. */
function join(frames: Frame[], byField: string | undefined, mode: string = "outer"): Frame | undefined {
  if (!frames.length) return undefined;
  const isJoin: FieldMatcher = byField
    ? namesMatcher([byField])
    : timeFieldOf(frames[0])
      ? (f, fr) => f === timeFieldOf(fr)
      : () => false;
  if (frames.length === 1) {
    const frame = frames[0];
    const at = frame.fields.findIndex((f) => isJoin(f, frame, frames));
    if (at >= 0 && frame.fields[at].type !== "string" && !ascending(frame.fields[at].values)) return sortFrame(frame, at);
    return frame;
  }
  const tables: Value[][][] = [];
  const nullModes: number[][] = [];
  const outFields: Field[] = [];
  const orderByFrame: number[][] = [];
  let position = 1;
  for (const frame of frames) {
    if (!frame.fields.length) continue;
    let key: Field | undefined;
    const others: Field[] = [];
    const modes = [REMOVE];
    for (const f of frame.fields) {
      if (!key && isJoin(f, frame, frames)) key = f;
      else {
        const span = (f.config.custom as { spanNulls?: unknown } | undefined)?.spanNulls;
        modes.push(span === true ? REMOVE : span === -1 ? RETAIN : EXPAND);
        others.push(frame.name && f.name === "Value" ? { ...f, name: frame.name } : f);
      }
    }
    if (!key) continue;
    if (!outFields.length) outFields.push(key);
    nullModes.push(modes);
    tables.push([key.values, ...others.map((f) => f.values)]);
    orderByFrame.push(others.map(() => position++));
    outFields.push(...others);
  }
  const joined = mode === "inner" ? joinInner(tables) : mode === "outerTabular" ? joinTabular(tables, orderByFrame, outFields.length) : joinOuter(tables, nullModes);
  return { fields: outFields.map((f, i) => ({ ...f, values: joined[i] ?? [] })) };
}

const REMOVE = 0;
const RETAIN = 1;
const EXPAND = 2;

/** Whether sampled values rise (Grafana's `isLikelyAscendingVector`). */
function ascending(values: Value[], samples = 50): boolean {
  let first = 0;
  let last = values.length - 1;
  while (first <= last && values[first] == null) first++;
  while (last >= first && values[last] == null) last--;
  if (last <= first) return true;
  const stride = Math.max(1, Math.floor((last - first + 1) / samples));
  let prev = values[first] as number;
  for (let i = first + stride; i <= last; i += stride) {
    const v = values[i];
    if (v != null) {
      if ((v as number) <= prev) return false;
      prev = v as number;
    }
  }
  return true;
}

/** uPlot's join, as Grafana uses it: every key once, sorted, each table's values at their
 * key's row; nulls kept, dropped or spread to adjacent gaps by each field's null mode. */
function joinOuter(tables: Value[][][], nullModes: number[][]): Value[][] {
  const keys = new Set<Value>();
  for (const t of tables) for (const x of t[0]) keys.add(x);
  const xs = [...keys].sort(minus);
  const at = new Map(xs.map((x, i) => [x, i]));
  const out: Value[][] = [xs];
  tables.forEach((t, ti) => {
    for (let si = 1; si < t.length; si++) {
      const ys: Value[] = new Array(xs.length).fill(undefined);
      const mode = nullModes[ti][si];
      const nulls: number[] = [];
      t[si].forEach((y, i) => {
        const j = at.get(t[0][i])!;
        if (y === null) {
          if (mode !== REMOVE) {
            ys[j] = null;
            if (mode === EXPAND) nulls.push(j);
          }
        } else ys[j] = y;
      });
      let lastNull = -1;
      for (const n of nulls) {
        if (n <= lastNull) continue;
        for (let x = n - 1; x >= 0 && ys[x] == null; x--) ys[x] = null;
        for (let x = n + 1; x < ys.length && ys[x] == null; x++) ys[(lastNull = x)] = null;
      }
      out.push(ys);
    }
  });
  return out;
}

/** Rows of the first table whose key every other table has, recursively, as Grafana's
 * inner join. */
function joinInner(tables: Value[][][]): Value[][] {
  const rows: Value[][] = [];
  const walk = (ti: number, row: Value[]) => {
    if (ti === tables.length) {
      rows.push(row);
      return;
    }
    const [xs, ...ys] = tables[ti];
    xs.forEach((x, i) => {
      if (ti !== 0 && !row.includes(x)) return;
      walk(ti + 1, [...row, ...(ti === 0 ? [x] : []), ...ys.map((y) => y[i])]);
    });
  };
  walk(0, []);
  if (!rows.length) return [];
  return rows[0].map((_, c) => rows.map((r) => r[c]));
}

/** Grafana's `outerTabular` join: each table's rows with the first matching row of each
 * other table, duplicates dropped. */
function joinTabular(tables: Value[][][], orderByFrame: number[][], width: number): Value[][] {
  const rows = new Map<string, Value[]>();
  tables.forEach((t, ti) => {
    tables.forEach((o, oi) => {
      if (oi === ti) return;
      t[0].forEach((x, i) => {
        const row: Value[] = [x, ...new Array(width - 1).fill(undefined)];
        for (let c = 1; c < t.length; c++) row[orderByFrame[ti][c - 1]] = t[c][i];
        const j = o[0].findIndex((y) => y === x);
        if (j >= 0) for (let c = 1; c < o.length; c++) row[orderByFrame[oi][c - 1]] = o[c][j];
        rows.set(JSON.stringify(row), row);
      });
    });
  });
  const out: Value[][] = Array.from({ length: width }, () => []);
  for (const row of rows.values()) row.forEach((v, i) => out[i].push(v));
  return out;
}

const joinByField: Transformer = (frames, o) => {
  if (frames.length <= 1) return frames;
  const joined = join(frames, o.byField, o.mode);
  return joined ? [joined] : frames;
};

/** Time series joined on time when every frame has a time field of the same name
 * (Grafana's `ensureColumns`, run before calculations across series). */
function ensureColumns(frames: Frame[]): Frame[] {
  let name: string | undefined;
  for (const frame of frames) {
    const t = timeFieldOf(frame);
    if (!t || (name !== undefined && name !== t.name)) return frames;
    name = t.name;
  }
  if (frames.length > 1 && name !== undefined) {
    const joined = join(frames, name);
    return joined ? [joined] : frames;
  }
  return frames;
}

/** Labels of each field as columns (each label value its own column, filled), or as
 * label/value rows per field. */
const labelsToFields: Transformer = (frames, o) => {
  const keep: string[] | undefined = o.keepLabels?.length ? o.keepLabels : undefined;
  if (o.mode === "rows") {
    const out: Frame[] = [];
    for (const frame of frames) {
      for (const f of frame.fields) {
        if (!f.labels) continue;
        const keys = keep ?? Object.keys(f.labels);
        if (!keys.length) continue;
        out.push({
          ...frame,
          name: displayName(f, frame, frames),
          fields: [
            { name: "label", type: "string", values: [...keys], config: {} },
            { name: "value", type: "string", values: keys.map((k) => f.labels![k]), config: {} },
          ],
        });
      }
    }
    return out;
  }
  return frames.map((frame) => {
    const fields: Field[] = [];
    const unique = new Map<string, Set<string>>();
    for (const f of frame.fields) {
      if (!f.labels) {
        fields.push(f);
        continue;
      }
      const { displayName: _, displayNameFromDS: __, ...config } = f.config;
      const bare: Field = { ...f, config, labels: undefined };
      fields.push(bare);
      for (const [k, v] of Object.entries(f.labels)) {
        if (keep && !keep.includes(k)) continue;
        if (o.valueLabel === k) {
          bare.name = v;
          continue;
        }
        if (!unique.has(k)) unique.set(k, new Set());
        unique.get(k)!.add(v);
      }
    }
    const n = rowCount(frame);
    for (const [k, values] of unique) for (const v of values) fields.push({ name: k, type: "string", values: new Array(n).fill(v), config: {} });
    return { ...frame, fields };
  });
};

const BINARY: Record<string, (a: any, b: any) => number> = {
  "+": (a, b) => a + b,
  "-": (a, b) => a - b,
  "*": (a, b) => a * b,
  "/": (a, b) => a / b,
  "%": (a, b) => a % b,
  "^": (a, b) => Math.pow(a, b),
};

const UNARY: Record<string, (a: any) => number> = {
  abs: Math.abs,
  exp: Math.exp,
  ln: Math.log,
  floor: Math.floor,
  ceil: Math.ceil,
};

type Operand = { fixed?: string; matcher?: { id?: string; options?: string } };

/** An operand as Grafana reads both forms: `{matcher}`/`{fixed}`, or a bare string that is
 * a field name unless it is a number no field is called. */
function operand(value: Operand | string | undefined, names: string[]): Operand {
  if (typeof value !== "string") return value ?? { fixed: "" };
  if (Number.isNaN(Number(value)) || names.includes(value)) return { matcher: { id: "byName", options: value } };
  return { fixed: value };
}

function operandValues(frame: Frame, all: Frame[], v: Operand, ctx: Required<Context>): Value[] | undefined {
  if (v.matcher?.id === "byName") {
    const name = ctx.interpolate(v.matcher.options ?? "");
    const f = frame.fields.find((x) => displayName(x, frame, all) === name);
    if (f) return f.type === "boolean" ? f.values.map((x) => (x ? 1 : 0)) : f.values;
  }
  const n = parseFloat(v.fixed ?? ctx.interpolate(v.matcher?.options ?? ""));
  return Number.isNaN(n) ? undefined : new Array(rowCount(frame)).fill(n);
}

/** A new field from the row's values: reduced (`reduceRow`), two operands (`binary`), one
 * field (`unary`), the row number (`index`), a running total or mean (`cumulativeFunctions`)
 * or a moving mean or deviation (`windowFunctions`). */
const calculateField: Transformer = (frames, o, ctx) => {
  const mode = o.mode ?? "reduceRow";
  const alias = o.alias != null ? ctx.interpolate(o.alias) : undefined;
  let binary: { left: Operand; operator: string; right: Operand } | undefined;
  if (mode === "binary") {
    const names = frames.flatMap((fr) => fr.fields.map((f) => f.name));
    binary = { left: operand(o.binary?.left, names), operator: o.binary?.operator ?? "+", right: operand(o.binary?.right, names) };
  }
  const fixedRight = mode === "binary" && binary!.right.fixed != null;
  const data = o.timeSeries !== false && !fixedRight ? ensureColumns(frames) : frames;
  if (mode === "index") {
    return data.map((frame) => {
      const n = rowCount(frame);
      const f: Field = {
        name: alias ?? "Row",
        type: "number",
        values: Array.from({ length: n }, (_, i) => (o.index?.asPercentile ? i / n : i)),
        config: o.index?.asPercentile ? { unit: "percentunit" } : {},
      };
      return { ...frame, fields: o.replaceFields ? [f] : [...frame.fields, f] };
    });
  }
  if (binary?.left.matcher?.id === "byType") {
    const op = BINARY[binary.operator];
    if (!op) throw new Unsupported(`operator "${binary.operator}" is not supported`);
    const out: Frame[] = [];
    for (const frame of data) {
      const time = timeFieldOf(frame);
      const fields: Field[] = time && o.timeSeries !== false ? [time] : [];
      let added = false;
      for (const f of frame.fields) {
        if (!o.replaceFields) fields.push(f);
        if (f.type !== binary.left.matcher.options) continue;
        const right = operandValues(frame, data, binary.right, ctx);
        if (!right) continue;
        const label = binary.right.matcher?.options ?? binary.right.fixed;
        fields.push({ ...f, name: `${f.name} ${binary.operator} ${label}`, values: f.values.map((v, i) => op(v, right[i])) });
        added = true;
      }
      if (!o.replaceFields || added) out.push({ ...frame, fields });
    }
    return out;
  }
  let create: (frame: Frame) => Value[] | undefined;
  switch (mode) {
    case "reduceRow": {
      const r = o.reduce ?? {};
      const reducer = r.reducer ?? "sum";
      if (!reducerInfo(reducer)) throw new Unsupported(`reducer "${reducer}" is not supported`);
      const matcher: FieldMatcher = r.include?.length ? namesMatcher(r.include) : (f) => f.type === "number";
      const nulls = r.nullValueMode === "connected" ? "ignore" : r.nullValueMode === "null as zero" ? "zero" : "keep";
      create = (frame) => {
        const columns = frame.fields.filter((f) => matcher(f, frame, data)).map((f) => f.values);
        return Array.from({ length: rowCount(frame) }, (_, i) => reduceValues(reducer, columns.map((c) => c[i]), "number", nulls) as Value);
      };
      break;
    }
    case "binary": {
      const op = BINARY[binary!.operator];
      if (!op) throw new Unsupported(`operator "${binary!.operator}" is not supported`);
      create = (frame) => {
        const left = operandValues(frame, data, binary!.left, ctx);
        const right = operandValues(frame, data, binary!.right, ctx);
        return left && right ? left.map((v, i) => op(v, right[i])) : undefined;
      };
      break;
    }
    case "unary": {
      const u = o.unary ?? {};
      const op = UNARY[u.operator ?? "abs"];
      if (!op) throw new Unsupported(`function "${u.operator}" is not supported`);
      create = (frame) => {
        let values: Value[] = [];
        for (const f of frame.fields) if (u.fieldName === displayName(f, frame, data) && f.type === "number") values = f.values;
        return values.length ? values.map((v) => op(v)) : undefined;
      };
      break;
    }
    case "cumulativeFunctions": {
      const c = o.cumulative ?? {};
      const reducer = c.reducer ?? "sum";
      if (reducer !== "sum" && reducer !== "mean") throw new Unsupported(`cumulative reducer "${reducer}" is not supported`);
      const matcher: FieldMatcher = c.field ? namesMatcher([c.field]) : (f) => f.type === "number";
      create = (frame) => {
        const f = frame.fields.find((x) => matcher(x, frame, data));
        if (!f) return undefined;
        let total = 0;
        return f.values.map((v, i) => {
          total += (v as number) ?? 0;
          return reducer === "sum" ? total : total / (i + 1);
        });
      };
      break;
    }
    case "windowFunctions": {
      const w = { reducer: "mean", windowAlignment: "trailing", windowSizeMode: "percentage", windowSize: 0.1, ...(o.window ?? {}) };
      if (!(w.windowSize > 0)) throw new Unsupported("window size must be larger than 0");
      if (!["mean", "stdDev", "variance"].includes(w.reducer)) throw new Unsupported(`window reducer "${w.reducer}" is not supported`);
      const matcher: FieldMatcher = w.field ? namesMatcher([w.field]) : (f) => f.type === "number";
      create = (frame) => {
        const f = frame.fields.find((x) => matcher(x, frame, data));
        if (!f) return undefined;
        const size = Math.ceil(w.windowSize * (w.windowSizeMode === "percentage" ? rowCount(frame) : 1));
        return windowValues(f.values as (number | null)[], w.reducer, size, w.windowAlignment === "centered");
      };
      break;
    }
    default:
      throw new Unsupported(`mode "${mode}" is not supported`);
  }
  const name = alias?.length ? alias : calculatedName(mode, o, binary);
  const out: Frame[] = [];
  for (const frame of data) {
    const values = create(frame);
    if (!values) {
      if (!o.replaceFields) out.push(frame);
      continue;
    }
    const field: Field = { name, type: "number", values, config: {} };
    const time = timeFieldOf(frame);
    const fields = o.replaceFields ? (time && o.timeSeries !== false ? [time, field] : [field]) : [...frame.fields, field];
    out.push({ ...frame, fields });
  }
  return out;
};

/** A moving mean, variance or standard deviation over `size` rows, trailing or centred. */
function windowValues(values: (number | null)[], reducer: string, size: number, centered: boolean): number[] {
  const spread = (xs: (number | null)[]) => {
    const v = Number(reduceValues("variance", xs));
    return reducer === "variance" ? v : Math.sqrt(v);
  };
  const out: number[] = [];
  let sum = 0;
  let count = 0;
  const lead = Math.ceil(size / 2) - 1;
  const trail = Math.floor(size / 2);
  for (let i = 0; i < values.length; i++) {
    if (!centered) {
      if (reducer === "mean") {
        const v = values[i];
        if (v != null) {
          count++;
          sum += v;
          if (i > size - 1) {
            sum -= values[i - size] as number;
            count--;
          }
        }
        out.push(count === 0 ? 0 : sum / count);
      } else out.push(spread(values.slice(Math.max(0, i - size + 1), i + 1)));
      continue;
    }
    const first = i - trail;
    const last = i + lead;
    if (reducer === "mean") {
      if (i === 0) {
        for (let x = 0; x < lead + 1 && x < values.length; x++) {
          if (values[x] != null) {
            sum += values[x]!;
            count++;
          }
        }
      } else {
        if (last < values.length && values[last] != null) {
          sum += values[last]!;
          count++;
        }
        if (first > 0 && values[first - 1] != null) {
          sum -= values[first - 1]!;
          count--;
        }
      }
      out.push(count === 0 ? 0 : sum / count);
    } else out.push(spread(values.slice(Math.max(0, first), Math.min(last + 1, values.length))));
  }
  return out;
}

/** The name Grafana gives a calculated field without an alias. */
function calculatedName(mode: string, o: any, binary?: { left: Operand; operator: string; right: Operand }): string {
  switch (mode) {
    case "cumulativeFunctions":
      return `cumulative ${o.cumulative?.reducer ?? ""}${o.cumulative?.field ? `(${o.cumulative.field})` : ""}`;
    case "windowFunctions":
      return `${o.window?.windowAlignment ?? ""} moving ${o.window?.reducer ?? ""}${o.window?.field ? `(${o.window.field})` : ""}`;
    case "unary":
      return `${o.unary?.operator ?? ""}${o.unary?.fieldName ? `(${o.unary.fieldName})` : ""}`;
    case "binary": {
      const side = (v: Operand) => v.matcher?.options ?? v.fixed ?? "";
      return `${side(binary!.left)} ${binary!.operator} ${side(binary!.right)}`.replace(/\$/g, "");
    }
    case "reduceRow":
      return reducerInfo(o.reduce?.reducer ?? "sum")?.name ?? "math";
  }
  return "math";
}

type ValueTest = (v: Value) => boolean;

/** Grafana's value matchers, by id, on a cell. */
function valueMatcher(config: { id?: string; options?: any }): ValueTest {
  const o = config.options ?? {};
  const x = o.value;
  const nan = (v: Value) => Number.isNaN(Number(v));
  switch (config.id) {
    case "greater":
      return (v) => !nan(v) && (v as any) > x;
    case "greaterOrEqual":
      return (v) => !nan(v) && (v as any) >= x;
    case "lower":
      return (v) => !nan(v) && (v as any) < x;
    case "lowerOrEqual":
      return (v) => !nan(v) && (v as any) <= x;
    case "equal":
      // eslint-disable-next-line eqeqeq
      return (v) => v == x;
    case "notEqual":
      // eslint-disable-next-line eqeqeq
      return (v) => v != x;
    case "between":
      return (v) => !nan(v) && (v as any) > o.from && (v as any) < o.to;
    case "isNull":
      return (v) => v == null;
    case "isNotNull":
      return (v) => v != null;
    case "regex": {
      const re = new RegExp(x);
      return (v) => re.test(String(v));
    }
    case "substring":
      return (v) => (typeof v === "string" && v.includes(x)) || x === "";
    case "notSubstring":
      return (v) => typeof v === "string" && x !== "" && !v.includes(x);
    default:
      throw new Unsupported(`value matcher "${config.id}" is not supported`);
  }
}

/** Keeps (include) or drops (exclude) the rows where any or all of the filters match. */
const filterByValue: Transformer = (frames, o, ctx) => {
  const filters: { fieldName: string; config: { id?: string; options?: any } }[] = o.filters ?? [];
  if (!filters.length) return frames;
  const include = (o.type ?? "include") === "include";
  const all = o.match === "all";
  const tests = filters.map((f) => {
    const opts = { ...(f.config.options ?? {}) };
    if (f.config.id === "between") {
      if (typeof opts.from === "string") opts.from = ctx.interpolate(opts.from);
      if (typeof opts.to === "string") opts.to = ctx.interpolate(opts.to);
    } else if (f.config.id !== "regex" && typeof opts.value === "string") opts.value = ctx.interpolate(opts.value);
    return { name: f.fieldName, test: valueMatcher({ id: f.config.id, options: opts }) };
  });
  return frames.map((frame) => {
    const byName = new Map<string, number>();
    frame.fields.forEach((f, i) => byName.set(displayName(f, frame, frames), i));
    const checks = tests.map(({ name, test }) => {
      const i = byName.get(name);
      return i === undefined ? () => false : (row: number) => test(frame.fields[i].values[row]);
    });
    const rows: number[] = [];
    for (let row = 0; row < rowCount(frame); row++) {
      const hit = all ? checks.every((c) => c(row)) : checks.some((c) => c(row));
      if (hit === include) rows.push(row);
    }
    return pickRows(frame, rows);
  });
};

const renameByRegex: Transformer = (frames, o) => {
  const re = patternRegex(o.regex ?? "(.*)");
  return frames.map((frame) => ({
    ...frame,
    fields: frame.fields.map((f) => {
      const name = displayName(f, frame);
      if (!re.test(name)) return f;
      return { ...f, config: { ...f.config, displayName: name.replace(re, o.renamePattern ?? "$1") } };
    }),
  }));
};

/** Sorts each frame's rows by the first `sort` entry's field. */
const sortBy: Transformer = (frames, o) => {
  const s = o.sort?.[0];
  if (!s) return frames;
  return frames.map((frame) => {
    const index = s.index ?? frame.fields.findIndex((f) => s.field === displayName(f, frame));
    return sortFrame(frame, index, !!s.desc);
  });
};

/** Rows grouped by the `groupby` fields' values, other fields aggregated per group
 * (`<name> (<reducer>)` columns), counted, or their first or last value taken. */
const groupBy: Transformer = (frames, o) => {
  const fields: Record<string, { operation?: string; aggregations?: string[] }> = o.fields ?? {};
  const keys = Object.keys(fields).filter((k) => fields[k]?.operation === "groupby");
  if (!keys.length) return frames;
  for (const v of Object.values(fields)) if (v?.operation === "aggregate") checkedReducers(v.aggregations ?? []);
  const isKey = namesMatcher(keys);
  const out: Frame[] = [];
  for (const frame of frames) {
    const keyFields = frame.fields.filter((f) => isKey(f, frame, frames));
    if (!keyFields.length) continue;
    const groups = new Map<string, number[]>();
    for (let row = 0; row < rowCount(frame); row++) {
      const key = String(keyFields.map((f) => f.values[row]));
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push(row);
    }
    const rows = [...groups.values()];
    const result: Field[] = keyFields.map((f) => ({ ...f, labels: undefined, values: rows.map((r) => f.values[r[0]]) }));
    for (const f of frame.fields) {
      const name = displayName(f);
      const opt = fields[name];
      if (!opt) continue;
      if (opt.operation === "takefirst" || opt.operation === "takelast") {
        for (const g of frame.fields.filter((x) => !keys.includes(x.name))) {
          result.push({ ...g, values: rows.map((r) => g.values[opt.operation === "takefirst" ? r[0] : r[r.length - 1]]) });
        }
        continue;
      }
      const aggregations = opt.operation === "count" ? ["count"] : opt.operation === "aggregate" ? (opt.aggregations ?? []) : [];
      for (const a of aggregations) {
        result.push({
          name: `${name} (${a})`,
          type: reducedType(a, f.type),
          values: rows.map((r) => reduceValues(a, r.map((i) => f.values[i]), f.type) as Value),
          config: {},
        });
      }
    }
    out.push({ refId: frame.refId, fields: result });
  }
  return out;
};

/** A field's values as another type. */
function convert(field: Field, c: { destinationType?: string; dateFormat?: string; joinWith?: string }): Field {
  const values = field.values;
  switch (c.destinationType) {
    case "number": {
      const strings = values.some((v) => typeof v === "string");
      return {
        ...field,
        type: "number",
        values: values.map((v) => {
          if (v == null || v === "") return null;
          const n = +(strings && typeof v === "string" ? v.replace(/,/g, "") : (v as number));
          return Number.isFinite(n) ? n : null;
        }),
      };
    }
    case "string":
      return {
        ...field,
        type: "string",
        values: values.map((v) =>
          field.type === "time" ? new Date(Number(v)).toISOString() : field.type === "other" ? (c.joinWith && Array.isArray(v) ? (v as unknown[]).join(c.joinWith) : JSON.stringify(v)) : `${v}`,
        ),
      };
    case "boolean":
      return { ...field, type: "boolean", values: values.map((v) => !!v) };
    case "time": {
      const seconds = c.dateFormat === "X";
      if (typeof values[0] === "number" && (field.type === "time" || !seconds)) return { ...field, type: "time" };
      const numbers = typeof values.find((v) => v != null) === "number";
      if (!numbers && c.dateFormat && !seconds) throw new Unsupported(`date format "${c.dateFormat}" is not supported`);
      return {
        ...field,
        type: "time",
        values: values.map((v) => {
          if (!v) return null;
          const t = typeof v === "number" ? v : seconds ? Number(v) : Date.parse(String(v));
          return Number.isFinite(t) ? (seconds ? t * 1000 : t) : null;
        }),
      };
    }
    case undefined:
      return field;
    default:
      throw new Unsupported(`conversion to "${c.destinationType}" is not supported`);
  }
}

const convertFieldType: Transformer = (frames, o) => {
  let data = frames.map((f) => ({ ...f }));
  for (const c of o.conversions ?? []) {
    if (!c.targetField) continue;
    const matches = namesMatcher([c.targetField]);
    data = data.map((frame) => ({ ...frame, fields: frame.fields.map((f) => (matches(f, frame, data) ? convert(f, c) : f)) }));
  }
  return data;
};

/** Time series as one frame of `Time`, `Metric` (the series' name) and `Value` rows,
 * newest first. */
const seriesToRows: Transformer = (frames) => {
  if (frames.length <= 1) return frames;
  const data = frames.filter((f) => rowCount(f) > 0);
  if (!data.every((f) => timeFieldOf(f) && f.fields.some((x) => x.type === "number"))) return data;
  const time = timeFieldOf(data[0])!;
  const value = data[0].fields.find((f) => f.type !== "time")!;
  const strip = ({ displayName: _, displayNameFromDS: __, ...config }: Field["config"]) => config;
  const out: Frame = {
    fields: [
      { name: "Time", type: time.type, values: [], config: strip(time.config) },
      { name: "Metric", type: "string", values: [], config: {} },
      { name: "Value", type: value.type, values: [], config: strip(value.config) },
    ],
  };
  for (const frame of data) {
    const t = timeFieldOf(frame)!;
    const v = frame.fields.find((f) => f.type !== "time")!;
    const metric = frameDisplayName(frame);
    for (let row = 0; row < rowCount(frame); row++) {
      out.fields[0].values.push(t.values[row]);
      out.fields[1].values.push(metric);
      out.fields[2].values.push(v.values[row]);
    }
  }
  return [sortFrame(out, 0, true)];
};

/** All fields of all frames side by side in one frame, named after their frame. */
const concatenate: Transformer = (frames, o) => {
  if (frames.length < 2) return frames;
  const mode = o.frameNameMode ?? "field";
  const label = o.frameNameLabel ?? "frame";
  const length = Math.max(...frames.map(rowCount));
  const fields: Field[] = [];
  for (const frame of frames) {
    for (const f of frame.fields) {
      const copy: Field = { ...f, values: [...f.values] };
      if (frame.name) {
        if (mode === "label") copy.labels = { ...(f.labels ?? {}), [label]: frame.name };
        else if (mode === "drop") {
          // The frame's name is left out.
        } else copy.name = !f.name || f.name === "Value" ? frame.name : `${frame.name} · ${f.name}`;
      }
      while (copy.values.length < length) copy.values.push(undefined);
      fields.push(copy);
    }
  }
  return [{ fields }];
};

const limit: Transformer = (frames, o) => {
  const n = o.limitField || 10;
  return frames.map((frame) => (rowCount(frame) > n ? { ...frame, fields: frame.fields.map((f) => ({ ...f, values: f.values.slice(0, n) })) } : frame));
};

/** The first frame split into one frame per distinct combination of the key fields'
 * values (in the order first met), named or labelled by them. */
const partitionByValues: Transformer = (frames, o, ctx) => {
  const matcher = namesOrPattern({ names: o.fields }, false, ctx);
  if (!matcher || !frames.length) return frames;
  const frame = frames[0];
  const keyFields = frame.fields.filter((f) => matcher(f, frame, [frame]));
  if (!keyFields.length) return [frame];
  const naming = { asLabels: true, append: false, withNames: false, separator1: "=", separator2: " ", ...(o.naming ?? {}) };
  // Nested maps keep the first-met order at every level, as Grafana's `partition`.
  type Tree = Map<Value, Tree | number[]>;
  const root: Tree = new Map();
  for (let row = 0; row < rowCount(frame); row++) {
    let at: Tree = root;
    keyFields.forEach((f, j) => {
      const k = f.values[row];
      if (!at.has(k)) at.set(k, j === keyFields.length - 1 ? [] : new Map());
      if (j === keyFields.length - 1) (at.get(k) as number[]).push(row);
      else at = at.get(k) as Tree;
    });
  }
  const groups: number[][] = [];
  const dig = (t: Tree | number[], depth: number) => (depth === 0 ? groups.push(t as number[]) : (t as Tree).forEach((v) => dig(v, depth - 1)));
  dig(root, keyFields.length);
  const names = keyFields.map((f) => f.name);
  const kept = o.keepFields ? frame.fields : frame.fields.filter((f) => !names.includes(f.name));
  return groups.map((rows) => {
    const keyValues = keyFields.map((f) => f.values[rows[0]]);
    let name = frame.name;
    let labels: Record<string, string> = {};
    if (naming.asLabels) labels = Object.fromEntries(names.map((n, i) => [n, String(keyValues[i])]));
    else {
      name = names.map((n, i) => (naming.withNames ? `${n}${naming.separator1}${keyValues[i]}` : String(keyValues[i]))).join(naming.separator2);
      if (naming.append && frame.name) name = `${frame.name} ${name}`;
    }
    return {
      name,
      refId: frame.refId,
      fields: kept.map((f) => ({ ...f, labels: { ...(f.labels ?? {}), ...labels }, values: rows.map((r) => f.values[r]) })),
    };
  });
};

/** Keeps the frames of the queries `include` names (`A|B`, or a `/regex/`) and drops those
 * `exclude` names. */
const filterByRefId: Transformer = (frames, o) => {
  const matcher = (pattern: string) => {
    if (pattern.startsWith("/")) {
      const re = patternRegex(pattern);
      return (f: Frame) => re.test(f.refId ?? "");
    }
    const ids = pattern.split("|");
    return (f: Frame) => ids.includes(f.refId ?? "");
  };
  const include = o.include ? matcher(o.include) : undefined;
  const exclude = o.exclude ? matcher(o.exclude) : undefined;
  if (!include && !exclude) return frames;
  return frames.filter((f) => !(exclude && exclude(f)) && (!include || include(f)));
};

const TRANSFORMERS: Record<string, Transformer> = {
  merge,
  organize,
  order: (frames, o) => orderFields(frames, o),
  rename: (frames, o) => renameFields(frames, o.renameByName),
  reduce,
  joinByField,
  seriesToColumns: joinByField,
  labelsToFields,
  calculateField,
  filterFieldsByName,
  filterByValue,
  filterByRefId,
  renameByRegex,
  sortBy,
  groupBy,
  convertFieldType,
  seriesToRows,
  concatenate,
  limit,
  partitionByValues,
  noop: (frames) => frames,
};

/** The transformation ids Skywatch applies as Grafana does. `transformations.json` lists
 * the same ids for the dashboard check (a unit test keeps the two equal). */
export const SUPPORTED_TRANSFORMATIONS: readonly string[] = Object.keys(TRANSFORMERS).sort();
