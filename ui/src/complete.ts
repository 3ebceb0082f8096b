// Completion of PromQL as it is typed: metric names, then the label names of the metric
// being selected inside `{...}`, then the values of a label after `label="`.

import { get } from "./api";

/** What the text before the cursor is in the middle of typing. */
export interface Context {
  kind: "metric" | "label" | "value";
  /** What is typed of the word so far. */
  prefix: string;
  /** Where the word starts in the text. */
  from: number;
  /** The metric whose selector the cursor is in, if named. */
  metric?: string;
  /** The label whose value is being typed. */
  label?: string;
}

/** The index of the `{` the cursor is inside, or -1 if it is not inside braces. */
function openBrace(before: string): number {
  let depth = 0;
  let inString = false;
  let at = -1;
  for (let i = 0; i < before.length; i++) {
    const c = before[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") {
      depth++;
      at = i;
    } else if (c === "}") {
      depth = Math.max(depth - 1, 0);
      if (!depth) at = -1;
    }
  }
  return depth ? at : -1;
}

export function contextAt(text: string, cursor: number): Context | null {
  const before = text.slice(0, cursor);
  const brace = openBrace(before);
  if (brace >= 0) {
    const metric = /([a-zA-Z_:][\w:]*)\s*$/.exec(before.slice(0, brace))?.[1];
    const value = /([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)$/.exec(before);
    if (value) return { kind: "value", prefix: value[3], from: cursor - value[3].length, metric, label: value[1] };
    const label = /[{,]\s*([a-zA-Z_]\w*)?$/.exec(before);
    if (label) return { kind: "label", prefix: label[1] ?? "", from: cursor - (label[1]?.length ?? 0), metric };
    return null;
  }
  // A metric name: a word not in a range's brackets and not a string.
  if (/\[[^\]]*$/.test(before) || (before.split('"').length - 1) % 2 === 1) return null;
  const word = /(^|[^\w:])([a-zA-Z_:][\w:]*)$/.exec(before);
  if (!word) return null;
  return { kind: "metric", prefix: word[2], from: cursor - word[2].length };
}

const cache = new Map<string, Promise<string[]>>();

function cached(key: string, load: () => Promise<string[]>): Promise<string[]> {
  let hit = cache.get(key);
  if (!hit) {
    // A failed fetch is forgotten, so that the next keystroke asks again.
    hit = load().catch((e) => {
      cache.delete(key);
      throw e;
    });
    cache.set(key, hit);
  }
  return hit;
}

/** Up to `limit` completions for `ctx`: names starting with what is typed first, then
 * names containing it. */
export async function candidates(ctx: Context, limit = 12): Promise<string[]> {
  const match: Record<string, string> = ctx.metric ? { "match[]": ctx.metric } : {};
  let all: string[];
  if (ctx.kind === "metric") {
    all = await cached("metrics", () => get<string[]>("/api/v1/label/__name__/values", {}).then((a) => a.data));
  } else if (ctx.kind === "label") {
    all = await cached(`labels:${ctx.metric ?? ""}`, () => get<string[]>("/api/v1/labels", match).then((a) => a.data.filter((l) => l !== "__name__")));
  } else {
    const label = ctx.label ?? "";
    all = await cached(`values:${label}:${ctx.metric ?? ""}`, () =>
      get<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, match).then((a) => a.data),
    );
  }
  const p = ctx.prefix.toLowerCase();
  const starts = all.filter((n) => n.toLowerCase().startsWith(p));
  const within = all.filter((n) => !n.toLowerCase().startsWith(p) && n.toLowerCase().includes(p));
  return [...starts, ...within].filter((n) => n !== ctx.prefix || ctx.kind === "value").slice(0, limit);
}

/** The text with `choice` put in place of the word being typed, and where the cursor
 * goes: a label name gets `="` after it, a value its closing quote. */
export function accept(text: string, cursor: number, ctx: Context, choice: string): { text: string; cursor: number } {
  let insert = choice;
  let after = text.slice(cursor);
  if (ctx.kind === "label") insert = `${choice}="`;
  if (ctx.kind === "value") {
    insert = choice.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
    if (after.startsWith('"')) after = after.slice(1);
    insert += '"';
  }
  const head = text.slice(0, ctx.from) + insert;
  return { text: head + after, cursor: head.length };
}
