// Grafana's transformations on fixed frames: each case's expected frames are what Grafana's
// transformers give (their behaviour as read in packages/grafana-data's transformers and
// their tests), on frames of our own.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Series } from "../../src/api";
import { type Field, type Frame, type Value, displayName, seriesFrames, tableFrames } from "../../src/frames";
import { reduceValues } from "../../src/reducers";
import { SUPPORTED_TRANSFORMATIONS, type Transformation, applyTransformations, isSupportedTransformation } from "../../src/transformations";
import SUPPORTED_JSON from "../../src/transformations.json";

const num = (name: string, values: Value[], extra: Partial<Field> = {}): Field => ({ name, type: "number", values, config: {}, ...extra });
const str = (name: string, values: Value[]): Field => ({ name, type: "string", values, config: {} });
const time = (values: number[]): Field => ({ name: "Time", type: "time", values, config: {} });

/** Each frame as {display name: values}, the way a table shows it. */
function columns(frames: Frame[]): Record<string, Value[]>[] {
  return frames.map((fr) => Object.fromEntries(fr.fields.map((f) => [displayName(f, fr, frames), f.values])));
}

/** Applies transformations that must all be understood. */
function check(frames: Frame[], ...ts: Transformation[]): Frame[] {
  const out = applyTransformations(frames, ts);
  assert.deepEqual(out.problems, []);
  return out.frames;
}

const vector = (metric: Record<string, string>, v: string, t = 100): Series => ({ metric, value: [t, v] });

test("Prometheus table format: Time, sorted labels, then Value #<refId> when several queries answered", () => {
  const frames = tableFrames({
    series: [vector({ mountpoint: "/", device: "sda1" }, "10"), vector({ mountpoint: "/boot", device: "sda2" }, "+Inf"), vector({ mountpoint: "/" }, "4")],
    names: ["", "", ""],
    refs: ["A", "A", "B"],
  });
  assert.deepEqual(columns(frames), [
    { Time: [100000, 100000], device: ["sda1", "sda2"], mountpoint: ["/", "/boot"], "Value #A": [10, Infinity] },
    { Time: [100000], mountpoint: ["/"], "Value #B": [4] },
  ]);
  assert.deepEqual(frames.map((f) => f.refId), ["A", "B"]);
  const one = tableFrames({ series: [vector({ le: "0.5" }, "1")], names: [""], refs: ["A"] });
  assert.deepEqual(one[0].fields.map((f) => [f.name, f.type, f.values[0]]), [
    ["Time", "time", 100000],
    ["le", "number", 0.5],
    ["Value", "number", 1],
  ]);
});

test("time series frames carry labels and the legend as the display name", () => {
  const frames = seriesFrames({ series: [{ metric: { job: "node" }, values: [[1, "2"], [2, "NaN"]] }], names: ["node up"], refs: ["A"] });
  assert.equal(displayName(frames[0].fields[1], frames[0], frames), "node up");
  assert.deepEqual(frames[0].fields[1].labels, { job: "node" });
  assert.deepEqual(frames[0].fields[0].values, [1000, 2000]);
});

test("display names: labels formatted, or the single label's value, as Grafana's getFieldDisplayName", () => {
  const a: Frame = { fields: [time([1]), num("Value", [1], { labels: { job: "a", instance: "x" } })] };
  assert.equal(displayName(a.fields[1], a, [a]), '{instance="x", job="a"}');
  const b: Frame = { fields: [time([1]), num("Value", [1], { labels: { job: "a" } })] };
  assert.equal(displayName(b.fields[1], b, [b]), "a");
  const c: Frame = { name: "cpu", fields: [num("Value", [1])] };
  assert.equal(displayName(c.fields[0], c, [c]), "cpu");
});

