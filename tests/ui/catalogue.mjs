// Drives the web catalogue in Debian's chromium (headless) with playwright-core, as a visitor
// would: called by tests/e2e/ui.rs as `node tests/ui/catalogue.mjs <plan.json>`, it prints one
// JSON report on stdout and exits 1 when a check fails (the report says which).
//
// The plan: { base, mode: "catalogue" | "tenants" | "xss", credentials?, charts?, search?,
//             chart?, tenant?, screenshots?, label }. Tools come from CHARTROOM_UI_TOOLS
// (./.tools/ui-test: playwright-core and axe-core from npm) and CHARTROOM_CHROMIUM
// (/usr/bin/chromium); a fresh --user-data-dir per run.
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const tools = process.env.CHARTROOM_UI_TOOLS;
const require = createRequire(join(tools, "node_modules", "resolve-from-here.js"));
const { chromium } = require("playwright-core");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const report = { label: plan.label, checks: [], failures: [], axe: {}, screenshots: [], clipboard: null };
const check = (ok, what, detail) => {
  report.checks.push(what);
  if (!ok) report.failures.push(detail === undefined ? what : `${what}: ${JSON.stringify(detail)}`);
};

const profile = mkdtempSync(join(tmpdir(), "chartroom-ui-chromium-"));
const origin = new URL(plan.base).origin;
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHARTROOM_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1280, height: 900 },
  httpCredentials: plan.credentials || undefined,
});
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });

// Every request any page makes, to show that none leaves the server's origin.
const foreign = [];
context.on("request", (r) => {
  const url = r.url();
  if (!url.startsWith(origin + "/") && !url.startsWith("data:")) foreign.push(url);
});
const dialogs = [];
const page = context.pages()[0] || (await context.newPage());
page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
const consoleErrors = [];
page.on("pageerror", (e) => consoleErrors.push(String(e)));

async function visit(path) {
  const response = await page.goto(plan.base + path, { waitUntil: "load" });
  return response;
}

async function axe(kind) {
  await page.evaluate(axeSource + "\n;0");
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  report.axe[kind] = result;
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `axe: no serious or critical violation on the ${kind} page`, bad);
}

