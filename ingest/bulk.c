/* bulk: POST /v1/bulk?collection=<name> (a collection with an import,
 * collection.h) streams a JSON array or NDJSON
 * (optionally gzip) record by record: each record is validated alone,
 * produced with back-pressure (the upload stops being read while too many
 * records wait for Kafka), and the answer 202 {import_id, accepted, rejected}
 * comes once every produced record is acknowledged. Memory stays flat: one
 * record, one inflate window and the producer's bounded queue.
 * GET /v1/imports/{id} reports progress; persisted is counted by the worker in
 * the transaction that writes the rows.
 *
 * An import outlives its request when the client goes away mid-upload: it is
 * freed by whichever comes last, the request's end or the last delivery
 * report (refs).
 *
 * No HTTP thread ever waits on Kafka: a record the producer queue has no
 * room for is kept (with the ones cut after it, in order) and the upload is
 * parked until delivery reports have made room (see park_full). */
#include "body.h"
#include "envelope.h"
#include "events.h"
#include "http.h"
#include "jsonsplit.h"
#include "log.h"
#include "reads.h"
#include "recipe.h"
#include "collection.h"
#include "routes.h"
#include "timeutil.h"
#include "validate.h"
#include "write.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define IMPORT_ERRORS_KEPT 1000
#define INFLATE_CHUNK 65536
/* Produced but not yet acknowledged records of one import: reading stops at
 * HIGH and starts again at LOW. */
#define OUTSTANDING_HIGH 20000
#define OUTSTANDING_LOW 5000

/* A record cut, checked and enveloped, not yet taken by the producer. */
struct pending {
    struct pending *next;
    size_t index;
    char key[UUID_STR_LEN];
    char *value; /* owned until the producer takes it */
    size_t len;
    rd_kafka_headers_t *hdrs; /* likewise */
};

enum pause_reason { NOT_PAUSED, PAUSED_OUTSTANDING, PAUSED_QUEUE_FULL };

struct import {
    struct dr_target dr; /* first member: the delivery reports' target */
    pthread_mutex_t lock;
    int refs; /* the request + each unacknowledged record + the queue-full list */
    long outstanding, acked, failed;
    enum pause_reason paused; /* the connection is suspended, and why */
    bool finishing, orphaned;
    struct request *req; /* the upload's request; gone once orphaned */
    /* Who imports, into which tenant: the records' envelopes name them. */
    char principal[sizeof(((struct principal *)0)->id)];
    char tenant[TENANT_MAX];
    rd_kafka_t *rk; /* the bulk producer */
    /* Records waiting for room in the producer queue (HTTP thread only). */
    struct pending *pending, **pending_tail;
    /* On the queue-full list (under full_lock): woken once bulk_reports
     * reaches full_wake. full_r0 and full_queued: the count of reports and
     * the queue's length around the refused record. */
    struct import *full_next;
    long full_r0, full_wake;
    int full_queued;
    bool ended; /* the body is all in: the splitter was finished */
    bool cut;   /* ingest began to stop: the rest of the upload was not taken */

    char id[UUID_STR_LEN];
    const struct collection *collection; /* one that can be imported */
    const char *topic;
    bool gzip;
    bool inflate_ready, inflate_done;
    z_stream zs;
    struct jsonsplit split;
    long received, produced, rejected;
    long parsed;                     /* records that were JSON at all (objects or not) */
    char *time_field;                /* the checked ?time_field= pointer, or NULL */
    rd_kafka_resp_err_t first_error; /* of a record Kafka did not take */
    json_t *errors;                  /* the first IMPORT_ERRORS_KEPT {index, message} */
    char first_reason[300];          /* of the first rejected record */
    char fatal[160];
};

static void pending_free(struct pending *p)
{
    free(p->value);
    if (p->hdrs)
        rd_kafka_headers_destroy(p->hdrs);
    free(p);
}

static void import_free(struct import *imp)
{
    while (imp->pending) {
        struct pending *p = imp->pending;
        imp->pending = p->next;
        pending_free(p);
    }
    free(imp->time_field);
    jsonsplit_free(&imp->split);
    if (imp->inflate_ready)
        inflateEnd(&imp->zs);
    json_decref(imp->errors);
    pthread_mutex_destroy(&imp->lock);
    free(imp);
}

