// A trace as the waterfall draws it: OTLP JSON (Tempo's `/api/traces/<id>`) read once into
// flat arrays, one slot per span, with everything the view needs worked out up front: the
// tree (parents, children, depth-first rows and subtree sizes, so that a collapsed subtree
// is skipped in one step), times relative to the trace's start, service colours, errors,
// and the critical path. Nothing here touches the page; a 50,000-span trace is a few
// typed arrays, and drawing a row reads them without allocating.

/** OTLP/JSON's `AnyValue`: exactly one of its fields is set. */
export interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number | string;
  bytesValue?: string;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
}
export interface KeyValue {
  key: string;
  value?: AnyValue;
}
export interface OtlpEvent {
  timeUnixNano?: string | number;
  name?: string;
  attributes?: KeyValue[];
  droppedAttributesCount?: number;
}
export interface OtlpLink {
  traceId?: string;
  spanId?: string;
  traceState?: string;
  attributes?: KeyValue[];
}
export interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  traceState?: string;
  name?: string;
  kind?: number | string;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: KeyValue[];
  droppedAttributesCount?: number;
  events?: OtlpEvent[];
  droppedEventsCount?: number;
  links?: OtlpLink[];
  droppedLinksCount?: number;
  status?: { code?: number | string; message?: string };
}
export interface OtlpScope {
  name?: string;
  version?: string;
  attributes?: KeyValue[];
}
export interface OtlpResource {
  attributes?: KeyValue[];
}
interface ScopeSpans {
  scope?: OtlpScope;
  instrumentationLibrary?: OtlpScope;
  spans?: OtlpSpan[];
}
interface ResourceSpans {
  resource?: OtlpResource;
  scopeSpans?: ScopeSpans[];
  instrumentationLibrarySpans?: ScopeSpans[];
}
/** What `/api/traces/<id>` answers: Tempo's `batches`, OTLP's `resourceSpans`, or either
 * inside `trace` (as `/api/v2/traces/<id>` answers). */
export interface TraceDocument {
  batches?: ResourceSpans[];
  resourceSpans?: ResourceSpans[];
  trace?: { batches?: ResourceSpans[]; resourceSpans?: ResourceSpans[] };
}

/** One span's own records, kept as they came for its details. */
export interface SpanSource {
  span: OtlpSpan;
  resource: OtlpResource;
  scope: OtlpScope;
}

const KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"];

/** A span kind's name (`server`, `client`, ...) from OTLP's number or enum name. */
export function kindName(kind: number | string | undefined): string {
  if (kind === undefined || kind === null) return "unspecified";
  if (typeof kind === "number") return KINDS[kind] ?? `kind ${kind}`;
  const named = kind.replace(/^SPAN_KIND_/, "").toLowerCase();
  return /^\d+$/.test(named) ? (KINDS[Number(named)] ?? `kind ${named}`) : named;
}

