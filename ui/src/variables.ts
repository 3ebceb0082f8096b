// A query variable's options as Grafana's Prometheus data source makes them: the query's
// kind (`label_values`, `label_names`, `metrics`, `query_result`, or any other text as a
// series selector), the texts each kind gives, then the variable's `regex` (a capture group
// or the named groups `text` and `value` take part of each text) and its `sort`.

/** What a query variable asks the data source. */
export type VariableQuery =
  | { kind: "label_values"; label: string; match?: string }
  | { kind: "label_names"; match?: string }
  | { kind: "metrics"; regex: string }
  | { kind: "query_result"; expr: string }
  | { kind: "series"; match: string };

/** `query` (variables already interpolated) as Grafana's `PrometheusMetricFindQuery`
 * reads it; null if it is empty. */
export function parseVariableQuery(query: string): VariableQuery | null {
  const q = query.trim();
  if (!q) return null;
  const call = (name: string) => {
    const m = new RegExp(`^${name}\\s*\\(([\\s\\S]*)\\)$`).exec(q);
    return m ? m[1].trim() : null;
  };
  const values = /^label_values\((?:([\s\S]*),)?\s*([\w.]+)\s*\)$/.exec(q);
  if (values) return { kind: "label_values", label: values[2], match: values[1]?.trim() || undefined };
  const names = call("label_names");
  if (names !== null) return { kind: "label_names", match: names || undefined };
  const metrics = call("metrics");
  if (metrics !== null) return { kind: "metrics", regex: metrics };
  const result = call("query_result");
  if (result !== null) return { kind: "query_result", expr: result };
  return { kind: "series", match: q };
}

/** A series as Grafana writes it for a variable: `name{label="value",...}`. */
export function seriesText(metric: Record<string, string>): string {
  const labels = Object.entries(metric)
    .filter(([k]) => k !== "__name__")
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  return `${metric.__name__ ?? ""}{${labels}}`;
}

/** An instant vector's samples as `query_result` gives them: the series, the value and
 * the time in milliseconds. */
export function queryResultTexts(result: { metric: Record<string, string>; value: [number, string] }[]): string[] {
  return result.map((s) => `${seriesText(s.metric)} ${s.value[1]} ${s.value[0] * 1000}`);
}

/** A variable's `regex` as Grafana reads it: `/pattern/flags`, else the whole text. */
function toRegex(regex: string): RegExp | null {
  const m = /^\/(.*)\/([gimsuy]*)$/s.exec(regex);
  try {
    return m ? new RegExp(m[1], m[2].replace("g", "")) : new RegExp(`^${regex}$`);
  } catch {
    return null;
  }
}

/** The options `texts` give, as Grafana's variable runner makes them: with `regex`, only
 * the texts it matches, each taken as its named group `value` (or `text`) or its first
 * group if it has one; duplicates dropped; then sorted as `sort` says (0 none, 1 and 2
 * alphabetical, 3 and 4 numerical, 5 and 6 alphabetical ignoring case; odd ascending). */
export function variableOptionsFrom(texts: string[], regex = "", sort = 0): string[] {
  const re = regex ? toRegex(regex) : null;
  const out: string[] = [];
  for (const text of texts) {
    let value = text;
    if (re) {
      const m = re.exec(text);
      if (!m) continue;
      const groups = m.groups ?? {};
      if (groups.value !== undefined || groups.text !== undefined) value = groups.value ?? groups.text;
      else if (m.length > 1 && m[1] !== undefined) value = m[1];
    }
    if (!out.includes(value)) out.push(value);
  }
  const number = (s: string) => {
    const m = /-?\d+(\.\d+)?/.exec(s);
    return m ? Number(m[0]) : Number.NEGATIVE_INFINITY;
  };
  const compare: Record<number, (a: string, b: string) => number> = {
    1: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
    3: (a, b) => number(a) - number(b),
    5: (a, b) => a.toLowerCase().localeCompare(b.toLowerCase()),
  };
  const by = compare[sort % 2 === 1 ? sort : sort - 1];
  if (sort > 0 && sort <= 6 && by) {
    out.sort(by);
    if (sort % 2 === 0) out.reverse();
  }
  return out;
}
