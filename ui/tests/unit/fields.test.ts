// Field configuration as Grafana applies it: every override matcher on one fixed frame (the
// series Skywatch's API answers with), overrides in order after the defaults, mappings,
// thresholds, colour schemes and the automatic min/max.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Series } from "../../src/api";
import {
  type FieldConfig,
  type FieldConfigSource,
  type FieldInfo,
  type Override,
  CALCS,
  COLOR_MODES,
  activeThreshold,
  configsFor,
  display,
  fieldConfig,
  isSupportedMatcher,
  mapValue,
  matcherIds,
  overrideMatches,
  seriesField,
  valueColor,
} from "../../src/fields";
import { formatValue } from "../../src/units";

const range = (...vs: number[]): Series["values"] => vs.map((v, i) => [1700000000 + i * 15, String(v)]);

// Node Exporter Full's network traffic panel: receive (A) and transmit (B) by device, and a
// query C with an instant answer.
const series: [Series, string, string][] = [
  [{ metric: { __name__: "node_network_receive_bytes_total", device: "eth0" }, values: range(100, 200, 300) }, "eth0 - Rx", "A"],
  [{ metric: { __name__: "node_network_receive_bytes_total", device: "lo" }, values: range(0, 0, 0) }, "lo - Rx", "A"],
  [{ metric: { __name__: "node_network_transmit_bytes_total", device: "eth0" }, values: range(50, 60, 70) }, "eth0 - Tx", "B"],
  [{ metric: { __name__: "node_network_transmit_bytes_total", device: "lo" }, values: range(0, 0, 0) }, "lo - Tx", "B"],
  [{ metric: { device: "eth0" }, value: [1700000030, "1500"] }, "eth0 speed", "C"],
];
const frame: FieldInfo[] = [...series.map(([s, name, ref]) => seriesField(s, name, ref)), { name: "Time", displayName: "Time", refId: "A", type: "time", values: [] }];

/** The display names of the fields `matcher` picks. */
function picked(matcher: Override["matcher"]): string[] {
  return frame.filter((f, i) => overrideMatches({ matcher }, f, i, frame)).map((f) => f.displayName);
}

test("byName: the field's name or its display name", () => {
  assert.deepEqual(picked({ id: "byName", options: "eth0 - Tx" }), ["eth0 - Tx"]);
  assert.deepEqual(picked({ id: "byName", options: "node_network_receive_bytes_total" }), ["eth0 - Rx", "lo - Rx"]);
  assert.deepEqual(picked({ id: "byName", options: "eth0" }), []);
});

test("byRegexp: plain patterns are anchored, /.../flags ones are not", () => {
  assert.deepEqual(picked({ id: "byRegexp", options: "/.*Tx.*/" }), ["eth0 - Tx", "lo - Tx"]);
  assert.deepEqual(picked({ id: "byRegexp", options: "/tx/" }), []);
  assert.deepEqual(picked({ id: "byRegexp", options: "/tx/i" }), ["eth0 - Tx", "lo - Tx"]);
  assert.deepEqual(picked({ id: "byRegexp", options: "Tx" }), []);
  assert.deepEqual(picked({ id: "byRegexp", options: "eth0.*" }), ["eth0 - Rx", "eth0 - Tx", "eth0 speed"]);
  // The g flag would make every other test fail where the last one stopped.
  assert.deepEqual(picked({ id: "byRegexp", options: "/Rx/g" }), ["eth0 - Rx", "lo - Rx"]);
  // Display names only: the metric name is not matched.
  assert.deepEqual(picked({ id: "byRegexp", options: "node_.*" }), []);
  assert.deepEqual(picked({ id: "byRegexp", options: "/(/" }), []);
});

