// Traces for the browser test, as OTLP/JSON requests to `POST /v1/traces`: the seed flow
// of ZeroState's network (an HTTP request through P2P, DHT, guild formation, task and
// WASM execution to payment settlement: seven services, some traces with a failed
// payment) and one generated trace of 50,000 spans over the same services. Deterministic:
// the same seed gives the same traces, placed before `now`.

/** The seed flow's services, in the order a request meets them. */
export const SEED_SERVICES = ["api", "p2p", "dht", "guild", "task", "wasm", "payments"];

/** A small deterministic generator (mulberry32). */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (n, digits) => n.toString(16).padStart(digits, "0");

/** Trace `n` of test run `run` (a number below 2^48): 32 hex digits, never zero. */
export const traceId = (run, n) => `5ce0${hex(run, 12)}${hex(n, 16)}`;

const str = (key, value) => ({ key, value: { stringValue: value } });
const int = (key, value) => ({ key, value: { intValue: String(value) } });

/** Unix nanoseconds, as OTLP/JSON's decimal string, `ms` milliseconds after `t0` (ns, a BigInt). */
const at = (t0, ms) => String(t0 + BigInt(Math.round(ms * 1e6)));

/** OTLP/JSON's request: one resource per service, each with its spans; `run` marks the
 * resources (`test.run`), so that a search can find this run's traces among others. */
function request(spans, run) {
  const mark = `run-${run}`;
  const byService = new Map();
  for (const s of spans) {
    if (!byService.has(s.service)) byService.set(s.service, []);
    byService.get(s.service).push(s.span);
  }
  return {
    resourceSpans: [...byService].map(([service, list]) => ({
      resource: { attributes: [str("service.name", service), str("service.namespace", "zerostate"), str("host.name", `node-0${service.length % 3}`), str("test.run", mark)] },
      scopeSpans: [{ scope: { name: "zerostate", version: "1.0.0" }, spans: list }],
    })),
  };
}

/**
 * The seed flow, `count` traces spread over the last minutes before `now` (ms): each an
 * `api` request whose task runs in a guild and settles a payment. Every third trace's
 * payment fails (status error, with an exception event). Every resource carries
 * `test.run=run-<run>`. Returns the requests, the traces' IDs (the failed ones apart) and
 * each trace's payment span ID.
 */
export function seedFlow(count, now = Date.now(), run = 0) {
  const rnd = random(7);
  const spans = [];
  const ids = [];
  const failed = [];
  const settles = [];
  for (let i = 0; i < count; i++) {
    const id = traceId(run, 0x5eed0000 + i);
    const fails = i % 3 === 2;
    ids.push(id);
    if (fails) failed.push(id);
    const t0 = BigInt(now - 60_000 - i * 7_000) * 1_000_000n;
    const slow = 1 + rnd() * 4;
    const sid = (k) => hex(0x5eed00000000 + i * 16 + k, 16);
    settles.push(sid(7));
    const span = (service, k, parent, name, kind, from, to, extra = {}) =>
      spans.push({
        service,
        span: {
          traceId: id,
          spanId: sid(k),
          parentSpanId: parent === null ? "" : sid(parent),
          name,
          kind,
          startTimeUnixNano: at(t0, from * slow),
          endTimeUnixNano: at(t0, to * slow),
          attributes: [str("node.id", `node-0${k % 3}`)],
          status: {},
          ...extra,
        },
      });
    span("api", 1, null, "POST /api/tasks", 2, 0, 180, { attributes: [str("http.method", "POST"), str("http.route", "/api/tasks"), int("http.status_code", fails ? 502 : 201)] });
    span("p2p", 2, 1, "p2p.send", 3, 4, 30, { attributes: [str("peer.id", `peer-${i}`), int("message.size", 512 + i)] });
    span("dht", 3, 2, "dht.find_providers", 1, 8, 27, { attributes: [str("dht.key", `task-${i}`), int("dht.hops", 3)] });
    span("guild", 4, 1, "guild.form", 2, 32, 172, { attributes: [int("guild.size", 5)] });
    span("task", 5, 4, "task.run", 2, 38, 168, { attributes: [str("task.id", `task-${i}`)] });
    span("wasm", 6, 5, "wasm.execute", 1, 42, 118, {
      attributes: [str("wasm.module", "matmul"), int("wasm.fuel", 90_000)],
      events: [{ timeUnixNano: at(t0, 60 * slow), name: "module.loaded", attributes: [int("bytes", 48_213)] }],
    });
    span("payments", 7, 5, "payments.settle", 3, 122, 160, {
      attributes: [str("payment.currency", "ZST"), int("payment.amount", 40 + i)],
      status: fails ? { code: 2, message: "settlement rejected: insufficient escrow" } : { code: 1 },
      events: fails ? [{ timeUnixNano: at(t0, 158 * slow), name: "exception", attributes: [str("exception.type", "EscrowError"), str("exception.message", "insufficient escrow")] }] : [],
      links: i > 0 ? [{ traceId: traceId(run, 0x5eed0000 + i - 1), spanId: hex(0x5eed00000000 + (i - 1) * 16 + 7, 16), attributes: [str("link.reason", "previous settlement")] }] : [],
    });
  }
  return { requests: [request(spans, run)], ids, failed, settles };
}

