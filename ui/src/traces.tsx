// Traces: search by service, operation, attributes, duration and time range, or with a
// TraceQL query (its errors shown where it was typed, as the API words them); the results
// as a table under a histogram of their durations. The URL keeps the search, so a search
// can be shared and the back button returns to it. A trace opens at `/traces/<id>`
// (trace-view.tsx).

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { formatDuration } from "./trace-model";
import {
  type Bin,
  RANGES,
  type ResultRow,
  type SearchForm,
  effectiveQuery,
  errorOffset,
  formFromQuery,
  formToQuery,
  histogram,
  parseDuration,
  resultRows,
  searchParams,
} from "./trace-search";
import { TraceApiError, operations, rememberSearch, searchTraces, services } from "./traces-api";

const LIMITS = [20, 50, 100, 500];

interface Outcome {
  rows?: ResultRow[];
  /** The query that ran, for placing its error. */
  query: string;
  /** An error in the TraceQL query itself (the API's 400), shown under the box. */
  queryError?: string;
  /** Any other failure. */
  error?: string;
  took: number;
}

/** The duration range as nanoseconds, null where not given or not valid. */
function durationBounds(f: SearchForm): [number | null, number | null] {
  const parse = (s: string) => {
    try {
      return s.trim() ? parseDuration(s) : null;
    } catch {
      return null;
    }
  };
  return [parse(f.minDuration), parse(f.maxDuration)];
}

export function Traces() {
  const [form, setForm] = useState<SearchForm>(() => formFromQuery(location.search));
  const [serviceList, setServiceList] = useState<string[] | null>(null);
  const [operationList, setOperationList] = useState<string[]>([]);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [running, setRunning] = useState(false);
  const asked = useRef(0);
  const set = (patch: Partial<SearchForm>) => setForm((f) => ({ ...f, ...patch }));

  useEffect(() => {
    services().then(setServiceList, () => setServiceList([]));
  }, []);
  useEffect(() => {
    let cancelled = false;
    operations(form.service).then(
      (ops) => !cancelled && setOperationList(ops),
      () => !cancelled && setOperationList([]),
    );
    return () => {
      cancelled = true;
    };
  }, [form.service]);

  async function run(f = form) {
    const n = ++asked.current;
    const query = f.q.trim();
    let params: Record<string, string>;
    try {
      params = searchParams(f, Math.floor(Date.now() / 1000));
    } catch (e) {
      setOutcome({ query, error: (e as Error).message, took: 0 });
      return;
    }
    const search = formToQuery(f);
    const url = `/traces${search ? `?${search}` : ""}`;
    history.replaceState(null, "", url);
    rememberSearch(url);
    setRunning(true);
    const began = performance.now();
    try {
      const answer = await searchTraces(params);
      if (n !== asked.current) return;
      const [min, max] = durationBounds(f);
      setOutcome({ rows: resultRows(answer, min, max), query: params.q, took: performance.now() - began });
    } catch (e) {
      if (n !== asked.current) return;
      const message = e instanceof Error ? e.message : String(e);
      // A 400 is the query's own fault: shown under the box it was typed in.
      const inQuery = e instanceof TraceApiError && e.status === 400;
      setOutcome({ query: params.q, ...(inQuery ? { queryError: message } : { error: message }), took: performance.now() - began });
    } finally {
      if (n === asked.current) setRunning(false);
    }
  }

  useEffect(() => {
    // The search in the URL (or the newest traces) runs on arrival.
    run();
  }, []);

  const submit = (e: Event) => {
    e.preventDefault();
    run();
  };
  const byTraceQL = form.q.trim() !== "";
  let built = "";
  try {
    built = effectiveQuery({ ...form, q: "" });
  } catch (e) {
    built = `(${(e as Error).message})`;
  }

  return (
    <section class="traces-page">
      <h1>Traces</h1>
      <form class="trace-search" onSubmit={submit}>
        <fieldset class="trace-fields" disabled={byTraceQL} title={byTraceQL ? "The TraceQL query decides what matches; empty it to search by these fields" : undefined}>
          <label>
            <span>Service</span>
            <select aria-label="Service" value={form.service} onChange={(e) => set({ service: (e.target as HTMLSelectElement).value, operation: "" })}>
              <option value="">any service</option>
              {form.service && !serviceList?.includes(form.service) && <option value={form.service}>{form.service}</option>}
              {(serviceList ?? []).map((s) => (
                <option value={s}>{s}</option>
              ))}
            </select>
          </label>
          <label>
            <span>Operation</span>
            <input aria-label="Operation" list="trace-operations" placeholder="any span name" value={form.operation} onInput={(e) => set({ operation: (e.target as HTMLInputElement).value })} />
            <datalist id="trace-operations">
              {operationList.map((o) => (
                <option value={o} />
              ))}
            </datalist>
          </label>
          <label class="wide">
            <span>Attributes</span>
            <input aria-label="Attributes" placeholder='http.status_code=500 node="node-01"' value={form.tags} onInput={(e) => set({ tags: (e.target as HTMLInputElement).value })} />
          </label>
        </fieldset>
        <div class="trace-fields">
          <label>
            <span>Min duration</span>
            <input aria-label="Min duration" placeholder="e.g. 100ms" value={form.minDuration} onInput={(e) => set({ minDuration: (e.target as HTMLInputElement).value })} />
          </label>
          <label>
            <span>Max duration</span>
            <input aria-label="Max duration" placeholder="e.g. 5s" value={form.maxDuration} onInput={(e) => set({ maxDuration: (e.target as HTMLInputElement).value })} />
          </label>
          <label>
            <span>Time range</span>
            <select aria-label="Range" value={form.range} onChange={(e) => set({ range: (e.target as HTMLSelectElement).value })}>
              {RANGES.map(([r]) => (
                <option value={r}>Last {r}</option>
              ))}
            </select>
          </label>
          <label>
            <span>Limit</span>
            <select aria-label="Limit" value={String(form.limit)} onChange={(e) => set({ limit: Number((e.target as HTMLSelectElement).value) })}>
              {[...new Set([...LIMITS, form.limit])].sort((a, b) => a - b).map((l) => (
                <option value={String(l)}>{l} traces</option>
              ))}
            </select>
          </label>
        </div>
        <label class="traceql">
          <span>TraceQL</span>
          <textarea
            aria-label="TraceQL query"
            rows={2}
            placeholder='{ resource.service.name = "payments" && status = error }'
            value={form.q}
            onInput={(e) => set({ q: (e.target as HTMLTextAreaElement).value })}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.shiftKey) {
                e.preventDefault();
                run();
              }
            }}
          />
        </label>
        {outcome?.queryError && <QueryError message={outcome.queryError} query={outcome.query} />}
        <div class="controls">
          <button type="submit" class="primary">
            Search
          </button>
          {!byTraceQL && (
            <span class="muted trace-built">
              runs <code>{built}</code>
            </span>
          )}
          {byTraceQL && <span class="muted">The TraceQL query decides what matches; service, operation and attributes apply when it is empty.</span>}
        </div>
      </form>
      {outcome?.error && (
        <div class="error" role="alert">
          {outcome.error}
        </div>
      )}
      {running && !outcome?.rows && <p class="muted">Searching…</p>}
      {outcome?.rows && (
        <Results
          rows={outcome.rows}
          took={outcome.took}
          limit={form.limit}
          onBin={(b) => {
            const next = { ...form, minDuration: `${Math.floor(b.from)}ms`, maxDuration: `${Math.ceil(b.to)}ms` };
            setForm(next);
            run(next);
          }}
        />
      )}
    </section>
  );
}