test("byNames: include and exclude, prefix and readOnly ignored", () => {
  assert.deepEqual(picked({ id: "byNames", options: { mode: "include", names: ["lo - Rx", "lo - Tx"], prefix: "All except:", readOnly: true } }), ["lo - Rx", "lo - Tx"]);
  assert.deepEqual(picked({ id: "byNames", options: { names: ["lo - Rx"] } }), ["lo - Rx"]);
  assert.deepEqual(picked({ id: "byNames", options: { mode: "exclude", names: ["eth0 - Rx", "eth0 - Tx", "Time"] } }), ["lo - Rx", "lo - Tx", "eth0 speed"]);
  assert.deepEqual(picked({ id: "byRegexpOrNames", options: { pattern: "/speed/", names: ["lo - Rx"] } }), ["lo - Rx", "eth0 speed"]);
});

test("byType, numeric, time, first and firstTimeField", () => {
  assert.deepEqual(picked({ id: "byType", options: "time" }), ["Time"]);
  assert.equal(picked({ id: "byType", options: "number" }).length, 5);
  assert.equal(picked({ id: "numeric" }).length, 5);
  assert.deepEqual(picked({ id: "time" }), ["Time"]);
  assert.deepEqual(picked({ id: "first" }), ["eth0 - Rx"]);
  assert.deepEqual(picked({ id: "firstTimeField" }), ["Time"]);
});

test("byFrameRefID: every field of a query's frame", () => {
  assert.deepEqual(picked({ id: "byFrameRefID", options: "B" }), ["eth0 - Tx", "lo - Tx"]);
  assert.deepEqual(picked({ id: "byFrameRefID", options: "Z" }), []);
});

test("byValue: a reducer, an operator and a value", () => {
  assert.deepEqual(picked({ id: "byValue", options: { reducer: "allIsZero", op: "gte", value: 0 } }), ["lo - Rx", "lo - Tx"]);
  assert.deepEqual(picked({ id: "byValue", options: { reducer: "max", op: "gt", value: 100 } }), ["eth0 - Rx", "eth0 speed"]);
  assert.deepEqual(picked({ id: "byValue", options: { reducer: "mean", op: "lte", value: 60 } }), ["lo - Rx", "eth0 - Tx", "lo - Tx"]);
  assert.deepEqual(picked({ id: "byValue", options: { reducer: "lastNotNull", op: "eq", value: 70 } }), ["eth0 - Tx"]);
  // Grafana reduces every field, time fields too: "null" is not 0.
  assert.deepEqual(picked({ id: "byValue", options: { reducer: "last", op: "neq", value: 0 } }), ["eth0 - Rx", "eth0 - Tx", "eth0 speed", "Time"]);
  assert.deepEqual(picked({ id: "byValue", options: { reducer: "max", value: 300 } }), ["eth0 - Rx"], "eq when no operator");
  assert.deepEqual(picked({ id: "byValue", options: { reducer: "nonsense", op: "gt", value: 0 } }), []);
});

test("unknown matchers match nothing and are not supported", () => {
  assert.deepEqual(picked({ id: "byLabel", options: "device" }), []);
  assert.ok(!isSupportedMatcher("byLabel"));
  for (const id of ["byName", "byRegexp", "byNames", "byRegexpOrNames", "byType", "byFrameRefID", "byValue"]) assert.ok(isSupportedMatcher(id), id);
});

test("overrides apply in order after the defaults: the last one wins", () => {
  const source: FieldConfigSource = {
    defaults: { unit: "bytes", decimals: 1, custom: { fillOpacity: 10, axisPlacement: "auto" } },
    overrides: [
      { matcher: { id: "byRegexp", options: "/.*Tx.*/" }, properties: [{ id: "custom.transform", value: "negative-Y" }, { id: "unit", value: "bps" }] },
      { matcher: { id: "byName", options: "lo - Tx" }, properties: [{ id: "unit", value: "pps" }, { id: "decimals" }] },
      { matcher: { id: "byFrameRefID", options: "A" }, properties: [{ id: "color", value: { mode: "fixed", fixedColor: "green" } }] },
    ],
  };
  const [ethRx, loRx, ethTx, loTx] = configsFor(source, frame);
  assert.equal(ethRx.unit, "bytes");
  assert.deepEqual(ethRx.color, { mode: "fixed", fixedColor: "green" });
  assert.equal(loRx.color?.fixedColor, "green");
  assert.equal(ethTx.unit, "bps");
  assert.equal(ethTx.custom?.transform, "negative-Y");
  assert.equal(ethTx.custom?.fillOpacity, 10);
  assert.equal(ethTx.decimals, 1);
  assert.equal(loTx.unit, "pps");
  assert.equal(loTx.decimals, undefined, "a property without a value unsets it");
  assert.equal(source.defaults?.custom?.transform, undefined, "the defaults are left alone");
  // By display name alone, as the chart and table ask.
  assert.equal(fieldConfig(source, "eth0 - Tx", "B").unit, "bps");
});

