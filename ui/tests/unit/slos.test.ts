// The SLO pages' figures and queries: time to exhaustion in words, the API's order, the
// burn-rate query of a window, the alerts' threshold lines, and the budget chart's range.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Slo, SloAlert } from "../../src/api";
import {
  alertWindows,
  budgetQuery,
  burnRate,
  burnRateConfig,
  burnRateQuery,
  compareSlos,
  errorBudget,
  firstValueTime,
  heldRange,
  humanDuration,
  percent,
  thresholdLines,
  timeToExhaustion,
} from "../../src/slos";

// The alerts of the API contract's example: Sloth's page and ticket alerts and a budget alert.
const alerts: SloAlert[] = [
  {
    name: "ZerostateTaskSuccessBurn",
    severity: "page",
    state: "firing",
    activeAt: "2026-12-06T10:00:00Z",
    conditions: [
      { shortWindow: "5m", longWindow: "1h", burnRate: 14.4 },
      { shortWindow: "30m", longWindow: "6h", burnRate: 6 },
    ],
  },
  {
    name: "ZerostateTaskSuccessBurn",
    severity: "ticket",
    state: "inactive",
    activeAt: null,
    conditions: [
      { shortWindow: "2h", longWindow: "1d", burnRate: 3 },
      { shortWindow: "6h", longWindow: "3d", burnRate: 1 },
    ],
  },
  { name: "ZerostateTaskSuccessBudgetLow", severity: "budget", state: "inactive", activeAt: null, threshold: 0.1, conditions: [] },
];
const table = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"].map((window) => ({ window, seconds: 0, errorRatio: null, burnRate: null }));

test("time to exhaustion: the two largest units, exhausted once spent, not burning without a burn", () => {
  const at = (timeToExhaustionSeconds: number | null, errorBudgetRemaining: number | null = 0.42, currentBurnRate: number | null = 1.3) =>
    timeToExhaustion({ timeToExhaustionSeconds, errorBudgetRemaining, currentBurnRate });
  assert.equal(at(3 * 86400 + 4 * 3600 + 59 * 60), "3d 4h", "cut, not rounded: the budget is gone by then");
  assert.equal(at(812345.6), "9d 9h");
  assert.equal(at(2 * 86400 + 30), "2d", "a zero second unit is left out");
  assert.equal(at(2 * 3600 + 5 * 60), "2h 5m");
  assert.equal(at(330), "5m 30s");
  assert.equal(at(42.7), "42s");
  assert.equal(at(0.4), "under 1s");
  assert.equal(at(0, 0), "exhausted");
  assert.equal(at(0, -0.3), "exhausted");
  assert.equal(at(null, -0.3, 0), "exhausted", "overspent, whatever burns now");
  assert.equal(at(null, 0.42, 0), "not burning");
  assert.equal(at(null, null, null), "no data");
  assert.equal(at(null, 0.42, null), "no data");
  assert.equal(humanDuration(86400), "1d");
});

test("SLOs are ordered as the API orders them: least budget left first, no data last, then by id", () => {
  const slo = (id: string, errorBudgetRemaining: number | null) => ({ id, errorBudgetRemaining });
  const list = [slo("d", null), slo("c", 0.5), slo("b", -0.2), slo("a", 0.5), slo("e", 1), slo("a2", null)];
  assert.deepEqual(
    [...list].sort(compareSlos).map((s) => s.id),
    ["b", "a", "c", "e", "a2", "d"],
  );
});

test("a window's burn rate is its recorded error ratio over the budget, written as a person would", () => {
  assert.equal(errorBudget(0.999), 0.001);
  assert.equal(errorBudget(0.9995), 0.0005);
  assert.equal(errorBudget(0.99), 0.01);
  assert.equal(burnRateQuery("zerostate-task-success", "5m", 0.999), 'slo:sli_error:ratio_rate5m{sloth_id="zerostate-task-success"} / 0.001');
  assert.equal(burnRateQuery("api", "3d", 0.95), 'slo:sli_error:ratio_rate3d{sloth_id="api"} / 0.05');
  // An id is a PromQL string, quotes and backslashes escaped.
  assert.equal(burnRateQuery('a"b\\c', "1h", 0.9), 'slo:sli_error:ratio_rate1h{sloth_id="a\\"b\\\\c"} / 0.1');
  assert.equal(budgetQuery("api"), 'slo:period_error_budget_remaining:ratio{sloth_id="api"}');
});

