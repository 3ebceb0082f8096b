// Log lines as the logs page and the dashboards' logs panel draw them: a row per line with
// its level's colour, its time, its labels if asked and its text; a row with a trace has a
// link to it; a click opens the line's details (stream labels, structured metadata, the
// fields of its JSON or logfmt) with "filter for" and "filter out" buttons where the page
// can edit its query. Above the lines, the volume histogram, bars stacked by level.

import { useMemo, useState } from "preact/hooks";
import {
  type Bucket,
  type Dedup,
  LEVELS,
  LEVEL_COLORS,
  type Labels,
  type Level,
  type LogRow,
  commonLabels,
  dedupRows,
  levelOf,
  parseFields,
  traceOf,
} from "./log-model";

/** What a filter button asks: where the value is, and for or out. */
export interface FilterAsk {
  place: "stream" | "metadata" | "parsed" | "field";
  name: string;
  value: string;
  op: "=" | "!=";
  /** The parser that finds a field of the line's text. */
  parser?: "json" | "logfmt";
}

export interface LineOptions {
  showTime: boolean;
  showLabels: boolean;
  showCommonLabels: boolean;
  wrap: boolean;
  prettify: boolean;
  details: boolean;
  dedup: Dedup;
}

export const DEFAULT_LINE_OPTIONS: LineOptions = {
  showTime: true,
  showLabels: false,
  showCommonLabels: false,
  wrap: true,
  prettify: false,
  details: true,
  dedup: "none",
};

/** A line's time as `YYYY-MM-DD HH:MM:SS.mmm`, local. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function labelText(labels: Labels): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(" ");
}

function prettified(line: string): string {
  const t = line.trim();
  if (!t.startsWith("{")) return line;
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return line;
  }
}

export function LogLines({ rows, options, onFilter }: { rows: LogRow[]; options: LineOptions; onFilter?: (ask: FilterAsk) => void }) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  const shown = useMemo(() => dedupRows(rows, options.dedup), [rows, options.dedup]);
  const common = useMemo(() => (options.showCommonLabels || options.showLabels ? commonLabels(rows) : {}), [rows, options.showCommonLabels, options.showLabels]);
  const toggle = (key: string) => {
    const next = new Set(open);
    next.has(key) ? next.delete(key) : next.add(key);
    setOpen(next);
  };
  return (
    <div class={`log-lines${options.wrap ? " wrap" : ""}`}>
      {options.showCommonLabels && Object.keys(common).length > 0 && (
        <p class="log-common muted">
          Common labels: <span class="mono">{labelText(common)}</span>
        </p>
      )}
      {shown.map(({ row, count }) => (
        <LogLine key={row.key} row={row} count={count} options={options} common={common} open={open.has(row.key)} onToggle={() => toggle(row.key)} onFilter={onFilter} />
      ))}
    </div>
  );
}

function LogLine({
  row,
  count,
  options,
  common,
  open,
  onToggle,
  onFilter,
}: {
  row: LogRow;
  count: number;
  options: LineOptions;
  common: Labels;
  open: boolean;
  onToggle: () => void;
  onFilter?: (ask: FilterAsk) => void;
}) {
  const fields = useMemo(() => parseFields(row.line), [row.line]);
  const level = levelOf(row);
  const trace = traceOf(row, fields);
  const own = options.showLabels ? Object.fromEntries(Object.entries(row.stream).filter(([k]) => !(k in common))) : {};
  return (
    <div class={`log-row level-${level}${open ? " open" : ""}`} data-level={level} data-ms={Math.floor(row.ms)} data-trace-id={trace?.traceId}>
      <div
        class="log-summary"
        role={options.details ? "button" : undefined}
        tabIndex={options.details ? 0 : undefined}
        aria-expanded={options.details ? open : undefined}
        onClick={(e) => options.details && !(e.target as Element).closest("a") && onToggle()}
        onKeyDown={(e) => options.details && (e.key === "Enter" || e.key === " ") && (e.preventDefault(), onToggle())}
      >
        <span class="log-level" style={{ background: LEVEL_COLORS[level] }} title={level} />
        {count > 1 && <span class="log-dups badge">{count}×</span>}
        {options.showTime && <span class="log-time">{formatTime(row.ms)}</span>}
        {options.showLabels && Object.keys(own).length > 0 && <span class="log-labels">{labelText(own)}</span>}
        <span class="log-text">{options.prettify ? <pre>{prettified(row.line)}</pre> : row.line}</span>
        {trace && (
          <a class="log-trace" href={`/traces/${trace.traceId}${trace.spanId ? `?span=${trace.spanId}` : ""}`} title={`Open trace ${trace.traceId}`}>
            trace
          </a>
        )}
      </div>
      {open && <LogDetails row={row} fields={fields} onFilter={onFilter} />}
    </div>
  );
}

function LogDetails({ row, fields, onFilter }: { row: LogRow; fields: ReturnType<typeof parseFields>; onFilter?: (ask: FilterAsk) => void }) {
  const sections: [string, FilterAsk["place"], [string, string][], FilterAsk["parser"]][] = [
    ["Stream labels", "stream", Object.entries(row.stream), undefined],
    ["Structured metadata", "metadata", Object.entries(row.metadata), undefined],
    ["Parsed labels", "parsed", Object.entries(row.parsed), undefined],
    [fields.format === "json" ? "Fields (JSON)" : "Fields (logfmt)", "field", fields.fields, fields.format ?? undefined],
  ];
  return (
    <div class="log-details">
      {sections
        .filter(([, , entries]) => entries.length > 0)
        .map(([title, place, entries, parser]) => (
          <table class="grid log-fields" data-place={place}>
            <caption>{title}</caption>
            <tbody>
              {entries.map(([k, v]) => (
                <tr>
                  <th>{k}</th>
                  <td class="mono">{v}</td>
                  {onFilter && (
                    <td class="log-filter">
                      <button type="button" title={`Filter for ${k}="${v}"`} aria-label={`Filter for ${k}`} onClick={() => onFilter({ place, name: k, value: v, op: "=", parser })}>
                        +
                      </button>
                      <button type="button" title={`Filter out ${k}="${v}"`} aria-label={`Filter out ${k}`} onClick={() => onFilter({ place, name: k, value: v, op: "!=", parser })}>
                        −
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </div>
  );
}

/** The volume histogram: a bar per step, stacked by level, most severe at the bottom; a
 * bar's click narrows the range to its step. */
