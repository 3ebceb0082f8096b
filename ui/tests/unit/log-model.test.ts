// Log lines as drawn: rows from Loki's answers, levels, parsed fields, trace ids, volume
// bars and de-duplication.
import { test } from "node:test";
import assert from "node:assert/strict";
import { commonLabels, dedupRows, levelOf, normalizeLevel, parseFields, readStreams, rowBuckets, traceOf, volumeBuckets } from "../../src/log-model";

const row = (line: string, more: { stream?: Record<string, string>; metadata?: Record<string, string>; parsed?: Record<string, string> } = {}) => ({
  line,
  stream: more.stream ?? {},
  metadata: more.metadata ?? {},
  parsed: more.parsed ?? {},
});

test("rows come newest first from every stream, with categorized labels kept apart", () => {
  const rows = readStreams([
    { stream: { job: "a" }, values: [["1700000000000000002", "a2"], ["1700000000000000000", "a0"]] },
    { stream: { job: "b" }, values: [["1700000000000000001", "b1", { structuredMetadata: { trace_id: "x" }, parsed: { msg: "m" } }]] },
    { stream: { job: "c" }, values: [["999999999999999999", "c-old"]] },
  ]);
  assert.deepEqual(rows.map((r) => r.line), ["a2", "b1", "a0", "c-old"]);
  assert.deepEqual(rows[1].metadata, { trace_id: "x" });
  assert.deepEqual(rows[1].parsed, { msg: "m" });
  assert.equal(rows[0].ms, 1700000000000.000002);
  assert.equal(new Set(rows.map((r) => r.key)).size, 4);
  assert.deepEqual(readStreams([{ stream: {}, values: [["2", "x"], ["1", "y"]] }], false).map((r) => r.line), ["y", "x"]);
});

test("levels: loggers' names normalised; labels first, then the line's level field, then a level word", () => {
  assert.deepEqual(["WARN", "Warning", "err", "FATAL", "Information", "dbug", "TRACE", "verbose"].map(normalizeLevel), ["warning", "warning", "error", "critical", "info", "debug", "trace", "unknown"]);
  assert.equal(levelOf(row("no error here", { metadata: { severity_text: "INFO" } })), "info");
  assert.equal(levelOf(row("x", { stream: { level: "warn" } })), "warning");
  assert.equal(levelOf(row("x", { metadata: { detected_level: "error" } })), "error");
  assert.equal(levelOf(row('{"level":"WARN","message":"an error"}')), "warning");
  assert.equal(levelOf(row('ts=1 level=debug msg="retrying after error"')), "debug");
  assert.equal(levelOf(row("2025-01-01 ERROR disk full")), "error");
  assert.equal(levelOf(row("all quiet")), "unknown");
  // A label with a level no one knows does not hide the line's own.
  assert.equal(levelOf(row("level=error", { stream: { level: "42" } })), "error");
});

test("fields: JSON flattened with _ as Loki's json parser names them, else logfmt pairs", () => {
  assert.deepEqual(parseFields('{"level":"INFO","http":{"status":200,"path":"/x"},"tags":[1],"ok":true,"nil":null,"a.b":"c"}'), {
    format: "json",
    fields: [["level", "INFO"], ["http_status", "200"], ["http_path", "/x"], ["ok", "true"], ["nil", ""], ["a_b", "c"]],
  });
  assert.deepEqual(parseFields('level=info msg="task \\"done\\"" took=3ms empty= 1st=x'), {
    format: "logfmt",
    fields: [["level", "info"], ["msg", 'task "done"'], ["took", "3ms"], ["empty", ""], ["_1st", "x"]],
  });
  assert.deepEqual(parseFields("plain words only"), { format: null, fields: [] });
  assert.equal(parseFields("{not json} a=b").format, "logfmt");
});