test("auto min/max: shared by all number fields, or per field with fieldMinMax", () => {
  const shared = configsFor({ defaults: {} }, frame);
  assert.deepEqual(shared[2].range, { min: 0, max: 1500 });
  const own = configsFor({ defaults: { fieldMinMax: true } }, frame);
  assert.deepEqual(own[2].range, { min: 50, max: 70 });
  const set = configsFor({ defaults: { min: 10 } }, frame);
  assert.deepEqual(set[0].range, { min: 10, max: 1500 });
  assert.deepEqual(configsFor({}, [frame[5]])[0].range, { min: 0, max: 100 }, "no numbers: 0 to 100");
});

const steps = [
  { value: null, color: "green" },
  { value: 70, color: "#EAB839" },
  { value: 90, color: "red" },
];

test("thresholds: absolute and percentage; no value and NaN take the base step", () => {
  const abs: FieldConfig = { thresholds: { mode: "absolute", steps } };
  assert.equal(activeThreshold(69.9, abs)?.color, "green");
  assert.equal(activeThreshold(70, abs)?.color, "#EAB839");
  assert.equal(activeThreshold(1000, abs)?.color, "red");
  assert.equal(activeThreshold(null, abs)?.color, "green");
  assert.equal(activeThreshold(NaN, abs)?.color, "green");
  const pct: FieldConfig = { thresholds: { mode: "percentage", steps }, range: { min: 0, max: 200 } };
  assert.equal(activeThreshold(139, pct)?.color, "green");
  assert.equal(activeThreshold(140, pct)?.color, "#EAB839");
  assert.equal(activeThreshold(190, pct)?.color, "red");
  assert.equal(activeThreshold(5, {}), undefined);
});

test("value mappings: value, range, regex and special, the first that applies", () => {
  const mappings: FieldConfig["mappings"] = [
    { type: "value", options: { "1": { text: "Up", color: "green" }, "0": { text: "Down", color: "red" } } },
    { type: "range", options: { from: 2, to: 10, result: { text: "Few" } } },
    { type: "range", options: { from: 5, to: null, result: { text: "Many" } } },
    { type: "regex", options: { pattern: "/eth(\\d+)/", result: { text: "port $1" } } },
    { type: "special", options: { match: "null+nan", result: { text: "Unknown", color: "gray" } } },
  ];
  assert.equal(mapValue(1, mappings)?.text, "Up");
  assert.equal(mapValue(0, mappings)?.color, "red");
  assert.equal(mapValue(7, mappings)?.text, "Few");
  assert.equal(mapValue(11, mappings)?.text, "Many");
  assert.equal(mapValue("eth3", mappings)?.text, "port 3");
  assert.equal(mapValue(null, mappings)?.text, "Unknown");
  assert.equal(mapValue(NaN, mappings)?.text, "Unknown");
  assert.equal(mapValue(-1, mappings), undefined);
  // Regex mappings match text only, as in Grafana; true and false their words.
  assert.equal(mapValue(3, [{ type: "regex", options: { pattern: "3", result: { text: "three" } } }]), undefined);
  assert.equal(mapValue("true", [{ type: "special", options: { match: "true", result: { text: "yes" } } }])?.text, "yes");
  assert.equal(mapValue(1, [{ type: "special", options: { match: "true", result: { text: "yes" } } }]), undefined);
  assert.equal(mapValue("", [{ type: "special", options: { match: "empty", result: { text: "(empty)" } } }])?.text, "(empty)");
});

