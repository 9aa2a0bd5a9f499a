/* dlq: a collection's dead letters, listed and sent back.
 *
 * GET /v1/dlq/{collection} lists what lies on <prefix><collection>.dlq with
 * the reason persist or notify gave (x-error) and where each letter came from
 * (x-source-*). POST /v1/dlq/{collection}/replay sends letters back to their
 * source topic once the cause is fixed. Both read Kafka and PostgreSQL, so
 * they run on the database pool (ROUTE_ON_DB), each wait bounded.
 *
 * A replay claims its letters in dlq_replays before producing them (one
 * statement, so two replays never both send a letter), marks each replayed
 * once Kafka acknowledged it and gives the claim up when Kafka did not. A
 * claim that never became a replay (ingest died in between) is taken again
 * after a minute. A letter is named by its partition, offset and a digest of
 * its key and value, so a new log reusing offsets holds new letters. */
#include "buf.h"
#include "collection.h"
#include "digest.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "reads.h"
#include "routes.h"
#include "timeutil.h"
#include "validate.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DLQ_LIST_DEFAULT 100
#define DLQ_LIST_MAX 1000
#define DLQ_REPLAY_MAX 10000
#define DLQ_READ_MS 10000 /* reading the whole topic */
#define DLQ_ACK_MS 15000  /* Kafka acknowledging a replay */
#define DLQ_DIGEST_LEN 32 /* hex characters kept of the SHA-256 */

struct letter {
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    char *key, *value, *error, *source_topic;
    size_t keylen, len;
    long source_partition;
    long long source_offset;
    char digest[DLQ_DIGEST_LEN + 1];
    bool replayed, acked;
};

struct letters {
    struct letter *items;
    size_t count, cap;
    bool truncated; /* more letters matched than were read */
};

static void letters_free(struct letters *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
        free(l->items[i].error);
        free(l->items[i].source_topic);
    }
    free(l->items);
}

static char *header_dup(const rd_kafka_message_t *m, const char *name)
{
    size_t size;
    const char *v = kafka_header(m, name, &size);
    return v ? strndup(v, size) : NULL;
}

static char *bytes_dup(const void *data, size_t len)
{
    char *out = malloc(len + 1);
    if (out && len)
        memcpy(out, data, len);
    if (out)
        out[len] = '\0';
    return out;
}

/* Which letters a list or a replay takes. */
struct letter_filter {
    const char *error; /* its reason contains this (NULL: any) */
    int64_t since_ms;  /* it went to the dead-letter topic at or after this (0: any) */
};

/* Keeps m when the filter takes it. */
static int letters_add(struct letters *l, const rd_kafka_message_t *m,
                       const struct letter_filter *filter)
{
    if (filter->since_ms && rd_kafka_message_timestamp(m, NULL) < filter->since_ms)
        return 0;
    char *error = header_dup(m, "x-error");
    if (filter->error && (!error || !strstr(error, filter->error))) {
        free(error);
        return 0;
    }
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct letter *items = realloc(l->items, cap * sizeof(*items));
        if (!items) {
            free(error);
            return -1;
        }
        l->items = items;
        l->cap = cap;
    }
    struct letter *t = &l->items[l->count];
    *t = (struct letter){.partition = m->partition, .offset = m->offset, .error = error};
    t->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    t->key = bytes_dup(m->key, m->key_len);
    t->keylen = m->key_len;
    t->value = bytes_dup(m->payload, m->len);
    t->len = m->len;
    t->source_topic = header_dup(m, "x-source-topic");
    char *p = header_dup(m, "x-source-partition"), *o = header_dup(m, "x-source-offset");
    t->source_partition = p ? strtol(p, NULL, 10) : -1;
    t->source_offset = o ? strtoll(o, NULL, 10) : -1;
    free(p);
    free(o);
    l->count++;
    if (!t->key || !t->value)
        return -1;
    char full[DIGEST_HEX_LEN + 1], keylen[24];
    snprintf(keylen, sizeof(keylen), "%zu:", t->keylen);
    struct digest_part parts[] = {
        {keylen, strlen(keylen)}, {t->key, t->keylen}, {t->value, t->len}};
    digest_sha256_hex(parts, 3, full);
    snprintf(t->digest, sizeof(t->digest), "%.*s", DLQ_DIGEST_LEN, full);
    return 0;
}

