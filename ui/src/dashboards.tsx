// The dashboards, by folder, searchable by title and tag.

import { useEffect, useState } from "preact/hooks";

interface Hit {
  uid: string;
  title: string;
  url: string;
  tags: string[];
  folderTitle: string;
}

export function Dashboards() {
  const [hits, setHits] = useState<Hit[] | null>(null);
  const [problems, setProblems] = useState<{ file: string; panel: string | null; message: string }[]>([]);
  const [query, setQuery] = useState("");
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    fetch("/api/search").then((r) => r.json()).then(setHits, (e) => setError(String(e)));
    fetch("/api/dashboards/problems").then((r) => r.json()).then(setProblems, () => {});
  }, []);

  if (error) return <div class="error" role="alert">{error}</div>;
  if (!hits) return <p class="muted">Loading dashboards…</p>;
  const words = query.toLowerCase();
  const shown = hits.filter((h) => h.title.toLowerCase().includes(words) || h.tags.some((t) => t.toLowerCase().includes(words)));
  const folders = new Map<string, Hit[]>();
  for (const h of shown) folders.set(h.folderTitle, [...(folders.get(h.folderTitle) ?? []), h]);
  return (
    <section class="dashboards">
      <h1>Dashboards</h1>
      <input type="search" placeholder="Search by title or tag" aria-label="Search dashboards" value={query} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
      {problems.map((p) => (
        <div class="warning">
          {p.file}
          {p.panel ? `: ${p.panel}` : ""}: {p.message}
        </div>
      ))}
      {hits.length === 0 && <p class="empty">No dashboards: start `skywatch up` with --dashboards DIR (Grafana JSON files).</p>}
      {[...folders].map(([folder, list]) => (
        <div class="folder">
          <h2>{folder}</h2>
          <ul class="dash-list">
            {list.map((h) => (
              <li>
                <a href={h.url}>{h.title}</a>
                {h.tags.map((t) => (
                  <span class="label">{t}</span>
                ))}
              </li>
            ))}
          </ul>
        </div>
      ))}
    </section>
  );
}
