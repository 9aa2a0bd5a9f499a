/* events: POST /v1/events (validate, produce, answer from the delivery report)
 * and the reads GET /v1/events/{id} and GET /v1/events?... served from
 * PostgreSQL. */
#include "events.h"

#include "body.h"
#include "collection.h"
#include "cursor.h"
#include "digest.h"
#include "envelope.h"
#include "http.h"
#include "idemkeys.h"
#include "keyfilter.h"
#include "log.h"
#include "reads.h"
#include "routes.h"
#include "timeutil.h"
#include "validate.h"
#include "write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_LIMIT_DEFAULT 100
#define QUERY_LIMIT_MAX 1000

/* The record id: derived from the body's id (so re-posting or re-importing a
 * record never doubles it), else from the idempotency key, else (imports)
 * from the record's content, else fresh v7. */
static int event_id(const struct event_input *in, json_t *obj, const struct event_options *opt,
                    int64_t now_us, char out[UUID_STR_LEN])
{
    struct uuid u;
    char name[600];
    const char *tenant = opt->origin->tenant;
    if (in->external_id[0]) {
        int n = snprintf(name, sizeof(name), "events\nexternal\n%s", in->external_id);
        tenant_uuid(tenant, name, (size_t)n, out);
    } else if (opt->idem_key) {
        /* Named as before tenants for the default tenant, whose keys'
         * owner is still "anonymous". */
        int n =
            snprintf(name, sizeof(name), TENANT_DEFAULT_KEY_OWNER "\nevents\n%s", opt->idem_key);
        tenant_uuid(tenant, name, (size_t)n, out);
    } else if (opt->content_identity) {
        return collection_content_id(tenant, "events", obj, out);
    } else if (uuid_v7(&u, (uint64_t)(now_us / 1000)) != 0) {
        /* random_bytes cannot fail once the kernel's pool is ready; fall back
         * to a name-based id over the time so the request still gets an id. */
        int n = snprintf(name, sizeof(name), "events\ntime\n%lld", (long long)now_us);
        tenant_uuid(tenant, name, (size_t)n, out);
    } else {
        uuid_format(&u, out);
    }
    return 0;
}

enum stored_state { STORED_ABSENT, STORED_SAME, STORED_DIFFERENT, STORED_UNKNOWN };

/* What PostgreSQL knows of an Idempotency-Key: the fingerprint of the request
 * that first used it and the record it made (into record_id). Persist writes
 * idempotency_keys in the batch that applies the request, so this sees keys
 * of every replica, once persisted. Runs on the database pool (keyed_write_on_pool). */
static enum stored_state stored_key(struct request *req, const char *key, const char *fingerprint,
                                    char stored_fp[65], char record_id[UUID_STR_LEN])
{
    struct ingest *app = req->app;
    char owner[TENANT_KEY_OWNER_MAX];
    write_key_owner(req, owner);
    const char *params[] = {owner, key};
    bool transient;
    PGresult *res = reads_query(app,
                                "SELECT fingerprint, record_id::text FROM idempotency_keys "
                                "WHERE principal = $1 AND collection = 'events' AND key = $2",
                                2, params, &transient);
    if (!res)
        return STORED_UNKNOWN;
    enum stored_state state = STORED_ABSENT;
    if (PQntuples(res) == 1) {
        snprintf(record_id, UUID_STR_LEN, "%s", PQgetvalue(res, 0, 1));
        snprintf(stored_fp, 65, "%s", PQgetvalue(res, 0, 0));
        state = strcmp(PQgetvalue(res, 0, 0), fingerprint) == 0 ? STORED_SAME : STORED_DIFFERENT;
    }
    PQclear(res);
    return state;
}

static int fetch_event(struct ingest *app, const char *tenant, const char *id, json_t **out);

/* Every accepted write's answer, printed: the id is a UUID, nothing to
 * escape, and building a JSON tree to dump it cost more than the rest of
 * the answer. */
static enum MHD_Result respond_accepted(struct request *req)
{
    char location[64];
    snprintf(location, sizeof(location), "/v1/events/%s", req->id);
    const char *headers[] = {"Location", location, NULL};
    enum { ACCEPTED_MAX = sizeof("{\"id\":\"\",\"status\":\"accepted\"}") + UUID_STR_LEN };
    char *body = malloc(ACCEPTED_MAX);
    if (!body)
        return MHD_NO;
    int len = snprintf(body, ACCEPTED_MAX, "{\"id\":\"%s\",\"status\":\"accepted\"}", req->id);
    return http_respond(req, MHD_HTTP_ACCEPTED, "application/json", body, (size_t)len, headers);
}

