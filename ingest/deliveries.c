/* deliveries: GET /v1/deliveries lists assistance deliveries across requests
 * (the rows sluice-notify drives, schema/006_assistance.sql), filtered by
 * status and channel, in keyset pages: the operator's "what is failing, and
 * why" without knowing a request id first.
 *
 * A delivery is named by (request, channel), so the order is (created_at,
 * request, channel) and a cursor holds all three: reads_page's cursor holds a
 * time and one UUID, which would skip or repeat the deliveries of one request
 * (recorded in one statement, so at one created_at) across a page boundary. */
#include "buf.h"
#include "http.h"
#include "reads.h"
#include "routes.h"
#include "timeutil.h"
#include "uuid.h"
#include "validate.h"

#include <errno.h>
#include <stdbool.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELIVERIES_LIMIT_DEFAULT 100
#define DELIVERIES_LIMIT_MAX 1000
/* A channel name is 1 to 127 bytes (CHANNEL_NAME_MAX in channels/channel.h,
 * which ingest does not include). */
#define DELIVERY_CHANNEL_MAX 127
/* "<microseconds>/<uuid>/<channel>": 20 + 1 + 36 + 1 + 127 bytes. */
#define CURSOR_PLAIN_MAX (20 + 1 + 36 + 1 + DELIVERY_CHANNEL_MAX)
/* Its base64url, unpadded, and the NUL. */
#define CURSOR_TEXT_MAX ((CURSOR_PLAIN_MAX + 2) / 3 * 4 + 1)

/* The columns row_json reads, in this order. */
#define DELIVERY_COLUMNS                                                                           \
    "d.request_id::text, d.channel, d.type, d.status, d.attempts, d.last_error, d.fallback, "      \
    "CASE WHEN d.status = 'pending' THEN " READS_TIME("d.next_attempt_at") " END, " READS_TIME(    \
        "d.created_at") ", " READS_TIME("d.delivered_at") ", "                                     \
                                                          "r.topic, r.request_id, (extract(epoch " \
                                                          "FROM d.created_at) * 1000000)::bigint"
enum {
    COL_REQUEST,
    COL_CHANNEL,
    COL_TYPE,
    COL_STATUS,
    COL_ATTEMPTS,
    COL_LAST_ERROR,
    COL_FALLBACK,
    COL_NEXT_ATTEMPT,
    COL_CREATED_AT,
    COL_DELIVERED_AT,
    COL_TOPIC,
    COL_CLIENT_REQUEST_ID,
    COL_CREATED_US, /* for the cursor */
};

static const char *const STATUSES[] = {"pending", "delivered", "failed"};

/* A cursor: the last row of a page. */
struct delivery_cursor {
    char created_at[TIME_STR_LEN];
    char request[UUID_STR_LEN];
    char channel[DELIVERY_CHANNEL_MAX + 1];
};

