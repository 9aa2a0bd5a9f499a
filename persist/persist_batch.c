#include "persist_batch.h"

#include "persist_writer.h"

#include "buf.h"
#include "kafka.h"
#include "log.h"
#include "otlp.h"
#include "pg.h"
#include "timeutil.h"
#include "trace.h"
#include "uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int persist_batch_add(struct persist_batch *b, rd_kafka_message_t *msg)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        struct persist_item *items = realloc(b->items, cap * sizeof(*items));
        if (!items)
            return -1;
        b->items = items;
        b->cap = cap;
    }
    memset(&b->items[b->count], 0, sizeof(b->items[0]));
    b->items[b->count++].msg = msg;
    return 0;
}

void persist_batch_clear(struct persist_batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        struct persist_item *it = &b->items[i];
        if (it->record) {
            /* A record without a release of its own begins with the tree
             * it borrows from. */
            if (it->release)
                it->release(it->record);
            else
                json_decref(*(json_t **)it->record);
            free(it->record);
        }
        rd_kafka_message_destroy(it->msg);
    }
    b->count = 0;
    b->nseeks = 0;
}

void persist_batch_free(struct persist_batch *b)
{
    persist_batch_clear(b);
    free(b->items);
    free(b->seeks);
    b->items = NULL;
    b->seeks = NULL;
    b->cap = b->nseeks = 0;
}

enum step_result persist_step_failed(struct batch_ctx *c, PGresult *res, const char *what)
{
    enum step_result r = pg_error_is_transient(c->conn, res) ? STEP_TRANSIENT : STEP_DATA_ERROR;
    snprintf(c->err, c->errlen, "%s: %s", what, PQerrorMessage(c->conn));
    c->err[strcspn(c->err, "\n")] = '\0';
    PQclear(res);
    return r;
}

enum step_result persist_exec(struct batch_ctx *c, const char *sql, int n,
                              const char *const *params, PGresult **out, const char *what)
{
    PGresult *res = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return persist_step_failed(c, res, what);
    if (out)
        *out = res;
    else
        PQclear(res);
    return STEP_OK;
}

enum step_result persist_insert(struct batch_ctx *c, const char *sql, int n,
                                const char *const *params, bool *created, const char *what)
{
    PGresult *res = NULL;
    enum step_result r = persist_exec(c, sql, n, params, &res, what);
    *created = r == STEP_OK && strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return r;
}

bool persist_item_writable(const struct persist_item *it)
{
    return !it->skip && !it->poison;
}

bool persist_batch_has_waiters(const struct persist_batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        if (b->items[i].wait)
            return true;
    }
    return false;
}

/* The item could not be written: it goes to the DLQ with the reason. */
static void make_poison(struct batch_ctx *c, struct persist_item *it)
{
    it->poison = true;
    it->outcome = PERSIST_NONE;
    snprintf(it->error, sizeof(it->error), "%s", c->err);
}

static void set_outcome(struct persist_item *it, bool created)
{
    if (it->outcome == PERSIST_NONE)
        it->outcome = created ? PERSIST_CREATED : PERSIST_UNCHANGED;
}

/* Row by row in partition order, without savepoints: what a writer without
 * write_all does first. A row the writer rejects before writing (it sets
 * reject_status) becomes poison; one PostgreSQL refuses aborts the
 * transaction, and the batch is written again through write_each. */
static enum step_result write_in_order(struct batch_ctx *c, const struct persist_writer *w)
{
    for (size_t i = 0; i < c->b->count; i++) {
        struct persist_item *it = &c->b->items[i];
        if (!persist_item_writable(it))
            continue;
        bool created = false;
        it->reject_status = 0;
        enum step_result r = w->write_one(c, it, &created);
        if (r == STEP_DATA_ERROR && it->reject_status) {
            make_poison(c, it);
            continue;
        }
        if (r != STEP_OK)
            return r;
        set_outcome(it, created);
    }
    return STEP_OK;
}

