// Alerting pages: alerts (with what mutes them), rules (with their health), silences
// (listed, made and expired) and the notification history.

import { useEffect, useState } from "preact/hooks";
import type { Labels } from "./api";
import { LabelList } from "./labels";
import { alertSelector } from "./logql";
import { labelNames } from "./logs-api";

/** Logs before an alert became active that its link shows too: what led up to it. */
const ALERT_LOG_LEAD_MS = 15 * 60_000;

/** The logs page's link to an alert's logs: its labels that are stream labels, from a
 * while before it became active to now; null when no label of it is a stream label. */
function alertLogsHref(labels: Labels, activeAt: string, streamLabels: string[]): string | null {
  const selector = alertSelector(labels, streamLabels);
  if (!selector) return null;
  const since = Date.parse(activeAt);
  const from = Number.isFinite(since) && since > 0 ? since - ALERT_LOG_LEAD_MS : Date.now() - 3_600_000;
  return `/logs?${new URLSearchParams({ q: selector, from: String(Math.floor(from)), to: "now" })}`;
}
/** Fetches `url` now and every `ms`, as JSON; `refresh` forces a fetch. */
function usePoll<T>(url: string, ms: number, unwrap: (body: unknown) => T): { data: T | null; error: string | null; missing: boolean; refresh: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [missing, setMissing] = useState(false);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let cancelled = false;
    const load = () =>
      fetch(url)
        .then(async (r) => {
          if (cancelled) return;
          if (r.status === 404) {
            setMissing(true);
            return;
          }
          const body = await r.json();
          if (!r.ok) throw new Error(typeof body === "string" ? body : (body.error ?? `${url} answered ${r.status}`));
          setData(unwrap(body));
          setError(null);
        })
        .catch((e) => !cancelled && setError(String(e.message ?? e)));
    load();
    const timer = setInterval(load, ms);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [url, tick]);
  return { data, error, missing, refresh: () => setTick((t) => t + 1) };
}

