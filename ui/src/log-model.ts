// Log lines as the logs page and the logs panel draw them: rows read from Loki's answers
// (query_range's streams, with or without categorized labels, and tail's messages), each
// line's level (from its labels or its text), its fields (its JSON or logfmt, parsed here
// as Loki's `json` and `logfmt` parsers name them), the trace it belongs to, the volume
// histogram's bars, and Grafana's de-duplication of repeated lines. Pure functions.

export type Labels = Record<string, string>;

/** A level as Grafana colours it. */
export type Level = "critical" | "error" | "warning" | "info" | "debug" | "trace" | "unknown";

/** The levels from the most to the least severe: the order of the histogram's stack. */
export const LEVELS: Level[] = ["critical", "error", "warning", "info", "debug", "trace", "unknown"];

/** Grafana's colours of the levels. */
export const LEVEL_COLORS: Record<Level, string> = {
  critical: "#705da0",
  error: "#e24d42",
  warning: "#eab839",
  info: "#7eb26d",
  debug: "#1f78c1",
  trace: "#6ed0e0",
  unknown: "#8e8e8e",
};

/** One line of a stream. */
export interface LogRow {
  /** The time in nanoseconds since the epoch, as Loki writes it (a decimal string). */
  ns: string;
  /** The same in milliseconds, for display. */
  ms: number;
  line: string;
  /** The stream's labels. */
  stream: Labels;
  /** Structured metadata, when the answer keeps it apart (categorize-labels). */
  metadata: Labels;
  /** Labels the query's parsers extracted, when the answer keeps them apart. */
  parsed: Labels;
  /** Unique within an answer: the stream, the time and the line's place in its stream. */
  key: string;
}

/** A `streams` result: Loki's query_range and tail answers share it. */
export interface StreamResult {
  stream: Labels;
  values: ([string, string] | [string, string, { structuredMetadata?: Labels; parsed?: Labels }])[];
}

function streamKey(stream: Labels): string {
  return Object.entries(stream)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(",");
}