/* Reads topic from its beginning: every letter the filter takes, up to max
 * (then truncated). -1 with err when Kafka does not answer. */
static int read_letters(struct ingest *app, const char *topic, const struct letter_filter *filter,
                        size_t max, struct letters *out, char *err, size_t errlen)
{
    rd_kafka_t *rk = kafka_reader_new(app->cfg.kafka_brokers, err, errlen);
    if (!rk)
        return -1;
    int ret = -1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(32);
    if (!rkt || rd_kafka_metadata(rk, 0, rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(err, errlen, "Kafka did not describe %s", topic);
        goto out;
    }
    /* Where each partition ends now: letters arriving meanwhile wait for the
     * next call. */
    int64_t *ends = calloc((size_t)md->topics[0].partition_cnt, sizeof(*ends));
    int pending = 0;
    for (int i = 0; ends && i < md->topics[0].partition_cnt; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t low = 0, high = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, 5000) != 0) {
            snprintf(err, errlen, "Kafka did not give the offsets of %s", topic);
            free(ends);
            goto out;
        }
        ends[i] = high;
        if (high > low) {
            rd_kafka_topic_partition_list_add(parts, topic, p)->offset = low;
            pending++;
        }
    }
    if (!ends || (pending && rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR)) {
        snprintf(err, errlen, "cannot read %s", topic);
        free(ends);
        goto out;
    }
    int64_t deadline = time_now_us() + DLQ_READ_MS * 1000LL;
    while (pending > 0 && time_now_us() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        int idx = -1;
        for (int i = 0; i < md->topics[0].partition_cnt; i++)
            idx = md->topics[0].partitions[i].id == m->partition ? i : idx;
        if (!m->err && idx >= 0 && m->offset < ends[idx]) {
            if (out->count >= max)
                out->truncated = true;
            else if (letters_add(out, m, filter) != 0)
                pending = -1;
            if (m->offset + 1 >= ends[idx])
                pending--;
        }
        rd_kafka_message_destroy(m);
        if (out->truncated)
            break;
    }
    free(ends);
    if (pending > 0)
        snprintf(err, errlen, "reading %s took longer than %d ms", topic, DLQ_READ_MS);
    else if (pending < 0)
        snprintf(err, errlen, "out of memory");
    else
        ret = 0;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return ret;
}

/* Marks the letters already replayed; false when PostgreSQL did not answer. */
static bool mark_replayed(struct ingest *app, const char *topic, struct letters *l, bool *transient)
{
    const char *params[] = {topic};
    PGresult *res = reads_query(app,
                                "SELECT partition, \"offset\", digest FROM dlq_replays "
                                "WHERE dlq_topic = $1 AND replayed_at IS NOT NULL",
                                1, params, transient);
    if (!res)
        return false;
    for (int r = 0; r < PQntuples(res); r++) {
        long p = strtol(PQgetvalue(res, r, 0), NULL, 10);
        long long o = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        for (size_t i = 0; i < l->count; i++) {
            struct letter *t = &l->items[i];
            if (t->partition == p && t->offset == o &&
                strcmp(t->digest, PQgetvalue(res, r, 2)) == 0)
                t->replayed = true;
        }
    }
    PQclear(res);
    return true;
}

static json_t *letter_json(const struct letter *t)
{
    char at[TIME_STR_LEN];
    time_format(t->timestamp_ms * 1000, at);
    json_t *o = json_pack("{s:i, s:I, s:s, s:s?, s:b}", "partition", (int)t->partition, "offset",
                          (json_int_t)t->offset, "timestamp", at, "error", t->error, "replayed",
                          t->replayed);
    json_t *key = json_stringn(t->key, t->keylen);
    json_object_set_new(o, "key", key ? key : json_null());
    json_t *value = json_stringn(t->value, t->len);
    if (value) {
        json_object_set_new(o, "value", value);
    } else {
        /* Not UTF-8 text: the bytes as base64. */
        char *b64 = malloc(4 * ((t->len + 2) / 3) + 1);
        if (b64) {
            EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)t->value, (int)t->len);
            json_object_set_new(o, "value_base64", json_string(b64));
        }
        free(b64);
    }
    if (t->source_topic)
        json_object_set_new(o, "source",
                            json_pack("{s:s, s:i, s:I}", "topic", t->source_topic, "partition",
                                      (int)t->source_partition, "offset",
                                      (json_int_t)t->source_offset));
    return o;
}

