// The console (GET /console): hash-routed views over this server's JSON API
// (docs/api.md). Every text the server sends is put in the page with
// textContent, never parsed as HTML. No framework, no build step. Every call
// carries the API key the operator signed in with (see Credentials below).

const $ = (sel) => document.querySelector(sel);

// --- Credentials. The API key is kept in sessionStorage: this tab only, gone
// when it closes. Never in localStorage (it would outlive the session and
// reach every tab), the URL (history, logs, Referer) or the DOM: only the
// password input holds it, until it is checked. sessionStorage may be
// refused (storage disabled): the key then lasts as long as the page.
const KEY_ITEM = "sluice.console.key";
// Why the sign-in form is back after the reload that follows a 401 while
// signed in (the key was revoked or expired): the reason, never the key.
const NOTICE_ITEM = "sluice.console.notice";

function stored(item) {
    try {
        return sessionStorage.getItem(item);
    } catch {
        return null;
    }
}

function store(item, value) {
    try {
        if (value === null) sessionStorage.removeItem(item);
        else sessionStorage.setItem(item, value);
    } catch {
        // Storage refused: nothing was kept, so nothing is left to forget.
    }
}

// The key every call sends; null while signed out.
let apiKey = stored(KEY_ITEM);
// Until when (ms since the epoch) a 429's Retry-After asks the console to
// send nothing: the views' timers would otherwise keep spending the quota.
let limitedUntil = 0;

class ApiError extends Error {
    constructor(message, status, body) {
        super(message);
        this.status = status;
        this.body = body;
    }
}

function duration(s) {
    return s < 120 ? `${s} s` : s < 7200 ? `${Math.ceil(s / 60)} min` : `${Math.ceil(s / 3600)} h`;
}

// Retry-After in seconds (a number of seconds or an HTTP date), or null.
function retryAfter(r) {
    const v = (r.headers.get("Retry-After") || "").trim();
    if (/^\d+$/.test(v)) return Number(v);
    const when = Date.parse(v);
    return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

// The scope a 403 says is missing: WWW-Authenticate's scope="...", else the
// problem's detail ("This credential lacks the scope admin.").
function missingScope(r, body) {
    const m = /\bscope="([^"]*)"/.exec(r.headers.get("WWW-Authenticate") || "");
    if (m) return m[1];
    const d = /lacks the scope ([^\s.]+)/.exec((body && typeof body === "object" && body.detail) || "");
    return d ? d[1] : null;
}

async function readBody(r) {
    const text = await r.text();
    try {
        return text ? JSON.parse(text) : null;
    } catch {
        return text;
    }
}

// What an answer that is not 2xx says, for a person: the problem's title
// and detail, in words for the answers about the key.
function describe(r, body) {
    const problem = body && typeof body === "object";
    const detail = problem ? body.detail : null;
    if (r.status === 401)
        return `401 Unauthorized: the server refused this key${detail ? ` (${detail})` : ""}.`;
    if (r.status === 403) {
        const scope = missingScope(r, body);
        if (scope) return `403 Forbidden: this key lacks the scope ${scope}, which this view needs.`;
    }
    if (r.status === 429) {
        // The detail names the quota: "This principal's rate limit (2 requests per 3600 s) is used up; ..."
        const quota = /rate limit \(([^)]*)\)/.exec(detail || "");
        const s = retryAfter(r);
        return `429 Too many requests: this key's rate limit${quota ? ` (${quota[1]})` : ""} is used up` +
            (s === null ? "." : `; try again in ${duration(s)}. The console sends nothing until then.`);
    }
    const what = problem ? [body.title, body.detail].filter(Boolean).join(": ") : body;
    return `${r.status} ${what || r.statusText}`;
}

// A call of the API with the key; its JSON body. Any other answer becomes
// an ApiError whose message describe() wrote, so each view shows it; a 401
// also signs out, the server having refused the key.
async function api(path, init = {}) {
    const key = apiKey;
    if (!key) throw new ApiError("Not signed in.", 401, null);
    const wait = Math.ceil((limitedUntil - Date.now()) / 1000);
    if (wait > 0) {
        throw new ApiError(`429 Too many requests: this key's rate limit is used up; try again in ` +
            `${duration(wait)}. The console sends nothing until then.`, 429, null);
    }
    const headers = { Accept: "application/json", ...init.headers, Authorization: `Bearer ${key}` };
    let r;
    try {
        r = await fetch(path, { ...init, headers, credentials: "omit" });
    } catch (e) {
        throw new ApiError(`${path}: no answer (${e.message})`, 0, null);
    }
    const body = await readBody(r);
    if (r.ok) return body;
    if (r.status === 429) limitedUntil = Date.now() + (retryAfter(r) ?? 1) * 1000;
    const err = new ApiError(describe(r, body), r.status, body);
    // Only the key this call sent: a newer one is not the one refused.
    if (r.status === 401 && apiKey === key) signOut(err.message);
    throw err;
}

