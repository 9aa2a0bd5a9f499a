/* assistance: POST /v1/assistance takes a request for help on a topic the
 * routing file knows and produces it to sluice.assistance; sluice-notify
 * records it with one delivery per channel and sends them. GET
 * /v1/assistance/{id} shows the request and where each delivery stands. */
#include "assistance.h"
#include "envelope.h"
#include "http.h"
#include "reads.h"
#include "routes.h"
#include "routing.h"
#include "timeutil.h"
#include "utf8.h"
#include "validate.h"
#include "write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* waited: the client waited for the worker (Preference-Applied: wait). */
static enum MHD_Result answer_written(struct request *req, const struct wait_result *r, bool waited)
{
    char location[64];
    snprintf(location, sizeof(location), "/v1/assistance/%s", req->id);
    const char *applied = waited ? "Preference-Applied" : NULL;
    const char *headers[] = {"Location", location, applied, "wait", NULL};
    if (r->outcome == WAIT_REJECTED)
        return http_respond_problem(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "rejected-by-worker",
                                    "Request rejected", r->error, NULL, headers + 2);
    bool recorded = r->outcome == WAIT_CREATED || r->outcome == WAIT_EXISTS;
    return http_respond_json(
        req, recorded ? MHD_HTTP_CREATED : MHD_HTTP_ACCEPTED,
        json_pack("{s:s, s:s}", "id", req->id, "status", recorded ? "recorded" : "accepted"),
        headers);
}

static enum MHD_Result respond_written(struct request *req, const struct wait_result *r)
{
    return answer_written(req, r, write_waiting(req));
}

/* The topic, lower-cased into out, when the routing file knows it; else adds
 * the problem (naming the known topics) to pe. */
static void check_topic(const struct routing *routing, const json_t *topic,
                        char out[ROUTING_TOPIC_MAX + 1], struct problem_errors *pe)
{
    const char *text = json_string_value(topic);
    if (!text || strlen(text) != json_string_length(topic) || routing_topic_key(text, out) != 0) {
        problem_errors_add(pe, "/topic", "must be a string naming a topic");
        return;
    }
    if (routing_topic_channels(routing, out) == NULL) {
        char known[1024];
        routing_topic_list(routing, known, sizeof(known));
        problem_errors_add(pe, "/topic", "is not a known topic; known topics: %s", known);
    }
}

static void check_description(const json_t *description, struct problem_errors *pe)
{
    const char *text = json_string_value(description);
    if (!json_is_string(description)) {
        problem_errors_add(pe, "/description", "must be a string of 1 to %d characters",
                           ENVELOPE_DESCRIPTION_MAX);
        return;
    }
    size_t chars = utf8_length(text);
    if (strlen(text) != json_string_length(description))
        problem_errors_add(pe, "/description", "must not contain NUL characters");
    else if (chars < 1 || chars > ENVELOPE_DESCRIPTION_MAX)
        problem_errors_add(pe, "/description", "must be 1 to %d characters (it has %zu)",
                           ENVELOPE_DESCRIPTION_MAX, chars);
}

int assistance_validate(const json_t *body, const struct routing *routing,
                        char topic[ROUTING_TOPIC_MAX + 1], struct problem_errors *pe)
{
    topic[0] = '\0';
    check_topic(routing, json_object_get(body, "topic"), topic, pe);
    check_description(json_object_get(body, "description"), pe);
    return pe->count ? -1 : 0;
}

/* Deterministic under an idempotency key, so a retried request is one
 * request; fresh and time-ordered otherwise. */
static int request_uuid(const char *idem_key, const char *tenant, int64_t now_us,
                        char out[UUID_STR_LEN])
{
    struct uuid u;
    if (idem_key) {
        char name[300];
        int n = snprintf(name, sizeof(name), TENANT_DEFAULT_KEY_OWNER "\nassistance\n%s", idem_key);
        tenant_uuid(tenant, name, (size_t)n, out);
        return 0;
    } else if (uuid_v7(&u, (uint64_t)(now_us / 1000)) != 0) {
        return -1;
    }
    uuid_format(&u, out);
    return 0;
}

/* Under an Idempotency-Key: was this id recorded already, and with the same
 * request? 1 same, 0 not recorded (or unknown: the database is away, and the
 * write goes on as usual), -1 another request under the same key. */
static int recorded_before(struct ingest *app, const char *id, const char *topic,
                           const char *description)
{
    const char *params[] = {id, topic, description};
    bool transient;
    PGresult *res = reads_query(app,
                                "SELECT topic = $2 AND description = $3 FROM assistance_requests "
                                "WHERE id = $1::uuid",
                                3, params, &transient);
    int state = 0;
    if (res && PQntuples(res) == 1)
        state = PQgetvalue(res, 0, 0)[0] == 't' ? 1 : -1;
    PQclear(res);
    return state;
}

