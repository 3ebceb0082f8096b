// Explore: a PromQL query as a graph over a range or a table at an instant, its errors and
// warnings shown where it was typed, with metric, label and value completion as it is
// typed. The graph shows the series' exemplars, each linking to its trace.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, type QueryData, type Series, queryInstant, queryRange, seriesName, stepFor } from "./api";
import { Chart } from "./chart";
import { type Context, accept, candidates, contextAt } from "./complete";
import { type ExemplarPoint, loadExemplars } from "./exemplars";

const RANGES: [string, number][] = [
  ["5m", 300],
  ["15m", 900],
  ["1h", 3600],
  ["6h", 21600],
  ["24h", 86400],
];

interface Outcome {
  kind: "graph" | "table";
  data?: QueryData;
  start: number;
  end: number;
  step: number;
  error?: ApiError;
  exemplars?: ExemplarPoint[];
  warnings: string[];
  infos: string[];
  took: number;
}

function param(name: string, fallback: string): string {
  return new URLSearchParams(location.search).get(name) ?? fallback;
}

export function Explore() {
  const [expr, setExpr] = useState(param("q", ""));
  const [range, setRange] = useState(param("range", "1h"));
  const [tab, setTab] = useState<"graph" | "table">(param("tab", "graph") === "table" ? "table" : "graph");
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [suggest, setSuggest] = useState<{ ctx: Context; items: string[]; active: number } | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);

  /** Looks up completions for the word at the cursor; a newer keystroke wins. */
  const asked = useRef(0);
  function complete() {
    const el = input.current;
    if (!el) return;
    const ctx = contextAt(el.value, el.selectionStart ?? el.value.length);
    const n = ++asked.current;
    if (!ctx || (ctx.kind === "metric" && !ctx.prefix)) {
      setSuggest(null);
      return;
    }
    candidates(ctx).then(
      (items) => n === asked.current && setSuggest(items.length ? { ctx, items, active: 0 } : null),
      () => n === asked.current && setSuggest(null),
    );
  }

  function choose(item: string) {
    const el = input.current;
    if (!el || !suggest) return;
    const next = accept(el.value, el.selectionStart ?? el.value.length, suggest.ctx, item);
    setExpr(next.text);
    el.value = next.text;
    el.setSelectionRange(next.cursor, next.cursor);
    el.focus();
    complete();
  }

  async function run(kind = tab) {
    if (!expr.trim()) return;
    const seconds = RANGES.find(([r]) => r === range)?.[1] ?? 3600;
    const end = Math.floor(Date.now() / 1000);
    const start = end - seconds;
    const step = stepFor(seconds);
    history.replaceState(null, "", `/explore?${new URLSearchParams({ q: expr, range, tab: kind })}`);
    const began = performance.now();
    try {
      const exemplars = kind === "graph" ? loadExemplars(expr, start, end) : Promise.resolve(undefined);
      const answer = kind === "graph" ? await queryRange(expr, start, end, step) : await queryInstant(expr, end);
      setOutcome({ kind, data: answer.data, start, end, step, exemplars: await exemplars, warnings: answer.warnings, infos: answer.infos, took: performance.now() - began });
    } catch (e) {
      const error = e instanceof ApiError ? e : new ApiError(String(e), "error");
      setOutcome({ kind, error, start, end, step, warnings: [], infos: [], took: performance.now() - began });
    }
  }

  useEffect(() => {
    if (expr) run();
    // Runs the query in the URL once, on arrival.
  }, []);

  return (
    <section class="explore">
      <h1>Explore</h1>
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
            aria-label="PromQL expression"
            aria-autocomplete="list"
            placeholder="PromQL, e.g. rate(p2p_messages_sent_total[5m])"
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
          <select aria-label="Range" value={range} onChange={(e) => setRange((e.target as HTMLSelectElement).value)}>
            {RANGES.map(([r]) => (
              <option value={r}>Last {r}</option>
            ))}
          </select>
          <div class="tabs" role="tablist">
            {(["graph", "table"] as const).map((t) => (
              <button type="button" role="tab" aria-selected={tab === t} class={tab === t ? "active" : ""} onClick={() => { setTab(t); run(t); }}>
                {t === "graph" ? "Graph" : "Table"}
              </button>
            ))}
          </div>
          <button type="submit" class="primary">Run</button>
        </div>
      </form>
      {outcome && <Result outcome={outcome} />}
    </section>
  );
}

function Result({ outcome }: { outcome: Outcome }) {
  if (outcome.error) {
    return (
      <div class="error" role="alert">
        <strong>{outcome.error.errorType}</strong>: {outcome.error.message}
      </div>
    );
  }
  const data = outcome.data!;
  const notes = [...outcome.warnings.map((w) => ["warning", w]), ...outcome.infos.map((i) => ["info", i])];
  return (
    <div class="result">
      {notes.map(([kind, text]) => (
        <div class={kind}>{text}</div>
      ))}
      <p class="muted">
        {describe(data)} in {Math.round(outcome.took)} ms
        {!!outcome.exemplars?.length && `; ${outcome.exemplars.length} exemplars, each a link to its trace`}
      </p>
      {outcome.kind === "graph" && data.resultType === "matrix" ? (
        (data.result as Series[]).length ? (
          <Chart
            series={data.result as Series[]}
            names={(data.result as Series[]).map((s) => seriesName(s.metric))}
            start={outcome.start}
            end={outcome.end}
            step={outcome.step}
            exemplars={outcome.exemplars}
          />
        ) : (
          <p class="empty">No data in this range.</p>
        )
      ) : (
        <Table data={data} />
      )}
    </div>
  );
}

function describe(data: QueryData): string {
  if (data.resultType === "scalar" || data.resultType === "string") return `a ${data.resultType}`;
  const n = (data.result as Series[]).length;
  return `${n} series`;
}

function Table({ data }: { data: QueryData }) {
  if (data.resultType === "scalar" || data.resultType === "string") {
    const [, v] = data.result as [number, string];
    return <table class="grid"><tbody><tr><td>{data.resultType}</td><td class="num">{v}</td></tr></tbody></table>;
  }
  const rows = data.result as Series[];
  if (!rows.length) return <p class="empty">Empty result.</p>;
  return (
    <table class="grid">
      <thead>
        <tr><th>Series</th><th class="num">Value</th></tr>
      </thead>
      <tbody>
        {rows.map((s) => (
          <tr>
            <td class="series">{seriesName(s.metric)}</td>
            <td class="num">{s.value ? s.value[1] : `${s.values?.length ?? 0} points`}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
