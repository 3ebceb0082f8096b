// What a panel reports it drew (`panel-data.ts`): finite values only, distinct ones capped,
// a table's numbers after its transformations (labels and times are not data), a
// heatmap's per-bucket counts rather than its cumulative buckets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DISTINCT_CAP, NON_NUMERIC, dataAttributes, panelData, summarize } from "../../src/panel-data";

const window = { start: 0, end: 30, step: 10 };

test("only finite values count; NaN, infinities and gaps do not", () => {
  assert.deepEqual(summarize(["1", "NaN", "+Inf", "-Inf", null, undefined, "2", 2, "x"]), { values: 3, distinct: 2, min: 1, max: 2 });
  assert.deepEqual(summarize([]), { values: 0, distinct: 0, min: null, max: null });
  // A flat line of zeros: values, one distinct.
  assert.deepEqual(summarize(["0", "0", "-0"]), { values: 3, distinct: 1, min: 0, max: 0 });
});

test("distinct values are counted up to the cap", () => {
  const many = Array.from({ length: DISTINCT_CAP * 3 }, (_, i) => i);
  const d = summarize(many);
  assert.equal(d.values, DISTINCT_CAP * 3);
  assert.equal(d.distinct, DISTINCT_CAP);
  assert.equal(d.max, DISTINCT_CAP * 3 - 1);
});

test("a time series panel counts every series' values", () => {
  const drawn = {
    series: [
      { metric: { node: "a" }, values: [[0, "3"], [10, "3"]] as [number, string][] },
      { metric: { node: "b" }, values: [[0, "5"], [10, "NaN"]] as [number, string][] },
    ],
    names: ["a", "b"],
    refs: ["A", "A"],
  };
  assert.deepEqual(panelData("timeseries", drawn, undefined, window), { values: 3, distinct: 2, min: 3, max: 5 });
  // An instant answer (a stat of an instant query) is one value per series.
  const instant = { series: [{ metric: {}, value: [30, "7"] as [number, string] }], names: [""], refs: ["A"] };
  assert.deepEqual(panelData("stat", instant, undefined, window), { values: 1, distinct: 1, min: 7, max: 7 });
});

test("a table counts its number fields after its transformations, not times or labels", () => {
  const drawn = {
    series: [
      { metric: { node: "a" }, value: [30, "3"] as [number, string] },
      { metric: { node: "b" }, value: [30, "4"] as [number, string] },
    ],
    names: ["a", "b"],
    refs: ["A", "A"],
  };
  assert.deepEqual(panelData("table", drawn, undefined, window), { values: 2, distinct: 2, min: 3, max: 4 });
  // Hiding the value column leaves nothing numeric to draw.
  const hidden = [{ id: "organize", options: { excludeByName: { Value: true } } }];
  assert.equal(panelData("table", drawn, hidden, window).values, 0);
});

test("a heatmap counts its cells: cumulative buckets differenced", () => {
  const le = (b: string, vs: string[]) => ({ metric: { le: b }, values: vs.map((v, i) => [i * 10, v] as [number, string]) });
  // Every observation in the first bucket: the cumulative series are equal, the cells
  // above the first are zero.
  const drawn = { series: [le("1", ["4", "6"]), le("+Inf", ["4", "6"])], names: ["1", "+Inf"], refs: ["A", "A"] };
  assert.deepEqual(panelData("heatmap", drawn, undefined, window), { values: 4, distinct: 3, min: 0, max: 6 });
});

test("the attributes: none before drawing, n/a for panels without numbers", () => {
  assert.deepEqual(dataAttributes(null), {});
  assert.deepEqual(dataAttributes(NON_NUMERIC), { "data-values": "n/a" });
  assert.deepEqual(dataAttributes({ values: 2, distinct: 1, min: 0, max: 0 }), { "data-values": "2", "data-distinct": "1", "data-min": "0", "data-max": "0" });
  assert.deepEqual(dataAttributes({ values: 0, distinct: 0, min: null, max: null }), { "data-values": "0", "data-distinct": "0" });
});
