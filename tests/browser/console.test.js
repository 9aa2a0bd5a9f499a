// GET /console: each view shows the data tests/integration/test_browser.py
// put on the stack, under the page's strict Content-Security-Policy (run.js
// checks the requests, CSP reports and console for every test), once signed
// in through the page's form as an operator would; and the sign-in itself:
// no key, a wrong key, a key without admin, signing out, a key revoked while
// in use. The data comes as JSON in SLUICE_CONSOLE_DATA:
//   {events: {type, tag, ids: [...], markup}, import: {id, accepted, rejected},
//    dlq: {collection, error}, assistance: {id, channel},
//    deliveries: {failed: [two request ids], channel, delivered, delivered_channel, attempts}}
// and the keys in SLUICE_API_KEY (the stack's admin key), SLUICE_VIEWER_KEY
// (events:read only) and SLUICE_REVOCABLE_KEY (admin, for the test that
// revokes it). Without them these tests fail saying so.
"use strict";

const { open, until, visible, submitKey, openSignedIn, keyKept, apiCalls } = require("./console-lib");

const DATA = process.env.SLUICE_CONSOLE_DATA ? JSON.parse(process.env.SLUICE_CONSOLE_DATA) : null;
const KEY = process.env.SLUICE_API_KEY;
const VIEWER = process.env.SLUICE_VIEWER_KEY;
const REVOCABLE = process.env.SLUICE_REVOCABLE_KEY;
const KEY_PREFIX = "sk_sluice_";

const cells = (t, sel) => t.page.$$eval(sel, (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));

function need(t, ...keys) {
    const missing = [["SLUICE_CONSOLE_DATA", DATA], ["SLUICE_API_KEY", KEY], ...keys]
        .filter(([, v]) => !v).map(([n]) => n);
    t.check(!missing.length, `${missing.join(", ")} not set: run this through tests/integration/test_browser.py`);
    return !missing.length;
}

// Admin calls of the API from the test itself (not the page).
async function adminCall(t, method, path) {
    return t.within(`${method} ${path}`, t.WAIT_MS, () =>
        fetch(t.url(path), { method, headers: { Authorization: `Bearer ${KEY}` } }));
}

