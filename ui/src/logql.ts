// LogQL as text: what the cursor is in the middle of typing (for completion), the edits
// the logs page makes to a query (a stream matcher or a label filter added by a line's
// "filter for/out" buttons), and the queries other pages link to: a trace's logs, an
// alert's logs, and the volume histogram's query. Pure functions, no I/O.
//
// Strings in LogQL are Go's: double-quoted with escapes, or backquoted raw. Every scan
// here skips both, so a `{` or `|` inside `line_format "{{.x}}"` is not taken for syntax.

/** What the text before the cursor is in the middle of typing. */
export interface LogContext {
  /** A label name inside a stream selector, a label's value, or a pipeline stage. */
  kind: "label" | "value" | "stage";
  /** What is typed of the word so far. */
  prefix: string;
  /** Where the word starts in the text. */
  from: number;
  /** The label whose value is being typed. */
  label?: string;
  /** The selector's complete matchers other than the one being typed, as `{...}`, to
   * narrow the values offered (Loki's `query` parameter of label values); absent if none. */
  selector?: string;
}

/** The stages a pipeline may continue with after `|`, offered as they are typed. */
export const STAGES = ["json", "logfmt", "regexp", "pattern", "unpack", "line_format", "label_format", "drop", "keep", "decolorize", "unwrap"];

/** Calls `each(i, c)` for every character of `text` outside strings; a `true` return stops
 * the scan. Returns whether the text ends inside a string. */
function scan(text: string, each: (i: number, c: string) => boolean | void): boolean {
  let quote = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (quote === '"' && c === "\\") i++;
      else if (c === quote) quote = "";
    } else if (c === '"' || c === "`") quote = c;
    else if (each(i, c)) return false;
  }
  return quote !== "";
}

/** The index of the `{` of a stream selector the end of `before` is inside, or -1. */
function openBrace(before: string): number {
  let at = -1;
  scan(before, (i, c) => {
    if (c === "{") at = i;
    else if (c === "}") at = -1;
  });
  return at;
}