/** A status code's name (`unset`, `ok`, `error`) from OTLP's number or enum name. */
export function statusName(code: number | string | undefined): string {
  if (code === undefined || code === null) return "unset";
  if (typeof code === "number") return ["unset", "ok", "error"][code] ?? `code ${code}`;
  const named = code.replace(/^STATUS_CODE_/, "").toLowerCase();
  return /^\d+$/.test(named) ? (["unset", "ok", "error"][Number(named)] ?? `code ${named}`) : named;
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** An ID as lowercase hex: OTLP/JSON writes hex, protobuf-as-JSON writers base64; an ID
 * of neither is kept as it is. */
export function hexId(id: string | undefined, bytes: number): string {
  if (!id) return "";
  if (id.length === 2 * bytes && /^[0-9a-fA-F]+$/.test(id)) return id.toLowerCase();
  const clean = id.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  if (clean.length !== Math.ceil((bytes * 4) / 3) || !/^[A-Za-z0-9+/]+$/.test(clean)) return id.toLowerCase();
  let bits = 0;
  let acc = 0;
  let out = "";
  for (const c of clean) {
    acc = (acc << 6) | BASE64.indexOf(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += ((acc >> bits) & 0xff).toString(16).padStart(2, "0");
    }
  }
  return out.slice(0, 2 * bytes);
}

/** Unix nanoseconds as [seconds, nanoseconds]: a double cannot hold today's nanoseconds
 * exactly, so the decimal text is cut into its two parts instead. */
export function splitNanos(v: string | number | undefined): [number, number] {
  if (typeof v === "string") {
    // Number() of the two parts, not a regex: this runs twice per span.
    const cut = v.length - 9;
    const sec = cut > 0 ? Number(v.slice(0, cut)) : 0;
    const ns = Number(cut > 0 ? v.slice(cut) : v);
    if (Number.isInteger(sec) && Number.isInteger(ns) && sec >= 0 && ns >= 0) return [sec, ns];
    const n = Number(v);
    return Number.isFinite(n) ? [Math.floor(n / 1e9), n % 1e9] : [0, 0];
  }
  if (typeof v === "number" && Number.isFinite(v)) return [Math.floor(v / 1e9), v % 1e9];
  return [0, 0];
}

/** An attribute value as text, as Tempo shows it: strings as they are, lists and maps as JSON. */
export function valueText(v: AnyValue | undefined): string {
  if (!v) return "";
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue) return `[${(v.arrayValue.values ?? []).map(jsonText).join(",")}]`;
  if (v.kvlistValue) return `{${(v.kvlistValue.values ?? []).map((kv) => `${JSON.stringify(kv.key)}:${jsonText(kv.value)}`).join(",")}}`;
  return "";
}

function jsonText(v: AnyValue | undefined): string {
  return v?.stringValue !== undefined ? JSON.stringify(v.stringValue) : valueText(v) || "null";
}

/** The string value of attribute `key`, or undefined. */
export function attribute(attrs: KeyValue[] | undefined, key: string): string | undefined {
  const kv = attrs?.find((a) => a.key === key);
  return kv ? valueText(kv.value) : undefined;
}

/** A trace, laid out. Per-span arrays are indexed by span (its position as read); `rows`
 * lists spans in depth-first order, children by start time. Times are nanoseconds from
 * the trace's first start. */
export interface Trace {
  traceId: string;
  /** How many spans. */
  n: number;
  /** The first start, absolute: Unix seconds and the nanoseconds past them. */
  startSec: number;
  startNs: number;
  /** From the first start to the last end, in ns. */
  duration: number;
  start: Float64Array;
  end: Float64Array;
  /** The parent in the drawn tree; -1 for a root (no parent, a parent not in the trace,
   * or a cycle broken there). */
  parent: Int32Array;
  /** 1 when the span names a parent the trace does not hold (or that makes a cycle). */
  orphan: Uint8Array;
  depth: Int32Array;
  /** How many spans are under each span in the tree. */
  descendants: Int32Array;
  childCount: Int32Array;
  /** Spans in depth-first order; `rowOf` is the inverse. */
  rows: Int32Array;
  rowOf: Int32Array;
  /** Each span's service, an index into `services` (sorted by name). */
  service: Int32Array;
  services: string[];
  name: string[];
  spanId: string[];
  kind: string[];
  /** 1 when the span's status is error. */
  error: Uint8Array;
  /** 1 when the span is on the critical path. */
  critical: Uint8Array;
  /** The critical path's stretches of each span's own time: span i's are the pairs
   * `[critFrom[k], critTo[k]]` for k from `critIndex[i]` to `critIndex[i + 1]`. */
  critIndex: Int32Array;
  critFrom: Float64Array;
  critTo: Float64Array;
  sources: SpanSource[];
}

