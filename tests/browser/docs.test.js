// GET /docs: Swagger UI renders the API from /openapi.json, from this server
// alone, under the page's Content-Security-Policy (run.js checks the
// requests, CSP reports and console for every test); its Authorize button
// takes the key in SLUICE_API_KEY (the stack's admin key), which "Try it
// out" then sends, and which nothing keeps (persistAuthorization: false).
"use strict";

const KEY = process.env.SLUICE_API_KEY;

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

module.exports = {
    "GET /docs renders every operation of /openapi.json": async (t) => {
        const spec = await t.within("GET /openapi.json", t.WAIT_MS, async () => {
            const r = await fetch(t.url("/openapi.json"));
            if (r.status !== 200) throw new Error(`GET /openapi.json answered ${r.status}`);
            return r.json();
        });
        const want = [];
        for (const [p, item] of Object.entries(spec.paths))
            for (const m of Object.keys(item)) if (METHODS.includes(m)) want.push(`${m.toUpperCase()} ${p}`);

        const resp = await t.within("GET /docs to load", t.WAIT_MS, () =>
            t.page.goto(t.url("/docs"), { waitUntil: "load", timeout: t.WAIT_MS }));
        t.check(resp && resp.status() === 200, `GET /docs answered ${resp && resp.status()}, expected 200: ` +
            (resp ? (await resp.text()).slice(0, 300) : "no response"));
        const csp = resp && resp.headers()["content-security-policy"];
        // Scripts from this server only: what the console's page will be held to.
        t.check(csp && /^default-src 'self'(;|$)/.test(csp) && !/unsafe-|script-src|style-src/.test(csp),
            `GET /docs Content-Security-Policy: ${csp}, expected default-src 'self' with no script or ` +
            "style exception");

        // The first operation of the document, then the whole list.
        await t.within("Swagger UI to render the operation block POST /v1/events", t.WAIT_MS, () =>
            t.page.locator('.opblock-post [data-path="/v1/events"]').first()
                .waitFor({ state: "visible", timeout: t.WAIT_MS }));
        const shown = await t.page.$$eval(".opblock", (blocks) => blocks.map((b) =>
            `${(b.querySelector(".opblock-summary-method") || {}).textContent} ` +
            `${(b.querySelector("[data-path]") || { getAttribute: () => "?" }).getAttribute("data-path")}`));
        const missing = want.filter((op) => !shown.includes(op));
        const extra = shown.filter((op) => !want.includes(op));
        t.check(!missing.length, `operations of /openapi.json Swagger UI does not show: ${missing.join(", ")}`);
        t.check(!extra.length, `operation blocks that are not in /openapi.json: ${extra.join(", ")}`);

        // Opened, an operation shows its parameters and responses (and
        // Swagger UI's icons, drawn from its stylesheet under the page's CSP).
        const block = t.page.locator('.opblock-post:has(.opblock-summary [data-path="/v1/events"])').first();
        await block.locator(".opblock-summary").first().click({ timeout: t.WAIT_MS });
        const body = block.locator(".opblock-body").first();
        await t.within("POST /v1/events to open and list its responses", t.WAIT_MS, () =>
            body.locator(".responses-wrapper").first().waitFor({ state: "visible", timeout: t.WAIT_MS }));
        const responses = await body.locator(".responses-wrapper .response-col_status").allTextContents();
        const wantStatuses = Object.keys(spec.paths["/v1/events"].post.responses);
        const shownStatuses = responses.map((s) => s.trim().slice(0, 3));
        t.check(wantStatuses.every((s) => shownStatuses.includes(s)),
            `POST /v1/events shows the statuses ${shownStatuses.join(", ")}, expected ${wantStatuses.join(", ")}`);

        const title = await t.page.locator(".info .title").first().textContent({ timeout: t.WAIT_MS });
        t.check(title && title.includes(spec.info.title), `page title "${title}", expected it to name "${spec.info.title}"`);
        const failedLoad = await t.page.locator(".errors-wrapper, .loading-container .title").count();
        t.check(failedLoad === 0, "Swagger UI shows an error box (Failed to load API definition, or schema errors)");
    },

    "GET /docs authorizes with an API key and tries an operation with it": async (t) => {
        t.check(KEY, "SLUICE_API_KEY is not set: run this through tests/integration/test_browser.py");
        if (!KEY) return;
        await t.within("GET /docs to load", t.WAIT_MS, () =>
            t.page.goto(t.url("/docs"), { waitUntil: "load", timeout: t.WAIT_MS }));
        const op = (method, p) => t.page.locator(`.opblock-${method}:has(.opblock-summary [data-path="${p}"])`).first();
        const keys = op("get", "/v1/keys");
        await t.within("Swagger UI to render GET /v1/keys", t.WAIT_MS, () =>
            keys.waitFor({ state: "visible", timeout: t.WAIT_MS }));
        // A lock on what needs a credential, none on what is public.
        t.check(await keys.locator(".authorization__btn").count() === 1, "GET /v1/keys shows no lock (its security)");
        t.check(await op("get", "/healthz").locator(".authorization__btn").count() === 0,
            "GET /healthz, which is public, shows a lock");

        await t.page.locator(".auth-wrapper .btn.authorize").click({ timeout: t.WAIT_MS });
        const names = await t.within("the Authorize dialog", t.WAIT_MS, async () => {
            await t.page.locator(".dialog-ux .auth-container").first().waitFor({ state: "visible", timeout: t.WAIT_MS });
            return t.page.locator(".dialog-ux .auth-container h4").allTextContents();
        });
        t.check(["bearer", "apiKey"].every((n) => names.some((h) => h.includes(n))),
            `the Authorize dialog lists ${JSON.stringify(names)}, expected bearer and apiKey`);
        // Each scheme is a form of its own, with its own Authorize button; its
        // input gives way to "******" once authorized, its heading stays.
        const bearer = t.page.locator(".dialog-ux .auth-container")
            .filter({ has: t.page.locator("h4", { hasText: "(http, Bearer)" }) });
        await bearer.locator("#auth-bearer-value").fill(KEY, { timeout: t.WAIT_MS });
        await bearer.locator('button[aria-label="Apply credentials"]').click({ timeout: t.WAIT_MS });
        await t.within("the dialog to show the bearer scheme authorized", t.WAIT_MS, () =>
            bearer.locator('button[aria-label="Remove authorization"]').waitFor({ state: "visible", timeout: t.WAIT_MS }));
        await t.page.locator(".dialog-ux .btn-done").first().click({ timeout: t.WAIT_MS });
        const locked = await t.page.locator(".auth-wrapper .btn.authorize").getAttribute("class");
        t.check(/\blocked\b/.test(locked), `once authorized the Authorize button is "${locked}", expected locked`);

        await keys.locator(".opblock-summary").first().click({ timeout: t.WAIT_MS });
        await keys.locator(".try-out__btn").click({ timeout: t.WAIT_MS });
        await keys.locator(".execute").click({ timeout: t.WAIT_MS });
        const status = await t.within("GET /v1/keys to be answered in the page", t.WAIT_MS, async () => {
            const cell = keys.locator(".live-responses-table .response .response-col_status").first();
            await cell.waitFor({ state: "visible", timeout: t.WAIT_MS });
            return (await cell.textContent()).trim();
        });
        t.check(status.startsWith("200"), `Try it out on GET /v1/keys answered ${status}, expected 200 with the key`);
        const curl = await keys.locator(".curl-command").first().textContent({ timeout: t.WAIT_MS });
        t.check(curl.includes("Authorization: Bearer sk_sluice_"), `the request sent: ${curl.slice(0, 300)}: ` +
            "expected it to carry Authorization: Bearer <the key>");

        const kept = await t.page.evaluate((k) => [...Object.keys(localStorage), ...Object.keys(sessionStorage)]
            .filter((n) => (localStorage.getItem(n) || sessionStorage.getItem(n) || "").includes(k) ||
                n === "authorized"), KEY);
        t.check(!kept.length, `the browser's storage keeps the key in ${JSON.stringify(kept)} ` +
            "(persistAuthorization must stay false)");
        // Loaded again, without the deep link the opened operation left in
        // the hash: Swagger UI 5 logs a console error on following a link to
        // an operation whose generated id has an "_" (ours have no operationId).
        await t.within("/docs to load again", t.WAIT_MS, () =>
            t.page.goto(t.url("/docs"), { waitUntil: "load", timeout: t.WAIT_MS }));
        await t.within("the Authorize button after a reload", t.WAIT_MS, () =>
            t.page.locator(".auth-wrapper .btn.authorize").waitFor({ state: "visible", timeout: t.WAIT_MS }));
        const state = await t.page.locator(".auth-wrapper .btn.authorize").getAttribute("class");
        t.check(/\bunlocked\b/.test(state), `after a reload the Authorize button is "${state}", expected unlocked ` +
            "(nothing kept)");
    },
};
