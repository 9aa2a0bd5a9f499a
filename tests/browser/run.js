#!/usr/bin/env node
// Browser tests of what sluice-ingest serves to a browser (/docs and
// /console), in Debian's Chromium driven by playwright-core. A plain script,
// no test framework:
//
//   node tests/browser/run.js --base-url http://127.0.0.1:PORT --artifacts DIR
//        [--modules DIR] [FILTER...]
//
// Runs every test of tests/browser/*.test.js (each file exports an object of
// {name: async (t) => ...}) whose name contains a FILTER, each in a fresh
// browser context. --modules is the node_modules folder holding
// playwright-core (the build's: build-san/npm/node_modules); without it, the
// usual resolution from this folder (a root `npm ci`). SLUICE_CHROMIUM names
// another browser than /usr/bin/chromium. The tests read what they need
// from the environment (SLUICE_API_KEY: the key to sign in with), which
// tests/integration/test_browser.py sets.
//
// Every test fails, besides its own checks, when the page sends a request
// off loopback (each is aborted, and so never leaves), breaks its
// Content-Security-Policy, logs a console error, throws, or gets an HTTP
// error for anything it loads, unless the test said it expects that error
// (t.allowHttp(status, path): the answer and the browser's console line
// about it). Each test saves a screenshot, pass or fail,
// as DIR/<test>.png and prints its path. Every wait is bounded and says what
// it was waiting for. Ends with "browser: N passed, N failed"; exits 1 when
// a test failed, 2 when the browser could not be started.
"use strict";

const fs = require("fs");
const path = require("path");

const WAIT_MS = 30000;

function parseArgs(argv) {
    const names = { "--base-url": "baseUrl", "--artifacts": "artifacts", "--modules": "modules" };
    const opts = { filters: [] };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (names[a]) {
            if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
            opts[names[a]] = argv[++i];
        } else if (a.startsWith("--")) {
            throw new Error(`unknown option ${a}`);
        } else {
            opts.filters.push(a);
        }
    }
    if (!opts.baseUrl || !opts.artifacts) throw new Error("--base-url and --artifacts are required");
    return opts;
}

function loadPlaywright(modules) {
    const where = modules ? path.resolve(modules, "playwright-core") : "playwright-core";
    try {
        return require(where);
    } catch (e) {
        throw new Error(`cannot load playwright-core from ${where} (${e.code || e.message}): ` +
            "the build installs it (`npm ci` into build-san/npm; its log is npm/npm-ci.log there)");
    }
}

// Loopback only: what the page may reach. Anything else is a bug of the page.
function isLoopback(url) {
    let u;
    try {
        u = new URL(url);
    } catch {
        return false;
    }
    if (u.protocol === "data:" || u.protocol === "blob:" || u.protocol === "about:") return true;
    const h = u.hostname.replace(/^\[|\]$/g, "");
    return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

// Bounded: resolves with what fn resolves, or fails saying what it waited for.
async function within(what, ms, fn) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000}s waiting for ${what}`)), ms);
    });
    try {
        return await Promise.race([fn(), timeout]);
    } catch (e) {
        if (e && e.name === "TimeoutError") throw new Error(`timed out waiting for ${what}: ${e.message.split("\n")[0]}`);
        throw e;
    } finally {
        clearTimeout(timer);
    }
}

// Watches one context: every request, console message, error and CSP report.
async function guard(context) {
    const problems = [];
    const requests = [];
    await context.route("**/*", (route) => {
        const url = route.request().url();
        if (isLoopback(url)) return route.continue();
        problems.push(`request off loopback (aborted): ${route.request().method()} ${url}`);
        return route.abort("blockedbyclient");
    });
    // The listener runs before the page's own scripts and reports through a
    // binding, both injected by the browser, so the page's CSP does not
    // apply to them and a report survives the page navigating away.
    await context.exposeBinding("__sluiceCspViolation", (source, text) =>
        problems.push(`CSP violation: ${text} (page ${source.page ? source.page.url() : "?"})`));
    await context.addInitScript(() => {
        document.addEventListener("securitypolicyviolation", (e) => {
            window.__sluiceCspViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "(inline)"}` +
                (e.sourceFile ? ` at ${e.sourceFile}:${e.lineNumber}` : ""));
        });
    });
    const watch = { problems, requests, allowed: [] };
    context.on("page", (page) => watchPage(page, watch));
    return watch;
}

// Whether the test expects an answer of this status for url: an entry of
// t.allowHttp whose path is url's path, or a prefix of it ending in "/",
// or whose RegExp matches it.
function allowed(watch, status, url) {
    let p;
    try {
        p = new URL(url).pathname;
    } catch {
        return false;
    }
    return watch.allowed.some((a) => a.status === status &&
        (a.path instanceof RegExp ? a.path.test(p) : p === a.path || (a.path.endsWith("/") && p.startsWith(a.path))));
}

