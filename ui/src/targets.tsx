// Targets: every scrape target by job, with its state, last scrape and last error.

import { useEffect, useState } from "preact/hooks";
import { type ActiveTarget, ApiError, type DiscoveryFailure, targets } from "./api";
import { LabelList } from "./labels";

function ago(iso: string): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t) || t <= 0) return "never";
  const s = Math.max(0, (Date.now() - t) / 1000);
  return s < 60 ? `${s.toFixed(1)} s ago` : `${Math.floor(s / 60)} min ago`;
}

export function Targets() {
  const [list, setList] = useState<ActiveTarget[] | null>(null);
  const [failures, setFailures] = useState<DiscoveryFailure[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [onlyDown, setOnlyDown] = useState(false);

  useEffect(() => {
    const load = () =>
      targets().then(
        (a) => {
          setList(a.data.activeTargets);
          setFailures(a.data.discoveryFailures ?? []);
          setError(null);
        },
        (e: ApiError) => setError(e.message),
      );
    load();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }, []);

  if (error) return <div class="error" role="alert">{error}</div>;
  if (!list) return <p class="muted">Loading targets…</p>;
  const jobs = new Map<string, ActiveTarget[]>();
  // A job whose discovery fails is shown even when it has no targets: that is why.
  for (const f of failures) jobs.set(f.scrapePool, []);
  for (const t of list) {
    if (onlyDown && t.health === "up") continue;
    jobs.set(t.scrapePool, [...(jobs.get(t.scrapePool) ?? []), t]);
  }
  return (
    <section class="targets">
      <h1>Targets</h1>
      <label class="toggle">
        <input type="checkbox" checked={onlyDown} onChange={(e) => setOnlyDown((e.target as HTMLInputElement).checked)} /> Only unhealthy
      </label>
      {list.length === 0 && failures.length === 0 && <p class="empty">No targets: give `skywatch up` a configuration with scrape_configs.</p>}
      {[...jobs].map(([job, ts]) => (
        <div class="job">
          <h2>
            {job} <span class="muted">({list.filter((t) => t.scrapePool === job && t.health === "up").length}/{list.filter((t) => t.scrapePool === job).length} up)</span>
          </h2>
          {failures
            .filter((f) => f.scrapePool === job)
            .map((f) => (
              <div class="error discovery" role="alert">
                Discovery by {f.provider} failing (first failure {ago(f.since)}): {f.error}.{" "}
                {f.keptGroups > 0
                  ? `Keeping the ${f.keptGroups} target group${f.keptGroups === 1 ? "" : "s"} it found before.`
                  : "It has found no targets yet."}
              </div>
            ))}
          <div class="scroll">
          <table class="grid">
            <thead>
              <tr><th>Endpoint</th><th>State</th><th class="labels">Labels</th><th>Last scrape</th><th class="num">Duration</th><th>Error</th></tr>
            </thead>
            <tbody>
              {ts.map((t) => (
                <tr>
                  <td class="endpoint"><a href={t.scrapeUrl}>{t.scrapeUrl}</a></td>
                  <td><span class={`state ${t.health}`}>{t.health.toUpperCase()}</span></td>
                  <td class="labels">
                    <LabelList labels={t.labels} />
                  </td>
                  <td>{ago(t.lastScrape)}</td>
                  <td class="num">{(t.lastScrapeDuration * 1000).toFixed(1)} ms</td>
                  <td class="err">{t.lastError}</td>
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