// Forgets the key and reloads, which stops every view and drops what they
// show; notice, if any, is what the sign-in form says then.
function signOut(notice) {
    apiKey = null;
    store(KEY_ITEM, null);
    store(NOTICE_ITEM, notice || null);
    location.reload();
}

// Checks a key before keeping it. /v1/status needs admin, yet any answer but
// 401 shows the server knows the key: authentication comes first, and a 403
// (a scope it lacks) or a 429 (its limit) only after the key checked out.
// Returns null when the key is good, else why not.
async function checkKey(key) {
    let r;
    try {
        r = await fetch("/v1/status", { headers: { Accept: "application/json", Authorization: `Bearer ${key}` },
            credentials: "omit" });
    } catch (e) {
        return `The server could not be reached (${e.message}); try again.`;
    }
    const body = await readBody(r);
    const type = body && typeof body === "object" ? String(body.type || "") : "";
    if (r.status === 401 || type.endsWith("/keys-unavailable")) return describe(r, body);
    if (r.status === 429) limitedUntil = Date.now() + (retryAfter(r) ?? 1) * 1000;
    return null;
}

function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
}

function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
        if (c instanceof Node) {
            const td = document.createElement("td");
            td.append(c);
            tr.append(td);
        } else if (c && typeof c === "object") {
            tr.append(el("td", c.text === null || c.text === undefined ? "—" : c.text, c.cls));
        } else {
            tr.append(el("td", c === null || c === undefined ? "—" : c));
        }
    }
    return tr;
}

function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
}

function fields(dl, pairs) {
    const out = [];
    for (const [k, v] of pairs) {
        out.push(el("dt", k));
        out.push(el("dd", v === null || v === undefined ? "—" : v));
    }
    dl.replaceChildren(...out);
}

function showError(id, err) {
    const p = $(id);
    p.hidden = !err;
    p.textContent = err ? err.message || String(err) : "";
}

const num = (v) => ({ text: v === null || v === undefined ? "—" : v, cls: "num" });

// Views: each has show(arg) when its tab opens (arg: what follows the
// view's name in the hash, e.g. #imports/<id>) and hide() when it closes.
const views = {};

// --- Traffic, from this ingest's /metrics (public, Prometheus text): the
// rates are differences between two refreshes, so the first shows none.
function parseMetrics(text) {
    const samples = [];
    for (const line of text.split("\n")) {
        const m = /^(sluice_http_requests_total|sluice_http_request_duration_seconds_bucket)\{([^}]*)\} (\S+)$/.exec(line);
        if (!m) continue;
        const labels = {};
        for (const l of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
        samples.push({ name: m[1], labels, value: Number(m[3]) });
    }
    return samples;
}

const isWrite = (method) => method !== "GET" && method !== "HEAD";

function trafficTotals(samples) {
    const t = { requests: 0, errors: 0, writes: 0, buckets: new Map() };
    for (const s of samples) {
        if (s.name === "sluice_http_requests_total") {
            t.requests += s.value;
            if (Number(s.labels.code) >= 500) t.errors += s.value;
            if (isWrite(s.labels.method)) t.writes += s.value;
        } else if (isWrite(s.labels.method)) {
            t.buckets.set(s.labels.le, (t.buckets.get(s.labels.le) || 0) + s.value);
        }
    }
    return t;
}

// The write latency's p95 over the interval: the upper bound of the first
// bucket holding 95% of the interval's writes.
function p95(now, before) {
    const les = [...now.buckets.keys()].sort((a, b) => (a === "+Inf") - (b === "+Inf") || Number(a) - Number(b));
    const count = (now.buckets.get("+Inf") || 0) - (before.buckets.get("+Inf") || 0);
    if (count <= 0) return null;
    for (const le of les) {
        if ((now.buckets.get(le) || 0) - (before.buckets.get(le) || 0) >= 0.95 * count)
            return le === "+Inf" ? "over the largest bucket" : `≤ ${Number(le) * 1000} ms`;
    }
    return null;
}

