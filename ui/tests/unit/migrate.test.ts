// Legacy panels migrated as Grafana migrates them on load. The old panels are our own;
// each expected panel is what Grafana's type-change handlers make of it (timeseries
// graphToTimeseriesOptions, the shared single-stat handler with the stat and gauge ones,
// the histogram's and the table's), worked out by their rules and checked against the
// shapes of Grafana's own migration snapshots.
import { test } from "node:test";
import assert from "node:assert/strict";
import support from "../../src/panel-support.json";
import { type PanelJson, isMigratedType, migrateDashboard, migratePanel, withRefIds } from "../../src/migrate";

const pos = { h: 8, w: 12, x: 0, y: 0 };
const targets = [{ refId: "A", expr: "rate(node_network_receive_bytes_total[5m])", legendFormat: "{{device}} rx" }];

/** Migrates `old` and compares the whole result with `expected`. */
function check(old: PanelJson, expected: PanelJson, schemaVersion = 16) {
  const before = JSON.stringify(old);
  assert.deepEqual(JSON.parse(JSON.stringify(migratePanel(old, schemaVersion))), expected);
  assert.equal(JSON.stringify(old), before, "the old panel is not changed");
}

test("a network graph: units, negative-Y by regex, right axis, colours, table legend, stacking", () => {
  check(
    {
      id: 7,
      type: "graph",
      title: "Network traffic",
      gridPos: pos,
      targets,
      repeat: "instance",
      maxPerRow: 4,
      datasource: "Prometheus",
      aliasColors: { "eth0 rx": "#7EB26D", unused: "" },
      bars: false,
      dashLength: 10,
      dashes: false,
      fill: 2,
      fillGradient: 0,
      legend: { alignAsTable: true, avg: true, current: true, max: true, min: false, rightSide: true, show: true, total: false, values: true, sideWidth: 350 },
      lines: true,
      linewidth: 1,
      nullPointMode: "null",
      percentage: false,
      pointradius: 5,
      points: false,
      seriesOverrides: [
        { $$hashKey: "object:1", alias: "/.*tx.*/", transform: "negative-Y", fill: 0 },
        { alias: "errors", yaxis: 2, lines: false, bars: true, color: "#E24D42", stack: "B" },
        { yaxis: 2 },
      ],
      spaceLength: 10,
      stack: false,
      steppedLine: false,
      thresholds: [],
      tooltip: { shared: true, sort: 2, value_type: "individual" },
      xaxis: { mode: "time", show: true, values: [] },
      yaxes: [
        { format: "bps", label: "bits out (-) / in (+)", logBase: 1, max: null, min: "0", show: true, decimals: null },
        { format: "short", label: null, logBase: 10, max: "100", min: null, show: true },
      ],
      yaxis: { align: false },
    },
    {
      id: 7,
      type: "timeseries",
      title: "Network traffic",
      gridPos: pos,
      targets,
      repeat: "instance",
      maxPerRow: 4,
      datasource: "Prometheus",
      fieldConfig: {
        defaults: {
          unit: "bps",
          min: 0,
          custom: {
            axisPlacement: "auto",
            axisLabel: "bits out (-) / in (+)",
            drawStyle: "line",
            showPoints: "never",
            lineWidth: 1,
            fillOpacity: 20,
            spanNulls: false,
          },
          nullValueMode: "null",
        },
        overrides: [
          { matcher: { id: "byName", options: "eth0 rx" }, properties: [{ id: "color", value: { mode: "fixed", fixedColor: "#7EB26D" } }] },
          {
            matcher: { id: "byRegexp", options: "/.*tx.*/" },
            properties: [
              { id: "custom.transform", value: "negative-Y" },
              { id: "custom.fillOpacity", value: 0 },
            ],
          },
          {
            matcher: { id: "byName", options: "errors" },
            properties: [
              // The right axis' settings that differ from the left's.
              { id: "unit", value: "short" },
              { id: "max", value: 100 },
              { id: "custom.scaleDistribution", value: { type: "log", log: 10 } },
              { id: "custom.lineWidth", value: 0 },
              { id: "custom.drawStyle", value: "bars" },
              { id: "custom.fillOpacity", value: 100 },
              { id: "color", value: { fixedColor: "#E24D42", mode: "fixed" } },
              { id: "custom.stacking", value: { mode: "normal", group: "B" } },
            ],
          },
        ],
      },
      options: {
        legend: { displayMode: "table", showLegend: true, placement: "right", calcs: ["mean", "lastNotNull", "max"], width: 350 },
        tooltip: { mode: "multi", sort: "desc" },
      },
    },
  );
});

