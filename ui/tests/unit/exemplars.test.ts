// Exemplars as the charts draw them: read from `/api/v1/query_exemplars`'s answer, their
// trace and span IDs found under the label names in use, and linked to the trace's page.
import { test } from "node:test";
import assert from "node:assert/strict";
import { exemplarHref, exemplarPoints } from "../../src/exemplars";

test("exemplars keep their time, value and trace, oldest first; unusable values are dropped", () => {
  const points = exemplarPoints([
    {
      seriesLabels: { __name__: "http_request_duration_seconds_bucket", le: "0.5" },
      exemplars: [
        { labels: { trace_id: "4BF92F3577B34DA6A3CE929D0E0E4736", span_id: "00f067aa0ba902b7" }, value: "0.31", timestamp: 1700000010.5 },
        { labels: { traceID: "abc" }, value: "0.2", timestamp: 1700000001 },
        { labels: {}, value: "NaN", timestamp: 1700000002 },
      ],
    },
    { seriesLabels: { le: "1" }, exemplars: [{ labels: { traceId: "def", foo: "bar" }, value: "0.9", timestamp: 1700000005 }] },
  ]);
  assert.deepEqual(
    points.map((p) => [p.t, p.v, p.traceId, p.spanId]),
    [
      [1700000001, 0.2, "abc", ""],
      [1700000005, 0.9, "def", ""],
      [1700000010.5, 0.31, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"],
    ],
  );
  assert.equal(points[1].seriesLabels.le, "1");
  assert.deepEqual(exemplarPoints([]), []);
});

test("an exemplar links to its trace, at its span when it names one; without a trace, nowhere", () => {
  const [withSpan, plain, none] = exemplarPoints([
    {
      seriesLabels: {},
      exemplars: [
        { labels: { trace_id: "4bf92f3577b34da6a3ce929d0e0e4736", span_id: "00f067aa0ba902b7" }, value: "1", timestamp: 1 },
        { labels: { trace_id: "4bf92f3577b34da6a3ce929d0e0e4736" }, value: "1", timestamp: 2 },
        { labels: { user: "x" }, value: "1", timestamp: 3 },
      ],
    },
  ]);
  assert.equal(exemplarHref(withSpan), "/traces/4bf92f3577b34da6a3ce929d0e0e4736?span=00f067aa0ba902b7");
  assert.equal(exemplarHref(plain), "/traces/4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(exemplarHref(none), null);
});
