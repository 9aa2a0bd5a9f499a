/* epoch: POST /epoch stores {key, epoch, ip} and answers 201 with it once the
 * worker has written it (202 if that takes longer than the wait); GET
 * /epoch/{key} reads it back. ip is the socket peer, or the client behind
 * trusted proxies (netaddr_client) as every X-Forwarded-For line says. */
#include "envelope.h"
#include "http.h"
#include "reads.h"
#include "netaddr.h"
#include "routes.h"
#include "timeutil.h"
#include "write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EPOCH_DEFAULT_WAIT_S 5

/* {"key","epoch","ip"}: epoch as seconds with exactly three decimals, which a
 * double could not promise. Returns heap text. */
static char *epoch_json(const char *key, long long epoch_ms, const char *ip, const char *status)
{
    struct buf b = {0};
    buf_printf(&b, "{\"key\":\"%s\",\"epoch\":%lld.%03lld,\"ip\":\"%s\"", key, epoch_ms / 1000,
               epoch_ms % 1000, ip);
    if (status)
        buf_printf(&b, ",\"status\":\"%s\"", status);
    buf_puts(&b, "}");
    return buf_steal(&b);
}

/* What POST /epoch answers with, kept from epoch_post to epoch_written: the
 * request's handler state, freed by epoch_write_release when it completes. */
struct epoch_write {
    int64_t epoch_ms;                /* what is stored */
    char client_ip[NETADDR_STR_LEN]; /* the caller */
};

static void epoch_write_release(struct request *req)
{
    free(req->handler_state);
    req->handler_state = NULL;
}

static enum MHD_Result epoch_written(struct request *req, const struct wait_result *r)
{
    const struct epoch_write *ew = req->handler_state;
    char location[64];
    snprintf(location, sizeof(location), "/epoch/%s", req->id);
    const char *headers[] = {"Location", location, NULL};
    if (r->outcome == WAIT_REJECTED)
        return http_respond_problem(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "rejected-by-worker",
                                    "Record rejected", r->error, NULL, NULL);
    bool stored = r->outcome == WAIT_CREATED || r->outcome == WAIT_EXISTS;
    char *body = epoch_json(req->id, ew->epoch_ms, ew->client_ip, stored ? NULL : "accepted");
    return http_respond(req, stored ? MHD_HTTP_CREATED : MHD_HTTP_ACCEPTED, "application/json",
                        body, strlen(body), headers);
}

static enum MHD_Result epoch_post(struct request *req)
{
    struct epoch_write *ew = calloc(1, sizeof(*ew));
    if (!ew)
        return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                    "Internal error", "Out of memory.", NULL, NULL);
    /* The request owns it from here: freed when it completes, on any path. */
    req->handler_state = ew;
    req->handler_release = epoch_write_release;
    struct netaddr client;
    if (http_client_address(req, &client) != 0)
        return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                    "Internal error", "Out of memory reading X-Forwarded-For.",
                                    NULL, NULL);
    netaddr_format(&client, ew->client_ip);
    int64_t now = time_now_us();
    ew->epoch_ms = now / 1000;
    struct uuid u;
    if (uuid_v7(&u, (uint64_t)ew->epoch_ms) != 0)
        return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                    "Internal error", "No random bytes for a key.", NULL, NULL);
    uuid_format(&u, req->id);
    size_t len;
    struct envelope_origin origin = write_origin(req);
    char *value = envelope_build_epoch(req->id, &origin, now, ew->epoch_ms, ew->client_ip, &len);
    if (!value)
        return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                    "Internal error", "Could not encode the write.", NULL, NULL);
    int wait_s = waiters_parse_prefer(http_header(req, "Prefer"));
    /* Its 201 is built from the request alone: never queue it behind reads. */
    write_answer_without_db(req);
    return write_start(req, ingest_topic(req->app, "epochs"), req->id, strlen(req->id), value, len,
                       wait_s > 0 ? wait_s : EPOCH_DEFAULT_WAIT_S, epoch_written);
}

static enum MHD_Result epoch_get(struct request *req)
{
    struct uuid u;
    if (uuid_parse(req->param, &u) != 0)
        return http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "Epoch not found",
                                    "Epoch keys are UUIDs.", NULL, NULL);
    const char *params[] = {req->param, req->principal.tenant};
    bool transient;
    PGresult *res = reads_query(req->app,
                                "SELECT key::text, epoch_ms, host(ip) FROM epochs "
                                "WHERE key = $1::uuid AND tenant = $2",
                                2, params, &transient);
    enum MHD_Result ret;
    if (!res) {
        ret = reads_failed(req, transient);
    } else if (PQntuples(res) == 0) {
        ret = http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "Epoch not found",
                                   "No epoch has this key.", NULL, NULL);
    } else {
        char *body = epoch_json(PQgetvalue(res, 0, 0), strtoll(PQgetvalue(res, 0, 1), NULL, 10),
                                PQgetvalue(res, 0, 2), NULL);
        ret = http_respond(req, MHD_HTTP_OK, "application/json", body, strlen(body), NULL);
    }
    PQclear(res);
    return ret;
}

/* The epochs collection's endpoints: its row's http in lib/collection.c. */
static const struct route endpoints[] = {
    {"POST", "/epoch", SCOPE_EPOCHS_WRITE, epoch_post, NULL, 0, 4},
    {"GET", "/epoch/{key}", SCOPE_EPOCHS_READ, epoch_get, NULL, ROUTE_ON_DB, 0},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};
const struct collection_http epoch_http = {.routes = endpoints};