/* Drops one reference; the last one frees. */
static void import_unref(struct import *imp)
{
    pthread_mutex_lock(&imp->lock);
    bool last = --imp->refs == 0;
    pthread_mutex_unlock(&imp->lock);
    if (last)
        import_free(imp);
}

static void reject(struct import *imp, size_t index, const char *message)
{
    if (!imp->rejected)
        snprintf(imp->first_reason, sizeof(imp->first_reason), "%s", message);
    imp->rejected++;
    if (json_array_size(imp->errors) < IMPORT_ERRORS_KEPT) {
        json_t *m = json_string(message);
        json_array_append_new(imp->errors, json_pack("{s:I, s:o}", "index", (json_int_t)index,
                                                     "message", m ? m : json_string("invalid")));
    }
}

/* Imports parked because the bulk producer's queue was full, woken from the
 * delivery reports of any import (the queue drains only through them). Lock
 * order: full_lock, then an import's lock. */
static pthread_mutex_t full_lock = PTHREAD_MUTEX_INITIALIZER;
static struct import *full_list;
static atomic_int full_parked;
/* Delivery reports of the bulk producer so far. Counting them, rather than
 * reading the queue's length inside a report (where the messages of the
 * batch being served still count), gives a wake-up that surely comes: every
 * message queued when a record was refused ends in one report. */
static atomic_long bulk_reports;
/* Set once by bulk_close when ingest begins to stop: no upload parks again,
 * what is kept or still coming is not produced. Process-wide like the list
 * above: the parked uploads of every connection are woken together. */
static atomic_bool bulk_stopping;

/* Hands one record to the producer: 0, QUEUE_FULL (the caller keeps p), or
 * another error (p is the caller's to drop). On 0, p's value and headers
 * belong to librdkafka. */
static rd_kafka_resp_err_t try_produce(struct import *imp, struct pending *p)
{
    pthread_mutex_lock(&imp->lock);
    imp->outstanding++; /* before producev: the report may come first */
    imp->refs++;
    pthread_mutex_unlock(&imp->lock);
    /* A variable, not an expression: librdkafka's macro casts its argument
     * unparenthesised. */
    const char *key = p->key[0] ? p->key : NULL;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        imp->rk, RD_KAFKA_V_TOPIC(imp->topic), RD_KAFKA_V_KEY(key, strlen(p->key)),
        RD_KAFKA_V_VALUE(p->value, p->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
        RD_KAFKA_V_HEADERS(p->hdrs), RD_KAFKA_V_OPAQUE(&imp->dr), RD_KAFKA_V_END);
    if (err) {
        pthread_mutex_lock(&imp->lock);
        imp->outstanding--;
        imp->refs--; /* the request still holds one: never the last */
        pthread_mutex_unlock(&imp->lock);
        return err;
    }
    p->value = NULL;
    p->hdrs = NULL;
    imp->produced++;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Produces the kept records in order; false when the queue is still full.
 * Stopping, they are dropped instead: never acknowledged, so the answer says
 * the import is incomplete (503) and the client sends it again. */
static bool drain_pending(struct import *imp)
{
    while (imp->pending) {
        struct pending *p = imp->pending;
        if (atomic_load(&bulk_stopping)) {
            imp->pending = p->next;
            if (!imp->pending)
                imp->pending_tail = &imp->pending;
            imp->cut = true;
            pending_free(p);
            continue;
        }
        long r0 = atomic_load(&bulk_reports);
        rd_kafka_resp_err_t err = try_produce(imp, p);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            imp->full_r0 = r0;
            imp->full_queued = rd_kafka_outq_len(imp->rk);
            return false;
        }
        imp->pending = p->next;
        if (!imp->pending)
            imp->pending_tail = &imp->pending;
        if (err) {
            char why[160];
            snprintf(why, sizeof(why), "Kafka refused the record: %s", rd_kafka_err2str(err));
            reject(imp, p->index, why);
        }
        pending_free(p);
    }
    return true;
}

/* Suspends the upload until the producer queue has room; false (nothing
 * done, try again at once) when it has already: the queue was nearly empty,
 * or enough reports came since the refusal, and none may come any more. */
