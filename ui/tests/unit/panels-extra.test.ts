// The data side of the state timeline, bar chart and histogram panels, as Grafana's
// panels prepare it: states run from point to point and merge, the bar chart's x field
// is the first string (else time) field, and histogram buckets follow Grafana's
// histogram transformer (its automatic sizes, worked out by hand below).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Frame } from "../../src/frames";
import { barsOfFrame, histogram, segments } from "../../src/panels-extra";

test("states hold from point to point, gaps break them, equal neighbours merge", () => {
  const xs = [0, 10, 20, 30, 40];
  const ys = [1, 1, null, 2, 2];
  assert.deepEqual(segments(xs, ys, 45, 10), [
    { from: 0, to: 20, value: 1 },
    // The last value holds one step, or to the range's end.
    { from: 30, to: 45, value: 2 },
  ]);
  assert.deepEqual(segments(xs, ys, 45, 10, false), [
    { from: 0, to: 10, value: 1 },
    { from: 10, to: 20, value: 1 },
    { from: 30, to: 40, value: 2 },
    { from: 40, to: 45, value: 2 },
  ]);
  assert.deepEqual(segments([0, 10], [3, 4], 100, 10), [
    { from: 0, to: 10, value: 3 },
    { from: 10, to: 20, value: 4 },
  ]);
  assert.deepEqual(segments([], [], 10, 1), []);
});

test("histogram buckets: Grafana's automatic size, per field or combined", () => {
  // Range 9 over 30 buckets is 0.3; the smallest gap is 1: size 1.
  assert.deepEqual(histogram([[1, 2, 2, 3, 10]]), { mins: [1, 2, 3, 10], size: 1, counts: [[1, 2, 1, 1]] });
  // Range 0.3: a target of 0.01, the smallest gap 0.15: size 0.2.
  assert.deepEqual(histogram([[0.1, 0.25, 0.4]]), { mins: [0, 0.2, 0.4], size: 0.2, counts: [[1, 1, 1]] });
  // A bucket count of 3 makes the target 0.3: the first size above it is 0.4.
  assert.deepEqual(histogram([[0, 0.3, 0.6, 0.9]], { count: 3 }), { mins: [0, 0.4, 0.8], size: 0.4, counts: [[2, 1, 1]] });
  // A given size and offset; two fields share the buckets, missing ones count 0.
  assert.deepEqual(histogram([[1, 1, 2], [2, 5]], { size: 2, offset: 1 }), { mins: [1, 5], size: 2, counts: [[3, 0], [1, 1]] });
  assert.deepEqual(histogram([[1, 1, 2], [2, 5]], { size: 2, offset: 1, combine: true }), { mins: [1, 5], size: 2, counts: [[4, 1]] });
  // One value: a size of 1. NaN and infinities are no values.
  assert.deepEqual(histogram([[7, NaN, Infinity]]), { mins: [7], size: 1, counts: [[1]] });
  assert.equal(histogram([[NaN]]), null);
  assert.equal(histogram([]), null);
});

test("a bar chart's x field: by name, else the first string field, else time", () => {
  const frame: Frame = {
    refId: "A",
    fields: [
      { name: "Time", type: "time", values: [1000, 1000], config: {} },
      { name: "instance", type: "string", values: ["a:9100", "b:9100"], config: {} },
      { name: "Value", type: "number", values: [3, NaN], config: {} },
    ],
  };
  assert.deepEqual(barsOfFrame(frame), { labels: ["a:9100", "b:9100"], fields: [{ name: "Value", values: [3, null], config: {} }] });
  const byTime = barsOfFrame(frame, "Time");
  assert.ok(typeof byTime !== "string");
  assert.deepEqual(byTime.labels, ["1000", "1000"]);
  assert.equal(barsOfFrame({ fields: [{ name: "Value", type: "number", values: [1], config: {} }] }), "Bar charts requires a string or time field");
  assert.equal(barsOfFrame({ fields: [{ name: "x", type: "string", values: ["a"], config: {} }] }), "No numeric fields found");
});