let trafficBefore = null;
async function refreshTraffic() {
    const r = await fetch("/metrics");
    if (!r.ok) return;
    const now = { at: Date.now(), ...trafficTotals(parseMetrics(await r.text())) };
    const before = trafficBefore;
    trafficBefore = now;
    if (!before) {
        fields($("#traffic"), [["writes", "measuring…"]]);
        return;
    }
    const secs = (now.at - before.at) / 1000;
    const requests = now.requests - before.requests;
    fields($("#traffic"), [
        ["write rate", `${((now.writes - before.writes) / secs).toFixed(1)} /s`],
        ["error rate (5xx)", requests > 0 ? `${(100 * (now.errors - before.errors) / requests).toFixed(2)} %` : "no requests"],
        ["write latency p95", p95(now, before) || "no writes"],
        ["all requests", `${(requests / secs).toFixed(1)} /s`],
    ]);
}

// --- Overview: readiness and /v1/status, every few seconds.
{
    const REFRESH_MS = 3000;
    let timer = null;
    let forbidden = false;
    async function refresh() {
        try {
            const ready = await fetch("/readyz").then(async (r) => ({ ok: r.ok, body: await r.json() }));
            const badge = $("#ready");
            badge.textContent = ready.ok ? "ready" : `not ready: ${ready.body.detail || ready.body.title}`;
            badge.className = `badge ${ready.ok ? "ok" : "bad"}`;
        } catch (e) {
            $("#ready").textContent = `no answer (${e.message})`;
            $("#ready").className = "badge bad";
        }
        try {
            await refreshTraffic();
        } catch (e) {
            fields($("#traffic"), [["traffic", `no metrics (${e.message})`]]);
        }
        // A key without admin is told once; asking every 3 s would change nothing.
        if (forbidden) return;
        try {
            const st = await api("/v1/status");
            showError("#overview-error", null);
            fill($("#collections tbody"), (st.collections || []).map((c) => {
                const by = c.persisted_by === null || c.persisted_by === undefined
                    ? c.consumed_by_error ? `— (notify consumes it; ${c.consumed_by_error})`
                        : c.consumed_by && c.consumed_by.length
                            ? c.consumed_by.map((g) => `${g.group} (consumes): committed ${g.committed}, lag ${g.lag}`).join("; ")
                            : "— (notify consumes it)"
                    : c.persisted_by.length
                        ? c.persisted_by.map((g) => `${g.group}: applied ${g.applied}, lag ${g.lag}`).join("; ")
                        : "no group yet";
                return row([c.name, c.topic, num(c.messages), num(c.dead_letters), by]);
            }));
            // Every partition of every group, those that lag first; a
            // caught-up partition is only counted, there are many.
            const parts = [];
            for (const c of st.collections || []) {
                for (const g of [...(c.persisted_by || []), ...(c.consumed_by || [])]) {
                    for (const p of g.partitions || [])
                        parts.push({ topic: c.topic, group: g.group, ...p, done: p.applied ?? p.committed });
                }
            }
            const lagging = parts.filter((p) => p.lag > 0).sort((a, b) => b.lag - a.lag);
            $("#partitions-note").textContent = `${parts.length} partitions, ${lagging.length} lagging` +
                (lagging.length ? "" : ": every one caught up");
            $("#partitions").hidden = !lagging.length;
            fill($("#partitions tbody"), lagging.map((p) => row([p.topic, p.group, num(p.partition), num(p.end),
                num(p.done), num(p.lag)])));
            const groups = st.groups || [];
            $("#groups-note").textContent = st.groups_error || (groups.length ? "" : "No consumer group is listed.");
            $("#groups").hidden = !groups.length;
            fill($("#groups tbody"), groups.map((g) => row([g.group || g.name, g.state,
                (g.members || []).map((m) => `${m.client_id}@${m.host}`).join(", ") || "none"])));
            $("#overview-at").textContent = new Date().toLocaleTimeString();
        } catch (e) {
            forbidden = e.status === 403;
            showError("#overview-error", e);
        }
    }
    views.overview = {
        show() {
            refresh();
            timer = setInterval(refresh, REFRESH_MS);
        },
        hide() {
            clearInterval(timer);
            timer = null;
        },
    };
}

