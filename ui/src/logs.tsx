// Logs (`/logs`): a LogQL query over a time range, run on Enter, with completion of stream
// label names and values and of pipeline stages as it is typed; above the lines, their
// volume by level (a `count_over_time` by level over the same query); the lines newest
// first, each opening to its labels, metadata and parsed fields, whose buttons filter
// for or out a value by editing the query; a live tail over Loki's WebSocket. The URL
// keeps the query and the range (`?q=...&range=1h`, or `from`/`to` in epoch ms), as the
// dashboards' URLs do. A metric query is drawn as explore draws PromQL's.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, type Series } from "./api";
import { Chart } from "./chart";
import { DEFAULT_LINE_OPTIONS, type FilterAsk, LogLines, VolumeHistogram, formatTime } from "./log-lines";
import { type Bucket, type LogRow, levelOf, readStreams, rowBuckets, volumeBuckets } from "./log-model";
import { type LogContext, STAGES, acceptLog, isMetricQuery, logqlContext, traceLineQuery, tracedId, volumeQuery, withLabelFilter, withStreamMatcher } from "./logql";
import { type LokiData, labelNames, labelValues, queryRange, tailUrl } from "./logs-api";
import { RANGES, REFRESHES, type TimeRange, rangeFromQuery, rangeParams, seconds, windowOf } from "./time-range";

/** Lines asked for per query (Grafana's default for Loki). */
const LIMIT = 1000;
/** Lines kept by the live tail, newest first. */
const TAIL_MAX = 1000;
/** Bars of the volume histogram. */
const BARS = 60;

interface Outcome {
  query: string;
  rows?: LogRow[];
  matrix?: Series[];
  volume?: { buckets: Bucket[]; step: number; note?: string };
  window: { startMs: number; endMs: number };
  step: number;
  error?: ApiError;
  took: number;
}

/** Completions for `ctx`, from Loki's label API (cached per label and selector). */
const cache = new Map<string, Promise<string[]>>();
async function candidates(ctx: LogContext, window: { startMs: number; endMs: number }): Promise<string[]> {
  let all: string[];
  if (ctx.kind === "stage") all = STAGES;
  else {
    const key = `${ctx.kind}:${ctx.label ?? ""}:${ctx.selector ?? ""}`;
    let hit = cache.get(key);
    if (!hit) {
      hit = (ctx.kind === "label" ? labelNames(window.startMs, window.endMs) : labelValues(ctx.label ?? "", ctx.selector, window.startMs, window.endMs)).catch((e) => {
        cache.delete(key);
        throw e;
      });
      cache.set(key, hit);
    }
    all = await hit;
  }
  const p = ctx.prefix.toLowerCase();
  const starts = all.filter((n) => n.toLowerCase().startsWith(p));
  const within = all.filter((n) => !n.toLowerCase().startsWith(p) && n.toLowerCase().includes(p));
  return [...starts, ...within].filter((n) => n !== ctx.prefix || ctx.kind === "value").slice(0, 12);
}

