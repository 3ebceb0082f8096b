// The logs pages' part of the browser test (browser.mjs visits them as it visits the
// others), against the demo's own logs: the logs page shows lines of one node (its stream
// selector found through Loki's label API), with the volume histogram, a line's details
// and completion of label names; then one click goes from a line to its trace, and the
// trace's "Logs for this trace" link back to lines that all hold the trace's id.
//
// What it expects of the server: `/loki/api/v1/labels` and `/label/<name>/values` list a
// node's stream label (`service_instance_id`, `node`, `host_name` or `instance`, else
// `service_name`); `query_range` answers log lines of the last 15 minutes, some carrying a
// trace id (structured metadata `trace_id`, or `trace_id` in a JSON line) of a trace that
// Tempo's `/tempo/api/traces/<id>` serves; `{service_name=~"..."} | trace_id="<id>"`
// finds that trace's lines by their structured metadata.

/** The pages' names, for choosing them on the command line. */
export const LOG_PAGE_NAMES = ["logs-node", "logs-trace"];

/** Stream labels that name a node, the most specific first. */
const NODE_LABELS = ["service_instance_id", "node", "host_name", "instance", "service_name"];

async function lokiData(base, path) {
  const r = await fetch(`${base}/loki/api/v1${path}`);
  const body = await r.json().catch(() => null);
  if (!r.ok || body?.status !== "success") throw new Error(`/loki/api/v1${path} answered ${r.status}: ${JSON.stringify(body)}`);
  return body.data;
}

/** Finds a node's stream selector on `base` and returns the pages that check the logs. */
export async function logPages(base) {
  const labels = (await lokiData(base, "/labels")) ?? [];
  const label = NODE_LABELS.find((l) => labels.includes(l));
  if (!label) throw new Error(`no stream label names a node: the labels are ${JSON.stringify(labels)}`);
  const values = (await lokiData(base, `/label/${encodeURIComponent(label)}/values`)) ?? [];
  if (!values.length) throw new Error(`the stream label ${label} has no values`);
  const value = values[0];
  const selector = `{${label}=${JSON.stringify(value)}}`;
  const path = "/logs?" + new URLSearchParams({ q: selector, range: "15m" });
  console.log(`  the logs pages read ${selector}`);

  /** Clicks Run until a line with a trace that Tempo serves is shown (a minute at most);
   * returns its trace id. */
  const lineWithTrace = async (page) => {
    const deadline = Date.now() + 60_000;
    const tried = new Set();
    for (;;) {
      const candidates = await page.locator(".log-row[data-trace-id]").evaluateAll((rows) => rows.map((r) => r.dataset.traceId));
      for (const id of candidates) {
        if (tried.has(id)) continue;
        tried.add(id);
        const r = await fetch(`${base}/tempo/api/traces/${id}`, { headers: { Accept: "application/json" } });
        if (r.ok) return id;
      }
      if (Date.now() > deadline) throw new Error(`no line of ${selector} has a trace the server serves (tried ${tried.size} trace ids)`);
      await page.waitForTimeout(3000);
      await page.locator(".logs-page button[type=submit]").click();
      await page.locator(".log-row").first().waitFor({ timeout: 15000 });
    }
  };

  return [
    {
      name: "logs-node",
      path,
      ready: ".log-row",
      check: async (page) => {
        const rows = await page.locator(".log-row").count();
        const count = await page.locator(".log-count").innerText();
        if (!new RegExp(`^${rows} lines?`).test(count)) throw new Error(`${rows} rows shown, the count says ${count}`);
        const volume = Number(await page.locator(".log-volume").getAttribute("data-total"));
        if (!(volume >= 1)) throw new Error(`the volume histogram counts ${volume} lines`);
        // A line's details: its stream labels hold the selector's.
        await page.locator(".log-row .log-summary").first().click();
        const streams = await page.locator('.log-row.open .log-fields[data-place="stream"]').innerText();
        if (!streams.includes(label) || !streams.includes(value)) throw new Error(`the line's stream labels: ${streams}`);
        // Completion of a label name, from Loki's label API.
        const box = page.locator("textarea");
        await box.fill("");
        await box.pressSequentially(`{${label.slice(0, 4)}`);
        await page.locator(".completions li", { hasText: label }).first().waitFor({ timeout: 5000 });
        await box.press("Enter");
        if ((await box.inputValue()) !== `{${label}="`) throw new Error(`after a label name: ${await box.inputValue()}`);
      },
    },
    {
      name: "logs-trace",
      path,
      ready: ".log-row",
      check: async (page) => {
        const id = await lineWithTrace(page);
        await page.locator(`.log-row[data-trace-id="${id}"] a.log-trace`).first().click();
        await page.locator(".wf-row").first().waitFor({ timeout: 15000 });
        if (!new URL(page.url()).pathname.endsWith(`/traces/${id}`)) throw new Error(`the trace link opened ${page.url()}`);
        await page.locator("a.trace-logs").click();
        await page.locator(".log-row").first().waitFor({ timeout: 15000 });
        const q = new URL(page.url()).searchParams.get("q") ?? "";
        if (!q.includes(`trace_id="${id}"`)) throw new Error(`the trace's logs query: ${q}`);
        const ids = await page.locator(".log-row").evaluateAll((rows) => rows.map((r) => r.dataset.traceId ?? r.textContent));
        const strays = ids.filter((x) => x !== id);
        if (strays.length) throw new Error(`${strays.length} of ${ids.length} lines are not of trace ${id}: ${JSON.stringify(strays.slice(0, 3))}`);
        console.log(`  ${ids.length} lines of trace ${id}, from a line to its trace and back`);
      },
    },
  ];
}
