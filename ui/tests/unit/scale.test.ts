// The value axis's automatic range.
import { test } from "node:test";
import assert from "node:assert/strict";
import { autoRange } from "../../src/scale";

test("regression (issue 27): all-zero data on a percentunit axis is 0% to 100%, not 0% to 10000%", () => {
  assert.deepEqual(autoRange(0, 0, { fractions: true }), [0, 1]);
  // Other units keep uPlot's and Grafana's 0 to 100.
  assert.deepEqual(autoRange(0, 0), [0, 100]);
  // Set limits win.
  const [softLo, softHi] = autoRange(0, 0, { fractions: true, softMax: 0.5 });
  assert.ok(softLo === 0 && softHi >= 0.5 && softHi < 0.6, String(softHi));
  assert.deepEqual(autoRange(0, 0, { fractions: true, hardMax: 2 }), [0, 2]);
});

test("data ranges are padded from zero, hard limits kept, flat lines doubled away from zero", () => {
  const [lo, hi] = autoRange(10, 90);
  assert.ok(lo >= 0 && lo < 10, String(lo));
  assert.ok(hi >= 90 && hi <= 100, String(hi));
  assert.deepEqual(autoRange(10, 90, { hardMin: 5, hardMax: 95 }), [5, 95]);
  const [flatLo, flatHi] = autoRange(5, 5);
  assert.ok(flatLo <= 5 && flatHi > 5);
  assert.deepEqual(autoRange(-3, 40, { hardMin: 50, hardMax: 10 }), [0, 100], "an impossible range falls back to 0 to 100");
});