/* Row by row under savepoints, so a row PostgreSQL refuses becomes poison and
 * the rest of the batch is written: only after the batch was refused. */
static enum step_result write_each(struct batch_ctx *c, const struct persist_writer *w)
{
    for (size_t i = 0; i < c->b->count; i++) {
        struct persist_item *it = &c->b->items[i];
        if (!persist_item_writable(it))
            continue;
        bool created = false;
        enum step_result r = persist_exec(c, "SAVEPOINT row", 0, NULL, NULL, "savepoint");
        if (r == STEP_OK)
            r = w->write_one(c, it, &created);
        if (r == STEP_TRANSIENT)
            return r;
        if (r == STEP_DATA_ERROR) {
            make_poison(c, it);
            r = persist_exec(c, "ROLLBACK TO SAVEPOINT row", 0, NULL, NULL,
                             "rollback to savepoint");
        } else {
            set_outcome(it, created);
            r = persist_exec(c, "RELEASE SAVEPOINT row", 0, NULL, NULL, "release savepoint");
        }
        if (r != STEP_OK)
            return STEP_TRANSIENT;
    }
    return STEP_OK;
}

static struct part_state *part_find(struct batch_ctx *c, int32_t partition)
{
    for (size_t i = 0; i < c->nparts; i++) {
        if (c->parts[i].partition == partition)
            return &c->parts[i];
    }
    return NULL;
}

/* One part_state per partition of the batch (a batch holds at most count). */
static int collect_partitions(struct batch_ctx *c)
{
    c->nparts = 0;
    free(c->parts);
    c->parts = calloc(c->b->count, sizeof(*c->parts));
    if (!c->parts)
        return -1;
    buf_reset(&c->parts_array);
    buf_puts(&c->parts_array, "{");
    for (size_t i = 0; i < c->b->count; i++) {
        const rd_kafka_message_t *m = c->b->items[i].msg;
        struct part_state *ps = part_find(c, m->partition);
        if (ps) {
            if (m->offset < ps->first)
                ps->first = m->offset;
            continue;
        }
        c->parts[c->nparts++] = (struct part_state){.partition = m->partition, .first = m->offset};
        buf_printf(&c->parts_array, "%s%d", c->nparts > 1 ? "," : "", (int)m->partition);
    }
    buf_puts(&c->parts_array, "}");
    return c->parts_array.data ? 0 : -1;
}

static void copy_column(const PGresult *res, int row, int col, char *out, size_t outlen,
                        bool *is_null)
{
    bool null = PQgetisnull(res, row, col);
    if (is_null)
        *is_null = null;
    snprintf(out, outlen, "%s", null ? "" : PQgetvalue(res, row, col));
}

static int add_seek(struct persist_batch *b, int32_t partition, int64_t offset)
{
    struct persist_seek *seeks = realloc(b->seeks, (b->nseeks + 1) * sizeof(*seeks));
    if (!seeks)
        return -1;
    b->seeks = seeks;
    b->seeks[b->nseeks++] = (struct persist_seek){partition, offset};
    return 0;
}

/* The digest of the batch's message of ps at offset, or NULL when it has none. */
static const char *anchor_in_batch(struct batch_ctx *c, const struct part_state *ps, int64_t offset,
                                   char out[PERSIST_ANCHOR_LEN + 1])
{
    for (size_t i = 0; i < c->b->count; i++) {
        const rd_kafka_message_t *m = c->b->items[i].msg;
        if (m->partition == ps->partition && m->offset == offset) {
            persist_log_anchor(m->key, m->key_len, m->payload, m->len, out);
            return out;
        }
    }
    return NULL;
}

