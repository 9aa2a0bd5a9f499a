/* persist_events: the events collection's writer. An event's id is its
 * identity: a changed event replaces the stored one as a new version, an
 * identical one changes nothing. A batch of new ids goes through one COPY
 * into events; any other batch is staged with COPY and upserted in one
 * statement; the slow path upserts one row at a time. Envelopes in ingest's
 * layout are read without a JSON tree (persist_event_read). */
#include "buf.h"
#include "persist_writer.h"
#include "tenant.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct persist_event *event_of(const struct persist_item *it)
{
    return it->record;
}

int persist_event_read(const void *data, size_t len, struct persist_event *ev, char *err,
                       size_t errlen)
{
    memset(ev, 0, sizeof(*ev));
    ev->text = malloc(len + 1);
    if (!ev->text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(ev->text, data, len);
    ev->text[len] = '\0';
    if (envelope_scan_event(ev->text, len, &ev->f) == 0)
        return 0;
    free(ev->text);
    ev->text = NULL;
    struct event_envelope parsed;
    if (envelope_parse_event(data, len, &parsed, err, errlen) != 0)
        return -1;
    ev->body_dump = json_dumps(parsed.body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!ev->body_dump) {
        snprintf(err, errlen, "out of memory");
        envelope_event_free(&parsed);
        return -1;
    }
    ev->root = parsed.root;
    ev->f = (struct event_scan){
        .id = parsed.id,
        .principal = json_string_value(json_object_get(parsed.root, "principal")),
        .tenant = envelope_tenant(parsed.root),
        .fingerprint = parsed.fingerprint,
        .external_id = parsed.external_id,
        .type = parsed.type,
        .idempotency_key = parsed.idempotency_key,
        .received_at_us = parsed.received_at_us,
        .occurred_at_us = parsed.occurred_at_us,
        .body = ev->body_dump,
        .body_len = strlen(ev->body_dump),
    };
    return 0;
}

void persist_event_release(struct persist_event *ev)
{
    free(ev->text);
    free(ev->body_dump);
    json_decref(ev->root);
    memset(ev, 0, sizeof(*ev));
}

/* COPY text format: backslash, tab, newline and carriage return are escaped. */
static void copy_field(struct buf *out, const char *s)
{
    if (!s) {
        buf_append(out, "\\N", 2);
        return;
    }
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *esc = NULL;
        switch (*p) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            continue;
        }
        buf_append(out, run, (size_t)(p - run));
        buf_append(out, esc, 2);
        run = p + 1;
    }
    buf_puts(out, run);
}

void persist_copy_row(struct buf *out, const struct persist_event *ev)
{
    char occurred[TIME_STR_LEN], received[TIME_STR_LEN];
    time_format(ev->f.occurred_at_us, occurred);
    time_format(ev->f.received_at_us, received);
    copy_field(out, ev->f.id);
    buf_append(out, "\t", 1);
    copy_field(out, ev->f.external_id);
    buf_append(out, "\t", 1);
    copy_field(out, ev->f.type);
    buf_append(out, "\t", 1);
    buf_puts(out, occurred);
    buf_append(out, "\t", 1);
    buf_puts(out, received);
    buf_append(out, "\t", 1);
    copy_field(out, ev->f.body);
    buf_append(out, "\t", 1);
    copy_field(out, ev->f.fingerprint);
    buf_append(out, "\t", 1);
    copy_field(out, ev->f.tenant);
    buf_append(out, "\n", 1);
}

/* The columns persist writes, in persist_copy_row's order. */
#define EVENT_COLUMNS "id, external_id, type, occurred_at, received_at, body, fingerprint, tenant"

/* Set on conflict: a changed record becomes a new version; an identical one is
 * left alone (no row returned, so the caller sees it as unchanged). What the
 * client sent is the record: its body (jsonb equality ignores key order and
 * spacing) and type. occurred_at is not compared: when the body names no time
 * it is the time of receipt, new at every post of the same record; when the
 * body names one, the body differs anyway. */
#define EVENT_UPSERT                                                                               \
    " ON CONFLICT (id) DO UPDATE SET external_id = excluded.external_id, type = excluded.type, "   \
    "occurred_at = excluded.occurred_at, body = excluded.body, fingerprint = "                     \
    "excluded.fingerprint, version = events.version + 1, updated_at = excluded.received_at "       \
    "WHERE (events.type, events.body) IS DISTINCT FROM (excluded.type, excluded.body) " /* Ids are \
                                                                                           named   \
                                                                                           within  \
                                                                                           their   \
                                                                                           tenant, \
                                                                                           so this \
                                                                                           holds;  \
                                                                                           never   \
                                                                                           cross   \
                                                                                           it. */  \
    "AND events.tenant = excluded.tenant "                                                         \
    "RETURNING id::text, xmax = 0"

