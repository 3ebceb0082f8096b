// Health: every target's own health report, aggregated into HEALTHY, DEGRADED or CRITICAL,
// with the components that fail.

import { useEffect, useState } from "preact/hooks";

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
    </section>
  );
}
