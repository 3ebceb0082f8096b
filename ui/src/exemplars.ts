// Exemplars: sample points a series carries with the trace they came from, as Prometheus's
// `/api/v1/query_exemplars` answers them. The explore and dashboard charts draw each as a
// small diamond at its time and value; one with a trace ID links to that trace's page.

import { type Labels, get } from "./api";

/** One series' exemplars, as the API answers. */
export interface ExemplarSet {
  seriesLabels: Labels;
  exemplars: { labels: Labels; value: string; timestamp: number }[];
}

/** An exemplar as a chart draws it. */
export interface ExemplarPoint {
  /** Unix seconds. */
  t: number;
  v: number;
  /** Its trace, in 32 hex digits, or empty when it names none. */
  traceId: string;
  spanId: string;
  labels: Labels;
  seriesLabels: Labels;
}

/** The labels a trace ID goes by: OpenMetrics' and OpenTelemetry's `trace_id`, and the
 * names Grafana's exemplar links are often set up with. */
const TRACE_LABELS = ["trace_id", "traceID", "traceId", "TraceID"];
const SPAN_LABELS = ["span_id", "spanID", "spanId", "SpanID"];

function first(labels: Labels, names: string[]): string {
  for (const n of names) if (labels[n]) return labels[n];
  return "";
}

/** The exemplars with a finite value, each with its trace and span IDs (lowercase hex
 * when they are hex), oldest first. */
export function exemplarPoints(sets: ExemplarSet[]): ExemplarPoint[] {
  const out: ExemplarPoint[] = [];
  for (const set of sets) {
    for (const e of set.exemplars ?? []) {
      const v = Number(e.value);
      if (!Number.isFinite(v) || !Number.isFinite(e.timestamp)) continue;
      const id = (s: string) => (/^[0-9a-fA-F]+$/.test(s) ? s.toLowerCase() : s);
      out.push({ t: e.timestamp, v, traceId: id(first(e.labels ?? {}, TRACE_LABELS)), spanId: id(first(e.labels ?? {}, SPAN_LABELS)), labels: e.labels ?? {}, seriesLabels: set.seriesLabels ?? {} });
    }
  }
  return out.sort((a, b) => a.t - b.t);
}

/** Where an exemplar leads: its trace's page, at its span when it names one. */
export function exemplarHref(e: ExemplarPoint): string | null {
  if (!e.traceId) return null;
  return `/traces/${encodeURIComponent(e.traceId)}${e.spanId ? `?span=${encodeURIComponent(e.spanId)}` : ""}`;
}

/** The exemplars of `query`'s series from `start` to `end` (Unix seconds). A server
 * without exemplars answers none; a failure is no exemplars either, since they only
 * decorate the chart. */
export async function loadExemplars(query: string, start: number, end: number): Promise<ExemplarPoint[]> {
  try {
    const answer = await get<ExemplarSet[]>("/api/v1/query_exemplars", { query, start: String(start), end: String(end) });
    return exemplarPoints(answer.data ?? []);
  } catch {
    return [];
  }
}