test("graph defaults: points only, no legend, stacked bars with steps and dashes", () => {
  check(
    { type: "graph", title: "Points", gridPos: pos, lines: false, points: true, pointradius: 2, legend: { show: false } },
    {
      type: "timeseries",
      title: "Points",
      gridPos: pos,
      fieldConfig: { defaults: { custom: { drawStyle: "points", showPoints: "always", pointSize: 6, spanNulls: false } }, overrides: [] },
      options: { legend: { displayMode: "list", showLegend: false, placement: "bottom", calcs: [] }, tooltip: { mode: "single", sort: "none" } },
    },
  );
  check(
    { type: "graph", title: "Bars", gridPos: pos, bars: true, lines: true, fill: 1, stack: true, steppedLine: true, dashes: true, dashLength: 4, nullPointMode: "connected", linewidth: 2 },
    {
      type: "timeseries",
      title: "Bars",
      gridPos: pos,
      fieldConfig: {
        defaults: {
          custom: {
            drawStyle: "bars",
            showPoints: "never",
            lineWidth: 2,
            lineStyle: { fill: "dash", dash: [4, 10] },
            // Bars were always solid.
            fillOpacity: 100,
            spanNulls: true,
            lineInterpolation: "stepAfter",
            stacking: { mode: "normal", group: "A" },
          },
          nullValueMode: "connected",
        },
        overrides: [],
      },
      options: { legend: { displayMode: "list", showLegend: true, placement: "bottom", calcs: [] }, tooltip: { mode: "single", sort: "none" } },
    },
  );
});

test("graph thresholds become steps and a threshold style", () => {
  const migrated = migratePanel({
    type: "graph",
    gridPos: pos,
    lines: true,
    thresholds: [
      { colorMode: "critical", fill: true, line: false, op: "gt", value: 90 },
      { colorMode: "warning", fill: true, line: true, op: "gt", value: 70 },
      { colorMode: "custom", fill: false, line: true, op: "lt", value: 10, lineColor: "#1F78C1" },
    ],
  });
  assert.deepEqual(migrated.fieldConfig.defaults.thresholds, {
    mode: "absolute",
    steps: [
      // Below 10 in the lt band's colour, transparent up to the first gt band.
      { value: null, color: "#1F78C1" },
      { value: 10, color: "transparent" },
      { value: 70, color: "orange" },
      { value: 90, color: "red" },
    ],
  });
  assert.deepEqual(migrated.fieldConfig.defaults.custom.thresholdsStyle, { mode: "line+area" });
  // Only gt bands: a transparent base below the first.
  const gt = migratePanel({ type: "graph", gridPos: pos, thresholds: [{ colorMode: "warning", fill: false, line: true, op: "gt", value: 5 }] });
  assert.deepEqual(gt.fieldConfig.defaults.thresholds.steps, [
    { value: null, color: "transparent" },
    { value: 5, color: "orange" },
  ]);
  assert.deepEqual(gt.fieldConfig.defaults.custom.thresholdsStyle, { mode: "line" });
});

test("a graph's legend hideZero and hideEmpty and a hidden time axis are overrides", () => {
  const migrated = migratePanel({ type: "graph", gridPos: pos, legend: { show: true, hideZero: true, hideEmpty: true }, xaxis: { mode: "time", show: false } });
  assert.deepEqual(migrated.fieldConfig.overrides, [
    { matcher: { id: "byValue", options: { reducer: "allIsZero", op: "gte", value: 0 } }, properties: [{ id: "custom.hideFrom", value: { tooltip: true, viz: false, legend: true } }] },
    { matcher: { id: "byValue", options: { reducer: "allIsNull", op: "gte", value: 0 } }, properties: [{ id: "custom.hideFrom", value: { tooltip: true, viz: false, legend: true } }] },
    { matcher: { id: "byType", options: "time" }, properties: [{ id: "custom.axisPlacement", value: "hidden" }] },
  ]);
});

