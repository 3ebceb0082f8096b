// Health: every target's own health report, aggregated into HEALTHY, DEGRADED or CRITICAL,
// with the components that fail; and the network view, from the series network health's
// rules record (docs/network-health.md): each node's height, lag, blocks over the window,
// peers and the alerts of the group firing for it, and the inventory against the targets.

import { useEffect, useState } from "preact/hooks";
import { type Series, queryInstant } from "./api";

interface Failing {
  name: string;
  status: string;
  message: string;
}
interface TargetHealth {
  job: string;
  labels: Record<string, string>;
  scrapeUrl: string;
  status: "HEALTHY" | "DEGRADED" | "CRITICAL";
  failing: Failing[];
  error: string;
}

/** One node of the network view. */
interface NetNode {
  node: string;
  up?: number;
  height?: number;
  lag?: number;
  moved?: number;
  peers?: number;
  expected: boolean;
  alerts: { name: string; state: string }[];
}
interface NetView {
  label: string;
  inventory: boolean;
  nodes: NetNode[];
}

/** The network view now, or null when no network-health rules run. */
async function loadNetwork(): Promise<NetView | null> {
  const now = Date.now() / 1000;
  const ask = async (q: string) => {
    const r = (await queryInstant(q, now)).data.result;
    return Array.isArray(r) ? (r as Series[]) : [];
  };
  const [up, height, lag, moved, peers, expected, alerts] = await Promise.all([
    ask("skywatch:network_health_up"),
    ask("skywatch:network_health_height"),
    ask("skywatch:network_health_height_lag"),
    ask("skywatch:network_health_height_moved"),
    ask("skywatch:network_health_peers"),
    ask("skywatch:inventory_expected"),
    ask('ALERTS{component="network-health"}'),
  ]);
  if (!up.length && !height.length && !expected.length) return null;
  // The recorded series carry the node label alone.
  const label = Object.keys([...up, ...height, ...expected][0]?.metric ?? {}).find((k) => k !== "__name__") ?? "node";
  const nodes = new Map<string, NetNode>();
  const at = (name: string) => {
    let n = nodes.get(name);
    if (!n) nodes.set(name, (n = { node: name, expected: false, alerts: [] }));
    return n;
  };
  const fill = (series: Series[], set: (n: NetNode, v: number) => void) => {
    for (const s of series) {
      const name = s.metric[label];
      if (name) set(at(name), Number(s.value?.[1]));
    }
  };
  fill(up, (n, v) => (n.up = v));
  fill(height, (n, v) => (n.height = v));
  fill(lag, (n, v) => (n.lag = v));
  fill(moved, (n, v) => (n.moved = v));
  fill(peers, (n, v) => (n.peers = v));
  fill(expected, (n) => (n.expected = true));
  for (const a of alerts) {
    const name = a.metric[label];
    if (name) at(name).alerts.push({ name: a.metric.alertname, state: a.metric.alertstate });
  }
  const sorted = [...nodes.values()].sort((a, b) => a.node.localeCompare(b.node, undefined, { numeric: true }));
  return { label, inventory: expected.length > 0, nodes: sorted };
}

const num = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? "–" : String(Math.round(v * 100) / 100));