export function Logs() {
  const [expr, setExpr] = useState(() => new URLSearchParams(location.search).get("q") ?? "");
  const [time, setTime] = useState<TimeRange>(() => rangeFromQuery(location.search));
  const [refresh, setRefresh] = useState(() => new URLSearchParams(location.search).get("refresh") ?? "off");
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [running, setRunning] = useState(false);
  const [showLabels, setShowLabels] = useState(false);
  const [wrap, setWrap] = useState(true);
  const [suggest, setSuggest] = useState<{ ctx: LogContext; items: string[]; active: number } | null>(null);
  const [live, setLive] = useState(false);
  const input = useRef<HTMLTextAreaElement>(null);
  const asked = useRef(0);
  const completing = useRef(0);

  function complete() {
    const el = input.current;
    if (!el) return;
    const ctx = logqlContext(el.value, el.selectionStart ?? el.value.length);
    const n = ++completing.current;
    if (!ctx) {
      setSuggest(null);
      return;
    }
    candidates(ctx, windowOf(time, Date.now())).then(
      (items) => n === completing.current && setSuggest(items.length ? { ctx, items, active: 0 } : null),
      () => n === completing.current && setSuggest(null),
    );
  }

  function choose(item: string) {
    const el = input.current;
    if (!el || !suggest) return;
    const next = acceptLog(el.value, el.selectionStart ?? el.value.length, suggest.ctx, item);
    setExpr(next.text);
    el.value = next.text;
    el.setSelectionRange(next.cursor, next.cursor);
    el.focus();
    complete();
  }

  async function run(q = expr, t = time) {
    const query = q.trim();
    if (!query) return;
    const n = ++asked.current;
    history.replaceState(null, "", `/logs?${new URLSearchParams({ q: query, ...rangeParams(t), ...(refresh !== "off" ? { refresh } : {}) })}`);
    const window = windowOf(t, Date.now());
    const span = (window.endMs - window.startMs) / 1000;
    const step = Math.max(1, Math.ceil(span / BARS));
    setRunning(true);
    const began = performance.now();
    try {
      if (isMetricQuery(query)) {
        const data = await queryRange({ query, ...window, step: Math.max(1, Math.round(span / 250)) });
        if (n !== asked.current) return;
        const matrix = data.resultType === "matrix" || data.resultType === "vector" ? (data.result as Series[]) : [];
        setOutcome({ query, matrix, window, step: Math.max(1, Math.round(span / 250)), took: performance.now() - began });
        return;
      }
      const lines = queryRange({ query, ...window, limit: LIMIT });
      // The volume is asked for at once; its failure (a server without metric queries)
      // leaves the lines, counted here instead.
      const volume = queryRange({ query: volumeQuery(query, step), ...window, step }).catch(() => null);
      const data = await lines;
      if (n !== asked.current) return;
      const rows = data.resultType === "streams" ? readStreams(data.result) : [];
      const v: LokiData | null = await volume;
      if (n !== asked.current) return;
      const start = Math.floor(window.startMs / 1000 / step) * step;
      const buckets =
        v && v.resultType === "matrix"
          ? { buckets: volumeBuckets(v.result as Series[], start, window.endMs / 1000, step), step }
          : {
              buckets: rowBuckets(rows, rows.map(levelOf), window.startMs / 1000, window.endMs / 1000, BARS),
              step: span / BARS,
              note: `(of the ${rows.length} lines shown)`,
            };
      setOutcome({ query, rows, volume: buckets, window, step, took: performance.now() - began });
    } catch (e) {
      if (n !== asked.current) return;
      const error = e instanceof ApiError ? e : new ApiError(String(e), "error");
      setOutcome({ query, error, window, step, took: performance.now() - began });
    } finally {
      if (n === asked.current) setRunning(false);
    }
  }

  useEffect(() => {
    // The query in the URL runs once, on arrival.
    if (expr) run();
  }, []);

  useEffect(() => {
    const s = refresh !== "off" && !live ? seconds(refresh) : 0;
    if (!s) return;
    const timer = setInterval(() => run(), s * 1000);
    return () => clearInterval(timer);
  }, [refresh, live, expr, time]);

  const pickTime = (t: TimeRange) => {
    setTime(t);
    run(expr, t);
  };

  function filter(ask: FilterAsk) {
    const next =
      ask.place === "stream"
        ? withStreamMatcher(expr, ask.name, ask.op, ask.value)
        : withLabelFilter(expr, ask.name, ask.op, ask.value, ask.place === "field" ? ask.parser : undefined);
    setExpr(next);
    run(next);
  }

  const custom = time.from !== undefined;
  const traceId = outcome && !outcome.error ? tracedId(outcome.query) : null;
  const byLine = traceId && outcome?.rows?.length === 0 ? traceLineQuery(outcome.query, traceId) : null;

  return (
    <section class="logs-page">
      <h1>Logs</h1>
      <form
        class="query"
        onSubmit={(e) => {
          e.preventDefault();
          run();
        }}
      >
        <div class="query-input">
          <textarea
            ref={input}
            aria-label="LogQL query"
            aria-autocomplete="list"
            placeholder='LogQL, e.g. {service_name="zerostate-execution"} |= "error"'
            rows={2}
            value={expr}
            onInput={(e) => {
              setExpr((e.target as HTMLTextAreaElement).value);
              complete();
            }}
            onClick={complete}
            onBlur={() => setTimeout(() => setSuggest(null), 150)}
            onKeyDown={(e) => {
              if (suggest && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
                e.preventDefault();
                const step = e.key === "ArrowDown" ? 1 : -1;
                setSuggest({ ...suggest, active: (suggest.active + step + suggest.items.length) % suggest.items.length });
              } else if (suggest && (e.key === "Tab" || (e.key === "Enter" && !e.shiftKey))) {
                e.preventDefault();
                choose(suggest.items[suggest.active]);
              } else if (e.key === "Escape") {
                setSuggest(null);
              } else if (e.key === "Enter" && !e.shiftKey) {
                e.preventDefault();
                run();
              }
            }}
          />
          {suggest && (
            <ul class="completions" role="listbox" aria-label={`${suggest.ctx.kind} completions`}>
              {suggest.items.map((item, i) => (
                <li
                  role="option"
                  aria-selected={i === suggest.active}
                  class={i === suggest.active ? "active" : ""}
                  onMouseDown={(e) => {
                    e.preventDefault();
                    choose(item);
                  }}
                >
                  {item}
                  <span class="muted"> {suggest.ctx.kind}</span>
                </li>
              ))}
            </ul>
          )}
        </div>
        <div class="controls">
          <select
            aria-label="Time range"
            value={custom ? "custom" : time.range}
            onChange={(e) => {
              const v = (e.target as HTMLSelectElement).value;
              if (v !== "custom") pickTime({ range: v });
            }}
          >
            {custom && <option value="custom">{describeWindow(time)}</option>}
            {[...new Set([...RANGES, time.range])].map((r) => (
              <option value={r}>Last {r}</option>
            ))}
          </select>
          <select aria-label="Refresh" value={refresh} onChange={(e) => setRefresh((e.target as HTMLSelectElement).value)}>
            {REFRESHES.map((r) => (
              <option value={r}>{r === "off" ? "Refresh off" : `Every ${r}`}</option>
            ))}
          </select>
          <label class="toggle">
            <input type="checkbox" checked={showLabels} onChange={(e) => setShowLabels((e.target as HTMLInputElement).checked)} /> Labels
          </label>
          <label class="toggle">
            <input type="checkbox" checked={wrap} onChange={(e) => setWrap((e.target as HTMLInputElement).checked)} /> Wrap lines
          </label>
          <button type="button" class={live ? "live active" : "live"} aria-pressed={live} disabled={!expr.trim() || isMetricQuery(expr)} onClick={() => setLive(!live)}>
            {live ? "Stop live" : "Live"}
          </button>
          <button type="submit" class="primary">
            Run
          </button>
          {running && <span class="muted">Running…</span>}
        </div>
      </form>
      {live ? (
        <Tail key={expr} query={expr.trim()} options={{ ...DEFAULT_LINE_OPTIONS, showLabels, wrap }} />
      ) : (
        outcome && (
          <Result
            outcome={outcome}
            options={{ ...DEFAULT_LINE_OPTIONS, showLabels, wrap }}
            onFilter={filter}
            onPick={(from, to) => pickTime({ range: time.range, from: Math.floor(from), to: Math.ceil(to) })}
            byLine={byLine}
            onByLine={(q) => {
              setExpr(q);
              run(q);
            }}
          />
        )
      )}
    </section>
  );
}

