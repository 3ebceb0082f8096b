// What of a panel is not drawn as Grafana draws it (panel type, override matcher, colour
// mode, transformation, option), and a marker for the panel's title bar listing it. The
// same lists decide as in `skywatch check dashboards` (crates/dashboards, drawing.rs):
// panel-support.json, field-support.json (through fields.ts), transformations.json
// (through transformations.ts) and option-support.json; both are tested on
// crates/dashboards/testdata/not-drawn.json. A unit outside Grafana's catalogue is not
// listed: Grafana shows it as a suffix, and so does units.ts (the check notes it as a
// likely typo, without failing).

import { COLOR_MODES, isSupportedMatcher } from "./fields";
import optionSupport from "./option-support.json";
import panelSupport from "./panel-support.json";
import { isSupportedTransformation } from "./transformations";

/** One thing not drawn as Grafana draws it: its kind (as the check names it), its JSON
 * path within the panel, and what it is. */
export interface NotDrawn {
  kind: "panel-type" | "matcher" | "color-mode" | "transformation" | "option";
  path: string;
  what: string;
}

type Json = unknown;

function get(v: Json, key: string): Json {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, Json>)[key] : undefined;
}
function at(v: Json, path: string): Json {
  return path.split(".").reduce<Json>((x, k) => get(x, k), v);
}
function list(v: Json): Json[] {
  return Array.isArray(v) ? v : [];
}
function same(a: Json, b: Json): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
function shown(v: Json): string {
  return JSON.stringify(v);
}

const DRAWN = new Set(panelSupport.drawn);

/** What of `panel` (not a row) is not drawn as Grafana draws it; paths are relative to
 * the panel (`fieldConfig.defaults.unit`). A panel whose type is not drawn has only that. */
export function notDrawn(panel: Json): NotDrawn[] {
  const out: NotDrawn[] = [];
  // One entry a place: an unknown colour mode is not also a colour the chart ignores.
  const add = (kind: NotDrawn["kind"], path: string, what: string) => {
    if (!out.some((n) => n.path === path)) out.push({ kind, path, what });
  };
  const type = String(get(panel, "type") ?? "");
  if (!DRAWN.has(type)) {
    add("panel-type", "type", `panel type "${type}" is not drawn`);
    return out;
  }
  const overrides = list(at(panel, "fieldConfig.overrides"));

  if (type === "graph")
    list(get(panel, "yaxes")).forEach((axis, i) => {
      const base = get(axis, "logBase");
      if (typeof base === "number" && base !== 1) add("option", `yaxes[${i}].logBase`, `a logarithmic axis (drawn linear): ${base}`);
    });

  overrides.forEach((o, j) => {
    const id = at(o, "matcher.id");
    if (!isSupportedMatcher(typeof id === "string" ? id : undefined)) add("matcher", `fieldConfig.overrides[${j}].matcher.id`, `override matcher "${String(id ?? "")}" (its properties are lost)`);
  });

  const modes: [string, Json][] = [["fieldConfig.defaults.color.mode", at(panel, "fieldConfig.defaults.color.mode")]];
  overrides.forEach((o, j) =>
    list(get(o, "properties")).forEach((p, k) => {
      if (get(p, "id") === "color") modes.push([`fieldConfig.overrides[${j}].properties[${k}].value.mode`, at(p, "value.mode")]);
    }),
  );
  for (const [path, m] of modes) {
    if (typeof m === "string" && !COLOR_MODES.includes(m)) add("color-mode", path, `colour mode "${m}"`);
  }

  const enabled = list(get(panel, "transformations"))
    .map((t, i) => ({ t, i }))
    .filter(({ t }) => get(t, "disabled") !== true);
  if (enabled.length && !optionSupport.transformedPanels.includes(type)) {
    add("transformation", "transformations", "transformations (the data are drawn untransformed)");
  } else {
    for (const { t, i } of enabled) {
      const id = String(get(t, "id") ?? "");
      if (!isSupportedTransformation(id)) add("transformation", `transformations[${i}].id`, `transformation "${id}" (not applied)`);
    }
  }

  for (const rule of optionSupport.options) {
    if (rule.panels.length && !rule.panels.includes(type)) continue;
    const kind = (rule as { kind?: NotDrawn["kind"] }).kind ?? "option";
    const found: [string, Json][] = [[rule.path, at(panel, rule.path)]];
    const rest = rule.path.startsWith("fieldConfig.defaults.") ? rule.path.slice("fieldConfig.defaults.".length) : undefined;
    if (rest !== undefined)
      overrides.forEach((o, j) =>
        list(get(o, "properties")).forEach((p, k) => {
          const id = get(p, "id");
          if (typeof id !== "string") return;
          const place = `fieldConfig.overrides[${j}].properties[${k}].value`;
          if (id === rest) found.push([place, get(p, "value")]);
          else if (rest.startsWith(`${id}.`)) {
            const sub = rest.slice(id.length + 1);
            found.push([`${place}.${sub}`, at(get(p, "value"), sub)]);
          }
        }),
      );
    for (const [path, v] of found) {
      if (v === undefined || v === null || (rule.drawn as Json[]).some((d) => same(d, v))) continue;
      add(kind, path, `${rule.what}: ${shown(v)}`);
    }
  }
  return out;
}

/** A mark in a panel's title bar when something of it is not drawn as Grafana draws it;
 * its title lists what. */
export function NotDrawnMarker({ panel }: { panel: Json }) {
  const found = notDrawn(panel);
  if (!found.length) return null;
  const text = `Not drawn as Grafana draws it:\n${found.map((n) => `- ${n.what} (${n.path})`).join("\n")}`;
  return (
    <span class="panel-not-drawn" role="img" aria-label={text} title={text} data-not-drawn={found.map((n) => n.kind).join(" ")}>
      ⚠ {found.length}
    </span>
  );
}