/* As jsonb compares bodies: the same JSON written another way (key order,
 * spacing) is the same body. Only versions of one id within a batch are
 * compared, so the parse is rare. */
static bool same_body(const struct persist_event *a, const struct persist_event *b)
{
    if (a->f.body_len == b->f.body_len && memcmp(a->f.body, b->f.body, a->f.body_len) == 0)
        return true;
    json_t *x = json_loadb(a->f.body, a->f.body_len, 0, NULL);
    json_t *y = json_loadb(b->f.body, b->f.body_len, 0, NULL);
    bool same = x && y && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

static bool same_content(const struct persist_event *a, const struct persist_event *b)
{
    return (a->f.type && b->f.type ? strcmp(a->f.type, b->f.type) == 0 : a->f.type == b->f.type) &&
           same_body(a, b);
}

/* Items are in one array, so pointer order is batch order. */
static int by_id_then_position(const void *x, const void *y)
{
    const struct persist_item *i = *(struct persist_item *const *)x;
    const struct persist_item *j = *(struct persist_item *const *)y;
    int c = strcmp(event_of(i)->f.id, event_of(j)->f.id);
    return c ? c : (i > j) - (i < j);
}

static int by_id(const void *key, const void *elem)
{
    return strcmp(key, event_of(*(struct persist_item *const *)elem)->f.id);
}

/* Each written item's outcome, from the rows the upsert returned (inserted or
 * updated; an id it did not return was already stored as it is). Items of one
 * id in one batch are versions in order: the first is judged against the
 * table, each later one against the one before it. */
static int set_outcomes(struct persist_batch *b, const PGresult *res)
{
    size_t n = 0;
    struct persist_item **order = malloc((b->count ? b->count : 1) * sizeof(*order));
    if (!order)
        return -1;
    for (size_t i = 0; i < b->count; i++) {
        if (persist_item_writable(&b->items[i])) {
            b->items[i].outcome = PERSIST_UNCHANGED;
            order[n++] = &b->items[i];
        }
    }
    qsort(order, n, sizeof(*order), by_id_then_position);
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        struct persist_item **hit = bsearch(id, order, n, sizeof(*order), by_id);
        while (hit && hit > order && strcmp(event_of(hit[-1])->f.id, id) == 0)
            hit--;
        if (hit)
            (*hit)->outcome =
                strcmp(PQgetvalue(res, r, 1), "t") == 0 ? PERSIST_CREATED : PERSIST_UPDATED;
    }
    for (size_t k = 1; k < n; k++) {
        if (strcmp(event_of(order[k - 1])->f.id, event_of(order[k])->f.id) == 0)
            order[k]->outcome = same_content(event_of(order[k - 1]), event_of(order[k]))
                                    ? PERSIST_UNCHANGED
                                    : PERSIST_UPDATED;
    }
    free(order);
    return 0;
}

static enum step_result insert_staged(struct batch_ctx *c)
{
    /* One row per id (the batch's last version), or ON CONFLICT DO UPDATE
     * would touch a row twice. */
    PGresult *res = PQexec(c->conn, "INSERT INTO events (" EVENT_COLUMNS
                                    ") SELECT DISTINCT ON (id) " EVENT_COLUMNS
                                    " FROM events_stage ORDER BY id, ord DESC" EVENT_UPSERT);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return persist_step_failed(c, res, "inserting events");
    int rc = set_outcomes(c->b, res);
    PQclear(res);
    if (rc != 0) {
        snprintf(c->err, c->errlen, "out of memory");
        return STEP_TRANSIENT;
    }
    return STEP_OK;
}

/* Every writable row through one COPY statement (into events or the
 * staging table). */
static enum step_result copy_rows(struct batch_ctx *c, const char *copy_sql)
{
    PGresult *res = PQexec(c->conn, copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_IN)
        return persist_step_failed(c, res, "starting COPY");
    PQclear(res);
    struct buf chunk = {0};
    int ok = 1;
    for (size_t i = 0; i < c->b->count && ok == 1; i++) {
        if (!persist_item_writable(&c->b->items[i]))
            continue;
        persist_copy_row(&chunk, event_of(&c->b->items[i]));
        if (chunk.len >= 256 * 1024) {
            ok = PQputCopyData(c->conn, chunk.data, (int)chunk.len);
            buf_reset(&chunk);
        }
    }
    if (ok == 1 && chunk.len)
        ok = PQputCopyData(c->conn, chunk.data, (int)chunk.len);
    buf_free(&chunk);
    if (ok == 1)
        ok = PQputCopyEnd(c->conn, NULL);
    res = PQgetResult(c->conn);
    if (ok != 1 || PQresultStatus(res) != PGRES_COMMAND_OK) {
        enum step_result fr = persist_step_failed(c, res, "COPY");
        while ((res = PQgetResult(c->conn)))
            PQclear(res);
        return fr;
    }
    PQclear(res);
    while ((res = PQgetResult(c->conn)))
        PQclear(res);
    return STEP_OK;
}

