// Walks every dashboard page in headless Debian chromium as an admin and as a viewer,
// doing what users do (sign in, open a sick host, watch a new error arrive on the live
// stream, acknowledge an alert, resolve an incident, create and revoke a token, upload a
// training file by drag and drop and see its job end and its model listed, activate it,
// mark a window healthy, start an S3 scan and see its objects), and
// checks each page with axe-core, its weight on first load, its Content-Security-Policy
// and that no script or style was refused by it. A viewer sees no action buttons and
// gets 403 when it posts anyway.
//
// Run by tests/tests/dashboard_e2e.rs with:
//   FLEETLOG_URL, FLEETLOG_ADMIN_USER/_PASS, FLEETLOG_VIEWER_USER/_PASS,
//   FLEETLOG_SICK_HOST, FLEETLOG_SICK_LOG (a file its agent tails), FLEETLOG_SHOTS (dir),
//   FLEETLOG_CHROMIUM (default /usr/bin/chromium), FLEETLOG_TRAINING_LOG (a healthy log
//   file to upload), FLEETLOG_S3_BUCKET / FLEETLOG_S3_PREFIX / FLEETLOG_S3_OBJECTS (a
//   bucket on a test S3 server holding that many objects; unset: the S3 scan says SKIP).
// Prints one `PAGE` line per page and `WALK OK` at the end; exits 1 on the first failure.
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env("FLEETLOG_URL");
const SHOTS = env("FLEETLOG_SHOTS");
const SICK = env("FLEETLOG_SICK_HOST");
const SICK_LOG = env("FLEETLOG_SICK_LOG");
const TRAINING_LOG = env("FLEETLOG_TRAINING_LOG");
const S3_BUCKET = process.env.FLEETLOG_S3_BUCKET || "";
const S3_PREFIX = process.env.FLEETLOG_S3_PREFIX || "";
const S3_OBJECTS = Number(process.env.FLEETLOG_S3_OBJECTS || 0);
const MAX_BYTES = 300 * 1024;
mkdirSync(SHOTS, { recursive: true });

const failures = [];
function check(ok, what) {
  if (!ok) {
    failures.push(what);
    console.log(`FAIL ${what}`);
  }
}

const browser = await chromium.launch({
  executablePath: env("FLEETLOG_CHROMIUM", "/usr/bin/chromium"),
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage"],
});

async function session(role) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  // Bytes on the wire per request (headers + encoded body), summed per page load.
  const sizes = new Map();
  let bytes = 0;
  cdp.on("Network.loadingFinished", (e) => { bytes += e.encodedDataLength; sizes.set(e.requestId, e.encodedDataLength); });
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  return {
    role, context, page, consoleErrors,
    resetBytes() { bytes = 0; },
    bytes() { return bytes; },
  };
}

// Checks the current page: CSP header, axe, weight, console; saves a screenshot.
async function visit(s, name, url, { response } = {}) {
  const { page } = s;
  if (url) {
    s.resetBytes();
    s.consoleErrors.length = 0;
    response = await page.goto(BASE + url, { waitUntil: "load" });
  }
  await page.waitForTimeout(300);
  const csp = response ? (await response.allHeaders())["content-security-policy"] || "" : "";
  // A state reached in place (after an action) has no response of its own to check.
  if (response) check(csp.includes("default-src 'self'") && !csp.includes("unsafe-inline"), `${s.role} ${name}: strict CSP header (got "${csp}")`);
  await page.evaluate(axeSource);
  const axe = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, target: v.nodes[0] && v.nodes[0].target.join(" ") }));
  });
  const bad = axe.filter((v) => v.impact === "serious" || v.impact === "critical");
  const bytes = s.bytes();
  const file = `${SHOTS}/${s.role}-${name}.png`;
  await page.screenshot({ path: file, fullPage: true });
  const cspErrors = s.consoleErrors.filter((t) => /Content Security Policy|Refused to/i.test(t));
  console.log(`PAGE ${s.role} ${name} status=${response ? response.status() : "-"} bytes=${bytes} ` +
    `axe_serious_or_critical=${bad.length} axe_minor=${axe.length - bad.length} ` +
    `axe=${JSON.stringify(axe)} shot=${file}`);
  check(bad.length === 0, `${s.role} ${name}: axe serious/critical violations ${JSON.stringify(bad)}`);
  check(!url || bytes < MAX_BYTES, `${s.role} ${name}: ${bytes} bytes on first load (limit ${MAX_BYTES})`);
  check(cspErrors.length === 0, `${s.role} ${name}: refused by CSP: ${cspErrors.join(" | ")}`);
}

