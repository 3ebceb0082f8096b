// The time picker's ranges: relative or absolute in the URL, as windows and back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rangeFromQuery, rangeParams, seconds, windowOf } from "../../src/time-range";

test("ranges read from the URL: range, Grafana's now-X, or absolute from and to", () => {
  assert.deepEqual(rangeFromQuery("?range=15m"), { range: "15m" });
  assert.deepEqual(rangeFromQuery("?from=now-6h&to=now"), { range: "6h" });
  assert.deepEqual(rangeFromQuery("?from=1000&to=5000"), { range: "1h", from: 1000, to: 5000 });
  assert.deepEqual(rangeFromQuery("?from=1000&to=now"), { range: "1h", from: 1000, to: undefined });
  // A `to` before `from` is taken as now; nonsense falls back.
  assert.deepEqual(rangeFromQuery("?from=5000&to=1000"), { range: "1h", from: 5000, to: undefined });
  assert.deepEqual(rangeFromQuery("?from=soon", "5m"), { range: "5m" });
});

test("windows and URL parameters of a range", () => {
  assert.equal(seconds("2d"), 172800);
  assert.deepEqual(windowOf({ range: "5m" }, 1_000_000), { startMs: 700_000, endMs: 1_000_000 });
  assert.deepEqual(windowOf({ range: "5m", from: 10, to: 20 }, 1_000_000), { startMs: 10, endMs: 20 });
  assert.deepEqual(windowOf({ range: "5m", from: 10 }, 1_000_000), { startMs: 10, endMs: 1_000_000 });
  assert.deepEqual(rangeParams({ range: "1h" }), { range: "1h" });
  assert.deepEqual(rangeParams({ range: "1h", from: 10 }), { from: "10", to: "now" });
  assert.deepEqual(rangeFromQuery(`?${new URLSearchParams(rangeParams({ range: "1h", from: 10, to: 20 }))}`), { range: "1h", from: 10, to: 20 });
});