function describeWindow(t: TimeRange): string {
  const from = formatTime(t.from ?? 0).slice(0, 19);
  return t.to === undefined ? `From ${from} to now` : `${from} to ${formatTime(t.to).slice(0, 19)}`;
}

function Result({
  outcome,
  options,
  onFilter,
  onPick,
  byLine,
  onByLine,
}: {
  outcome: Outcome;
  options: typeof DEFAULT_LINE_OPTIONS;
  onFilter: (ask: FilterAsk) => void;
  onPick: (fromMs: number, toMs: number) => void;
  byLine: string | null;
  onByLine: (q: string) => void;
}) {
  if (outcome.error) {
    return (
      <div class="error" role="alert">
        <strong>{outcome.error.errorType}</strong>: {outcome.error.message}
      </div>
    );
  }
  if (outcome.matrix) {
    return (
      <div class="result">
        <p class="muted">
          {outcome.matrix.length} series in {Math.round(outcome.took)} ms
        </p>
        {outcome.matrix.length ? (
          <Chart
            series={outcome.matrix}
            names={outcome.matrix.map((s) => Object.entries(s.metric).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ") || "{}")}
            start={outcome.window.startMs / 1000}
            end={outcome.window.endMs / 1000}
            step={outcome.step}
          />
        ) : (
          <p class="empty">No data in this range.</p>
        )}
      </div>
    );
  }
  const rows = outcome.rows ?? [];
  return (
    <div class="result">
      {outcome.volume && rows.length > 0 && <VolumeHistogram buckets={outcome.volume.buckets} step={outcome.volume.step} note={outcome.volume.note} onPick={onPick} />}
      <p class="muted log-count">
        {rows.length} {rows.length === 1 ? "line" : "lines"}
        {rows.length >= LIMIT ? ` (the limit: narrow the query or the range for the others)` : ""}, newest first, in {Math.round(outcome.took)} ms
      </p>
      {rows.length === 0 && (
        <p class="empty">
          No line matches in this range.
          {byLine && (
            <>
              {" "}
              The records found by structured metadata are none; lines holding the trace id in their text:{" "}
              <button type="button" class="link" onClick={() => onByLine(byLine)}>
                {byLine}
              </button>
            </>
          )}
        </p>
      )}
      <LogLines rows={rows} options={options} onFilter={onFilter} />
    </div>
  );
}

/** Loki's live tail of `query`: lines arrive over a WebSocket and go on top; a pause keeps
 * receiving (up to the buffer) and shows them on resume. */
function Tail({ query, options }: { query: string; options: typeof DEFAULT_LINE_OPTIONS }) {
  const [rows, setRows] = useState<LogRow[]>([]);
  const [paused, setPaused] = useState(false);
  const [state, setState] = useState("connecting…");
  const [dropped, setDropped] = useState(0);
  const [waiting, setWaiting] = useState(0);
  const held = useRef<LogRow[]>([]);
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    const socket = new WebSocket(tailUrl(query, Date.now() - 60_000));
    socket.onopen = () => setState("live");
    socket.onerror = () => setState("the tail failed: is the query a log query, and does the server serve /loki/api/v1/tail?");
    socket.onclose = (e) => setState((s) => (s.startsWith("the tail failed") ? s : `closed${e.reason ? `: ${e.reason}` : ""}`));
    socket.onmessage = (e) => {
      let message: { streams?: Parameters<typeof readStreams>[0]; dropped_entries?: unknown[] | null };
      try {
        message = JSON.parse(String(e.data));
      } catch {
        return;
      }
      if (message.dropped_entries?.length) setDropped((d) => d + message.dropped_entries!.length);
      const fresh = readStreams(message.streams ?? []);
      if (!fresh.length) return;
      held.current = [...fresh, ...held.current].slice(0, TAIL_MAX);
      if (!pausedRef.current) flush();
      else setWaiting(held.current.length);
    };
    return () => socket.close();
  }, [query]);

  function flush() {
    const incoming = held.current;
    held.current = [];
    setWaiting(0);
    // Keys are unique per message only: a line keeps the key of the first time it came.
    setRows((old) => {
      const seen = new Set(old.map((r) => r.key));
      return [...incoming.map((r) => (seen.has(r.key) ? { ...r, key: `${r.key}#${Math.random()}` } : r)), ...old].slice(0, TAIL_MAX);
    });
  }

  return (
    <div class="result log-tail">
      <p class="muted">
        <span class={`tail-state${state === "live" ? " on" : ""}`}>{state === "live" ? (paused ? "paused" : "live") : state}</span> · {rows.length} lines (the newest{" "}
        {TAIL_MAX} kept){dropped ? ` · ${dropped} dropped by the server` : ""}{" "}
        <button
          type="button"
          onClick={() => {
            if (paused) flush();
            setPaused(!paused);
          }}
        >
          {paused ? `Resume${waiting ? ` (${waiting} new)` : ""}` : "Pause"}
        </button>{" "}
        <button type="button" onClick={() => setRows([])}>
          Clear
        </button>
      </p>
      <LogLines rows={rows} options={options} />
    </div>
  );
}