static enum MHD_Result assistance_post(struct request *req)
{
    const char *idem_key;
    enum MHD_Result ret;
    if (!http_write_preconditions(req, "request", &idem_key, &ret))
        return ret;
    json_t *body = http_body_object(req, &ret);
    if (!body)
        return ret;
    struct problem_errors pe = {0};
    char topic[ROUTING_TOPIC_MAX + 1] = "";
    const json_t *description = json_object_get(body, "description");
    pthread_rwlock_rdlock(&req->app->routing_lock);
    int invalid = assistance_validate(body, req->app->routing, topic, &pe);
    pthread_rwlock_unlock(&req->app->routing_lock);
    if (invalid) {
        ret = http_respond_problem(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "validation",
                                   "Invalid assistance request", "One or more fields are invalid.",
                                   &pe, NULL);
        goto out;
    }
    int64_t now = time_now_us();
    if (request_uuid(idem_key, req->principal.tenant, now, req->id) != 0) {
        ret = http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                   "Internal error", "No random bytes for an id.", NULL, NULL);
        goto out;
    }
    const char *text = json_string_value(description);
    int before = idem_key ? recorded_before(req->app, req->id, topic, text) : 0;
    if (before < 0) {
        ret = http_respond_problem(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "idempotency-key-reused",
                                   "Idempotency key reused",
                                   "This Idempotency-Key was already used for another request; "
                                   "the first one was kept. Use a new key for a new request.",
                                   NULL, NULL);
        goto out;
    }
    if (before > 0) {
        /* A retry of a recorded request: its first answer, nothing produced. */
        bool waits = waiters_parse_prefer(http_header(req, "Prefer")) > 0;
        struct wait_result done = {.outcome = waits ? WAIT_EXISTS : WAIT_PENDING};
        ret = answer_written(req, &done, waits);
        goto out;
    }
    size_t len;
    struct envelope_origin origin = write_origin(req);
    char *value =
        envelope_build_assistance(req->id, &origin, now, topic, text, req->request_id, &len);
    if (!value) {
        ret = http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                   "Internal error", "Could not encode the request.", NULL, NULL);
        goto out;
    }
    ret = write_start(req, ingest_topic(req->app, "assistance"), req->id, strlen(req->id), value,
                      len, waiters_parse_prefer(http_header(req, "Prefer")), respond_written);
out:
    problem_errors_free(&pe);
    json_decref(body);
    return ret;
}

/* One row: the request with its deliveries already shaped by PostgreSQL. */
static const char *const ASSISTANCE_SQL =
    "SELECT json_build_object("
    " 'id', r.id, 'topic', r.topic, 'description', r.description, 'request_id', r.request_id,"
    " 'received_at', to_char(r.received_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " 'deliveries', coalesce((SELECT json_agg(json_build_object("
    "   'channel', d.channel, 'type', d.type, 'status', d.status, 'attempts', d.attempts,"
    "   'last_error', d.last_error, 'fallback', d.fallback, 'delivered_at',"
    "   to_char(d.delivered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    /* When a pending delivery is tried next: an operator chasing one asks. */
    "   'next_attempt_at', CASE WHEN d.status = 'pending' THEN to_char(d.next_attempt_at AT TIME "
    "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END)"
    "   ORDER BY d.fallback, d.created_at, d.channel)"
    "  FROM assistance_deliveries d WHERE d.request_id = r.id), '[]'::json))::text "
    "FROM assistance_requests r WHERE r.id = $1::uuid AND r.tenant = $2";

static enum MHD_Result assistance_get(struct request *req)
{
    struct uuid u;
    if (uuid_parse(req->param, &u) != 0)
        return http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found",
                                    "Assistance request not found",
                                    "Assistance request ids are UUIDs.", NULL, NULL);
    const char *params[] = {req->param, req->principal.tenant};
    bool transient;
    PGresult *res = reads_query(req->app, ASSISTANCE_SQL, 2, params, &transient);
    enum MHD_Result ret;
    if (!res) {
        ret = reads_failed(req, transient);
    } else if (PQntuples(res) == 0) {
        ret = http_respond_problem(
            req, MHD_HTTP_NOT_FOUND, "not-found", "Assistance request not found",
            "No assistance request has this id (an accepted one appears once sluice-notify "
            "has recorded it).",
            NULL, NULL);
    } else {
        /* Re-encoded so every answer of the API has the same compact form. */
        json_t *doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        ret = doc ? http_respond_json(req, MHD_HTTP_OK, doc, NULL)
                  : http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                         "Internal error", "Could not encode the request.", NULL,
                                         NULL);
    }
    PQclear(res);
    return ret;
}

/* The assistance collection's endpoints: its row's http in lib/collection.c. */
static const struct route endpoints[] = {
    /* Looks up an Idempotency-Key's first request before producing. */
    {"POST", "/v1/assistance", SCOPE_ASSISTANCE_REQUEST, assistance_post, NULL, ROUTE_ON_DB, 64},
    {"GET", "/v1/assistance/{id}", SCOPE_ASSISTANCE_READ, assistance_get, NULL, ROUTE_ON_DB, 0},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};
const struct collection_http assistance_http = {.routes = endpoints};
