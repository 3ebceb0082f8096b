// LogQL as text: completion contexts, the query edits of the line details' filter buttons,
// and the queries the trace view, the alerts page and the volume histogram build.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  acceptLog,
  alertSelector,
  findSelector,
  isMetricQuery,
  logqlContext,
  traceLineQuery,
  traceLogsQuery,
  tracedId,
  volumeQuery,
  withLabelFilter,
  withStreamMatcher,
} from "../../src/logql";

/** The context with the cursor at `|` in `text`. */
const at = (text: string) => logqlContext(text.replace("‸", ""), text.indexOf("‸"));

test("completion: label names and values inside the selector, stages after a pipe", () => {
  assert.deepEqual(at("{‸"), { kind: "label", prefix: "", from: 1, selector: undefined });
  assert.deepEqual(at("{serv‸"), { kind: "label", prefix: "serv", from: 1, selector: undefined });
  assert.deepEqual(at('{job="a", no‸'), { kind: "label", prefix: "no", from: 10, selector: '{job="a"}' });
  assert.deepEqual(at('{job="a", node="n‸'), { kind: "value", prefix: "n", from: 16, label: "node", selector: '{job="a"}' });
  assert.deepEqual(at('{node=~"‸'), { kind: "value", prefix: "", from: 8, label: "node", selector: undefined });
  // A comma inside a finished value does not start a label.
  assert.deepEqual(at('{a="x,y", b‸')?.prefix, "b");
  assert.equal(at('{a="x,y‸')?.kind, "value");
  // After a finished matcher with no comma: nothing to offer.
  assert.equal(at('{a="b" ‸'), null);
  assert.deepEqual(at('{a="b"} |= "x" | js‸'), { kind: "stage", prefix: "js", from: 17 });
  assert.deepEqual(at('{a="b"} |‸')?.kind, "stage");
  // Inside a line filter's string, and a `{` inside a string is no selector.
  assert.equal(at('{a="b"} |= "{x‸'), null);
  assert.equal(at('{a="b"} | line_format "{{.x‸'), null);
  assert.equal(at('{a="b"} |= ‸'), null);
  // Inside a metric query's selector.
  assert.equal(at('sum(count_over_time({job="x", le‸')?.kind, "label");
});

test("accepting a completion writes the label's =\", the value's closing quote, the stage's space", () => {
  const label = at("{serv‸")!;
  assert.deepEqual(acceptLog("{serv", 5, label, "service_name"), { text: '{service_name="', cursor: 15 });
  const value = at('{service_name="zer‸"}')!;
  assert.deepEqual(acceptLog('{service_name="zer"}', 18, value, 'zero "q"'), { text: '{service_name="zero \\"q\\""}', cursor: 26 });
  const stage = at('{a="b"} | js‸')!;
  assert.deepEqual(acceptLog('{a="b"} | js', 12, stage, "json"), { text: '{a="b"} | json ', cursor: 15 });
});

test("the selector is found past strings, and metric queries are told from log queries", () => {
  assert.deepEqual(findSelector('{a="}"} |= "{"'), { open: 0, close: 6 });
  assert.equal(findSelector('|= "x"'), null);
  assert.equal(isMetricQuery('{a="b"} |= "x"'), false);
  assert.equal(isMetricQuery('sum by (level) (count_over_time({a="b"}[1m]))'), true);
});

test("filter for and out a stream label edits the selector", () => {
  assert.equal(withStreamMatcher('{job="a"} |= "x"', "node", "=", "n-1"), '{job="a", node="n-1"} |= "x"');
  assert.equal(withStreamMatcher('{job="a", node="n-1"}', "node", "=", "n-1"), '{job="a", node="n-1"}');
  // Out replaces in, and the other way round.
  assert.equal(withStreamMatcher('{job="a", node="n-1"}', "node", "!=", "n-1"), '{job="a", node!="n-1"}');
  assert.equal(withStreamMatcher('{node!="q\\"x"}', "node", "=", 'q"x'), '{node="q\\"x"}');
  assert.equal(withStreamMatcher("", "job", "=", "a"), '{job="a"}');
  // Inside a metric query the range stays where it is.
  assert.equal(withStreamMatcher('rate({job="a"}[1m])', "node", "=", "b"), 'rate({job="a", node="b"}[1m])');
});