/* The collection named by the path, its DLQ topic into topic; NULL after
 * answering 404. */
static const struct collection *path_collection(struct request *req, char *topic, size_t len,
                                                enum MHD_Result *answered)
{
    const struct collection *c = collection_find(req->param);
    if (!c) {
        *answered = http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "Unknown collection",
                                         "No collection has this name; its dead letters would "
                                         "be on <prefix><collection>.dlq.",
                                         NULL, NULL);
        return NULL;
    }
    kafka_topic_name(topic, len, req->app->cfg.topic_prefix, c->name, true);
    return c;
}

static enum MHD_Result kafka_unavailable(struct request *req, const char *why)
{
    log_warn("dead letters not readable", "detail", why);
    const char *headers[] = {"Retry-After", "1", NULL};
    return http_respond_problem(req, MHD_HTTP_SERVICE_UNAVAILABLE, "kafka-unavailable",
                                "Kafka unavailable", why, NULL, headers);
}

static enum MHD_Result dlq_get(struct request *req)
{
    char topic[INGEST_TOPIC_MAX], err[256];
    enum MHD_Result ret;
    if (!path_collection(req, topic, sizeof(topic), &ret))
        return ret;
    const char *limit_text = http_query(req, "limit");
    char *end = NULL;
    long limit = limit_text ? strtol(limit_text, &end, 10) : DLQ_LIST_DEFAULT;
    if (limit_text && (!*limit_text || *end || limit < 1 || limit > DLQ_LIST_MAX)) {
        struct problem_errors pe = {0};
        problem_errors_add(&pe, "#/query/limit", "must be an integer from 1 to %d", DLQ_LIST_MAX);
        ret = http_respond_problem(req, MHD_HTTP_BAD_REQUEST, "invalid-query", "Invalid query",
                                   "limit is out of range.", &pe, NULL);
        problem_errors_free(&pe);
        return ret;
    }
    struct letter_filter filter = {.error = http_query(req, "error")};
    const char *since = http_query(req, "since");
    int64_t since_us;
    if (since && (time_parse(since, &since_us) != 0 || since_us < 0)) {
        struct problem_errors pe = {0};
        problem_errors_add(&pe, "#/query/since",
                           "must be a date (2024-05-01) or RFC 3339 date-time");
        ret = http_respond_problem(req, MHD_HTTP_BAD_REQUEST, "invalid-query", "Invalid query",
                                   "since is not a time.", &pe, NULL);
        problem_errors_free(&pe);
        return ret;
    }
    filter.since_ms = since ? since_us / 1000 : 0;
    struct letters l = {0};
    bool transient;
    if (read_letters(req->app, topic, &filter, (size_t)limit, &l, err, sizeof(err)) != 0) {
        letters_free(&l);
        return kafka_unavailable(req, err);
    }
    if (!mark_replayed(req->app, topic, &l, &transient)) {
        letters_free(&l);
        return reads_failed(req, transient);
    }
    json_t *items = json_array();
    for (size_t i = 0; i < l.count; i++)
        json_array_append_new(items, letter_json(&l.items[i]));
    json_t *doc =
        json_pack("{s:s, s:o, s:b}", "topic", topic, "letters", items, "truncated", l.truncated);
    letters_free(&l);
    return http_respond_json(req, MHD_HTTP_OK, doc, NULL);
}

/* "{a,b,...}" of each letter's field, for unnest($n::type[]). */
static void array_of(const struct letters *l, const bool *pick, char field, struct buf *out)
{
    buf_reset(out);
    buf_puts(out, "{");
    bool first = true;
    for (size_t i = 0; i < l->count; i++) {
        const struct letter *t = &l->items[i];
        if (!pick[i])
            continue;
        if (!first)
            buf_puts(out, ",");
        first = false;
        if (field == 'p')
            buf_printf(out, "%d", (int)t->partition);
        else if (field == 'o')
            buf_printf(out, "%lld", (long long)t->offset);
        else if (field == 'd')
            buf_puts(out, t->digest);
        else /* topic names are [A-Za-z0-9._-]: nothing to quote */
            buf_printf(out, "\"%s\"", t->source_topic);
    }
    buf_puts(out, "}");
}