/* The answer to an event write: 202 unless the client waited for the worker;
 * then 201 for a new record, 200 for a new version of a known one or for one
 * that was already stored as it is ("outcome" says which), 422 when the
 * worker refused it. */
static enum MHD_Result respond_waited(struct request *req, const struct wait_result *r)
{
    const char *applied[] = {"Preference-Applied", "wait", NULL};
    if (r->outcome == WAIT_REJECTED)
        return http_respond_problem(
            req,
            r->status >= 400 && r->status < 500 ? (unsigned)r->status
                                                : MHD_HTTP_UNPROCESSABLE_CONTENT,
            "rejected-by-worker", "Record rejected", r->error, NULL, applied);
    const char *outcome = r->outcome == WAIT_CREATED   ? "created"
                          : r->outcome == WAIT_UPDATED ? "updated"
                          : r->outcome == WAIT_EXISTS  ? "unchanged"
                                                       : NULL;
    if (!outcome)
        return respond_accepted(req);
    json_t *event = NULL;
    if (fetch_event(req->app, req->principal.tenant, req->id, &event) != 0)
        return respond_accepted(req);
    json_object_set_new(event, "outcome", json_string(outcome));
    char location[64];
    snprintf(location, sizeof(location), "/v1/events/%s", req->id);
    const char *headers[] = {"Preference-Applied", "wait", "Location", location, NULL};
    return http_respond_json(req, r->outcome == WAIT_CREATED ? MHD_HTTP_CREATED : MHD_HTTP_OK,
                             event, headers);
}

char *events_envelope(json_t *obj, const char *raw, size_t rawlen, const struct event_options *opt,
                      char id[UUID_STR_LEN], char fingerprint[65], struct problem_errors *pe,
                      size_t *len, bool *named)
{
    struct event_input in;
    int64_t now = time_now_us();
    if (validate_event(obj, now, opt->time_field, &in, pe) > 0)
        return NULL;
    /* Only a key is ever compared with the body it came with: without one,
     * no fingerprint (null in the envelope and the row). */
    fingerprint[0] = '\0';
    if (opt->idem_key) {
        struct digest_part part = {raw, rawlen};
        digest_sha256_hex(&part, 1, fingerprint);
    }
    if (event_id(&in, obj, opt, now, id) != 0)
        return NULL;
    if (named)
        *named = in.external_id[0] != '\0';
    /* The body is spliced in as received, but for a byte order mark, which
     * is not JSON inside the envelope. */
    body_skip_bom(&raw, &rawlen);
    struct event_fields f = {
        .id = id,
        .origin = opt->origin,
        .fingerprint = fingerprint[0] ? fingerprint : NULL,
        .idempotency_key = opt->idem_key,
        .external_id = in.external_id[0] ? in.external_id : NULL,
        .type = in.type,
        .received_at_us = now,
        .occurred_at_us = in.occurred_at_us,
        .body = obj,
        .body_text = raw,
        .body_len = rawlen,
    };
    return envelope_build_event(&f, len);
}

/* A record named by its body's id may come again as a new version, and its
 * versions must stay in order: its message is keyed by the id. Every other
 * write (a fresh UUIDv7, or an id derived from an Idempotency-Key, whose
 * retries carry the same body and collapse wherever they land, persist
 * checking the key on insert) goes unkeyed, so the sticky partitioner fills
 * one batch at a time (KIP-480) instead of spreading single messages over
 * every partition. value is stolen. */
static enum MHD_Result produce_event(struct request *req, bool named, char *value, size_t len,
                                     int wait_s)
{
    return write_start(req, ingest_topic(req->app, "events"), named ? req->id : NULL,
                       named ? strlen(req->id) : 0, value, len, wait_s, respond_waited);
}

/* A keyed write: its claim in the replica's key index, settled when the
 * request completes (a 2xx means Kafka holds the write, and the key stays
 * known; anything else that it may not, so the claim is dropped and a retry
 * can produce), and what the write needs once the database has spoken. */