static void cursor_encode_delivery(long long created_us, const char *request, const char *channel,
                                   char out[CURSOR_TEXT_MAX])
{
    char plain[CURSOR_PLAIN_MAX + 1];
    int n = snprintf(plain, sizeof(plain), "%lld/%s/%s", created_us, request, channel);
    if (n < 0 || (size_t)n >= sizeof(plain))
        n = (int)strlen(plain); /* cannot happen: each part is bounded */
    unsigned char b64[CURSOR_TEXT_MAX + 4];
    int len = EVP_EncodeBlock(b64, (const unsigned char *)plain, n);
    while (len > 0 && b64[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++)
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
    out[len] = '\0';
}

/* 0 and *c from a cursor this module made; -1 for anything else. */
static int cursor_decode_delivery(const char *text, struct delivery_cursor *c)
{
    size_t len = strlen(text);
    if (len == 0 || len >= CURSOR_TEXT_MAX || len % 4 == 1)
        return -1;
    char b64[CURSOR_TEXT_MAX + 4];
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
        if (!ok)
            return -1;
        b64[i] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
    }
    size_t pad = (4 - len % 4) % 4;
    memset(b64 + len, '=', pad);
    unsigned char plain[CURSOR_TEXT_MAX];
    int n = EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)(len + pad));
    /* EVP_DecodeBlock counts the padding as zero bytes of output. */
    if (n < 0 || (size_t)n < pad)
        return -1;
    n -= (int)pad;
    plain[n] = '\0';
    if (memchr(plain, '\0', (size_t)n))
        return -1;
    char *s = (char *)plain, *slash = strchr(s, '/');
    if (!slash || slash == s)
        return -1;
    *slash = '\0';
    char *end;
    errno = 0;
    long long us = strtoll(s, &end, 10);
    if (errno || *end || !time_in_range(us))
        return -1;
    char *request = slash + 1, *channel = strchr(request, '/');
    struct uuid u;
    if (!channel || channel - request != UUID_STR_LEN - 1)
        return -1;
    *channel++ = '\0';
    size_t clen = strlen(channel);
    if (uuid_parse(request, &u) != 0 || clen == 0 || clen > DELIVERY_CHANNEL_MAX ||
        !validate_utf8(channel))
        return -1;
    time_format(us, c->created_at);
    uuid_format(&u, c->request);
    memcpy(c->channel, channel, clen + 1);
    return 0;
}

static json_t *text_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* The delivery's id: what its receivers see as webhook-id and Message-ID,
 * the same as sluice-notify names it (envelope_delivery_id). */
static json_t *delivery_id(const char *request, const char *channel)
{
    char id[UUID_STR_LEN];
    return envelope_delivery_id(request, channel, id) == 0 ? json_string(id) : json_null();
}

static json_t *row_json(const PGresult *res, int i)
{
    const char *request = PQgetvalue(res, i, COL_REQUEST);
    const char *channel = PQgetvalue(res, i, COL_CHANNEL);
    return json_pack(
        "{s:o, s:s, s:o, s:o, s:s, s:s, s:s, s:i, s:b, s:o, s:o, s:o, s:o}", "id",
        delivery_id(request, channel), "request", request, "request_id",
        text_or_null(res, i, COL_CLIENT_REQUEST_ID), "topic", text_or_null(res, i, COL_TOPIC),
        "channel", channel, "type", PQgetvalue(res, i, COL_TYPE), "status",
        PQgetvalue(res, i, COL_STATUS), "attempts", atoi(PQgetvalue(res, i, COL_ATTEMPTS)),
        "fallback", PQgetvalue(res, i, COL_FALLBACK)[0] == 't', "last_error",
        text_or_null(res, i, COL_LAST_ERROR), "next_attempt_at",
        text_or_null(res, i, COL_NEXT_ATTEMPT), "created_at", text_or_null(res, i, COL_CREATED_AT),
        "delivered_at", text_or_null(res, i, COL_DELIVERED_AT));
}

/* {"items": [...], "next_cursor": ...} from up to limit + 1 rows. */
static json_t *page_json(const PGresult *res, long limit)
{
    int rows = PQntuples(res);
    int shown = rows > limit ? (int)limit : rows;
    json_t *items = json_array();
    for (int i = 0; i < shown; i++)
        json_array_append_new(items, row_json(res, i));
    json_t *next = json_null();
    if (rows > limit) {
        char c[CURSOR_TEXT_MAX];
        cursor_encode_delivery(strtoll(PQgetvalue(res, shown - 1, COL_CREATED_US), NULL, 10),
                               PQgetvalue(res, shown - 1, COL_REQUEST),
                               PQgetvalue(res, shown - 1, COL_CHANNEL), c);
        next = json_string(c);
    }
    return json_pack("{s:o, s:o}", "items", items, "next_cursor", next);
}

/* The query parameters into sql and params (which point into req and c);
 * each bad one adds a problem. Returns the count of params, or -1 out of
 * memory. */
