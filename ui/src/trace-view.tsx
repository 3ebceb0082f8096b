// One trace (`/traces/<id>`, from Tempo's `/api/traces/<id>`): a waterfall of its spans by
// start and duration, indented by parent, subtrees foldable, coloured by service, errors
// marked and the critical path drawn dark; a minimap of the whole trace above it, whose
// drag zooms the waterfall to a stretch of time and whose click scrolls to that part of
// the tree; and the clicked span's details beside it.
//
// It has to stay quick on a trace of 50,000 spans, so the layout is worked out once
// (trace-model.ts) and only the rows in view are in the page: the list is one tall
// spacer, and the rows drawn are those the scroll position shows plus a few either side.
// Rows are plain functions of the laid-out trace with no state of their own; one click
// handler on the list serves them all.

import type { JSX } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  type KeyValue,
  type Trace,
  findSpan,
  formatDuration,
  hexId,
  readTrace,
  reveal,
  serviceColor,
  splitNanos,
  statusName,
  timeTicks,
  valueText,
  visibleRows,
} from "./trace-model";
import { traceLogsQuery } from "./logql";
import { TraceApiError, fetchTrace, lastSearch } from "./traces-api";

/** A row's height in px: fixed, so that a row's place is its index times this. */
const ROW = 24;
/** Rows drawn beyond each edge of the view, so that a quick scroll shows no gap. */
const OVERSCAN = 12;

/** Logs around a trace: this long before its start and after its end, in ms (clocks
 * differ, and a log line may be written a little outside its span). */
const LOG_MARGIN_MS = 5 * 60_000;

/** The logs page's link to the trace's logs, or one span's: the streams of the trace's
 * services (the span's service alone for a span), the records whose structured metadata
 * holds the ids (`traceLogsQuery` says why that form), over the trace's time and a margin. */
export function logsHref(t: Trace, s?: number): string {
  const startMs = t.startSec * 1000 + t.startNs / 1e6;
  const services = s === undefined ? t.services : [t.services[t.service[s]]];
  const q = traceLogsQuery(services, t.traceId, s === undefined ? undefined : t.spanId[s]);
  const from = Math.floor(startMs - LOG_MARGIN_MS);
  const to = Math.ceil(startMs + t.duration / 1e6 + LOG_MARGIN_MS);
  return `/logs?${new URLSearchParams({ q, from: String(from), to: String(to) })}`;
}

interface Loaded {
  trace: Trace;
  /** How long the answer took to arrive and to be read, and to be laid out, in ms. */
  fetchMs: number;
  layoutMs: number;
  began: number;
}