struct keyed_write {
    struct idemkeys *ix;
    uint64_t ticket;
    char key[320]; /* principal, collection and header key: the index's name for it */
    char header_key[VALIDATE_ID_MAX + 1];
    enum idem_claim claim;
    char fingerprint[DIGEST_HEX_LEN + 1];
    char stored_id[UUID_STR_LEN];
    char *value; /* the envelope, owned until write_start takes it */
    bool named;  /* the body has its own id (events_envelope) */
    size_t len;
    int wait_s;
};

static void keyed_write_release(struct request *req)
{
    struct keyed_write *kw = req->handler_state;
    if (kw->ticket)
        idemkeys_settle(kw->ix, kw->key, kw->ticket, req->status >= 200 && req->status < 300);
    free(kw->value);
    free(kw);
    req->handler_state = NULL;
}

static enum MHD_Result key_reused(struct request *req)
{
    return http_respond_problem(
        req, MHD_HTTP_UNPROCESSABLE_CONTENT, "idempotency-key-reused", "Idempotency key reused",
        "This Idempotency-Key was already used with a different body; the first body is kept. "
        "Use a new key for a new event.",
        NULL, NULL);
}

static enum MHD_Result keyed_produce(struct request *req, struct keyed_write *kw)
{
    char *value = kw->value;
    kw->value = NULL;
    return produce_event(req, kw->named, value, kw->len, kw->wait_s);
}

/* The rest of a keyed write, on the database pool: a key this replica does
 * not know is asked of PostgreSQL; a write acknowledged before is answered
 * as the first time, with its id, producing nothing (a client that waits is
 * answered from PostgreSQL when the record is there, else the write goes
 * again, same id, so the wait has an outcome to report). */
static enum MHD_Result keyed_write_on_pool(struct request *req)
{
    struct keyed_write *kw = req->handler_state;
    if (kw->claim == IDEM_FIRST) {
        metric_add(&req->app->metrics[M_IDEM_LOOKED_UP], 1);
        char stored_fp[DIGEST_HEX_LEN + 1];
        enum stored_state st =
            stored_key(req, kw->header_key, kw->fingerprint, stored_fp, kw->stored_id);
        if (st == STORED_SAME || st == STORED_DIFFERENT) {
            /* The claim becomes what PostgreSQL says, so the next retry of
             * either body is answered from memory. */
            idemkeys_learn(kw->ix, kw->key, kw->ticket, stored_fp, kw->stored_id);
            kw->ticket = 0;
            kw->claim = st == STORED_SAME ? IDEM_DONE : IDEM_CONFLICT;
        }
    }
    if (kw->claim == IDEM_CONFLICT)
        return key_reused(req);
    if (kw->claim == IDEM_DONE) {
        snprintf(req->id, sizeof(req->id), "%s", kw->stored_id);
        json_t *event = NULL;
        if (kw->wait_s <= 0)
            return respond_accepted(req);
        if (fetch_event(req->app, req->principal.tenant, req->id, &event) == 0) {
            json_decref(event);
            struct wait_result done = {.outcome = WAIT_EXISTS};
            return respond_waited(req, &done);
        }
    }
    return keyed_produce(req, kw);
}

/* A key new to this replica that PostgreSQL cannot hold either, by the
 * replica's filter: produced without a round trip. Any other answer is
 * the database's to give (keyed_write_on_pool). */
static bool surely_new(struct ingest *app, const char *name)
{
    if (keyfilter_claim(app->keyfilter, name) != KEYFILTER_NEW)
        return false;
    metric_add(&app->metrics[M_IDEM_FILTERED], 1);
    return true;
}

static enum MHD_Result events_post(struct request *req)
{
    const char *idem_key;
    enum MHD_Result ret;
    if (!http_write_preconditions(req, "event", &idem_key, &ret))
        return ret;
    const char *time_field = http_query(req, "time_field");
    char why[160];
    if (time_field && !validate_time_field(time_field, why, sizeof(why))) {
        struct problem_errors qe = {0};
        problem_errors_add(&qe, "#/query/time_field", "%s", why);
        ret = http_respond_problem(
            req, MHD_HTTP_BAD_REQUEST, "invalid-query", "Invalid query parameters",
            "time_field must be a JSON Pointer (RFC 6901) such as /date.", &qe, NULL);
        problem_errors_free(&qe);
        return ret;
    }
    json_t *body = http_body_object(req, &ret);
    if (!body)
        return ret;