// --- Events: the filters of GET /v1/events, the next page, a detail pane.
{
    let query = null; // the filters of the page shown, for its next page
    let next = null;
    async function search(cursor) {
        const q = new URLSearchParams();
        for (const [k, v] of Object.entries(query)) if (v !== "") q.set(k, v);
        if (cursor) q.set("cursor", cursor);
        try {
            const page = await api(`/v1/events?${q}`);
            showError("#events-error", null);
            next = page.next_cursor;
            fill($("#events-table tbody"), page.items.map((ev) => {
                const tr = row([ev.occurred_at, ev.type, ev.external_id, { text: ev.id, cls: "mono" }]);
                tr.className = "pick";
                tr.dataset.id = ev.id;
                tr.addEventListener("click", () => detail(ev.id, tr));
                return tr;
            }));
            $("#events-count").textContent = `${page.items.length} event${page.items.length === 1 ? "" : "s"}` +
                (cursor ? " (a later page)" : "") + (next ? "; more follow" : "");
            $("#events-next").hidden = !next;
        } catch (e) {
            showError("#events-error", e);
        }
    }
    async function detail(id, tr) {
        for (const r of document.querySelectorAll("#events-table tbody tr")) r.classList.remove("selected");
        if (tr) tr.classList.add("selected");
        try {
            const ev = await api(`/v1/events/${encodeURIComponent(id)}`);
            $("#event-detail-hint").hidden = true;
            fields($("#event-fields"), [["id", ev.id], ["external id", ev.external_id], ["type", ev.type],
                ["occurred at", ev.occurred_at], ["received at", ev.received_at]]);
            $("#event-body").textContent = JSON.stringify(ev.body, null, 2);
        } catch (e) {
            showError("#events-error", e);
        }
    }
    $("#events-form").addEventListener("submit", (e) => {
        e.preventDefault();
        query = Object.fromEntries(new FormData(e.target));
        search(null);
    });
    $("#events-next").addEventListener("click", () => search(next));
    views.events = {
        show(arg) {
            if (arg) detail(arg, null);
        },
        hide() {},
    };
}

// --- Imports: one import's progress, polled until done.
{
    const POLL_MS = 1000;
    let timer = null;
    let watching = null;
    function stop() {
        clearTimeout(timer);
        timer = null;
    }
    async function poll(id) {
        if (watching !== id) return;
        try {
            const im = await api(`/v1/imports/${encodeURIComponent(id)}`);
            if (watching !== id) return;
            showError("#imports-error", null);
            $("#import").hidden = false;
            const st = $("#import-status");
            st.textContent = im.status;
            st.className = `badge ${im.status === "done" ? "ok" : ""}`;
            const doneCount = (im.persisted || 0) + (im.dropped || 0);
            const frac = im.status === "done" ? 1 : im.accepted ? Math.min(1, doneCount / im.accepted) : 0;
            $("#import-progress").value = frac;
            $("#import-percent").textContent = `${Math.round(frac * 100)}% (${doneCount} of ${im.accepted} stored or dropped)`;
            const tr = row(["received", "accepted", "rejected", "persisted", "created", "updated", "unchanged",
                "dropped"].map((k) => num(im[k])));
            $("#import-counts tbody").replaceChildren(tr);
            fields($("#import-fields"), [["id", im.id], ["collection", im.collection],
                ["started at", im.started_at], ["finished at", im.finished_at]]);
            const errors = im.errors || [];
            $("#import-errors-none").hidden = errors.length > 0;
            $("#import-errors").hidden = errors.length === 0;
            fill($("#import-errors tbody"), errors.map((x) => row([num(x.index), { text: x.message, cls: "wrap" }])));
            if (im.status !== "done") timer = setTimeout(() => poll(id), POLL_MS);
        } catch (e) {
            showError("#imports-error", e);
            // Not found and the key's answers (401, 403) are final; a 429 is
            // waited out; anything else (a busy database) is worth another try.
            if (![401, 403, 404].includes(e.status) && watching === id)
                timer = setTimeout(() => poll(id), Math.max(POLL_MS, limitedUntil - Date.now()));
        }
    }
    function watch(id) {
        stop();
        watching = id;
        $("#imports-form").elements.id.value = id;
        poll(id);
    }
    $("#imports-form").addEventListener("submit", (e) => {
        e.preventDefault();
        const id = e.target.elements.id.value.trim();
        if (id) location.hash = `#imports/${encodeURIComponent(id)}`;
    });
    views.imports = {
        show(arg) {
            if (arg) watch(arg);
        },
        hide() {
            stop();
            watching = null;
        },
    };
}