/* Runs one of the statements below over the picked letters; the rows it
 * returns (partition, offset) set claimed[]. */
static bool over_letters(struct ingest *app, const char *sql, const char *topic,
                         const struct letters *l, const bool *pick, bool *claimed, bool *transient)
{
    struct buf a[4] = {0};
    array_of(l, pick, 'p', &a[0]);
    array_of(l, pick, 'o', &a[1]);
    array_of(l, pick, 'd', &a[2]);
    array_of(l, pick, 't', &a[3]);
    const char *params[] = {topic, a[0].data, a[1].data, a[2].data, a[3].data};
    PGresult *res = reads_query(app, sql, 5, params, transient);
    for (int i = 0; i < 4; i++)
        buf_free(&a[i]);
    if (!res)
        return false;
    for (int r = 0; claimed && r < PQntuples(res); r++) {
        long p = strtol(PQgetvalue(res, r, 0), NULL, 10);
        long long o = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        for (size_t i = 0; i < l->count; i++)
            claimed[i] |= pick[i] && l->items[i].partition == p && l->items[i].offset == o;
    }
    PQclear(res);
    return true;
}

#define LETTERS_UNNEST "unnest($2::int[], $3::bigint[], $4::text[], $5::text[]) AS v(p, o, d, s)"

static const char claim_sql[] =
    "INSERT INTO dlq_replays AS r (dlq_topic, partition, \"offset\", digest, source_topic, "
    "claimed_at) SELECT $1, p, o, d, s, now() FROM " LETTERS_UNNEST " "
    "ON CONFLICT (dlq_topic, partition, \"offset\", digest) DO UPDATE SET claimed_at = now() "
    "WHERE r.replayed_at IS NULL AND r.claimed_at < now() - interval '1 minute' "
    "RETURNING partition, \"offset\"";
static const char done_sql[] =
    "UPDATE dlq_replays r SET replayed_at = now() FROM " LETTERS_UNNEST " "
    "WHERE r.dlq_topic = $1 AND r.partition = v.p AND r.\"offset\" = v.o AND r.digest = v.d "
    "RETURNING r.partition, r.\"offset\"";
static const char give_up_sql[] =
    "DELETE FROM dlq_replays r USING " LETTERS_UNNEST " "
    "WHERE r.dlq_topic = $1 AND r.partition = v.p AND r.\"offset\" = v.o AND r.digest = v.d "
    "AND r.replayed_at IS NULL RETURNING r.partition, r.\"offset\"";

static void on_replayed(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct letter *t = m->_private;
    t->acked = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Produces the claimed letters to their source topics and waits for Kafka;
 * acked[] says which it took. */
static int produce_letters(struct ingest *app, const char *topic, struct letters *l,
                           const bool *claimed, const char *fallback_topic, char *err,
                           size_t errlen)
{
    rd_kafka_t *rk =
        kafka_producer_new(app->cfg.kafka_brokers, DLQ_ACK_MS, KAFKA_COMPRESS_LARGE_BATCHES,
                           on_replayed, NULL, err, errlen);
    if (!rk)
        return -1;
    for (size_t i = 0; i < l->count; i++) {
        struct letter *t = &l->items[i];
        if (!claimed[i])
            continue;
        char from[INGEST_TOPIC_MAX + 48];
        snprintf(from, sizeof(from), "%s/%d/%lld", topic, (int)t->partition, (long long)t->offset);
        rd_kafka_headers_t *h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, "x-replayed-from", -1, from, -1);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(t->source_topic ? t->source_topic : fallback_topic),
            RD_KAFKA_V_KEY(t->key, t->keylen), RD_KAFKA_V_VALUE(t->value, t->len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(t),
            RD_KAFKA_V_END);
        if (e)
            rd_kafka_headers_destroy(h);
    }
    rd_kafka_flush(rk, DLQ_ACK_MS + 1000);
    rd_kafka_destroy(rk);
    return 0;
}

