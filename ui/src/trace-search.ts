// The traces page's search, without the page: the form as the URL keeps it, the TraceQL
// the form's fields make (as Grafana's Tempo search builder makes it), the parameters of
// Tempo's `/api/search`, its answer read into rows, the results' duration histogram, and
// where in a query an error points. Pure functions, unit-tested.

/** The search as the form and the URL hold it. */
export interface SearchForm {
  /** `resource.service.name`, or empty for any. */
  service: string;
  /** The span name, or empty for any. */
  operation: string;
  /** Attributes as logfmt: `http.status_code=500 node="node-01"`. */
  tags: string;
  /** Trace durations, as Tempo writes them (`100ms`, `1.5s`), or empty. */
  minDuration: string;
  maxDuration: string;
  /** The time range: one of RANGES' names. */
  range: string;
  /** A TraceQL query; when given, it decides what matches instead of the fields above. */
  q: string;
  limit: number;
}

/** The time ranges offered, in seconds back from now. */
export const RANGES: [string, number][] = [
  ["15m", 900],
  ["1h", 3600],
  ["3h", 10800],
  ["6h", 21600],
  ["24h", 86400],
  ["7d", 604800],
];

export const DEFAULT_FORM: SearchForm = { service: "", operation: "", tags: "", minDuration: "", maxDuration: "", range: "1h", q: "", limit: 20 };

/** The form in a URL's query string, defaults for what it lacks. */
export function formFromQuery(search: string): SearchForm {
  const p = new URLSearchParams(search);
  const range = p.get("range") ?? DEFAULT_FORM.range;
  const limit = Number(p.get("limit"));
  return {
    service: p.get("service") ?? "",
    operation: p.get("operation") ?? "",
    tags: p.get("tags") ?? "",
    minDuration: p.get("minDuration") ?? "",
    maxDuration: p.get("maxDuration") ?? "",
    range: RANGES.some(([r]) => r === range) ? range : DEFAULT_FORM.range,
    q: p.get("q") ?? "",
    limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, 1000) : DEFAULT_FORM.limit,
  };
}

/** The form as a query string: only what differs from the defaults. */
export function formToQuery(f: SearchForm): string {
  const p = new URLSearchParams();
  for (const key of ["service", "operation", "tags", "minDuration", "maxDuration", "q"] as const) if (f[key]) p.set(key, f[key]);
  if (f.range !== DEFAULT_FORM.range) p.set("range", f.range);
  if (f.limit !== DEFAULT_FORM.limit) p.set("limit", String(f.limit));
  return p.toString();
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A duration as Tempo and Go write them (`100ms`, `1.5s`, `1m30s`) in nanoseconds; a
 * number alone is milliseconds. Throws naming what is wrong. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1e6;
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (!m) throw new Error(`"${s}" is not a duration at "${s.slice(at)}": write it as 100ms, 1.5s or 2m`);
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    at = part.lastIndex;
  }
  if (!s) throw new Error("the duration is empty");
  return total;
}

/** logfmt pairs: `key=value`, a value in double quotes when it has spaces. Throws naming
 * the pair at fault. */
export function parseTags(text: string): [string, string][] {
  const pairs: [string, string][] = [];
  const re = /\s*([^\s="]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s"]*))\s*/y;
  let at = 0;
  const s = text.trim();
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) {
      const rest = s.slice(at).split(/\s+/)[0];
      throw new Error(`attribute "${rest}" is not key=value: write key=value, quoting a value with spaces ("a b")`);
    }
    pairs.push([m[1], m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]]);
    at = re.lastIndex;
  }
  return pairs;
}

/** A TraceQL string literal. */
export function quote(s: string): string {
  return JSON.stringify(s);
}

/** The attribute reference for a tag key: scoped keys (`span.x`, `resource.x`) as they
 * are, others unscoped (`.x`: the span's, else the resource's). */
function attributeRef(key: string): string {
  if (/^(span|resource)\./.test(key)) return key;
  return `.${key}`;
}

/** One attribute condition: a number or boolean may be stored as one or as text, so
 * both are asked for. */
function tagCondition(key: string, value: string): string {
  const ref = attributeRef(key);
  if (/^-?\d+(\.\d+)?$/.test(value) || value === "true" || value === "false") return `(${ref} = ${value} || ${ref} = ${quote(value)})`;
  return `${ref} = ${quote(value)}`;
}

/** The TraceQL the form's fields make: one spanset of their conditions, the durations on
 * the trace's duration; `{}` (every trace) when no field is set. Throws on a field that
 * does not parse. */
export function formTraceQL(f: SearchForm): string {
  const conds: string[] = [];
  if (f.service) conds.push(`resource.service.name = ${quote(f.service)}`);
  if (f.operation) conds.push(`name = ${quote(f.operation)}`);
  for (const [k, v] of parseTags(f.tags)) conds.push(tagCondition(k, v));
  if (f.minDuration) conds.push(`traceDuration >= ${normalDuration(f.minDuration)}`);
  if (f.maxDuration) conds.push(`traceDuration <= ${normalDuration(f.maxDuration)}`);
  return conds.length ? `{ ${conds.join(" && ")} }` : "{}";
}

/** A duration as TraceQL takes it (a bare number is milliseconds here). */
function normalDuration(text: string): string {
  const s = text.trim();
  parseDuration(s);
  return /^\d+(\.\d+)?$/.test(s) ? `${s}ms` : s;
}

/** The query that runs: the TraceQL box when it holds one, else the fields' query. */
export function effectiveQuery(f: SearchForm): string {
  return f.q.trim() || formTraceQL(f);
}

