// What the browser tests share: the demo started as `make run` starts it
// (on a free port), chromium's pages, bounded waits, screenshots in
// elixir_client/_build/test/, and a runner of named checks that skips the
// ones after a failure (they build on it) and ends with
// "N passed, N failed[, N skipped]" and a non-zero exit on a failure.

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const clientDir = path.resolve(here, "../..");
const shots = path.join(clientDir, "_build", "test");
export const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
// Deadlines that only catch hangs; the demo may compile first.
const START_DEADLINE = 600_000;
export const STEP_DEADLINE = 15_000;

export async function waitForDom(page, predicate, what, arg = null) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: STEP_DEADLINE });
  } catch (error) {
    throw new Error(`waited for ${what}: ${error.message.split("\n")[0]}`);
  }
}

export async function screenshot(page, name) {
  mkdirSync(shots, { recursive: true });
  const file = path.join(shots, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot: ${path.relative(process.cwd(), file)}`);
}

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// `mix run --no-halt demo/demo.exs` with PORT=0: the banner says the port.
export function startDemo(onChild) {
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
    onChild(child);
  });
}

// SIGTERM: the VM stops its applications, the port closes, Rust exits.
export async function stopDemo(child) {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}

// The checks of a test file, the first of which starts the demo; `ctx`
// is what they share (ctx.base, and ctx.browser once they launch one).
export function suite() {
  const checks = [];
  const ctx = {};
  const check = (name, fn) => checks.push({ name, fn });
  check("the demo starts and prints its URL", async () => {
    ctx.demo = await startDemo((child) => { ctx.demoChild = child; });
    ctx.base = ctx.demo.base;
  });
  return { checks, check, ctx };
}

// Runs the checks in order, then closes the browser, stops the demo and exits.
export async function run({ checks, ctx }) {
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
}