/** Reads a trace document into a laid-out trace. Throws when it holds no span. */
export function readTrace(doc: TraceDocument, traceId = ""): Trace {
  const batches = doc.batches ?? doc.resourceSpans ?? doc.trace?.batches ?? doc.trace?.resourceSpans ?? [];
  const sources: SpanSource[] = [];
  for (const rs of batches) {
    const resource = rs.resource ?? {};
    for (const ss of rs.scopeSpans ?? rs.instrumentationLibrarySpans ?? []) {
      const scope = ss.scope ?? ss.instrumentationLibrary ?? {};
      for (const span of ss.spans ?? []) sources.push({ span, resource, scope });
    }
  }
  const n = sources.length;
  if (n === 0) throw new Error("the trace holds no spans");

  // Absolute times, then the earliest start as the origin.
  const sSec = new Float64Array(n);
  const sNs = new Float64Array(n);
  const eSec = new Float64Array(n);
  const eNs = new Float64Array(n);
  let baseSec = Infinity;
  let baseNs = Infinity;
  for (let i = 0; i < n; i++) {
    const sp = sources[i].span;
    [sSec[i], sNs[i]] = splitNanos(sp.startTimeUnixNano);
    [eSec[i], eNs[i]] = splitNanos(sp.endTimeUnixNano);
    if (sSec[i] < baseSec || (sSec[i] === baseSec && sNs[i] < baseNs)) {
      baseSec = sSec[i];
      baseNs = sNs[i];
    }
  }
  const start = new Float64Array(n);
  const end = new Float64Array(n);
  let duration = 0;
  for (let i = 0; i < n; i++) {
    start[i] = (sSec[i] - baseSec) * 1e9 + (sNs[i] - baseNs);
    // A span that ends before it starts is an instant at its start.
    end[i] = Math.max(start[i], (eSec[i] - baseSec) * 1e9 + (eNs[i] - baseNs));
    if (end[i] > duration) duration = end[i];
  }

  const spanId: string[] = new Array(n);
  const name: string[] = new Array(n);
  const kind: string[] = new Array(n);
  const error = new Uint8Array(n);
  const serviceNames: string[] = new Array(n);
  const byId = new Map<string, number>();
  // Spans of one resource share its object: its service is looked up once.
  const serviceOf = new Map<OtlpResource, string>();
  for (let i = 0; i < n; i++) {
    const { span, resource } = sources[i];
    spanId[i] = hexId(span.spanId, 8);
    name[i] = span.name ?? "";
    kind[i] = kindName(span.kind);
    error[i] = statusName(span.status?.code) === "error" ? 1 : 0;
    let svc = serviceOf.get(resource);
    if (svc === undefined) serviceOf.set(resource, (svc = attribute(resource.attributes, "service.name") ?? ""));
    serviceNames[i] = svc;
    // A repeated span ID: its children hang under the first.
    if (!byId.has(spanId[i])) byId.set(spanId[i], i);
  }
  const services = [...new Set(serviceNames)].sort();
  const serviceIndex = new Map(services.map((s, i) => [s, i]));
  const service = new Int32Array(n);
  for (let i = 0; i < n; i++) service[i] = serviceIndex.get(serviceNames[i])!;

  // Parents as named; a parent not in the trace makes the span a root, marked an orphan.
  const parent = new Int32Array(n).fill(-1);
  const orphan = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = hexId(sources[i].span.parentSpanId, 8);
    if (!p || /^0+$/.test(p)) continue;
    const j = byId.get(p);
    if (j === undefined || j === i) orphan[i] = 1;
    else parent[i] = j;
  }

  // Spans in start order (then as read): children and roots are taken in this order.
  const byStart = new Int32Array(n);
  for (let i = 0; i < n; i++) byStart[i] = i;
  byStart.sort((a, b) => start[a] - start[b] || a - b);

  // Children lists in one array (CSR), each in start order.
  const childCount = new Int32Array(n);
  for (let i = 0; i < n; i++) if (parent[i] >= 0) childCount[parent[i]]++;
  const firstChild = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) firstChild[i + 1] = firstChild[i] + childCount[i];
  const children = new Int32Array(firstChild[n]);
  const fill = firstChild.slice(0, n);
  for (const i of byStart) if (parent[i] >= 0) children[fill[parent[i]]++] = i;

  // A span no root reaches sits on a parent cycle: the cycle is broken at its earliest
  // span, which becomes a root (marked an orphan).
  const stack = new Int32Array(n);
  const seen = new Uint8Array(n);
  const reach = (from: number) => {
    let top = 0;
    stack[top++] = from;
    seen[from] = 1;
    while (top > 0) {
      const s = stack[--top];
      for (let k = firstChild[s]; k < firstChild[s + 1]; k++) {
        const c = children[k];
        if (!seen[c]) {
          seen[c] = 1;
          stack[top++] = c;
        }
      }
    }
  };
  for (const i of byStart) if (parent[i] < 0) reach(i);
  for (const i of byStart) {
    if (seen[i]) continue;
    parent[i] = -1;
    orphan[i] = 1;
    reach(i);
  }

  // Depth-first rows from each root in start order, children in start order.
  const rows = new Int32Array(n);
  const rowOf = new Int32Array(n).fill(-1);
  const depth = new Int32Array(n);
  let row = 0;
  for (const root of byStart) {
    if (parent[root] >= 0) continue;
    let top = 0;
    stack[top++] = root;
    while (top > 0) {
      const s = stack[--top];
      rowOf[s] = row;
      rows[row++] = s;
      // Pushed last first, so that the earliest child comes out first; a broken cycle's
      // edge (to a span now a root) is not followed.
      for (let k = firstChild[s + 1] - 1; k >= firstChild[s]; k--) {
        const c = children[k];
        if (parent[c] !== s) continue;
        depth[c] = depth[s] + 1;
        stack[top++] = c;
      }
    }
  }

  const descendants = new Int32Array(n);
  for (let r = n - 1; r >= 0; r--) {
    const s = rows[r];
    if (parent[s] >= 0) descendants[parent[s]] += descendants[s] + 1;
  }

  const trace: Trace = {
    traceId: traceId || hexId(sources[0].span.traceId, 16),
    n,
    startSec: baseSec,
    startNs: baseNs,
    duration,
    start,
    end,
    parent,
    orphan,
    depth,
    descendants,
    childCount,
    rows,
    rowOf,
    service,
    services,
    name,
    spanId,
    kind,
    error,
    critical: new Uint8Array(n),
    critIndex: new Int32Array(n + 1),
    critFrom: new Float64Array(0),
    critTo: new Float64Array(0),
    sources,
  };
  criticalPath(trace, firstChild, children);
  return trace;
}