/**
 * One trace of `n` spans (50,000 for the test) over the seed flow's services: a request
 * fanning out, each span a few children inside its own time, down to a depth of about
 * eight; one span in 500 failed, in `wasm`. Its resources carry `test.run=run-<run>-big`
 * (apart from the seed flow's). Sent in requests of `batch` spans, in no particular order
 * of the tree, as exporters send them.
 */
export function bigTrace(n, now = Date.now(), run = 0, batch = 5000) {
  const rnd = random(50_000);
  const id = traceId(run, 0xb16);
  const t0 = BigInt(now - 30_000) * 1_000_000n;
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  const parents = new Int32Array(n).fill(-1);
  starts[0] = 0;
  ends[0] = 20_000;
  // Breadth first: span i's children are the next unassigned ones, 1 to 12 of them,
  // placed one after another inside it.
  let next = 1;
  for (let p = 0; p < n && next < n; p++) {
    const kids = Math.min(n - next, 1 + Math.floor(rnd() * 12));
    const span = ends[p] - starts[p];
    const slot = span / kids;
    for (let k = 0; k < kids; k++, next++) {
      parents[next] = p;
      starts[next] = starts[p] + k * slot + rnd() * slot * 0.2;
      ends[next] = starts[next] + slot * (0.3 + rnd() * 0.6);
    }
  }
  const spans = [];
  for (let i = 0; i < n; i++) {
    const fails = i % 500 === 499;
    const service = fails ? "wasm" : SEED_SERVICES[i === 0 ? 0 : 1 + (i % (SEED_SERVICES.length - 1))];
    spans.push({
      service,
      span: {
        traceId: id,
        spanId: hex(0xb1600000000 + i, 16),
        parentSpanId: parents[i] < 0 ? "" : hex(0xb1600000000 + parents[i], 16),
        name: i === 0 ? "POST /api/batch" : `${service}.step-${i % 37}`,
        kind: 1,
        startTimeUnixNano: at(t0, starts[i]),
        endTimeUnixNano: at(t0, ends[i]),
        attributes: [int("span.index", i), str("node.id", `node-0${i % 3}`)],
        status: fails ? { code: 2, message: `step ${i} failed` } : {},
      },
    });
  }
  // Children before parents and out of order, as batches of a busy exporter arrive.
  const order = spans.map((_, i) => i).sort((a, b) => (a * 7919) % n - (b * 7919) % n);
  const requests = [];
  for (let i = 0; i < n; i += batch) requests.push(request(order.slice(i, i + batch).map((k) => spans[k]), `${run}-big`));
  return { requests, id };
}

/** Posts each request to `base`'s OTLP/HTTP receiver; throws with the answer on a refusal. */
export async function post(base, requests) {
  for (const body of requests) {
    const r = await fetch(`${base}/v1/traces`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`POST /v1/traces answered ${r.status}: ${(await r.text()).slice(0, 500)}`);
  }
}