/** The parameters of Tempo's `/api/search` for the form at `now` (Unix seconds). */
export function searchParams(f: SearchForm, now: number): Record<string, string> {
  const seconds = RANGES.find(([r]) => r === f.range)?.[1] ?? 3600;
  const p: Record<string, string> = { q: effectiveQuery(f), limit: String(f.limit), start: String(now - seconds), end: String(now) };
  if (f.minDuration) p.minDuration = normalDuration(f.minDuration);
  if (f.maxDuration) p.maxDuration = normalDuration(f.maxDuration);
  return p;
}

/** One trace of Tempo's search answer. */
export interface TraceSummary {
  traceID: string;
  rootServiceName?: string;
  rootTraceName?: string;
  startTimeUnixNano?: string;
  durationMs?: number;
  spanSet?: { matched?: number; spans?: unknown[] };
  spanSets?: { matched?: number; spans?: unknown[] }[];
  serviceStats?: Record<string, { spanCount?: number; errorCount?: number }>;
}

/** A row of the results table. */
export interface ResultRow {
  traceId: string;
  rootService: string;
  rootName: string;
  /** Unix milliseconds. */
  start: number;
  /** Milliseconds (Tempo's search answers whole milliseconds). */
  durationMs: number;
  /** The trace's spans, when the answer says (Tempo's `serviceStats`). */
  spanCount: number | null;
  errorCount: number | null;
  /** The spans the query matched, when the answer says. */
  matched: number | null;
}

/** Tempo's search answer as table rows, newest first, kept to the duration range when
 * one is given (as Tempo keeps its answer; a server that ignored the range is not
 * believed). */
export function resultRows(answer: { traces?: TraceSummary[] }, minNs: number | null = null, maxNs: number | null = null): ResultRow[] {
  const rows = (answer.traces ?? []).map((t): ResultRow => {
    const stats = t.serviceStats ? Object.values(t.serviceStats) : null;
    const sets = t.spanSets ?? (t.spanSet ? [t.spanSet] : []);
    const matched = sets.length ? sets.reduce((a, s) => a + (s.matched ?? s.spans?.length ?? 0), 0) : null;
    const [sec, ns] = nanosParts(t.startTimeUnixNano);
    return {
      traceId: t.traceID,
      rootService: t.rootServiceName ?? "",
      rootName: t.rootTraceName ?? "",
      start: sec * 1000 + ns / 1e6,
      durationMs: t.durationMs ?? 0,
      spanCount: stats ? stats.reduce((a, s) => a + (s.spanCount ?? 0), 0) : null,
      errorCount: stats ? stats.reduce((a, s) => a + (s.errorCount ?? 0), 0) : null,
      matched,
    };
  });
  return rows
    .filter((r) => (minNs === null || r.durationMs * 1e6 >= minNs) && (maxNs === null || r.durationMs * 1e6 <= maxNs))
    .sort((a, b) => b.start - a.start);
}

function nanosParts(v: string | undefined): [number, number] {
  if (!v || !/^\d+$/.test(v)) return [0, 0];
  return v.length <= 9 ? [0, Number(v)] : [Number(v.slice(0, -9)), Number(v.slice(-9))];
}

/** One bar of the duration histogram: traces from `from` to `to` ms. */
export interface Bin {
  from: number;
  to: number;
  count: number;
}

/** The durations (ms) in `bins` bars, on a log scale when they spread over more than a
 * factor of 20 (a few slow traces then do not squash the rest into one bar). */
export function histogram(durations: number[], bins = 20): { bins: Bin[]; log: boolean } {
  if (!durations.length) return { bins: [], log: false };
  const lo = Math.min(...durations);
  const hi = Math.max(...durations);
  if (hi === lo) return { bins: [{ from: lo, to: hi, count: durations.length }], log: false };
  const log = lo > 0 ? hi / lo > 20 : hi > 20;
  const f = log ? (v: number) => Math.log10(Math.max(v, 0.1)) : (v: number) => v;
  const inv = log ? (v: number) => 10 ** v : (v: number) => v;
  const a = f(log ? Math.max(lo, 0.1) : lo);
  const b = f(hi);
  const width = (b - a) / bins;
  const out: Bin[] = Array.from({ length: bins }, (_, i) => ({ from: inv(a + i * width), to: inv(a + (i + 1) * width), count: 0 }));
  for (const d of durations) {
    const i = Math.min(bins - 1, Math.max(0, Math.floor((f(log ? Math.max(d, 0.1) : d) - a) / width)));
    out[i].count++;
  }
  out[0].from = lo;
  out[bins - 1].to = hi;
  return { bins: out, log };
}

/** Where a query error points: the byte offset Skywatch names (`at byte 13`) or the line
 * and column Tempo names (`line 1, col 14`), as a character offset into `query`; null
 * when the message names neither. */
export function errorOffset(message: string, query: string): number | null {
  const byte = /at byte (\d+)/.exec(message);
  if (byte) {
    const bytes = new TextEncoder().encode(query).subarray(0, Number(byte[1]));
    return new TextDecoder().decode(bytes).length;
  }
  const lc = /line (\d+), col(?:umn)? (\d+)/.exec(message);
  if (lc) {
    const lines = query.split("\n");
    const line = Number(lc[1]) - 1;
    if (line < 0 || line >= lines.length) return null;
    let offset = 0;
    for (let i = 0; i < line; i++) offset += lines[i].length + 1;
    return Math.min(offset + Number(lc[2]) - 1, query.length);
  }
  return null;
}
