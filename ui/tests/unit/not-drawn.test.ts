// What the panel marker lists: the same as `skywatch check dashboards` on the shared
// fixture (crates/dashboards/testdata), and each kind on panels written here.
import assert from "node:assert/strict";
import { test } from "node:test";
import fixture from "../../../crates/dashboards/testdata/not-drawn.json";
import expected from "../../../crates/dashboards/testdata/not-drawn.expected.json";
import { notDrawn } from "../../src/not-drawn";

/** `[panel path, kind, path]` rows of a dashboard's panels, rows skipped, as the check. */
function rows(panels: any[]): string[][] {
  const out: string[][] = [];
  const visit = (p: any, at: string) => {
    if (p.type === "row") return;
    for (const n of notDrawn(p)) out.push([at, n.kind, `${at}.${n.path}`]);
  };
  panels.forEach((p, i) => {
    visit(p, `panels[${i}]`);
    (p.panels ?? []).forEach((q: any, j: number) => visit(q, `panels[${i}].panels[${j}]`));
  });
  return out;
}

test("the marker finds what the dashboard check finds on the shared fixture", () => {
  assert.deepEqual(rows(fixture.panels), expected);
});

test("a panel drawn as Grafana draws it has no marker entries", () => {
  const panel = {
    type: "timeseries",
    fieldConfig: {
      defaults: { unit: "bps", color: { mode: "palette-classic" }, custom: { drawStyle: "bars", barAlignment: 0.0, stacking: { mode: "percent" }, scaleDistribution: { type: "linear" } } },
      overrides: [
        { matcher: { id: "byRegexp", options: "/.*Tx.*/" }, properties: [{ id: "custom.transform", value: "negative-Y" }, { id: "color", value: { mode: "fixed", fixedColor: "red" } }] },
        { matcher: { id: "byName", options: "x" }, properties: [{ id: "custom.scaleDistribution", value: { type: "linear" } }, { id: "unit", value: "suffix:req" }] },
      ],
    },
    timeFrom: null,
  };
  assert.deepEqual(notDrawn(panel), []);
});

test("each kind is named with its path and what it asks for", () => {
  assert.deepEqual(notDrawn({ type: "geomap", fieldConfig: { defaults: { unit: "nope" } } }), [{ kind: "panel-type", path: "type", what: 'panel type "geomap" is not drawn' }]);
  const found = notDrawn({
    type: "timeseries",
    timeFrom: "24h",
    fieldConfig: {
      defaults: { unit: "kbps", color: { mode: "thresholds" }, custom: { gradientMode: "hue" } },
      overrides: [
        { matcher: { id: "byLabel" }, properties: [] },
        { matcher: { id: "byName", options: "a" }, properties: [{ id: "custom.scaleDistribution", value: { type: "log", log: 2 } }] },
      ],
    },
    transformations: [{ id: "merge" }],
  });
  assert.deepEqual(
    found.map((n) => [n.kind, n.path]),
    [
      ["matcher", "fieldConfig.overrides[0].matcher.id"],
      ["transformation", "transformations"],
      ["option", "timeFrom"],
      ["option", "fieldConfig.overrides[1].properties[0].value.type"],
      ["option", "fieldConfig.defaults.custom.gradientMode"],
      ["color-mode", "fieldConfig.defaults.color.mode"],
    ],
  );
  assert.equal(found[4].what, 'a gradient fill (drawn flat): "hue"');
});

test("a unit outside Grafana's catalogue is not marked: Grafana shows it as a suffix too", () => {
  assert.deepEqual(notDrawn({ type: "stat", fieldConfig: { defaults: { unit: "rds" }, overrides: [{ matcher: { id: "byName", options: "x" }, properties: [{ id: "unit", value: "ETH" }] }] } }), []);
});

test("a table applies its transformations; another panel type warns about them once", () => {
  const t = [{ id: "merge" }, { id: "timeSeriesTable" }, { id: "nope", disabled: true }];
  assert.deepEqual(notDrawn({ type: "table", transformations: t }).map((n) => n.path), ["transformations[1].id"]);
  assert.deepEqual(notDrawn({ type: "stat", transformations: t }).map((n) => n.path), ["transformations"]);
  assert.deepEqual(notDrawn({ type: "stat", transformations: [{ id: "merge", disabled: true }] }), []);
});
