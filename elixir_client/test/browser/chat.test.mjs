// The demo's chat page in a real browser: Debian's chromium, headless,
// driven by playwright-core (no browser download). Starts the demo as
// `make run` does (on a free port), opens two pages, joins the same room
// under two names, sends a message from one and checks the other shows it
// and both names in its member list. Screenshots go to
// elixir_client/_build/test/chat*.png.
//
//   cd elixir_client/test/browser && npm ci && node chat.test.mjs
//
// Ends with "N passed, N failed[, N skipped]"; exits non-zero on a failure.
// A check that fails skips the ones after it (they build on it).

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const clientDir = path.resolve(here, "../..");
const shots = path.join(clientDir, "_build", "test");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
// Deadlines that only catch hangs; the demo may compile first.
const START_DEADLINE = 600_000;
const STEP_DEADLINE = 15_000;
const ROOM = "lobby";

const checks = [];
const check = (name, fn) => checks.push({ name, fn });
const ctx = {};

check("the demo starts and prints its URL", async () => {
  ctx.demo = await startDemo();
  ctx.base = ctx.demo.base;
});

check("chromium starts headless", async () => {
  ctx.browser = await chromium.launch({ executablePath, headless: true });
  ctx.ada = await newPage();
  ctx.bob = await newPage();
});

check("the chat page loads and renders its join form", async () => {
  for (const page of [ctx.ada, ctx.bob]) {
    const response = await page.goto(`${ctx.base}/chat#${ROOM}`);
    assert(response.status() === 200, `GET /chat: ${response.status()}`);
    assert((await page.title()) === "Ferry chat", `title: ${await page.title()}`);
    await page.locator("#join-form").waitFor({ state: "visible", timeout: STEP_DEADLINE });
    assert(await page.locator("#chat").isHidden(), "the chat panel shows before joining");
    assert((await page.inputValue("#room")) === ROOM, "the room from the address is not filled in");
  }
  // The stylesheet applied: the join button has the accent colour.
  const background = await ctx.ada.$eval("#join", (b) => getComputedStyle(b).backgroundColor);
  assert(background === "rgb(47, 111, 237)", `join button background: ${background}`);
  await ctx.ada.fill("#name", "ada");
  await screenshot(ctx.ada, "chat-join.png");
});

check("ada joins the room over the WebSocket", async () => {
  await join(ctx.ada, "ada");
});

check("bob joins the same room", async () => {
  await join(ctx.bob, "bob");
});

check("both pages list ada and bob as members", async () => {
  for (const page of [ctx.ada, ctx.bob]) {
    await waitForDom(page, () =>
      [...document.querySelectorAll("#members li")].map((li) => li.textContent).join(",") === "ada,bob",
      "the member list to be ada,bob");
  }
  const mine = await ctx.bob.$eval("#members li.me", (li) => li.textContent);
  assert(mine === "bob", `bob's page marks ${mine} as "you"`);
  await waitForDom(ctx.ada, () =>
    [...document.querySelectorAll("#messages .sys")].some((li) => li.textContent === "bob joined."),
    "ada's page to say bob joined");
});

check("a message from ada shows on bob's page", async () => {
  await ctx.ada.fill("#message", "hello from ada");
  await ctx.ada.press("#message", "Enter");
  await waitForDom(ctx.bob, () => {
    const last = [...document.querySelectorAll("#messages .msg")].pop();
    return last && last.querySelector(".who").textContent === "ada" &&
      last.querySelector(".text").textContent === "hello from ada";
  }, "bob's page to show ada's message");
  await waitForDom(ctx.ada, () =>
    [...document.querySelectorAll("#messages .msg.mine .text")].some((e) => e.textContent === "hello from ada"),
    "ada's page to show her own message");
  assert((await ctx.ada.inputValue("#message")) === "", "the input was not cleared");
  await screenshot(ctx.bob, "chat.png");
  await screenshot(ctx.ada, "chat-ada.png");
});

check("bob leaves: ada's page says so and lists only ada", async () => {
  await ctx.bob.close();
  await waitForDom(ctx.ada, () =>
    [...document.querySelectorAll("#members li")].map((li) => li.textContent).join(",") === "ada",
    "ada's member list to be only ada");
  await waitForDom(ctx.ada, () =>
    [...document.querySelectorAll("#messages .sys")].some((li) => li.textContent === "bob left."),
    "ada's page to say bob left");
});

async function join(page, name) {
  await page.fill("#name", name);
  await page.click("#join");
  // Connected, or back at the form with the reason it could not join.
  await page.waitForFunction(
    () => document.querySelector("#status.open") || document.querySelector("#join-error").textContent,
    null, { timeout: STEP_DEADLINE });
  const error = await page.textContent("#join-error");
  if (error) {
    await screenshot(page, `chat-failed-${name}.png`);
    throw new Error(`${name}'s page: ${error}`);
  }
  assert(await page.locator("#message").isEnabled(), "the message input is disabled");
  await page.locator(`#members li.me`).waitFor({ timeout: STEP_DEADLINE });
}

async function newPage() {
  const context = await ctx.browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  page.on("pageerror", (error) => console.log(`  page error: ${error.message}`));
  return page;
}

async function waitForDom(page, predicate, what) {
  try {
    await page.waitForFunction(predicate, null, { timeout: STEP_DEADLINE });
  } catch (error) {
    throw new Error(`waited for ${what}: ${error.message.split("\n")[0]}`);
  }
}

async function screenshot(page, name) {
  mkdirSync(shots, { recursive: true });
  const file = path.join(shots, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot: ${path.relative(process.cwd(), file)}`);
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// `mix run --no-halt demo/demo.exs` with PORT=0: the banner says the port.
function startDemo() {
  return new Promise((resolve, reject) => {
    const child = spawn("mix", ["run", "--no-halt", "demo/demo.exs"], {
      cwd: clientDir,
      env: { ...process.env, PORT: "0", MIX_ENV: process.env.MIX_ENV || "test" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    const timer = setTimeout(() => fail(new Error("no banner in time")), START_DEADLINE);
    const fail = (error) => {
      clearTimeout(timer);
      reject(new Error(`${error.message}\n${output.slice(-3000)}`));
    };
    const read = (data) => {
      output += data;
      const match = output.match(/Ferry demo on (http:\/\/localhost:\d+)/);
      if (match && output.includes("Ctrl-C")) {
        clearTimeout(timer);
        resolve({ child, base: match[1].replace("localhost", "127.0.0.1"), output: () => output });
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("error", fail);
    child.on("exit", (code) => fail(new Error(`the demo exited with ${code}`)));
    ctx.demoChild = child;
  });
}

// SIGTERM: the VM stops its applications, the port closes, Rust exits.
async function stopDemo(child) {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}

let passed = 0, failed = 0, skipped = 0;
for (const { name, fn } of checks) {
  if (failed > 0) {
    console.log(`skip - ${name}`);
    skipped++;
    continue;
  }
  try {
    await fn();
    console.log(`ok   - ${name}`);
    passed++;
  } catch (error) {
    console.log(`FAIL - ${name}\n  ${error.message.replace(/\n/g, "\n  ")}`);
    failed++;
  }
}

await ctx.browser?.close().catch(() => {});
await stopDemo(ctx.demoChild);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 ? 1 : 0);