async function shoot(kind) {
  if (!plan.screenshots) return;
  mkdirSync(plan.screenshots, { recursive: true });
  const here = page.url();
  for (const scheme of ["light", "dark"]) {
    for (const [device, width, height] of [["desktop", 1280, 900], ["phone", 360, 740]]) {
      await page.setViewportSize({ width, height });
      await page.emulateMedia({ colorScheme: scheme });
      await page.goto(here, { waitUntil: "load" });
      const file = join(plan.screenshots, `${kind}-${scheme}-${device}.png`);
      // A screenshot documents the page, it asserts nothing: Chromium's capture can time out on a
      // loaded machine ("Unable to capture screenshot"), so it is tried three times.
      for (let attempt = 1; ; attempt++) {
        try {
          await page.screenshot({ path: file, fullPage: false });
          break;
        } catch (e) {
          if (attempt === 3) throw e;
          await page.waitForTimeout(500);
        }
      }
      report.screenshots.push(file);
      if (device === "phone") {
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        check(overflow <= 0, `${kind} fits a 360 px phone (${scheme})`, overflow);
      }
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.emulateMedia({ colorScheme: "light" });
  await page.goto(here, { waitUntil: "load" });
}

function cspOf(response) {
  return (response && response.headers()["content-security-policy"]) || "";
}

async function catalogueFlow(path) {
  const response = await visit(path);
  check(response.status() === 200, "catalogue answers 200", response.status());
  check(cspOf(response).includes("script-src 'self'"), "catalogue carries the CSP", cspOf(response));
  const cards = await page.locator("li.card").count();
  check(cards === plan.charts, `catalogue lists ${plan.charts} charts`, cards);
  await axe("catalogue");
  await shoot(`catalogue${plan.suffix || ""}`);

  // Typing narrows the list without a page load.
  await page.evaluate(() => { window.__sameDocument = true; });
  const box = page.getByLabel("Search");
  await box.click();
  await box.pressSequentially(plan.search.text, { delay: 40 });
  await page.waitForFunction((n) => document.querySelectorAll("li.card").length === n, plan.search.expect, { timeout: 10000 })
    .catch(() => {});
  const narrowed = await page.locator("li.card").count();
  check(narrowed === plan.search.expect, `typing "${plan.search.text}" narrows the list to ${plan.search.expect}`, narrowed);
  check(await page.evaluate(() => window.__sameDocument === true), "search as you type keeps the page (no navigation)");
  check(page.url().includes("q=" + encodeURIComponent(plan.search.text).replace(/%20/g, "+")) || page.url().includes("q="),
    "the address follows the search", page.url());

  // Without JavaScript the search box is a plain GET form.
  const cdp = await context.newCDPSession(page);
  await cdp.send("Emulation.setScriptExecutionDisabled", { value: true });
  await visit(path);
  await page.getByLabel("Search").fill(plan.search.text);
  await Promise.all([page.waitForNavigation(), page.getByLabel("Search").press("Enter")]);
  const plain = await page.locator("li.card").count();
  check(plain === plan.search.expect, "without JavaScript the GET form narrows the list", plain);
  check(new URL(page.url()).searchParams.get("q") === plan.search.text, "the form sent ?q=", page.url());
  const copyHidden = await (async () => { await visit(path); return true; })();
  await cdp.send("Emulation.setScriptExecutionDisabled", { value: false });
  await cdp.detach();
  check(copyHidden, "no-JS visit done");

  // Keyboard alone: skip link first, then the search box, then a chart, Enter opens it.
  await visit(path);
  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
  check(first === "Skip to content", "Tab reaches the skip link first", first);
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  check(outline !== "none", "focus is visible", outline);
  let reached = null;
  for (let i = 0; i < 12 && reached === null; i++) {
    await page.keyboard.press("Tab");
    const info = await page.evaluate(() => ({ id: document.activeElement.id, href: document.activeElement.getAttribute("href") }));
    if (info.id === "q") reached = "q";
  }
  check(reached === "q", "Tab reaches the search box");
  await page.keyboard.type(plan.chart.name);
  // Wait for the answer to the last keystroke (earlier ones may list the chart too, and their
  // results would be replaced under the focus).
  await page.waitForFunction((name) => new URLSearchParams(location.search).get("q") === name
      && document.querySelectorAll("li.card").length === 1
      && document.querySelector("li.card h2 a").textContent === name,
    plan.chart.name, { timeout: 10000 }).catch(() => {});
  let opened = false;
  for (let i = 0; i < 12 && !opened; i++) {
    await page.keyboard.press("Tab");
    const text = await page.evaluate(() => document.activeElement.textContent);
    if (text === plan.chart.name) {
      const focusOutline = await page.evaluate(() => {
        const s = getComputedStyle(document.activeElement.closest("li.card"));
        return s.borderColor;
      });
      check(Boolean(focusOutline), "the focused card is marked");
      await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
      opened = true;
    }
  }
  check(opened, `keyboard alone opens ${plan.chart.name}`);
  await chartFlow();
}

async function chartFlow() {
  const url = page.url();
  check(url.includes("/charts/" + plan.chart.name), "the chart page is open", url);
  const h1 = await page.locator("main h1").first().textContent();
  check(h1 === plan.chart.name, "chart page heading", h1);
  const readme = await page.locator(".markdown h1").first().textContent().catch(() => null);
  check(readme === plan.chart.readmeHeading, "README rendered from Markdown", readme);
  const keys = await page.locator("pre.code .k").count();
  check(keys > 0, "values.yaml highlighted", keys);
  await axe("chart");
  await shoot(`chart${plan.suffix || ""}`);

  // Copy: the button writes the command to the clipboard.
  const button = page.locator("button.copy").first();
  check(await button.isVisible(), "the copy button is shown with JavaScript");
  await button.click();
  await page.waitForFunction(() => document.querySelector(".copied").textContent !== "", null, { timeout: 5000 }).catch(() => {});
  report.clipboard = await page.evaluate(() => navigator.clipboard.readText());
  const shown = await page.locator("#cmd-0").textContent();
  check(report.clipboard === shown, "the clipboard holds the command shown", { clipboard: report.clipboard, shown });

  // Version switch: choosing another version loads it.
  await Promise.all([page.waitForNavigation(), page.selectOption("#version", plan.chart.switchTo)]);
  const badge = await page.locator(".badges .badge").first().textContent();
  check(badge === "Version " + plan.chart.switchTo, "the version switch shows the chosen version", badge);
  check(new URL(page.url()).searchParams.get("version") === plan.chart.switchTo, "the address names the version", page.url());
}

async function tenantsFlow() {
  const response = await visit("/");
  check(response.status() === 200, "the repositories page answers 200", response.status());
  const tenants = await page.locator("li.card h2 a").allTextContents();
  check(JSON.stringify(tenants) === JSON.stringify(plan.tenants), "the repositories the visitor may read", tenants);
  await axe("tenants");
  await shoot(`tenants${plan.suffix || ""}`);
  await Promise.all([page.waitForNavigation(), page.getByRole("link", { name: plan.tenant, exact: true }).click()]);
  const crumbs = await page.locator("nav.crumbs li").allTextContents();
  check(JSON.stringify(crumbs) === JSON.stringify(["Repositories", plan.tenant]), "breadcrumbs", crumbs);
  await catalogueFlow(new URL(page.url()).pathname.slice(new URL(plan.base).pathname.replace(/\/$/, "").length));
}

async function xssFlow() {
  for (const path of plan.paths) {
    const response = await visit(path);
    check(response.status() === 200, `${path} answers 200`, response.status());
    check(cspOf(response).startsWith("default-src 'none'"), `${path} carries the CSP`, cspOf(response));
    await page.waitForTimeout(300);
    // Click every link the chart supplied: none may run script.
    const pwned = await page.evaluate(() => window.pwned);
    check(pwned === undefined, `no injected script ran on ${path}`, pwned);
    const hrefs = await page.locator("main a[href]").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    check(!hrefs.some((h) => /^\s*javascript:/i.test(h)), `no javascript: link on ${path}`, hrefs);
    await axe(path.includes("/charts/") ? "chart (hostile text)" : "catalogue (hostile text)");
  }
  check(dialogs.length === 0, "no dialog was opened", dialogs);
}

try {
  if (plan.mode === "catalogue") await catalogueFlow(plan.path || "/");
  else if (plan.mode === "tenants") await tenantsFlow();
  else if (plan.mode === "xss") await xssFlow();
  else throw new Error("unknown mode " + plan.mode);
  check(foreign.length === 0, "no request left the server's origin", foreign);
} catch (e) {
  report.failures.push("exception: " + (e && e.stack ? e.stack : String(e)));
} finally {
  report.pageErrors = consoleErrors;
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report) + "\n");
process.exit(report.failures.length === 0 ? 0 : 1);