/** The network view: each node against the rest, and the inventory against the targets. */
function NetworkView() {
  const [view, setView] = useState<NetView | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const load = () =>
      loadNetwork().then(
        (v) => {
          setView(v);
          setError(null);
        },
        (e) => setError(String(e)),
      );
    load();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }, []);
  if (error) return <div class="error" role="alert">{error}</div>;
  if (view === undefined) return null;
  if (view === null) {
    return (
      <section class="network-health">
        <h2>Network</h2>
        <p class="muted">
          No network-health rules run: give <code>--network-health.config</code> (docs/network-health.md) to compare each node with the network.
        </p>
      </section>
    );
  }
  const isUp = (n: NetNode) => n.up === 1;
  const absent = view.nodes.filter((n) => n.expected && !isUp(n));
  const unexpected = view.inventory ? view.nodes.filter((n) => !n.expected && isUp(n)) : [];
  const list = (nodes: NetNode[]) => (nodes.length ? nodes.map((n) => n.node).join(", ") : "none");
  return (
    <section class="network-health">
      <h2>Network</h2>
      <p class="muted">
        Each node against the rest of the network (label <code>{view.label}</code>): its height, how far behind the highest node, the blocks it
        imported over the window, its peers, and the network-health alerts for it.
      </p>
      {view.inventory ? (
        <ul class="inventory">
          <li class="absent">
            Expected but absent: <strong>{list(absent)}</strong>
          </li>
          <li class="unexpected">
            Present but unexpected: <strong>{list(unexpected)}</strong>
          </li>
        </ul>
      ) : (
        <p class="muted inventory">No inventory: every scraped node is taken as expected.</p>
      )}
      <div class="scroll">
        <table class="grid network">
          <thead>
            <tr>
              <th>Node</th><th>State</th><th class="num">Height</th><th class="num">Lag</th><th class="num">Blocks in window</th><th class="num">Peers</th><th>Alerts</th>
            </tr>
          </thead>
          <tbody>
            {view.nodes.map((n) => {
              // Down or absent first, then unexpected, then out of step with the network
              // (an alert of the group firing, or pending: diverging).
              const firing = n.alerts.some((a) => a.state === "firing");
              const state = !isUp(n)
                ? n.expected ? "ABSENT" : "DOWN"
                : view.inventory && !n.expected ? "UNEXPECTED"
                : firing ? "OUT OF STEP"
                : n.alerts.length ? "DIVERGING"
                : "IN STEP";
              const badge = state === "IN STEP" ? "healthy" : state === "ABSENT" || state === "DOWN" || firing ? "critical" : "degraded";
              return (
                <tr data-node={n.node}>
                  <td class="endpoint">{n.node}</td>
                  <td><span class={`badge ${badge}`}>{state}</span></td>
                  <td class="num">{num(n.height)}</td>
                  <td class="num">{num(n.lag)}</td>
                  <td class="num">{num(n.moved)}</td>
                  <td class="num">{num(n.peers)}</td>
                  <td>
                    {n.alerts.map((a) => (
                      <span><a href={`/runbooks/${a.name}`}>{a.name}</a> <span class={`badge ${a.state}`}>{a.state}</span> </span>
                    ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function Health() {
  const [report, setReport] = useState<{ status: string; targets: TargetHealth[] } | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const load = () =>
      fetch("/api/health")
        .then((r) => r.json())
        .then(
          (body) => {
            setReport(body);
            setError(null);
          },
          (e) => setError(`cannot reach Skywatch: ${e}`),
        );
    load();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }, []);

  if (error) return <div class="error" role="alert">{error}</div>;
  if (!report) return <p class="muted">Asking every target…</p>;
  const count = (s: string) => report.targets.filter((t) => t.status === s).length;
  return (
    <section class="health">
      <h1>
        Health <span class={`badge ${report.status.toLowerCase()}`}>{report.status}</span>
      </h1>
      <p class="muted">
        {count("HEALTHY")} healthy, {count("DEGRADED")} degraded, {count("CRITICAL")} critical, of {report.targets.length} targets; each
        target's <code>/health</code>, every 5 s.
      </p>
      <div class="scroll">
        <table class="grid">
          <thead>
            <tr><th>Target</th><th>State</th><th>Failing components</th></tr>
          </thead>
          <tbody>
            {report.targets.map((t) => (
              <tr>
                <td class="endpoint">{t.labels.node ?? t.labels.instance ?? t.scrapeUrl}</td>
                <td><span class={`badge ${t.status.toLowerCase()}`}>{t.status}</span></td>
                <td>
                  {t.error && <div class="err">{t.error}</div>}
                  {t.failing.map((f) => (
                    <div>
                      <strong>{f.name}</strong> <span class={`badge ${f.status.toLowerCase()}`}>{f.status}</span> {f.message}
                    </div>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <NetworkView />
    </section>
  );
}
