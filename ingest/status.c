/* status: GET /v1/status, where every collection stands, for operators and
 * sluicectl.
 *
 * Per collection: where each partition's log ends (Kafka), how far each
 * persist group has applied it (kafka_offsets, persist's own record of what it
 * wrote, so the lag is exact even while every worker is down), how many dead
 * letters it has; and the consumer groups Kafka knows with their members,
 * which is what says which workers are alive. A collection no persist group
 * writes (assistance) has instead where sluice-notify's group committed it
 * in Kafka. Read from Kafka and
 * PostgreSQL, so on the database pool, each wait bounded. */
#include "collection.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "reads.h"
#include "routes.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_KAFKA_MS 5000

/* Each partition's end offset, for every topic of the collections and their
 * DLQs, in q (offsets set; -1 where unknown). */
static rd_kafka_topic_partition_list_t *log_ends(struct ingest *app, rd_kafka_t *rk, char *err,
                                                 size_t errlen)
{
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 1, NULL, &md, STATUS_KAFKA_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "Kafka did not describe its topics");
        return NULL;
    }
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(64);
    for (size_t c = 0; c < collection_count; c++) {
        for (int dlq = 0; dlq <= 1; dlq++) {
            char topic[INGEST_TOPIC_MAX];
            kafka_topic_name(topic, sizeof(topic), app->cfg.topic_prefix, collections[c].name, dlq);
            for (int t = 0; t < md->topic_cnt; t++) {
                if (strcmp(md->topics[t].topic, topic) != 0)
                    continue;
                for (int p = 0; p < md->topics[t].partition_cnt; p++)
                    rd_kafka_topic_partition_list_add(q, topic, md->topics[t].partitions[p].id)
                        ->offset = RD_KAFKA_OFFSET_END; /* as a timestamp: the latest */
            }
        }
    }
    rd_kafka_metadata_destroy(md);
    if (q->cnt &&
        rd_kafka_offsets_for_times(rk, q, STATUS_KAFKA_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "Kafka did not say where its logs end");
        rd_kafka_topic_partition_list_destroy(q);
        return NULL;
    }
    return q;
}

static int64_t end_of(const rd_kafka_topic_partition_list_t *q, const char *topic, int32_t p)
{
    const rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(q, topic, p);
    return tp && !tp->err && tp->offset >= 0 ? tp->offset : 0;
}

/* Where group applied topic's partition p to (its kafka_offsets row; 0 when
 * it has none yet). */
static int64_t applied_of(const PGresult *rows, const char *group, const char *topic, int32_t p)
{
    for (int r = 0; r < PQntuples(rows); r++) {
        if (strcmp(PQgetvalue(rows, r, 0), group) == 0 &&
            strcmp(PQgetvalue(rows, r, 1), topic) == 0 &&
            strtol(PQgetvalue(rows, r, 2), NULL, 10) == p)
            return strtoll(PQgetvalue(rows, r, 3), NULL, 10);
    }
    return 0;
}

/* {"group", "applied", "lag", "partitions": [{"partition", "end", "applied",
 * "lag"}]} of each persist group that has applied some of topic, over every
 * partition of its log. */
static json_t *consumers_of(const PGresult *rows, const rd_kafka_topic_partition_list_t *ends,
                            const char *topic)
{
    json_t *out = json_array();
    for (int r = 0; r < PQntuples(rows); r++) {
        const char *group = PQgetvalue(rows, r, 0);
        if (strcmp(PQgetvalue(rows, r, 1), topic) != 0 ||
            (r > 0 && strcmp(PQgetvalue(rows, r - 1, 0), group) == 0 &&
             strcmp(PQgetvalue(rows, r - 1, 1), topic) == 0))
            continue; /* rows are ordered: one entry per group */
        json_t *parts = json_array();
        json_int_t applied_total = 0, lag_total = 0;
        for (int i = 0; i < ends->cnt; i++) {
            if (strcmp(ends->elems[i].topic, topic) != 0)
                continue;
            int32_t p = ends->elems[i].partition;
            int64_t end = end_of(ends, topic, p), applied = applied_of(rows, group, topic, p);
            /* Past the end: the log was replaced under the row (persist_log.h),
             * which persist reads again from its beginning. */
            int64_t lag = applied > end ? end : end - applied;
            applied_total += applied;
            lag_total += lag;
            json_array_append_new(parts, json_pack("{s:i, s:I, s:I, s:I}", "partition", (int)p,
                                                   "end", (json_int_t)end, "applied",
                                                   (json_int_t)applied, "lag", (json_int_t)lag));
        }
        json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:o}", "group", group, "applied",
                                             applied_total, "lag", lag_total, "partitions", parts));
    }
    return out;
}

