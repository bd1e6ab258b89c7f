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

import { chromium } from "playwright-core";
import { assert, executablePath, run, screenshot, STEP_DEADLINE, suite, waitForDom } from "./lib.mjs";

const ROOM = "lobby";

const { checks, check, ctx } = suite();

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

await run({ checks, ctx });