/* Whether every writable row is a new event: no id twice in the batch and
 * none stored already (committed; one a replica writes meanwhile makes the
 * COPY fail, and the upsert sorts it out). */
static enum step_result all_new(struct batch_ctx *c, bool *fresh)
{
    struct buf ids = {0};
    buf_puts(&ids, "{");
    for (size_t i = 0, n = 0; i < c->b->count; i++) {
        if (persist_item_writable(&c->b->items[i])) {
            /* Ids are UUIDs (both readings check): nothing to quote. */
            buf_puts(&ids, n++ ? "," : "");
            buf_puts(&ids, event_of(&c->b->items[i])->f.id);
        }
    }
    if (buf_puts(&ids, "}") != 0) {
        buf_free(&ids);
        snprintf(c->err, c->errlen, "out of memory");
        return STEP_TRANSIENT;
    }
    const char *params[] = {ids.data};
    PGresult *res = NULL;
    enum step_result r =
        persist_exec(c,
                     "SELECT (SELECT count(DISTINCT u) FROM unnest($1::uuid[]) AS u) = "
                     "cardinality($1::uuid[]) AND NOT EXISTS (SELECT 1 FROM events WHERE id = "
                     "ANY($1::uuid[]))",
                     1, params, &res, "looking up stored events");
    buf_free(&ids);
    if (r == STEP_OK) {
        *fresh = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
    }
    return r;
}

/* All new (an import, a stream of fresh events): COPY straight into events,
 * half the work of staging them (and the trigger enqueues them for search
 * all the same); false in *done when it must be the upsert after all. */
static enum step_result write_new(struct batch_ctx *c, bool *done)
{
    *done = false;
    bool fresh = false;
    enum step_result r = all_new(c, &fresh);
    if (r != STEP_OK || !fresh)
        return r;
    r = persist_exec(c, "SAVEPOINT fresh", 0, NULL, NULL, "savepoint");
    if (r != STEP_OK)
        return r;
    r = copy_rows(c, "COPY events (" EVENT_COLUMNS ") FROM STDIN");
    if (r == STEP_TRANSIENT)
        return r;
    if (r == STEP_DATA_ERROR) {
        /* An id written meanwhile, or a row PostgreSQL refuses: the upsert
         * finds out which (and the batch is isolated row by row if it is
         * refused too). */
        return persist_exec(c, "ROLLBACK TO SAVEPOINT fresh", 0, NULL, NULL,
                            "rollback to savepoint") == STEP_OK
                   ? STEP_OK
                   : STEP_TRANSIENT;
    }
    for (size_t i = 0; i < c->b->count; i++) {
        if (persist_item_writable(&c->b->items[i]))
            c->b->items[i].outcome = PERSIST_CREATED;
    }
    *done = true;
    return persist_exec(c, "RELEASE SAVEPOINT fresh", 0, NULL, NULL, "release savepoint");
}

/* The fast path: new rows straight through COPY; otherwise all writable rows
 * through COPY into a staging table, then one upsert. */
static enum step_result write_copy(struct batch_ctx *c)
{
    bool done = false;
    enum step_result r = write_new(c, &done);
    if (r != STEP_OK || done)
        return r;
    r = persist_exec(
        c,
        "CREATE TEMP TABLE IF NOT EXISTS events_stage (ord bigserial, id uuid, "
        "external_id text, type text, occurred_at timestamptz, received_at "
        "timestamptz, body jsonb, fingerprint text, tenant text) ON COMMIT DELETE ROWS",
        0, NULL, NULL, "creating staging table");
    if (r == STEP_OK)
        r = copy_rows(c, "COPY events_stage (" EVENT_COLUMNS ") FROM STDIN");
    return r == STEP_OK ? insert_staged(c) : r;
}

