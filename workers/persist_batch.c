#include "persist_batch.h"

#include "persist_writer.h"

#include "buf.h"
#include "kafka.h"
#include "log.h"
#include "pg.h"
#include "timeutil.h"
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
        envelope_event_free(&b->items[i].ev);
        envelope_user_free(&b->items[i].user);
        envelope_epoch_free(&b->items[i].epoch);
        envelope_recipe_free(&b->items[i].recipe);
        rd_kafka_message_destroy(b->items[i].msg);
    }
    b->count = 0;
}

void persist_batch_free(struct persist_batch *b)
{
    persist_batch_clear(b);
    free(b->items);
    b->items = NULL;
    b->cap = 0;
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

/* Row by row under savepoints, so a row PostgreSQL refuses becomes poison and
 * the rest of the batch is written. */
static enum step_result write_each(struct batch_ctx *c, const struct persist_writer *w,
                                   struct persist_stats *stats)
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
            it->poison = true;
            snprintf(it->error, sizeof(it->error), "%s", c->err);
            r = persist_exec(c, "ROLLBACK TO SAVEPOINT row", 0, NULL, NULL,
                             "rollback to savepoint");
        } else {
            stats->inserted += created;
            it->created = created;
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

static int collect_partitions(struct batch_ctx *c)
{
    c->nparts = 0;
    size_t o = 0;
    c->parts_array[o++] = '{';
    for (size_t i = 0; i < c->b->count; i++) {
        int32_t p = c->b->items[i].msg->partition;
        if (part_find(c, p))
            continue;
        c->parts[c->nparts++] = (struct part_state){.partition = p};
        int w = snprintf(c->parts_array + o, sizeof(c->parts_array) - o, "%s%d",
                         c->nparts > 1 ? "," : "", p);
        if (w < 0 || (size_t)w >= sizeof(c->parts_array) - o - 1)
            return -1;
        o += (size_t)w;
    }
    c->parts_array[o++] = '}';
    c->parts_array[o] = '\0';
    return 0;
}

/* Locks the batch's partitions in kafka_offsets and marks messages applied
 * by an earlier transaction. */
static enum step_result lock_offsets(struct batch_ctx *c)
{
    const char *params[] = {c->group, c->topic, c->parts_array};
    enum step_result r =
        persist_exec(c,
                     "INSERT INTO kafka_offsets (consumer_group, topic, partition, next_offset) "
                     "SELECT $1, $2, p, 0 FROM unnest($3::int[]) AS p ON CONFLICT DO NOTHING",
                     3, params, NULL, "registering partitions");
    if (r != STEP_OK)
        return r;
    PGresult *res = NULL;
    r = persist_exec(c,
                     "SELECT partition, next_offset FROM kafka_offsets WHERE consumer_group = $1 "
                     "AND topic = $2 AND partition = ANY($3::int[]) FOR UPDATE",
                     3, params, &res, "locking offsets");
    if (r != STEP_OK)
        return r;
    for (int i = 0; i < PQntuples(res); i++) {
        struct part_state *ps = part_find(c, (int32_t)atoi(PQgetvalue(res, i, 0)));
        if (ps)
            ps->stored_next = ps->new_next = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    }
    PQclear(res);
    for (size_t i = 0; i < c->b->count; i++) {
        struct persist_item *it = &c->b->items[i];
        struct part_state *ps = part_find(c, it->msg->partition);
        if (!ps->seen && it->msg->offset > ps->stored_next) {
            /* The log no longer holds what comes next (retention, or a
             * reset past unread data): those messages never reach PostgreSQL. */
            char lost[32], part[16];
            snprintf(lost, sizeof(lost), "%lld", (long long)(it->msg->offset - ps->stored_next));
            snprintf(part, sizeof(part), "%d", (int)ps->partition);
            log_error("messages missing from the log were never applied", "topic", c->topic,
                      "partition", part, "lost", lost);
        }
        ps->seen = true;
        it->skip = it->msg->offset < ps->stored_next;
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
        if (!it->wait)
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
        json_t *p = json_pack("{s:s, s:s}", "id", id, "outcome",
                              it->poison    ? "rejected"
                              : it->created ? "created"
                                            : "exists");
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

static enum step_result store_offsets(struct batch_ctx *c)
{
    struct buf offsets = {0};
    buf_puts(&offsets, "{");
    for (size_t i = 0; i < c->nparts; i++)
        buf_printf(&offsets, "%s%lld", i ? "," : "", (long long)c->parts[i].new_next);
    buf_puts(&offsets, "}");
    const char *params[] = {c->group, c->topic, c->parts_array, offsets.data};
    enum step_result r =
        persist_exec(c,
                     "UPDATE kafka_offsets SET next_offset = v.o, updated_at = now() "
                     "FROM unnest($3::int[], $4::bigint[]) AS v(p, o) "
                     "WHERE consumer_group = $1 AND topic = $2 AND partition = v.p",
                     4, params, NULL, "storing offsets");
    buf_free(&offsets);
    return r;
}

static int send_poison(struct batch_ctx *c, const struct persist_sink *sink,
                       struct persist_stats *stats)
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
    stats->poison += sent;
    return 0;
}

/* Each bulk import's share of the batch: every record of it this transaction
 * handled (written, already there, or rejected), so `persisted` reaches
 * `accepted` exactly once, however often the batch is replayed. */
static enum step_result count_imports(struct batch_ctx *c)
{
    for (size_t i = 0; i < c->b->count; i++) {
        const struct persist_item *first = &c->b->items[i];
        if (first->skip || !first->import_id[0])
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !c->b->items[j].skip && strcmp(c->b->items[j].import_id, first->import_id) == 0;
        if (seen)
            continue;
        long n = 0;
        for (size_t j = i; j < c->b->count; j++)
            n += !c->b->items[j].skip && strcmp(c->b->items[j].import_id, first->import_id) == 0;
        char count[24];
        snprintf(count, sizeof(count), "%ld", n);
        const char *params[] = {first->import_id, count};
        enum step_result r = persist_exec(
            c, "UPDATE imports SET persisted = persisted + $2::bigint WHERE id = $1::uuid", 2,
            params, NULL, "counting import progress");
        if (r != STEP_OK)
            return r;
    }
    return STEP_OK;
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
        if (w->parse(it) != 0)
            it->poison = true;
    }
}

enum persist_result persist_batch_write(PGconn *conn, const char *group, const char *topic,
                                        const struct persist_writer *writer,
                                        struct persist_batch *b, const struct persist_sink *sink,
                                        struct persist_stats *stats, char *err, size_t errlen)
{
    if (b->count == 0)
        return PERSIST_OK;
    parse_items(b, writer);
    struct part_state parts[1024];
    struct batch_ctx c = {.conn = conn,
                          .group = group,
                          .topic = topic,
                          .b = b,
                          .parts = parts,
                          .err = err,
                          .errlen = errlen};
    if (collect_partitions(&c) != 0) {
        snprintf(err, errlen, "too many partitions in one batch");
        return PERSIST_RETRY;
    }
    for (int isolate = writer->write_all ? 0 : 1; isolate <= 1; isolate++) {
        struct persist_stats run = {0};
        long writable = 0;
        enum step_result r = persist_exec(&c, "BEGIN", 0, NULL, NULL, "BEGIN");
        if (r == STEP_OK)
            r = lock_offsets(&c);
        if (r == STEP_OK)
            r = isolate ? write_each(&c, writer, &run) : writer->write_all(&c, &run, &writable);
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
        if (r == STEP_OK && send_poison(&c, sink, &run) != 0) {
            snprintf(err, errlen, "the dead-letter topic did not acknowledge");
            r = STEP_TRANSIENT;
        }
        if (r == STEP_OK)
            r = persist_exec(&c, "COMMIT", 0, NULL, NULL, "COMMIT");
        if (r != STEP_OK) {
            /* Anything else failing here is not the data's fault: never DLQ
             * good rows, retry the whole batch. */
            PQclear(PQexec(conn, "ROLLBACK"));
            return PERSIST_RETRY;
        }
        for (size_t i = 0; i < b->count; i++)
            run.skipped += b->items[i].skip;
        if (!isolate)
            run.duplicates = writable - run.inserted;
        stats->inserted += run.inserted;
        stats->duplicates += run.duplicates;
        stats->skipped += run.skipped;
        stats->poison += run.poison;
        return PERSIST_OK;
    }
    return PERSIST_RETRY;
}