test("reducers: Grafana's calcs, nulls ignored, NaN not a value, delta over increases only", () => {
  const xs: Value[] = [1, null, 5, NaN, 3, 8];
  assert.equal(reduceValues("lastNotNull", xs), 8);
  assert.equal(reduceValues("last", [1, null]), null);
  assert.equal(reduceValues("firstNotNull", [null, NaN, 2]), 2);
  assert.equal(reduceValues("min", xs), 1);
  assert.equal(reduceValues("max", xs), 8);
  assert.equal(reduceValues("sum", xs), 17);
  assert.equal(reduceValues("mean", xs), 17 / 4);
  assert.equal(reduceValues("count", xs), 5);
  assert.equal(reduceValues("countAll", xs), 6);
  assert.equal(reduceValues("range", xs), 7);
  assert.equal(reduceValues("diff", xs), 7);
  assert.equal(reduceValues("diffperc", xs), 700);
  // After a drop, Grafana's delta adds nothing until the next rise after a rise.
  assert.equal(reduceValues("delta", [1, 5, 3, 8]), 4);
  assert.equal(reduceValues("delta", [1, 5, 3, 8, 10]), 6);
  assert.equal(reduceValues("step", [1, 5, 3, 8]), -2);
  assert.equal(reduceValues("sum", []), 0);
  assert.equal(reduceValues("max", []), null);
  assert.equal(reduceValues("median", [4, 1, 3, 2]), 2.5);
  assert.equal(reduceValues("p50", [4, 1, 3, 2, 5]), 3);
  assert.equal(reduceValues("stdDev", [2, 4, 4, 4, 5, 5, 7, 9]), 2);
  assert.equal(reduceValues("distinctCount", [1, 1, 2, null]), 2);
  assert.equal(reduceValues("changeCount", [1, 1, 2, 1]), 2);
  assert.equal(reduceValues("allIsZero", [0, null, 0]), true);
  assert.equal(reduceValues("current", [1, 2]), 2);
  assert.equal(reduceValues("nonsense", [1]), undefined);
});

test("merge: rows with equal values in the common fields become one row", () => {
  const a: Frame = { refId: "A", fields: [time([1, 2]), str("mountpoint", ["/", "/boot"]), num("Value #A", [10, 20])] };
  const b: Frame = { refId: "B", fields: [time([1, 2]), str("mountpoint", ["/", "/data"]), num("Value #B", [3, 4])] };
  assert.deepEqual(columns(check([a, b], { id: "merge" })), [
    {
      Time: [1, 2, 2],
      mountpoint: ["/", "/boot", "/data"],
      "Value #A": [10, 20, undefined],
      "Value #B": [3, undefined, 4],
    },
  ]);
  // Without a field every frame has, merge leaves the frames alone.
  const c: Frame = { fields: [num("x", [1])] };
  const d: Frame = { fields: [num("y", [2])] };
  assert.deepEqual(check([c, d], { id: "merge" }), [c, d]);
});

test("organize: exclude, order by indexByName, rename by display name", () => {
  const f: Frame = { fields: [time([1]), str("instance", ["a"]), num("Value", [5])] };
  const out = check([f], { id: "organize", options: { excludeByName: { Time: true }, indexByName: { Value: 0, instance: 1 }, renameByName: { instance: "Host" } } });
  assert.deepEqual(columns(out), [{ Value: [5], Host: ["a"] }]);
  // The field keeps its name; the rename is its display name, as Grafana's.
  assert.equal(out[0].fields[1].name, "instance");
  // Auto order: time first, then by name.
  const auto = check([{ fields: [num("b", [1]), time([1]), num("a", [2])] }], { id: "organize", options: { orderByMode: "auto", orderBy: [{ type: "name" }] } });
  assert.deepEqual(auto[0].fields.map((x) => x.name), ["Time", "a", "b"]);
});

test("reduce: series to rows, with Grafana's column titles, and reduce fields", () => {
  const a: Frame = { fields: [time([1, 2, 3]), num("cpu", [1, 5, 3])] };
  const b: Frame = { fields: [time([1, 2, 3]), num("mem", [null, 2, 4])] };
  const rows = check([a, b], { id: "reduce", options: { reducers: ["max", "lastNotNull", "mean"] } });
  assert.deepEqual(columns(rows), [{ Field: ["cpu", "mem"], Max: [5, 4], "Last *": [3, 4], Mean: [3, 3] }]);
  const kept = check([a, b], { id: "reduce", options: { mode: "reduceFields", reducers: ["sum"] } });
  assert.deepEqual(columns(kept), [{ cpu: [9] }, { mem: [6] }]);
  const labelled = check([{ fields: [num("Value", [1, 2], { labels: { job: "x" } })] }], { id: "reduce", options: { reducers: ["min"], labelsToFields: true } });
  assert.deepEqual(columns(labelled), [{ Field: ["Value"], job: ["x"], Min: [1] }]);
  assert.deepEqual(applyTransformations([a], [{ id: "reduce", options: { reducers: ["mode"] } }]).problems, ['transformation "reduce": reducer "mode" is not supported']);
});