/* Which log the row of ps belongs to, from the batch's messages (persist_log.h). */
static enum step_result judge_partition(struct batch_ctx *c, struct part_state *ps)
{
    struct persist_log_row row = {
        .next = ps->stored_next,
        .cluster_id = ps->cluster_null ? NULL : ps->stored_cluster,
        .anchor = ps->anchor[0] ? ps->anchor : NULL,
    };
    char digest[PERSIST_ANCHOR_LEN + 1];
    const char *at_anchor = row.next > 0 ? anchor_in_batch(c, ps, row.next - 1, digest) : NULL;
    int64_t high = -1;
    if (!at_anchor && row.next > 0 && ps->first < row.next - 1 && c->sink->high_watermark)
        high = c->sink->high_watermark(c->sink->opaque, c->topic, ps->partition);
    ps->verdict = persist_log_check(&row, c->cluster_id, ps->first, at_anchor, high);

    char part[16], stored[32];
    snprintf(part, sizeof(part), "%d", (int)ps->partition);
    snprintf(stored, sizeof(stored), "%lld", (long long)ps->stored_next);
    if (ps->verdict == PERSIST_LOG_OTHER) {
        /* Nothing of this log was applied yet: forget the old log's place and
         * read this one from the start (the row is rewritten below). */
        log_warn("the applied offsets belong to another log (a new cluster, a restarted broker "
                 "or a recreated topic); reading the partition from its beginning",
                 "topic", c->topic, "partition", part, "stored_next_offset", stored);
        ps->new_next = 0;
        ps->anchor[0] = '\0';
        return add_seek(c->b, ps->partition, -1) == 0 ? STEP_OK : STEP_TRANSIENT;
    }
    if (ps->verdict == PERSIST_LOG_VERIFY) {
        log_info("reading the partition again from its last applied message to check the log",
                 "topic", c->topic, "partition", part, "stored_next_offset", stored);
        return add_seek(c->b, ps->partition, ps->stored_next - 1) == 0 ? STEP_OK : STEP_TRANSIENT;
    }
    if (ps->first > ps->stored_next) {
        /* The log no longer holds what comes next (retention, or a reset past
         * unread data): those messages never reach PostgreSQL. */
        char lost[32];
        snprintf(lost, sizeof(lost), "%lld", (long long)(ps->first - ps->stored_next));
        log_error("messages missing from the log were never applied", "topic", c->topic,
                  "partition", part, "lost", lost);
    }
    return STEP_OK;
}

/* Locks the batch's partitions in kafka_offsets, checks which log each row
 * names and marks messages applied by an earlier transaction. */
static enum step_result lock_offsets(struct batch_ctx *c)
{
    const char *params[] = {c->group, c->topic, c->parts_array.data, c->cluster_id};
    enum step_result r = persist_exec(
        c,
        "INSERT INTO kafka_offsets (consumer_group, topic, partition, next_offset, cluster_id) "
        "SELECT $1, $2, p, 0, $4 FROM unnest($3::int[]) AS p ON CONFLICT DO NOTHING",
        4, params, NULL, "registering partitions");
    if (r != STEP_OK)
        return r;
    PGresult *res = NULL;
    r = persist_exec(c,
                     "SELECT partition, next_offset, cluster_id, anchor FROM kafka_offsets "
                     "WHERE consumer_group = $1 AND topic = $2 AND partition = ANY($3::int[]) "
                     "ORDER BY partition FOR UPDATE",
                     3, params, &res, "locking offsets");
    if (r != STEP_OK)
        return r;
    for (int i = 0; i < PQntuples(res); i++) {
        struct part_state *ps = part_find(c, (int32_t)atoi(PQgetvalue(res, i, 0)));
        if (!ps)
            continue;
        ps->stored_next = ps->new_next = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        copy_column(res, i, 2, ps->stored_cluster, sizeof(ps->stored_cluster), &ps->cluster_null);
        copy_column(res, i, 3, ps->anchor, sizeof(ps->anchor), NULL);
    }
    PQclear(res);
    c->b->nseeks = 0;
    for (size_t i = 0; i < c->nparts && r == STEP_OK; i++)
        r = judge_partition(c, &c->parts[i]);
    if (r != STEP_OK) {
        snprintf(c->err, c->errlen, "out of memory");
        return r;
    }
    for (size_t i = 0; i < c->b->count; i++) {
        struct persist_item *it = &c->b->items[i];
        struct part_state *ps = part_find(c, it->msg->partition);
        it->skip = ps->verdict != PERSIST_LOG_SAME || it->msg->offset < ps->stored_next;
        if (!it->skip && it->msg->offset + 1 > ps->new_next)
            ps->new_next = it->msg->offset + 1;
    }
    return STEP_OK;
}

