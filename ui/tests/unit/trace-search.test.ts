// The traces page's search: the URL's form, the TraceQL the fields make, Tempo's search
// parameters and answer, the duration histogram, and where a query's error points.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_FORM,
  type SearchForm,
  effectiveQuery,
  errorOffset,
  formFromQuery,
  formToQuery,
  formTraceQL,
  histogram,
  parseDuration,
  parseTags,
  resultRows,
  searchParams,
} from "../../src/trace-search";

const form = (patch: Partial<SearchForm>): SearchForm => ({ ...DEFAULT_FORM, ...patch });

test("the URL keeps the search, and only what differs from the defaults", () => {
  const f = form({ service: "payments", operation: "settle", tags: 'node="node 1"', minDuration: "10ms", range: "6h", q: "{ status = error }", limit: 50 });
  const query = formToQuery(f);
  assert.deepEqual(formFromQuery(`?${query}`), f);
  assert.equal(formToQuery(DEFAULT_FORM), "");
  // Unknown ranges and silly limits fall back.
  const odd = formFromQuery("?range=99y&limit=-3");
  assert.equal(odd.range, "1h");
  assert.equal(odd.limit, 20);
  assert.equal(formFromQuery("?limit=5000").limit, 1000);
});

test("the fields make one TraceQL spanset, as Grafana's search builder does", () => {
  const cases: [Partial<SearchForm>, string][] = [
    [{}, "{}"],
    [{ service: "payments" }, '{ resource.service.name = "payments" }'],
    [{ service: "api", operation: "POST /tasks" }, '{ resource.service.name = "api" && name = "POST /tasks" }'],
    [{ tags: 'node=node-01 peer.name="a b"' }, '{ .node = "node-01" && .peer.name = "a b" }'],
    // A number or boolean may be stored as one or as text: both are asked for.
    [{ tags: "http.status_code=500" }, '{ (.http.status_code = 500 || .http.status_code = "500") }'],
    [{ tags: "span.error=true resource.region=eu" }, '{ (span.error = true || span.error = "true") && resource.region = "eu" }'],
    [{ minDuration: "100ms", maxDuration: "2" }, "{ traceDuration >= 100ms && traceDuration <= 2ms }"],
    [{ service: 'we"ird' }, '{ resource.service.name = "we\\"ird" }'],
  ];
  for (const [patch, want] of cases) assert.equal(formTraceQL(form(patch)), want, JSON.stringify(patch));
  // The TraceQL box, when given, is the query.
  assert.equal(effectiveQuery(form({ service: "api", q: "  { status = error }  " })), "{ status = error }");
});

test("attributes are logfmt, and a pair that is not key=value is named", () => {
  assert.deepEqual(parseTags(' a=1  b="x y" c= d="q\\"uote" '), [
    ["a", "1"],
    ["b", "x y"],
    ["c", ""],
    ["d", 'q"uote'],
  ]);
  assert.deepEqual(parseTags(""), []);
  assert.throws(() => parseTags("a=1 oops b=2"), /attribute "oops" is not key=value/);
  assert.throws(() => formTraceQL(form({ tags: "=x" })), /not key=value/);
});

test("durations read as Tempo writes them; a bare number is milliseconds", () => {
  const cases: [string, number][] = [
    ["100ms", 100e6],
    ["1.5s", 1.5e9],
    ["1m30s", 90e9],
    ["250us", 250e3],
    ["250µs", 250e3],
    ["42", 42e6],
    ["7ns", 7],
  ];
  for (const [text, ns] of cases) assert.equal(parseDuration(text), ns, text);
  assert.throws(() => parseDuration("10 parsecs"), /not a duration at "10 parsecs"/);
  assert.throws(() => parseDuration("5ms!"), /at "!"/);
});

test("the search asks Tempo for the query, the time range, the limit and the durations", () => {
  const p = searchParams(form({ service: "api", minDuration: "5ms", range: "15m", limit: 50 }), 1_000_000);
  assert.deepEqual(p, {
    q: '{ resource.service.name = "api" && traceDuration >= 5ms }',
    limit: "50",
    start: String(1_000_000 - 900),
    end: "1000000",
    minDuration: "5ms",
  });
  assert.throws(() => searchParams(form({ maxDuration: "soon" }), 0), /not a duration/);
});

test("the answer becomes rows newest first, with span counts when Tempo says, inside the duration range", () => {
  const answer = {
    traces: [
      { traceID: "a1", rootServiceName: "api", rootTraceName: "GET /", startTimeUnixNano: "1700000000000000000", durationMs: 5 },
      {
        traceID: "b2",
        rootServiceName: "api",
        rootTraceName: "POST /tasks",
        startTimeUnixNano: "1700000001500000000",
        durationMs: 120,
        spanSets: [{ matched: 2 }, { matched: 1 }],
        serviceStats: { api: { spanCount: 3 }, payments: { spanCount: 4, errorCount: 1 } },
      },
      { traceID: "c3", startTimeUnixNano: "1700000000500000000", durationMs: 3000 },
    ],
  };
  const rows = resultRows(answer);
  assert.deepEqual(rows.map((r) => r.traceId), ["b2", "c3", "a1"]);
  assert.equal(rows[0].start, 1_700_000_001_500);
  assert.equal(rows[0].spanCount, 7);
  assert.equal(rows[0].errorCount, 1);
  assert.equal(rows[0].matched, 3);
  assert.equal(rows[2].spanCount, null);
  assert.equal(rows[1].rootService, "");
  assert.deepEqual(resultRows(answer, 10e6, 1e9).map((r) => r.traceId), ["b2"]);
  assert.deepEqual(resultRows({}), []);
});

test("the histogram counts every trace once, on a log scale when durations spread widely", () => {
  const lin = histogram([10, 12, 14, 20, 30], 5);
  assert.equal(lin.log, false);
  assert.deepEqual(lin.bins.map((b) => b.count), [2, 1, 1, 0, 1]);
  assert.equal(lin.bins[0].from, 10);
  assert.equal(lin.bins[4].to, 30);
  const wide = histogram([1, 2, 10, 100, 1000, 1000], 3);
  assert.equal(wide.log, true);
  assert.deepEqual(wide.bins.map((b) => b.count), [2, 1, 3]);
  assert.deepEqual(histogram([7, 7]).bins, [{ from: 7, to: 7, count: 2 }]);
  assert.deepEqual(histogram([]).bins, []);
  assert.equal(histogram([0, 0, 500], 4).bins.reduce((a, b) => a + b.count, 0), 3);
});

test("a query error's place is found from Skywatch's byte offset or Tempo's line and column", () => {
  const q = '{ .name = "é" && .x ~ 1 }';
  // "é" is two bytes: byte 21 is character 20, the `~`.
  assert.equal(errorOffset("syntax error at byte 21: unexpected ~", q), 20);
  assert.equal(q[20], "~");
  assert.equal(errorOffset("parse error at line 2, col 3: syntax error", "{\n  bad }"), 4);
  assert.equal(errorOffset("parse error at line 9, col 3", "{}"), null);
  assert.equal(errorOffset("something else", q), null);
});