test("the burn-rate chart draws the windows the alerts read, in the window table's order", () => {
  assert.deepEqual(alertWindows({ windows: table, alerts }), ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]);
  const page = alerts.slice(0, 1);
  assert.deepEqual(alertWindows({ windows: table, alerts: page }), ["5m", "30m", "1h", "6h"]);
  // A window the table lacks still gets its line, after the others.
  assert.deepEqual(alertWindows({ windows: table.slice(0, 2), alerts: page }), ["5m", "30m", "1h", "6h"]);
  assert.deepEqual(alertWindows({ windows: table.slice(1, 2), alerts: page }), ["30m", "5m", "1h", "6h"]);
  assert.deepEqual(alertWindows({ windows: table, alerts: [] }), []);
});

test("each alert condition's burn rate is a threshold line, coloured by severity, all in view", () => {
  const lines = thresholdLines(alerts);
  assert.deepEqual(lines, [
    { value: 14.4, severity: "page", color: "red", windows: ["1h/5m"] },
    { value: 6, severity: "page", color: "red", windows: ["6h/30m"] },
    { value: 3, severity: "ticket", color: "orange", windows: ["1d/2h"] },
    { value: 1, severity: "ticket", color: "orange", windows: ["3d/6h"] },
  ]);
  // Two conditions at one burn rate make one line that names both.
  const same = thresholdLines([{ ...alerts[0], conditions: [alerts[0].conditions[0], { shortWindow: "10m", longWindow: "2h", burnRate: 14.4 }] }]);
  assert.deepEqual(same, [{ value: 14.4, severity: "page", color: "red", windows: ["1h/5m", "2h/10m"] }]);
  const config = burnRateConfig(lines);
  assert.deepEqual(config.thresholds?.steps?.map((s) => s.value), [null, 1, 3, 6, 14.4]);
  assert.deepEqual(config.custom?.thresholdsStyle, { mode: "dashed" });
  assert.equal(config.custom?.axisSoftMax, 14.4, "the highest line is in view");
  assert.equal(burnRateConfig([]).custom?.axisSoftMax, undefined);
});

test("figures: percentages without trailing zeros, burn rates as multiples", () => {
  assert.equal(percent(0.999, 4), "99.9%");
  assert.equal(percent(0.9995, 4), "99.95%");
  assert.equal(percent(0.99999, 4), "99.999%");
  assert.equal(percent(0.9987, 3), "99.87%");
  assert.equal(percent(-0.352, 1), "-35.2%");
  assert.equal(burnRate(1.3), "1.3×");
  assert.equal(burnRate(14.44), "14.4×");
  assert.equal(burnRate(0), "0×");
  assert.equal(burnRate(null), "–");
});

test("the budget chart spans the period, or from the first value the server holds", () => {
  const now = 1_800_000_000;
  const month = 30 * 86400;
  const series = (points: [number, string][]) => [{ metric: {}, values: points }];
  assert.equal(firstValueTime(series([[now - 600, "NaN"], [now - 300, "0.9"], [now, "0.8"]])), now - 300);
  assert.equal(firstValueTime([...series([[now - 60, "1"]]), ...series([[now - 120, "1"]])]), now - 120);
  assert.equal(firstValueTime(series([])), null);
  // Six hours of values, found on a 5184 s grid: one grid step earlier, then ~250 points.
  const held = heldRange(now, month, now - 6 * 3600, 5184);
  assert.deepEqual(held, { start: now - 6 * 3600 - 5184, end: now, step: Math.round((6 * 3600 + 5184) / 250) });
  // Values older than the period: the period.
  assert.equal(heldRange(now, month, now - 40 * 86400, 5184).start, now - month);
});