/* Where group sluice-notify (notify's default SLUICE_NOTIFY_GROUP) has
 * committed each partition of the collections no persist writer consumes:
 * that consumer keeps its offsets in Kafka, not in kafka_offsets. A consumer
 * handle under that group id asks the group's coordinator (OffsetFetch)
 * without joining the group or committing. NULL when Kafka did not say (why
 * in err); offsets below 0 where the group committed nothing. */
#define STATUS_NOTIFY_GROUP "sluice-notify"

static rd_kafka_topic_partition_list_t *
committed_offsets(struct ingest *app, const rd_kafka_topic_partition_list_t *ends, char *err,
                  size_t errlen)
{
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(16);
    for (size_t c = 0; c < collection_count; c++) {
        if (collections[c].writer)
            continue;
        char topic[INGEST_TOPIC_MAX];
        kafka_topic_name(topic, sizeof(topic), app->cfg.topic_prefix, collections[c].name, false);
        for (int i = 0; i < ends->cnt; i++) {
            if (strcmp(ends->elems[i].topic, topic) == 0)
                rd_kafka_topic_partition_list_add(q, topic, ends->elems[i].partition);
        }
    }
    if (!q->cnt)
        return q;
    char why[200];
    rd_kafka_t *rk =
        kafka_group_reader_new(app->cfg.kafka_brokers, STATUS_NOTIFY_GROUP, why, sizeof(why));
    if (!rk) {
        snprintf(err, errlen, "no Kafka client to read group %s's offsets: %s", STATUS_NOTIFY_GROUP,
                 why);
        rd_kafka_topic_partition_list_destroy(q);
        return NULL;
    }
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, q, STATUS_KAFKA_MS);
    rd_kafka_destroy(rk);
    for (int i = 0; !e && i < q->cnt; i++)
        e = q->elems[i].err;
    if (e) {
        snprintf(err, errlen, "Kafka did not give group %s's committed offsets: %s",
                 STATUS_NOTIFY_GROUP, rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(q);
        return NULL;
    }
    return q;
}

/* consumed_by of topic: [{"group", "committed", "lag", "partitions":
 * [{"partition", "end", "committed", "lag"}]}], the group listed once it has
 * committed some partition of topic (an empty array before). */
static json_t *committed_by(const rd_kafka_topic_partition_list_t *committed,
                            const rd_kafka_topic_partition_list_t *ends, const char *topic)
{
    json_t *parts = json_array();
    json_int_t committed_total = 0, lag_total = 0;
    bool any = false;
    for (int i = 0; i < ends->cnt; i++) {
        if (strcmp(ends->elems[i].topic, topic) != 0)
            continue;
        int32_t p = ends->elems[i].partition;
        const rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(committed, topic, p);
        int64_t end = end_of(ends, topic, p), at = tp && tp->offset >= 0 ? tp->offset : 0;
        any = any || (tp && tp->offset >= 0);
        /* Past the end: the log was replaced under the group's offsets. */
        int64_t lag = at > end ? end : end - at;
        committed_total += at;
        lag_total += lag;
        json_array_append_new(parts, json_pack("{s:i, s:I, s:I, s:I}", "partition", (int)p, "end",
                                               (json_int_t)end, "committed", (json_int_t)at, "lag",
                                               (json_int_t)lag));
    }
    json_t *out = json_array();
    if (any)
        json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:o}", "group", STATUS_NOTIFY_GROUP,
                                             "committed", committed_total, "lag", lag_total,
                                             "partitions", parts));
    else
        json_decref(parts);
    return out;
}

static json_t *topic_total(const rd_kafka_topic_partition_list_t *ends, const char *topic)
{
    json_int_t total = 0;
    for (int i = 0; i < ends->cnt; i++) {
        if (strcmp(ends->elems[i].topic, topic) == 0 && ends->elems[i].offset > 0)
            total += ends->elems[i].offset;
    }
    return json_integer(total);
}

/* The consumer groups Kafka knows and their members; NULL when it did not
 * say (why in err). */
