// Open a Superset dashboard in Debian's headless Chromium and report what a user would see.
//
//   SUPERSET_URL=http://127.0.0.1:8088 SUPERSET_USER=admin SUPERSET_PASSWORD=... \
//   DASHBOARD_PATH=/superset/dashboard/chess/ EXPECTED_CHARTS=13 SCREENSHOT=out.png \
//   node tests/browser/check_dashboard.mjs
//
// Prints one JSON report on stdout: every chart holder (title, rendered?, error text,
// visible text), every /api/v1/chart/data response status, failed requests to Superset.
// tests/integration/test_superset_dashboard.py asserts on it. The password comes from the
// environment only. The browser is /usr/bin/chromium (never a downloaded one), with a
// fresh profile and no background networking.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const base = env('SUPERSET_URL').replace(/\/$/, '');
const user = env('SUPERSET_USER');
const password = env('SUPERSET_PASSWORD');
const dashboardPath = env('DASHBOARD_PATH', '/superset/dashboard/chess/');
const expected = Number(env('EXPECTED_CHARTS'));
const screenshot = env('SCREENSHOT');
const timeout = Number(env('TIMEOUT_MS', '180000'));

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
const HOLDER = '[data-test="dashboard-component-chart-holder"]';
const ERROR = '.ant-alert-error, [role="alert"], .alert-danger, [data-test="error-message"]';
const RENDERED = 'canvas, svg, table, .header-line';

// chartMs: each chart-data request's time to its last byte, as the browser saw it (the
// benchmark's p95 of the dashboard's chart queries).
const report = { charts: [], chartData: [], chartMs: [], failedRequests: [], pageErrors: [] };
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'lakehouse-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: FLAGS,
    viewport: { width: 1600, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  page.on('pageerror', (err) => report.pageErrors.push(String(err).slice(0, 500)));
  page.on('response', async (res) => {
    const url = res.url();
    if (!url.startsWith(base)) return;
    if (url.includes('/api/v1/chart/data')) {
      const entry = { status: res.status(), url: url.slice(base.length) };
      if (res.status() >= 300) entry.body = (await res.text().catch(() => '')).slice(0, 1000);
      report.chartData.push(entry);
    }
    if (res.status() >= 500) report.failedRequests.push({ status: res.status(), url });
  });
  // Chart-data requests in flight: a native filter that defaults to its first value
  // (Health's person) re-queries the charts once its options arrive, so a dashboard can
  // look finished (empty states) before the filtered queries are even sent.
  let inFlight = 0;
  let lastChange = Date.now();
  const isChartData = (req) => req.url().startsWith(base) && req.url().includes('/api/v1/chart/data');
  page.on('request', (req) => {
    if (isChartData(req)) (inFlight += 1), (lastChange = Date.now());
  });
  const settled = (req) => {
    if (isChartData(req)) (inFlight -= 1), (lastChange = Date.now());
  };
  page.on('requestfinished', settled);
  page.on('requestfailed', settled);
  page.on('requestfinished', (req) => {
    if (req.url().startsWith(base) && req.url().includes('/api/v1/chart/data')) {
      const t = req.timing();
      if (t.responseEnd >= 0) report.chartMs.push(Math.round(t.responseEnd));
    }
  });
  page.on('requestfailed', (req) => {
    // ERR_ABORTED: cancelled by the page itself (navigation, superseded log beacons).
    if (req.url().startsWith(base) && req.failure()?.errorText !== 'net::ERR_ABORTED') {
      report.failedRequests.push({ url: req.url(), failure: req.failure()?.errorText });
    }
  });

  await page.goto(`${base}/login/`);
  await page.fill('#username', user);
  await page.fill('#password', password);
  await page.click('[data-test="login-button"], button[type="submit"]');
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));

  await page.goto(`${base}${dashboardPath}`);
  await page.waitForSelector(HOLDER);
  // Scroll through the page so that charts below the fold are rendered too.
  for (let y = 0; y < 6000; y += 600) {
    await page.mouse.wheel(0, 600);
    await page.waitForTimeout(150);
  }
  // In the page: every chart holder shows its chart or an error, and none is loading.
  const chartsShown = ({ holder, rendered, error, n }) => {
    const holders = [...document.querySelectorAll(holder)];
    if (holders.length < n) return false;
    return holders.every(
      (h) =>
        (h.querySelector(rendered) || h.querySelector(error)) &&
        !h.querySelector('.loading, [aria-label="loading"], [data-test="loading-indicator"]'),
    );
  };
  const shownArgs = { holder: HOLDER, rendered: RENDERED, error: ERROR, n: expected };
  // Settled: no chart query in flight for 2 s, then every chart shown.
  const settle = async () => {
    for (const deadline = Date.now() + timeout; inFlight > 0 || Date.now() - lastChange < 2000; ) {
      if (Date.now() > deadline) throw new Error(`chart queries still running after ${timeout} ms`);
      await page.waitForTimeout(250);
    }
    await page.waitForFunction(chartsShown, shownArgs);
  };
  fs.mkdirSync(path.dirname(screenshot), { recursive: true });
  for (let attempt = 1; ; attempt += 1) {
    await settle();
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(1500); // ECharts animations
    report.charts = await page.$$eval(
      HOLDER,
      (holders, { rendered, error }) =>
        holders.map((h) => ({
          name: h.querySelector('[data-test-chart-name]')?.getAttribute('data-test-chart-name'),
          rendered: Boolean(h.querySelector(rendered)),
          error: h.querySelector(error)?.innerText ?? null,
          bigNumber: h.querySelector('.header-line')?.innerText ?? null,
          text: h.innerText.slice(0, 300),
        })),
      { rendered: RENDERED, error: ERROR },
    );
    await page.screenshot({ path: screenshot, fullPage: true });
    report.screenshotAttempts = attempt;
    // Superset may mount the grid once more (a native filter applied late): a screenshot
    // taken then is an empty grid, so it is taken again.
    if ((await page.evaluate(chartsShown, shownArgs)) || attempt === 3) break;
  }
} catch (err) {
  report.fatal = String(err?.stack ?? err).slice(0, 2000);
} finally {
  if (context) await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report, null, 1) + '\n');
process.exit(report.fatal ? 1 : 0);
