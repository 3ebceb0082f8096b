// SLOs: every SLO with its budget left, burn rate and alerts, least budget left first;
// and one SLO's page: its definition, its error budget over the period, its burn rate in
// each alert window against the alerts' thresholds, and its alerts. Everything comes
// from `/api/v1/slos` and the series the SLO's generated rules record (`slo:*`).

import { useEffect, useMemo, useState } from "preact/hooks";
import { ApiError, type Series, type Slo, type SloAlert, queryRange, slos, stepFor } from "./api";
import { Chart } from "./chart";
import { type FieldConfig, cssColor } from "./fields";
import { LabelList } from "./labels";
import { formatValue } from "./units";

/** How often both pages ask again. */
const REFRESH_MS = 30_000;

/** The budget alert's default threshold, and the budget left under which a bar is red. */
const LOW_BUDGET = 0.1;

/** Alerts in this order on a row: the one that pages first. */
const SEVERITIES = ["page", "ticket", "budget"];

/** Threshold lines' colours (Grafana's names), by the severity of the alert they belong to. */
const SEVERITY_COLORS: Record<string, string> = { page: "red", ticket: "orange" };

/** The burn-rate chart's ranges; 6 h unless the URL says otherwise. */
const RANGES: [string, number][] = [
  ["1h", 3600],
  ["6h", 21600],
  ["24h", 86400],
  ["7d", 604800],
];

/** Orders SLOs as `/api/v1/slos` does: least budget left first, those without data
 * last, then by id. */