    struct problem_errors pe = {0};
    char fingerprint[DIGEST_HEX_LEN + 1];
    size_t len;
    bool named = false;
    struct envelope_origin origin = write_origin(req);
    struct event_options opt = {.idem_key = idem_key, .time_field = time_field, .origin = &origin};
    char *value = events_envelope(body, req->body.data, req->body.len, &opt, req->id, fingerprint,
                                  &pe, &len, &named);
    if (!value) {
        ret = pe.count ? http_respond_problem(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "validation",
                                              "Invalid event", "One or more fields are invalid.",
                                              &pe, NULL)
                       : http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                              "Internal error", "Could not encode the event.", NULL,
                                              NULL);
        goto out;
    }
    int wait_s = waiters_parse_prefer(http_header(req, "Prefer"));
    if (!idem_key) {
        ret = produce_event(req, named, value, len, wait_s);
        goto out;
    }

    /* IETF Idempotency-Key draft: a retry gets the first answer; another body
     * under the same key is a 422, also while the first is in flight. The
     * replica's index is asked first and claims the key atomically, so two
     * requests racing on two HTTP threads cannot both pass as first; a key
     * this replica does not know is produced at once when the filter of
     * stored keys (keyfilter.h) says PostgreSQL cannot hold it; otherwise
     * (or for a waited retry) the database is asked, on the pool, off the
     * event thread. Across replicas the worker has the last word
     * (idempotency_keys). */
    struct keyed_write *kw = calloc(1, sizeof(*kw));
    if (!kw) {
        ret = http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                   "Internal error", "Out of memory.", NULL, NULL);
        free(value);
        goto out;
    }
    kw->ix = req->app->idemkeys;
    char owner[TENANT_KEY_OWNER_MAX];
    write_key_owner(req, owner);
    snprintf(kw->key, sizeof(kw->key), "%s\nevents\n%s", owner, idem_key);
    snprintf(kw->header_key, sizeof(kw->header_key), "%s", idem_key);
    snprintf(kw->fingerprint, sizeof(kw->fingerprint), "%s", fingerprint);
    kw->value = value;
    kw->len = len;
    kw->named = named;
    kw->wait_s = wait_s;
    kw->claim = idemkeys_claim(kw->ix, kw->key, fingerprint, req->id, time_now_us(), kw->stored_id,
                               &kw->ticket);
    req->handler_state = kw;
    req->handler_release = keyed_write_release;
    if (kw->claim == IDEM_CONFLICT) {
        ret = key_reused(req);
    } else if (kw->claim == IDEM_DONE && wait_s <= 0) {
        snprintf(req->id, sizeof(req->id), "%s", kw->stored_id);
        ret = respond_accepted(req);
    } else if (kw->claim == IDEM_IN_FLIGHT ||
               (kw->claim == IDEM_FIRST && surely_new(req->app, kw->key))) {
        ret = keyed_produce(req, kw);
    } else {
        http_defer(req, keyed_write_on_pool, NULL);
        ret = MHD_YES;
    }
out:
    problem_errors_free(&pe);
    json_decref(body);
    return ret;
}

/* Columns every read selects, in this order. */
#define EVENT_COLUMNS                                                                              \
    "id::text, external_id, type, "                                                                \
    "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "               \
    "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), body::text, "   \
    "(extract(epoch FROM occurred_at) * 1000000)::bigint"

static json_t *text_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* One row as the API's event object; a new reference. */
static json_t *event_row(const PGresult *res, int row)
{
    json_t *body = json_loads(PQgetvalue(res, row, 5), 0, NULL);
    return json_pack("{s:s, s:o, s:o, s:s, s:s, s:o}", "id", PQgetvalue(res, row, 0), "external_id",
                     text_or_null(res, row, 1), "type", text_or_null(res, row, 2), "occurred_at",
                     PQgetvalue(res, row, 3), "received_at", PQgetvalue(res, row, 4), "body",
                     body ? body : json_null());
}

