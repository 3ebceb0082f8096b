// Values sized to fit their box, as Grafana's calculateFontSize.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fitFontSize } from "../../src/fit";

// A font whose letters are 0.6 em wide: "24 GiB" is 6 letters, 50.4 px at 14 px.
const measure = (text: string, size: number) => text.length * size * 0.6;

test("the value shrinks to the width of a narrow box rather than being clipped", () => {
  const size = fitFontSize("24 GiB", 80, 100, 1.2, 100, measure);
  assert.ok(Math.abs(size - (80 / 52.4) * 14) < 1e-9, String(size));
  assert.ok(measure("24 GiB", size) <= 80, "the whole text fits");
});

test("a wide box: the height decides, then the maximum", () => {
  assert.equal(fitFontSize("42", 1000, 60, 1.2, 100, measure), 50);
  assert.equal(fitFontSize("42", 1000, 600, 1.2, 100, measure), 100);
});

test("longer text, smaller type; no box, no text", () => {
  const short = fitFontSize("1 K", 120, 200, 1.2, Infinity, measure);
  const long = fitFontSize("1.23 Mil req/s", 120, 200, 1.2, Infinity, measure);
  assert.ok(long < short);
  assert.equal(fitFontSize("x", 0, 0, 1.2, 100, measure), 0);
});