/** Orders nanosecond strings (no sign, no leading zeros) as numbers. */
export function compareNs(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** The rows of a `streams` result, newest first (or oldest first). */
export function readStreams(result: StreamResult[], newestFirst = true): LogRow[] {
  const rows: LogRow[] = [];
  for (const s of result) {
    const sk = streamKey(s.stream ?? {});
    s.values.forEach((v, i) => {
      const extra = v.length > 2 ? (v[2] as { structuredMetadata?: Labels; parsed?: Labels }) : {};
      rows.push({
        ns: v[0],
        ms: Number(v[0].slice(0, -6) || "0") + Number(v[0].slice(-6)) / 1e6,
        line: v[1],
        stream: s.stream ?? {},
        metadata: extra.structuredMetadata ?? {},
        parsed: extra.parsed ?? {},
        key: `${sk}|${v[0]}|${i}`,
      });
    });
  }
  rows.sort((a, b) => (newestFirst ? compareNs(b.ns, a.ns) : compareNs(a.ns, b.ns)) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return rows;
}

/** A level's name as loggers write it (`WARN`, `err`, `Information`, `fatal`...) as one of
 * Grafana's levels. */
export function normalizeLevel(text: string): Level {
  switch (text.trim().toLowerCase()) {
    case "crit":
    case "critical":
    case "fatal":
    case "panic":
    case "emerg":
    case "emergency":
    case "alert":
      return "critical";
    case "err":
    case "eror":
    case "error":
    case "severe":
      return "error";
    case "warn":
    case "warning":
      return "warning";
    case "info":
    case "inf":
    case "information":
    case "informational":
    case "notice":
      return "info";
    case "dbug":
    case "debug":
    case "dbg":
      return "debug";
    case "trace":
    case "trc":
      return "trace";
    default:
      return "unknown";
  }
}

/** The labels (in every place a row keeps them) that name a line's level, in the order
 * they are believed: Loki's `level` and `detected_level`, then OpenTelemetry's
 * `severity_text`, then other loggers' names. */
const LEVEL_KEYS = ["level", "detected_level", "severity_text", "severity", "lvl", "loglevel"];

/** A line's level: from a label of the row, else from a `level` field of its text (JSON
 * or logfmt), else from the first level word in it (as Grafana guesses), else unknown. */
export function levelOf(row: Pick<LogRow, "line" | "stream" | "metadata" | "parsed">): Level {
  for (const k of LEVEL_KEYS) {
    const v = row.metadata[k] ?? row.stream[k] ?? row.parsed[k];
    if (v !== undefined) {
      const level = normalizeLevel(v);
      if (level !== "unknown") return level;
    }
  }
  const field = /["']?\b(?:level|lvl|severity|loglevel)["']?\s*[:=]\s*["']?(\w+)/i.exec(row.line);
  if (field) {
    const level = normalizeLevel(field[1]);
    if (level !== "unknown") return level;
  }
  const word = /\b(critical|crit|fatal|panic|emerg|error|err|warning|warn|info|debug|dbug|trace)\b/i.exec(row.line);
  return word ? normalizeLevel(word[1]) : "unknown";
}

/** A label name as Loki's parsers make it from a field name: anything but letters,
 * digits and `_` becomes `_`, and a leading digit gets a `_` before it. */
export function sanitizeKey(key: string): string {
  const s = key.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** Fields parsed from a line, and which parser found them. */
export interface Parsed {
  format: "json" | "logfmt" | null;
  fields: [string, string][];
}

function flatten(prefix: string, value: unknown, out: [string, string][]) {
  if (value === null) {
    out.push([prefix, ""]);
  } else if (Array.isArray(value)) {
    // Loki's json parser skips arrays (without an expression naming an element).
  } else if (typeof value === "object") {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(prefix ? `${prefix}_${sanitizeKey(k)}` : sanitizeKey(k), v, out);
  } else {
    out.push([prefix, String(value)]);
  }
}

/** The `key=value` pairs of a logfmt line; values may be double-quoted with escapes. A
 * line holding no pair is not logfmt. */
export function parseLogfmt(line: string): [string, string][] {
  const out: [string, string][] = [];
  const re = /([^\s="]+)=("((?:[^"\\]|\\.)*)"|[^\s]*)/g;
  for (const m of line.matchAll(re)) {
    let value = m[2];
    if (m[3] !== undefined) {
      try {
        value = JSON.parse(`"${m[3]}"`);
      } catch {
        value = m[3];
      }
    }
    out.push([sanitizeKey(m[1]), value]);
  }
  return out;
}

/** A line's fields as Loki's `json` parser (nested keys joined with `_`) or `logfmt`
 * parser would extract them: JSON if the line is a JSON object, else logfmt pairs. */
export function parseFields(line: string): Parsed {
  const t = line.trim();
  if (t.startsWith("{")) {
    try {
      const value = JSON.parse(t);
      if (value && typeof value === "object" && !Array.isArray(value)) {
        const fields: [string, string][] = [];
        flatten("", value, fields);
        return { format: "json", fields };
      }
    } catch {
      // Not JSON: perhaps logfmt.
    }
  }
  const pairs = parseLogfmt(t);
  return pairs.length ? { format: "logfmt", fields: pairs } : { format: null, fields: [] };
}

const TRACE_KEYS = ["trace_id", "traceid", "traceId", "traceID", "trace"];
const SPAN_KEYS = ["span_id", "spanid", "spanId", "spanID"];

function idFrom(keys: string[], places: Labels[], lengths: number[]): string | null {
  for (const place of places) {
    for (const k of keys) {
      const v = place[k]?.trim().toLowerCase();
      if (v && /^[0-9a-f]+$/.test(v) && lengths.includes(v.length) && !/^0+$/.test(v)) return v;
    }
  }
  return null;
}

/** The trace and span a line was written in: from its structured metadata (OTLP records'
 * `trace_id`, `span_id`), its labels, or the fields of its JSON or logfmt text (the SDK's
 * JSON lines). Ids are lowercase hex; a trace id of 16 or 32 digits, a span id of 16. */
export function traceOf(row: Pick<LogRow, "line" | "stream" | "metadata" | "parsed">, fields?: Parsed): { traceId: string; spanId: string | null } | null {
  const places = [row.metadata, row.parsed, row.stream];
  let traceId = idFrom(TRACE_KEYS, places, [16, 32]);
  let spanId = idFrom(SPAN_KEYS, places, [16]);
  if (!traceId) {
    const own = Object.fromEntries((fields ?? parseFields(row.line)).fields);
    traceId = idFrom(TRACE_KEYS, [own], [16, 32]);
    spanId = spanId ?? idFrom(SPAN_KEYS, [own], [16]);
  }
  return traceId ? { traceId, spanId } : null;
}

/** One bar of the volume histogram: its time and its count per level. */
export interface Bucket {
  /** The start of its step, in seconds. */
  t: number;
  counts: Partial<Record<Level, number>>;
  total: number;
}

/** The level a volume series counts: from whichever level label it is grouped by. */
export function seriesLevel(metric: Labels): Level {
  for (const k of ["level", "detected_level", "severity_text"]) {
    if (metric[k]) return normalizeLevel(metric[k]);
  }
  return "unknown";
}

/** The volume query's matrix as bars, one per step from `start` to `end` (seconds), each
 * with its count per level; series naming the same level (`warn`, `WARNING`) add up. */
export function volumeBuckets(series: { metric: Labels; values?: [number, string][] }[], start: number, end: number, step: number): Bucket[] {
  const n = Math.max(1, Math.ceil((end - start) / step));
  const buckets: Bucket[] = Array.from({ length: n }, (_, i) => ({ t: start + i * step, counts: {}, total: 0 }));
  for (const s of series) {
    const level = seriesLevel(s.metric);
    for (const [t, v] of s.values ?? []) {
      // A sample at t counts the lines of (t - step, t]: its bar is the step ending at t.
      const i = Math.min(n - 1, Math.max(0, Math.ceil((t - start) / step) - 1));
      const count = Number(v);
      if (!Number.isFinite(count)) continue;
      buckets[i].counts[level] = (buckets[i].counts[level] ?? 0) + count;
      buckets[i].total += count;
    }
  }
  return buckets;
}

/** The loaded rows counted as bars, when the server gives no volume: the histogram of
 * what is shown, not of all that matches. */
export function rowBuckets(rows: LogRow[], levels: Level[], start: number, end: number, bars: number): Bucket[] {
  const step = Math.max((end - start) / bars, 1e-3);
  const buckets: Bucket[] = Array.from({ length: bars }, (_, i) => ({ t: start + i * step, counts: {}, total: 0 }));
  rows.forEach((r, j) => {
    const i = Math.floor((r.ms / 1000 - start) / step);
    if (i < 0 || i >= bars) return;
    buckets[i].counts[levels[j]] = (buckets[i].counts[levels[j]] ?? 0) + 1;
    buckets[i].total++;
  });
  return buckets;
}

/** Grafana's de-duplication strategies of consecutive lines. */
export type Dedup = "none" | "exact" | "numbers" | "signature";

const ISO_DATE = /\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-6]\d[,.]\d+([+-][0-2]\d:[0-5]\d|Z)/g;

function dedupKey(line: string, strategy: Dedup): string {
  switch (strategy) {
    case "exact":
      // Exact, but for an ISO timestamp in the text, as Grafana's.
      return line.replace(ISO_DATE, "");
    case "numbers":
      return line.replace(/\d/g, "");
    case "signature":
      return line.replace(/\w/g, "");
    default:
      return line;
  }
}

/** Consecutive lines that the strategy finds the same folded into the first, with how
 * many it stands for. */
export function dedupRows<T extends { line: string }>(rows: T[], strategy: Dedup): { row: T; count: number }[] {
  const out: { row: T; count: number }[] = [];
  let last: string | null = null;
  for (const row of rows) {
    const key = strategy === "none" ? null : dedupKey(row.line, strategy);
    if (key !== null && key === last) out[out.length - 1].count++;
    else out.push({ row, count: 1 });
    last = key;
  }
  return out;
}

/** The labels every row's stream has with the same value (Grafana's "common labels"). */
export function commonLabels(rows: Pick<LogRow, "stream">[]): Labels {
  if (!rows.length) return {};
  const common: Labels = { ...rows[0].stream };
  for (const r of rows) for (const k of Object.keys(common)) if (r.stream[k] !== common[k]) delete common[k];
  return common;
}
