// Loki's HTTP API as Skywatch serves it under `/loki/api/v1`: what the logs page, the
// logs panel and the alerts page read. Loki answers in Prometheus's envelope
// (`{"status":"success","data":...}`); an error answer is plain text or that envelope's
// `error`, and becomes an ApiError with the server's words.

import { ApiError, type Labels, type Series } from "./api";
import type { StreamResult } from "./log-model";

export const LOKI = "/loki/api/v1";

/** A query_range or query answer: log lines as streams, or a metric query's samples. */
export type LokiData =
  | { resultType: "streams"; result: StreamResult[] }
  | { resultType: "matrix" | "vector"; result: Series[] }
  | { resultType: "scalar" | "string"; result: [number, string] };

async function lokiGet<T>(path: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<T> {
  const url = `${LOKI}${path}${Object.keys(params).length ? `?${new URLSearchParams(params)}` : ""}`;
  let response: Response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json", ...headers } });
  } catch (e) {
    throw new ApiError(`cannot reach Skywatch: ${e}`, "network");
  }
  const text = await response.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Loki's errors are plain text.
  }
  if (!response.ok || (body && body.status && body.status !== "success")) {
    const message = body?.error ?? body?.message ?? (text.trim() || `${url} answered ${response.status}`);
    throw new ApiError(message, response.status === 404 ? "not_found" : response.status === 400 ? "bad_data" : `HTTP ${response.status}`);
  }
  if (!body) throw new ApiError(`${url} answered ${response.status} without JSON`, "bad_response");
  return body.data as T;
}

/** Nanoseconds since the epoch, as Loki reads an integer time. */
export const nanos = (ms: number) => `${Math.round(ms)}000000`;

export interface RangeParams {
  query: string;
  /** Milliseconds since the epoch. */
  startMs: number;
  endMs: number;
  /** Seconds, for a metric query. */
  step?: number;
  limit?: number;
  direction?: "backward" | "forward";
}

/** A query over a range. Log lines come with their structured metadata and parsed labels
 * apart from the stream's (Loki's `categorize-labels` encoding flag). */
export const queryRange = (p: RangeParams) =>
  lokiGet<LokiData>(
    "/query_range",
    {
      query: p.query,
      start: nanos(p.startMs),
      end: nanos(p.endMs),
      ...(p.step ? { step: String(p.step) } : {}),
      limit: String(p.limit ?? 1000),
      direction: p.direction ?? "backward",
    },
    { "X-Loki-Response-Encoding-Flags": "categorize-labels" },
  );

/** Stream label names seen in the range (Loki: the last 6 hours by default). */
export const labelNames = (startMs?: number, endMs?: number) =>
  lokiGet<string[]>("/labels", startMs && endMs ? { start: nanos(startMs), end: nanos(endMs) } : {}).then((d) => d ?? []);

/** A stream label's values, of the streams `selector` selects if given. */
export const labelValues = (name: string, selector?: string, startMs?: number, endMs?: number) =>
  lokiGet<string[]>(`/label/${encodeURIComponent(name)}/values`, {
    ...(selector ? { query: selector } : {}),
    ...(startMs && endMs ? { start: nanos(startMs), end: nanos(endMs) } : {}),
  }).then((d) => d ?? []);

/** The WebSocket URL of Loki's tail of `query`, from `startMs` on. */
export function tailUrl(query: string, startMs: number, limit = 100): string {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${LOKI}/tail?${new URLSearchParams({ query, start: nanos(startMs), limit: String(limit) })}`;
}

export type { Labels };
