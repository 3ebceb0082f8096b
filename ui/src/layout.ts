// Where a dashboard's panels go, as Grafana places them: rows own the panels under them
// (or, collapsed, in their own `panels`), an open row's panels sit directly under its
// header whatever `y` they were saved with, repeated rows and panels are cloned for each
// chosen value of their variable (`repeat`, `repeatDirection`, `maxPerRow`), and the grid
// is compacted upwards as Grafana's grid (react-grid-layout) compacts it. Pure functions of
// the dashboard JSON, so that they are unit-tested.

/** A panel's place on the 24-column grid, in grid units (a unit is 30 px tall). */
export interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** What the layout needs of a panel. */
export interface LayoutPanel {
  id?: number;
  type: string;
  title?: string;
  gridPos: GridPos;
  collapsed?: boolean;
  panels?: LayoutPanel[];
  repeat?: string;
  repeatDirection?: "h" | "v";
  maxPerRow?: number;
}

/** A panel placed: the panel, where it goes, and the variable values its clone is for. */
export interface Placed<P extends LayoutPanel> {
  panel: P;
  pos: GridPos;
  /** The repeat's variable and value this copy shows, if it is a repeat's copy. */
  scoped: Record<string, string>;
  /** A key that stays the same across renders: the panel's id and its scoped values. */
  key: string;
  /** For a row: its key in the set of expanded rows. */
  rowKey?: string;
}

export const COLUMNS = 24;

/** One row (or the panels before the first row) with the panels it owns. */
interface Section<P extends LayoutPanel> {
  row: P | null;
  panels: P[];
  scoped: Record<string, string>;
}

/**
 * The panels as drawn: `panels` is the dashboard's top-level list, `expanded` the keys of
 * the collapsed rows the user opened (and, with `collapsedKeys`, open rows the user
 * closed), `valuesOf` a variable's chosen values (every option for "All").
 */
export function layout<P extends LayoutPanel>(
  panels: P[],
  expanded: Set<string>,
  valuesOf: (variable: string) => string[],
): Placed<P>[] {
  // Sections: the panels before the first row, then each row with its panels.
  const sections: Section<P>[] = [{ row: null, panels: [], scoped: {} }];
  for (const p of panels) {
    if (p.type === "row") sections.push({ row: p, panels: p.collapsed ? ((p.panels ?? []) as P[]) : [], scoped: {} });
    else sections[sections.length - 1].panels.push(p);
  }
  // Repeated rows: one section per value, the row's panels cloned with it.
  const expandedSections: Section<P>[] = [];
  for (const s of sections) {
    const values = s.row?.repeat ? valuesOf(s.row.repeat) : [];
    if (!s.row?.repeat || values.length === 0) {
      expandedSections.push(s);
      continue;
    }
    for (const v of values) expandedSections.push({ row: s.row, panels: s.panels, scoped: { [s.row.repeat]: v } });
  }

  const out: Placed<P>[] = [];
  let cursor = 0;
  for (const s of expandedSections) {
    const scopedKey = Object.entries(s.scoped)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    let open = true;
    if (s.row) {
      const rowKey = `${s.row.id ?? s.row.title ?? ""}|${scopedKey}`;
      // A collapsed row opens when asked; an open row stays open (Grafana's rows saved
      // open show their panels).
      open = !s.row.collapsed || expanded.has(rowKey);
      out.push({
        panel: s.row,
        pos: { x: 0, y: cursor, w: COLUMNS, h: 1 },
        scoped: s.scoped,
        key: `row:${rowKey}`,
        rowKey,
      });
      cursor += 1;
    }
    if (!open || s.panels.length === 0) continue;
    // The section's panels keep their places relative to each other, moved so that the
    // highest sits at the cursor: directly under the header.
    const placed = repeatPanels(s.panels, valuesOf);
    const top = Math.min(...placed.map((p) => p.pos.y));
    let bottom = cursor;
    for (const p of placed) {
      const pos = { ...p.pos, y: p.pos.y - top + cursor };
      bottom = Math.max(bottom, pos.y + pos.h);
      const scoped = { ...s.scoped, ...p.scoped };
      out.push({ panel: p.panel, pos, scoped, key: `${p.panel.id ?? p.panel.title ?? ""}|${scopedKey}|${p.key}` });
    }
    cursor = bottom;
  }
  return compact(out);
}