/** Finds the critical path, the chain of spans that decides when the trace ends, as
 * Jaeger does: from the end of a span, the child that finished last before that point is
 * on the path, and the point moves back to that child's start; the span's own time
 * between is on the path too. Children are first cut to their parent's time. The roots
 * are taken as the children of one span lasting the whole trace. Iterative, so a chain
 * of any depth does not overflow the stack. */
function criticalPath(t: Trace, firstChild: Int32Array, children: Int32Array) {
  const segSpan: number[] = [];
  const segFrom: number[] = [];
  const segTo: number[] = [];
  const work: [number, number, number][] = [];
  // Picks among `kids` (cut to [lo, hi]) the chain backwards from hi; `owner` gets the
  // stretches between (none for the trace itself, -1).
  const follow = (owner: number, kids: ArrayLike<number>, lo: number, hi: number) => {
    const cut: [number, number, number][] = [];
    for (let k = 0; k < kids.length; k++) {
      const c = kids[k];
      const s = Math.max(t.start[c], lo);
      const e = Math.min(t.end[c], hi);
      if (s <= e) cut.push([c, s, e]);
    }
    cut.sort((a, b) => b[2] - a[2] || b[1] - a[1]);
    let point = hi;
    for (const [c, s, e] of cut) {
      if (e > point) continue;
      if (owner >= 0 && point > e) {
        segSpan.push(owner);
        segFrom.push(e);
        segTo.push(point);
      }
      work.push([c, s, e]);
      point = s;
    }
    if (owner >= 0 && point > lo) {
      segSpan.push(owner);
      segFrom.push(lo);
      segTo.push(point);
    }
  };
  const roots: number[] = [];
  for (let r = 0; r < t.n; r++) if (t.parent[t.rows[r]] < 0) roots.push(t.rows[r]);
  follow(-1, roots, 0, t.duration);
  while (work.length) {
    const [s, lo, hi] = work.pop()!;
    t.critical[s] = 1;
    // Children of the drawn tree only (a broken cycle's edge is not followed).
    const kids: number[] = [];
    for (let k = firstChild[s]; k < firstChild[s + 1]; k++) if (t.parent[children[k]] === s) kids.push(children[k]);
    follow(s, kids, lo, hi);
  }
  // Grouped by span, for drawing a row's stretches directly.
  const count = new Int32Array(t.n + 1);
  for (const s of segSpan) count[s + 1]++;
  for (let i = 0; i < t.n; i++) count[i + 1] += count[i];
  t.critIndex = count.slice();
  t.critFrom = new Float64Array(segSpan.length);
  t.critTo = new Float64Array(segSpan.length);
  const at = count.slice(0, t.n);
  segSpan.forEach((s, k) => {
    const j = at[s]++;
    t.critFrom[j] = segFrom[k];
    t.critTo[j] = segTo[k];
  });
}

