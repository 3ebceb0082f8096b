// Dashboard layout as Grafana's: rows, their panels under them, repeats, compaction.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LEGEND_MAX_SHARE, type LayoutPanel, MIN_CHART_PX, compact, layout, legendSplit } from "../../src/layout";

const none = () => [];
const pos = (x: number, y: number, w: number, h: number) => ({ x, y, w, h });
const boxes = (placed: { panel: LayoutPanel; pos: { x: number; y: number; w: number; h: number } }[]) =>
  placed.map((p) => `${p.panel.title}@${p.pos.x},${p.pos.y},${p.pos.w},${p.pos.h}`);

test("an opened collapsed row puts its panels directly under its header", () => {
  // Saved while open far down the page (y 500), then collapsed at y 3.
  const panels: LayoutPanel[] = [
    { id: 1, type: "stat", title: "a", gridPos: pos(0, 0, 12, 3) },
    {
      id: 2,
      type: "row",
      title: "r",
      collapsed: true,
      gridPos: pos(0, 3, 24, 1),
      panels: [
        { id: 3, type: "timeseries", title: "b", gridPos: pos(0, 500, 12, 8) },
        { id: 4, type: "timeseries", title: "c", gridPos: pos(12, 500, 12, 8) },
        { id: 5, type: "timeseries", title: "d", gridPos: pos(0, 508, 24, 6) },
      ],
    },
    { id: 6, type: "row", title: "s", collapsed: true, gridPos: pos(0, 4, 24, 1), panels: [] },
  ];
  assert.deepEqual(boxes(layout(panels, new Set(), none)), ["a@0,0,12,3", "r@0,3,24,1", "s@0,4,24,1"]);
  assert.deepEqual(boxes(layout(panels, new Set(["2|"]), none)), [
    "a@0,0,12,3",
    "r@0,3,24,1",
    "b@0,4,12,8",
    "c@12,4,12,8",
    "d@0,12,24,6",
    "s@0,18,24,1",
  ]);
});

test("two opened rows never overlap each other or their headers", () => {
  const row = (id: number, y: number, inner: number): LayoutPanel => ({
    id,
    type: "row",
    title: `row${id}`,
    collapsed: true,
    gridPos: pos(0, y, 24, 1),
    panels: [
      { id: id * 10, type: "timeseries", title: `p${id}a`, gridPos: pos(0, inner, 12, 7) },
      { id: id * 10 + 1, type: "timeseries", title: `p${id}b`, gridPos: pos(12, inner + 2, 12, 7) },
    ],
  });
  const placed = layout([row(1, 0, 40), row(2, 1, 3)], new Set(["1|", "2|"]), none);
  // p1b was saved two units lower than p1a; the grid floats it up, as Grafana's does.
  for (const a of placed)
    for (const b of placed)
      if (a !== b)
        assert.ok(
          a.pos.x >= b.pos.x + b.pos.w || b.pos.x >= a.pos.x + a.pos.w || a.pos.y >= b.pos.y + b.pos.h || b.pos.y >= a.pos.y + a.pos.h,
          `${a.panel.title} overlaps ${b.panel.title}`,
        );
  assert.deepEqual(boxes(placed), ["row1@0,0,24,1", "p1a@0,1,12,7", "p1b@12,1,12,7", "row2@0,8,24,1", "p2a@0,9,12,7", "p2b@12,9,12,7"]);
});

test("an open row's panels follow it, and gaps close upwards", () => {
  const panels: LayoutPanel[] = [
    { id: 1, type: "row", title: "r", gridPos: pos(0, 0, 24, 1) },
    { id: 2, type: "stat", title: "a", gridPos: pos(0, 5, 8, 4) },
    { id: 3, type: "stat", title: "b", gridPos: pos(8, 9, 8, 4) },
  ];
  assert.deepEqual(boxes(layout(panels, new Set(), none)), ["r@0,0,24,1", "a@0,1,8,4", "b@8,1,8,4"]);
});

test("a repeated panel is cloned across the row, maxPerRow wide at most", () => {
  const values = (v: string) => (v === "instance" ? ["n1", "n2", "n3", "n4", "n5", "n6"] : []);
  const panels: LayoutPanel[] = [
    { id: 1, type: "gauge", title: "cpu $instance", repeat: "instance", maxPerRow: 4, gridPos: pos(0, 0, 6, 5) },
    { id: 2, type: "timeseries", title: "below", gridPos: pos(0, 5, 24, 8) },
  ];
  const placed = layout(panels, new Set(), values);
  assert.deepEqual(
    placed.map((p) => `${p.scoped.instance ?? "-"}@${p.pos.x},${p.pos.y},${p.pos.w}`),
    ["n1@0,0,6", "n2@6,0,6", "n3@12,0,6", "n4@18,0,6", "n5@0,5,6", "n6@6,5,6", "-@0,10,24"],
  );
  // Two values share the row.
  const two = layout(panels, new Set(), (v) => (v === "instance" ? ["a", "b"] : []));
  assert.deepEqual(two.map((p) => p.pos.w), [12, 12, 24]);
  // Vertically: one under the other, as wide as the panel.
  const vertical = layout([{ ...panels[0], repeatDirection: "v" }, panels[1]], new Set(), (v) => (v === "instance" ? ["a", "b"] : []));
  assert.deepEqual(vertical.map((p) => `${p.pos.x},${p.pos.y},${p.pos.w}`), ["0,0,6", "0,5,6", "0,10,24"]);
});

test("a repeated row is one row per value, each with its panels", () => {
  const panels: LayoutPanel[] = [
    { id: 1, type: "row", title: "disk $device", repeat: "device", gridPos: pos(0, 0, 24, 1) },
    { id: 2, type: "timeseries", title: "io", gridPos: pos(0, 1, 24, 6) },
  ];
  const placed = layout(panels, new Set(), (v) => (v === "device" ? ["sda", "sdb"] : []));
  assert.deepEqual(
    placed.map((p) => `${p.panel.title}[${p.scoped.device}]@${p.pos.y}`),
    ["disk $device[sda]@0", "io[sda]@1", "disk $device[sdb]@7", "io[sdb]@8"],
  );
  assert.equal(new Set(placed.map((p) => p.key)).size, 4);
});

test("compaction moves a panel under the one it overlaps", () => {
  const out = compact([{ pos: pos(0, 0, 12, 4) }, { pos: pos(6, 2, 12, 4) }]);
  assert.deepEqual(out.map((o) => o.pos.y), [0, 4]);
});

test("a legend of many series scrolls in its share of the panel, the chart keeps the rest", () => {
  // Regression: "Peers per node" of twenty nodes, 8 grid units tall (296 px, 264 px under
  // the title) and half the width (three names to a legend row: seven rows of 28 px): the
  // legend took 196 px and left the chart 68 px, where the y axis showed one tick, 0, and
  // every node's line (12 peers) looked flat at it.
  const split = legendSplit(264, 7, 28);
  assert.equal(split.legendMax, Math.floor(264 * LEGEND_MAX_SHARE));
  assert.equal(split.legend, split.legendMax);
  assert.equal(split.chart, 264 - split.legendMax);
  assert.ok(split.chart >= 0.65 * 264);
  // A short legend takes only what its rows need.
  assert.deepEqual(legendSplit(264, 1, 28), { chart: 236, legend: 28, legendMax: 92 });
  // No legend: all of it is the chart's; a tiny panel keeps a chart of the minimum height.
  assert.equal(legendSplit(264, 0, 28).chart, 264);
  assert.equal(legendSplit(40, 3, 28).chart, MIN_CHART_PX);
});
