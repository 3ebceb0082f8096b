// The traces pages' part of the browser test (browser.mjs visits them as it visits the
// others): the seed flow's traces and a 50,000-span trace are posted to the server's
// OTLP/HTTP receiver first (tagged with this run, so that the demo's own traces do not
// disturb the counts); then the search finds them by service and by TraceQL, shows a
// query's error in place, opens a trace of the seed flow's seven services, and the big
// trace opens, scrolls to its end and back with the rows drawn at each place within a
// frame budget, and shows a clicked span's details within 500 ms. How long the big trace
// took to appear is reported, not asserted. Exemplars on an explore graph and on a
// dashboard's time series (the API's answer given here, as the server keeps none yet)
// link to a posted trace's span.

import { SEED_SERVICES, bigTrace, post, seedFlow } from "./trace-data.mjs";

/** The seed flow's traces posted; a third of them fail in `payments`. */
const SEED_TRACES = 9;
/** The big trace's spans. */
const BIG = 50_000;
/** How long the rows at a new scroll position may take to be drawn, in ms: a couple of
 * frames, with room for a loaded machine. */
const SCROLL_BUDGET_MS = 250;
/** How long a span's details may take to appear after its row is clicked. */
const CLICK_BUDGET_MS = 500;

/** The pages' names, for choosing them on the command line before anything is posted. */
export const TRACE_PAGE_NAMES = ["traces-by-service", "traces-traceql", "trace-seed", "trace-demo", "trace-50k", "exemplars-explore", "exemplars-dashboard"];

/** Posts this run's traces to `base` and returns the pages that check them, and the
 * timings they collect (reported at the end). */