module.exports = {
    "console overview lists every collection with its counts": async (t) => {
        if (!need(t)) return;
        await openSignedIn(t, "", KEY);
        await until(t, "the overview's row for collection events",
            () => [...document.querySelectorAll("#collections tbody tr")].some((r) => r.cells[0].textContent === "events"));
        await until(t, "ingest readiness to show ready", () => document.querySelector("#ready").textContent === "ready");
        const rows = await cells(t, "#collections tbody tr");
        const events = rows.find((r) => r[0] === "events");
        t.check(Number(events[2]) >= DATA.events.ids.length, `events row ${JSON.stringify(events)}: messages ` +
            `expected at least ${DATA.events.ids.length}`);
        t.check(Number(events[3]) >= 1, `events row ${JSON.stringify(events)}: dead letters expected at least 1`);
        t.check(/applied \d+, lag \d+/.test(events[4]), `events row ${JSON.stringify(events)}: a persist group ` +
            "with applied and lag");
        t.check(rows.some((r) => r[0] === "assistance"), `no row for assistance in ${JSON.stringify(rows)}`);
        // Traffic: rates once two refreshes apart have been seen, while a write goes in.
        await t.page.evaluate(async (key) => {
            await fetch("/v1/events", { method: "POST", headers: { Authorization: `Bearer ${key}`,
                "Content-Type": "application/json" }, body: JSON.stringify({ type: "console-traffic" }) });
        }, KEY);
        await until(t, "the overview's write rate", () => /\/s$/.test(document.querySelector("#traffic dd")?.textContent || ""));
        const traffic = await t.page.evaluate(() => [...document.querySelectorAll("#traffic dt")].map((d) => d.textContent));
        t.check(["write rate", "error rate (5xx)", "write latency p95"].every((k) => traffic.includes(k)),
            `traffic figures ${JSON.stringify(traffic)}`);
        await until(t, "the partitions' lag note", () => /\d+ partitions, \d+ lagging/.test(
            document.querySelector("#partitions-note").textContent));
        const active = await t.page.textContent("nav a.active");
        t.check(active === "Overview", `active tab "${active}", expected Overview`);
        await keyKept(t, KEY, true, "signed in, on the overview");
    },

    "console events search, next page and detail": async (t) => {
        if (!need(t)) return;
        const { type, tag, ids } = DATA.events;
        await openSignedIn(t, "#events", KEY);
        await t.page.fill("#events-form [name=type]", type);
        await t.page.fill("#events-form [name=contains]", tag);
        await t.page.fill("#events-form [name=after]", "2024-01-01");
        await t.page.fill("#events-form [name=before]", "2030-01-01");
        await t.page.fill("#events-form [name=limit]", String(ids.length - 1));
        await t.page.click("#events-form button[type=submit]");
        await until(t, `a first page of ${ids.length - 1} events of type ${type}`,
            (n) => document.querySelectorAll("#events-table tbody tr").length === n, ids.length - 1);
        const first = await t.page.$$eval("#events-table tbody tr", (rs) => rs.map((r) => r.dataset.id));
        t.check(await t.page.isVisible("#events-next"), "no Next page button with more events to show");
        await t.page.click("#events-next");
        await until(t, "the next page: the last event",
            (seen) => { const rs = [...document.querySelectorAll("#events-table tbody tr")];
                return rs.length === 1 && !seen.includes(rs[0].dataset.id); }, first);
        const last = await t.page.$$eval("#events-table tbody tr", (rs) => rs.map((r) => r.dataset.id));
        t.check([...first, ...last].sort().join() === [...ids].sort().join(),
            `the two pages show ${[...first, ...last].join(", ")}, expected ${ids.join(", ")}`);
        t.check(!(await t.page.isVisible("#events-next")), "a Next page button on the last page");
        await t.page.click("#events-table tbody tr");
        await until(t, `the detail pane to show event ${last[0]}`,
            (id) => document.querySelector("#event-fields").textContent.includes(id), last[0]);
        const body = await t.page.textContent("#event-body");
        t.check(body.includes(tag) && body.includes(type), `detail body ${body.slice(0, 200)}: expected the tag ` +
            `${tag} and type ${type}`);
        // JSON.stringify escapes the quotes of the markup; the tags stay as text.
        t.check(body.includes(JSON.stringify(DATA.events.markup)), `detail body ${body.slice(0, 300)}: expected ` +
            `the body's markup ${DATA.events.markup} as text`);
        const parsed = await t.page.$$eval("#event-body *, #events-table img, #events-table b", (es) => es.length);
        t.check(parsed === 0, `${parsed} elements made from an event's text (it must be set with textContent)`);
    },

    "console import progress reaches done": async (t) => {
        if (!need(t)) return;
        const im = DATA.import;
        await openSignedIn(t, `#imports/${im.id}`, KEY);
        await until(t, `import ${im.id} to show done`,
            () => document.querySelector("#import-status").textContent === "done");
        const [counts] = await cells(t, "#import-counts tbody tr");
        t.check(Number(counts[1]) === im.accepted && Number(counts[2]) === im.rejected,
            `counts ${JSON.stringify(counts)}: expected accepted ${im.accepted}, rejected ${im.rejected}`);
        t.check(Number(counts[3]) === im.accepted, `counts ${JSON.stringify(counts)}: expected persisted ${im.accepted}`);
        const progress = await t.page.$eval("#import-progress", (p) => p.value);
        t.check(progress === 1, `progress bar at ${progress}, expected 1`);
        const errors = await cells(t, "#import-errors tbody tr");
        t.check(errors.length === im.rejected, `rejected records ${JSON.stringify(errors)}: expected ${im.rejected}`);
    },

    "console dead letters grouped by error, a dry run and a replay": async (t) => {
        if (!need(t)) return;
        const { collection, error } = DATA.dlq;
        await openSignedIn(t, `#dlq/${collection}`, KEY);
        await until(t, `the group of dead letters with error "${error}"`,
            (e) => [...document.querySelectorAll("#dlq-groups tbody tr")].some((r) => r.cells[0].textContent === e), error);
        const groups = await cells(t, "#dlq-groups tbody tr");
        const g = groups.find((r) => r[0] === error);
        t.check(Number(g[1]) >= 1, `group ${JSON.stringify(g)}: expected at least 1 letter`);
        const distinct = new Set(groups.map((r) => r[0]));
        t.check(distinct.size === groups.length, `a distinct error listed twice: ${JSON.stringify(groups)}`);
        await t.page.click("#dlq-dry-run");
        await until(t, "the dry run's answer", () => !document.querySelector("#dlq-replay-answer").hidden);
        const answer = await t.page.$$eval("#dlq-replay-answer dt", (dts) =>
            Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
        t.check(answer.answer === "dry run (nothing sent)", `answer ${JSON.stringify(answer)}: expected a dry run`);
        t.check(Number(answer.matched) >= 1 && Number(answer["would replay"]) >= 0 && answer.replayed === "0",
            `dry run answer ${JSON.stringify(answer)}: expected matched >= 1, would replay a count, replayed 0`);
        await t.page.click("#dlq-replay");
        await until(t, "the replay's answer", () =>
            document.querySelector("#dlq-replay-answer dd").textContent === "replayed");
        const replayed = await t.page.$$eval("#dlq-replay-answer dt", (dts) =>
            Object.fromEntries(dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
        t.check(Number(replayed.replayed) >= 1 && replayed.failed === "0",
            `replay answer ${JSON.stringify(replayed)}: expected replayed >= 1, failed 0`);
        await until(t, `the group "${error}" to count a replayed letter`,
            (e) => [...document.querySelectorAll("#dlq-groups tbody tr")].some((r) =>
                r.cells[0].textContent === e && Number(r.cells[2].textContent) >= 1), error);
    },

    "console assistance request shows its deliveries": async (t) => {
        if (!need(t)) return;
        const { id, channel } = DATA.assistance;
        await openSignedIn(t, `#assistance/${id}`, KEY);
        await until(t, `the delivery to ${channel} to show delivered`,
            (c) => [...document.querySelectorAll("#deliveries tbody tr")].some((r) =>
                r.cells[0].textContent === c && r.cells[2].textContent === "delivered"), channel);
        const rows = await cells(t, "#deliveries tbody tr");
        const d = rows.find((r) => r[0] === channel);
        t.check(d[1] === "log" && Number(d[3]) >= 1, `delivery ${JSON.stringify(d)}: expected type log, attempts >= 1`);
        const fields = await t.page.textContent("#assistance-fields");
        t.check(fields.includes(id), `request fields ${fields}: expected the id ${id}`);
    },

    "console deliveries by status and channel, next page and a request's deliveries": async (t) => {
        if (!need(t)) return;
        const { failed, channel, delivered, delivered_channel: okChannel, attempts } = DATA.deliveries;
        const listed = () => t.page.$$eval("#deliveries-list tbody tr", (rows) => rows.map((r) =>
            ({ request: r.dataset.request, cells: [...r.cells].map((c) => c.textContent) })));
        // Failed ones on the dead channel, a page of one: each has its last error.
        await openSignedIn(t, "#deliveries", KEY);
        await t.page.selectOption("#deliveries-form [name=status]", "failed");
        await t.page.fill("#deliveries-form [name=channel]", channel);
        await t.page.fill("#deliveries-form [name=limit]", "1");
        await t.page.click("#deliveries-form button[type=submit]");
        await until(t, `a first page of one failed delivery to ${channel}`, (c) => {
            const rs = [...document.querySelectorAll("#deliveries-list tbody tr")];
            return rs.length === 1 && rs[0].cells[2].textContent === c && rs[0].cells[4].textContent === "failed";
        }, channel);
        const first = await listed();
        t.check(await t.page.isVisible("#deliveries-next"), "no Next page button with a second failed delivery");
        await t.page.click("#deliveries-next");
        await until(t, "the next page: another failed delivery", (seen) => {
            const rs = [...document.querySelectorAll("#deliveries-list tbody tr")];
            return rs.length === 1 && rs[0].dataset.request !== seen;
        }, first[0].request);
        const second = await listed();
        const both = [...first, ...second];
        t.check(failed.every((id) => both.some((d) => d.request === id)),
            `the two pages list ${both.map((d) => d.request).join(", ")}, expected ${failed.join(", ")}`);
        for (const d of both) {
            const [request, topic, ch, type, status, tries, nextRetry, lastError, , deliveredAt] = d.cells;
            t.check(request === d.request && topic === "dead" && ch === channel && type === "webhook" &&
                status === "failed" && Number(tries) === attempts && nextRetry === "—" && deliveredAt === "—",
                `the failed delivery ${JSON.stringify(d.cells)}: expected topic dead, channel ${channel}, type ` +
                `webhook, failed after ${attempts} attempts, no next retry, never delivered`);
            t.check(lastError.includes(`gave up after ${attempts} attempts`),
                `the failed delivery's last error "${lastError}": expected "... gave up after ${attempts} attempts"`);
        }
        // The filter: delivered ones show the delivered request and no failed one.
        await t.page.selectOption("#deliveries-form [name=status]", "delivered");
        await t.page.fill("#deliveries-form [name=channel]", "");
        await t.page.fill("#deliveries-form [name=limit]", "1000");
        await t.page.click("#deliveries-form button[type=submit]");
        await until(t, `the delivered delivery of ${delivered} to ${okChannel}`, (id) =>
            [...document.querySelectorAll("#deliveries-list tbody tr")].some((r) => r.dataset.request === id), delivered);
        const shown = await listed();
        t.check(shown.every((d) => d.cells[4] === "delivered"), `status delivered lists ` +
            `${JSON.stringify(shown.map((d) => d.cells[4]))}: expected only delivered`);
        t.check(!shown.some((d) => failed.includes(d.request)), "status delivered lists a failed request");
        // A click opens the request's deliveries.
        await t.page.selectOption("#deliveries-form [name=status]", "failed");
        await t.page.fill("#deliveries-form [name=channel]", channel);
        await t.page.click("#deliveries-form button[type=submit]");
        await until(t, `the failed delivery of ${failed[0]}`, (id) =>
            [...document.querySelectorAll("#deliveries-list tbody tr")].some((r) => r.dataset.request === id), failed[0]);
        await t.page.click(`#deliveries-list tbody tr[data-request="${failed[0]}"]`);
        await until(t, `the assistance view of ${failed[0]} with its failed delivery`, (c) =>
            !document.querySelector("#view-assistance").hidden &&
            [...document.querySelectorAll("#deliveries tbody tr")].some((r) =>
                r.cells[0].textContent === c && r.cells[2].textContent === "failed"), channel);
        const hash = await t.page.evaluate(() => location.hash);
        t.check(hash === `#assistance/${failed[0]}`, `the hash after the click is ${hash}, expected #assistance/${failed[0]}`);
        const fields = await t.page.textContent("#assistance-fields");
        t.check(fields.includes(failed[0]), `request fields ${fields}: expected the id ${failed[0]}`);
        // Back on the list for the screenshot: failed deliveries with their errors.
        await t.page.goBack();
        await until(t, "the deliveries list again", () => !document.querySelector("#view-deliveries").hidden &&
            document.querySelectorAll("#deliveries-list tbody tr").length > 0);
    },

    "console without a key shows the sign-in form and no data": async (t) => {
        if (!need(t)) return;
        await open(t, `#dlq/${DATA.dlq.collection}`);
        await until(t, "the sign-in form", visible, "#signin-form");
        const shown = await t.page.evaluate(() => ({
            nav: !document.querySelector("nav").hidden,
            session: !document.querySelector("#session").hidden,
            views: [...document.querySelectorAll(".view")].filter((v) => !v.hidden).map((v) => v.id),
            rows: document.querySelectorAll(".view tbody tr:not(:empty)").length,
            name: document.querySelector("#signin-key").getAttribute("name"),
            error: document.querySelector("#signin-error").hidden ? null : document.querySelector("#signin-error").textContent,
        }));
        t.check(!shown.nav && !shown.session, "the tabs or the sign-out control show without a key");
        t.check(!shown.views.length, `views shown without a key: ${shown.views.join(", ")}`);
        t.check(shown.rows === 0, `${shown.rows} table rows of data without a key`);
        // Unnamed, the input is never part of a form submission (a URL).
        t.check(shown.name === null, `the key's input has the name "${shown.name}", expected none`);
        t.check(shown.error === null, `an error before any key was tried: ${shown.error}`);
        // Another tab changes nothing: the page calls the API only with a key.
        await t.page.evaluate(() => { location.hash = "#overview"; });
        await until(t, "the form to stay after the hash changed", (sel) => location.hash === "#overview" &&
            !document.querySelector(sel).hidden, "#signin");
        const calls = apiCalls(t);
        t.check(!calls.length, `the page called the API without a key: ${calls.join(", ")}`);
    },

    "console refuses a wrong key with the 401 message": async (t) => {
        if (!need(t)) return;
        t.allowHttp(401, "/v1/status"); // the page checks the key there
        // A well-formed key the server never made: its last character changed.
        const wrong = KEY.slice(0, -1) + (KEY.endsWith("A") ? "B" : "A");
        await open(t, "");
        await submitKey(t, wrong);
        await until(t, "the sign-in form's error line", () => !document.querySelector("#signin-error").hidden);
        const error = await t.page.textContent("#signin-error");
        t.check(/^401 Unauthorized: the server refused this key \(.+\)\.$/.test(error),
            `the sign-in error says "${error}", expected 401 Unauthorized: the server refused this key (why).`);
        t.check(!error.includes(KEY_PREFIX), `the sign-in error shows the key: ${error}`);
        t.check(await t.page.isVisible("#signin-form") && !(await t.page.isVisible("nav")),
            "after a refused key, the form is expected to stay and the tabs to stay hidden");
        await keyKept(t, wrong, false, "after a refused key");
        const calls = apiCalls(t);
        t.check(calls.length === 1 && calls[0].endsWith("/v1/status"),
            `the page's API calls: ${calls.join(", ")}; expected only the key's check, GET /v1/status`);
    },

    "console with an events:read key shows events and a readable 403 on dead letters": async (t) => {
        if (!need(t, ["SLUICE_VIEWER_KEY", VIEWER])) return;
        // The sign-in check and the dead-letters view ask what needs admin.
        t.allowHttp(403, "/v1/status");
        t.allowHttp(403, "/v1/dlq/");
        const { type, ids } = DATA.events;
        await openSignedIn(t, "#events", VIEWER);
        await t.page.fill("#events-form [name=type]", type);
        await t.page.click("#events-form button[type=submit]");
        await until(t, `the ${ids.length} events of type ${type}`,
            (n) => document.querySelectorAll("#events-table tbody tr").length === n, ids.length);
        const shownIds = await t.page.$$eval("#events-table tbody tr", (rs) => rs.map((r) => r.dataset.id));
        t.check(shownIds.sort().join() === [...ids].sort().join(), `events shown ${shownIds}, expected ${ids}`);
        await t.page.click('nav a[data-view="dlq"]');
        await until(t, "the dead-letters view's error line",
            () => !document.querySelector("#view-dlq").hidden && !document.querySelector("#dlq-error").hidden &&
                document.querySelector("#dlq-error").textContent.startsWith("403"));
        const error = await t.page.textContent("#dlq-error");
        t.check(error === "403 Forbidden: this key lacks the scope admin, which this view needs.",
            `the dead-letters view says "${error}", expected that the key lacks the scope admin`);
        const rows = await t.page.$$eval("#dlq-letters tbody tr, #dlq-groups tbody tr", (rs) => rs.length);
        t.check(rows === 0, `${rows} rows of dead letters shown to a key without admin`);
        t.check(await t.page.isVisible("nav"), "the tabs are gone after a 403: it is expected to leave the key signed in");
        await keyKept(t, VIEWER, true, "signed in with the events:read key");
    },

    "console sign out forgets the key": async (t) => {
        if (!need(t)) return;
        await openSignedIn(t, "", KEY);
        await until(t, "the overview's rows", () => document.querySelectorAll("#collections tbody tr").length > 0);
        await t.page.click("#signout");
        await until(t, "the sign-in form after signing out", visible, "#signin-form");
        await keyKept(t, KEY, false, "after signing out");
        const before = apiCalls(t).length;
        await t.within("the page to reload", t.WAIT_MS, () => t.page.reload({ waitUntil: "load", timeout: t.WAIT_MS }));
        await until(t, "the sign-in form after a reload", visible, "#signin-form");
        const rows = await t.page.$$eval("#collections tbody tr", (rs) => rs.length);
        t.check(rows === 0, `${rows} rows of the overview after signing out and reloading`);
        t.check(!(await t.page.isVisible("nav")), "the tabs show after signing out and reloading");
        await keyKept(t, KEY, false, "after signing out and reloading");
        const after = apiCalls(t).slice(before);
        t.check(!after.length, `API calls after signing out: ${after.join(", ")}`);
    },

    "console brings the sign-in form back when its key is revoked": async (t) => {
        if (!need(t, ["SLUICE_REVOCABLE_KEY", REVOCABLE])) return;
        t.allowHttp(401, "/v1/status"); // the overview's next refresh, once revoked
        const id = REVOCABLE.slice(KEY_PREFIX.length, KEY_PREFIX.length + 12);
        await openSignedIn(t, "", REVOCABLE);
        await until(t, "the overview's rows", () => document.querySelectorAll("#collections tbody tr").length > 0);
        const r = await adminCall(t, "DELETE", `/v1/keys/${id}`);
        t.check(r.status === 204, `DELETE /v1/keys/${id} answered ${r.status}, expected 204`);
        await until(t, "the sign-in form with the 401 message after the key was revoked",
            () => !document.querySelector("#signin").hidden && !document.querySelector("#signin-error").hidden);
        const error = await t.page.textContent("#signin-error");
        t.check(error.startsWith("401 Unauthorized: the server refused this key (") && error.includes("revoked"),
            `the sign-in form says "${error}", expected the 401 of a revoked key`);
        await keyKept(t, REVOCABLE, false, "after the key was revoked");
    },
};