/* One NOTIFY per waited-for record, delivered by PostgreSQL only if the
 * transaction commits: a waiting client never hears of a write that was not
 * made. */
static enum step_result notify_waiters(struct batch_ctx *c)
{
    json_t *payloads = json_array();
    for (size_t i = 0; i < c->b->count; i++) {
        struct persist_item *it = &c->b->items[i];
        if (!it->wait || it->skip)
            continue;
        const char *id = it->record_id;
        char key[UUID_STR_LEN] = "";
        if (!id && it->msg->key && it->msg->key_len < sizeof(key)) {
            memcpy(key, it->msg->key, it->msg->key_len);
            key[it->msg->key_len] = '\0';
            id = key;
        }
        if (!id || !*id)
            continue;
        static const char *const outcomes[] = {
            [PERSIST_NONE] = "rejected",
            [PERSIST_CREATED] = "created",
            [PERSIST_UPDATED] = "updated",
            [PERSIST_UNCHANGED] = "exists",
        };
        json_t *p = json_pack("{s:s, s:s}", "id", id, "outcome",
                              outcomes[it->poison ? PERSIST_NONE : it->outcome]);
        if (p && it->poison) {
            json_object_set_new(p, "error", json_string(it->error));
            json_object_set_new(p, "status",
                                json_integer(it->reject_status ? it->reject_status : 422));
        }
        char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
        if (text)
            json_array_append_new(payloads, json_string(text));
        free(text);
        json_decref(p);
    }
    enum step_result r = STEP_OK;
    if (json_array_size(payloads) > 0) {
        char *text = json_dumps(payloads, JSON_COMPACT);
        const char *params[] = {text};
        r = persist_exec(c,
                         "SELECT pg_notify('" ENVELOPE_PERSISTED_CHANNEL "', p) "
                         "FROM jsonb_array_elements_text($1::jsonb) AS p",
                         1, params, NULL, "notifying waiters");
        free(text);
    }
    json_decref(payloads);
    return r;
}

/* Each partition's new place, in the log it now names: the cluster and the
 * digest of the last message applied. */
static enum step_result store_offsets(struct batch_ctx *c)
{
    struct buf offsets = {0}, anchors = {0};
    buf_puts(&offsets, "{");
    buf_puts(&anchors, "{");
    for (size_t i = 0; i < c->nparts; i++) {
        struct part_state *ps = &c->parts[i];
        if (ps->verdict == PERSIST_LOG_SAME && ps->new_next > ps->stored_next)
            anchor_in_batch(c, ps, ps->new_next - 1, ps->anchor);
        buf_printf(&offsets, "%s%lld", i ? "," : "", (long long)ps->new_next);
        /* Anchors are hex digits: nothing in them needs quoting. */
        buf_printf(&anchors, "%s%s", i ? "," : "", ps->anchor[0] ? ps->anchor : "NULL");
    }
    buf_puts(&offsets, "}");
    buf_puts(&anchors, "}");
    const char *params[] = {c->group,     c->topic,     c->parts_array.data,
                            offsets.data, anchors.data, c->cluster_id};
    enum step_result r = persist_exec(
        c,
        "UPDATE kafka_offsets SET next_offset = v.o, anchor = v.a, cluster_id = $6, "
        "updated_at = now() FROM unnest($3::int[], $4::bigint[], $5::text[]) AS v(p, o, a) "
        "WHERE consumer_group = $1 AND topic = $2 AND partition = v.p",
        6, params, NULL, "storing offsets");
    buf_free(&offsets);
    buf_free(&anchors);
    return r;
}