static bool park_full(struct import *imp)
{
    if (atomic_load(&bulk_stopping))
        return false; /* drain_pending drops what is kept */
    /* Every message queued at the refusal but the one being reported then
     * ends in a report after full_r0; a quarter of them leaves room for a
     * good run of records, not one. */
    long need = (imp->full_queued - 1) / 4;
    if (need < 1)
        return false;
    pthread_mutex_lock(&full_lock);
    imp->full_wake = imp->full_r0 + need;
    if (atomic_load(&bulk_reports) >= imp->full_wake) {
        pthread_mutex_unlock(&full_lock);
        return false;
    }
    pthread_mutex_lock(&imp->lock);
    imp->paused = PAUSED_QUEUE_FULL;
    imp->refs++; /* the list's */
    MHD_suspend_connection(imp->req->conn);
    pthread_mutex_unlock(&imp->lock);
    imp->full_next = full_list;
    full_list = imp;
    int parked = atomic_fetch_add(&full_parked, 1) + 1;
    pthread_mutex_unlock(&full_lock);
    if (parked == 1) {
        char n[24];
        snprintf(n, sizeof(n), "%d", imp->full_queued);
        log_info("bulk producer queue full: upload parked until it drains", "import_id", imp->id,
                 "queued", n);
    }
    return true;
}

static void import_unref(struct import *imp);

/* Takes imp off the parked count and resumes its connection; under
 * full_lock, with imp already off full_list (its list reference is the
 * caller's to drop). */
static void unpark(struct import *imp)
{
    atomic_fetch_sub(&full_parked, 1);
    pthread_mutex_lock(&imp->lock);
    if (imp->paused == PAUSED_QUEUE_FULL) {
        imp->paused = NOT_PAUSED;
        if (!imp->orphaned)
            MHD_resume_connection(imp->req->conn);
    }
    pthread_mutex_unlock(&imp->lock);
}

/* From a delivery report (the poll thread), once counted: resumes the
 * parked uploads the queue has room for now. */
static void wake_full(void)
{
    if (atomic_load(&full_parked) == 0)
        return;
    struct import *woken = NULL;
    pthread_mutex_lock(&full_lock);
    long reports = atomic_load(&bulk_reports);
    for (struct import **at = &full_list; *at;) {
        struct import *imp = *at;
        if (reports < imp->full_wake) {
            at = &imp->full_next;
            continue;
        }
        *at = imp->full_next;
        unpark(imp);
        imp->full_next = woken;
        woken = imp;
    }
    pthread_mutex_unlock(&full_lock);
    while (woken) {
        struct import *imp = woken;
        woken = imp->full_next;
        import_unref(imp);
    }
}

/* Keeps a record for the producer: produced now unless records wait before
 * it (order per key holds) or the queue is full. key "" produces it
 * unkeyed (import_fn's keyed). value is stolen. */
static void enqueue(struct import *imp, size_t index, const char *key, char *value, size_t len)
{
    struct pending *p = calloc(1, sizeof(*p));
    if (!p) {
        free(value);
        reject(imp, index, "out of memory");
        return;
    }
    p->index = index;
    snprintf(p->key, sizeof(p->key), "%s", key);
    p->value = value;
    p->len = len;
    p->hdrs = rd_kafka_headers_new(4);
    rd_kafka_header_add(p->hdrs, "x-import-id", -1, imp->id, -1);
    /* The upload's request id and trace: every record's worker lines name them. */
    write_trace_headers(imp->req, p->hdrs);
    *imp->pending_tail = p;
    imp->pending_tail = &p->next;
    if (imp->pending == p)
        drain_pending(imp);
}

/* jsonsplit's callback: one record (or why it could not be cut). */
static void on_record(void *opaque, size_t index, const char *data, size_t len, const char *error)
{
    struct import *imp = opaque;
    imp->received++;
    if (!data) {
        reject(imp, index, error);
        return;
    }
    char why[300];
    json_t *obj = body_parse_object(data, len, why, sizeof(why));
    if (!obj) {
        /* JSON that is not an object still tells a JSON upload from one
         * that is not JSON at all (a 400). */
        json_t *any = json_loadb(data, len, JSON_DECODE_ANY, NULL);
        imp->parsed += any != NULL;
        json_decref(any);
        reject(imp, index, why);
        return;
    }
    imp->parsed++;
    char id[UUID_STR_LEN] = "";
    size_t vlen = 0;
    struct envelope_origin origin = {imp->principal, imp->tenant};
    struct import_record rec = {obj, data, len, imp->time_field, &origin};
    bool keyed = true;
    char *value = imp->collection->http->import(&rec, id, why, sizeof(why), &vlen, &keyed);
    json_decref(obj);
    if (!value) {
        reject(imp, index, why);
        return;
    }
    enqueue(imp, index, keyed ? id : "", value, vlen);
}

