/* persist_events: the events collection's writer. An event's id is its
 * identity: a changed event replaces the stored one as a new version, an
 * identical one changes nothing. The fast path stages a whole batch with COPY
 * and upserts it in one statement; the slow path upserts one row at a time. */
#include "buf.h"
#include "persist_writer.h"
#include "tenant.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct event_envelope *event_of(const struct persist_item *it)
{
    return it->record;
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

void persist_copy_row(struct buf *out, const struct event_envelope *ev)
{
    char occurred[TIME_STR_LEN], received[TIME_STR_LEN];
    time_format(ev->occurred_at_us, occurred);
    time_format(ev->received_at_us, received);
    char *body = json_dumps(ev->body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    copy_field(out, ev->id);
    buf_append(out, "\t", 1);
    copy_field(out, ev->external_id);
    buf_append(out, "\t", 1);
    copy_field(out, ev->type);
    buf_printf(out, "\t%s\t%s\t", occurred, received);
    copy_field(out, body ? body : "{}");
    buf_append(out, "\t", 1);
    copy_field(out, ev->fingerprint);
    buf_append(out, "\t", 1);
    copy_field(out, envelope_tenant(ev->root));
    buf_append(out, "\n", 1);
    free(body);
}

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

static bool same_content(const struct event_envelope *a, const struct event_envelope *b)
{
    return (a->type && b->type ? strcmp(a->type, b->type) == 0 : a->type == b->type) &&
           json_equal(a->body, b->body);
}

/* Items are in one array, so pointer order is batch order. */
static int by_id_then_position(const void *x, const void *y)
{
    const struct persist_item *i = *(struct persist_item *const *)x;
    const struct persist_item *j = *(struct persist_item *const *)y;
    int c = strcmp(event_of(i)->id, event_of(j)->id);
    return c ? c : (i > j) - (i < j);
}

static int by_id(const void *key, const void *elem)
{
    return strcmp(key, event_of(*(struct persist_item *const *)elem)->id);
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
        while (hit && hit > order && strcmp(event_of(hit[-1])->id, id) == 0)
            hit--;
        if (hit)
            (*hit)->outcome =
                strcmp(PQgetvalue(res, r, 1), "t") == 0 ? PERSIST_CREATED : PERSIST_UPDATED;
    }
    for (size_t k = 1; k < n; k++) {
        if (strcmp(event_of(order[k - 1])->id, event_of(order[k])->id) == 0)
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
    PGresult *res =
        PQexec(c->conn, "INSERT INTO events (id, external_id, type, occurred_at, received_at, "
                        "body, fingerprint, tenant) SELECT DISTINCT ON (id) id, external_id, type, "
                        "occurred_at, received_at, body, fingerprint, tenant FROM events_stage "
                        "ORDER BY id, ord DESC" EVENT_UPSERT);
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

/* The fast path: all writable rows through COPY into a staging table, then
 * one upsert. */
static enum step_result write_copy(struct batch_ctx *c)
{
    enum step_result r = persist_exec(
        c,
        "CREATE TEMP TABLE IF NOT EXISTS events_stage (ord bigserial, id uuid, external_id "
        "text, type text, occurred_at timestamptz, received_at timestamptz, body jsonb, "
        "fingerprint text, tenant text) ON COMMIT DELETE ROWS",
        0, NULL, NULL, "creating staging table");
    if (r != STEP_OK)
        return r;
    PGresult *res = PQexec(c->conn, "COPY events_stage (id, external_id, type, occurred_at, "
                                    "received_at, body, fingerprint, tenant) FROM STDIN");
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
    return insert_staged(c);
}

/* One event row: the slow path that isolates a row PostgreSQL refuses. */
static enum step_result write_event(struct batch_ctx *c, struct persist_item *it, bool *created)
{
    char occurred[TIME_STR_LEN], received[TIME_STR_LEN];
    const struct event_envelope *ev = event_of(it);
    time_format(ev->occurred_at_us, occurred);
    time_format(ev->received_at_us, received);
    char *body = json_dumps(ev->body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    const char *params[] = {
        ev->id,          ev->external_id,          ev->type, occurred, received, body,
        ev->fingerprint, envelope_tenant(ev->root)};
    PGresult *res = NULL;
    enum step_result r = persist_exec(c,
                                      "INSERT INTO events (id, external_id, type, occurred_at, "
                                      "received_at, body, fingerprint, tenant) "
                                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)" EVENT_UPSERT,
                                      8, params, &res, "inserting event");
    free(body);
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
        const struct event_envelope *ev = event_of(it);
        if (!ev->idempotency_key || !ev->fingerprint)
            continue;
        /* Keys are the tenant's, as ingest looks them up (tenant_key_owner). */
        char owner[TENANT_KEY_OWNER_MAX];
        tenant_key_owner(envelope_tenant(ev->root), owner);
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
                 event_of(it)->idempotency_key);
    }
    PQclear(res);
out:
    json_decref(keys);
    free(index);
    return r;
}

static const char *parse_event(struct persist_item *it)
{
    struct event_envelope *ev = it->record;
    return envelope_parse_event(it->msg->payload, it->msg->len, ev, it->error, sizeof(it->error)) ==
                   0
               ? ev->id
               : NULL;
}

const struct persist_writer persist_writer_events = {
    .record_size = sizeof(struct event_envelope),
    .parse = parse_event,
    .prepare = record_keys,
    .write_all = write_copy,
    .write_one = write_event,
};