test("a graph keeps its standard field config and drops its custom overrides", () => {
  const migrated = migratePanel({
    type: "graph",
    gridPos: pos,
    lines: true,
    fieldConfig: {
      defaults: { displayName: "Load", custom: { old: 1 } },
      overrides: [
        { matcher: { id: "byName", options: "a" }, properties: [{ id: "custom.width", value: 3 }] },
        { matcher: { id: "byName", options: "b" }, properties: [{ id: "unit", value: "s" }, { id: "custom.x", value: 1 }] },
      ],
    },
    yaxes: [{ format: "percent", show: false }],
  });
  assert.deepEqual(migrated.fieldConfig, {
    defaults: { displayName: "Load", unit: "percent", custom: { axisPlacement: "hidden", drawStyle: "line", showPoints: "never", spanNulls: false } },
    overrides: [{ matcher: { id: "byName", options: "b" }, properties: [{ id: "unit", value: "s" }] }],
  });
});

test("a graph of series (x axis mode series) is a bar gauge; a histogram graph, a histogram", () => {
  check(
    { type: "graph", title: "Per disk", gridPos: pos, targets, xaxis: { mode: "series", values: ["current", "max", "nonsense"] }, legend: { show: true, values: true, avg: true }, yaxes: [{ format: "bytes", show: true }] },
    {
      type: "bargauge",
      title: "Per disk",
      gridPos: pos,
      targets,
      // The y axis unit is not carried over, as in Grafana.
      fieldConfig: { defaults: { custom: {}, color: { mode: "palette-classic" } }, overrides: [] },
      options: { orientation: "auto", reduceOptions: { values: false, calcs: ["lastNotNull", "max"] }, legend: { displayMode: "list", showLegend: true, placement: "bottom", calcs: ["mean"] } },
    },
  );
  check(
    { type: "graph", title: "Latency", gridPos: pos, xaxis: { mode: "histogram", buckets: 20 }, stack: true, percentage: true },
    {
      type: "histogram",
      title: "Latency",
      gridPos: pos,
      fieldConfig: { defaults: { custom: { stacking: { mode: "percent", group: "A" } } }, overrides: [] },
      options: { legend: { displayMode: "list", showLegend: true, placement: "bottom", calcs: [] }, tooltip: { mode: "single", sort: "none" }, combine: false },
    },
  );
});

const singlestat = {
  id: 3,
  type: "singlestat",
  title: "Root FS used",
  gridPos: { h: 4, w: 4, x: 0, y: 1 },
  targets,
  cacheTimeout: null,
  colorBackground: false,
  colorValue: true,
  colors: ["rgba(50, 172, 45, 0.97)", "rgba(237, 129, 40, 0.89)", "rgba(245, 54, 54, 0.9)"],
  decimals: 1,
  format: "percent",
  gauge: { maxValue: 100, minValue: 0, show: false, thresholdLabels: false, thresholdMarkers: true },
  mappingType: 1,
  nullPointMode: "null",
  nullText: "n/a",
  postfix: "",
  prefix: "",
  rangeMaps: [{ from: "null", text: "N/A", to: "null" }],
  sparkline: { fillColor: "rgba(31, 118, 189, 0.18)", full: false, lineColor: "rgb(31, 120, 193)", show: true },
  tableColumn: "",
  thresholds: "70,90",
  valueMaps: [
    { op: "=", text: "N/A", value: "null" },
    { op: "=", text: "95", value: "1" },
  ],
  valueName: "current",
};

