// Units as Grafana shows them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatValue } from "../../src/units";

test("percent and percentunit", () => {
  assert.equal(formatValue(50, "percent"), "50%");
  assert.equal(formatValue(0.5, "percentunit"), "50%");
});