// Chromium's console line for an HTTP error ("Failed to load resource: the
// server responded with a status of 401 (Unauthorized)") names the URL in
// its location.
const LOAD_FAILED = /^Failed to load resource: the server responded with a status of (\d+)/;

function watchPage(page, watch) {
    const { problems, requests } = watch;
    page.on("request", (r) => requests.push(`${r.method()} ${r.url()}`));
    page.on("console", (m) => {
        if (m.type() !== "error") return;
        const failed = LOAD_FAILED.exec(m.text());
        if (failed && allowed(watch, Number(failed[1]), (m.location() || {}).url || "")) return;
        problems.push(`console error: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`uncaught exception: ${e.message}`));
    page.on("response", (r) => {
        if (r.status() >= 400 && !allowed(watch, r.status(), r.url()))
            problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
    });
    page.on("requestfailed", (r) => {
        if (isLoopback(r.url())) problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`);
    });
}

function slug(name) {
    return name.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").toLowerCase().slice(0, 80);
}

function collectTests(filters) {
    const tests = [];
    for (const file of fs.readdirSync(__dirname).filter((f) => f.endsWith(".test.js")).sort()) {
        const mod = require(path.join(__dirname, file));
        for (const [name, fn] of Object.entries(mod)) {
            if (!filters.length || filters.some((f) => name.includes(f) || file.includes(f)))
                tests.push({ file, name, fn });
        }
    }
    return tests;
}

async function runOne(browser, opts, test) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const watch = await guard(context);
    const page = await context.newPage();
    const shot = path.join(opts.artifacts, `${slug(test.name)}.png`);
    const failures = [];
    const t = {
        page,
        url: (p) => new URL(p, opts.baseUrl).toString(),
        within,
        WAIT_MS,
        check(cond, what) {
            if (!cond) failures.push(what);
        },
        // Expects answers of this status for path (a path, a prefix ending
        // in "/", or a RegExp over the path) from here on: not a problem.
        allowHttp(status, p) {
            watch.allowed.push({ status, path: p });
        },
        // The requests the page made so far, as "METHOD URL".
        requests: () => [...watch.requests],
    };
    try {
        await test.fn(t);
    } catch (e) {
        failures.push(e && e.message ? e.message : String(e));
    }
    // Reports the browser queued before the test ended are delivered before
    // the answer to a task queued after them.
    await within("the page's last reports", 5000, () =>
        page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)))).catch(() => {});
    failures.push(...watch.problems);
    try {
        await within(`a screenshot into ${shot}`, WAIT_MS, () => page.screenshot({ path: shot, fullPage: true }));
        console.log(`  screenshot: ${shot}`);
    } catch (e) {
        console.log(`  no screenshot: ${e.message}`);
    }
    if (failures.length) console.log(`  requests the page made:\n    ${watch.requests.join("\n    ") || "(none)"}`);
    await context.close();
    return failures;
}

async function main() {
    let opts;
    try {
        opts = parseArgs(process.argv.slice(2));
    } catch (e) {
        console.error(`browser: ${e.message}`);
        return 2;
    }
    fs.mkdirSync(opts.artifacts, { recursive: true });
    const tests = collectTests(opts.filters);
    if (!tests.length) {
        console.error(`browser: no test matches ${opts.filters.join(" ")}`);
        return 2;
    }
    const executablePath = process.env.SLUICE_CHROMIUM || "/usr/bin/chromium";
    let browser;
    try {
        const { chromium } = loadPlaywright(opts.modules);
        const args = [
            // Chromium's own sandbox needs user namespaces it does not get as root.
            ...(process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : []),
            // Nothing resolves but the server under test: the browser's own
            // background services (updates, safe browsing) cannot reach out
            // either.
            `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${new URL(opts.baseUrl).hostname}`,
            "--disable-dev-shm-usage",
        ];
        browser = await within(`${executablePath} to start`, 60000, () =>
            chromium.launch({ executablePath, headless: true, args, timeout: 60000 }));
    } catch (e) {
        console.error(`browser: cannot start ${executablePath}: ${e.message}`);
        return 2;
    }
    let passed = 0;
    let failed = 0;
    try {
        for (const test of tests) {
            const started = Date.now();
            console.log(`${test.file}: ${test.name}`);
            const failures = await runOne(browser, opts, test);
            const secs = ((Date.now() - started) / 1000).toFixed(1);
            if (failures.length) {
                failed++;
                console.log(`FAIL ${test.name} (${secs}s):\n  - ${failures.join("\n  - ")}`);
            } else {
                passed++;
                console.log(`ok ${test.name} (${secs}s)`);
            }
        }
    } finally {
        await browser.close();
    }
    console.log(`browser: ${passed} passed, ${failed} failed`);
    return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
    console.error(`browser: ${e.stack || e}`);
    process.exit(2);
});