export function VolumeHistogram({ buckets, step, note, onPick }: { buckets: Bucket[]; step: number; note?: string; onPick?: (fromMs: number, toMs: number) => void }) {
  const most = Math.max(1, ...buckets.map((b) => b.total));
  const present = LEVELS.filter((l) => buckets.some((b) => b.counts[l]));
  const total = buckets.reduce((n, b) => n + b.total, 0);
  const w = 100 / buckets.length;
  return (
    <figure class="log-volume" data-total={total}>
      <svg viewBox="0 0 100 40" preserveAspectRatio="none" role="img" aria-label="Log volume by level">
        {buckets.map((b, i) => {
          let y = 40;
          return (
            <g class="bin" onClick={() => b.total && onPick?.(b.t * 1000, (b.t + step) * 1000)}>
              <title>
                {formatTime(b.t * 1000)}: {b.total} {b.total === 1 ? "line" : "lines"}
                {present.filter((l) => b.counts[l]).map((l) => `, ${b.counts[l]} ${l}`).join("")}
              </title>
              {/* An invisible full-height target, so that short bars are easy to click. */}
              <rect x={i * w} width={w} y={0} height={40} fill="transparent" />
              {present.map((l) => {
                const n = b.counts[l] ?? 0;
                if (!n) return null;
                const h = (n / most) * 38;
                y -= h;
                return <rect x={i * w + w * 0.08} width={w * 0.84} y={y} height={h} fill={LEVEL_COLORS[l as Level]} data-level={l} />;
              })}
            </g>
          );
        })}
      </svg>
      <figcaption class="muted">
        <span>{buckets.length ? formatTime(buckets[0].t * 1000).slice(5, 16) : ""}</span>
        <span class="log-legend">
          {present.map((l) => (
            <span>
              <span class="svc-swatch" style={{ background: LEVEL_COLORS[l] }} /> {l}
            </span>
          ))}
          {note && <span>{note}</span>}
        </span>
        <span>{buckets.length ? formatTime((buckets[buckets.length - 1].t + step) * 1000).slice(5, 16) : ""}</span>
      </figcaption>
    </figure>
  );
}
