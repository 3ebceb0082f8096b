// Query variables as Grafana's Prometheus data source and variable runner read them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseVariableQuery, queryResultTexts, seriesText, variableOptionsFrom } from "../../src/variables";

test("each kind of query Grafana's Prometheus data source knows", () => {
  assert.deepEqual(parseVariableQuery("label_values(instance)"), { kind: "label_values", label: "instance", match: undefined });
  assert.deepEqual(parseVariableQuery('label_values(up{job="node"}, instance)'), { kind: "label_values", label: "instance", match: 'up{job="node"}' });
  assert.deepEqual(parseVariableQuery("label_names()"), { kind: "label_names", match: undefined });
  assert.deepEqual(parseVariableQuery("metrics(node_.*)"), { kind: "metrics", regex: "node_.*" });
  assert.deepEqual(parseVariableQuery("query_result(topk(5, up))"), { kind: "query_result", expr: "topk(5, up)" });
  // Anything else is a series selector, each series its text.
  assert.deepEqual(parseVariableQuery("go_goroutines"), { kind: "series", match: "go_goroutines" });
  assert.equal(parseVariableQuery("  "), null);
});

test("series and query results are written as Grafana writes them", () => {
  assert.equal(seriesText({ __name__: "up", instance: "a:9100", job: "node" }), 'up{instance="a:9100",job="node"}');
  assert.deepEqual(queryResultTexts([{ metric: { __name__: "up", job: "node" }, value: [1700000000.5, "1"] }]), ['up{job="node"} 1 1700000000500']);
});

test("a regex takes the first group or the named value, drops duplicates, and sorts", () => {
  const texts = ['up{instance="b:9100",job="node"} 1 1', 'up{instance="a:9100",job="node"} 1 1', 'up{instance="a:9100",job="x"} 1 1'];
  assert.deepEqual(variableOptionsFrom(texts, '/instance="([^"]+)"/'), ["b:9100", "a:9100"]);
  assert.deepEqual(variableOptionsFrom(texts, '/instance="(?<value>[^:]+)/', 1), ["a", "b"]);
  // Without slashes the regex must match the whole text.
  assert.deepEqual(variableOptionsFrom(["node_a", "xnode_b"], "node_.*"), ["node_a"]);
  assert.deepEqual(variableOptionsFrom(["n10", "n9", "n100"], "", 3), ["n9", "n10", "n100"]);
  assert.deepEqual(variableOptionsFrom(["n10", "n9", "n100"], "", 4), ["n100", "n10", "n9"]);
  assert.deepEqual(variableOptionsFrom(["b", "A", "c"], "", 5), ["A", "b", "c"]);
  assert.deepEqual(variableOptionsFrom(["b", "a"], "", 0), ["b", "a"]);
});