test("display: mapped text and colour, else the formatted value in its scheme's colour", () => {
  const f: FieldConfig = { unit: "bool_yes_no", thresholds: { steps }, mappings: [{ type: "value", options: { "2": { text: "Two", color: "blue" } } }] };
  assert.deepEqual(display(2, f, formatValue), { text: "Two", color: "#5794f2" });
  assert.deepEqual(display(1, f, formatValue), { text: "Yes", color: "#73bf69" });
  assert.deepEqual(display(null, { ...f, noValue: "-" }, formatValue), { text: "-", color: "#73bf69" });
  assert.deepEqual(display(NaN, { unit: "percent", thresholds: { steps } }, formatValue), { text: "NaN", color: "#73bf69" });
});

test("colour schemes: fixed, thresholds, palettes and continuous", () => {
  const r = { min: 0, max: 100 };
  assert.equal(valueColor(5, { color: { mode: "fixed", fixedColor: "dark-red" } }), "#c4162a");
  assert.equal(valueColor(5, { color: { mode: "fixed" } }), "#808080");
  assert.equal(valueColor(95, { color: { mode: "thresholds" }, thresholds: { steps } }), "#f2495c");
  assert.equal(valueColor(95, { thresholds: { steps } }), "#f2495c", "thresholds when no mode is set");
  assert.equal(valueColor(5, { color: { mode: "palette-classic" } }, 2), "#6ed0e0");
  assert.equal(valueColor(5, { color: { mode: "palette-classic" } }, 12), "#6ed0e0");
  const byName = valueColor(5, { color: { mode: "palette-classic-by-name" } }, 0, "eth0 - Rx");
  assert.equal(valueColor(5, { color: { mode: "palette-classic-by-name" } }, 7, "eth0 - Rx"), byName, "by name, whatever the index");
  assert.equal(valueColor(0, { color: { mode: "continuous-GrYlRd" }, range: r }), "#73bf69");
  assert.equal(valueColor(50, { color: { mode: "continuous-GrYlRd" }, range: r }), "#fade2a");
  assert.equal(valueColor(100, { color: { mode: "continuous-GrYlRd" }, range: r }), "#f2495c");
  assert.equal(valueColor(150, { color: { mode: "continuous-RdYlGr" }, range: r }), "#73bf69", "clamped at the top");
  assert.equal(valueColor(0, { color: { mode: "continuous-viridis" }, range: r }), "#440154");
  for (const mode of COLOR_MODES) assert.match(valueColor(50, { color: { mode, fixedColor: "blue" }, thresholds: { steps }, range: r }) ?? "", /^#[0-9a-f]{6}$/, mode);
});

test("reducers Grafana's byValue and legends use", () => {
  const xs = [1, 3, 3, 0, 5];
  assert.equal(CALCS.mean.reduce(xs), 2.4);
  assert.equal(CALCS.logmin.reduce(xs), 1);
  assert.equal(CALCS.changeCount.reduce(xs), 3);
  assert.equal(CALCS.distinctCount.reduce(xs), 4);
  assert.equal(CALCS.variance.reduce([2, 4, 4, 4, 5, 5, 7, 9]), 4);
  assert.equal(CALCS.stdDev.reduce([2, 4, 4, 4, 5, 5, 7, 9]), 2);
  assert.equal(CALCS.allIsZero.reduce([0, 0]), 1);
  assert.equal(CALCS.allIsZero.reduce([]), 0);
  assert.equal(CALCS.allIsNull.reduce([NaN]), 1);
});

test("field-support.json lists exactly the matchers and colour modes fields.ts applies", () => {
  const support = JSON.parse(readFileSync("src/field-support.json", "utf8"));
  assert.deepEqual(support.matchers, matcherIds());
  assert.deepEqual(support.colorModes, COLOR_MODES);
});

test("regression (issue 27): a gauge keeps its colour band on NaN and on no value", () => {
  const f: FieldConfig = { unit: "percent", thresholds: { mode: "percentage", steps }, range: { min: 0, max: 100 } };
  assert.equal(display(NaN, f, formatValue).color, "#73bf69");
  assert.equal(display(null, f, formatValue).color, "#73bf69");
});