// --- Dead letters: grouped by x-error, with a dry run and a replay.
{
    const form = $("#dlq-form");
    let collectionsLoaded = false;
    async function loadCollections() {
        if (collectionsLoaded) return;
        try {
            const st = await api("/v1/status");
            const select = form.elements.collection;
            const current = select.value;
            const names = (st.collections || []).map((c) => c.name);
            if (!names.length) return;
            select.replaceChildren(...names.map((n) => {
                const o = el("option", n);
                o.value = n;
                return o;
            }));
            select.value = names.includes(current) ? current : names[0];
            collectionsLoaded = true;
        } catch (e) {
            showError("#dlq-error", e);
        }
    }
    async function load() {
        const collection = form.elements.collection.value;
        const q = new URLSearchParams({ limit: "1000" });
        const errText = form.elements.error.value;
        if (errText) q.set("error", errText);
        try {
            const d = await api(`/v1/dlq/${encodeURIComponent(collection)}?${q}`);
            showError("#dlq-error", null);
            const groups = new Map();
            for (const l of d.letters) {
                const key = l.error === null || l.error === undefined ? "(no x-error)" : l.error;
                const g = groups.get(key) || { count: 0, replayed: 0 };
                g.count++;
                if (l.replayed) g.replayed++;
                groups.set(key, g);
            }
            const sorted = [...groups.entries()].sort((a, b) => b[1].count - a[1].count);
            fill($("#dlq-groups tbody"), sorted.map(([k, g]) => row([{ text: k, cls: "wrap" }, num(g.count), num(g.replayed)])));
            $("#dlq-summary").textContent = `${d.letters.length} letter${d.letters.length === 1 ? "" : "s"} in ${d.topic}` +
                `, ${groups.size} distinct error${groups.size === 1 ? "" : "s"}` + (d.truncated ? " (truncated)" : "");
            fill($("#dlq-letters tbody"), d.letters.map((l) => row([`${l.partition}/${l.offset}`, l.timestamp,
                { text: l.error, cls: "wrap" },
                l.source ? `${l.source.topic}/${l.source.partition}/${l.source.offset}` : null,
                l.replayed ? "yes" : "no",
                { text: l.value !== undefined ? l.value : `base64: ${l.value_base64}`, cls: "mono wrap" }])));
        } catch (e) {
            showError("#dlq-error", e);
        }
    }
    async function replay(dryRun) {
        const collection = form.elements.collection.value;
        const body = { dry_run: dryRun };
        if (form.elements.error.value) body.error = form.elements.error.value;
        try {
            const a = await api(`/v1/dlq/${encodeURIComponent(collection)}/replay`, {
                method: "POST",
                headers: { "Content-Type": "application/json", Accept: "application/json" },
                body: JSON.stringify(body),
            });
            showError("#dlq-error", null);
            const dl = $("#dlq-replay-answer");
            const pairs = [["answer", a.dry_run ? "dry run (nothing sent)" : "replayed"], ["topic", a.topic],
                ["matched", a.matched], ["already replayed", a.already_replayed]];
            if (a.dry_run) pairs.push(["would replay", a.would_replay]);
            pairs.push(["replayed", a.replayed], ["failed", a.failed], ["truncated", a.truncated ? "yes" : "no"]);
            fields(dl, pairs);
            dl.hidden = false;
            if (!a.dry_run) load();
        } catch (e) {
            showError("#dlq-error", e);
        }
    }
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        load();
    });
    $("#dlq-dry-run").addEventListener("click", () => replay(true));
    $("#dlq-replay").addEventListener("click", () => replay(false));
    views.dlq = {
        async show(arg) {
            await loadCollections();
            if (arg) form.elements.collection.value = arg;
            load();
        },
        hide() {},
    };
}