/* One event row: the slow path that isolates a row PostgreSQL refuses. */
static enum step_result write_event(struct batch_ctx *c, struct persist_item *it, bool *created)
{
    char occurred[TIME_STR_LEN], received[TIME_STR_LEN];
    const struct event_scan *ev = &event_of(it)->f;
    time_format(ev->occurred_at_us, occurred);
    time_format(ev->received_at_us, received);
    const char *params[] = {ev->id,   ev->external_id, ev->type,        occurred,
                            received, ev->body,        ev->fingerprint, ev->tenant};
    PGresult *res = NULL;
    enum step_result r = persist_exec(c,
                                      "INSERT INTO events (" EVENT_COLUMNS ") "
                                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)" EVENT_UPSERT,
                                      8, params, &res, "inserting event");
    if (r == STEP_OK) {
        it->outcome = PQntuples(res) == 0                       ? PERSIST_UNCHANGED
                      : strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? PERSIST_CREATED
                                                                : PERSIST_UPDATED;
        *created = it->outcome == PERSIST_CREATED;
        PQclear(res);
    }
    return r;
}

/* Records each request's Idempotency-Key with its body's fingerprint, in the
 * transaction that applies it. A key already recorded with another body makes
 * the request poison (422): ingest refuses such a reuse when it sees it, but
 * two replicas, or one restarted, may both have accepted; the first applied
 * wins and the other goes to the dead-letter topic, never over the first. */
static enum step_result record_keys(struct batch_ctx *c)
{
    json_t *keys = json_array();
    size_t *index = malloc((c->b->count ? c->b->count : 1) * sizeof(*index));
    if (!keys || !index) {
        json_decref(keys);
        free(index);
        snprintf(c->err, c->errlen, "out of memory");
        return STEP_TRANSIENT;
    }
    for (size_t i = 0; i < c->b->count; i++) {
        const struct persist_item *it = &c->b->items[i];
        if (!persist_item_writable(it))
            continue;
        const struct event_scan *ev = &event_of(it)->f;
        if (!ev->idempotency_key || !ev->fingerprint)
            continue;
        /* Keys are the tenant's, as ingest looks them up (tenant_key_owner). */
        char owner[TENANT_KEY_OWNER_MAX];
        tenant_key_owner(ev->tenant, owner);
        index[json_array_size(keys)] = i;
        json_array_append_new(keys,
                              json_pack("{s:s, s:s, s:s, s:s}", "p", owner, "k",
                                        ev->idempotency_key, "f", ev->fingerprint, "id", ev->id));
    }
    enum step_result r = STEP_OK;
    if (json_array_size(keys) == 0)
        goto out;
    char *text = json_dumps(keys, JSON_COMPACT);
    const char *params[] = {text};
    r = persist_exec(c,
                     "INSERT INTO idempotency_keys (principal, collection, key, fingerprint, "
                     "record_id) SELECT v->>'p', 'events', v->>'k', v->>'f', (v->>'id')::uuid "
                     "FROM jsonb_array_elements($1::jsonb) AS v ON CONFLICT DO NOTHING",
                     1, params, NULL, "recording idempotency keys");
    PGresult *res = NULL;
    if (r == STEP_OK)
        r = persist_exec(c,
                         "SELECT (k.n - 1)::int FROM jsonb_array_elements($1::jsonb) "
                         "WITH ORDINALITY AS k(v, n) JOIN idempotency_keys i ON i.principal = "
                         "k.v->>'p' AND i.collection = 'events' AND i.key = k.v->>'k' "
                         "WHERE i.fingerprint <> k.v->>'f'",
                         1, params, &res, "checking idempotency keys");
    free(text);
    if (r != STEP_OK)
        goto out;
    for (int row = 0; row < PQntuples(res); row++) {
        size_t n = (size_t)atoi(PQgetvalue(res, row, 0));
        if (n >= json_array_size(keys))
            continue;
        struct persist_item *it = &c->b->items[index[n]];
        it->poison = true;
        it->reject_status = 422;
        snprintf(it->error, sizeof(it->error),
                 "Idempotency-Key %.64s was already used with a different body; the first body "
                 "was kept",
                 event_of(it)->f.idempotency_key);
    }
    PQclear(res);
out:
    json_decref(keys);
    free(index);
    return r;
}

static void release_event(void *record)
{
    persist_event_release(record);
}

static const char *parse_event(struct persist_item *it)
{
    struct persist_event *ev = it->record;
    it->release = release_event;
    return persist_event_read(it->msg->payload, it->msg->len, ev, it->error, sizeof(it->error)) == 0
               ? ev->f.id
               : NULL;
}

const struct persist_writer persist_writer_events = {
    .record_size = sizeof(struct persist_event),
    .parse = parse_event,
    .prepare = record_keys,
    .write_all = write_copy,
    .write_one = write_event,
};