static int send_poison(struct batch_ctx *c, const struct persist_sink *sink)
{
    long sent = 0;
    for (size_t i = 0; i < c->b->count; i++) {
        struct persist_item *it = &c->b->items[i];
        if (it->skip || !it->poison)
            continue;
        if (sink->dlq(sink->opaque, it) != 0)
            return -1;
        sent++;
    }
    if (sent && sink->dlq_flush(sink->opaque) != 0)
        return -1;
    return 0;
}

static int by_import_id(const void *x, const void *y)
{
    return strcmp((*(const struct persist_item *const *)x)->import_id,
                  (*(const struct persist_item *const *)y)->import_id);
}

/* Each bulk import's share of the batch: every record of it this transaction
 * handled, by what it did (created, updated, unchanged, or dropped as poison),
 * so the counts reach `accepted` exactly once, however often the batch is
 * replayed. The rows are updated in the order of their ids: two replicas'
 * batches that both hold records of two imports would otherwise lock them in
 * opposite orders and deadlock. */
static enum step_result count_imports(struct batch_ctx *c)
{
    size_t n = 0;
    const struct persist_item **firsts = malloc((c->b->count ? c->b->count : 1) * sizeof(*firsts));
    if (!firsts) {
        snprintf(c->err, c->errlen, "out of memory");
        return STEP_TRANSIENT;
    }
    for (size_t i = 0; i < c->b->count; i++) {
        const struct persist_item *it = &c->b->items[i];
        if (!it->skip && it->import_id[0])
            firsts[n++] = it;
    }
    qsort(firsts, n, sizeof(*firsts), by_import_id);
    enum step_result r = STEP_OK;
    for (size_t g = 0; g < n && r == STEP_OK;) {
        long counts[PERSIST_UNCHANGED + 1] = {0};
        size_t end = g;
        for (; end < n && strcmp(firsts[end]->import_id, firsts[g]->import_id) == 0; end++)
            counts[firsts[end]->poison ? PERSIST_NONE : firsts[end]->outcome]++;
        char text[4][24];
        for (int k = 0; k < 4; k++)
            snprintf(text[k], sizeof(text[k]), "%ld", counts[k]);
        const char *params[] = {firsts[g]->import_id, text[PERSIST_CREATED], text[PERSIST_UPDATED],
                                text[PERSIST_UNCHANGED], text[PERSIST_NONE]};
        r = persist_exec(
            c,
            "UPDATE imports SET created = created + $2::bigint, updated = updated + $3::bigint, "
            "unchanged = unchanged + $4::bigint, dropped = dropped + $5::bigint, "
            "persisted = persisted + $2::bigint + $3::bigint + $4::bigint WHERE id = $1::uuid",
            5, params, NULL, "counting import progress");
        g = end;
    }
    free(firsts);
    return r;
}

static void parse_items(struct persist_batch *b, const struct persist_writer *w)
{
    for (size_t i = 0; i < b->count; i++) {
        struct persist_item *it = &b->items[i];
        if (it->parsed)
            continue;
        it->parsed = true;
        size_t size;
        it->wait = kafka_header(it->msg, "x-wait", &size) != NULL;
        const char *import = kafka_header(it->msg, "x-import-id", &size);
        if (import && size < sizeof(it->import_id)) {
            memcpy(it->import_id, import, size);
            it->import_id[size] = '\0';
        }
        it->record = calloc(1, w->record_size);
        if (!it->record) {
            snprintf(it->error, sizeof(it->error), "out of memory");
            it->poison = true;
            continue;
        }
        it->record_id = w->parse(it);
        it->poison = it->record_id == NULL;
    }
}