test("a singlestat is a stat: reducer, unit, thresholds, value maps coloured by them, sparkline", () => {
  check(singlestat, {
    id: 3,
    type: "stat",
    title: "Root FS used",
    gridPos: { h: 4, w: 4, x: 0, y: 1 },
    targets,
    cacheTimeout: null,
    fieldConfig: {
      defaults: {
        unit: "percent",
        nullValueMode: "null",
        noValue: "n/a",
        decimals: 1,
        thresholds: {
          mode: "absolute",
          steps: [
            { value: null, color: "rgba(50, 172, 45, 0.97)" },
            { value: 70, color: "rgba(237, 129, 40, 0.89)" },
            { value: 90, color: "rgba(245, 54, 54, 0.9)" },
          ],
        },
        // Before schema 30 Grafana then gathers the value-to-text mappings, first.
        mappings: [
          // "95" read as a number is past the 90 step: that step's colour.
          { type: "value", options: { "1": { text: "95", color: "rgba(245, 54, 54, 0.9)" } } },
          { type: "special", options: { match: "null", result: { text: "N/A" } } },
        ],
      },
      overrides: [],
    },
    options: { reduceOptions: { calcs: ["lastNotNull"] }, orientation: "horizontal", graphMode: "area", colorMode: "value" },
  });
});

test("singlestat variations: background, no colour with a sparkline colour, name, range maps, unknown reducer", () => {
  const bg = migratePanel({ ...singlestat, colorBackground: true, sparkline: { show: false }, valueName: "avg", valueMaps: [], mappingType: undefined });
  assert.deepEqual(bg.options, { reduceOptions: { calcs: ["mean"] }, orientation: "horizontal", graphMode: "none", colorMode: "background" });
  assert.deepEqual(bg.fieldConfig.defaults.mappings, [{ type: "special", options: { match: "null", result: { text: "N/A" } } }]);

  const plain = migratePanel({ ...singlestat, colorValue: false, valueName: "name", thresholds: "", mappingType: 2, rangeMaps: [{ from: "0", to: "10", text: "low" }] });
  assert.deepEqual(plain.options, { reduceOptions: { calcs: ["mean"] }, orientation: "horizontal", graphMode: "area", colorMode: "none", textMode: "name" });
  assert.deepEqual(plain.fieldConfig.defaults.color, { mode: "fixed", fixedColor: "rgb(31, 120, 193)" });
  assert.equal(plain.fieldConfig.defaults.thresholds, undefined);
  assert.deepEqual(plain.fieldConfig.defaults.mappings, [{ type: "range", options: { from: 0, to: 10, result: { text: "low" } } }]);

  const total = migratePanel({ ...singlestat, valueName: "total", format: "none", decimals: 0 });
  assert.deepEqual(total.options.reduceOptions, { calcs: ["sum"] });
  assert.equal(total.fieldConfig.defaults.decimals, 0);
  assert.equal(total.fieldConfig.defaults.unit, "none");
});

test("a singlestat showing its gauge is a gauge with min, max and threshold markers (before schema 28)", () => {
  const gauge = migratePanel({ ...singlestat, gauge: { maxValue: 200, minValue: 10, show: true, thresholdLabels: true, thresholdMarkers: false } }, 16);
  assert.equal(gauge.type, "gauge");
  assert.equal(gauge.fieldConfig.defaults.min, 10);
  assert.equal(gauge.fieldConfig.defaults.max, 200);
  assert.deepEqual(gauge.options, { reduceOptions: { calcs: ["lastNotNull"] }, orientation: "horizontal", showThresholdMarkers: false, showThresholdLabels: true });
  // From schema 28 Grafana maps every singlestat to a stat.
  const stat = migratePanel({ ...singlestat, gauge: { maxValue: 200, minValue: 10, show: true } }, 30);
  assert.equal(stat.type, "stat");
  assert.equal(stat.fieldConfig.defaults.max, 200);
});