static void fail_stream(struct import *imp, const char *why)
{
    if (imp->fatal[0])
        return;
    snprintf(imp->fatal, sizeof(imp->fatal), "%s", why);
    imp->received++;
    reject(imp, imp->split.index, why);
}

static void feed_plain(struct import *imp, const char *data, size_t len)
{
    if (!imp->fatal[0] && !imp->split.failed)
        jsonsplit_feed(&imp->split, data, len);
}

/* Returns how many input bytes it took: inflating stops once records wait
 * for the producer, so what is kept stays within one window. */
static size_t feed_gzip(struct import *imp, const char *data, size_t len)
{
    unsigned char out[INFLATE_CHUNK];
    imp->zs.next_in = (unsigned char *)data;
    imp->zs.avail_in = (unsigned)len;
    while (imp->zs.avail_in > 0 && !imp->inflate_done && !imp->fatal[0] && !imp->pending) {
        imp->zs.next_out = out;
        imp->zs.avail_out = sizeof(out);
        int rc = inflate(&imp->zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            fail_stream(imp, "the gzip stream is corrupt");
            return len;
        }
        feed_plain(imp, (const char *)out, sizeof(out) - imp->zs.avail_out);
        if (rc == Z_STREAM_END)
            imp->inflate_done = true;
        else if (rc == Z_BUF_ERROR)
            break;
    }
    /* After the end of the stream or a failure the rest is discarded. */
    return imp->inflate_done || imp->fatal[0] ? len : len - imp->zs.avail_in;
}

/* The delivery report of one record. */
static void import_delivered(struct dr_target *target, rd_kafka_resp_err_t err)
{
    struct import *imp = (struct import *)target; /* dr is the first member */
    pthread_mutex_lock(&imp->lock);
    imp->outstanding--;
    if (!err)
        imp->acked++;
    else if (imp->failed++ == 0)
        imp->first_error = err;
    bool wake = false, finished = false;
    if (!imp->orphaned) {
        if (imp->paused == PAUSED_OUTSTANDING && imp->outstanding <= OUTSTANDING_LOW) {
            imp->paused = NOT_PAUSED;
            wake = true;
        } else if (imp->finishing && imp->outstanding == 0) {
            imp->finishing = false;
            finished = true;
        }
    }
    bool last = --imp->refs == 0;
    /* Resumed under the lock: the request cannot complete (and orphan the
     * import) while it is suspended. */
    if (wake)
        MHD_resume_connection(imp->req->conn);
    if (finished)
        http_resume(imp->req);
    pthread_mutex_unlock(&imp->lock);
    if (last)
        import_free(imp);
    atomic_fetch_add(&bulk_reports, 1);
    wake_full();
}

void bulk_close(void)
{
    atomic_store(&bulk_stopping, true);
    /* Every parked upload now, whatever the reports say: none may still be
     * suspended when the HTTP server stops. */
    pthread_mutex_lock(&full_lock);
    struct import *woken = full_list;
    full_list = NULL;
    for (struct import *imp = woken; imp; imp = imp->full_next)
        unpark(imp);
    pthread_mutex_unlock(&full_lock);
    while (woken) {
        struct import *imp = woken;
        woken = imp->full_next;
        import_unref(imp);
    }
}

static size_t bulk_feed(struct request *req, const char *data, size_t len)
{
    struct import *imp = req->handler_state;
    if (atomic_load(&bulk_stopping)) {
        /* Read and dropped, so the client gets its 503 once it has sent all. */
        imp->cut = true;
        return len;
    }
    pthread_mutex_lock(&imp->lock);
    if (imp->outstanding >= OUTSTANDING_HIGH) {
        /* Back-pressure: keep the bytes, stop reading until Kafka catches up. */
        imp->paused = PAUSED_OUTSTANDING;
        MHD_suspend_connection(req->conn);
        pthread_mutex_unlock(&imp->lock);
        return 0;
    }
    pthread_mutex_unlock(&imp->lock);
    /* Records kept from a full queue go first; until they are in, the
     * bytes stay with libmicrohttpd. */
    while (!drain_pending(imp)) {
        if (park_full(imp))
            return 0;
    }
    if (imp->gzip)
        return feed_gzip(imp, data, len);
    feed_plain(imp, data, len);
    return len;
}

