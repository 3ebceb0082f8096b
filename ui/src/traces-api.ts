// Tempo's and Jaeger's query APIs as Skywatch serves them (under `/tempo` and `/jaeger`):
// what the traces page reads. Tempo answers errors as plain text with a 4xx or 5xx
// status, Jaeger inside its envelope; both become a TraceApiError with the server's words.

import type { TraceDocument } from "./trace-model";
import type { TraceSummary } from "./trace-search";

/** Where Skywatch serves each API. */
export const TEMPO = "/tempo";
export const JAEGER = "/jaeger";

/** An error answer, or a failure to reach the server. */
export class TraceApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function getJson<T>(path: string, params: Record<string, string> = {}): Promise<T> {
  const url = path + (Object.keys(params).length ? "?" + new URLSearchParams(params) : "");
  let response: Response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" } });
  } catch (e) {
    throw new TraceApiError(`cannot reach Skywatch: ${e}`, 0);
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text.trim();
    try {
      const body = JSON.parse(text);
      message = body.error ?? body.message ?? body.errors?.[0]?.msg ?? message;
    } catch {
      // Tempo's errors are plain text.
    }
    throw new TraceApiError(message || `${url} answered ${response.status}`, response.status);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new TraceApiError(`${url} answered ${response.status} without JSON`, response.status);
  }
}

/** Traces matching the search, as Tempo's `/api/search` answers. */
export const searchTraces = (params: Record<string, string>) => getJson<{ traces?: TraceSummary[] }>(`${TEMPO}/api/search`, params);

/** A tag's values, as Tempo's `/api/v2/search/tag/<tag>/values` answers (sorted). */
export async function tagValues(tag: string): Promise<string[]> {
  const answer = await getJson<{ tagValues?: { type?: string; value: string }[] }>(`${TEMPO}/api/v2/search/tag/${encodeURIComponent(tag)}/values`);
  return [...new Set((answer.tagValues ?? []).map((v) => v.value))].sort();
}

/** Every service with spans: Tempo's values of `resource.service.name`, or Jaeger's
 * services when Tempo's API is not there. */
export async function services(): Promise<string[]> {
  try {
    return await tagValues("resource.service.name");
  } catch (e) {
    if (!(e instanceof TraceApiError) || e.status !== 404) throw e;
    const answer = await getJson<{ data?: string[] }>(`${JAEGER}/api/services`);
    return [...(answer.data ?? [])].sort();
  }
}

/** A service's span names, from Jaeger's operations; every span name without a service. */
export async function operations(service: string): Promise<string[]> {
  if (!service) return tagValues("name");
  const answer = await getJson<{ data?: { name: string }[] }>(`${JAEGER}/api/services/${encodeURIComponent(service)}/operations`);
  return [...new Set((answer.data ?? []).map((o) => o.name))].sort();
}

/** A trace, as Tempo's `/api/traces/<id>` answers it in OTLP/JSON. */
export const fetchTrace = (id: string) => getJson<TraceDocument>(`${TEMPO}/api/traces/${encodeURIComponent(id)}`);

const LAST_SEARCH = "skywatch-trace-search";

/** Remembers the search page's URL, for the trace view's way back to it. */
export function rememberSearch(url: string) {
  try {
    sessionStorage.setItem(LAST_SEARCH, url);
  } catch {
    // Storage may be off; the way back is then the page's default.
  }
}

/** The search page's URL as last used in this tab, or the page itself. */
export function lastSearch(): string {
  try {
    return sessionStorage.getItem(LAST_SEARCH) ?? "/traces";
  } catch {
    return "/traces";
  }
}