static int build_query(struct request *req, struct buf *sql, const char *params[5],
                       struct delivery_cursor *c, long *limit, struct problem_errors *pe)
{
    int n = 0, rc = 0;
    *limit = DELIVERIES_LIMIT_DEFAULT;
    static const char *const names[] = {"status", "channel", "limit", "cursor"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = http_query(req, names[i]);
        if (v && !validate_utf8(v)) {
            char pointer[32];
            snprintf(pointer, sizeof(pointer), "#/query/%s", names[i]);
            problem_errors_add(pe, pointer, "is not valid UTF-8");
        }
    }
    if (pe->count)
        return 0;
    rc |= buf_puts(sql, "SELECT " DELIVERY_COLUMNS " FROM assistance_deliveries d"
                        " JOIN assistance_requests r ON r.id = d.request_id WHERE true");
    const char *status = http_query(req, "status");
    if (status && *status) {
        bool known = false;
        for (size_t i = 0; i < sizeof(STATUSES) / sizeof(STATUSES[0]); i++)
            known |= strcmp(status, STATUSES[i]) == 0;
        if (!known)
            problem_errors_add(pe, "#/query/status", "must be pending, delivered or failed");
        params[n++] = status;
        rc |= buf_printf(sql, " AND d.status = $%d", n);
    }
    const char *channel = http_query(req, "channel");
    if (channel && *channel) {
        if (strlen(channel) > DELIVERY_CHANNEL_MAX)
            problem_errors_add(pe, "#/query/channel", "must be a channel name of 1 to %d bytes",
                               DELIVERY_CHANNEL_MAX);
        params[n++] = channel;
        rc |= buf_printf(sql, " AND d.channel = $%d", n);
    }
    const char *limit_text = http_query(req, "limit");
    if (limit_text) {
        char *end;
        errno = 0;
        *limit = strtol(limit_text, &end, 10);
        if (errno || *end || end == limit_text || *limit < 1 || *limit > DELIVERIES_LIMIT_MAX) {
            problem_errors_add(pe, "#/query/limit", "must be an integer from 1 to %d",
                               DELIVERIES_LIMIT_MAX);
            *limit = DELIVERIES_LIMIT_DEFAULT;
        }
    }
    const char *cursor = http_query(req, "cursor");
    if (cursor && *cursor) {
        if (cursor_decode_delivery(cursor, c) != 0) {
            problem_errors_add(pe, "#/query/cursor", "is not a cursor this API returned");
        } else {
            params[n++] = c->created_at;
            params[n++] = c->request;
            params[n++] = c->channel;
            rc |= buf_printf(sql,
                             " AND (d.created_at, d.request_id, d.channel) > "
                             "($%d::timestamptz, $%d::uuid, $%d)",
                             n - 2, n - 1, n);
        }
    }
    /* One row more than asked tells whether a next page exists. */
    rc |= buf_printf(sql, " ORDER BY d.created_at, d.request_id, d.channel LIMIT %ld", *limit + 1);
    return rc ? -1 : n;
}

static enum MHD_Result deliveries_list(struct request *req)
{
    struct problem_errors pe = {0};
    struct buf sql = {0};
    struct delivery_cursor c;
    const char *params[5];
    long limit;
    int n = build_query(req, &sql, params, &c, &limit, &pe);
    enum MHD_Result ret;
    if (pe.count) {
        ret = http_respond_problem(req, MHD_HTTP_BAD_REQUEST, "invalid-query",
                                   "Invalid query parameters",
                                   "One or more query parameters are invalid.", &pe, NULL);
        goto out;
    }
    if (n < 0) {
        ret = reads_failed(req, false);
        goto out;
    }
    bool transient;
    PGresult *res = reads_query(req->app, sql.data, n, params, &transient);
    json_t *page = res ? page_json(res, limit) : NULL;
    if (page)
        ret = http_respond_json(req, MHD_HTTP_OK, page, NULL);
    else
        ret = reads_failed(req, res ? false : transient);
    PQclear(res);
out:
    problem_errors_free(&pe);
    buf_free(&sql);
    return ret;
}

const struct route deliveries_routes[] = {
    {"GET", "/v1/deliveries", SCOPE_ASSISTANCE_READ, deliveries_list, NULL, ROUTE_ON_DB, 0},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};
