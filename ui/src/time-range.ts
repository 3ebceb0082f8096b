// The time picker's choices, shared by the dashboards and the logs page: relative ranges
// ("Last 1h"), refresh intervals, and a range given in the URL as Grafana's `from`/`to`
// (epoch milliseconds, or `now-1h` and `now`).

export const RANGES = ["5m", "15m", "30m", "1h", "3h", "6h", "12h", "24h", "2d", "7d"];
export const REFRESHES = ["off", "5s", "10s", "30s", "1m", "5m"];

/** Seconds in a duration like `5m`, `1h`, `2d` (an hour if it is not one). */
export function seconds(d: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(d.trim());
  if (!m) return 3600;
  const n = Number(m[1]);
  return n * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as "s"];
}

/** A time range: relative (`range`, the last so long up to now) or absolute (`from` and
 * `to`, epoch ms). */
export interface TimeRange {
  range: string;
  from?: number;
  to?: number;
}

/** The range a URL's `range`, or `from` and `to`, name; `fallback` when neither does. */
export function rangeFromQuery(search: string, fallback = "1h"): TimeRange {
  const p = new URLSearchParams(search);
  const time = (v: string | null): number | undefined => {
    if (!v || v === "now") return undefined;
    const rel = /^now-(\w+)$/.exec(v);
    if (rel) return undefined;
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  };
  const from = time(p.get("from"));
  const to = time(p.get("to"));
  const relative = /^now-(\w+)$/.exec(p.get("from") ?? "")?.[1];
  const range = p.get("range") ?? relative ?? fallback;
  if (from !== undefined) return { range, from, to: to !== undefined && to > from ? to : undefined };
  return { range };
}

/** The range's window in epoch ms, at `nowMs`. */
export function windowOf(r: TimeRange, nowMs: number): { startMs: number; endMs: number } {
  if (r.from !== undefined) return { startMs: r.from, endMs: r.to ?? nowMs };
  return { startMs: nowMs - seconds(r.range) * 1000, endMs: nowMs };
}

/** The range as URL parameters: `range`, or `from` and `to`. */
export function rangeParams(r: TimeRange): Record<string, string> {
  if (r.from === undefined) return { range: r.range };
  return r.to === undefined ? { from: String(r.from), to: "now" } : { from: String(r.from), to: String(r.to) };
}
