// GET /console: each view shows the data tests/integration/test_browser.py
// put on the stack, under the page's strict Content-Security-Policy (run.js
// checks the requests, CSP reports and console for every test). The data
// comes as JSON in SLUICE_CONSOLE_DATA:
//   {events: {type, tag, ids: [...], markup}, import: {id, accepted, rejected},
//    dlq: {collection, error}, assistance: {id, channel}}
// Without it these tests are skipped (the docs-only stack runs none).
"use strict";

const DATA = process.env.SLUICE_CONSOLE_DATA ? JSON.parse(process.env.SLUICE_CONSOLE_DATA) : null;

async function open(t, hash) {
    const resp = await t.within(`GET /console${hash} to load`, t.WAIT_MS, () =>
        t.page.goto(t.url(`/console${hash}`), { waitUntil: "load", timeout: t.WAIT_MS }));
    t.check(resp && resp.status() === 200, `GET /console answered ${resp && resp.status()}, expected 200`);
    const csp = resp && resp.headers()["content-security-policy"];
    t.check(csp === "default-src 'self'", `GET /console Content-Security-Policy: ${csp}, expected ` +
        "default-src 'self' with no exception");
}

// Waits until fn, run in the page, answers true; says what it waited for
// and, on timeout, what the page showed (its error line, if any).
async function until(t, what, fn, arg) {
    try {
        await t.page.waitForFunction(fn, arg, { timeout: t.WAIT_MS, polling: 200 });
    } catch (e) {
        const shown = await t.page.evaluate(() => [...document.querySelectorAll(".error")]
            .filter((p) => !p.hidden).map((p) => p.textContent).join("; ")).catch(() => "?");
        throw new Error(`timed out after ${t.WAIT_MS / 1000}s waiting for ${what}` +
            (shown ? ` (the page shows: ${shown})` : ""));
    }
}

const cells = (t, sel) => t.page.$$eval(sel, (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));

function need(t) {
    t.check(DATA, "SLUICE_CONSOLE_DATA is not set: run this through tests/integration/test_browser.py");
    return !!DATA;
}

module.exports = {
    "console overview lists every collection with its counts": async (t) => {
        if (!need(t)) return;
        await open(t, "");
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
        const active = await t.page.textContent("nav a.active");
        t.check(active === "Overview", `active tab "${active}", expected Overview`);
    },

    "console events search, next page and detail": async (t) => {
        if (!need(t)) return;
        const { type, tag, ids } = DATA.events;
        await open(t, "#events");
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
        await open(t, `#imports/${im.id}`);
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
        await open(t, `#dlq/${collection}`);
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
        await open(t, `#assistance/${id}`);
        await until(t, `the delivery to ${channel} to show delivered`,
            (c) => [...document.querySelectorAll("#deliveries tbody tr")].some((r) =>
                r.cells[0].textContent === c && r.cells[2].textContent === "delivered"), channel);
        const rows = await cells(t, "#deliveries tbody tr");
        const d = rows.find((r) => r[0] === channel);
        t.check(d[1] === "log" && Number(d[3]) >= 1, `delivery ${JSON.stringify(d)}: expected type log, attempts >= 1`);
        const fields = await t.page.textContent("#assistance-fields");
        t.check(fields.includes(id), `request fields ${fields}: expected the id ${id}`);
    },
};