test("joinByField and seriesToColumns: outer join sorts the keys, inner keeps the common ones", () => {
  const a: Frame = { fields: [time([1, 3]), num("a", [10, 30])] };
  const b: Frame = { fields: [time([2, 3]), num("b", [20, 31])] };
  assert.deepEqual(columns(check([a, b], { id: "joinByField", options: {} })), [{ Time: [1, 2, 3], a: [10, undefined, 30], b: [undefined, 20, 31] }]);
  assert.deepEqual(columns(check([a, b], { id: "seriesToColumns", options: { byField: "Time", mode: "inner" } })), [{ Time: [3], a: [30], b: [31] }]);
  const x: Frame = { fields: [str("host", ["b", "a"]), num("up", [1, 0])] };
  const y: Frame = { fields: [str("host", ["a", "c"]), num("load", [0.5, 2])] };
  assert.deepEqual(columns(check([x, y], { id: "joinByField", options: { byField: "host" } })), [
    { host: ["b", "a", "c"], up: [1, 0, undefined], load: [undefined, 0.5, 2] },
  ]);
  // Nulls spread over the adjacent gaps of the join (Grafana's default null mode).
  const n: Frame = { fields: [time([1, 4]), num("n", [null, 4])] };
  const m: Frame = { fields: [time([1, 2, 3, 4]), num("m", [1, 2, 3, 4])] };
  assert.deepEqual(check([n, m], { id: "joinByField" })[0].fields[1].values, [null, null, null, 4]);
});

test("labelsToFields: labels as columns, valueLabel names the value, keepLabels; rows mode", () => {
  const frames = seriesFrames({
    series: [{ metric: { __name__: "up", job: "node", instance: "a" }, value: [1, "1"] }],
    names: ["up"],
    refs: ["A"],
  });
  // The value field loses its labels and legend: it is shown by its frame's name.
  assert.deepEqual(columns(check(frames, { id: "labelsToFields" })), [{ Time: [1000], up: [1], __name__: ["up"], job: ["node"], instance: ["a"] }]);
  assert.deepEqual(columns(check(frames, { id: "labelsToFields", options: { valueLabel: "job", keepLabels: ["job", "instance"] } })), [
    { Time: [1000], node: [1], instance: ["a"] },
  ]);
  assert.deepEqual(columns(check(frames, { id: "labelsToFields", options: { mode: "rows", keepLabels: ["job"] } })), [{ label: ["job"], value: ["node"] }]);
});

test("calculateField: binary with old string operands, reduceRow, unary, index, replaceFields", () => {
  const f: Frame = { fields: [str("m", ["/", "/boot"]), num("size", [100, 50]), num("avail", [25, 40])] };
  assert.deepEqual(columns(check([f], { id: "calculateField", options: { mode: "binary", binary: { left: "size", operator: "-", right: "avail" }, alias: "Used" } })), [
    { m: ["/", "/boot"], size: [100, 50], avail: [25, 40], Used: [75, 10] },
  ]);
  // A number no field is called is a constant; the field is named after the operands.
  assert.deepEqual(columns(check([f], { id: "calculateField", options: { mode: "binary", binary: { left: "size", operator: "*", right: "2" }, replaceFields: true } })), [
    { "size * 2": [200, 100] },
  ]);
  assert.deepEqual(columns(check([f], { id: "calculateField", options: { mode: "binary", binary: { left: { matcher: { id: "byName", options: "avail" } }, operator: "/", right: { fixed: "5" } } } }))[0]["avail / 5"], [5, 8]);
  assert.deepEqual(columns(check([f], { id: "calculateField", options: { reduce: { reducer: "sum" } } }))[0].Total, [125, 90]);
  assert.deepEqual(columns(check([f], { id: "calculateField", options: { mode: "reduceRow", reduce: { reducer: "max", include: ["avail"] }, alias: "m2" } }))[0].m2, [25, 40]);
  const neg: Frame = { fields: [num("d", [-1.5, 2])] };
  assert.deepEqual(columns(check([neg], { id: "calculateField", options: { mode: "unary", unary: { operator: "abs", fieldName: "d" } } }))[0]["abs(d)"], [1.5, 2]);
  const idx = check([neg], { id: "calculateField", options: { mode: "index", index: { asPercentile: true } } });
  assert.deepEqual(idx[0].fields[1].values, [0, 0.5]);
  assert.equal(idx[0].fields[1].config.unit, "percentunit");
  // Time series are joined on time first.
  const a: Frame = { fields: [time([1, 2]), num("a", [1, 2])] };
  const b: Frame = { fields: [time([1, 2]), num("b", [10, 20])] };
  assert.deepEqual(columns(check([a, b], { id: "calculateField", options: { mode: "binary", binary: { left: "a", operator: "+", right: "b" }, replaceFields: true } })), [
    { Time: [1, 2], "a + b": [11, 22] },
  ]);
  const c: Frame = { fields: [num("x", [1, 2, 3, 4])] };
  assert.deepEqual(columns(check([c], { id: "calculateField", options: { mode: "cumulativeFunctions", cumulative: { field: "x", reducer: "sum" } } }))[0]["cumulative sum(x)"], [1, 3, 6, 10]);
  assert.deepEqual(
    columns(check([c], { id: "calculateField", options: { mode: "windowFunctions", window: { field: "x", reducer: "mean", windowSize: 2, windowSizeMode: "fixed", windowAlignment: "trailing" } } }))[0]["trailing moving mean(x)"],
    [1, 1.5, 2.5, 3.5],
  );
});

