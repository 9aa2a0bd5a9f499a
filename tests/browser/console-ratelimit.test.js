// GET /console against a rate limit: tests/integration/test_browser.py's
// ConsoleRateLimit runs ingest with SLUICE_RATE_LIMIT=2/3600 and gives an
// events:read key in SLUICE_LIMITED_KEY. Its third search is a 429: the page
// says so with the wait Retry-After gave, and sends nothing until then.
"use strict";

const { openSignedIn, until, apiCalls } = require("./console-lib");

const LIMITED = process.env.SLUICE_LIMITED_KEY;
const SEARCHES_MAX = 5; // the quota is 2: a 429 comes well before

// As the page words it, from the server's answer (which names the quota) or
// from its own memory of the Retry-After.
const RATE_LIMITED = new RegExp("^429 Too many requests: this key's rate limit( \\(2 requests per 3600 s\\))? is " +
    "used up; try again in \\d+ (s|min|h)\\. The console sends nothing until then\\.$");

module.exports = {
    "console shows a 429 with its Retry-After and waits it out": async (t) => {
        t.check(LIMITED, "SLUICE_LIMITED_KEY is not set: run this through tests/integration/test_browser.py");
        if (!LIMITED) return;
        t.allowHttp(403, "/v1/status"); // the sign-in check: the key has no admin
        t.allowHttp(429, "/v1/events");
        await openSignedIn(t, "#events", LIMITED);
        let error = "";
        for (let i = 1; i <= SEARCHES_MAX && !error.startsWith("429"); i++) {
            // Emptied first, the count (an answer) or the error line (a
            // refusal) says when this search was answered.
            await t.page.evaluate(() => {
                document.querySelector("#events-count").textContent = "";
                document.querySelector("#events-error").textContent = "";
            });
            await t.page.click("#events-form button[type=submit]");
            await until(t, `search ${i} to be answered`, () => document.querySelector("#events-count").textContent !== "" ||
                document.querySelector("#events-error").textContent !== "");
            error = await t.page.textContent("#events-error");
        }
        t.check(RATE_LIMITED.test(error) && error.includes("(2 requests per 3600 s)"),
            `the events view says "${error}", expected a 429 that names the quota and the wait`);
        // Limited, a search is refused in the page: the same message, no request.
        const sent = apiCalls(t).length;
        await t.page.evaluate(() => { document.querySelector("#events-error").textContent = ""; });
        await t.page.click("#events-form button[type=submit]");
        await until(t, "the refused search's message", () => document.querySelector("#events-error").textContent !== "");
        const again = await t.page.textContent("#events-error");
        t.check(RATE_LIMITED.test(again), `while limited the events view says "${again}", expected the 429 again`);
        const more = apiCalls(t).slice(sent);
        t.check(!more.length, `requests sent while the Retry-After lasts: ${more.join(", ")}`);
    },
};
