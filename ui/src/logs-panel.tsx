// Grafana's `logs` panel: the lines of its targets' LogQL queries (`expr`, against the
// Loki API under `/loki`) over the dashboard's range, drawn as the logs page draws them,
// with the panel's options: showTime, showLabels, showCommonLabels, wrapLogMessage,
// prettifyLogMessage, enableLogDetails, dedupStrategy and sortOrder. A link opens the
// query on the logs page.

import { useEffect, useState } from "preact/hooks";
import { ApiError } from "./api";
import { DEFAULT_LINE_OPTIONS, type LineOptions, LogLines } from "./log-lines";
import { type Dedup, type LogRow, compareNs, readStreams } from "./log-model";
import { queryRange } from "./logs-api";

/** The options of Grafana's logs panel this draws. */
export interface LogsPanelOptions {
  showTime?: boolean;
  showLabels?: boolean;
  showCommonLabels?: boolean;
  wrapLogMessage?: boolean;
  prettifyLogMessage?: boolean;
  enableLogDetails?: boolean;
  dedupStrategy?: Dedup;
  sortOrder?: "Descending" | "Ascending";
}

/** Lines asked for per query (Grafana's Loki default). */
const MAX_LINES = 1000;

export function lineOptions(o: LogsPanelOptions): LineOptions {
  return {
    ...DEFAULT_LINE_OPTIONS,
    showTime: o.showTime ?? false,
    showLabels: o.showLabels ?? false,
    showCommonLabels: o.showCommonLabels ?? false,
    wrap: o.wrapLogMessage ?? false,
    prettify: o.prettifyLogMessage ?? false,
    details: o.enableLogDetails ?? true,
    dedup: o.dedupStrategy ?? "none",
  };
}

export function LogsPanel({ queries, options, start, end }: { queries: string[]; options: LogsPanelOptions; start: number; end: number }) {
  const [rows, setRows] = useState<LogRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const ascending = options.sortOrder === "Ascending";
  useEffect(() => {
    let cancelled = false;
    Promise.all(queries.map((query) => queryRange({ query, startMs: start * 1000, endMs: end * 1000, limit: MAX_LINES, direction: ascending ? "forward" : "backward" }))).then(
      (answers) => {
        if (cancelled) return;
        const all = answers.flatMap((a) => (a.resultType === "streams" ? readStreams(a.result) : []));
        all.sort((a, b) => (ascending ? compareNs(a.ns, b.ns) : compareNs(b.ns, a.ns)));
        setRows(all);
        setError(null);
      },
      (e) => !cancelled && setError(e instanceof ApiError ? `${e.errorType}: ${e.message}` : String(e)),
    );
    return () => {
      cancelled = true;
    };
  }, [queries.join("\n"), start, end, ascending]);
  if (error) return <div class="panel-error" role="alert">{error}</div>;
  if (!rows) return <p class="muted panel-loading">Loading…</p>;
  const explore = queries[0] ? `/logs?${new URLSearchParams({ q: queries[0], from: String(start * 1000), to: String(end * 1000) })}` : null;
  return (
    <div class="logs-panel" data-lines={rows.length}>
      {rows.length === 0 ? <p class="empty">No lines in this range.</p> : <LogLines rows={rows} options={lineOptions(options)} />}
      {explore && (
        <a class="logs-panel-open" href={explore}>
          open in Logs
        </a>
      )}
    </div>
  );
}