test("filterFieldsByName: names, pattern, exclude", () => {
  const f: Frame = { fields: [time([1]), num("cpu_user", [1]), num("cpu_system", [2]), num("mem", [3])] };
  assert.deepEqual(Object.keys(columns(check([f], { id: "filterFieldsByName", options: { include: { names: ["Time", "mem"] } } }))[0]), ["Time", "mem"]);
  assert.deepEqual(Object.keys(columns(check([f], { id: "filterFieldsByName", options: { include: { pattern: "cpu_.*" } } }))[0]), ["cpu_user", "cpu_system"]);
  assert.deepEqual(Object.keys(columns(check([f], { id: "filterFieldsByName", options: { exclude: { pattern: "/^cpu/" } } }))[0]), ["Time", "mem"]);
  // A frame left without fields is dropped.
  assert.deepEqual(check([f], { id: "filterFieldsByName", options: { include: { names: ["nothing"] } } }), []);
});

test("filterByValue: include or exclude rows, any or all, each matcher", () => {
  const f: Frame = { fields: [str("host", ["a", "b", "c", "d"]), num("v", [1, 5, null, 10])] };
  const run = (options: unknown) => check([f], { id: "filterByValue", options })[0].fields[0].values;
  const one = (id: string, options: unknown = {}) => run({ type: "include", match: "any", filters: [{ fieldName: "v", config: { id, options } }] });
  assert.deepEqual(one("greater", { value: 4 }), ["b", "d"]);
  assert.deepEqual(one("greaterOrEqual", { value: 5 }), ["b", "d"]);
  assert.deepEqual(one("lower", { value: 5 }), ["a", "c"]);
  assert.deepEqual(one("lowerOrEqual", { value: 5 }), ["a", "b", "c"]);
  assert.deepEqual(one("equal", { value: "5" }), ["b"]);
  assert.deepEqual(one("notEqual", { value: 5 }), ["a", "c", "d"]);
  assert.deepEqual(one("between", { from: 1, to: 10 }), ["b"]);
  assert.deepEqual(one("isNull"), ["c"]);
  assert.deepEqual(one("isNotNull"), ["a", "b", "d"]);
  assert.deepEqual(run({ type: "include", filters: [{ fieldName: "host", config: { id: "regex", options: { value: "^[ab]$" } } }] }), ["a", "b"]);
  assert.deepEqual(run({ type: "exclude", filters: [{ fieldName: "host", config: { id: "substring", options: { value: "d" } } }] }), ["a", "b", "c"]);
  const both = [
    { fieldName: "v", config: { id: "greater", options: { value: 2 } } },
    { fieldName: "host", config: { id: "equal", options: { value: "d" } } },
  ];
  assert.deepEqual(run({ type: "include", match: "all", filters: both }), ["d"]);
  assert.deepEqual(run({ type: "exclude", match: "any", filters: both }), ["a", "c"]);
});

test("renameByRegex renames display names; a plain pattern must match the whole name", () => {
  const f: Frame = { fields: [num("node_cpu_seconds", [1]), num("other", [2])] };
  assert.deepEqual(Object.keys(columns(check([f], { id: "renameByRegex", options: { regex: "node_(.*)_seconds", renamePattern: "$1" } }))[0]), ["cpu", "other"]);
  assert.deepEqual(Object.keys(columns(check([f], { id: "renameByRegex", options: { regex: "/cpu/", renamePattern: "CPU" } }))[0]), ["node_CPU_seconds", "other"]);
  assert.deepEqual(Object.keys(columns(check([f], { id: "renameByRegex", options: { regex: "cpu", renamePattern: "CPU" } }))[0]), ["node_cpu_seconds", "other"]);
});

