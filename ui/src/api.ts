// The Prometheus HTTP API as Skywatch serves it.

export type Labels = Record<string, string>;
export interface Series {
  metric: Labels;
  values?: [number, string][];
  value?: [number, string];
}
export interface QueryData {
  resultType: "matrix" | "vector" | "scalar" | "string";
  result: Series[] | [number, string];
}
export interface Answer<T> {
  data: T;
  warnings: string[];
  infos: string[];
}

/** An error the API answered with, or a failure to reach it. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly errorType: string,
  ) {
    super(message);
  }
}

/** GETs an API path and unwraps Prometheus's envelope; an error answer throws an ApiError. */
export async function get<T>(path: string, params: Record<string, string> = {}): Promise<Answer<T>> {
  const url = path + (Object.keys(params).length ? "?" + new URLSearchParams(params) : "");
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new ApiError(`cannot reach Skywatch: ${e}`, "network");
  }
  let body: any;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`${url} answered ${response.status} without JSON`, "bad_response");
  }
  if (body.status !== "success") {
    throw new ApiError(body.error ?? `HTTP ${response.status}`, body.errorType ?? "error");
  }
  return { data: body.data as T, warnings: body.warnings ?? [], infos: body.infos ?? [] };
}

export const queryRange = (query: string, start: number, end: number, step: number) =>
  get<QueryData>("/api/v1/query_range", {
    query,
    start: String(start),
    end: String(end),
    step: String(step),
  });

export const queryInstant = (query: string, time: number) =>
  get<QueryData>("/api/v1/query", { query, time: String(time) });

/** A label's values, of the series `match` selects if given. */
export const labelValues = (name: string, match?: string) =>
  get<string[]>(`/api/v1/label/${encodeURIComponent(name)}/values`, match ? { "match[]": match } : {});

export interface ActiveTarget {
  labels: Labels;
  discoveredLabels: Labels;
  scrapePool: string;
  scrapeUrl: string;
  health: "up" | "down" | "unknown";
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
}
/** A discovery provider whose last refresh failed (Skywatch's own field of `/targets`). */
export interface DiscoveryFailure {
  scrapePool: string;
  provider: string;
  error: string;
  since: string;
  keptGroups: number;
}
export const targets = () =>
  get<{ activeTargets: ActiveTarget[]; droppedTargets: unknown[]; discoveryFailures?: DiscoveryFailure[] }>(
    "/api/v1/targets",
  );

/** One window of an SLO's window table: its error ratio and burn rate now. */
export interface SloWindow {
  window: string;
  seconds: number;
  errorRatio: number | null;
  burnRate: number | null;
}
/** One condition of a multiwindow burn-rate alert: both windows burn faster than `burnRate`. */
export interface SloCondition {
  shortWindow: string;
  longWindow: string;
  burnRate: number;
}
export interface SloAlert {
  name: string;
  severity: string;
  state: "firing" | "pending" | "inactive";
  activeAt: string | null;
  /** The budget left under which the budget alert fires. */
  threshold?: number;
  conditions: SloCondition[];
}
/** An SLO as `/api/v1/slos` serves it; any number is null before there is data. */
export interface Slo {
  id: string;
  service: string;
  name: string;
  description: string;
  file: string;
  objective: number;
  period: string;
  periodSeconds: number;
  labels: Labels;
  sli: number | null;
  errorBudgetRemaining: number | null;
  currentBurnRate: number | null;
  timeToExhaustionSeconds: number | null;
  windows: SloWindow[];
  alerts: SloAlert[];
}
/** Every SLO, least budget left first. */
export const slos = () => get<Slo[]>("/api/v1/slos");

/** `name{a="1", b="2"}`, as Prometheus writes a series. */
export function seriesName(metric: Labels): string {
  const { __name__: name = "", ...rest } = metric;
  const pairs = Object.entries(rest)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return pairs.length || !name ? `${name}{${pairs.join(", ")}}` : name;
}

/** A step giving about `points` points over `seconds`, rounded to a whole second. */
export function stepFor(seconds: number, points = 250): number {
  return Math.max(1, Math.round(seconds / points));
}