test("filter for and out metadata or a parsed field adds a label filter, with its parser", () => {
  assert.equal(withLabelFilter('{job="a"}', "trace_id", "=", "abc"), '{job="a"} | trace_id="abc"');
  assert.equal(withLabelFilter('{job="a"} | trace_id="abc"', "trace_id", "=", "abc"), '{job="a"} | trace_id="abc"');
  assert.equal(withLabelFilter('{job="a"} | trace_id="abc"', "trace_id", "!=", "abc"), '{job="a"} | trace_id!="abc"');
  assert.equal(withLabelFilter('{job="a"} |= "x"', "msg", "=", "hi", "json"), '{job="a"} |= "x" | json | msg="hi"');
  assert.equal(withLabelFilter('{job="a"} | logfmt', "msg", "!=", "hi", "logfmt"), '{job="a"} | logfmt | msg!="hi"');
  assert.equal(withLabelFilter('sum(count_over_time({job="a"} [1m]))', "level", "=", "warn"), 'sum(count_over_time({job="a"} | level="warn" [1m]))');
  assert.equal(withLabelFilter('sum(count_over_time({job="a"}[1m]))', "level", "=", "warn"), 'sum(count_over_time({job="a"} | level="warn" [1m]))');
});

test("a trace's logs: the streams of its services, the records whose metadata holds its id", () => {
  const id = "4bf92f3577b34da6a3ce929d0e0e4736";
  assert.equal(traceLogsQuery(["zerostate-p2p", "zerostate-api", "zerostate-p2p"], id), `{service_name=~"zerostate-api|zerostate-p2p"} | trace_id="${id}"`);
  assert.equal(traceLogsQuery(["a.b"], id, "00f067aa0ba902b7"), `{service_name="a.b"} | trace_id="${id}" | span_id="00f067aa0ba902b7"`);
  assert.equal(traceLogsQuery(["a.b", "c+"], id), `{service_name=~"a\\\\.b|c\\\\+"} | trace_id="${id}"`);
  assert.equal(traceLogsQuery([], id), `{service_name=~".+"} | trace_id="${id}"`);
  assert.equal(tracedId(traceLogsQuery(["a"], id)), id);
  assert.equal(tracedId('{a="b"}'), null);
  assert.equal(traceLineQuery(traceLogsQuery(["a"], id), id), `{service_name="a"} |= "${id}"`);
});

test("an alert's logs: its labels that are stream labels, by name or by alias", () => {
  const streams = ["service_name", "service_instance_id", "job"];
  assert.equal(alertSelector({ alertname: "NodeDown", severity: "critical", node: "node-01", job: "nodes" }, streams), '{job="nodes", service_instance_id="node-01"}');
  assert.equal(alertSelector({ alertname: "X", node: "n" }, ["node", "service_instance_id"]), '{node="n"}');
  assert.equal(alertSelector({ alertname: "X", severity: "page" }, [...streams, "severity"]), null);
  assert.equal(alertSelector({ alertname: "X", zone: "z" }, streams), null);
});

test("the volume query counts the query's lines per step by level, dropping parse errors", () => {
  assert.equal(volumeQuery('{a="b"} |= "x"', 60), 'sum by (level, detected_level, severity_text) (count_over_time({a="b"} |= "x" [60s]))');
  assert.equal(volumeQuery('{a="b"} | json', 15), 'sum by (level, detected_level, severity_text) (count_over_time({a="b"} | json | drop __error__ [15s]))');
});