static void bulk_release(struct request *req)
{
    struct import *imp = req->handler_state;
    pthread_mutex_lock(&imp->lock);
    imp->orphaned = true;
    pthread_mutex_unlock(&imp->lock);
    import_unref(imp);
}

static bool importable(const struct collection *c)
{
    return c->http && c->http->import;
}

/* "collection must be events or recipes." from the collection table. */
static void importable_list(char *out, size_t outlen)
{
    size_t n = 0, k = 0;
    for (size_t i = 0; i < collection_count; i++)
        n += importable(&collections[i]);
    int w = snprintf(out, outlen, "collection must be ");
    for (size_t i = 0; i < collection_count && w > 0 && (size_t)w < outlen; i++) {
        if (!importable(&collections[i]))
            continue;
        k++;
        w += snprintf(out + w, outlen - (size_t)w, "%s%s", collections[i].name,
                      k == n       ? "."
                      : k + 1 == n ? " or "
                                   : ", ");
    }
}

static enum MHD_Result bad_upload(struct request *req, unsigned status, const char *slug,
                                  const char *detail)
{
    return http_respond_problem(req, status, slug, "Import refused", detail, NULL, NULL);
}

static enum MHD_Result bulk_begin(struct request *req)
{
    const char *name = http_query(req, "collection");
    if (!name || !*name)
        name = "events"; /* the seed's POST /v1/bulk */
    const struct collection *collection = collection_find(name);
    if (!collection || !importable(collection)) {
        char detail[256];
        importable_list(detail, sizeof(detail));
        return bad_upload(req, MHD_HTTP_BAD_REQUEST, "unknown-collection", detail);
    }
    const char *ct = http_header(req, "Content-Type");
    size_t ctlen = ct ? strcspn(ct, "; ") : 0;
    bool ndjson = ct && ((ctlen == 20 && strncasecmp(ct, "application/x-ndjson", 20) == 0) ||
                         (ctlen == 21 && strncasecmp(ct, "application/jsonlines", 21) == 0));
    if (!ndjson && !validate_json_content_type(ct))
        return bad_upload(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type",
                          "Send a JSON array (application/json) or NDJSON "
                          "(application/x-ndjson).");
    const char *time_field = http_query(req, "time_field");
    char why[160];
    if (time_field && !collection->http->import_time_field) {
        char detail[256];
        snprintf(detail, sizeof(detail), "time_field does not apply to %s.", collection->name);
        return bad_upload(req, MHD_HTTP_BAD_REQUEST, "invalid-query", detail);
    }
    if (time_field && !validate_time_field(time_field, why, sizeof(why))) {
        char detail[256];
        snprintf(detail, sizeof(detail),
                 "time_field must be a JSON Pointer (RFC 6901) such as /date: %s.", why);
        return bad_upload(req, MHD_HTTP_BAD_REQUEST, "invalid-query", detail);
    }
    const char *encoding = http_header(req, "Content-Encoding");
    bool gzip = encoding && strcasecmp(encoding, "gzip") == 0;
    if (encoding && !gzip && strcasecmp(encoding, "identity") != 0)
        return bad_upload(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported-encoding",
                          "Content-Encoding may be gzip or identity.");