export async function tracePages(base) {
  const run = Date.now() % 2 ** 40;
  const mark = `run-${run}`;
  const seed = seedFlow(SEED_TRACES, Date.now(), run);
  const big = bigTrace(BIG, Date.now(), run);
  const began = performance.now();
  await post(base, seed.requests);
  await post(base, big.requests);
  console.log(`  posted ${SEED_TRACES} seed-flow traces and a ${BIG}-span trace in ${((performance.now() - began) / 1000).toFixed(1)} s`);
  const timings = [];

  /** The trace IDs the results table lists, once it lists any. */
  const listed = async (page) => {
    await page.locator("tr.trace-row").first().waitFor({ timeout: 15000 });
    return page.locator("tr.trace-row").evaluateAll((rows) => rows.map((r) => r.dataset.traceId));
  };
  /** Opens the first trace the results list, from its link as a person goes, and returns
   * its ID once the trace view shows its rows. */
  const openFirst = async (page) => {
    const first = page.locator("tr.trace-row a").first();
    const id = await first.getAttribute("title");
    await first.click();
    await page.locator(".wf-row").first().waitFor({ timeout: 15000 });
    if (!page.url().endsWith(`/traces/${id}`)) throw new Error(`the link opened ${page.url()}`);
    return id;
  };
  const same = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

  // One exemplar on `vector(1)`'s line a minute ago, of a failed payment's span.
  const exemplarTrace = seed.failed[0];
  const exemplarSpan = seed.settles[seed.ids.indexOf(exemplarTrace)];
  const answerExemplars = (page) =>
    page.route("**/api/v1/query_exemplars?**", (route) =>
      route.fulfill({
        json: { status: "success", data: [{ seriesLabels: {}, exemplars: [{ labels: { trace_id: exemplarTrace, span_id: exemplarSpan }, value: "1", timestamp: Date.now() / 1000 - 60 }] }] },
      }),
    );
  /** The exemplar is drawn, links to its span, and the link opens the span's details. */
  const followExemplar = async (page) => {
    const mark = page.locator('.exemplars[data-drawn="1"] a.exemplar');
    await mark.waitFor({ timeout: 15000 });
    const href = await mark.getAttribute("href");
    if (href !== `/traces/${exemplarTrace}?span=${exemplarSpan}`) throw new Error(`the exemplar links to ${href}`);
    await mark.click();
    await page.locator(`.span-details[data-span-id="${exemplarSpan}"]`).waitFor({ timeout: 15000 });
  };

  const pages = [
    {
      name: "traces-by-service",
      path: "/traces",
      ready: 'select[aria-label="Service"]',
      check: async (page) => {
        await page.waitForFunction(() => [...(document.querySelector('select[aria-label="Service"]')?.options ?? [])].some((o) => o.value === "payments"), null, { timeout: 15000 });
        const services = await page.locator('select[aria-label="Service"] option').evaluateAll((os) => os.map((o) => o.value));
        const missing = SEED_SERVICES.filter((s) => !services.includes(s));
        if (missing.length) throw new Error(`the service list lacks ${JSON.stringify(missing)}: ${JSON.stringify(services)}`);
        await page.locator('select[aria-label="Service"]').selectOption("payments");
        await page.locator('input[aria-label="Attributes"]').fill(`test.run=${mark}`);
        await page.locator(".trace-search button[type=submit]").click();
        await page.waitForFunction((n) => document.querySelectorAll("tr.trace-row").length === n, seed.ids.length, { timeout: 15000 }).catch(() => {});
        const found = await listed(page);
        if (!same(found, seed.ids)) throw new Error(`searching payments in this run found ${JSON.stringify(found)}; posted ${JSON.stringify(seed.ids)}`);
        // The histogram counts the same traces; the URL keeps the search.
        const counted = await page.locator(".duration-histogram .bin").evaluateAll((bins) => bins.reduce((a, b) => a + Number(b.dataset.count), 0));
        if (counted !== found.length) throw new Error(`the histogram counts ${counted} traces; the table lists ${found.length}`);
        const url = new URL(page.url());
        if (url.searchParams.get("service") !== "payments" || url.searchParams.get("tags") !== `test.run=${mark}`) throw new Error(`the URL does not keep the search: ${page.url()}`);
        await page.reload();
        const again = await listed(page);
        if (!same(again, found)) throw new Error(`reloaded, the search finds ${JSON.stringify(again)}`);
      },
    },
    {
      name: "traces-traceql",
      path: "/traces",
      ready: 'textarea[aria-label="TraceQL query"]',
      // The malformed query's 400 is the one console error expected.
      allowedErrors: /status of 400/,
      check: async (page) => {
        const box = page.locator('textarea[aria-label="TraceQL query"]');
        await box.fill(`{ resource.service.name = "payments" && status = error && resource.test.run = "${mark}" }`);
        await box.press("Enter");
        await page.waitForFunction((n) => document.querySelectorAll("tr.trace-row").length === n, seed.failed.length, { timeout: 15000 }).catch(() => {});
        const found = await listed(page);
        if (!same(found, seed.failed)) throw new Error(`the TraceQL search found ${JSON.stringify(found)}; the failed payments are ${JSON.stringify(seed.failed)}`);
        // A query the server refuses: its words, with a caret where it points.
        await box.fill(`{ resource.test.run = "${mark}" } | select(span.peer.id)`);
        await box.press("Enter");
        const error = page.locator(".traceql-error");
        await error.waitFor({ timeout: 10000 });
        const text = await error.innerText();
        if (!/select\(\)/.test(text) || !/byte \d+/.test(text)) throw new Error(`the query's error reads: ${text}`);
        const caret = await page.locator(".traceql-caret").innerText();
        const line = caret.split("\n");
        if (line.length < 2 || line[1].indexOf("^") !== line[0].indexOf("select")) throw new Error(`the caret does not point at select(): ${JSON.stringify(caret)}`);
      },
    },
    {
      name: "trace-seed",
      path: `/traces?${new URLSearchParams({ q: `{ status = error && resource.test.run = "${mark}" }` })}`,
      ready: "tr.trace-row a",
      check: async (page) => {
        const id = await openFirst(page);
        const services = await page.locator(".trace-services li[data-service]").count();
        if (services < 6) throw new Error(`the trace shows ${services} services; the seed flow has 7`);
        const rows = await page.locator(".wf-row").count();
        if (rows !== 7) throw new Error(`${rows} rows; the trace has 7 spans`);
        const failed = await page.locator(".wf-row.failed").evaluateAll((rs) => rs.map((r) => r.querySelector(".wf-service")?.textContent));
        if (JSON.stringify(failed) !== JSON.stringify(["payments"])) throw new Error(`rows marked failed: ${JSON.stringify(failed)}`);
        // The critical path runs from the request through the task to the payment.
        const critical = await page.locator(".wf-row.critical .wf-service").allInnerTexts();
        for (const s of ["api", "guild", "task", "payments"]) if (!critical.includes(s)) throw new Error(`${s} is not on the critical path: ${JSON.stringify(critical)}`);
        // The failed span's details: status and message, its event, its link, its logs.
        const began = performance.now();
        await page.locator(".wf-row.failed").click();
        const details = page.locator(".span-details");
        await details.waitFor({ timeout: CLICK_BUDGET_MS * 4 });
        const text = await details.innerText();
        for (const want of ["insufficient escrow", "exception", "EscrowError", "payment.currency", "service.name", "client"]) {
          if (!text.includes(want)) throw new Error(`the span's details lack "${want}": ${text}`);
        }
        const link = await details.locator(".span-links a").getAttribute("href");
        if (!/^\/traces\/[0-9a-f]{32}\?span=[0-9a-f]{16}$/.test(link ?? "")) throw new Error(`the link to the previous trace: ${link}`);
        const logs = await details.locator(".span-logs a").getAttribute("href");
        const spanId = await details.getAttribute("data-span-id");
        // The span's logs: its service's streams, the records with its trace and span ids.
        const asked = new URL(logs ?? "", base).searchParams;
        if (asked.get("q") !== `{service_name="payments"} | trace_id="${id}" | span_id="${spanId}"` || !asked.get("from") || !asked.get("to")) {
          throw new Error(`the logs link: ${logs}`);
        }
        console.log(`  the span's details appeared ${(performance.now() - began).toFixed(0)} ms after the click`);
        // Folding the guild hides its three spans.
        await page.locator(".wf-row", { hasText: "guild.form" }).locator("button.twisty").click();
        const folded = await page.locator(".wf-row").count();
        if (folded !== 4) throw new Error(`${folded} rows with the guild folded; expected 4`);
      },
    },
    {
      // The demo's own traces, sent by its simulated network to its receiver: a TraceQL
      // search for whole flows (the API's request down to the chain's confirmation) finds
      // some, and one opens with the flow's six services.
      name: "trace-demo",
      path: `/traces?${new URLSearchParams({ q: '{ resource.service.name = "zerostate-api" } >> { name = "chain.confirm" }' })}`,
      ready: "tr.trace-row a",
      check: async (page) => {
        const id = await openFirst(page);
        const services = await page.locator(".trace-services li[data-service]").evaluateAll((ls) => ls.map((l) => l.dataset.service));
        const want = ["zerostate-api", "zerostate-p2p", "zerostate-dht", "zerostate-guild", "zerostate-execution", "zerostate-economic"];
        const missing = want.filter((s) => !services.includes(s));
        if (missing.length) throw new Error(`the demo's trace ${id} lacks the services ${JSON.stringify(missing)}: ${JSON.stringify(services)}`);
        const names = await page.locator(".wf-row .wf-name").allInnerTexts();
        for (const n of ["POST /v1/tasks", "dht.find_providers", "guild.form", "wasm.execute", "payment.settle", "chain.confirm"]) {
          if (!names.some((x) => x.includes(n))) throw new Error(`the demo's trace ${id} has no ${n} span: ${JSON.stringify(names)}`);
        }
      },
    },
    {
      name: "trace-50k",
      path: `/traces/${big.id}`,
      ready: ".wf-row",
      check: async (page, setup) => {
        const shown = await page.evaluate(() => ({
          spans: Number(document.querySelector(".trace-view")?.dataset.spans),
          rows: document.querySelectorAll(".wf-row").length,
        }));
        if (shown.spans !== BIG) throw new Error(`the trace view holds ${shown.spans} spans, not ${BIG}`);
        if (shown.rows > 200) throw new Error(`${shown.rows} rows in the page: the list is not virtualised`);
        const paint = await page.waitForFunction(() => document.querySelector(".trace-view")?.dataset.firstPaintMs, null, { timeout: 10000 }).then((h) => h.jsonValue());
        const { answerMs, layoutMs } = await page.locator(".trace-view").evaluate((v) => v.dataset);
        // To the end and back: the rows at each place drawn within the budget.
        const scroll = (to) =>
          page.evaluate(async (to) => {
            const body = document.querySelector(".wf-body");
            const began = performance.now();
            body.scrollTop = to === "end" ? body.scrollHeight : 0;
            const want = to === "end" ? body.scrollHeight / 24 - 1 : 0;
            for (let frames = 0; frames < 60; frames++) {
              await new Promise((done) => requestAnimationFrame(done));
              const rows = [...document.querySelectorAll(".wf-row")].map((r) => Number(r.dataset.row));
              if (rows.includes(want)) return { ms: performance.now() - began, frames: frames + 1, rows: rows.length };
            }
            return { ms: performance.now() - began, frames: -1 };
          }, to);
        const down = await scroll("end");
        if (down.frames < 0 || down.ms > SCROLL_BUDGET_MS) throw new Error(`the last rows were not drawn within ${SCROLL_BUDGET_MS} ms of scrolling to the end: ${JSON.stringify(down)}`);
        // Responsive at the end: a click on the last row shows its span's details in time.
        const lastRow = BIG - 1;
        const last = page.locator(`.wf-row[data-row="${lastRow}"]`);
        const lastId = await last.getAttribute("data-span-id");
        const began = performance.now();
        await last.click();
        await page.locator(`.span-details[data-span-id="${lastId}"]`).waitFor({ timeout: CLICK_BUDGET_MS * 4 });
        const clicked = performance.now() - began;
        if (clicked > CLICK_BUDGET_MS) throw new Error(`the span's details took ${clicked.toFixed(0)} ms to appear after the click; the budget is ${CLICK_BUDGET_MS} ms`);
        const up = await scroll("start");
        if (up.frames < 0 || up.ms > SCROLL_BUDGET_MS) throw new Error(`the first rows were not drawn within ${SCROLL_BUDGET_MS} ms of scrolling back: ${JSON.stringify(up)}`);
        // The minimap zooms: a drag over its second fifth shows only that stretch.
        const map = await page.locator(".minimap").boundingBox();
        await page.mouse.move(map.x + map.width * 0.2, map.y + map.height / 2);
        await page.mouse.down();
        await page.mouse.move(map.x + map.width * 0.4, map.y + map.height / 2, { steps: 4 });
        await page.mouse.up();
        await page.locator("button", { hasText: "Reset zoom" }).waitFor({ timeout: 2000 });
        timings.push({ setup, firstPaint: Number(paint), answer: Number(answerMs), layout: Number(layoutMs), down: down.ms, up: up.ms, click: clicked });
        console.log(`  ${BIG} spans: first rows painted ${paint} ms after the page asked for the trace (the answer took ${answerMs} ms to arrive and be read, the layout ${layoutMs} ms); scrolled to the end in ${down.ms.toFixed(0)} ms (${down.frames} frames), back in ${up.ms.toFixed(0)} ms; details ${clicked.toFixed(0)} ms after a click`);
      },
    },
    {
      name: "exemplars-explore",
      path: "/explore?" + new URLSearchParams({ q: "vector(1)", range: "5m", tab: "graph" }),
      ready: ".chart canvas",
      before: answerExemplars,
      check: followExemplar,
    },
    {
      // Written by crates/skywatch/tests/ui.rs: one time series of vector(1), its query
      // asking for exemplars.
      name: "exemplars-dashboard",
      path: "/d/exemplars/exemplars?from=now-5m",
      ready: ".panel .chart canvas",
      before: answerExemplars,
      check: followExemplar,
    },
  ];
  return { pages, timings };
}