async function login(s, user, pass, from = "/") {
  const { page } = s;
  const r = await page.goto(BASE + from);
  check(new URL(page.url()).pathname === "/login", `${s.role}: ${from} without a session goes to /login (at ${page.url()})`);
  check(new URL(page.url()).searchParams.get("next") === from, `${s.role}: login keeps next=${from}`);
  await visit(s, "login", null, { response: r });
  await page.fill("#username", user);
  await page.fill("#password", "wrong password");
  await page.click("button[type=submit]");
  await page.waitForSelector("#login-error:not(:empty)");
  await page.fill("#password", pass);
  await Promise.all([page.waitForURL((u) => u.pathname === new URL(BASE + from).pathname), page.click("button[type=submit]")]);
}

async function csrf(page) {
  return page.$eval('meta[name="csrf-token"]', (m) => m.content);
}

async function post(page, method, url, body) {
  const token = await csrf(page);
  return page.evaluate(async ([method, url, body, token]) => {
    const r = await fetch(url, { method, headers: { "X-CSRF-Token": token, "Content-Type": "application/json" }, body: body === null ? undefined : JSON.stringify(body) });
    return r.status;
  }, [method, url, body, token]);
}

// ---------- admin ----------
const admin = await session("admin");
{
  const { page } = admin;
  const hostUrl = `/hosts/${encodeURIComponent(SICK)}`;
  await login(admin, env("FLEETLOG_ADMIN_USER"), env("FLEETLOG_ADMIN_PASS"), hostUrl);
  check(new URL(page.url()).pathname === hostUrl, "admin: back on the page asked for after login");

  await visit(admin, "fleet", "/");
  const sickRow = page.locator("table.hosts tr", { hasText: SICK });
  check(await sickRow.count() === 1, "admin fleet: the sick host is listed once");
  const sickState = (await sickRow.locator(".badge").innerText()).trim();
  check(["degraded", "down"].includes(sickState), `admin fleet: the sick host shows its state in text (got ${sickState})`);
  check(await page.locator("svg.spark").count() > 0, "admin fleet: sparklines drawn");
  const firstGroup = await page.locator("section.group h2 .badge").first().innerText();
  check(firstGroup.trim() !== "healthy", `admin fleet: worst group first (first is ${firstGroup})`);

  await page.setViewportSize({ width: 768, height: 1024 });
  await page.screenshot({ path: `${SHOTS}/admin-fleet-tablet.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  // Keyboard: from a fresh load the first Tab reaches the skip link, the next one the
  // navigation, and Enter on a navigation link follows it.
  await page.reload();
  await page.keyboard.press("Tab");
  check(await page.evaluate(() => document.activeElement?.classList.contains("skip") === true),
    "admin fleet: the first Tab reaches the skip link");
  await page.keyboard.press("Tab");
  check(await page.evaluate(() => document.activeElement?.tagName === "A" && document.activeElement.closest("nav") !== null),
    "admin fleet: the second Tab reaches the navigation");
  await page.keyboard.press("Tab");
  await Promise.all([page.waitForURL("**/stream"), page.keyboard.press("Enter")]);
  check(new URL(page.url()).pathname === "/stream", "admin fleet: Enter on a navigation link follows it");
  await page.goto(`${BASE}/`);

  await visit(admin, "fleet-filtered", `/?state=${sickState}`);
  check(await page.locator("table.hosts tbody tr").count() >= 1, "admin fleet filter: matching host shown");
  check(await page.locator("table.hosts .badge.st-healthy").count() === 0, "admin fleet filter: healthy hosts hidden");

  await page.goto(BASE + "/");
  await Promise.all([page.waitForURL((u) => u.pathname === hostUrl), page.click(`table.hosts a:text-is("${SICK}")`)]);
  await visit(admin, "host", null, { response: await page.reload() });
  check(await page.locator("svg.chart").count() === 3, "admin host: three charts");
  check((await page.locator("p.reason").innerText()).length > 10, "admin host: reason shown");
  check(await page.locator("#lines tr").count() > 0, "admin host: raw lines shown");
  await visit(admin, "host-6h-search", `${hostUrl}?range=6h&q=PAYMENT`);
  // The raw-line search runs on the server: only matching lines, and it says what it read.
  const note = await page.locator("#search-note").innerText();
  const found = await page.$$eval("#lines td.line", (cells) => cells.map((c) => c.textContent));
  console.log(`SEARCH host raw lines q=PAYMENT: ${found.length} shown; ${note}`);
  check(found.length > 0 && found.every((t) => /payment/i.test(t)), "admin host search: only matching raw lines shown");
  check(/matching lines? \(newest first\) among the [\d,]+ lines? read; a search reads at most [\d,]+ lines/.test(note), `admin host search: the note states the scan limit (${note})`);
  check(await page.locator("#tail").count() === 0, "admin host search: no live tail over search results");

  // Live stream: a new error written now shows up without a reload.
  await visit(admin, "stream", "/stream");
  await page.waitForFunction(() => /Live/.test(document.getElementById("stream-state").textContent));
  const marker = `walk-${Date.now()}`;
  const before = await page.evaluate(() => performance.now());
  // A template of its own, so it is not grouped with the payment errors of the same batch.
  appendFileSync(SICK_LOG, JSON.stringify({ level: "error", msg: `receipt printer offline: paper jam reported by spooler ${marker}` }) + "\n");
  const arrived = await page.waitForSelector(`#stream-rows tr:has-text("${marker}")`, { timeout: 30000 }).then(() => true, () => false);
  const waited = Math.round((await page.evaluate(() => performance.now())) - before);
  console.log(`STREAM new error shown after ${waited} ms without a reload: ${arrived}`);
  check(arrived, "admin stream: the new error arrived live");
  await visit(admin, "stream-live", null, { response: null });
  // Pause holds new rows.
  await page.click("#pause");
  check((await page.locator("#pause").getAttribute("aria-pressed")) === "true", "admin stream: pause");
  await page.click("#pause");
  if (arrived) {
    await Promise.all([page.waitForURL(/\/events\/\d+$/), page.click(`#stream-rows tr:has-text("${marker}") a`)]);
    await visit(admin, "event", null, { response: await page.reload() });
    check(await page.locator("tr.hit").count() === 1, "admin event: the event among its surrounding lines");
  }

  // Alerts: acknowledge the firing one (before the incident is resolved below: the firing
  // alert may be the `incident` rule's, which resolving the incident clears).
  await visit(admin, "alerts", "/alerts");
  const ack = page.locator('button.act:text-is("Acknowledge")').first();
  check(await ack.count() === 1, "admin alerts: a firing alert to acknowledge");
  if (await ack.count() === 1) {
    await ack.click();
    await page.waitForSelector('#flash:text("Alert acknowledged.")');
    check(await page.locator("td", { hasText: "acknowledged by" }).count() >= 1, "admin alerts: shows who acknowledged");
    await visit(admin, "alerts-acked", null, { response: null });
  }
  const test = page.locator('button.act:text-is("Send test")').first();
  if (await test.count() === 1) {
    await test.click();
    await page.waitForSelector('#flash:text("Test message queued.")');
  }

  // Incidents: open one and resolve it.
  await visit(admin, "incidents", "/incidents?status=open");
  const incLink = page.locator("table.incidents tbody tr a").first();
  check(await incLink.count() === 1, "admin incidents: an open incident is listed");
  if (await incLink.count() === 1) {
    await Promise.all([page.waitForURL(/\/incidents\/\d+$/), incLink.click()]);
    await visit(admin, "incident", null, { response: await page.reload() });
    const resolve = page.locator('button.act:text-is("Resolve")');
    check(await resolve.count() === 1, "admin incident: Resolve button");
    if (await resolve.count() === 1) {
      await resolve.click();
      await page.waitForSelector('#flash:text("Incident resolved.")');
      check(await page.locator(".badge.inc-resolved").count() >= 1, "admin incident: shows resolved");
      await visit(admin, "incident-resolved", null, { response: null });
    }
  }

  // Admin: create a token (secret shown once), use it, revoke it.
  await visit(admin, "admin", "/admin");
  await page.fill("#t-name", "walk token");
  await page.selectOption("#t-role", "viewer");
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector("#token-secret:not([hidden])");
  const secret = (await page.locator("#token-value").innerText()).trim();
  check(secret.length > 20, "admin tokens: the new secret is shown");
  const withToken = (await page.request.get(BASE + "/api/v1/auth/me", { headers: { Authorization: `Bearer ${secret}` } })).status();
  check(withToken === 200, `admin tokens: the new token works (${withToken})`);
  await visit(admin, "admin-token-created", null, { response: null });
  await page.reload();
  check(await page.locator("#token-value").innerText() === "", "admin tokens: the secret is not shown again");
  const row = page.locator("#tokens tr", { hasText: "walk token" });
  await row.locator('button:text-is("Revoke")').click();
  await page.waitForSelector('#flash:text("Token revoked.")');
  const revoked = (await page.request.get(BASE + "/api/v1/auth/me", { headers: { Authorization: `Bearer ${secret}` } })).status();
  check(revoked === 401, `admin tokens: the revoked token is refused (${revoked})`);
  check(await page.locator("td", { hasText: "token.revoke" }).count() + await page.locator("td", { hasText: "token" }).count() > 0, "admin audit: token changes listed");

  // Agents: revoke one with a reason, then reinstate it (it reconnects with its credential).
  const agentRow = page.locator("#agents tbody tr").first();
  check(await page.locator("#agents tbody tr").count() >= 1, "admin agents: enrolled agents listed");
  await agentRow.locator("input[name=reason]").fill("walk: revoked and reinstated");
  await agentRow.locator('button:text-is("Revoke")').click();
  await page.waitForSelector('#flash:text("Agent revoked.")');
  const revokedRow = page.locator("#agents tbody tr").first();
  check(await revokedRow.locator("td", { hasText: "walk: revoked and reinstated" }).count() === 1, "admin agents: the reason is shown");
  await visit(admin, "admin-agent-revoked", null, { response: null });
  await revokedRow.locator('button:text-is("Reinstate")').click();
  await page.waitForSelector('#flash:text("Agent reinstated.")');
  check(await page.locator("#agents tbody tr").first().locator("form.revoke-form").count() === 1, "admin agents: reinstated, revocable again");
  check(await page.locator("td", { hasText: "agent.revoke" }).count() >= 1, "admin audit: the revocation is listed");

  // Page 7: training. Drop a healthy log on the upload area, upload it, watch the job
  // end (the list refreshes itself while it runs) and its model appear; activate it.
  await visit(admin, "training", "/training");
  const jobsBefore = await page.locator("table.jobs tbody tr").count();
  const logText = readFileSync(TRAINING_LOG, "utf8");
  await page.evaluate(([text, name]) => {
    const dt = new DataTransfer();
    dt.items.add(new File([text], name, { type: "text/plain" }));
    const drop = document.getElementById("drop");
    for (const t of ["dragenter", "dragover", "drop"]) {
      drop.dispatchEvent(new DragEvent(t, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, [logText, "healthy-register.log"]);
  check((await page.locator("#up-list li").innerText()).includes("healthy-register.log"), "admin training: the dropped file is listed");
  await page.click('#upload-form button[type=submit]');
  await page.waitForSelector('#flash:has-text("Upload received")');
  const jobRow = page.locator("table.jobs tbody tr").first();
  const jobId = ((await jobRow.getAttribute("id")) || "").replace("job-", "");
  check(await page.locator("table.jobs tbody tr").count() === jobsBefore + 1, "admin training: the upload's job is listed");
  const jobEnded = await page.waitForSelector(`#job-${jobId}:not([data-state="queued"]):not([data-state="running"])`, { timeout: 60000 }).then(() => true, () => false);
  const jobState = await page.locator(`#job-${jobId}`).getAttribute("data-state");
  const jobText = await page.locator(`#job-${jobId}`).innerText();
  console.log(`TRAINING upload job #${jobId} ended=${jobEnded} state=${jobState}: ${jobText.replace(/\s+/g, " ")}`);
  check(jobEnded && jobState === "succeeded", `admin training: the upload job succeeded without a reload (state ${jobState})`);
  const modelLink = page.locator(`#job-${jobId} a[href^="#model-"]`);
  if (await modelLink.count() === 1) {
    const modelId = (await modelLink.getAttribute("href")).replace("#model-", "");
    const modelRow = page.locator(`#model-${modelId}`);
    check(await modelRow.count() === 1, `admin training: model v${modelId} is listed`);
    const modelText = await modelRow.innerText();
    console.log(`TRAINING model v${modelId}: ${modelText.replace(/\s+/g, " ")}`);
    check(/upload/.test(modelText), "admin training: the model's source is the upload");
    await visit(admin, "training-trained", null, { response: null });
    const activate = modelRow.locator("button.act");
    check(await activate.count() === 1, `admin training: model v${modelId} has an activate button`);
    if (await activate.count() === 1) {
      await activate.click();
      await page.waitForSelector(`#flash:has-text("Model v${modelId} is active.")`);
      check(await page.locator(`#model-${modelId} .badge:text-is("active")`).count() === 1, `admin training: v${modelId} shows active`);
    }
  } else {
    check(false, "admin training: the finished job links its model");
  }
  // Mark a window healthy: the last hour of a healthy host.
  const pad = (n) => String(n).padStart(2, "0");
  const local = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  await page.fill("#w-host", "pos-0001-02");
  await page.fill("#w-from", local(new Date(Date.now() - 3600 * 1000)));
  await page.fill("#w-to", local(new Date()));
  await page.click('#window-form button[type=submit]');
  await page.waitForSelector('#flash:has-text("Training job queued for the window.")');
  check(await page.locator("table.jobs tbody tr", { hasText: "pos-0001-02" }).count() >= 1, "admin training: the window's job is listed");
  await visit(admin, "training-window", null, { response: null });

  // Page 7: S3. Start a scan of the test server's bucket and see its objects.
  await visit(admin, "s3", "/s3");
  if (!S3_BUCKET) {
    console.log("SKIP s3 scan: no test S3 server (FLEETLOG_S3_BUCKET unset)");
  } else {
    await page.fill("#s-bucket", S3_BUCKET);
    await page.fill("#s-prefix", S3_PREFIX);
    await page.click('#scan-form button[type=submit]');
    await page.waitForSelector('#flash:has-text("Scan queued.")');
    const scanRow = page.locator("table.scans tbody tr").first();
    const scanId = ((await scanRow.getAttribute("id")) || "").replace("scan-", "");
    const scanEnded = await page.waitForSelector(`#scan-${scanId}:not([data-state="queued"]):not([data-state="running"])`, { timeout: 90000 }).then(() => true, () => false);
    const scanState = await page.locator(`#scan-${scanId}`).getAttribute("data-state");
    console.log(`S3 scan #${scanId} ended=${scanEnded} state=${scanState}: ${(await page.locator(`#scan-${scanId}`).innerText()).replace(/\s+/g, " ")}`);
    check(scanEnded && scanState === "done", `admin s3: the scan ended done without a reload (state ${scanState})`);
    await visit(admin, "s3-scanned", null, { response: null });
    await Promise.all([page.waitForURL(/\/s3\/scans\/\d+$/), page.click(`#scan-${scanId} a >> nth=0`)]);
    await visit(admin, "s3-scan", null, { response: await page.reload() });
    const objects = await page.locator("table.objects tbody tr").count();
    const statuses = await page.$$eval("table.objects tbody tr", (rows) => rows.map((r) => r.dataset.status));
    const count = (st) => statuses.filter((x) => x === st).length;
    console.log(`S3 scan #${scanId} objects=${objects} done=${count("done")} failed=${count("failed")} skipped=${count("skipped")} pending=${count("pending")}`);
    check(objects === S3_OBJECTS, `admin s3: the scan lists its ${S3_OBJECTS} objects (got ${objects})`);
    check(count("failed") >= 1 && count("skipped") >= 1 && count("done") >= 1, "admin s3: done, failed and skipped objects shown");
    const failedReason = await page.locator('table.objects tr[data-status="failed"] td:nth-child(3)').first().innerText();
    check(failedReason.trim().length > 0, `admin s3: a failed object shows its error (${failedReason})`);
    await visit(admin, "s3-scan-failed", `/s3/scans/${scanId}?status=failed`);
    check(await page.locator('table.objects tbody tr:not([data-status="failed"])').count() === 0, "admin s3: the status filter shows failed objects only");
  }

  // Sign out: the next page asks for a sign-in again, remembering where.
  await page.click("#logout");
  await page.waitForURL((u) => u.pathname === "/login");
  await page.goto(BASE + "/alerts");
  check(new URL(page.url()).pathname === "/login" && new URL(page.url()).searchParams.get("next") === "/alerts", "admin: signed out, back to login with next");
}

// ---------- viewer ----------
const viewer = await session("viewer");
{
  const { page } = viewer;
  await login(viewer, env("FLEETLOG_VIEWER_USER"), env("FLEETLOG_VIEWER_PASS"), "/");
  const pages = [["fleet", "/"], ["host", `/hosts/${encodeURIComponent(SICK)}`], ["stream", "/stream"],
    ["incidents", "/incidents"], ["alerts", "/alerts"], ["training", "/training"], ["s3", "/s3"]];
  for (const [name, url] of pages) {
    await visit(viewer, name, url);
    check(await page.locator("button.act").count() === 0, `viewer ${name}: no action buttons`);
    check(await page.locator("#upload-form, #window-form, #scan-form").count() === 0, `viewer ${name}: no action forms`);
    if (name === "training") check(await page.locator("table.models tbody tr").count() >= 1, "viewer training: model versions listed");
  }
  const scans = await (await page.request.get(BASE + "/api/v1/s3/scans")).json();
  const scanId = scans.scans[0]?.id;
  if (scanId !== undefined) {
    await visit(viewer, "s3-scan", `/s3/scans/${scanId}`);
    check(await page.locator("button").filter({ hasText: /Cancel/ }).count() === 0, "viewer s3 scan: no cancel button");
  }
  const models = await (await page.request.get(BASE + "/api/v1/models")).json();
  const modelId = models.models[0]?.id ?? 1;
  check(await page.locator('a[href="/admin"]').count() === 0, "viewer: no Admin tab");
  const inc = await page.request.get(BASE + "/api/v1/incidents?limit=1");
  const incId = (await inc.json()).incidents[0]?.id ?? 1;
  await visit(viewer, "incident", `/incidents/${incId}`);
  check(await page.locator("button.act").count() === 0, "viewer incident: no Resolve button");
  const adminPage = await page.goto(BASE + "/admin");
  check(adminPage.status() === 403, `viewer: /admin is 403 (${adminPage.status()})`);
  await page.screenshot({ path: `${SHOTS}/viewer-admin-403.png` });
  await page.goto(BASE + "/alerts");
  const alerts = await (await page.request.get(BASE + "/api/v1/alerts")).json();
  const alertId = alerts.alerts[0]?.id ?? 1;
  for (const [method, url, body] of [
    ["POST", `/api/v1/incidents/${incId}/resolve`, null],
    ["POST", `/api/v1/alerts/${alertId}/ack`, {}],
    ["POST", "/api/v1/silences", { matchers: { host: SICK }, ends: String(Date.now() + 60000), comment: "x" }],
    ["POST", "/api/v1/tokens", { name: "nope", role: "viewer" }],
    ["POST", `/api/v1/models/${modelId}/activate`, null],
    ["POST", "/api/v1/training/windows", { host: SICK, from: String(Date.now() - 60000), to: String(Date.now()) }],
    ["POST", "/api/v1/s3/scans", { bucket: S3_BUCKET || "fleet-logs" }],
  ]) {
    const status = await post(page, method, url, body);
    console.log(`VIEWER ${method} ${url} -> ${status}`);
    check(status === 403, `viewer: ${method} ${url} is 403 (got ${status})`);
  }
}

await browser.close();
if (failures.length) {
  console.log(`WALK FAILED: ${failures.length} checks`);
  process.exit(1);
}
console.log("WALK OK");