/* Reads one event by its Sluice id as the API's object (a new reference). */
static int fetch_event(struct ingest *app, const char *tenant, const char *id, json_t **out)
{
    const char *params[] = {id, tenant};
    bool transient;
    PGresult *res =
        reads_query(app, "SELECT " EVENT_COLUMNS " FROM events WHERE id = $1::uuid AND tenant = $2",
                    2, params, &transient);
    int rc = -1;
    if (res && PQntuples(res) == 1) {
        *out = event_row(res, 0);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

static enum MHD_Result events_get(struct request *req)
{
    struct uuid u;
    bool is_uuid = uuid_parse(req->param, &u) == 0;
    if (!validate_utf8(req->param))
        return http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "Event not found",
                                    "No event has this id or external id.", NULL, NULL);
    /* $1 is text throughout: an external id may look like a UUID. */
    const char *sql = is_uuid ? "SELECT " EVENT_COLUMNS " FROM events WHERE tenant = $2 AND "
                                "(external_id = $1::text OR id = $1::text::uuid) "
                                "ORDER BY id = $1::text::uuid DESC LIMIT 1"
                              : "SELECT " EVENT_COLUMNS " FROM events WHERE tenant = $2 AND "
                                "external_id = $1 LIMIT 1";
    const char *params[] = {req->param, req->principal.tenant};
    bool transient;
    PGresult *res = reads_query(req->app, sql, 2, params, &transient);
    enum MHD_Result ret;
    if (!res)
        ret = reads_failed(req, transient);
    else if (PQntuples(res) == 0)
        ret = http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "Event not found",
                                   "No event has this id or external id.", NULL, NULL);
    else
        ret = http_respond_json(req, MHD_HTTP_OK, event_row(res, 0), NULL);
    PQclear(res);
    return ret;
}

struct event_query {
    const char *params[8];
    char storage[2][TIME_STR_LEN];
    int nparams;
    struct buf where; /* " WHERE tenant = $1 AND ...", on events' own columns */
    struct buf sql;
    struct buf like;
    int like_param; /* contains='s pattern, 0 when none */
    long limit;
};

static void query_add(struct event_query *q, const char *cond_fmt, const char *value)
{
    q->params[q->nparams++] = value;
    buf_puts(&q->where, q->nparams == 1 ? " WHERE " : " AND ");
    buf_printf(&q->where, cond_fmt, q->nparams, q->nparams);
}

static void query_time_param(struct event_query *q, struct problem_errors *pe, const char *name,
                             const char *value, const char *cond_fmt, int slot)
{
    int64_t us;
    if (!value)
        return;
    if (time_parse(value, &us) != 0) {
        char pointer[64];
        snprintf(pointer, sizeof(pointer), "#/query/%s", name);
        problem_errors_add(pe, pointer, "must be a date (2024-05-01) or RFC 3339 date-time");
        return;
    }
    time_format(us, q->storage[slot]);
    query_add(q, cond_fmt, q->storage[slot]);
}

/* contains= through the text index (docs/search.md): the events whose
 * indexed text matches and that wait for no reindexing, plus those in the
 * backlog (not indexed yet, or changed since), rechecked against their body.
 * The two are disjoint and one statement, so one snapshot: exactly the events
 * whose body::text is ILIKE the pattern, whatever the indexer has done. Each
 * half is limited and ordered on its own so the planner picks its plan with
 * the limit in view: the trigram index for a rare substring, the keyset
 * index with a lookup per row for a common one. The backlog half is driven
 * by the backlog's ids, one primary-key lookup each (OFFSET 0 keeps the
 * planner from turning it round), never by a scan of events that a poor
 * estimate of the other filters (a cursor's row comparison) could choose. */
static void contains_query(struct event_query *q)
{
    static const char *const cols = "SELECT id, external_id, type, occurred_at, received_at, body "
                                    "FROM events";
    const char *w = q->where.data ? q->where.data : "";
    long n = q->limit + 1;
    int p = q->like_param;
    buf_printf(&q->sql,
               "SELECT " EVENT_COLUMNS " FROM ((%s%s AND id IN (SELECT id FROM event_search "
               "WHERE doc ILIKE $%d) AND id NOT IN (SELECT unnest(ids) FROM "
               "event_search_backlog) ORDER BY occurred_at, id LIMIT %ld) UNION ALL (SELECT e.* "
               "FROM (SELECT DISTINCT unnest(ids) AS pending FROM event_search_backlog) AS b "
               "CROSS JOIN LATERAL (%s%s AND id = b.pending AND body::text ILIKE $%d OFFSET 0) AS "
               "e ORDER BY e.occurred_at, e.id LIMIT %ld)) AS events",
               cols, w, p, n, cols, w, p, n);
}

static enum MHD_Result events_query(struct request *req)
{
    struct event_query q = {.limit = QUERY_LIMIT_DEFAULT};
    struct problem_errors pe = {0};
    /* Every page is the principal's tenant's, whatever else it asks. */
    query_add(&q, "tenant = $%d", req->principal.tenant);