static void tally(const struct persist_batch *b, struct persist_stats *stats)
{
    for (size_t i = 0; i < b->count; i++) {
        const struct persist_item *it = &b->items[i];
        stats->skipped += it->skip;
        stats->poison += !it->skip && it->poison;
        if (!it->skip && it->import_id[0])
            stats->import_dropped += it->poison;
        if (it->skip || it->poison)
            continue;
        stats->created += it->outcome == PERSIST_CREATED;
        stats->updated += it->outcome == PERSIST_UPDATED;
        stats->unchanged += it->outcome == PERSIST_UNCHANGED;
        if (it->import_id[0]) {
            stats->import_created += it->outcome == PERSIST_CREATED;
            stats->import_updated += it->outcome == PERSIST_UPDATED;
            stats->import_unchanged += it->outcome == PERSIST_UNCHANGED;
        }
    }
}

/* What became of each message of a committed batch, one debug line each
 * (far too many to keep at info at volume), with the ids of the request
 * that wrote it: a grep for a trace id finds its record here. */
static void log_records(const struct batch_ctx *c)
{
    static const char *const outcomes[] = {
        [PERSIST_NONE] = "none",
        [PERSIST_CREATED] = "created",
        [PERSIST_UPDATED] = "updated",
        [PERSIST_UNCHANGED] = "unchanged",
    };
    for (size_t i = 0; i < c->b->count; i++) {
        const struct persist_item *it = &c->b->items[i];
        struct trace_ids ids;
        trace_ids_from_message(it->msg, &ids);
        char partition[16], offset[32];
        snprintf(partition, sizeof(partition), "%d", (int)it->msg->partition);
        snprintf(offset, sizeof(offset), "%lld", (long long)it->msg->offset);
        const char *outcome = it->skip     ? "replayed"
                              : it->poison ? "dead-lettered"
                                           : outcomes[it->outcome];
        log_debug("record", "topic", c->topic, "partition", partition, "offset", offset, "id",
                  trace_field(it->record_id), "outcome", outcome, "request_id",
                  trace_field(ids.request_id), "trace_id", trace_field(ids.trace_id), "import_id",
                  trace_field(it->import_id));
    }
}

/* Outcomes belong to one attempt: a retried batch finds them again. */
static void reset_outcomes(struct persist_batch *b)
{
    for (size_t i = 0; i < b->count; i++)
        b->items[i].outcome = PERSIST_NONE;
}

enum persist_result persist_batch_write(PGconn *conn, const char *group, const char *topic,
                                        const char *cluster_id, const struct persist_writer *writer,
                                        struct persist_batch *b, const struct persist_sink *sink,
                                        struct persist_stats *stats, char *err, size_t errlen)
{
    b->nseeks = 0;
    if (b->count == 0)
        return PERSIST_OK;
    parse_items(b, writer);
    struct batch_ctx c = {.conn = conn,
                          .group = group,
                          .topic = topic,
                          .cluster_id = cluster_id ? cluster_id : "",
                          .sink = sink,
                          .b = b,
                          .err = err,
                          .errlen = errlen};
    enum persist_result result = PERSIST_RETRY;
    if (collect_partitions(&c) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int isolate = 0; isolate <= 1; isolate++) {
        reset_outcomes(b);
        enum step_result r = persist_exec(&c, "BEGIN", 0, NULL, NULL, "BEGIN");
        if (r == STEP_OK && b->bulk)
            r = persist_exec(&c, "SELECT pg_advisory_xact_lock_shared(" PERSIST_BULK_WRITE_LOCK ")",
                             0, NULL, NULL, "announcing a bulk write");
        if (r == STEP_OK)
            r = lock_offsets(&c);
        if (r == STEP_OK && writer->prepare)
            r = writer->prepare(&c);
        if (r == STEP_OK)
            r = isolate             ? write_each(&c, writer)
                : writer->write_all ? writer->write_all(&c)
                                    : write_in_order(&c, writer);
        if (r == STEP_DATA_ERROR && !isolate) {
            log_warn("batch refused by PostgreSQL; isolating the bad rows", "detail", err);
            PQclear(PQexec(conn, "ROLLBACK"));
            continue;
        }
        if (r == STEP_OK)
            r = store_offsets(&c);
        if (r == STEP_OK)
            r = notify_waiters(&c);
        if (r == STEP_OK)
            r = count_imports(&c);
        if (r == STEP_OK && send_poison(&c, sink) != 0) {
            snprintf(err, errlen, "the dead-letter topic did not acknowledge");
            r = STEP_TRANSIENT;
        }
        if (r == STEP_OK)
            r = persist_exec(&c, "COMMIT", 0, NULL, NULL, "COMMIT");
        if (r != STEP_OK) {
            /* Anything else failing here is not the data's fault: never DLQ
             * good rows, retry the whole batch. */
            PQclear(PQexec(conn, "ROLLBACK"));
            b->nseeks = 0;
            goto out;
        }
        tally(b, stats);
        if (log_enabled(LOG_DEBUG))
            log_records(&c);
        result = PERSIST_OK;
        goto out;
    }
out:
    free(c.parts);
    buf_free(&c.parts_array);
    return result;
}