    struct import *imp = calloc(1, sizeof(*imp));
    struct uuid u;
    if (imp && time_field)
        imp->time_field = strdup(time_field);
    if (!imp || (time_field && !imp->time_field) ||
        uuid_v7(&u, (uint64_t)(time_now_us() / 1000)) != 0) {
        if (imp)
            free(imp->time_field);
        free(imp);
        return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                    "Internal error", "Could not start the import.", NULL, NULL);
    }
    uuid_format(&u, imp->id);
    snprintf(imp->principal, sizeof(imp->principal), "%s", req->principal.id);
    snprintf(imp->tenant, sizeof(imp->tenant), "%s", req->principal.tenant);
    const char *params[] = {imp->id, collection->name, imp->tenant};
    bool transient;
    PGresult *res = reads_query(req->app,
                                "INSERT INTO imports (id, collection, status, started_at, tenant) "
                                "VALUES ($1::uuid, $2, 'receiving', now(), $3) RETURNING id",
                                3, params, &transient);
    if (!res) {
        free(imp->time_field);
        free(imp);
        return reads_failed(req, transient);
    }
    PQclear(res);
    pthread_mutex_init(&imp->lock, NULL);
    imp->dr.delivered = import_delivered;
    imp->refs = 1;
    imp->req = req;
    imp->rk = req->app->bulk_producer;
    imp->pending_tail = &imp->pending;
    imp->collection = collection;
    imp->topic = req->app->topics[collection_index(collection)];
    imp->errors = json_array();
    imp->gzip = gzip;
    if (gzip) {
        /* 16 + MAX_WBITS: a gzip header and trailer, not raw deflate. */
        if (inflateInit2(&imp->zs, 16 + MAX_WBITS) != Z_OK) {
            import_free(imp);
            return http_respond_problem(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                        "Internal error", "Could not start inflating.", NULL, NULL);
        }
        imp->inflate_ready = true;
    }
    jsonsplit_init(&imp->split, (size_t)req->app->cfg.max_body_bytes, on_record, imp);
    if (ndjson)
        imp->split.mode = JSONSPLIT_NDJSON;
    req->handler_state = imp;
    req->handler_release = bulk_release;
    req->feed = bulk_feed;
    return MHD_YES;
}

/* Every produced record is acknowledged (or failed): record the counts and
 * answer. */
static enum MHD_Result bulk_done(struct request *req)
{
    struct import *imp = req->handler_state;
    long accepted = imp->acked, rejected = imp->rejected + imp->failed;
    char received[24], acc[24], rej[24];
    snprintf(received, sizeof(received), "%ld", imp->received);
    snprintf(acc, sizeof(acc), "%ld", accepted);
    snprintf(rej, sizeof(rej), "%ld", rejected);
    char *errors = json_dumps(imp->errors, JSON_COMPACT);
    const char *params[] = {imp->id, received, acc, rej, errors ? errors : "[]"};
    bool transient;
    PGresult *res = reads_query(
        req->app,
        "UPDATE imports SET status = 'persisting', received = $2::bigint, accepted = $3::bigint, "
        "rejected = $4::bigint, errors = $5::jsonb, finished_at = now() WHERE id = $1::uuid "
        "RETURNING id",
        5, params, &transient);
    free(errors);
    PQclear(res);
    if (!res)
        log_warn("could not record the import's counts", "import_id", imp->id);
    if (imp->cut) {
        char detail[300];
        snprintf(detail, sizeof(detail),
                 "Ingest is stopping: %ld record(s) were accepted, the rest of the upload was not "
                 "read. Send it again (records with the same id are stored once). Import %s.",
                 accepted, imp->id);
        const char *headers[] = {"Retry-After", "1", NULL};
        return http_respond_problem(req, MHD_HTTP_SERVICE_UNAVAILABLE, "stopping",
                                    "Import incomplete", detail, NULL, headers);
    }
    if (imp->failed) {
        char detail[300], failed[24];
        snprintf(failed, sizeof(failed), "%ld", imp->failed);
        log_warn("import records not acknowledged by Kafka", "import_id", imp->id, "count", failed,
                 "error", rd_kafka_err2name(imp->first_error));
        snprintf(detail, sizeof(detail),
                 "Kafka did not acknowledge %ld record(s) (%s); %ld were accepted. Import %s.",
                 imp->failed, rd_kafka_err2str(imp->first_error), accepted, imp->id);
        const char *headers[] = {"Retry-After", "1", NULL};
        return http_respond_problem(req, MHD_HTTP_SERVICE_UNAVAILABLE, "broker-unavailable",
                                    "Import incomplete", detail, NULL, headers);
    }
    char location[64];
    snprintf(location, sizeof(location), "/v1/imports/%s", imp->id);
    const char *headers[] = {"Location", location, NULL};
    return http_respond_json(req, MHD_HTTP_ACCEPTED,
                             json_pack("{s:s, s:I, s:I}", "import_id", imp->id, "accepted",
                                       (json_int_t)accepted, "rejected", (json_int_t)rejected),
                             headers);
}

/* Nothing in the body was JSON (empty, text, a scalar at the top, a corrupt
 * gzip stream): not an import at all, so its row goes and the answer is a
 * 400 rather than an empty 202. */