static json_t *groups(rd_kafka_t *rk, char *err, size_t errlen)
{
    const struct rd_kafka_group_list *list;
    rd_kafka_resp_err_t e = rd_kafka_list_groups(rk, NULL, &list, STATUS_KAFKA_MS);
    if (e) {
        snprintf(err, errlen, "Kafka did not list its groups: %s", rd_kafka_err2str(e));
        return NULL;
    }
    json_t *out = json_array();
    for (int g = 0; g < list->group_cnt; g++) {
        const struct rd_kafka_group_info *gi = &list->groups[g];
        if (strcmp(gi->group, "sluice-reader") == 0)
            continue; /* this request's own reader */
        json_t *members = json_array();
        for (int m = 0; m < gi->member_cnt; m++)
            json_array_append_new(members,
                                  json_pack("{s:s, s:s}", "client_id", gi->members[m].client_id,
                                            "host", gi->members[m].client_host));
        json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "group", gi->group, "state",
                                             gi->state, "members", members));
    }
    rd_kafka_group_list_destroy(list);
    return out;
}

static enum MHD_Result status_get(struct request *req)
{
    char err[256] = "", groups_err[256] = "";
    rd_kafka_t *rk = kafka_reader_new(req->app->cfg.kafka_brokers, err, sizeof(err));
    rd_kafka_topic_partition_list_t *ends = rk ? log_ends(req->app, rk, err, sizeof(err)) : NULL;
    json_t *members = ends ? groups(rk, groups_err, sizeof(groups_err)) : NULL;
    if (rk)
        rd_kafka_destroy(rk);
    char committed_err[256] = "";
    rd_kafka_topic_partition_list_t *committed =
        ends ? committed_offsets(req->app, ends, committed_err, sizeof(committed_err)) : NULL;
    if (ends && !committed)
        log_warn("status: committed offsets not readable", "detail", committed_err);
    if (!ends) {
        log_warn("status: Kafka not readable", "detail", err);
        const char *headers[] = {"Retry-After", "1", NULL};
        return http_respond_problem(req, MHD_HTTP_SERVICE_UNAVAILABLE, "kafka-unavailable",
                                    "Kafka unavailable", err, NULL, headers);
    }
    bool transient;
    PGresult *rows = reads_query(req->app,
                                 "SELECT consumer_group, topic, partition, next_offset "
                                 "FROM kafka_offsets ORDER BY consumer_group, topic, partition",
                                 0, NULL, &transient);
    if (!rows) {
        rd_kafka_topic_partition_list_destroy(ends);
        if (committed)
            rd_kafka_topic_partition_list_destroy(committed);
        json_decref(members);
        return reads_failed(req, transient);
    }
    json_t *list = json_array();
    for (size_t c = 0; c < collection_count; c++) {
        char topic[INGEST_TOPIC_MAX], dlq[INGEST_TOPIC_MAX];
        kafka_topic_name(topic, sizeof(topic), req->app->cfg.topic_prefix, collections[c].name,
                         false);
        kafka_topic_name(dlq, sizeof(dlq), req->app->cfg.topic_prefix, collections[c].name, true);
        /* A collection persist does not write (assistance) has no rows: its
         * consumer keeps its offsets in Kafka, read from there. */
        json_t *entry = json_pack(
            "{s:s, s:s, s:o, s:o, s:o}", "name", collections[c].name, "topic", topic, "messages",
            topic_total(ends, topic), "dead_letters", topic_total(ends, dlq), "persisted_by",
            collections[c].writer ? consumers_of(rows, ends, topic) : json_null());
        if (!collections[c].writer) {
            if (committed)
                json_object_set_new(entry, "consumed_by", committed_by(committed, ends, topic));
            else
                json_object_set_new(entry, "consumed_by_error", json_string(committed_err));
        }
        json_array_append_new(list, entry);
    }
    PQclear(rows);
    rd_kafka_topic_partition_list_destroy(ends);
    if (committed)
        rd_kafka_topic_partition_list_destroy(committed);
    json_t *doc = json_pack("{s:o}", "collections", list);
    if (members)
        json_object_set_new(doc, "groups", members);
    else
        json_object_set_new(doc, "groups_error", json_string(groups_err));
    return http_respond_json(req, MHD_HTTP_OK, doc, NULL);
}

/* Where everything stands: Kafka and PostgreSQL, so on the pool. */
const struct route status_routes[] = {
    {"GET", "/v1/status", SCOPE_ADMIN, status_get, NULL, ROUTE_ON_DB, 0},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};
