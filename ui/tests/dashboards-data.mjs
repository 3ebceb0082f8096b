// Every shipped dashboard of a live demo draws real data, in headless Chromium (Debian's
// `chromium` package) driven by playwright-core.
//
//   node tests/dashboards-data.mjs BASE_URL PROFILE SCREENSHOT_DIR [RANGE]
//
// Lists the server's dashboards (`/api/search`, as the dashboards page does), opens each
// one (over the last RANGE, say `1h`, the demo's history, if given; else over the
// dashboard's own time range) with every collapsed row expanded (repeats are laid out by the page itself), and
// checks every panel: no error, a type that is drawn (a chart's plot not squeezed by its
// legend, a legend table's names shown), and
// - a panel that draws numbers (its root's `data-values`, see `src/panel-data.ts`): drawn,
//   at least one finite value, and at least two distinct ones, unless it is listed in
//   `tests/constant-panels/PROFILE.json` (`{"<dashboard uid>": {"<panel title>": "<why>"}}`);
//   a listed panel must still be constant (unless its reason begins "Either way:", for a
//   panel whose constancy depends on the run's timing), and every listed panel must exist, so the list
//   stays true;
// - an alert list: the alerts the server has (`/api/v1/alerts`) that its options select,
//   by name, and no other;
// - a logs panel: lines; a text panel: content; a dashboard list: dashboards.
// With DASHBOARDS_CHECK=errors in the environment, only what a backend can break is checked,
// for a server whose data is not the demo's (a query backend's few minutes of scrapes, no
// chaos): every panel settles without an error and is drawn, no console errors, and each
// dashboard draws finite values in at least one panel; the constant list is not read.
// Saves a screenshot of each dashboard in SCREENSHOT_DIR. Prints one line per dashboard
// (panels checked, constants listed); exits 1 after all dashboards if any panel failed,
// listing every failure.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, profile, shots, range] = process.argv.slice(2);
if (!base || !profile || !shots) {
  console.error("usage: node tests/dashboards-data.mjs BASE_URL PROFILE SCREENSHOT_DIR [RANGE]");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const constantsFile = new URL(`./constant-panels/${profile}.json`, import.meta.url);
/** @type {Record<string, Record<string, string>>} */
const errorsOnly = process.env.DASHBOARDS_CHECK === "errors";
const constants = errorsOnly ? {} : existsSync(constantsFile) ? JSON.parse(readFileSync(constantsFile, "utf8")) : {};

async function getJson(path) {
  const r = await fetch(new URL(path, base));
  if (!r.ok) throw new Error(`GET ${path}: ${r.status}`);
  return r.json();
}

const hits = (await getJson("/api/search")).filter((h) => (h.type ?? "dash-db") === "dash-db");
if (!hits.length) {
  console.error("the server lists no dashboards");
  process.exit(1);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // The machine's network is closed: no background fetches, no sandbox as root.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
/** The least share of a panel's height a chart's plot area keeps (Grafana's legend takes
 * 35% at most, the axes and title some more). */
const MIN_PLOT_SHARE = 0.25;
const failures = [];
const seen = new Set();
try {
  for (const hit of hits) {
    seen.add(hit.uid);
    const problems = await checkDashboard(hit).catch((e) => [`${e.message ?? e}`]);
    failures.push(...problems.map((p) => `${hit.uid}: ${p}`));
  }
} finally {
  await browser.close();
}
for (const uid of Object.keys(constants)) {
  if (!seen.has(uid)) failures.push(`${uid}: listed in constant-panels/${profile}.json, but the server has no such dashboard`);
}
if (failures.length) {
  console.log(`FAILED, ${failures.length} problems:\n  ${failures.join("\n  ")}`);
  process.exit(1);
}

/** What each panel shows, read in the page: title, type, error, undrawn type, what it drew
 * (its data attributes), and whether a chart has drawn its values on a finite scale. */
function panelReport() {
  return [...document.querySelectorAll(".panel")].map((p) => {
    const chart = p.querySelector(".chart");
    return {
      title: p.querySelector(".panel-title")?.textContent ?? "",
      type: p.dataset.panelType,
      error: p.querySelector(".panel-error")?.textContent ?? null,
      unsupported: !!p.querySelector(".panel-unsupported"),
      loading: !!p.querySelector(".panel-loading"),
      values: p.dataset.values ?? null,
      distinct: p.dataset.distinct === undefined ? null : Number(p.dataset.distinct),
      min: p.dataset.min ?? null,
      max: p.dataset.max ?? null,
      // A chart with values counts as drawn once uPlot drew them on a finite scale.
      drawn: chart
        ? Number(chart.dataset.points ?? 0) === 0 || chart.dataset.scale === "finite"
        : !!p.querySelector(".stat-value, svg.gauge, .bar-row, table.grid, .pie, .state-box, .barchart, .histogram, canvas.heatmap, .empty, .text-panel, .alert-list, .alert-none, .dashlist, .news, .logs-panel"),
      // The chart's plot area (without axes and legend) against the panel's height.
      plotShare: chart?.querySelector(".u-over") ? chart.querySelector(".u-over").clientHeight / p.clientHeight : null,
      // Legend table rows whose name cell has no room to show the name.
      hiddenNames: [...p.querySelectorAll(".legend-table td.name")].filter((td) => {
        const style = getComputedStyle(td);
        return td.textContent && td.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) < 8;
      }).length,
      alerts: [...p.querySelectorAll(".alert-item .alert-name")].map((a) => a.textContent),
      lines: Number(p.querySelector(".logs-panel")?.dataset.lines ?? -1),
      text: p.querySelector(".text-panel")?.textContent?.trim().length ?? 0,
      dashboards: p.querySelectorAll(".dashlist li").length,
    };
  });
}

/** Whether every panel has settled: an error, an undrawn type, or data it reported and drew. */
function settled() {
  return [...document.querySelectorAll(".panel")].every((p) => {
    if (p.querySelector(".panel-error, .panel-unsupported")) return true;
    if (p.dataset.values === undefined) return false;
    if (p.dataset.values === "n/a") return !p.querySelector(".panel-loading");
    const chart = p.querySelector(".chart");
    return !chart || Number(chart.dataset.points ?? 0) === 0 || chart.dataset.scale === "finite";
  });
}

/** The alerts an alert list panel selects, as `panels.tsx`'s AlertList does with Grafana's
 * options: by state and name; `maxItems` at most. */
function selectedAlerts(alerts, options = {}) {
  const filter = options.stateFilter ?? {};
  const any = Object.values(filter).some(Boolean);
  const wanted = (a) =>
    (!any || (a.state === "firing" && (filter.firing || filter.alerting)) || (a.state === "pending" && filter.pending) || (a.state === "inactive" && (filter.inactive || filter.normal))) &&
    (!options.alertName || (a.labels.alertname ?? "").toLowerCase().includes(options.alertName.toLowerCase()));
  return alerts.filter(wanted);
}

/** Every panel of one dashboard as `panels` of its JSON lists them, rows' too. */
function panelsOf(json) {
  return (json.panels ?? []).flatMap((p) => (p.type === "row" ? [p, ...(p.panels ?? [])] : [p]));
}

/** The errors-only check of one dashboard's `report` (see DASHBOARDS_CHECK above). */
async function finishErrorsOnly(hit, page, report, consoleErrors) {
  const problems = [];
  for (const p of report) {
    const fail = (what) => problems.push(`"${p.title}" (${p.type}): ${what}`);
    if (p.error) fail(`error: ${p.error}`);
    else if (p.unsupported) fail("its type is not drawn");
    else if (p.values === null) fail(`never reported what it drew${p.loading ? " (still loading)" : ""}`);
    else if (!p.drawn) fail(`not drawn (values ${p.values})`);
  }
  const withData = report.filter((p) => p.values !== null && p.values !== "n/a" && Number(p.values) > 0).length;
  const numeric = report.filter((p) => p.values !== null && p.values !== "n/a").length;
  if (numeric && !withData) problems.push(`none of its ${numeric} panels of numbers drew a value`);
  const errors = consoleErrors.filter((e) => !/favicon/.test(e));
  if (errors.length) problems.push(`console errors: ${errors.join(" | ")}`);
  await page.screenshot({ path: join(shots, `${hit.uid}.png`), fullPage: true });
  console.log(
    `${problems.length ? "FAIL" : "ok  "} ${hit.uid}: ${report.length} panels checked for errors, ${withData} of ${numeric} with values${problems.length ? `, ${problems.length} problems` : ""}`,
  );
  return problems;
}

async function checkDashboard(hit) {
  const json = (await getJson(`/api/dashboards/uid/${encodeURIComponent(hit.uid)}`)).dashboard;
  const listed = constants[hit.uid] ?? {};
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  try {
    const query = range ? `?${new URLSearchParams({ from: `now-${range}`, to: "now" })}` : "";
    await page.goto(new URL(`/d/${encodeURIComponent(hit.uid)}${query}`, base).toString());
    await page.locator(".dash-grid").waitFor({ timeout: 15000 });
    // Every collapsed row opened; opening one may bring others (rows repeated inside).
    for (let round = 0; round < 20; round++) {
      const closed = page.locator('.dash-row button[aria-expanded="false"]');
      if (!(await closed.count())) break;
      await closed.first().click();
    }
    await page.waitForFunction(settled, null, { timeout: 45000 }).catch(() => {});
    const report = await page.evaluate(panelReport);
    const alerts = json.panels && panelsOf(json).some((p) => p.type === "alertlist") ? (await getJson("/api/v1/alerts")).data.alerts : [];
    const byTitle = new Map(panelsOf(json).map((p) => [p.title, p]));
    if (errorsOnly) return await finishErrorsOnly(hit, page, report, consoleErrors);
    const problems = [];
    let constant = 0;
    for (const p of report) {
      const why = listed[p.title];
      const fail = (what) => problems.push(`"${p.title}" (${p.type}): ${what}`);
      if (p.error) fail(`error: ${p.error}`);
      else if (p.unsupported) fail("its type is not drawn");
      else if (p.values === null) fail(`never reported what it drew${p.loading ? " (still loading)" : ""}`);
      else if (!p.drawn) fail(`not drawn (values ${p.values})`);
      else if (p.hiddenNames) fail(`its legend table shows ${p.hiddenNames} series without their names`);
      else if (p.plotShare !== null && p.plotShare < MIN_PLOT_SHARE) fail(`its plot is ${(p.plotShare * 100).toFixed(0)}% of the panel's height: squeezed (by its legend?) until its lines cannot be read`);
      else if (p.values === "n/a") {
        if (why !== undefined) fail("listed as constant, but it draws no numbers");
        if (p.type === "logs" && p.lines <= 0) fail("shows no log lines");
        if (p.type === "text" && p.text === 0) fail("shows no text");
        if (p.type === "dashlist" && p.dashboards === 0) fail("lists no dashboards");
        if (p.type === "alertlist") {
          const panel = byTitle.get(p.title);
          const expected = selectedAlerts(alerts, panel?.options);
          const names = new Set(expected.map((a) => a.labels.alertname ?? "(no alertname)"));
          const stray = p.alerts.filter((n) => !names.has(n));
          if (stray.length) fail(`shows alerts the server does not have in that state: ${JSON.stringify(stray)}`);
          if (expected.length && !p.alerts.length) fail(`shows no alerts; the server has ${JSON.stringify([...names])}`);
          if (!expected.length) fail("the server has no alert this list selects: nothing to check it against");
        }
      } else if (Number(p.values) <= 0) fail("no data");
      else if (why !== undefined) {
        constant++;
        // "Either way: ..." says why a panel may be constant or not from one run to
        // another (what the test's chaos reaches in time); any other entry must hold.
        if (p.distinct >= 2 && !why.startsWith("Either way:")) fail(`listed as constant (${why}), but draws ${p.distinct} distinct values from ${p.min} to ${p.max}: take it off the list`);
      } else if (p.distinct < 2) fail(`constant: ${p.values} values, all ${p.min}; list it with why if that is right`);
    }
    const titles = new Set(report.map((p) => p.title));
    for (const title of Object.keys(listed)) if (!titles.has(title)) problems.push(`"${title}" is listed as constant, but the dashboard has no such panel`);
    const errors = consoleErrors.filter((e) => !/favicon/.test(e));
    if (errors.length) problems.push(`console errors: ${errors.join(" | ")}`);
    await page.screenshot({ path: join(shots, `${hit.uid}.png`), fullPage: true });
    console.log(
      `${problems.length ? "FAIL" : "ok  "} ${hit.uid}: ${report.length} panels checked, ${constant} listed as constant${problems.length ? `, ${problems.length} problems` : ""}`,
    );
    return problems;
  } finally {
    await page.close();
  }
}