static enum MHD_Result refuse_body(struct request *req)
{
    struct import *imp = req->handler_state;
    const char *params[] = {imp->id};
    bool transient;
    PQclear(reads_query(req->app, "DELETE FROM imports WHERE id = $1::uuid RETURNING id", 1, params,
                        &transient));
    char detail[400];
    if (!imp->split.seen && !imp->fatal[0])
        snprintf(detail, sizeof(detail),
                 "The body is empty. Send a JSON array of records (application/json) or NDJSON "
                 "(application/x-ndjson); with curl, -d @file reads the file (check its path).");
    else
        snprintf(detail, sizeof(detail), "The body is not a JSON array or NDJSON of records: %s.",
                 imp->first_reason);
    return bad_upload(req, MHD_HTTP_BAD_REQUEST, "malformed-body", detail);
}

static enum MHD_Result bulk_post(struct request *req)
{
    struct import *imp = req->handler_state;
    if (!imp) /* begin answered already */
        return MHD_YES;
    if (!imp->ended) {
        /* Once: a parked upload comes back here when it is resumed. */
        imp->ended = true;
        if (imp->gzip && !imp->inflate_done && !imp->fatal[0])
            fail_stream(imp, "the gzip stream ended early");
        if (!imp->fatal[0])
            jsonsplit_finish(&imp->split);
    }
    while (!drain_pending(imp)) {
        if (park_full(imp))
            return MHD_YES;
    }
    /* "[]" is an empty import; an empty body, or one whose only record is
     * why it could not be read, is not an import at all. */
    if (imp->produced == 0 && imp->parsed == 0 && (!imp->split.seen || imp->rejected > 0))
        return refuse_body(req);
    pthread_mutex_lock(&imp->lock);
    bool wait = imp->outstanding > 0;
    if (wait) {
        imp->finishing = true;
        http_suspend(req, bulk_done);
    }
    pthread_mutex_unlock(&imp->lock);
    return wait ? MHD_YES : bulk_done(req);
}

static enum MHD_Result imports_get(struct request *req)
{
    struct uuid u;
    if (uuid_parse(req->param, &u) != 0)
        return http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "Import not found",
                                    "Import ids are UUIDs.", NULL, NULL);
    const char *params[] = {req->param, req->principal.tenant};
    bool transient;
    PGresult *res = reads_query(
        req->app,
        "SELECT json_build_object('id', id, 'collection', collection, 'status', "
        /* persisted never counts a dropped record; both end the import. */
        "CASE WHEN status = 'persisting' AND persisted + dropped >= accepted THEN 'done' "
        "ELSE status END, "
        /* Searchable by contains= through the index (schema/012_search.sql):
         * done, and no backlog row as old as its last write is left. */
        "'indexed', status = 'persisting' AND persisted + dropped >= accepted AND NOT EXISTS "
        "(SELECT 1 FROM event_search_backlog b WHERE b.seq <= imports.search_seq), "
        "'received', received, 'accepted', accepted, 'rejected', rejected, 'persisted', "
        "persisted, 'created', created, 'updated', updated, 'unchanged', unchanged, "
        "'dropped', dropped, 'errors', errors, "
        "'started_at', to_char(started_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "'finished_at', to_char(finished_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text FROM imports WHERE id = $1::uuid "
        "AND tenant = $2",
        2, params, &transient);
    if (!res)
        return reads_failed(req, transient);
    enum MHD_Result ret;
    if (PQntuples(res) == 0) {
        ret = http_respond_problem(req, MHD_HTTP_NOT_FOUND, "not-found", "Import not found",
                                   "No import has this id.", NULL, NULL);
    } else {
        json_t *doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        ret = doc ? http_respond_json(req, MHD_HTTP_OK, doc, NULL) : reads_failed(req, false);
    }
    PQclear(res);
    return ret;
}

/* Imports: the upload streams through bulk_begin's feed; any importable
 * collection (collection.h) is taken. */
const struct route bulk_routes[] = {
    {"POST", "/v1/bulk", SCOPE_IMPORTS_WRITE, bulk_post, bulk_begin, ROUTE_TAKES_ENCODING, 0},
    {"GET", "/v1/imports/{id}", SCOPE_IMPORTS_WRITE, imports_get, NULL, ROUTE_ON_DB, 0},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};
