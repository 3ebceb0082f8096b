// Explore: a PromQL query as a graph over a range or a table at an instant, its errors and
// warnings shown where it was typed.

import { useEffect, useState } from "preact/hooks";
import { ApiError, type QueryData, type Series, labelValues, queryInstant, queryRange, seriesName, stepFor } from "./api";
import { Chart } from "./chart";

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
  const [metrics, setMetrics] = useState<string[]>([]);

  useEffect(() => {
    labelValues("__name__").then((a) => setMetrics(a.data), () => setMetrics([]));
  }, []);

  async function run(kind = tab) {
    if (!expr.trim()) return;
    const seconds = RANGES.find(([r]) => r === range)?.[1] ?? 3600;
    const end = Math.floor(Date.now() / 1000);
    const start = end - seconds;
    const step = stepFor(seconds);
    history.replaceState(null, "", `/explore?${new URLSearchParams({ q: expr, range, tab: kind })}`);
    const began = performance.now();
    try {
      const answer = kind === "graph" ? await queryRange(expr, start, end, step) : await queryInstant(expr, end);
      setOutcome({ kind, data: answer.data, start, end, step, warnings: answer.warnings, infos: answer.infos, took: performance.now() - began });
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
        <textarea
          aria-label="PromQL expression"
          placeholder="PromQL, e.g. rate(p2p_messages_sent_total[5m])"
          rows={2}
          value={expr}
          onInput={(e) => setExpr((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              run();
            }
          }}
        />
        <input class="metric-pick" list="metric-names" placeholder="metric…" aria-label="Insert a metric name" onChange={(e) => {
          const name = (e.target as HTMLInputElement).value;
          if (name) setExpr(expr ? `${expr}${name}` : name);
          (e.target as HTMLInputElement).value = "";
        }} />
        <datalist id="metric-names">
          {metrics.map((m) => (
            <option value={m} />
          ))}
        </datalist>
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
      </p>
      {outcome.kind === "graph" && data.resultType === "matrix" ? (
        (data.result as Series[]).length ? (
          <Chart
            series={data.result as Series[]}
            names={(data.result as Series[]).map((s) => seriesName(s.metric))}
            start={outcome.start}
            end={outcome.end}
            step={outcome.step}
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