static enum MHD_Result dlq_replay(struct request *req)
{
    char topic[INGEST_TOPIC_MAX], fallback[INGEST_TOPIC_MAX], err[256];
    enum MHD_Result ret;
    const struct collection *c = path_collection(req, topic, sizeof(topic), &ret);
    if (!c)
        return ret;
    kafka_topic_name(fallback, sizeof(fallback), req->app->cfg.topic_prefix, c->name, false);
    if (req->body.len && !validate_json_content_type(http_header(req, "Content-Type")))
        return http_respond_problem(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type",
                                    "Unsupported media type",
                                    "Send the replay's options as Content-Type: application/json.",
                                    NULL, NULL);
    json_t *body = req->body.len ? http_body_object(req, &ret) : json_object();
    if (!body)
        return ret;
    json_t *dry = json_object_get(body, "dry_run"), *error = json_object_get(body, "error"),
           *since = json_object_get(body, "since");
    struct problem_errors pe = {0};
    if (dry && !json_is_boolean(dry))
        problem_errors_add(&pe, "/dry_run", "must be a boolean");
    if (error && !json_is_string(error))
        problem_errors_add(&pe, "/error", "must be a string");
    int64_t since_us = 0;
    if (since && (!json_is_string(since) || time_parse(json_string_value(since), &since_us) != 0 ||
                  since_us < 0))
        problem_errors_add(&pe, "/since", "must be a date (2024-05-01) or RFC 3339 date-time");
    if (pe.list) {
        json_decref(body);
        ret = http_respond_problem(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid-replay",
                                   "Invalid replay", "The replay request is not valid.", &pe, NULL);
        problem_errors_free(&pe);
        return ret;
    }
    bool dry_run = json_is_true(dry);
    struct letters l = {0};
    bool transient;
    struct letter_filter filter = {.error = json_string_value(error), .since_ms = since_us / 1000};
    int read = read_letters(req->app, topic, &filter, DLQ_REPLAY_MAX, &l, err, sizeof(err));
    json_decref(body);
    if (read != 0) {
        letters_free(&l);
        return kafka_unavailable(req, err);
    }
    bool *pick = calloc(l.count + 1, sizeof(*pick)), *claimed = calloc(l.count + 1, sizeof(*pick));
    long already = 0, replayed = 0, failed = 0;
    bool db_ok = pick && claimed && mark_replayed(req->app, topic, &l, &transient);
    for (size_t i = 0; db_ok && i < l.count; i++) {
        pick[i] = !l.items[i].replayed;
        already += l.items[i].replayed;
    }
    if (db_ok && !dry_run) {
        db_ok = over_letters(req->app, claim_sql, topic, &l, pick, claimed, &transient);
        if (db_ok &&
            produce_letters(req->app, topic, &l, claimed, fallback, err, sizeof(err)) != 0) {
            log_warn("replay: no producer", "detail", err);
        }
        bool *acked = pick; /* reused: the claimed letters Kafka took, then those it did not */
        for (size_t i = 0; db_ok && i < l.count; i++) {
            acked[i] = claimed[i] && l.items[i].acked;
            replayed += acked[i];
        }
        if (db_ok)
            db_ok = over_letters(req->app, done_sql, topic, &l, acked, NULL, &transient);
        for (size_t i = 0; db_ok && i < l.count; i++) {
            acked[i] = claimed[i] && !l.items[i].acked;
            failed += acked[i];
        }
        if (db_ok && failed)
            db_ok = over_letters(req->app, give_up_sql, topic, &l, acked, NULL, &transient);
    }
    long matched = (long)l.count, would = matched - already;
    bool truncated = l.truncated;
    free(pick);
    free(claimed);
    letters_free(&l);
    if (!db_ok)
        return reads_failed(req, transient);
    if (!dry_run)
        log_info("dead letters replayed", "topic", topic);
    json_t *doc = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:b}", "topic", topic, "dry_run",
                            dry_run, "matched", (json_int_t)matched, "already_replayed",
                            (json_int_t)already, "replayed", (json_int_t)(dry_run ? 0 : replayed),
                            "failed", (json_int_t)failed, "truncated", truncated);
    if (dry_run)
        json_object_set_new(doc, "would_replay", json_integer(would));
    return http_respond_json(req, MHD_HTTP_OK, doc, NULL);
}

/* Dead letters: read from Kafka and PostgreSQL, so on the pool. */
const struct route dlq_routes[] = {
    {"GET", "/v1/dlq/{collection}", SCOPE_ADMIN, dlq_get, NULL, ROUTE_ON_DB, 0},
    {"POST", "/v1/dlq/{collection}/replay", SCOPE_ADMIN, dlq_replay, NULL, ROUTE_ON_DB, 16},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};