const MATCHER = /([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)/g;

export function logqlContext(text: string, cursor: number): LogContext | null {
  const before = text.slice(0, cursor);
  const brace = openBrace(before);
  if (brace >= 0) {
    const inside = before.slice(brace + 1);
    const value = /([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)$/.exec(inside);
    // The selector's finished matchers, less the one whose value is being typed.
    const done = [...inside.slice(0, value ? value.index : undefined).matchAll(MATCHER)].map((m) => `${m[1]}${m[2]}${m[3]}`);
    const selector = done.length ? `{${done.join(", ")}}` : undefined;
    if (value) return { kind: "value", prefix: value[3], from: cursor - value[3].length, label: value[1], selector };
    const label = /(?:^|,)\s*([a-zA-Z_]\w*)?$/.exec(inside);
    if (label) {
      const word = label[1] ?? "";
      return { kind: "label", prefix: word, from: cursor - word.length, selector };
    }
    return null;
  }
  if (scan(before, () => {})) return null;
  const stage = /\|\s*([a-z_]*)$/.exec(before);
  if (stage && !/\|[=~]\s*[a-z_]*$/.test(before)) return { kind: "stage", prefix: stage[1], from: cursor - stage[1].length };
  return null;
}

/** A LogQL string holding `value` exactly. */
export function quote(value: string): string {
  return JSON.stringify(value);
}

/** The text with `choice` put in place of the word being typed, and where the cursor
 * goes: a label name gets `="` after it, a value its closing quote, a stage a space. */
export function acceptLog(text: string, cursor: number, ctx: LogContext, choice: string): { text: string; cursor: number } {
  let insert = choice;
  let after = text.slice(cursor);
  if (ctx.kind === "label") insert = `${choice}="`;
  if (ctx.kind === "value") {
    insert = quote(choice).slice(1);
    if (after.startsWith('"')) after = after.slice(1);
  }
  if (ctx.kind === "stage") insert = `${choice} `;
  const head = text.slice(0, ctx.from) + insert;
  return { text: head + after, cursor: head.length };
}

/** Where the query's first stream selector is: the indexes of its `{` and `}`. */
export function findSelector(query: string): { open: number; close: number } | null {
  let open = -1;
  let close = -1;
  scan(query, (i, c) => {
    if (c === "{" && open < 0) open = i;
    else if (c === "}" && open >= 0) {
      close = i;
      return true;
    }
  });
  return open >= 0 && close > open ? { open, close } : null;
}

/** Whether `query` is a metric query (its selector inside a function or aggregation)
 * rather than a log query. */
export function isMetricQuery(query: string): boolean {
  const s = findSelector(query);
  return !!s && /\(/.test(query.slice(0, s.open));
}

/** Where a stage added to the log pipeline goes: the end of a log query, or before the
 * range (`[5m]`) of a metric query's log range. */
function pipelineEnd(query: string): number {
  const s = findSelector(query);
  if (!s || !isMetricQuery(query)) return query.trimEnd().length;
  let at = -1;
  scan(query.slice(s.close), (i, c) => {
    if (c === "[") {
      at = s.close + i;
      return true;
    }
  });
  return at >= 0 ? at : query.trimEnd().length;
}

export type Op = "=" | "!=";

/** `query` with `name op "value"` in its stream selector, as a "filter for (or out) this
 * value" of a stream label makes it: the opposite matcher, if there, is taken out; an
 * identical one is not written twice. A query without a selector becomes one. */
export function withStreamMatcher(query: string, name: string, op: Op, value: string): string {
  const s = findSelector(query);
  const matcher = `${name}${op}${quote(value)}`;
  if (!s) return `{${matcher}}${query.trim() ? ` ${query.trim()}` : ""}`;
  const opposite = op === "=" ? "!=" : "=";
  const kept = [...query.slice(s.open + 1, s.close).matchAll(MATCHER)]
    .filter((m) => !(m[1] === name && m[2] === opposite && unquote(m[3]) === value))
    .map((m) => `${m[1]}${m[2]}${m[3]}`);
  const has = kept.some((m) => m === matcher);
  const matchers = has ? kept : [...kept, matcher];
  return `${query.slice(0, s.open)}{${matchers.join(", ")}}${query.slice(s.close + 1)}`;
}

/** A LogQL string literal's value. */
function unquote(literal: string): string {
  if (literal.startsWith("`")) return literal.slice(1, -1);
  try {
    return JSON.parse(literal);
  } catch {
    return literal.slice(1, -1);
  }
}

/** `query` with a label filter `| name op "value"` at the end of its log pipeline, as a
 * "filter for (or out) this value" of structured metadata or of a parsed field makes it.
 * A parsed field needs its parser in the pipeline: `parser` (`json` or `logfmt`) is added
 * first unless the pipeline parses already. The opposite filter, if there, is taken out. */
export function withLabelFilter(query: string, name: string, op: Op, value: string, parser?: "json" | "logfmt"): string {
  const opposite = `| ${name}${op === "=" ? "!=" : "="}${quote(value)}`;
  let q = query.includes(opposite) ? query.replace(` ${opposite}`, "").replace(opposite, "") : query;
  const filter = `| ${name}${op}${quote(value)}`;
  if (q.includes(filter)) return q;
  const end = pipelineEnd(q);
  const head = q.slice(0, end).trimEnd();
  const parses = /\|\s*(json|logfmt|unpack|regexp|pattern)\b/.test(head);
  const stages = parser && !parses ? `| ${parser} ${filter}` : filter;
  const tail = q.slice(end);
  return `${head} ${stages}${tail && !/^\s/.test(tail) ? " " : ""}${tail}`;
}

/** RE2's special characters escaped, for a regex matcher. */
export function regexEscape(v: string): string {
  return v.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");
}

/** The logs of a trace (or of one span of it): the streams of the trace's services, the
 * records whose structured metadata `trace_id` (and `span_id`) is the trace's.
 *
 * Why this form: OTLP log records (the SDK's, the demo's) keep the ids as structured
 * metadata, which a line filter (`|= "<id>"`) never sees, while Loki's label filter reads
 * structured metadata directly, with no parser. A line that carries the id only in its
 * own text (a JSON line pushed to Loki without metadata) is found by `traceLineQuery`,
 * which the logs page offers when this finds nothing. */
export function traceLogsQuery(services: string[], traceId: string, spanId?: string): string {
  const names = [...new Set(services.filter(Boolean))].sort();
  const selector =
    names.length === 0 ? `{service_name=~".+"}` : names.length === 1 ? `{service_name=${quote(names[0])}}` : `{service_name=~${quote(names.map(regexEscape).join("|"))}}`;
  return `${selector} | trace_id=${quote(traceId)}${spanId ? ` | span_id=${quote(spanId)}` : ""}`;
}

/** The same streams as `traceLogsQuery`'s, the lines holding the id in their text. */
export function traceLineQuery(query: string, traceId: string): string | null {
  const s = findSelector(query);
  if (!s) return null;
  return `${query.slice(0, s.close + 1)} |= ${quote(traceId)}`;
}

/** The trace id a trace-logs query (`traceLogsQuery`'s form) asks for, if it is one. */
export function tracedId(query: string): string | null {
  return /\|\s*trace_id\s*=\s*"([0-9a-fA-F]{16,32})"/.exec(query)?.[1] ?? null;
}

/** Alert labels that say which alert it is rather than where it fires: never a stream
 * matcher. */
const ALERT_ONLY = new Set(["alertname", "alertstate", "severity", "priority", "team", "__name__"]);

/** Where a label of an alert may be found among stream labels when not under its own
 * name: the demo's (and OpenTelemetry's) node is the resource's `service.instance.id`. */
const ALIASES: Record<string, string[]> = {
  node: ["service_instance_id", "host_name", "instance"],
  service: ["service_name"],
};

/** A stream selector for an alert's logs: each of the alert's labels that is also a stream
 * label (by name, or by an alias when the streams lack the name), or null if none is. */
export function alertSelector(labels: Record<string, string>, streamLabels: string[]): string | null {
  const names = new Set(streamLabels);
  const matchers = new Map<string, string>();
  for (const [k, v] of Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (ALERT_ONLY.has(k) || !v) continue;
    const target = names.has(k) ? k : (ALIASES[k] ?? []).find((a) => names.has(a) && !(a in labels));
    if (target && !matchers.has(target)) matchers.set(target, v);
  }
  if (!matchers.size) return null;
  return `{${[...matchers].map(([k, v]) => `${k}=${quote(v)}`).join(", ")}}`;
}

/** The labels the volume histogram groups by: whichever carries the level. */
export const LEVEL_LABELS = ["level", "detected_level", "severity_text"];

/** The volume histogram's query: the log query's lines counted per step, by level. A
 * pipeline that parses may leave error labels, which fail a metric query: they are
 * dropped, as Grafana's volume query does. */
export function volumeQuery(query: string, stepSeconds: number): string {
  const q = query.trim();
  const parses = /\|\s*(json|logfmt|unpack|regexp|pattern)\b/.test(q);
  return `sum by (${LEVEL_LABELS.join(", ")}) (count_over_time(${q}${parses ? " | drop __error__" : ""} [${stepSeconds}s]))`;
}