test("sortBy: by display name, ascending or descending, empty strings last", () => {
  const f: Frame = { fields: [str("m", ["/b", "", "/a"]), num("v", [2, 3, 1])] };
  assert.deepEqual(check([f], { id: "sortBy", options: { sort: [{ field: "m" }] } })[0].fields[0].values, ["/a", "/b", ""]);
  assert.deepEqual(check([f], { id: "sortBy", options: { sort: [{ field: "v", desc: true }] } })[0].fields[1].values, [3, 2, 1]);
  assert.deepEqual(check([f], { id: "sortBy", options: { sort: [{ field: "missing" }] } }), [f]);
});

test("groupBy: groups in first-met order, aggregations named '<field> (<calc>)'", () => {
  const f: Frame = { refId: "A", fields: [time([1, 2, 3]), str("host", ["a", "b", "a"]), num("v", [1, 2, 5])] };
  const out = check([f], { id: "groupBy", options: { fields: { host: { operation: "groupby" }, v: { operation: "aggregate", aggregations: ["sum", "count"] }, Time: { operation: "aggregate", aggregations: ["max"] } } } });
  assert.deepEqual(columns(out), [{ host: ["a", "b"], "Time (max)": [3, 2], "v (sum)": [6, 2], "v (count)": [2, 1] }]);
  assert.equal(out[0].refId, "A");
  assert.equal(out[0].fields[1].type, "time");
  // Frames without a group-by field are dropped; no group-by field at all changes nothing.
  assert.deepEqual(check([{ fields: [num("x", [1])] }], { id: "groupBy", options: { fields: { host: { operation: "groupby" } } } }), []);
  assert.deepEqual(check([f], { id: "groupBy", options: { fields: {} } }), [f]);
});

test("convertFieldType: strings to numbers (commas dropped), numbers to strings, to time and boolean", () => {
  const f: Frame = { fields: [str("n", ["1,000", "x", ""]), num("s", [1, 2, 3]), str("t", ["2024-01-01T00:00:00Z", null, "bad"])] };
  const out = check([f], {
    id: "convertFieldType",
    options: {
      conversions: [
        { targetField: "n", destinationType: "number" },
        { targetField: "s", destinationType: "string" },
        { targetField: "t", destinationType: "time" },
      ],
    },
  });
  assert.deepEqual(out[0].fields.map((x) => [x.type, x.values]), [
    ["number", [1000, null, null]],
    ["string", ["1", "2", "3"]],
    ["time", [Date.UTC(2024, 0, 1), null, null]],
  ]);
  assert.deepEqual(check([f], { id: "convertFieldType", options: { conversions: [{ targetField: "s", destinationType: "boolean" }] } })[0].fields[1].values, [true, true, true]);
});

test("seriesToRows: Time, Metric, Value, newest first", () => {
  const frames = seriesFrames({
    series: [
      { metric: {}, values: [[1, "1"], [3, "3"]] },
      { metric: {}, values: [[2, "2"]] },
    ],
    names: ["a", "b"],
    refs: ["A", "B"],
  });
  assert.deepEqual(columns(check(frames, { id: "seriesToRows" })), [{ Time: [3000, 2000, 1000], Metric: ["a", "b", "a"], Value: [3, 2, 1] }]);
});

test("concatenate: fields side by side, named after their frame, padded", () => {
  const a: Frame = { name: "A", fields: [num("Value", [1, 2])] };
  const b: Frame = { name: "B", fields: [num("x", [3])] };
  const out = check([a, b], { id: "concatenate" });
  assert.deepEqual(out[0].fields.map((f) => [f.name, f.values]), [
    ["A", [1, 2]],
    ["B · x", [3, undefined]],
  ]);
  assert.deepEqual(check([a, b], { id: "concatenate", options: { frameNameMode: "label" } })[0].fields[1].labels, { frame: "B" });
});

