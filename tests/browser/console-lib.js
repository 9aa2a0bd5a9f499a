// What the console's browser tests share (console.test.js,
// console-ratelimit.test.js): opening the page, signing in through its form
// as a person would, bounded waits that say what the page showed, and the
// check that a key is kept nowhere but where it belongs. Not a test file.
"use strict";

// Opens /console + hash and checks its answer and Content-Security-Policy.
async function open(t, hash) {
    const resp = await t.within(`GET /console${hash} to load`, t.WAIT_MS, () =>
        t.page.goto(t.url(`/console${hash}`), { waitUntil: "load", timeout: t.WAIT_MS }));
    t.check(resp && resp.status() === 200, `GET /console answered ${resp && resp.status()}, expected 200`);
    const csp = resp && resp.headers()["content-security-policy"];
    t.check(csp === "default-src 'self'", `GET /console Content-Security-Policy: ${csp}, expected ` +
        "default-src 'self' with no exception");
}

// Waits until fn, run in the page, answers true; says what it waited for
// and, on timeout, what the page showed (its error lines, if any).
// A navigation (the page reloads when it loses its key) ends a wait's
// context: the wait goes on in the new page, within the same bound.
async function until(t, what, fn, arg) {
    const deadline = Date.now() + t.WAIT_MS;
    for (;;) {
        try {
            await t.page.waitForFunction(fn, arg, { timeout: Math.max(1, deadline - Date.now()), polling: 200 });
            return;
        } catch (e) {
            if (Date.now() < deadline && /context was destroyed|navigat/i.test(e.message || "")) continue;
            break;
        }
    }
    const shown = await t.page.evaluate(() => [...document.querySelectorAll(".error")]
        .filter((p) => !p.hidden).map((p) => p.textContent).join("; ")).catch(() => "?");
    throw new Error(`timed out after ${t.WAIT_MS / 1000}s waiting for ${what}` +
        (shown ? ` (the page shows: ${shown})` : ""));
}

const visible = (sel) => {
    const e = document.querySelector(sel);
    return !!e && e.getClientRects().length > 0;
};

// Pastes key into the sign-in form and submits it; the form must be there.
async function submitKey(t, key) {
    await until(t, "the sign-in form", visible, "#signin-form");
    const type = await t.page.getAttribute("#signin-key", "type");
    t.check(type === "password", `the key's input is of type ${type}, expected password`);
    await t.page.fill("#signin-key", key);
    await t.page.click("#signin-form button[type=submit]");
}

// Opens the page and signs in with key; waits for the views to replace the form.
async function openSignedIn(t, hash, key) {
    await open(t, hash);
    await submitKey(t, key);
    await until(t, "the form to give way to the views once the key is accepted",
        () => document.querySelector("#signin").hidden && !document.querySelector("nav").hidden);
}

// The key is in sessionStorage and nowhere else: not in the DOM (the
// password input is emptied once the key is accepted), localStorage, the
// URL or a cookie. signedIn: false checks it is nowhere at all.
async function keyKept(t, key, signedIn, when) {
    const seen = await t.page.evaluate((k) => ({
        dom: document.documentElement.outerHTML.includes(k),
        input: document.querySelector("#signin-key").value,
        session: Object.keys(sessionStorage).filter((n) => sessionStorage.getItem(n).includes(k)),
        local: localStorage.length,
        url: location.href.includes(k),
        cookie: document.cookie.includes(k),
    }), key);
    t.check(!seen.dom, `${when}: the key is written in the page's DOM`);
    t.check(!seen.url && !seen.cookie, `${when}: the key is in the URL or a cookie`);
    t.check(seen.local === 0, `${when}: localStorage holds ${seen.local} items, expected none`);
    if (signedIn) {
        t.check(seen.input === "", `${when}: the sign-in input still holds the accepted key`);
        t.check(seen.session.length === 1, `${when}: sessionStorage items holding the key: ` +
            `${JSON.stringify(seen.session)}, expected one`);
    } else {
        t.check(seen.session.length === 0, `${when}: sessionStorage still holds the key in ` +
            `${JSON.stringify(seen.session)}`);
    }
}

// The requests to the API (/v1/...) the page made so far.
const apiCalls = (t) => t.requests().filter((r) => / https?:\/\/[^/]+\/v1\//.test(r));

module.exports = { open, until, visible, submitKey, openSignedIn, keyKept, apiCalls };