export function compareSlos(a: Pick<Slo, "id" | "errorBudgetRemaining">, b: Pick<Slo, "id" | "errorBudgetRemaining">): number {
  const x = a.errorBudgetRemaining;
  const y = b.errorBudgetRemaining;
  if (x !== y) {
    if (x === null) return 1;
    if (y === null) return -1;
    return x - y;
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** A ratio as a percentage with at most `decimals` decimals: 0.999 → `99.9%`. */
export function percent(ratio: number, decimals = 2): string {
  return `${Number((ratio * 100).toFixed(decimals))}%`;
}

const UNITS: [string, number][] = [
  ["d", 86400],
  ["h", 3600],
  ["m", 60],
  ["s", 1],
];

/** A duration in its two largest units, cut (not rounded) to the second: `3d 4h`,
 * `2h`, `5m 30s`. */
export function humanDuration(seconds: number): string {
  if (seconds < 1) return "under 1s";
  let rest = Math.floor(seconds);
  const parts: string[] = [];
  for (const [name, size] of UNITS) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (parts.length) {
      if (n) parts.push(`${n}${name}`);
      break;
    }
    if (n) parts.push(`${n}${name}`);
  }
  return parts.join(" ");
}

/** When the budget runs out at the current burn rate, as the API's figure says:
 * `exhausted` once spent, `not burning` when nothing burns it, `no data` when the figures
 * are missing. */
export function timeToExhaustion(slo: Pick<Slo, "errorBudgetRemaining" | "currentBurnRate" | "timeToExhaustionSeconds">): string {
  const left = slo.errorBudgetRemaining;
  if (slo.timeToExhaustionSeconds === 0 || (left !== null && left <= 0)) return "exhausted";
  if (slo.timeToExhaustionSeconds === null) return left === null || slo.currentBurnRate === null ? "no data" : "not burning";
  return humanDuration(slo.timeToExhaustionSeconds);
}

/** A burn rate as a multiple of the rate that spends the budget in exactly one period. */
export function burnRate(rate: number | null): string {
  return rate === null ? "–" : `${Number(rate.toFixed(rate < 10 ? 2 : 1))}×`;
}

/** The budget left under which the SLO's budget alert fires (10% unless it says). */
export function budgetThreshold(slo: Pick<Slo, "alerts">): number {
  return slo.alerts.find((a) => a.severity === "budget")?.threshold ?? LOW_BUDGET;
}

/** The error budget, 1 - objective, as the shortest decimal that is meant: 0.999 gives
 * 0.001 (not 0.0010000000000000009), so that a query reads as a person would write it. */
export function errorBudget(objective: number): number {
  return Number((1 - objective).toPrecision(12));
}

/** PromQL's string literal of `text`. */
function quoted(text: string): string {
  return JSON.stringify(text);
}

/** One window's burn rate: its recorded error ratio over the error budget. */
export function burnRateQuery(id: string, window: string, objective: number): string {
  return `slo:sli_error:ratio_rate${window}{sloth_id=${quoted(id)}} / ${errorBudget(objective)}`;
}

/** The budget left over the period, as the meta recording rules record it. */
export function budgetQuery(id: string): string {
  return `slo:period_error_budget_remaining:ratio{sloth_id=${quoted(id)}}`;
}

/** The windows the alerts' conditions read, in the order of the SLO's window table
 * (shortest first); a window missing from the table comes after them. */
export function alertWindows(slo: Pick<Slo, "windows" | "alerts">): string[] {
  const used = new Set(slo.alerts.flatMap((a) => a.conditions.flatMap((c) => [c.shortWindow, c.longWindow])));
  const known = slo.windows.map((w) => w.window).filter((w) => used.has(w));
  return [...known, ...[...used].filter((w) => !known.includes(w))];
}

/** A horizontal line on the burn-rate chart: the burn rate some condition of an alert of
 * `severity` fires above, with the window pairs (`1h/5m`: long, then short) that use it. */
export interface ThresholdLine {
  value: number;
  severity: string;
  color: string;
  windows: string[];
}

/** One line per severity and burn rate of the alerts' conditions, highest first. */
export function thresholdLines(alerts: SloAlert[]): ThresholdLine[] {
  const lines = new Map<string, ThresholdLine>();
  for (const a of alerts) {
    for (const c of a.conditions) {
      const key = `${a.severity} ${c.burnRate}`;
      const line = lines.get(key) ?? { value: c.burnRate, severity: a.severity, color: SEVERITY_COLORS[a.severity] ?? "yellow", windows: [] };
      line.windows.push(`${c.longWindow}/${c.shortWindow}`);
      lines.set(key, line);
    }
  }
  return [...lines.values()].sort((a, b) => b.value - a.value);
}

/** The burn-rate chart's field configuration: the thresholds drawn as dashed lines, and
 * a value axis reaching the highest of them, so that every line is in view. */
export function burnRateConfig(lines: ThresholdLine[]): FieldConfig {
  const steps = [...lines].sort((a, b) => a.value - b.value).map((l) => ({ value: l.value, color: l.color }));
  return {
    unit: "suffix:×",
    thresholds: { mode: "absolute", steps: [{ value: null, color: "transparent" }, ...steps] },
    custom: { thresholdsStyle: { mode: "dashed" }, axisSoftMin: 0, axisSoftMax: lines.length ? lines[0].value : undefined },
  };
}

/** The time of the first value in `series`, or null when there is none. */
export function firstValueTime(series: Series[]): number | null {
  let first: number | null = null;
  for (const s of series) {
    for (const [t, v] of s.values ?? []) {
      if (Number.isFinite(Number(v)) && (first === null || t < first)) first = t;
    }
  }
  return first;
}

/** The budget chart's range: the last period, or from where the server's values begin
 * when they begin later (`first`, found on a grid of `coarseStep`, so up to one step
 * late), with about 250 points. */
export function heldRange(now: number, periodSeconds: number, first: number, coarseStep: number): { start: number; end: number; step: number } {
  const start = Math.max(now - periodSeconds, Math.floor(first - coarseStep));
  return { start, end: now, step: stepFor(now - start) };
}

/** What a chart draws: the series and their names over a range. */
interface Plot {
  series: Series[];
  names: string[];
  start: number;
  end: number;
  step: number;
}

/** The budget left over the last period, from the first value the server holds: a coarse
 * look over the whole period finds where the values begin, then a finer one draws them. */
async function budgetPlot(slo: Slo, now: number): Promise<Plot> {
  const query = budgetQuery(slo.id);
  const coarseStep = stepFor(slo.periodSeconds, 500);
  // Ending exactly now, so that the newest values are seen.
  const coarse = { start: now - Math.ceil(slo.periodSeconds / coarseStep) * coarseStep, end: now, step: coarseStep };
  const whole = (await queryRange(query, coarse.start, coarse.end, coarse.step)).data.result as Series[];
  const first = firstValueTime(whole);
  if (first === null) return { series: [], names: [], ...coarse };
  const held = heldRange(now, slo.periodSeconds, first, coarseStep);
  if (held.start <= coarse.start + coarseStep) return { series: whole, names: whole.map(() => "budget left"), ...coarse };
  const series = (await queryRange(query, held.start, held.end, held.step)).data.result as Series[];
  // The chart begins at the first value: the values lie on the query's grid.
  return { series, names: series.map(() => "budget left"), ...held, start: firstValueTime(series) ?? held.start };
}

/** The burn rate of each window the alerts read, over the last `seconds`. */
async function burnRatePlot(slo: Slo, now: number, seconds: number): Promise<Plot> {
  const start = now - seconds;
  const step = stepFor(seconds);
  const windows = alertWindows(slo);
  const answers = await Promise.all(windows.map((w) => queryRange(burnRateQuery(slo.id, w, slo.objective), start, now, step)));
  const series: Series[] = [];
  const names: string[] = [];
  answers.forEach((a, i) => {
    for (const s of a.data.result as Series[]) {
      series.push(s);
      names.push(windows[i]);
    }
  });
  return { series, names, start, end: now, step };
}

/** Every SLO, asked for now and every 30 s; `at` is when the answer came (Unix seconds),
 * the end of the charts' ranges. */
function useSlos(): { list: Slo[] | null; error: string | null; at: number } {
  const [state, setState] = useState<{ list: Slo[] | null; error: string | null; at: number }>({ list: null, error: null, at: 0 });
  useEffect(() => {
    let cancelled = false;
    const load = () =>
      slos().then(
        (a) => !cancelled && setState({ list: [...a.data].sort(compareSlos), error: null, at: Math.floor(Date.now() / 1000) }),
        (e: ApiError) => !cancelled && setState((s) => ({ ...s, error: e.message })),
      );
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, []);
  return state;
}

function isPaging(slo: Slo): boolean {
  return slo.alerts.some((a) => a.severity === "page" && a.state === "firing");
}

export function Slos() {
  const { list, error } = useSlos();
  if (error) return <div class="error" role="alert">{error}</div>;
  if (!list) return <p class="muted">Loading SLOs…</p>;
  const paging = list.filter(isPaging).length;
  return (
    <section class="slos-page">
      <h1>
        SLOs {paging > 0 && <span class="badge firing">{paging} paging</span>}
      </h1>
      <p class="muted">
        {list.length} SLOs, least error budget left first; the budget and the SLI are over each SLO's period, the burn rate over 5 minutes
        (1× spends the budget in exactly one period). Every 30 s.
      </p>
      {list.length === 0 && <p class="empty">No SLOs: start Skywatch with --slos DIR (Sloth or OpenSLO spec files).</p>}
      {list.length > 0 && (
        <div class="scroll">
          <table class="grid slo-table">
            <thead>
              <tr>
                <th>Service</th>
                <th>SLO</th>
                <th class="num">Objective</th>
                <th class="num">SLI</th>
                <th>Budget left</th>
                <th class="num">Burn rate</th>
                <th>Exhausted in</th>
                <th>Alerts</th>
              </tr>
            </thead>
            <tbody>
              {list.map((s) => (
                <tr class={`slo${isPaging(s) ? " paging" : ""}`} data-slo-id={s.id}>
                  <td>{s.service}</td>
                  <td>
                    <a href={`/slos/${encodeURIComponent(s.id)}`}>{s.name}</a>
                  </td>
                  <td class="num">{percent(s.objective, 4)}</td>
                  <td class="num">
                    {s.sli === null ? "–" : percent(s.sli, 3)} <span class="muted">{s.period}</span>
                  </td>
                  <td>
                    <BudgetBar left={s.errorBudgetRemaining} threshold={budgetThreshold(s)} />
                  </td>
                  <td class="num">{burnRate(s.currentBurnRate)}</td>
                  <td>{timeToExhaustion(s)}</td>
                  <td>
                    <AlertBadges alerts={s.alerts} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** The budget left as a bar, red under the budget alert's threshold or when overspent. */
function BudgetBar({ left, threshold }: { left: number | null; threshold: number }) {
  if (left === null) return <span class="muted">no data</span>;
  const low = left < threshold;
  return (
    <div class={`budget${low ? " low" : ""}`} title={`${percent(left, 2)} of the error budget left`}>
      <span class="bar-track">
        <span class="bar-fill" style={{ width: `${Math.min(Math.max(left, 0), 1) * 100}%` }} />
      </span>
      <span class="bar-value">{percent(left, 1)}</span>
    </div>
  );
}

/** A badge per alert, the page alert first: its severity and state. */
function AlertBadges({ alerts }: { alerts: SloAlert[] }) {
  const rank = (a: SloAlert) => {
    const i = SEVERITIES.indexOf(a.severity);
    return i === -1 ? SEVERITIES.length : i;
  };
  return (
    <span class="slo-alerts">
      {[...alerts]
        .sort((a, b) => rank(a) - rank(b))
        .map((a) => (
          <span class={`badge slo-alert ${a.state}`} data-severity={a.severity} data-state={a.state} title={`${a.name} (${a.severity}): ${a.state}`}>
            {a.severity} {a.state}
          </span>
        ))}
    </span>
  );
}

function param(name: string): string | null {
  return new URLSearchParams(location.search).get(name);
}

export function SloPage({ id }: { id: string }) {
  const { list, error, at } = useSlos();
  const [range, setRange] = useState(() => {
    const r = param("range");
    return RANGES.some(([x]) => x === r) ? r! : "6h";
  });
  useEffect(() => {
    history.replaceState(null, "", `${location.pathname}?${new URLSearchParams({ range })}`);
  }, [range]);
  if (error) return <div class="error" role="alert">{error}</div>;
  if (!list) return <p class="muted">Loading the SLO…</p>;
  const slo = list.find((s) => s.id === id);
  if (!slo) {
    return (
      <div class="error" role="alert">
        No SLO has the id “{id}”. <a href="/slos">Every SLO</a>
      </div>
    );
  }
  const seconds = RANGES.find(([r]) => r === range)?.[1] ?? 21600;
  return (
    <section class="slo-page">
      <p class="muted">
        <a href="/slos">SLOs</a> / {slo.service}
      </p>
      <h1>
        {slo.name} <AlertBadges alerts={slo.alerts} />
      </h1>
      {slo.description && <p>{slo.description}</p>}
      <dl class="slo-facts">
        <div>
          <dt>Objective</dt>
          <dd>
            {percent(slo.objective, 4)} over {slo.period}
          </dd>
        </div>
        <div>
          <dt>SLI</dt>
          <dd>{slo.sli === null ? "no data" : percent(slo.sli, 3)}</dd>
        </div>
        <div>
          <dt>Budget left</dt>
          <dd>
            <BudgetBar left={slo.errorBudgetRemaining} threshold={budgetThreshold(slo)} />
          </dd>
        </div>
        <div>
          <dt>Burn rate (5m)</dt>
          <dd>{burnRate(slo.currentBurnRate)}</dd>
        </div>
        <div>
          <dt>Exhausted in</dt>
          <dd>{timeToExhaustion(slo)}</dd>
        </div>
        <div>
          <dt>File</dt>
          <dd class="slo-file">{slo.file}</dd>
        </div>
        <div class="slo-labels">
          <dt>Labels</dt>
          <dd>{Object.keys(slo.labels).length ? <LabelList labels={slo.labels} /> : <span class="muted">none</span>}</dd>
        </div>
      </dl>
      <h2>Error budget left</h2>
      <PlotChart
        kind="budget"
        load={() => budgetPlot(slo, at)}
        deps={[slo.id, slo.periodSeconds, at]}
        configs={budgetConfig(budgetThreshold(slo))}
        empty="No budget recorded yet: the SLO's rules record it once they run."
      />
      <div class="slo-chart-bar">
        <h2>Burn rate per alert window</h2>
        <select aria-label="Range" value={range} onChange={(e) => setRange((e.target as HTMLSelectElement).value)}>
          {RANGES.map(([r]) => (
            <option value={r}>Last {r}</option>
          ))}
        </select>
      </div>
      <BurnRateChart slo={slo} at={at} seconds={seconds} />
      <h2>Alerts</h2>
      <AlertTable alerts={slo.alerts} />
      <h2>Windows</h2>
      <div class="scroll">
        <table class="grid slo-windows">
          <thead>
            <tr>
              <th>Window</th>
              <th class="num">Error ratio</th>
              <th class="num">Burn rate</th>
            </tr>
          </thead>
          <tbody>
            {slo.windows.map((w) => (
              <tr>
                <td>{w.window}</td>
                <td class="num">{w.errorRatio === null ? "–" : formatValue(w.errorRatio, "percentunit")}</td>
                <td class="num">{burnRate(w.burnRate)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** The budget chart's configuration: a dashed line at the budget alert's threshold, and
 * 0% and 100% always in view. */
function budgetConfig(threshold: number): FieldConfig {
  return {
    unit: "percentunit",
    thresholds: { mode: "absolute", steps: [{ value: null, color: "transparent" }, { value: threshold, color: "orange" }] },
    custom: { thresholdsStyle: { mode: "dashed" }, axisSoftMin: 0, axisSoftMax: 1, fillOpacity: 10 },
  };
}

function BurnRateChart({ slo, at, seconds }: { slo: Slo; at: number; seconds: number }) {
  const lines = useMemo(() => thresholdLines(slo.alerts), [JSON.stringify(slo.alerts.map((a) => [a.severity, a.conditions]))]);
  const config = useMemo(() => burnRateConfig(lines), [lines]);
  return (
    <>
      <PlotChart
        kind="burn-rate"
        load={() => burnRatePlot(slo, at, seconds)}
        deps={[slo.id, slo.objective, at, seconds, alertWindows(slo).join(",")]}
        configs={config}
        empty="No burn rate recorded in this range yet."
      />
      <ul class="slo-thresholds">
        {lines.map((l) => (
          <li data-severity={l.severity}>
            <span class="swatch" style={{ background: cssColor(l.color) }} />
            {l.severity} above {burnRate(l.value)} <span class="muted">over {l.windows.join(" and ")} (long/short window)</span>
          </li>
        ))}
      </ul>
    </>
  );
}

/** A chart of what `load` answers, loaded again when `deps` change. */
function PlotChart({ kind, load, deps, configs, empty }: { kind: string; load: () => Promise<Plot>; deps: unknown[]; configs: FieldConfig; empty: string }) {
  const [plot, setPlot] = useState<Plot | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let cancelled = false;
    load().then(
      (p) => {
        if (cancelled) return;
        setPlot(p);
        setError(null);
      },
      (e) => !cancelled && setError(e instanceof ApiError ? `${e.errorType}: ${e.message}` : String(e)),
    );
    return () => {
      cancelled = true;
    };
  }, deps);
  const all = useMemo(() => (plot ? plot.series.map(() => configs) : []), [plot, configs]);
  let body;
  if (error) body = <div class="error" role="alert">{error}</div>;
  else if (!plot) body = <p class="muted">Loading…</p>;
  else if (!plot.series.length) body = <p class="empty">{empty}</p>;
  else body = <Chart series={plot.series} names={plot.names} start={plot.start} end={plot.end} step={plot.step} height={240} configs={all} unit={configs.unit} />;
  return (
    <div class="slo-chart" data-chart={kind}>
      {body}
    </div>
  );
}

/** Each alert: its state, since when, and what makes it fire. */
function AlertTable({ alerts }: { alerts: SloAlert[] }) {
  if (!alerts.length) return <p class="empty">This SLO has no alerts.</p>;
  return (
    <div class="scroll">
      <table class="grid slo-alert-table">
        <thead>
          <tr>
            <th>Alert</th>
            <th>State</th>
            <th>Fires when</th>
          </tr>
        </thead>
        <tbody>
          {alerts.map((a) => (
            <tr class={`slo-alert-row ${a.state}`} data-severity={a.severity}>
              <td>
                {a.name} <span class="muted">({a.severity})</span>
              </td>
              <td>
                <span class={`badge ${a.state}`}>{a.state}</span>
                {a.activeAt && <span class="muted"> since {new Date(a.activeAt).toLocaleString()}</span>}
              </td>
              <td>
                {a.threshold !== undefined && <div>less than {percent(a.threshold, 2)} of the budget is left</div>}
                {a.conditions.map((c) => (
                  <div>
                    burn rate above {burnRate(c.burnRate)} over {c.longWindow} and over {c.shortWindow}
                  </div>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
