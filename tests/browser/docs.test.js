// GET /docs: Swagger UI renders the API from /openapi.json, from this server
// alone, under the page's Content-Security-Policy (run.js checks the
// requests, CSP reports and console for every test).
"use strict";

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
};