test("limit keeps the first rows (10 by default)", () => {
  const f: Frame = { fields: [num("v", Array.from({ length: 12 }, (_, i) => i))] };
  assert.equal(check([f], { id: "limit" })[0].fields[0].values.length, 10);
  assert.deepEqual(check([f], { id: "limit", options: { limitField: 3 } })[0].fields[0].values, [0, 1, 2]);
});

test("partitionByValues: one frame per key, labelled or named", () => {
  const f: Frame = { fields: [time([1, 2, 3]), str("region", ["eu", "us", "eu"]), num("v", [1, 2, 3])] };
  const out = check([f], { id: "partitionByValues", options: { fields: ["region"] } });
  assert.deepEqual(out.map((fr) => fr.fields.map((x) => x.name)), [["Time", "v"], ["Time", "v"]]);
  assert.deepEqual(out[0].fields[1].values, [1, 3]);
  assert.deepEqual(out[1].fields[1].labels, { region: "us" });
  const named = check([f], { id: "partitionByValues", options: { fields: ["region"], keepFields: true, naming: { asLabels: false, withNames: true } } });
  assert.deepEqual(named.map((fr) => fr.name), ["region=eu", "region=us"]);
  assert.equal(named[0].fields.length, 3);
});

test("filterByRefId keeps the named queries", () => {
  const frames: Frame[] = ["A", "B", "C"].map((refId) => ({ refId, fields: [num("v", [1])] }));
  assert.deepEqual(check(frames, { id: "filterByRefId", options: { include: "A|C" } }).map((f) => f.refId), ["A", "C"]);
  assert.deepEqual(check(frames, { id: "filterByRefId", options: { include: "/[BC]/" } }).map((f) => f.refId), ["B", "C"]);
});

test("unknown transformations and options are reported and change nothing; disabled ones are skipped", () => {
  const f: Frame = { fields: [num("v", [1])] };
  const out = applyTransformations([f], [{ id: "timeSeriesTable" }, { id: "limit", disabled: true, options: { limitField: 0 } }, { id: "calculateField", options: { mode: "binary", binary: { left: "v", operator: "??", right: "1" } } }]);
  assert.deepEqual(out.frames, [f]);
  assert.deepEqual(out.problems, ['transformation "timeSeriesTable" is not supported', 'transformation "calculateField": operator "??" is not supported']);
  assert.equal(isSupportedTransformation("merge"), true);
  assert.equal(isSupportedTransformation("timeSeriesTable"), false);
});

test("the JSON list the dashboard check reads is the list applied", () => {
  assert.deepEqual(SUPPORTED_JSON, [...SUPPORTED_TRANSFORMATIONS]);
});

test("node-mixin's Disk Space Usage: mount point, size, available, used and used %", () => {
  // Two instant table queries: filesystem size (A) and available bytes (B) by mountpoint.
  const frames = tableFrames({
    series: [vector({ mountpoint: "/boot" }, "1000"), vector({ mountpoint: "/" }, "4000"), vector({ mountpoint: "/" }, "1000"), vector({ mountpoint: "/boot" }, "750")],
    names: ["", "", "", ""],
    refs: ["A", "A", "B", "B"],
  });
  const out = check(
    frames,
    {
      id: "groupBy",
      options: {
        fields: {
          "Value #A": { aggregations: ["lastNotNull"], operation: "aggregate" },
          "Value #B": { aggregations: ["lastNotNull"], operation: "aggregate" },
          mountpoint: { aggregations: [], operation: "groupby" },
        },
      },
    },
    { id: "merge" },
    { id: "calculateField", options: { alias: "Used", binary: { left: "Value #A (lastNotNull)", operator: "-", reducer: "sum", right: "Value #B (lastNotNull)" }, mode: "binary", reduce: { reducer: "sum" } } },
    { id: "calculateField", options: { alias: "Used, %", binary: { left: "Used", operator: "/", reducer: "sum", right: "Value #A (lastNotNull)" }, mode: "binary", reduce: { reducer: "sum" } } },
    { id: "organize", options: { excludeByName: {}, indexByName: {}, renameByName: { "Value #A (lastNotNull)": "Size", "Value #B (lastNotNull)": "Available", mountpoint: "Mounted on" } } },
    { id: "sortBy", options: { fields: {}, sort: [{ field: "Mounted on" }] } },
  );
  assert.deepEqual(columns(out), [
    {
      "Mounted on": ["/", "/boot"],
      Size: [4000, 1000],
      Available: [1000, 750],
      Used: [3000, 250],
      "Used, %": [0.75, 0.25],
    },
  ]);
});