/** The API's words about the query, with a caret under the place they name. */
function QueryError({ message, query }: { message: string; query: string }) {
  const at = errorOffset(message, query);
  let caret = null;
  if (at !== null) {
    const lineStart = query.lastIndexOf("\n", at - 1) + 1;
    const lineEnd = query.indexOf("\n", at);
    const line = query.slice(lineStart, lineEnd === -1 ? undefined : lineEnd);
    caret = (
      <pre class="traceql-caret" aria-hidden="true">
        {line}
        {"\n"}
        {" ".repeat(at - lineStart)}^
      </pre>
    );
  }
  return (
    <div class="error traceql-error" role="alert">
      {message}
      {caret}
    </div>
  );
}

function Results({ rows, took, limit, onBin }: { rows: ResultRow[]; took: number; limit: number; onBin: (b: Bin) => void }) {
  const { bins, log } = useMemo(() => histogram(rows.map((r) => r.durationMs)), [rows]);
  return (
    <div class="trace-results">
      <p class="muted">
        {rows.length} {rows.length === 1 ? "trace" : "traces"}
        {rows.length >= limit ? ` (the limit: raise it or narrow the search for more)` : ""} in {Math.round(took)} ms
      </p>
      {rows.length === 0 && <p class="empty">No trace matches in this time range.</p>}
      {rows.length > 0 && <DurationHistogram bins={bins} log={log} onBin={onBin} />}
      {rows.length > 0 && (
        <div class="scroll">
          <table class="grid trace-table">
            <thead>
              <tr>
                <th>Trace</th>
                <th>Root service</th>
                <th>Root span</th>
                <th>Start</th>
                <th class="num">Duration</th>
                <th class="num">Spans</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr class="trace-row" data-trace-id={r.traceId}>
                  <td class="trace-id">
                    <a href={`/traces/${r.traceId}`} title={r.traceId}>
                      {r.traceId}
                    </a>
                  </td>
                  <td>{r.rootService || <span class="muted">not yet received</span>}</td>
                  <td class="root-name">{r.rootName}</td>
                  <td>{new Date(r.start).toLocaleString()}</td>
                  <td class="num">{formatDuration(r.durationMs * 1e6)}</td>
                  <td class="num">
                    {r.spanCount?.toLocaleString("en") ?? "–"}
                    {!!r.errorCount && (
                      <span class="err">
                        {" "}
                        {r.errorCount} {r.errorCount === 1 ? "error" : "errors"}
                      </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/** The results' durations as bars; a bar's click searches its duration range. */
function DurationHistogram({ bins, log, onBin }: { bins: Bin[]; log: boolean; onBin: (b: Bin) => void }) {
  const most = Math.max(...bins.map((b) => b.count));
  const w = 100 / bins.length;
  return (
    <figure class="duration-histogram">
      <svg viewBox="0 0 100 40" preserveAspectRatio="none" role="img" aria-label="Durations of the traces found">
        {bins.map((b, i) => {
          const h = b.count ? Math.max(1.5, (b.count / most) * 38) : 0;
          return (
            <rect class="bin" x={i * w + w * 0.08} width={w * 0.84} y={40 - h} height={h} data-count={b.count} onClick={() => b.count && onBin(b)}>
              <title>
                {b.count} {b.count === 1 ? "trace" : "traces"} from {formatDuration(b.from * 1e6)} to {formatDuration(b.to * 1e6)}
              </title>
            </rect>
          );
        })}
      </svg>
      <figcaption class="muted">
        <span>{formatDuration(bins[0].from * 1e6)}</span>
        <span>
          duration{log ? " (log scale)" : ""}; highest bar {most} {most === 1 ? "trace" : "traces"}; a bar's click searches its range
        </span>
        <span>{formatDuration(bins[bins.length - 1].to * 1e6)}</span>
      </figcaption>
    </figure>
  );
}