/** A section's panels with each repeated panel cloned for its variable's values. */
function repeatPanels<P extends LayoutPanel>(
  panels: P[],
  valuesOf: (variable: string) => string[],
): { panel: P; pos: GridPos; scoped: Record<string, string>; key: string }[] {
  const out: { panel: P; pos: GridPos; scoped: Record<string, string>; key: string }[] = [];
  // How far the panels after a repeat move down, as Grafana moves them.
  let shift = 0;
  const sorted = [...panels].sort((a, b) => a.gridPos.y - b.gridPos.y || a.gridPos.x - b.gridPos.x);
  for (const panel of sorted) {
    const base = { ...panel.gridPos, y: panel.gridPos.y + shift };
    const values = panel.repeat ? valuesOf(panel.repeat) : [];
    if (!panel.repeat || values.length === 0) {
      out.push({ panel, pos: base, scoped: {}, key: "" });
      continue;
    }
    const maxPerRow = panel.maxPerRow || 4;
    let x = 0;
    let y = base.y;
    values.forEach((value, i) => {
      let pos: GridPos;
      if (panel.repeatDirection === "v") {
        if (i > 0) y += base.h;
        pos = { ...base, y };
      } else {
        // As wide as the values share the row, no narrower than maxPerRow allows.
        const w = Math.max(COLUMNS / values.length, COLUMNS / maxPerRow);
        pos = { x, y, w, h: base.h };
        x += w;
        if (x + w > COLUMNS) {
          x = 0;
          y += base.h;
        }
      }
      out.push({ panel, pos, scoped: { [panel.repeat!]: value }, key: `${panel.repeat}=${value}` });
    });
    // The last line of clones ends lower than the original did.
    const last = out[out.length - 1].pos;
    shift += last.y + last.h - (base.y + base.h);
  }
  return out;
}

function collides(a: GridPos, b: GridPos): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/**
 * Moves every panel up as far as it goes without overlapping one placed before it, in
 * order of `y` then `x`, as Grafana's grid compacts vertically; a panel overlapping one
 * above moves under it.
 */
export function compact<T extends { pos: GridPos }>(items: T[]): T[] {
  const order = items.map((item, i) => ({ item, i })).sort((a, b) => a.item.pos.y - b.item.pos.y || a.item.pos.x - b.item.pos.x || a.i - b.i);
  const done: T[] = [];
  for (const { item } of order) {
    const pos = { ...item.pos };
    const floor = done.reduce((m, d) => Math.max(m, d.pos.y + d.pos.h), 0);
    pos.y = Math.min(pos.y, floor);
    while (pos.y > 0 && !done.some((d) => collides(d.pos, { ...pos, y: pos.y - 1 }))) pos.y -= 1;
    for (let hit = done.find((d) => collides(d.pos, pos)); hit; hit = done.find((d) => collides(d.pos, pos))) {
      pos.y = hit.pos.y + hit.pos.h;
    }
    done.push({ ...item, pos });
  }
  return done;
}

/** The share of a time series panel's body that a legend under the chart takes at most,
 * as Grafana's `PlotLegend` (`maxHeight="35%"`); a longer legend scrolls. */
export const LEGEND_MAX_SHARE = 0.35;

/** The smallest chart drawn, in pixels. */
export const MIN_CHART_PX = 60;

/** How a panel body of `bodyPx` pixels is shared between its chart and a legend under it
 * of about `rows` rows of `rowPx` pixels: the legend is given what its rows need, and may
 * take `legendMax` at most (`LEGEND_MAX_SHARE` of the body), and the chart the rest. A
 * legend of many series thus scrolls rather than squeezing the chart to a strip, where
 * the y axis has room for one tick and every line looks flat at it. */
export function legendSplit(bodyPx: number, rows: number, rowPx: number): { chart: number; legend: number; legendMax: number } {
  const legendMax = Math.max(0, Math.floor(bodyPx * LEGEND_MAX_SHARE));
  const legend = Math.min(Math.max(0, rows * rowPx), legendMax);
  return { chart: Math.max(bodyPx - legend, MIN_CHART_PX), legend, legendMax };
}