/** The rows to draw, in order, when the spans flagged in `collapsed` have their subtrees
 * folded: a folded span's descendants are skipped in one step. */
export function visibleRows(t: Trace, collapsed: Uint8Array): Int32Array {
  const out = new Int32Array(t.n);
  let k = 0;
  for (let r = 0; r < t.n; ) {
    const s = t.rows[r];
    out[k++] = s;
    r += collapsed[s] ? t.descendants[s] + 1 : 1;
  }
  return out.subarray(0, k);
}

/** Unfolds every ancestor of span `s`, so that its row is drawn; returns whether any was
 * folded. */
export function reveal(t: Trace, collapsed: Uint8Array, s: number): boolean {
  let changed = false;
  for (let p = t.parent[s]; p >= 0; p = t.parent[p]) {
    if (collapsed[p]) {
      collapsed[p] = 0;
      changed = true;
    }
  }
  return changed;
}

/** The span with ID `id`, or -1. */
export function findSpan(t: Trace, id: string): number {
  const want = id.toLowerCase();
  return t.spanId.indexOf(want);
}

/** Services coloured as the waterfall colours them: Grafana's classic palette without its
 * red, which marks errors. */
export const SERVICE_COLORS = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#1f78c1", "#ba43a9", "#705da0", "#508642", "#cca300", "#447ebc", "#c15c17", "#0a437c"];

export function serviceColor(index: number): string {
  return SERVICE_COLORS[index % SERVICE_COLORS.length];
}

const UNITS: [string, number][] = [
  ["s", 1e9],
  ["ms", 1e6],
  ["µs", 1e3],
];

/** A duration in nanoseconds in its largest unit with up to three significant digits:
 * `1.25s`, `340ms`, `12.5µs`, `800ns`; a minute or more as `2m 5s`. */
export function formatDuration(ns: number): string {
  if (!Number.isFinite(ns)) return "–";
  if (ns >= 60e9) {
    const total = Math.round(ns / 1e9);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return h ? `${h}h ${m}m` : `${m}m${s ? ` ${s}s` : ""}`;
  }
  for (const [unit, size] of UNITS) {
    if (ns >= size) return `${Number((ns / size).toPrecision(3))}${unit}`;
  }
  return `${Math.round(ns)}ns`;
}

/** Ticks for a time axis from `from` to `to` (ns): about `count` round steps (1, 2 or 5
 * times a power of ten), each as its offset in ns. */
export function timeTicks(from: number, to: number, count = 5): number[] {
  const span = to - from;
  if (!(span > 0)) return [from];
  const raw = span / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const ticks: number[] = [];
  for (let v = Math.ceil(from / step) * step; v <= to + step * 1e-9; v += step) ticks.push(v);
  return ticks;
}
