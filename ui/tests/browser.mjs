// Browser test of the UI against a running Skywatch, in headless Chromium (Debian's
// `chromium` package) driven by playwright-core.
//
//   node tests/browser.mjs BASE_URL SCREENSHOT_DIR [PAGE...]
//
// Visits each page (or only the PAGEs named), waits for what it must show, fails on any
// browser console error or uncaught page error, and saves a screenshot of each page
// (light, dark, phone) in SCREENSHOT_DIR; at a phone's width, no page may be wider than
// the screen. The traces pages (trace-pages.mjs) post their own traces first; the logs
// pages (log-pages.mjs) read the demo's own logs. Then burns
// one SLO's budget with the demo's chaos control and checks that the SLO pages show it.
// Prints one line per page; exits 1 on the first failure, saying why.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { LOG_PAGE_NAMES, logPages } from "./log-pages.mjs";
import { TRACE_PAGE_NAMES, tracePages } from "./trace-pages.mjs";

const [base, shots, ...only] = process.argv.slice(2);
if (!base || !shots) {
  console.error("usage: node tests/browser.mjs BASE_URL SCREENSHOT_DIR [PAGE...]");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

const browser = await chromium.launch({
  executablePath,
  // The machine's network is closed: no background fetches, no sandbox as root.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

// Each page: where to go, what must appear, and a check of what it shows.
const pages = [
  {
    name: "explore-graph",
    path: "/explore?" + new URLSearchParams({ q: "sum by (node) (rate(p2p_messages_sent_total[1m]))", range: "5m", tab: "graph" }),
    ready: ".chart canvas",
    check: async (page) => {
      const series = await page.locator(".u-legend .u-series").count();
      if (series < 2) throw new Error(`the chart's legend lists ${series} series; expected one per node`);
    },
  },
  {
    name: "explore-table",
    path: "/explore?" + new URLSearchParams({ q: "up", range: "5m", tab: "table" }),
    ready: "table.grid tbody tr",
    check: async (page) => {
      const rows = await page.locator("table.grid tbody tr").count();
      if (rows < 3) throw new Error(`the table has ${rows} rows; expected one per target`);
    },
  },
  {
    name: "explore-error",
    path: "/explore?" + new URLSearchParams({ q: "sum(rate(up[5m]", range: "5m", tab: "graph" }),
    ready: ".error",
    // The query's own parse error answers 400: the one console error that is expected.
    allowedErrors: /status of 400/,
    check: async (page) => {
      const text = await page.locator(".error").innerText();
      if (!/bad_data/.test(text)) throw new Error(`the parse error is not shown in place: ${text}`);
    },
  },
  {
    name: "explore-complete",
    path: "/explore",
    ready: "textarea",
    check: async (page) => {
      const box = page.locator("textarea");
      const options = () => page.locator(".completions li").allInnerTexts();
      // A metric name, from its first letters.
      await box.pressSequentially("p2p_pe");
      await page.locator(".completions li").first().waitFor();
      if (!(await options()).some((o) => o.startsWith("p2p_peers"))) throw new Error(`metric completions: ${JSON.stringify(await options())}`);
      await box.press("Tab");
      // The metric's label names inside its braces, then a label's values.
      await box.pressSequentially("{no");
      await page.locator(".completions li", { hasText: "node" }).first().waitFor();
      await box.press("Enter");
      if ((await box.inputValue()) !== 'p2p_peers{node="') throw new Error(`after a label name: ${await box.inputValue()}`);
      await page.locator(".completions li", { hasText: "node-01" }).first().waitFor();
      await page.locator(".completions li", { hasText: "node-01" }).first().click();
      const text = await box.inputValue();
      if (text !== 'p2p_peers{node="node-01"') throw new Error(`after a value: ${text}`);
      // Escape closes the list; Enter then runs the query.
      await box.press("End");
      await box.pressSequentially("}");
      await box.press("Escape");
      await box.press("Enter");
      await page.locator(".chart canvas").first().waitFor();
    },
  },
  {
    name: "dashboards",
    path: "/dashboards",
    ready: ".dash-list a",
    check: async (page) => {
      const titles = await page.locator(".dash-list a").allInnerTexts();
      if (!titles.includes("Network overview")) throw new Error(`the list shows ${JSON.stringify(titles)}`);
      const problems = await page.locator(".warning").count();
      if (problems) throw new Error(`${problems} problems reported with the shipped dashboards`);
    },
  },
  {
    name: "network-overview",
    path: "/d/node-network-overview/network-overview?from=now-5m",
    ready: ".panel",
    check: async (page) => {
      await checkDashboard(page);
      // One node picked: the panels query again for it alone, and the URL says so.
      await page.locator(".picker summary").first().click();
      await page.locator(".picker-menu label", { hasText: "node-01" }).locator("input").check();
      await page.waitForFunction(
        () => {
          const panel = [...document.querySelectorAll(".panel")].find((p) => p.querySelector(".panel-title")?.textContent === "Peers per node");
          const names = [...(panel?.querySelectorAll(".u-legend .u-series") ?? [])].map((s) => s.textContent);
          return names.length === 2 && names[1].includes("node-01");
        },
        null,
        { timeout: 10000 },
      );
      if (!page.url().includes("var-node=node-01")) throw new Error(`the URL does not keep the variable: ${page.url()}`);
    },
  },
  {
    name: "health",
    path: "/health",
    ready: "table.grid tbody tr",
    check: async (page) => {
      const states = await page.locator("table.grid:not(.network) tbody tr td:nth-child(2) .badge").allInnerTexts();
      if (states.length < 3 || states.some((s) => !["HEALTHY", "DEGRADED", "CRITICAL"].includes(s))) {
        throw new Error(`target states: ${JSON.stringify(states)}`);
      }
      const overall = await page.locator("h1 .badge").innerText();
      if (!["HEALTHY", "DEGRADED", "CRITICAL"].includes(overall)) throw new Error(`overall state: ${overall}`);
      // The network view: every simulated node with a height, and the demo's inventory
      // (its own nodes) against the targets.
      await page.locator("table.grid.network tbody tr").first().waitFor({ timeout: 20000 });
      const heights = await page.locator("table.grid.network tbody tr td:nth-child(3)").allInnerTexts();
      if (heights.filter((h) => /^\d+$/.test(h)).length < 3 || heights.some((h) => !/^(\d+|–)$/.test(h))) throw new Error(`network heights: ${JSON.stringify(heights)}`);
      const absent = await page.locator(".inventory .absent strong").innerText();
      const unexpected = await page.locator(".inventory .unexpected strong").innerText();
      if (!absent || !unexpected) throw new Error(`inventory: absent ${absent}, unexpected ${unexpected}`);
    },
  },
  {
    name: "alerts",
    path: "/alerts",
    ready: ".alert-item",
    check: async (page) => {
      const names = await page.locator(".alert-item .alert-name").allInnerTexts();
      if (!names.includes("Watchdog")) throw new Error(`the alerts page shows ${JSON.stringify(names)}`);
      const runbook = await page.locator(".alert-item a.runbook").first().getAttribute("href");
      if (!/\/runbooks\/\w+$/.test(runbook ?? "")) throw new Error(`runbook link: ${runbook}`);
    },
  },
  {
    name: "rules",
    path: "/rules",
    ready: "table.grid tbody tr",
    check: async (page) => {
      const rows = await page.locator("table.grid tbody tr").count();
      if (rows < 26) throw new Error(`${rows} rules listed; the demo runs 26`);
      const errors = await page.locator("td .err").count();
      if (errors) throw new Error(`${errors} rules report evaluation errors`);
    },
  },
  {
    name: "silences",
    path: "/silences",
    ready: ".silence-form",
    check: async (page, setup) => {
      // Made in the form, listed active, then expired with its button.
      const who = `browser-${setup}`;
      await page.locator('input[aria-label="Matchers"]').fill(`alertname="Watchdog", setup="${setup}"`);
      await page.locator('input[aria-label="Author"]').fill(who);
      await page.locator('input[aria-label="Comment"]').fill("checking the form");
      await page.locator(".silence-form button").click();
      const row = page.locator("tr.silence.active", { hasText: who });
      await row.waitFor({ timeout: 5000 });
      await row.locator("button").click();
      await page.locator("tr.silence.expired", { hasText: who }).waitFor({ timeout: 5000 });
    },
  },
  {
    name: "notifications",
    path: "/notifications",
    ready: "tr.notification",
    check: async (page) => {
      // The newest deadman's-switch notification (the SLO burn may page after it).
      const text = await page.locator("tr.notification", { hasText: "deadmans-switch" }).first().innerText();
      if (!/sent/.test(text)) throw new Error(`the newest deadmans-switch notification: ${text}`);
    },
  },
  {
    name: "targets",
    path: "/targets",
    ready: ".state.up",
    check: async (page) => {
      const up = await page.locator(".state.up").count();
      if (up < 3) throw new Error(`${up} targets shown up; expected every node`);
      // A job whose discovery fails is shown with why: the server's answer, with a failing
      // provider added (the API's field is tested against a real failure in Rust).
      const failing = "http://consul.invalid:8500/v1/catalog/services: connection refused";
      await page.route("**/api/v1/targets", async (route) => {
        const response = await route.fetch();
        const json = await response.json();
        json.data.discoveryFailures = [
          { scrapePool: "consul-nodes", provider: "consul_sd_configs[0]", error: failing, since: new Date(Date.now() - 5000).toISOString(), keptGroups: 0 },
        ];
        await route.fulfill({ response, json });
      });
      await page.reload();
      const alert = page.locator(".job .error.discovery");
      await alert.waitFor({ timeout: 5000 });
      const text = await alert.innerText();
      await page.unroute("**/api/v1/targets");
      if (!text.includes("consul_sd_configs[0]") || !text.includes(failing) || !text.includes("found no targets yet")) {
        throw new Error(`the discovery failure reads: ${text}`);
      }
    },
  },
];

/** What each panel shows: its title, any error, whether its type is undrawn, and whether
 * it shows data (a chart counts once it holds two values and uPlot has drawn them on a
 * finite scale; a logs panel once Loki answered, since a viewer of warnings may rightly
 * show none: log lines are checked on the logs pages). Runs in the page. */
function panelReport() {
  return [...document.querySelectorAll(".panel")].map((p) => ({
    title: p.querySelector(".panel-title")?.textContent ?? "",
    error: p.querySelector(".panel-error")?.textContent ?? null,
    unsupported: !!p.querySelector(".panel-unsupported"),
    data:
      !!p.querySelector(".stat-value, svg.gauge, .bar-fill, .bar-cell, table.grid tbody tr, .pie-slice, .text-panel > *, .alert-item, .alert-none, .state-box, .barchart .bar, .histogram .bar, .dashlist li, .news, .logs-panel") ||
      Number(p.querySelector("canvas.heatmap")?.dataset.cells ?? 0) > 0 ||
      (Number(p.querySelector(".chart")?.dataset.points ?? 0) >= 2 && p.querySelector(".chart")?.dataset.scale === "finite"),
  }));
}

/** Every panel drawn, with data: no panel error, no undrawn type, no empty panel, and
 * every chart with at least two values (a line), which the dashboard's own refresh brings
 * as the demo's data grows. It waits (30 s at most) for the very state it then reports:
 * a chart's values are in the page a frame before uPlot draws them, so a report taken as
 * soon as the values are there could find the last panel to answer not yet drawn. */
async function checkDashboard(page) {
  const began = performance.now();
  await page.waitForFunction(() => !document.querySelector(".panel .panel-loading"), null, { timeout: 15000 });
  const drawnIn = performance.now() - began;
  await page
    .waitForFunction(`(${panelReport})().every((p) => !p.error && !p.unsupported && p.data)`, null, { timeout: 30000 })
    .catch(() => {});
  const report = await page.evaluate(panelReport);
  const bad = report.filter((p) => p.error || p.unsupported || !p.data);
  if (bad.length) throw new Error(`panels not drawn with data: ${JSON.stringify(bad)}`);
  console.log(`  ${report.length} panels drawn with data, ${drawnIn.toFixed(0)} ms after the first panel appeared`);
}

/** How long after navigation began every panel was drawn with its data, in ms: no panel
 * loading, every chart with at least two values. Measured, reported, not asserted. */
async function timeFullDraw(page, panels) {
  const handle = await page.waitForFunction(
    (n) => {
      const all = document.querySelectorAll(".panel");
      if (all.length < n || document.querySelector(".panel .panel-loading")) return false;
      const charts = [...document.querySelectorAll(".panel .chart")];
      return charts.every((c) => Number(c.dataset.points) >= 2) && performance.now();
    },
    panels,
    { timeout: 30000, polling: "raf" },
  );
  return handle.jsonValue();
}

// Rows as Grafana lays them out (a dashboard written by the Rust side of this test): every
// collapsed row opened, each row's panels sit directly under its header, nothing overlaps,
// and a panel repeated for three nodes, two per row, spans two lines.
pages.push({
  name: "rows-and-repeats",
  path: "/d/rows-and-repeats/rows-and-repeats?from=now-5m",
  ready: ".panel",
  check: async (page, setup) => {
    for (;;) {
      const closed = page.locator(".dash-row button[aria-expanded=false]");
      if ((await closed.count()) === 0) break;
      await closed.first().click();
    }
    await checkDashboard(page);
    if (setup === "phone") return;
    const boxes = await page.evaluate(() =>
      [...document.querySelectorAll(".dash-grid > *")].map((e) => {
        const r = e.getBoundingClientRect();
        return { row: e.classList.contains("dash-row"), title: e.textContent.trim().slice(0, 40), x: r.x, y: r.y, w: r.width, h: r.height };
      }),
    );
    const rows = boxes.filter((b) => b.row);
    if (rows.length !== 6) throw new Error(`${rows.length} rows; expected 2 + 3 repeated + 1`);
    for (const [i, a] of boxes.entries())
      for (const b of boxes.slice(i + 1))
        if (a.x < b.x + b.w - 1 && b.x < a.x + a.w - 1 && a.y < b.y + b.h - 1 && b.y < a.y + a.h - 1)
          throw new Error(`"${a.title}" and "${b.title}" overlap`);
    // Each row's panels (those after it in the page, up to the next row) begin 8 px under it.
    for (const [i, box] of boxes.entries()) {
      if (!box.row) continue;
      const next = boxes.findIndex((b, j) => j > i && b.row);
      const own = boxes.slice(i + 1, next === -1 ? undefined : next);
      if (!own.length) throw new Error(`row "${box.title}" shows no panels once opened`);
      const top = Math.min(...own.map((b) => b.y));
      const gap = top - (box.y + box.h);
      if (Math.abs(gap - 8) > 1.5) throw new Error(`row "${box.title}": its panels begin ${gap.toFixed(1)} px under it, not 8`);
      if (own.some((b) => b.y < box.y + box.h)) throw new Error(`row "${box.title}": a panel is above its header`);
    }
    const repeats = boxes.filter((b) => b.title.startsWith("Height of "));
    if (repeats.length !== 3 || new Set(repeats.map((b) => Math.round(b.y))).size !== 2)
      throw new Error(`the repeated panel: ${JSON.stringify(repeats)}`);
  },
});

// An old Grafana's panels, migrated on load as Grafana migrates them, beside one panel of
// each type added for community dashboards (a dashboard written by the Rust side of this
// test): each is drawn as the type it becomes, none is left undrawn, and each shows data.
const panelTypes = {
  "Legacy graph": "timeseries",
  "Legacy singlestat": "stat",
  "Legacy table": "table",
  "State timeline": "state-timeline",
  "Status history": "status-history",
  "Bar chart": "barchart",
  "Histogram": "histogram",
  Dashboards: "dashlist",
  News: "news",
  Gauge: "gauge",
  "Joined queries": "table",
};
pages.push({
  name: "legacy-and-new-panels",
  path: "/d/legacy-and-new-panels/legacy-and-new-panels?from=now-5m",
  ready: ".panel",
  check: async (page) => {
    await checkDashboard(page);
    const found = await page.evaluate(() =>
      Object.fromEntries([...document.querySelectorAll(".panel")].map((p) => [p.querySelector(".panel-title")?.textContent ?? "", p.dataset.panelType])),
    );
    if (JSON.stringify(found) !== JSON.stringify(panelTypes)) throw new Error(`panels drawn as ${JSON.stringify(found)}, not ${JSON.stringify(panelTypes)}`);
    // The legacy graph's negative-Y override and table legend came through the migration.
    const legend = await page.locator('.panel[data-panel-type="timeseries"] .legend-table, .panel[data-panel-type="timeseries"] table').count();
    if (legend === 0) throw new Error("the migrated graph has no table legend");
    const rows = await page.locator('.panel[data-panel-type="table"] table.grid th').allInnerTexts();
    if (!rows.includes("Height") || rows.includes("Time")) throw new Error(`the migrated table's columns: ${JSON.stringify(rows)}`);
    // query_result(...) and a bare series selector give their options through the
    // variables' regexes, sorted as they say (descending, ascending).
    const options = async (name) => page.locator(`select[aria-label="${name}"] option`).allInnerTexts();
    const expected = ["node-00", "node-01", "node-02"];
    for (const [name, want] of [["ranked", [...expected].reverse()], ["series", expected]]) {
      const got = await options(name);
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`variable ${name}'s options: ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
    }
    // Queries without a refId are A and B, as Grafana names them, so the transformations
    // find both.
    const joined = await page.locator('.panel:has(.panel-title:text-is("Joined queries")) table.grid th').allInnerTexts();
    if (JSON.stringify(joined) !== JSON.stringify(["Node", "Height", "Double"])) throw new Error(`the joined table's columns: ${JSON.stringify(joined)}`);
  },
});

// A dashboard of 20 panels over six hours of the demo's history (written by the Rust
// side of this test), timed from navigation to the last panel drawn.
const timed = { uid: "twenty-panels", panels: 20 };
const timings = [];
pages.push({
  name: "twenty-panels-6h",
  path: `/d/${timed.uid}/twenty-panels?from=now-6h`,
  ready: ".panel",
  check: async (page, setup) => {
    const ms = await timeFullDraw(page, timed.panels);
    const points = await page.evaluate(() => Math.max(...[...document.querySelectorAll(".panel .chart")].map((c) => Number(c.dataset.points))));
    timings.push({ setup, ms, points });
    console.log(`  ${timed.panels} panels over 6 h drawn ${ms.toFixed(0)} ms after navigation began (the longest series has ${points} points)`);
    await checkDashboard(page);
  },
});

// The alert list panel with alerts to show: until rules evaluate, the alerts API is
// answered here with a firing, a pending and an inactive alert.
const alerts = [
  { labels: { alertname: "NodeDown", severity: "critical", node: "node-01" }, annotations: { summary: "node-01 is down" }, state: "firing", activeAt: "2026-11-29T10:00:00Z", value: "0" },
  { labels: { alertname: "HighSyncLag", severity: "warning", node: "node-02" }, annotations: {}, state: "pending", activeAt: "2026-11-29T10:05:00Z", value: "7" },
  { labels: { alertname: "Quiet", severity: "info" }, annotations: {}, state: "inactive" },
];
pages.push({
  name: "system-health-alerts",
  path: "/d/node-network-system-health/system-health?from=now-15m",
  ready: ".alert-item",
  before: (page) =>
    page.route("**/api/v1/alerts", (route) => route.fulfill({ json: { status: "success", data: { alerts } } })),
  check: async (page) => {
    const items = await page.locator(".alert-item .alert-name").allInnerTexts();
    // The panel shows firing and pending ones, newest first (its sortOrder 5).
    if (JSON.stringify(items) !== JSON.stringify(["HighSyncLag", "NodeDown"])) throw new Error(`the alert list shows ${JSON.stringify(items)}`);
    await checkDashboard(page);
  },
});

// SLOs: /slos lists every SLO the API serves, each row linking to the SLO's page; the page
// of the SLO with the least budget left shows its definition, its budget and burn-rate
// charts with values, a burn-rate line per window its alerts read, a threshold line per
// alert condition, and its alerts.
const apiSlos = async () => {
  const r = await fetch(`${base}/api/v1/slos`);
  const body = await r.json().catch(() => null);
  if (body?.status !== "success" || !Array.isArray(body.data)) throw new Error(`/api/v1/slos answered ${r.status}: ${JSON.stringify(body)}`);
  return body.data;
};
const served = await apiSlos().catch((e) => {
  console.log(`FAILED ${e.message}`);
  process.exit(1);
});
if (served.length === 0) {
  console.log("FAILED /api/v1/slos lists no SLOs; the demo ships its own");
  process.exit(1);
}
pages.push({
  name: "slos",
  path: "/slos",
  ready: "tr.slo",
  check: async (page) => {
    const want = (await apiSlos()).map((s) => s.id).sort();
    const rows = await page.locator("tr.slo").evaluateAll((trs) =>
      trs.map((tr) => ({ id: tr.dataset.sloId, href: tr.querySelector("a")?.getAttribute("href") })),
    );
    const shown = rows.map((r) => r.id).sort();
    if (JSON.stringify(shown) !== JSON.stringify(want)) throw new Error(`/slos lists ${JSON.stringify(shown)}; the API serves ${JSON.stringify(want)}`);
    const unlinked = rows.filter((r) => r.href !== `/slos/${encodeURIComponent(r.id)}`);
    if (unlinked.length) throw new Error(`rows not linked to their SLO's page: ${JSON.stringify(unlinked)}`);
    const badges = await page.locator("tr.slo .slo-alert[data-severity=page]").count();
    if (badges !== rows.length) throw new Error(`${badges} page alert badges for ${rows.length} SLOs; every SLO has a page alert`);
  },
});
const detailed = served[0];
pages.push({
  name: "slo",
  path: `/slos/${encodeURIComponent(detailed.id)}`,
  ready: ".slo-facts",
  check: async (page) => {
    const facts = await page.locator(".slo-facts").innerText();
    if (!facts.includes(detailed.period) || !facts.includes(detailed.file)) throw new Error(`the definition reads: ${facts}`);
    // Both charts with values: the rules record a value per evaluation.
    await page
      .waitForFunction(
        () => {
          const charts = [...document.querySelectorAll(".slo-chart")];
          return charts.length === 2 && charts.every((c) => Number(c.querySelector(".chart")?.dataset.points) >= 2 && c.querySelector(".chart")?.dataset.scale === "finite");
        },
        null,
        { timeout: 90000 },
      )
      .catch(async () => {
        const state = await page.locator(".slo-chart").allInnerTexts();
        throw new Error(`the budget and burn-rate charts have no values after 90 s: ${JSON.stringify(state)}`);
      });
    const conditions = detailed.alerts.flatMap((a) => a.conditions.map((c) => ({ ...c, severity: a.severity })));
    const windows = new Set(conditions.flatMap((c) => [c.shortWindow, c.longWindow]));
    const legend = '.slo-chart[data-chart="burn-rate"] .u-legend .u-series:not(:first-child) .u-label';
    // A window gets its line once the live rules have recorded it: the demo's history
    // records only the budget's windows, and the page asks again every 30 s.
    await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length >= n, [legend, windows.size], { timeout: 90000 }).catch(() => {});
    const lines = await page.locator(legend).allInnerTexts();
    if (JSON.stringify([...lines].sort()) !== JSON.stringify([...windows].sort())) throw new Error(`burn-rate lines ${JSON.stringify(lines)}; the alerts read ${JSON.stringify([...windows])}`);
    const thresholds = await page.locator(".slo-thresholds li").count();
    const distinct = new Set(conditions.map((c) => `${c.severity} ${c.burnRate}`)).size;
    if (thresholds !== distinct) throw new Error(`${thresholds} threshold lines listed; the alerts' conditions have ${distinct}`);
    const alerts = await page.locator(".slo-alert-table tbody tr").count();
    if (alerts !== detailed.alerts.length) throw new Error(`${alerts} alerts shown; the SLO has ${detailed.alerts.length}`);
  },
});

// Every dashboard the server lists, each checked as a page of its own.
const listed = await (await fetch(`${base}/api/search`)).json();
if (listed.length < 2) {
  console.log(`FAILED /api/search lists ${listed.length} dashboards; the demo ships more`);
  process.exit(1);
}
pages.push(
  ...listed.map((d) => ({
    name: `dashboard-${d.uid}`,
    path: `${d.url}?from=now-5m`,
    ready: ".panel",
    check: checkDashboard,
  })),
);

/** The demo's chaos control that burns one SLO's budget at far over the page alert's
 * 14.4x, and the SLO it burns (the demo's `slos/zerostate.yml` and netsim's
 * `/chaos/{layer}`): half the payments fail against an objective of 99.9%. Of the demo's
 * layers this pages soonest: the page alert's long window (1 h) must pass 14.4 times the
 * budget too, over the demo's healthy history, which takes 0.0144 / 0.5 of an hour, about
 * 2 minutes (task success, 99.5% with two executors of three failing, takes about 7). The
 * burn starts before the pages are visited, so those minutes pass while they are checked:
 * no page checked before it asserts that nothing fires. */
const SLO_CHAOS = { burn: "/demo/chaos/payments", heal: "/demo/chaos/heal", slo: "zerostate-payment-success" };
/** How long the burn may take to page: the 2 minutes above, rule evaluations and room. */
const SLO_BURN_DEADLINE_MS = 10 * 60 * 1000;

/** Starts burning `SLO_CHAOS.slo`'s budget; returns when it began (`performance.now()`). */
async function startBurn() {
  const began = performance.now();
  const r = await fetch(base + SLO_CHAOS.burn, { method: "POST" });
  if (!r.ok) throw new Error(`POST ${SLO_CHAOS.burn} answered ${r.status}: the demo's chaos control that burns ${SLO_CHAOS.slo} is missing`);
  return began;
}

/** Waits, asking the API, until the burned SLO is the first listed and its page alert
 * fires; returns how long after the burn began that was, in ms. */
async function awaitBurn(began) {
  for (;;) {
    const list = await apiSlos();
    const first = list[0];
    if (first?.id === SLO_CHAOS.slo && first.alerts.some((a) => a.severity === "page" && a.state === "firing")) return performance.now() - began;
    if (performance.now() - began > SLO_BURN_DEADLINE_MS) {
      const burned = list.find((s) => s.id === SLO_CHAOS.slo);
      throw new Error(`${SLO_CHAOS.slo} is not first with its page alert firing ${SLO_BURN_DEADLINE_MS / 60000} min after ${SLO_CHAOS.burn}; first is ${first?.id}, ${SLO_CHAOS.slo} reads ${JSON.stringify(burned)}`);
    }
    await new Promise((done) => setTimeout(done, 2000));
  }
}

// After the burn, as a person sees it: /slos lists the burned SLO first, marked as paging,
// its page alert firing; its page says so; /alerts lists the alert firing.
const burnedPages = [
  {
    name: "slos-burned",
    path: "/slos",
    ready: "tr.slo",
    check: async (page) => {
      // The page asks again every 30 s; it may have asked just before the alert fired.
      await page
        .waitForFunction(
          (id) => {
            const first = document.querySelector("tr.slo");
            return first?.dataset.sloId === id && first.classList.contains("paging") && !!first.querySelector('.slo-alert[data-severity=page][data-state=firing]');
          },
          SLO_CHAOS.slo,
          { timeout: 40000 },
        )
        .catch(async () => {
          const rows = await page.locator("tr.slo").evaluateAll((trs) => trs.slice(0, 3).map((tr) => `${tr.dataset.sloId}: ${tr.innerText}`));
          throw new Error(`after the burn, the first rows read ${JSON.stringify(rows)}`);
        });
      const badge = await page.locator("h1 .badge.firing").innerText();
      if (!/paging/.test(badge)) throw new Error(`the heading's badge reads ${badge}`);
    },
  },
  {
    name: "slo-burned",
    path: `/slos/${encodeURIComponent(SLO_CHAOS.slo)}`,
    ready: ".slo-alert-table",
    check: async (page) => {
      await page.locator(".slo-alert-table tr.slo-alert-row.firing[data-severity=page]").waitFor({ timeout: 40000 });
    },
  },
  {
    name: "alerts-burned",
    path: "/alerts",
    ready: ".alert-item",
    check: async (page) => {
      const alert = (await apiSlos()).find((s) => s.id === SLO_CHAOS.slo).alerts.find((a) => a.severity === "page");
      await page.locator(".alert-item.firing", { hasText: alert.name }).first().waitFor({ timeout: 15000 });
    },
  },
];
// Traces: this run's own, posted before their pages are visited.
// Filled as the big trace's page is checked.
let traceTimings = [];
if (TRACE_PAGE_NAMES.some((name) => only.length === 0 || only.includes(name))) {
  try {
    const traces = await tracePages(base);
    pages.push(...traces.pages);
    traceTimings = traces.timings;
  } catch (e) {
    console.log(`FAILED posting the traces pages' traces: ${e.message}`);
    process.exit(1);
  }
}

if (LOG_PAGE_NAMES.some((name) => only.length === 0 || only.includes(name))) {
  try {
    pages.push(...(await logPages(base)));
  } catch (e) {
    console.log(`FAILED finding a node's logs for the logs pages: ${e.message}`);
    process.exit(1);
  }
}

let failed = false;
// Desktop in both themes, and a phone's width.
const setups = [
  { theme: "light", name: "light", viewport: { width: 1280, height: 800 } },
  { theme: "dark", name: "dark", viewport: { width: 1280, height: 800 } },
  { theme: "light", name: "phone", viewport: { width: 390, height: 844 } },
];

/** Opens `p` in a new page of `context`, waits for it, checks it, and saves a screenshot;
 * a failure is printed and remembered. */
async function visit(context, p, setup, viewport) {
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  const began = performance.now();
  try {
    if (p.before) await p.before(page);
    await page.goto(base + p.path);
    await page.locator(p.ready).first().waitFor({ timeout: 15000 });
    const ms = performance.now() - began;
    await p.check(page, setup);
    await page.screenshot({ path: join(shots, `${p.name}-${setup}.png`), fullPage: true });
    const unexpected = errors.filter((e) => !p.allowedErrors?.test(e));
    if (unexpected.length) throw new Error(unexpected.join("\n"));
    // Nothing wider than the screen: a phone scrolls down, not sideways.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    if (overflow > 1) throw new Error(`the page is ${overflow} px wider than the ${viewport.width} px screen`);
    console.log(`ok ${p.name} (${setup}): ready in ${ms.toFixed(0)} ms`);
  } catch (e) {
    await page.screenshot({ path: join(shots, `${p.name}-${setup}-FAILED.png`), fullPage: true }).catch(() => {});
    console.log(`FAILED ${p.name} (${setup}): ${e.message}`);
    failed = true;
  }
  await page.close();
}

const chosen = (p) => only.length === 0 || only.includes(p.name);
// The burn's pages are checked last; its minutes pass while the others are.
const burnBegan = burnedPages.some(chosen) ? startBurn().catch((e) => e) : null;
for (const { theme, name: setup, viewport } of setups) {
  const context = await browser.newContext({ viewport });
  await context.addInitScript((t) => localStorage.setItem("skywatch-theme", t), theme);
  for (const p of pages.filter(chosen)) await visit(context, p, setup, viewport);
  await context.close();
}

if (burnedPages.some(chosen)) {
  try {
    const began = await burnBegan;
    if (began instanceof Error) throw began;
    const ms = await awaitBurn(began);
    console.log(`ok the burn of ${SLO_CHAOS.slo} paged after ${(ms / 1000).toFixed(0)} s`);
    const context = await browser.newContext({ viewport: setups[0].viewport });
    await context.addInitScript((t) => localStorage.setItem("skywatch-theme", t), setups[0].theme);
    for (const p of burnedPages.filter(chosen)) await visit(context, p, "light", setups[0].viewport);
    await context.close();
  } catch (e) {
    console.log(`FAILED the burn of ${SLO_CHAOS.slo}: ${e.message}`);
    failed = true;
  }
  await fetch(base + SLO_CHAOS.heal, { method: "POST" }).catch(() => {});
}
await browser.close();
for (const t of timings) console.log(`timing: ${timed.panels} panels, 6 h, ${t.setup}: ${t.ms.toFixed(0)} ms`);
for (const t of traceTimings) {
  console.log(`timing: 50,000-span trace, ${t.setup}: first paint ${t.firstPaint} ms (answer ${t.answer} ms, layout ${t.layout} ms), scroll to end ${t.down.toFixed(0)} ms, back ${t.up.toFixed(0)} ms, click to details ${t.click.toFixed(0)} ms`);
}
process.exit(failed ? 1 : 0);
