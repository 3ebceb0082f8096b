// The trace model: OTLP/JSON read into the waterfall's layout (depth-first rows, depth,
// subtree sizes, exact relative times, IDs in hex or base64), broken trees (missing
// parents, cycles, children outside their parent) kept drawable, the critical path as
// Jaeger finds it, folding, and the duration and axis labels.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type OtlpSpan,
  type TraceDocument,
  formatDuration,
  hexId,
  kindName,
  readTrace,
  reveal,
  splitNanos,
  statusName,
  timeTicks,
  visibleRows,
} from "../../src/trace-model";

const BASE = 1_700_000_000n * 1_000_000_000n;
const at = (ms: number) => String(BASE + BigInt(Math.round(ms * 1e6)));

/** A span of service `svc` from `from` to `to` ms after BASE. */
function span(id: string, parent: string, svc: string, name: string, from: number, to: number, extra: Partial<OtlpSpan> = {}) {
  return { svc, span: { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: id.padStart(16, "0"), parentSpanId: parent ? parent.padStart(16, "0") : "", name, startTimeUnixNano: at(from), endTimeUnixNano: at(to), ...extra } };
}

/** A document with one resource per service, as Tempo groups them. */
function doc(spans: ReturnType<typeof span>[], key: "batches" | "resourceSpans" = "batches"): TraceDocument {
  const bySvc = new Map<string, OtlpSpan[]>();
  for (const s of spans) {
    if (!bySvc.has(s.svc)) bySvc.set(s.svc, []);
    bySvc.get(s.svc)!.push(s.span);
  }
  return {
    [key]: [...bySvc].map(([svc, list]) => ({
      resource: { attributes: [{ key: "service.name", value: { stringValue: svc } }] },
      scopeSpans: [{ scope: { name: "skywatch" }, spans: list }],
    })),
  };
}

// The seed flow, sent out of order: api → p2p → dht, then guild → task → wasm → payments.
const seed = [
  span("7", "6", "payments", "settle", 70, 95, { status: { code: 2, message: "insufficient funds" } }),
  span("1", "", "api", "POST /tasks", 0, 100, { kind: 2 }),
  span("2", "1", "p2p", "send", 5, 20),
  span("3", "2", "dht", "lookup", 8, 18),
  span("4", "1", "guild", "form", 22, 98),
  span("5", "4", "task", "run", 25, 96),
  span("6", "5", "wasm", "execute", 30, 96),
];

test("a trace is read into depth-first rows with depth, subtree sizes and services", () => {
  for (const key of ["batches", "resourceSpans"] as const) {
    const t = readTrace(doc(seed, key));
    assert.equal(t.n, 7);
    assert.equal(t.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
    const names = [...t.rows].map((s) => t.name[s]);
    assert.deepEqual(names, ["POST /tasks", "send", "lookup", "form", "run", "execute", "settle"]);
    assert.deepEqual([...t.rows].map((s) => t.depth[s]), [0, 1, 2, 1, 2, 3, 4]);
    const root = t.rows[0];
    assert.equal(t.descendants[root], 6);
    assert.equal(t.descendants[t.rows[1]], 1);
    assert.equal(t.duration, 100e6);
    assert.deepEqual(t.services, ["api", "dht", "guild", "p2p", "payments", "task", "wasm"]);
    const settle = t.rows[6];
    assert.equal(t.error[settle], 1);
    assert.equal(t.services[t.service[settle]], "payments");
    assert.equal(t.kind[root], "server");
    assert.equal(t.rowOf[settle], 6);
  }
  // Tempo's v2 answer wraps the document.
  assert.equal(readTrace({ trace: doc(seed, "resourceSpans") }).n, 7);
});

test("times are exact to the nanosecond, though Unix nanoseconds exceed a double", () => {
  const t = readTrace(
    doc([
      span("1", "", "a", "root", 0, 1),
      { svc: "a", span: { ...span("2", "1", "a", "child", 0, 1).span, startTimeUnixNano: "1700000000000000001", endTimeUnixNano: "1700000000000000004" } },
    ]),
  );
  const child = t.rows[1];
  assert.equal(t.start[child], 1);
  assert.equal(t.end[child] - t.start[child], 3);
  assert.deepEqual(splitNanos("1700000000123456789"), [1700000000, 123456789]);
  assert.deepEqual(splitNanos("42"), [0, 42]);
  assert.deepEqual(splitNanos(undefined), [0, 0]);
});

test("IDs in base64 read as hex; kinds and status codes by number or enum name", () => {
  assert.equal(hexId("S/kvNXezTaajzpKdDg5HNg==", 16), "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(hexId("APBnqgupArc=", 8), "00f067aa0ba902b7");
  assert.equal(hexId("00F067AA0BA902B7", 8), "00f067aa0ba902b7");
  const t = readTrace({
    batches: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "api" } }] },
        scopeSpans: [
          { spans: [{ traceId: "S/kvNXezTaajzpKdDg5HNg==", spanId: "AAAAAAAAAAE=", name: "root", startTimeUnixNano: at(0), endTimeUnixNano: at(5), kind: "SPAN_KIND_CLIENT", status: { code: "STATUS_CODE_ERROR" } }] },
        ],
      },
    ],
  });
  assert.equal(t.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(t.spanId[0], "0000000000000001");
  assert.equal(t.kind[0], "client");
  assert.equal(t.error[0], 1);
  assert.equal(kindName(5), "consumer");
  assert.equal(statusName(1), "ok");
  assert.equal(statusName(undefined), "unset");
});