    query_time_param(&q, &pe, "after", http_query(req, "after"), "occurred_at >= $%d::timestamptz",
                     0);
    query_time_param(&q, &pe, "before", http_query(req, "before"), "occurred_at < $%d::timestamptz",
                     1);
    static const char *const text_params[] = {"after", "before", "contains",
                                              "type",  "limit",  "cursor"};
    for (size_t i = 0; i < sizeof(text_params) / sizeof(text_params[0]); i++) {
        const char *v = http_query(req, text_params[i]);
        char pointer[64];
        snprintf(pointer, sizeof(pointer), "#/query/%s", text_params[i]);
        if (v && !validate_utf8(v)) {
            problem_errors_add(&pe, pointer, "is not valid UTF-8");
            goto check;
        }
    }
    const char *contains = http_query(req, "contains");
    if (contains && *contains) {
        reads_like_pattern(contains, &q.like);
        q.params[q.nparams++] = q.like.data;
        q.like_param = q.nparams;
    }
    const char *type = http_query(req, "type");
    if (type && *type)
        query_add(&q, "type = $%d", type);
    struct page_params page;
    reads_page_params(req, QUERY_LIMIT_DEFAULT, QUERY_LIMIT_MAX, &page, &pe);
    q.limit = page.limit;
    if (page.has_cursor) {
        q.params[q.nparams++] = page.after_ts;
        q.params[q.nparams++] = page.after_id;
        buf_puts(&q.where, " AND ");
        buf_printf(&q.where, "(occurred_at, id) > ($%d::timestamptz, $%d::uuid)", q.nparams - 1,
                   q.nparams);
    }
check:;
    enum MHD_Result ret;
    if (pe.count) {
        ret = http_respond_problem(req, MHD_HTTP_BAD_REQUEST, "invalid-query",
                                   "Invalid query parameters",
                                   "One or more query parameters are invalid.", &pe, NULL);
        goto out;
    }
    /* One row more than asked tells whether a next page exists. */
    if (q.like_param)
        contains_query(&q);
    else
        buf_printf(&q.sql, "SELECT " EVENT_COLUMNS " FROM events%s", q.where.data);
    buf_printf(&q.sql, " ORDER BY events.occurred_at, events.id LIMIT %ld", q.limit + 1);

    bool transient;
    PGresult *res = reads_query(req->app, q.sql.data, q.nparams, q.params, &transient);
    ret = res ? http_respond_json(req, MHD_HTTP_OK, reads_page(res, q.limit, event_row, 0, 6), NULL)
              : reads_failed(req, transient);
    PQclear(res);
out:
    problem_errors_free(&pe);
    buf_free(&q.where);
    buf_free(&q.sql);
    buf_free(&q.like);
    return ret;
}

/* A bulk import's record: named by its id, else by its content, so the same
 * file imported twice is the same events (the collection's import). */
static char *events_import(const struct import_record *rec, char id[UUID_STR_LEN], char *why,
                           size_t whylen, size_t *len, bool *keyed)
{
    char fingerprint[65];
    struct problem_errors pe = {0};
    struct event_options opt = {
        .time_field = rec->time_field, .content_identity = true, .origin = rec->origin};
    char *value =
        events_envelope(rec->obj, rec->text, rec->len, &opt, id, fingerprint, &pe, len, keyed);
    if (!value)
        problem_errors_first(&pe, why, whylen);
    problem_errors_free(&pe);
    return value;
}

/* The events collection's endpoints and import: its row's http in lib/collection.c. */
static const struct route endpoints[] = {
    {"POST", "/v1/events", SCOPE_EVENTS_WRITE, events_post, NULL, 0, 0},
    {"GET", "/v1/events", SCOPE_EVENTS_READ, events_query, NULL, ROUTE_ON_DB, 0},
    {"GET", "/v1/events/{id}", SCOPE_EVENTS_READ, events_get, NULL, ROUTE_ON_DB, 0},
    /* Seed compatibility: the original curl lines keep working. */
    {"GET", "/v1/", SCOPE_EVENTS_READ, events_query, NULL, ROUTE_ON_DB, 0},
    {"GET", "/v1/{id}", SCOPE_EVENTS_READ, events_get, NULL, ROUTE_ON_DB, 0},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};
const struct collection_http events_http = {
    .routes = endpoints, .import = events_import, .import_time_field = true};