/* The trace context a message's traceparent header gives; -1 when none. */
static int message_trace(const rd_kafka_message_t *msg, struct trace_context *ctx)
{
    size_t len = 0;
    const char *tp = kafka_header(msg, "traceparent", &len);
    return tp ? trace_parse(tp, len, ctx) : -1;
}

void persist_batch_trace(const struct persist_batch *b, const char *topic, const char *group,
                         const struct persist_stats *stats, int64_t start_us, int attempts,
                         const char *error)
{
    if (!otlp_enabled() || !b->count)
        return;
    struct trace_context parent = {0};
    size_t first = 0;
    while (first < b->count && message_trace(b->items[first].msg, &parent) != 0)
        first++;
    if (first == b->count) {
        /* Nothing traced: the batch starts a trace of its own. */
        memset(&parent, 0, sizeof(parent));
        otlp_new_span_id(parent.trace_id);
        otlp_new_span_id(parent.trace_id + TRACE_SPAN_HEX);
        first = 0;
    }
    if (!otlp_sampled(&parent))
        return;
    char name[300], partition[16]; /* otlp_span_init cuts the name to OTLP_NAME_MAX */
    snprintf(name, sizeof(name), "process %s", topic);
    snprintf(partition, sizeof(partition), "%d", (int)b->items[first].msg->partition);
    struct otlp_span s;
    otlp_span_init(&s, name, OTLP_KIND_CONSUMER, parent.trace_id, NULL, parent.parent_id, start_us,
                   time_now_us());
    otlp_span_str(&s, "messaging.system", "kafka");
    otlp_span_str(&s, "messaging.operation.type", "process");
    otlp_span_str(&s, "messaging.destination.name", topic);
    otlp_span_str(&s, "messaging.destination.partition.id", partition);
    otlp_span_str(&s, "messaging.consumer.group.name", group);
    otlp_span_int(&s, "messaging.batch.message_count", (int64_t)b->count);
    otlp_span_int(&s, "sluice.attempts", attempts);
    otlp_span_str(&s, "sluice.outcome", stats ? "committed" : "abandoned");
    if (stats) {
        otlp_span_int(&s, "sluice.records.created", stats->created);
        otlp_span_int(&s, "sluice.records.updated", stats->updated);
        otlp_span_int(&s, "sluice.records.unchanged", stats->unchanged);
        otlp_span_int(&s, "sluice.records.dead_lettered", stats->poison);
    } else {
        otlp_span_error(&s, error);
    }
    /* The batch's other requests, as OpenTelemetry's messaging conventions
     * link a batch to each message it took (up to the span's room). */
    for (size_t i = first + 1; i < b->count && s.nlinks < OTLP_LINKS_MAX; i++) {
        struct trace_context ctx;
        if (message_trace(b->items[i].msg, &ctx) == 0 && strcmp(ctx.trace_id, parent.trace_id))
            otlp_span_link(&s, ctx.trace_id, ctx.parent_id);
    }
    otlp_submit(&s);
}