test("a span whose parent is missing, or sits on a parent cycle, becomes a root; nothing is lost", () => {
  const t = readTrace(
    doc([
      span("1", "", "a", "root", 0, 10),
      span("2", "99", "a", "orphan", 2, 4),
      span("3", "4", "a", "cycle-a", 5, 6),
      span("4", "3", "a", "cycle-b", 6, 7),
      span("5", "5", "a", "own parent", 8, 9),
    ]),
  );
  assert.equal(t.n, 5);
  assert.deepEqual([...t.rows].map((s) => t.name[s]), ["root", "orphan", "cycle-a", "cycle-b", "own parent"]);
  const byName = (n: string) => t.name.indexOf(n);
  assert.equal(t.orphan[byName("orphan")], 1);
  assert.equal(t.parent[byName("orphan")], -1);
  // The cycle is broken at its earliest span; the other hangs under it.
  assert.equal(t.parent[byName("cycle-a")], -1);
  assert.equal(t.parent[byName("cycle-b")], byName("cycle-a"));
  assert.equal(t.orphan[byName("own parent")], 1);
  assert.throws(() => readTrace({ batches: [] }), /no spans/);
});

test("the critical path follows the last child to finish before each point, as Jaeger's", () => {
  // root 0–100; A 10–40 and B 30–90 under it; C 35–60 and D 50–80 under B.
  const t = readTrace(doc([span("1", "", "s", "root", 0, 100), span("2", "1", "s", "A", 10, 40), span("3", "1", "s", "B", 30, 90), span("4", "3", "s", "C", 35, 60), span("5", "3", "s", "D", 50, 80)]));
  const id = (n: string) => t.name.indexOf(n);
  const segs = (n: string) => {
    const s = id(n);
    const out: [number, number][] = [];
    for (let j = t.critIndex[s]; j < t.critIndex[s + 1]; j++) out.push([t.critFrom[j] / 1e6, t.critTo[j] / 1e6]);
    return out.sort((a, b) => a[0] - b[0]);
  };
  assert.deepEqual(["root", "A", "B", "C", "D"].map((n) => t.critical[id(n)]), [1, 0, 1, 0, 1]);
  assert.deepEqual(segs("root"), [[0, 30], [90, 100]]);
  assert.deepEqual(segs("B"), [[30, 50], [80, 90]]);
  assert.deepEqual(segs("D"), [[50, 80]]);
  assert.deepEqual(segs("A"), []);
  // The path's stretches cover the trace once, end to end.
  let total = 0;
  for (let j = 0; j < t.critFrom.length; j++) total += t.critTo[j] - t.critFrom[j];
  assert.equal(total, t.duration);
});

test("a child running past its parent (clock skew) is cut to it on the critical path", () => {
  const t = readTrace(doc([span("1", "", "s", "root", 0, 100), span("2", "1", "s", "late", 90, 120)]));
  const late = t.name.indexOf("late");
  assert.equal(t.critical[late], 1);
  assert.equal(t.duration, 120e6);
  assert.deepEqual([t.critFrom[t.critIndex[late]] / 1e6, t.critTo[t.critIndex[late]] / 1e6], [90, 100]);
});

test("folded subtrees are skipped in one step, and revealing a span unfolds its ancestors", () => {
  const t = readTrace(doc(seed));
  const collapsed = new Uint8Array(t.n);
  const guild = t.name.indexOf("form");
  collapsed[guild] = 1;
  assert.deepEqual([...visibleRows(t, collapsed)].map((s) => t.name[s]), ["POST /tasks", "send", "lookup", "form"]);
  collapsed[t.rows[0]] = 1;
  assert.deepEqual([...visibleRows(t, collapsed)].map((s) => t.name[s]), ["POST /tasks"]);
  assert.equal(reveal(t, collapsed, t.name.indexOf("settle")), true);
  assert.equal(visibleRows(t, collapsed).length, 7);
  assert.equal(reveal(t, collapsed, t.name.indexOf("settle")), false);
});

test("a chain 100,000 spans deep and a 50,000-span trace lay out without recursion", () => {
  const chain = Array.from({ length: 100_000 }, (_, i) => span(String(i + 1), i ? String(i) : "", "s", `op${i}`, i * 0.001, 200 - i * 0.001));
  const t = readTrace(doc(chain));
  assert.equal(t.depth[t.rows[t.n - 1]], 99_999);
  assert.equal(t.descendants[t.rows[0]], 99_999);
  assert.equal(t.critical.reduce((a, c) => a + c, 0), 100_000);
  const wide = Array.from({ length: 50_000 }, (_, i) => span((i + 1).toString(16), i ? ((i >> 4) + 1).toString(16) : "", `svc${i % 7}`, `op${i % 40}`, i * 0.01, i * 0.01 + 5));
  const w = readTrace(doc(wide));
  assert.equal(w.n, 50_000);
  assert.equal(w.services.length, 7);
  assert.equal(w.descendants[w.rows[0]], 49_999);
});

test("durations read in their largest unit, and axis ticks fall on round steps", () => {
  const cases: [number, string][] = [
    [0, "0ns"],
    [800, "800ns"],
    [12_500, "12.5µs"],
    [340e6, "340ms"],
    [1.25e9, "1.25s"],
    [125e9, "2m 5s"],
    [7260e9, "2h 1m"],
  ];
  for (const [ns, text] of cases) assert.equal(formatDuration(ns), text, `${ns}`);
  assert.deepEqual(timeTicks(0, 100e6), [0, 20e6, 40e6, 60e6, 80e6, 100e6]);
  assert.deepEqual(timeTicks(15, 32, 4), [15, 20, 25, 30]);
  assert.deepEqual(timeTicks(5, 5), [5]);
});