// --- Deliveries: GET /v1/deliveries across requests, by status and
// channel, in keyset pages; a row opens its request (the assistance view).
{
    const form = $("#deliveries-form");
    let query = null; // the filters of the page shown, for its next page
    let next = null;
    function filters() {
        const q = {};
        for (const [k, v] of new FormData(form)) if (String(v).trim() !== "") q[k] = String(v).trim();
        return q;
    }
    async function list(cursor) {
        const q = new URLSearchParams(query);
        if (cursor) q.set("cursor", cursor);
        try {
            const page = await api(`/v1/deliveries?${q}`);
            showError("#deliveries-list-error", null);
            next = page.next_cursor;
            fill($("#deliveries-list tbody"), page.items.map((d) => {
                const tr = row([{ text: d.request, cls: "mono" }, d.topic, d.channel, d.type, d.status,
                    num(d.attempts), d.next_attempt_at, { text: d.last_error, cls: "wrap" }, d.created_at,
                    d.delivered_at]);
                tr.className = `pick status-${d.status}`;
                tr.dataset.request = d.request;
                tr.addEventListener("click", () => { location.hash = `#assistance/${encodeURIComponent(d.request)}`; });
                return tr;
            }));
            $("#deliveries-count").textContent = `${page.items.length} deliver${page.items.length === 1 ? "y" : "ies"}` +
                (cursor ? " (a later page)" : "") + (next ? "; more follow" : "");
            $("#deliveries-next").hidden = !next;
        } catch (e) {
            showError("#deliveries-list-error", e);
        }
    }
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        query = filters();
        list(null);
    });
    $("#deliveries-next").addEventListener("click", () => list(next));
    views.deliveries = {
        // #deliveries/<status> opens the list with that status chosen.
        show(arg) {
            if (arg && [...form.elements.status.options].some((o) => o.value === arg)) form.elements.status.value = arg;
            query = filters();
            list(null);
        },
        hide() {},
    };
}

// --- Assistance: a request's deliveries; refreshed while any is pending.
{
    const POLL_MS = 2000;
    let timer = null;
    let watching = null;
    async function poll(id) {
        if (watching !== id) return;
        try {
            const a = await api(`/v1/assistance/${encodeURIComponent(id)}`);
            if (watching !== id) return;
            showError("#assistance-error", null);
            $("#assistance").hidden = false;
            fields($("#assistance-fields"), [["id", a.id], ["topic", a.topic], ["description", a.description],
                ["request id", a.request_id], ["received at", a.received_at]]);
            const ds = a.deliveries || [];
            const order = { failed: 0, pending: 1, delivered: 2 };
            const sorted = [...ds].sort((x, y) => (order[x.status] ?? 3) - (order[y.status] ?? 3));
            fill($("#deliveries tbody"), sorted.map((d) => {
                const tr = row([d.channel, d.type, d.status, num(d.attempts),
                    d.next_attempt_at ?? d.next_retry_at ?? null, { text: d.last_error, cls: "wrap" },
                    d.delivered_at, d.fallback ? "yes" : "no"]);
                tr.className = `status-${d.status}`;
                return tr;
            }));
            if (!ds.length || ds.some((d) => d.status === "pending")) timer = setTimeout(() => poll(id), POLL_MS);
        } catch (e) {
            showError("#assistance-error", e);
        }
    }
    $("#assistance-form").addEventListener("submit", (e) => {
        e.preventDefault();
        const id = e.target.elements.id.value.trim();
        if (id) location.hash = `#assistance/${encodeURIComponent(id)}`;
    });
    views.assistance = {
        show(arg) {
            if (!arg) return;
            clearTimeout(timer);
            watching = arg;
            $("#assistance-form").elements.id.value = arg;
            poll(arg);
        },
        hide() {
            clearTimeout(timer);
            watching = null;
        },
    };
}

// --- Routing: #view or #view/arg; the overview without a hash.
let current = null;
function route() {
    const [name, ...rest] = location.hash.replace(/^#/, "").split("/");
    const view = views[name] ? name : "overview";
    const arg = rest.length ? decodeURIComponent(rest.join("/")) : "";
    if (current) views[current].hide();
    for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== `view-${view}`;
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === view);
    current = view;
    document.body.dataset.view = view;
    views[view].show(arg);
}

// --- Signing in: the form while there is no key; the views once there is.
function start() {
    $("#signin").hidden = true;
    $("nav").hidden = false;
    $("#session").hidden = false;
    window.addEventListener("hashchange", route);
    route();
}

$("#signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("#signin-key");
    const button = e.target.querySelector("button");
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    showError("#signin-error", null);
    const refused = await checkKey(key);
    button.disabled = false;
    if (refused) {
        showError("#signin-error", new Error(refused));
        input.focus();
        return;
    }
    input.value = "";
    apiKey = key;
    store(KEY_ITEM, key);
    store(NOTICE_ITEM, null);
    start();
});
$("#signout").addEventListener("click", () => signOut(null));

if (apiKey) {
    start();
} else {
    const notice = stored(NOTICE_ITEM);
    store(NOTICE_ITEM, null);
    showError("#signin-error", notice ? new Error(notice) : null);
    $("#signin").hidden = false;
    $("#signin-key").focus();
}