export function TraceView({ id }: { id: string }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let cancelled = false;
    const began = performance.now();
    fetchTrace(id).then(
      (doc) => {
        if (cancelled) return;
        const fetched = performance.now();
        try {
          const trace = readTrace(doc, hexId(id, 16));
          setLoaded({ trace, fetchMs: fetched - began, layoutMs: performance.now() - fetched, began });
        } catch (e) {
          setError(`trace ${id}: ${(e as Error).message}`);
        }
      },
      (e) => {
        if (cancelled) return;
        const notFound = e instanceof TraceApiError && e.status === 404;
        setError(notFound ? `No trace has the ID ${id} (in the span store's retention).` : `trace ${id}: ${e instanceof Error ? e.message : e}`);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [id]);
  if (error) {
    return (
      <section class="trace-view">
        <p class="muted">
          <a href={lastSearch()}>Traces</a> / {id}
        </p>
        <div class="error" role="alert">
          {error}
        </div>
      </section>
    );
  }
  if (!loaded) return <p class="muted">Loading trace {id}…</p>;
  return <TraceBody loaded={loaded} />;
}

function TraceBody({ loaded }: { loaded: Loaded }) {
  const { trace } = loaded;
  // Folded spans: one flag per span, changed in place; `version` redraws after a change.
  const collapsed = useMemo(() => new Uint8Array(trace.n), [trace]);
  const [version, setVersion] = useState(0);
  const visible = useMemo(() => visibleRows(trace, collapsed), [trace, version]);
  const [selected, setSelected] = useState(-1);
  const [zoom, setZoom] = useState<[number, number]>([0, trace.duration]);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(() => Math.round(innerHeight * 0.7));
  const [width, setWidth] = useState(() => innerWidth);
  const [paintMs, setPaintMs] = useState<number | null>(null);
  const body = useRef<HTMLDivElement>(null);

  // Where each drawn span sits in the list, for the minimap and the keyboard.
  const position = useMemo(() => {
    const at = new Int32Array(trace.n).fill(-1);
    visible.forEach((s, k) => (at[s] = k));
    return at;
  }, [visible]);

  useLayoutEffect(() => {
    const el = body.current;
    if (!el) return;
    const measure = () => {
      setHeight(el.clientHeight || Math.round(innerHeight * 0.7));
      setWidth(el.clientWidth);
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  // The first rows are on screen once the frame after this commit is painted.
  useEffect(() => {
    requestAnimationFrame(() => setTimeout(() => setPaintMs(performance.now() - loaded.began)));
  }, []);

  // A span named in the URL is shown and selected on arrival.
  useEffect(() => {
    const want = new URLSearchParams(location.search).get("span");
    if (!want) return;
    const s = findSpan(trace, hexId(want, 8));
    if (s >= 0) select(s);
  }, []);

  function redraw() {
    setVersion((v) => v + 1);
  }

  function toggle(s: number) {
    collapsed[s] = collapsed[s] ? 0 : 1;
    redraw();
  }

  function scrollToRow(k: number) {
    const el = body.current;
    if (!el || k < 0) return;
    const top = k * ROW;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW > el.scrollTop + el.clientHeight) el.scrollTop = top + ROW - el.clientHeight;
  }

  function select(s: number) {
    if (reveal(trace, collapsed, s)) redraw();
    setSelected(s);
    const params = new URLSearchParams(location.search);
    params.set("span", trace.spanId[s]);
    history.replaceState(null, "", `${location.pathname}?${params}`);
    // After the redraw, when the row has its place.
    requestAnimationFrame(() => scrollToRow(visibleRows(trace, collapsed).indexOf(s)));
  }

  function onRowsClick(e: MouseEvent) {
    const target = e.target as Element;
    const row = target.closest<HTMLElement>(".wf-row");
    if (!row) return;
    const s = Number(row.dataset.index);
    if (target.closest(".twisty")) toggle(s);
    else select(s);
  }

  function onKey(e: KeyboardEvent) {
    if (selected < 0) return;
    const k = position[selected];
    let next = -1;
    if (e.key === "ArrowDown") next = visible[Math.min(k + 1, visible.length - 1)];
    else if (e.key === "ArrowUp") next = visible[Math.max(k - 1, 0)];
    else if ((e.key === "ArrowLeft" && !collapsed[selected] && trace.childCount[selected]) || (e.key === "ArrowRight" && collapsed[selected])) {
      e.preventDefault();
      toggle(selected);
      return;
    } else return;
    e.preventDefault();
    select(next);
  }

  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min(visible.length, Math.ceil((scrollTop + height) / ROW) + OVERSCAN);
  const rows: JSX.Element[] = [];
  for (let k = first; k < last; k++) rows.push(spanRow(trace, visible[k], k, zoom, collapsed, selected));

  const root = trace.rows[0];
  const { errors, depth } = useMemo(() => {
    let errors = 0;
    let depth = 0;
    for (let s = 0; s < trace.n; s++) {
      errors += trace.error[s];
      if (trace.depth[s] > depth) depth = trace.depth[s];
    }
    return { errors, depth: depth + 1 };
  }, [trace]);
  const zoomed = zoom[0] > 0 || zoom[1] < trace.duration;
  return (
    <section
      class="trace-view"
      data-spans={trace.n}
      data-answer-ms={Math.round(loaded.fetchMs)}
      data-layout-ms={Math.round(loaded.layoutMs)}
      data-first-paint-ms={paintMs === null ? undefined : Math.round(paintMs)}
    >
      <p class="muted">
        <a href={lastSearch()}>Traces</a> / <span class="trace-id">{trace.traceId}</span>
        {" · "}
        <a class="trace-logs" href={logsHref(trace)}>
          Logs for this trace
        </a>
      </p>
      <h1>
        {trace.services[trace.service[root]] || "unknown service"}: {trace.name[root]}
      </h1>
      <dl class="trace-facts">
        <div>
          <dt>Start</dt>
          <dd>{new Date(trace.startSec * 1000 + trace.startNs / 1e6).toLocaleString()}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{formatDuration(trace.duration)}</dd>
        </div>
        <div>
          <dt>Spans</dt>
          <dd>{trace.n.toLocaleString("en")}</dd>
        </div>
        <div>
          <dt>Depth</dt>
          <dd>{depth}</dd>
        </div>
        <div>
          <dt>Errors</dt>
          <dd class={errors ? "err" : ""}>{errors}</dd>
        </div>
      </dl>
      <ul class="trace-services" aria-label="Services">
        {trace.services.map((s, i) => (
          <li data-service={s}>
            <span class="svc-swatch" style={{ background: serviceColor(i) }} />
            {s || "unknown"}
          </li>
        ))}
        <li class="legend-critical">
          <span class="svc-swatch critical" /> critical path
        </li>
        <li class="legend-error">
          <span class="wf-error-mark">!</span> error
        </li>
      </ul>
      <Minimap trace={trace} zoom={zoom} onZoom={setZoom} visible={visible} position={position} first={Math.floor(scrollTop / ROW)} count={Math.ceil(height / ROW)} onJump={(k) => body.current && (body.current.scrollTop = Math.max(0, k * ROW - height / 2))} />
      <div class="wf-tools">
        <button
          type="button"
          onClick={() => {
            for (let s = 0; s < trace.n; s++) collapsed[s] = trace.parent[s] >= 0 && trace.childCount[s] ? 1 : 0;
            redraw();
          }}
        >
          Collapse all
        </button>
        <button
          type="button"
          onClick={() => {
            collapsed.fill(0);
            redraw();
          }}
        >
          Expand all
        </button>
        {zoomed && (
          <button type="button" onClick={() => setZoom([0, trace.duration])}>
            Reset zoom
          </button>
        )}
        <span class="muted wf-timing">
          {visible.length.toLocaleString("en")} of {trace.n.toLocaleString("en")} rows · answer {Math.round(loaded.fetchMs)} ms, layout {Math.round(loaded.layoutMs)} ms
          {paintMs !== null && `, first paint ${Math.round(paintMs)} ms`}
        </span>
      </div>
      <div class={`trace-main${selected >= 0 ? " with-details" : ""}`}>
        <div class="waterfall">
          <div class="wf-head">
            <div class="wf-name">Service and operation</div>
            <div class="wf-timeline wf-axis">
              {timeTicks(zoom[0], zoom[1], Math.max(2, Math.floor((width * 0.6) / 80))).map((t) => {
                const x = ((t - zoom[0]) / (zoom[1] - zoom[0] || 1)) * 100;
                return (
                  <span class="tick" style={{ left: `${x}%` }}>
                    {formatDuration(t)}
                  </span>
                );
              })}
            </div>
          </div>
          <div class="wf-body" ref={body} tabIndex={0} aria-label="Spans" onScroll={(e) => setScrollTop((e.target as HTMLElement).scrollTop)} onKeyDown={onKey}>
            <div class="wf-spacer" style={{ height: `${visible.length * ROW}px` }}>
              <div class="wf-rows" style={{ transform: `translateY(${first * ROW}px)` }} onClick={onRowsClick}>
                {rows}
              </div>
            </div>
          </div>
        </div>
        {selected >= 0 && <SpanDetails trace={trace} s={selected} onSelect={select} onClose={() => setSelected(-1)} />}
      </div>
    </section>
  );
}

/** Where `[from, to]` falls in the zoomed window, as left and width in percent, cut to it. */
function place(from: number, to: number, zoom: [number, number]): [number, number] {
  const span = zoom[1] - zoom[0] || 1;
  const a = Math.min(100, Math.max(0, ((from - zoom[0]) / span) * 100));
  const b = Math.min(100, Math.max(0, ((to - zoom[0]) / span) * 100));
  return [a, b - a];
}

/** One row of the waterfall: no state, no handlers (the list's click handler reads
 * `data-index`). */
function spanRow(t: Trace, s: number, k: number, zoom: [number, number], collapsed: Uint8Array, selected: number) {
  const color = serviceColor(t.service[s]);
  const [left, width] = place(t.start[s], t.end[s], zoom);
  const crit: JSX.Element[] = [];
  const dur = t.end[s] - t.start[s] || 1;
  for (let j = t.critIndex[s]; j < t.critIndex[s + 1]; j++) {
    const a = ((t.critFrom[j] - t.start[s]) / dur) * 100;
    const w = ((t.critTo[j] - t.critFrom[j]) / dur) * 100;
    crit.push(<span class="wf-crit" style={{ left: `${a}%`, width: `${w}%` }} />);
  }
  const folded = collapsed[s] === 1;
  const label = formatDuration(t.end[s] - t.start[s]);
  // The duration goes after the bar, else before it, else inside it.
  const labelAt = left + width < 78 ? "after" : left > 22 ? "before" : "inside";
  const cls = `wf-row${s === selected ? " selected" : ""}${t.error[s] ? " failed" : ""}${t.critical[s] ? " critical" : ""}`;
  return (
    <div class={cls} key={s} data-index={s} data-row={k} data-span-id={t.spanId[s]} data-selected={s === selected ? "" : undefined}>
      <div class="wf-name" style={{ paddingLeft: `${Math.min(t.depth[s], 20) * 0.75}rem` }} title={`${t.services[t.service[s]]}: ${t.name[s]} (depth ${t.depth[s]})`}>
        {t.childCount[s] > 0 ? (
          <button type="button" class="twisty" aria-expanded={!folded} aria-label={folded ? "Expand" : "Collapse"}>
            {folded ? "▸" : "▾"}
          </button>
        ) : (
          <span class="twisty" />
        )}
        <span class="svc-swatch" style={{ background: color }} />
        <span class="wf-service">{t.services[t.service[s]]}</span>
        <span class="wf-op">{t.name[s]}</span>
        {folded && <span class="wf-folded">+{t.descendants[s]}</span>}
        {t.error[s] === 1 && <span class="wf-error-mark" title="status: error">!</span>}
      </div>
      <div class="wf-timeline">
        <span class="wf-bar" style={{ left: `${left}%`, width: `${width}%`, background: color }}>
          {crit}
        </span>
        <span class={`wf-dur ${labelAt}`} style={labelAt === "after" ? { left: `${left + width}%` } : labelAt === "before" ? { right: `${100 - left}%` } : { left: `${left}%` }}>
          {label}
        </span>
      </div>
    </div>
  );
}

/** The whole trace in a strip: every span a line at its time, rows top to bottom; the
 * zoomed stretch is outlined and the rows in view banded. A drag picks a stretch of time
 * to zoom to; a click scrolls the waterfall to that row. */
function Minimap({
  trace,
  zoom,
  onZoom,
  visible,
  position,
  first,
  count,
  onJump,
}: {
  trace: Trace;
  zoom: [number, number];
  onZoom: (z: [number, number]) => void;
  visible: Int32Array;
  position: Int32Array;
  first: number;
  count: number;
  onJump: (k: number) => void;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [drag, setDrag] = useState<[number, number] | null>(null);
  const [width, setWidth] = useState(0);

  useLayoutEffect(() => {
    const el = canvas.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    const el = canvas.current;
    if (!el || !width) return;
    const dpr = devicePixelRatio || 1;
    const H = el.clientHeight;
    el.width = Math.round(width * dpr);
    el.height = Math.round(H * dpr);
    const g = el.getContext("2d");
    if (!g) return;
    g.scale(dpr, dpr);
    g.clearRect(0, 0, width, H);
    const d = trace.duration || 1;
    const h = Math.max(H / trace.n, 1);
    let fill = "";
    for (let r = 0; r < trace.n; r++) {
      const s = trace.rows[r];
      const c = trace.error[s] ? "#e24d42" : serviceColor(trace.service[s]);
      if (c !== fill) g.fillStyle = fill = c;
      const x = (trace.start[s] / d) * width;
      g.fillRect(x, (r / trace.n) * H, Math.max(((trace.end[s] - trace.start[s]) / d) * width, 1), h);
    }
  }, [trace, width]);

  const frac = (e: PointerEvent) => {
    const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
    return [Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (e.clientY - r.top) / r.height))];
  };
  const d = trace.duration || 1;
  const shown = drag ? [Math.min(...drag), Math.max(...drag)] : [zoom[0] / d, zoom[1] / d];
  // The rows in view, placed among all rows (folded ones included).
  const top = visible.length ? trace.rowOf[visible[Math.min(first, visible.length - 1)]] / trace.n : 0;
  const bottom = visible.length ? (trace.rowOf[visible[Math.min(first + count, visible.length) - 1]] + 1) / trace.n : 1;
  return (
    <div
      class="minimap"
      role="slider"
      aria-label="Minimap: drag to zoom to a stretch of time, click to scroll there"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(shown[0] * 100)}
      onPointerDown={(e) => {
        (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
        const [x] = frac(e);
        setDrag([x, x]);
      }}
      onPointerMove={(e) => drag && setDrag([drag[0], frac(e)[0]])}
      onPointerUp={(e) => {
        if (!drag) return;
        const [x, y] = frac(e);
        setDrag(null);
        const [a, b] = [Math.min(drag[0], x), Math.max(drag[0], x)];
        const rect = (e.currentTarget as HTMLElement).getBoundingClientRect();
        if ((b - a) * rect.width > 4) {
          onZoom([a * d, b * d]);
          return;
        }
        // A click: the drawn row nearest that row of the whole trace.
        const s = trace.rows[Math.min(trace.n - 1, Math.floor(y * trace.n))];
        let p = s;
        while (p >= 0 && position[p] < 0) p = trace.parent[p];
        onJump(Math.max(0, p >= 0 ? position[p] : 0));
      }}
    >
      <canvas ref={canvas} />
      <div class="mm-view" style={{ top: `${top * 100}%`, height: `${Math.max(bottom - top, 0.02) * 100}%` }} />
      <div class="mm-shade" style={{ left: 0, width: `${shown[0] * 100}%` }} />
      <div class="mm-shade" style={{ left: `${shown[1] * 100}%`, right: 0 }} />
      <div class="mm-window" style={{ left: `${shown[0] * 100}%`, width: `${(shown[1] - shown[0]) * 100}%` }} />
    </div>
  );
}

/** Nanoseconds since the trace's start of an absolute OTLP time. */
function offsetOf(t: Trace, v: string | number | undefined): number {
  const [sec, ns] = splitNanos(v);
  return (sec - t.startSec) * 1e9 + (ns - t.startNs);
}

function Attributes({ attrs, empty }: { attrs: KeyValue[] | undefined; empty: string }) {
  if (!attrs?.length) return <p class="muted">{empty}</p>;
  return (
    <table class="grid attrs">
      <tbody>
        {attrs.map((a) => (
          <tr>
            <th>{a.key}</th>
            <td>{valueText(a.value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What a span holds: its identity, kind, status, times, attributes (its own and its
 * resource's), events and links, and the way to its logs. */
function SpanDetails({ trace, s, onSelect, onClose }: { trace: Trace; s: number; onSelect: (s: number) => void; onClose: () => void }) {
  const { span, resource, scope } = trace.sources[s];
  const status = statusName(span.status?.code);
  const parent = trace.parent[s];
  const parentId = hexId(span.parentSpanId, 8);
  const dur = trace.end[s] - trace.start[s];
  return (
    <aside class="span-details" aria-label="Span details" data-span-id={trace.spanId[s]}>
      <div class="details-head">
        <h2>
          <span class="svc-swatch" style={{ background: serviceColor(trace.service[s]) }} />
          {trace.services[trace.service[s]]}: {trace.name[s]}
        </h2>
        <button type="button" class="close" aria-label="Close the details" onClick={onClose}>
          ×
        </button>
      </div>
      <dl class="details-facts">
        <dt>Duration</dt>
        <dd>
          {formatDuration(dur)} <span class="muted">from {formatDuration(trace.start[s])} into the trace</span>
        </dd>
        <dt>Status</dt>
        <dd class={`span-status status-${status}`}>
          {status}
          {span.status?.message ? `: ${span.status.message}` : ""}
        </dd>
        <dt>Kind</dt>
        <dd>{trace.kind[s]}</dd>
        <dt>Span ID</dt>
        <dd class="mono">{trace.spanId[s]}</dd>
        <dt>Parent</dt>
        <dd class="mono">
          {parent >= 0 ? (
            <button type="button" class="link" onClick={() => onSelect(parent)}>
              {trace.spanId[parent]}
            </button>
          ) : parentId && !/^0+$/.test(parentId) ? (
            <>
              {parentId} <span class="muted">(not in the trace)</span>
            </>
          ) : (
            <span class="muted">none: a root span</span>
          )}
        </dd>
        <dt>Trace ID</dt>
        <dd class="mono">{trace.traceId}</dd>
        {trace.critical[s] === 1 && (
          <>
            <dt>Critical path</dt>
            <dd>on it</dd>
          </>
        )}
        {scope.name && (
          <>
            <dt>Scope</dt>
            <dd>
              {scope.name}
              {scope.version ? ` ${scope.version}` : ""}
            </dd>
          </>
        )}
      </dl>
      <p class="span-logs">
        <a href={logsHref(trace, s)}>Logs for this span</a>
      </p>
      <h3>Span attributes</h3>
      <Attributes attrs={span.attributes} empty="None." />
      <h3>Resource attributes</h3>
      <Attributes attrs={resource.attributes} empty="None." />
      <h3>Events</h3>
      {span.events?.length ? (
        <ul class="span-events">
          {span.events.map((ev) => (
            <li>
              <strong>{ev.name}</strong> <span class="muted">at +{formatDuration(offsetOf(trace, ev.timeUnixNano) - trace.start[s])} into the span</span>
              <Attributes attrs={ev.attributes} empty="" />
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">None.</p>
      )}
      <h3>Links</h3>
      {span.links?.length ? (
        <ul class="span-links">
          {span.links.map((l) => {
            const tid = hexId(l.traceId, 16);
            const sid = hexId(l.spanId, 8);
            const here = tid === trace.traceId ? findSpan(trace, sid) : -1;
            return (
              <li>
                {here >= 0 ? (
                  <button type="button" class="link mono" onClick={() => onSelect(here)}>
                    span {sid} of this trace
                  </button>
                ) : (
                  <a class="mono" href={`/traces/${tid}?span=${sid}`}>
                    trace {tid}, span {sid}
                  </a>
                )}
                <Attributes attrs={l.attributes} empty="" />
              </li>
            );
          })}
        </ul>
      ) : (
        <p class="muted">None.</p>
      )}
    </aside>
  );
}