function since(iso: string): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t) || t <= 0) return "";
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 60) return `${s.toFixed(0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

const NOT_ROUTED = "Alert routing is not configured: start Skywatch with --alertmanager-config FILE (the demo routes to its own webhooks).";

interface RuleAlert {
  labels: Labels;
  annotations: Labels;
  state: string;
  activeAt: string;
  value: string;
}
interface RoutedAlert {
  fingerprint: string;
  labels: Labels;
  receivers: { name: string }[];
  status: { state: string; silencedBy: string[]; inhibitedBy: string[] };
}

export function Alerts() {
  const rules = usePoll("/api/v1/alerts", 5000, (b) => (b as { data: { alerts: RuleAlert[] } }).data.alerts);
  const routed = usePoll("/api/v2/alerts?active=true&silenced=true&inhibited=true", 5000, (b) => b as RoutedAlert[]);
  // The stream labels of the log store, for each alert's logs link (none without logs).
  const [streamLabels, setStreamLabels] = useState<string[]>([]);
  useEffect(() => {
    labelNames(Date.now() - 6 * 3_600_000, Date.now()).then(setStreamLabels, () => setStreamLabels([]));
  }, []);
  if (rules.error) return <div class="error" role="alert">{rules.error}</div>;
  if (!rules.data) return <p class="muted">Loading alerts…</p>;
  const key = (l: Labels) => JSON.stringify(Object.entries(l).sort());
  const routing = new Map((routed.data ?? []).map((a) => [key(a.labels), a]));
  const order: Record<string, number> = { firing: 0, pending: 1 };
  const list = [...rules.data].sort((a, b) => (order[a.state] ?? 2) - (order[b.state] ?? 2) || (a.labels.alertname ?? "").localeCompare(b.labels.alertname ?? ""));
  return (
    <section class="alerts-page">
      <h1>Alerts</h1>
      {routed.missing && <p class="muted">{NOT_ROUTED}</p>}
      {list.length === 0 && <p class="empty">No alert is pending or firing.</p>}
      <ul class="alert-list">
        {list.map((a) => {
          const r = routing.get(key(a.labels));
          const muted = r && r.status.state === "suppressed";
          const logs = alertLogsHref(a.labels, a.activeAt, streamLabels);
          return (
            <li class={`alert-item ${a.state}`}>
              <span class={`badge ${a.state}`}>{a.state}</span>
              <span class="alert-name">{a.labels.alertname}</span>
              <LabelList labels={a.labels} skip={["alertname"]} />
              <span class="muted">for {since(a.activeAt)}</span>
              {muted && r.status.silencedBy.length > 0 && <span class="badge muted-by">silenced</span>}
              {muted && r.status.inhibitedBy.length > 0 && <span class="badge muted-by">inhibited</span>}
              {r && r.receivers.length > 0 && <span class="muted">→ {r.receivers.map((x) => x.name).join(", ")}</span>}
              {a.annotations.summary && <span class="alert-summary">{a.annotations.summary}</span>}
              {logs && (
                <a class="alert-logs" href={logs} title="The logs of the streams this alert's labels name, since a while before it became active">
                  logs
                </a>
              )}
              {a.annotations.runbook_url && (
                <a class="runbook" href={a.annotations.runbook_url} target="_blank" rel="noreferrer">
                  runbook
                </a>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

interface Rule {
  name: string;
  query: string;
  type: "alerting" | "recording";
  health: string;
  lastError: string;
  state?: string;
  duration?: number;
  alerts?: RuleAlert[];
  evaluationTime: number;
}
interface RuleGroup {
  name: string;
  file: string;
  interval: number;
  rules: Rule[];
}

export function Rules() {
  const { data, error } = usePoll("/api/v1/rules", 10000, (b) => (b as { data: { groups: RuleGroup[] } }).data.groups);
  if (error) return <div class="error" role="alert">{error}</div>;
  if (!data) return <p class="muted">Loading rules…</p>;
  return (
    <section class="rules-page">
      <h1>Rules</h1>
      {data.length === 0 && <p class="empty">No rules: list rule files under rule_files in the configuration.</p>}
      {data.map((g) => (
        <div class="job">
          <h2>
            {g.name} <span class="muted">({g.file}, every {g.interval} s)</span>
          </h2>
          <div class="scroll">
            <table class="grid">
              <thead>
                <tr>
                  <th>Rule</th>
                  <th>State</th>
                  <th>Expression</th>
                  <th class="num">Eval</th>
                </tr>
              </thead>
              <tbody>
                {g.rules.map((r) => (
                  <tr>
                    <td>
                      {r.name}
                      {r.type === "alerting" && r.duration ? <span class="muted"> for {r.duration} s</span> : null}
                    </td>
                    <td>
                      {r.type === "alerting" ? <span class={`badge ${r.state}`}>{r.state}</span> : <span class="muted">recording</span>}
                      {r.health === "err" && <span class="err"> {r.lastError}</span>}
                    </td>
                    <td class="expr">
                      <a href={`/explore?${new URLSearchParams({ q: r.query, range: "1h", tab: "graph" })}`}>{r.query}</a>
                    </td>
                    <td class="num">{(r.evaluationTime * 1000).toFixed(1)} ms</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ))}
    </section>
  );
}

interface Silence {
  id: string;
  matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  status: { state: string };
}

function matcherText(m: Silence["matchers"][number]): string {
  const op = m.isRegex ? (m.isEqual ? "=~" : "!~") : m.isEqual ? "=" : "!=";
  return `${m.name}${op}"${m.value}"`;
}

/** `name="value"`, `name=~"re"`, `name!="v"`, `name!~"re"` into a silence matcher. */
function parseMatcher(text: string): Silence["matchers"][number] | null {
  const m = /^\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$/.exec(text);
  if (!m) return null;
  return { name: m[1], value: m[3], isRegex: m[2].includes("~"), isEqual: !m[2].startsWith("!") };
}

export function Silences() {
  const { data, error, missing, refresh } = usePoll("/api/v2/silences", 10000, (b) => b as Silence[]);
  const [matchers, setMatchers] = useState(new URLSearchParams(location.search).get("matchers") ?? "");
  const [hours, setHours] = useState("2");
  const [author, setAuthor] = useState(localStorage.getItem("skywatch-author") ?? "");
  const [comment, setComment] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  if (missing) return <p class="muted">{NOT_ROUTED}</p>;
  if (error) return <div class="error" role="alert">{error}</div>;
  if (!data) return <p class="muted">Loading silences…</p>;
  const create = async (e: Event) => {
    e.preventDefault();
    const parsed = matchers.split(",").map((m) => m.trim()).filter(Boolean).map(parseMatcher);
    if (!parsed.length || parsed.some((p) => !p)) {
      setProblem('Write matchers as name="value", separated by commas (=~ for a regex).');
      return;
    }
    localStorage.setItem("skywatch-author", author);
    const now = Date.now();
    const r = await fetch("/api/v2/silences", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        matchers: parsed,
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + Number(hours) * 3_600_000).toISOString(),
        createdBy: author,
        comment,
      }),
    });
    if (!r.ok) {
      setProblem(String(await r.json()));
      return;
    }
    setProblem(null);
    setComment("");
    refresh();
  };
  const expire = async (id: string) => {
    const r = await fetch(`/api/v2/silence/${encodeURIComponent(id)}`, { method: "DELETE" });
    if (!r.ok) setProblem(String(await r.json()));
    refresh();
  };
  const order: Record<string, number> = { active: 0, pending: 1, expired: 2 };
  const list = [...data].sort((a, b) => (order[a.status.state] ?? 3) - (order[b.status.state] ?? 3) || b.endsAt.localeCompare(a.endsAt));
  return (
    <section class="silences-page">
      <h1>Silences</h1>
      <form class="silence-form" onSubmit={create}>
        <input aria-label="Matchers" placeholder='alertname="ServiceDown", node="node-03"' value={matchers} onInput={(e) => setMatchers((e.target as HTMLInputElement).value)} />
        <select aria-label="Duration" value={hours} onChange={(e) => setHours((e.target as HTMLSelectElement).value)}>
          {["1", "2", "4", "12", "24", "168"].map((h) => (
            <option value={h}>for {Number(h) >= 24 ? `${Number(h) / 24} d` : `${h} h`}</option>
          ))}
        </select>
        <input aria-label="Author" placeholder="who" required value={author} onInput={(e) => setAuthor((e.target as HTMLInputElement).value)} />
        <input aria-label="Comment" placeholder="why" required value={comment} onInput={(e) => setComment((e.target as HTMLInputElement).value)} />
        <button type="submit" class="primary">
          Silence
        </button>
      </form>
      {problem && <div class="error" role="alert">{problem}</div>}
      {list.length === 0 && <p class="empty">No silences.</p>}
      <div class="scroll">
        <table class="grid">
          <tbody>
            {list.map((s) => (
              <tr class={`silence ${s.status.state}`}>
                <td>
                  <span class={`badge ${s.status.state}`}>{s.status.state}</span>
                </td>
                <td class="labels">
                  {s.matchers.map((m) => (
                    <span class="label">{matcherText(m)}</span>
                  ))}
                </td>
                <td>
                  {s.createdBy}: {s.comment}
                </td>
                <td class="muted">until {new Date(s.endsAt).toLocaleString()}</td>
                <td>
                  {s.status.state !== "expired" && (
                    <button type="button" onClick={() => expire(s.id)}>
                      Expire
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

interface Entry {
  time: string;
  receiver: string;
  integration: string;
  target: string;
  status: string;
  firing: number;
  resolved: number;
  alertnames: string[];
  outcome: string;
  attempts: number;
  error: string;
  /** What was sent, as rendered (each request with its body, or the email). */
  rendered?: string;
}

export function Notifications() {
  const { data, error, missing } = usePoll("/api/v1/notifications?limit=200", 5000, (b) => (b as { data: Entry[] }).data);
  if (missing) return <p class="muted">{NOT_ROUTED}</p>;
  if (error) return <div class="error" role="alert">{error}</div>;
  if (!data) return <p class="muted">Loading notifications…</p>;
  return (
    <section class="notifications-page">
      <h1>Notifications</h1>
      {data.length === 0 && <p class="empty">Nothing sent yet.</p>}
      <div class="scroll">
        <table class="grid">
          <thead>
            <tr>
              <th>When</th>
              <th>Receiver</th>
              <th>Alerts</th>
              <th>Outcome</th>
            </tr>
          </thead>
          <tbody>
            {data.map((e) => (
              <tr class={`notification ${e.outcome}`}>
                <td>{new Date(e.time).toLocaleString()}</td>
                <td>
                  {e.receiver} <span class="muted">({e.integration})</span>
                </td>
                <td>
                  <span class={`badge ${e.status === "firing" ? "firing" : "inactive"}`}>{e.status}</span> {e.alertnames.join(", ")}{" "}
                  <span class="muted">
                    ({e.firing} firing, {e.resolved} resolved)
                  </span>
                </td>
                <td class={e.outcome === "failed" ? "err" : ""}>
                  {e.outcome}
                  {e.attempts > 1 ? ` after ${e.attempts} tries` : ""}
                  {e.error ? `: ${e.error}` : ""}
                  {e.rendered && (
                    <details class="rendered">
                      <summary>What was sent{e.target ? ` to ${e.target}` : ""}</summary>
                      <pre>{e.rendered}</pre>
                    </details>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

