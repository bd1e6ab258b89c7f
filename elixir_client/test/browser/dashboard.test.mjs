// The demo's live dashboard (/_ferry/dashboard) in headless chromium:
// the page loads from the demo's front page, its charts move while a load
// runs (requests per second and latency from the SSE samples), and a
// kill -9 of the Rust process shows up as a restart (the tile, a marker on
// the charts, a new os pid). Screenshots: elixir_client/_build/test/dashboard*.png.
//
//   cd elixir_client/test/browser && npm ci && node dashboard.test.mjs

import { chromium } from "playwright-core";
import { assert, executablePath, run, screenshot, STEP_DEADLINE, suite, waitForDom } from "./lib.mjs";

// Samples every 250 ms keep the test short; the load is bounded in time and count.
const INTERVAL = 250;
const LOAD_MS = 4000;
const LOAD_MAX = 20000;
const LOAD_CLIENTS = 8;

const { checks, check, ctx } = suite();

check("the front page links the dashboard, which loads and goes live", async () => {
  ctx.browser = await chromium.launch({ executablePath, headless: true });
  const context = await ctx.browser.newContext({ viewport: { width: 1200, height: 760 } });
  ctx.page = await context.newPage();
  ctx.page.on("pageerror", (error) => console.log(`  page error: ${error.message}`));
  await ctx.page.goto(`${ctx.base}/`);
  const href = await ctx.page.getAttribute('a[href="/_ferry/dashboard"]', "href");
  assert(href === "/_ferry/dashboard", "no link to the dashboard on /");
  const response = await ctx.page.goto(`${ctx.base}/_ferry/dashboard?interval=${INTERVAL}`);
  assert(response.status() === 200, `GET /_ferry/dashboard: ${response.status()}`);
  assert((await ctx.page.title()) === "Ferry dashboard", `title: ${await ctx.page.title()}`);
  await waitForDom(ctx.page, () => document.querySelector("#status.live") && window.ferryDashboard.samples >= 2,
    "the page to be live with two samples");
  assert((await ctx.page.textContent("#restarts")) === "0", "restarts is not 0 at start");
});

check("the charts follow a load: requests per second and latency", async () => {
  const load = runLoad(`${ctx.base}/hello`);
  await waitForDom(ctx.page, () => window.ferryDashboard.points.some((p) => p.rps > 10 && p.p50 > 0),
    "a point with requests per second and a latency");
  // The chart drew something: the canvas is no longer blank.
  const inked = await ctx.page.$eval("#c-rps", (c) =>
    c.getContext("2d").getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0));
  assert(inked, "the requests chart is blank");
  const tile = Number(await ctx.page.textContent("#rps"));
  await screenshot(ctx.page, "dashboard.png");
  const done = await load;
  console.log(`  load: ${done} requests; the tile said ${tile} req/s`);
  assert(done > 0, "the load made no request");
});

check("kill -9 of the Rust process shows as a restart", async () => {
  const before = Number(await (await fetch(`${ctx.base}/_ferry/os_pid`)).text());
  assert(before > 0, `os pid: ${before}`);
  process.kill(before, "SIGKILL");
  await waitForDom(ctx.page, () => document.getElementById("restarts").textContent === "1" &&
      window.ferryDashboard.restartMarks.length === 1,
    "the restarts tile to say 1");
  await waitForDom(ctx.page, (old) => /^\d+$/.test(document.getElementById("ospid").textContent) &&
      document.getElementById("ospid").textContent !== String(old),
    "a new os pid", before);
  // Some load after the restart, so the screenshot shows both sides of it.
  await runLoad(`${ctx.base}/hello`, 1500);
  await waitForDom(ctx.page, (t) => window.ferryDashboard.points.some((p) => p.t > t && p.rps > 0),
    "requests after the restart", Date.now() - 1000);
  await screenshot(ctx.page, "dashboard-restart.png");
});

// LOAD_CLIENTS loops of GETs for `ms` (at most LOAD_MAX requests in all);
// a request cut by the kill is not counted.
async function runLoad(url, ms = LOAD_MS) {
  const until = Date.now() + ms;
  let count = 0;
  const client = async () => {
    while (Date.now() < until && count < LOAD_MAX) {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(STEP_DEADLINE) });
        await response.text();
        if (response.ok) count++;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };
  await Promise.all(Array.from({ length: LOAD_CLIENTS }, client));
  return count;
}

await run({ checks, ctx });