test("trace ids: from structured metadata, labels, or the line's own JSON or logfmt", () => {
  const id = "4bf92f3577b34da6a3ce929d0e0e4736";
  assert.deepEqual(traceOf(row("x", { metadata: { trace_id: id.toUpperCase(), span_id: "00f067aa0ba902b7" } })), { traceId: id, spanId: "00f067aa0ba902b7" });
  assert.deepEqual(traceOf(row(`{"message":"m","trace_id":"${id}","span_id":"00f067aa0ba902b7"}`)), { traceId: id, spanId: "00f067aa0ba902b7" });
  assert.deepEqual(traceOf(row(`msg=hi traceID=${id}`)), { traceId: id, spanId: null });
  assert.deepEqual(traceOf(row("x", { metadata: { trace_id: "00f067aa0ba902b7" } })), { traceId: "00f067aa0ba902b7", spanId: null });
  // Not ids: all zeros, the wrong length, not hex.
  assert.equal(traceOf(row("x", { metadata: { trace_id: "0".repeat(32) } })), null);
  assert.equal(traceOf(row(`trace_id=${id}0`)), null);
  assert.equal(traceOf(row('{"trace_id":"not-a-trace-id-at-all-nope-nope-no"}')), null);
  assert.equal(traceOf(row(`a line mentioning ${id}`)), null);
});

test("volume bars: one per step, each sample in the step it ends, levels summed across names", () => {
  const bars = volumeBuckets(
    [
      { metric: { level: "warn" }, values: [[1060, "2"], [1120, "1"]] },
      { metric: { severity_text: "WARNING" }, values: [[1060, "3"]] },
      { metric: { detected_level: "info" }, values: [[1180, "5"]] },
      { metric: {}, values: [[1180, "1"], [1190, "NaN"]] },
    ],
    1000,
    1180,
    60,
  );
  assert.deepEqual(bars.map((b) => b.t), [1000, 1060, 1120]);
  assert.deepEqual(bars.map((b) => b.counts), [{ warning: 5 }, { warning: 1 }, { info: 5, unknown: 1 }]);
  assert.deepEqual(bars.map((b) => b.total), [5, 1, 6]);
  // Rows (newest first) counted client-side, outside the range dropped.
  const rows = readStreams([{ stream: {}, values: [["1000500000000", "a"], ["1001500000000", "b"], ["1005000000000", "c"]] }]);
  assert.deepEqual(rows.map((r) => r.line), ["c", "b", "a"]);
  const counted = rowBuckets(rows, ["info", "error", "info"], 1000, 1002, 2);
  assert.deepEqual(counted.map((b) => b.counts), [{ info: 1 }, { error: 1 }]);
});

test("de-duplication folds consecutive repeats as Grafana's strategies do", () => {
  const lines = ["a 1", "a 1", "a 2", "b 2", "a 1"].map((line) => ({ line }));
  assert.deepEqual(dedupRows(lines, "none").map((d) => d.count), [1, 1, 1, 1, 1]);
  assert.deepEqual(dedupRows(lines, "exact").map((d) => [d.row.line, d.count]), [["a 1", 2], ["a 2", 1], ["b 2", 1], ["a 1", 1]]);
  assert.deepEqual(dedupRows(lines, "numbers").map((d) => [d.row.line, d.count]), [["a 1", 3], ["b 2", 1], ["a 1", 1]]);
  assert.deepEqual(dedupRows(lines, "signature").map((d) => d.count), [5]);
  const stamped = [{ line: "2025-01-01T00:00:00.1Z x" }, { line: "2025-01-01T00:00:01.2Z x" }];
  assert.deepEqual(dedupRows(stamped, "exact").map((d) => d.count), [2]);
});

test("common labels: those every stream shares with one value", () => {
  assert.deepEqual(commonLabels([{ stream: { a: "1", b: "2" } }, { stream: { a: "1", b: "3" } }]), { a: "1" });
  assert.deepEqual(commonLabels([]), {});
});
