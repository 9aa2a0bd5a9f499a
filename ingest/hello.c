/* hello: PUT /hello/<username> stores a date of birth; GET answers how long
 * until the next birthday. A 204 promises the write is done, so PUT waits for
 * the worker (5 s unless Prefer: wait says otherwise) and answers 202 only when
 * the time runs out. Everything malformed is a 400, as the original spec says. */
#include "birthday.h"
#include "body.h"
#include "envelope.h"
#include "http.h"
#include "reads.h"
#include "routes.h"
#include "timeutil.h"
#include "validate.h"
#include "write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELLO_DEFAULT_WAIT_S 5

static int64_t today_utc(void)
{
    return time_now_us() / (86400LL * 1000000);
}

static enum MHD_Result bad_request(struct request *req, const char *pointer, const char *detail)
{
    struct problem_errors pe = {0};
    if (pointer)
        problem_errors_add(&pe, pointer, "%s", detail);
    enum MHD_Result ret = http_respond_problem(req, MHD_HTTP_BAD_REQUEST, "invalid-hello",
                                               "Invalid request", detail, &pe, NULL);
    problem_errors_free(&pe);
    return ret;
}

static enum MHD_Result hello_written(struct request *req, const struct wait_result *r)
{
    const char *applied[] = {"Preference-Applied", "wait", NULL};
    bool asked = http_header(req, "Prefer") != NULL;
    switch (r->outcome) {
    case WAIT_CREATED:
    case WAIT_EXISTS:
        return http_respond(req, MHD_HTTP_NO_CONTENT, NULL, NULL, 0, asked ? applied : NULL);
    case WAIT_REJECTED:
        return http_respond_problem(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "rejected-by-worker",
                                    "Record rejected", r->error, NULL, asked ? applied : NULL);
    default:
        break;
    }
    char location[8 + HTTP_PARAM_MAX];
    snprintf(location, sizeof(location), "/hello/%s", req->param);
    const char *headers[] = {"Location", location, NULL};
    return http_respond_json(req, MHD_HTTP_ACCEPTED,
                             json_pack("{s:s, s:s}", "id", req->id, "status", "accepted"), headers);
}

static enum MHD_Result hello_put(struct request *req)
{
    if (!birthday_valid_username(req->param))
        return bad_request(req, NULL, "The username must be 1 to 100 ASCII letters.");
    char detail[400];
    json_t *body = body_parse_object(req->body.data, req->body.len, detail, sizeof(detail));
    if (!body)
        return bad_request(req, NULL, detail);
    const char *dob = json_string_value(json_object_get(body, "dateOfBirth"));
    int y, m, d;
    if (!dob || birthday_parse_date(dob, today_utc(), &y, &m, &d) != 0) {
        json_decref(body);
        return bad_request(req, "/dateOfBirth",
                           "dateOfBirth must be a real YYYY-MM-DD date before today.");
    }
    int64_t now = time_now_us();
    struct uuid u;
    if (uuid_v7(&u, (uint64_t)(now / 1000)) != 0) {
        json_decref(body);
        return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                    "Internal error", "No random bytes for an id.", NULL, NULL);
    }
    uuid_format(&u, req->id);
    size_t len;
    struct envelope_origin origin = write_origin(req);
    char *value = envelope_build_user(req->id, &origin, now, req->param, dob, &len);
    json_decref(body);
    if (!value)
        return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                    "Internal error", "Could not encode the write.", NULL, NULL);
    int wait_s = waiters_parse_prefer(http_header(req, "Prefer"));
    write_answer_without_db(req); /* hello_written reads nothing back */
    return write_start(req, ingest_topic(req->app, "users"), req->param, strlen(req->param), value,
                       len, wait_s > 0 ? wait_s : HELLO_DEFAULT_WAIT_S, hello_written);
}

static enum MHD_Result hello_get(struct request *req)
{
    if (!birthday_valid_username(req->param))
        return bad_request(req, NULL, "The username must be 1 to 100 ASCII letters.");
    const char *params[] = {req->param, req->principal.tenant};
    bool transient;
    PGresult *res = reads_query(req->app,
                                "SELECT extract(month FROM date_of_birth)::int, "
                                "extract(day FROM date_of_birth)::int FROM users "
                                "WHERE username = $1 AND tenant = $2",
                                2, params, &transient);
    enum MHD_Result ret;
    if (!res) {
        ret = reads_failed(req, transient);
    } else if (PQntuples(res) == 0) {
        ret = http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "Unknown user",
                                   "No date of birth is stored for this username.", NULL, NULL);
    } else {
        char message[200];
        int days = birthday_days_until(atoi(PQgetvalue(res, 0, 0)), atoi(PQgetvalue(res, 0, 1)),
                                       today_utc());
        birthday_message(req->param, days, message, sizeof(message));
        ret = http_respond_json(req, MHD_HTTP_OK, json_pack("{s:s}", "message", message), NULL);
    }
    PQclear(res);
    return ret;
}

/* The users collection's endpoints: its row's http in lib/collection.c. */
static const struct route endpoints[] = {
    {"PUT", "/hello/{username}", SCOPE_USERS_WRITE, hello_put, NULL, 0, 4},
    {"GET", "/hello/{username}", SCOPE_USERS_READ, hello_get, NULL, ROUTE_ON_DB, 0},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};
const struct collection_http hello_http = {.routes = endpoints};