const oldTable = {
  id: 9,
  type: "table-old",
  title: "Disks",
  gridPos: pos,
  targets: [{ refId: "A", expr: "node_filesystem_size_bytes", format: "table", instant: true }],
  columns: [
    { text: "Current", value: "current" },
    { text: "Max", value: "max" },
  ],
  fontSize: "100%",
  pageSize: null,
  showHeader: true,
  sort: { col: 0, desc: true },
  styles: [
    { alias: "Time", align: "auto", dateFormat: "YYYY-MM-DD HH:mm:ss", pattern: "Time", type: "date" },
    { alias: "", pattern: "__name__", type: "hidden" },
    { alias: "Size", align: "right", colorMode: "cell", colors: ["green", "orange", "red"], decimals: 2, pattern: "/Value.*/", thresholds: ["100", "1000"], type: "number", unit: "bytes" },
    { alias: "", align: "auto", colorMode: null, colors: [], decimals: 2, pattern: "/.*/", thresholds: [], type: "number", unit: "short" },
    { alias: "Link", link: true, linkUrl: "/d/abc?var-x=$__cell", linkTooltip: "open", pattern: "instance", type: "string" },
  ],
  transform: "timeseries_aggregations",
};

test("a table-old is a table: its transform a transformation, its styles overrides", () => {
  check(oldTable, {
    id: 9,
    type: "table",
    title: "Disks",
    gridPos: pos,
    targets: oldTable.targets,
    transformations: [{ id: "reduce", options: { reducers: ["lastNotNull", "max"], includeTimeField: false } }],
    fieldConfig: {
      defaults: { unit: "short", decimals: 2, custom: { align: null } },
      overrides: [
        {
          matcher: { id: "byName", options: "Time" },
          properties: [
            { id: "displayName", value: "Time" },
            { id: "unit", value: "time: YYYY-MM-DD HH:mm:ss" },
            { id: "custom.align", value: null },
          ],
        },
        { matcher: { id: "byName", options: "__name__" }, properties: [{ id: "custom.hidden", value: true }] },
        {
          matcher: { id: "byRegexp", options: "/Value.*/" },
          properties: [
            { id: "displayName", value: "Size" },
            { id: "unit", value: "bytes" },
            { id: "decimals", value: 2 },
            { id: "custom.cellOptions", value: { type: "color-background" } },
            { id: "custom.align", value: "right" },
            {
              id: "thresholds",
              value: {
                mode: "absolute",
                steps: [
                  { color: "green", value: null },
                  { color: "orange", value: 100 },
                  { color: "red", value: 1000 },
                ],
              },
            },
          ],
        },
        {
          matcher: { id: "byName", options: "instance" },
          properties: [
            { id: "displayName", value: "Link" },
            { id: "links", value: [{ title: "open", url: "/d/abc?var-x=$__cell", targetBlank: false }] },
          ],
        },
      ],
    },
    options: {},
  });
});

test("the angular `table` of schema < 24 is migrated; a React table is left alone", () => {
  const angular = { ...oldTable, type: "table", transform: "timeseries_to_columns" };
  const migrated = migratePanel(angular, 18);
  assert.equal(migrated.type, "table");
  assert.deepEqual(migrated.transformations, [{ id: "seriesToColumns", options: { reducers: [] } }]);
  assert.equal(migrated.styles, undefined);
  // The same panel saved at schema 30, or a React table (table2), or one with no styles.
  assert.equal(migratePanel(angular, 30), angular);
  const react = { ...angular, table: "table2" };
  assert.equal(migratePanel(react, 18), react);
  const plain = { type: "table", gridPos: pos, options: { showHeader: true } };
  assert.equal(migratePanel(plain, 18), plain);
});

test("a dashboard's legacy panels are migrated, collapsed rows' panels included; others are untouched", () => {
  const stat = { type: "stat", gridPos: pos, options: { graphMode: "none" } };
  const dashboard = {
    title: "Old",
    schemaVersion: 16,
    panels: [
      stat,
      { type: "row", collapsed: true, gridPos: pos, panels: [{ type: "graph", gridPos: pos, lines: true }, { ...singlestat }] },
      { type: "table-old", gridPos: pos, styles: [], transform: "table" },
    ],
  };
  const before = JSON.stringify(dashboard);
  const migrated = migrateDashboard(dashboard);
  assert.equal(JSON.stringify(dashboard), before, "the dashboard is not changed");
  assert.equal(migrated.panels[0], stat);
  assert.deepEqual(
    migrated.panels[1].panels.map((p: PanelJson) => p.type),
    ["timeseries", "stat"],
  );
  assert.equal(migrated.panels[1].collapsed, true);
  assert.deepEqual(migrated.panels[2].transformations, [{ id: "merge", options: { reducers: [] } }]);
  assert.deepEqual(migrated.panels[2].fieldConfig, { defaults: { custom: {} }, overrides: [] });
  // No panels: nothing to do.
  const empty = { title: "x" };
  assert.equal(migrateDashboard(empty), empty);
});

test("legacy value mappings of any panel are upgraded before schema 30", () => {
  const gauge = {
    type: "gauge",
    gridPos: pos,
    fieldConfig: {
      defaults: {
        thresholds: { mode: "absolute", steps: [{ color: "green", value: null }, { color: "red", value: 1 }] },
        mappings: [
          { id: 0, op: "=", text: "N/A", type: 1, value: "null" },
          { id: 1, op: "=", text: "0", type: 1, value: "0" },
          { id: 2, text: "high", type: 2, from: "10", to: "20" },
          { type: "value", options: { "5": { text: "five" } } },
        ],
      },
      overrides: [{ matcher: { id: "byName", options: "x" }, properties: [{ id: "mappings", value: [{ id: 0, text: "2", type: 1, value: "1" }] }] }],
    },
  };
  const migrated = migratePanel(gauge, 26);
  assert.deepEqual(migrated.fieldConfig.defaults.mappings, [
    // "0" as a number is at the base step: green.
    { type: "value", options: { "0": { text: "0", color: "green" }, "5": { text: "five" } } },
    { type: "special", options: { match: "null", result: { text: "N/A" } } },
    { type: "range", options: { from: 10, to: 20, result: { text: "high" } } },
  ]);
  // Overrides' mappings are upgraded without thresholds, so without colours.
  assert.deepEqual(migrated.fieldConfig.overrides[0].properties[0].value, [{ type: "value", options: { "1": { text: "2" } } }]);
  assert.equal(migratePanel(gauge, 30), gauge);
});

test("the migrated types", () => {
  for (const t of ["graph", "singlestat", "grafana-singlestat-panel", "table-old"]) assert.ok(isMigratedType(t), t);
  for (const t of ["timeseries", "table", "row", "constructor", "toString"]) assert.ok(!isMigratedType(t), t);
});

test("panel-support.json: every migrated type and what it becomes are drawn", () => {
  const drawn = new Set(support.drawn);
  for (const [from, to] of Object.entries(support.migrated)) {
    assert.ok(drawn.has(from), `${from} is listed as drawn`);
    assert.ok(drawn.has(to), `${to} is drawn`);
  }
  // What a graph may become besides a time series, and a singlestat besides a stat.
  for (const t of ["bargauge", "histogram", "gauge"]) assert.ok(drawn.has(t), t);
  for (const t of support.queryless) assert.ok(drawn.has(t), t);
});

test("queries without a refId are given the first letters free, as Grafana gives them", () => {
  const panel = { type: "table", targets: [{ expr: "a" }, { refId: "A", expr: "b" }, { expr: "c" }, { refId: "", expr: "d" }] };
  assert.deepEqual(
    withRefIds(panel).targets.map((t: { refId: string }) => t.refId),
    ["B", "A", "C", "D"],
  );
  const many = { type: "timeseries", targets: Array.from({ length: 28 }, () => ({ expr: "x" })) };
  assert.deepEqual(withRefIds(many).targets.slice(25).map((t: { refId: string }) => t.refId), ["Z", "AA", "AB"]);
  const named = { type: "timeseries", targets: [{ refId: "A" }] };
  assert.equal(withRefIds(named), named, "a panel whose queries all have one is returned as it is");
  // Every panel is given them on load, in rows too.
  const d = migrateDashboard({ schemaVersion: 39, panels: [{ type: "row", panels: [panel] }] });
  assert.equal(d.panels[0].panels[0].targets[0].refId, "B");
});
