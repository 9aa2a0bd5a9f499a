/* notify_record: the consumer side of sluice-notify. Each request of a batch
 * becomes, in one transaction, a row of assistance_requests and one pending
 * row of assistance_deliveries per channel its topic routes to. Both inserts
 * are idempotent (a redelivered message finds the request and adds nothing),
 * so committing the offsets to Kafka after the database commit is enough for
 * "recorded exactly once" whatever crashes in between. */
#include "notify_record.h"

#include "notify.h"
#include "notify_dlq.h"

#include "buf.h"
#include "envelope.h"
#include "kafka.h"
#include "log.h"
#include "pg.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One statement per request: the deliveries are inserted only when the
 * request row is new, so a redelivery after a reload adds no channel the
 * request was not routed to. */
static const char *const RECORD_SQL =
    "WITH req AS ("
    " INSERT INTO assistance_requests (id, topic, description, request_id, fallback, envelope,"
    "  received_at, traceparent, tenant)"
    "  VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::timestamptz, $10, $11)"
    " ON CONFLICT (id) DO NOTHING RETURNING id),"
    " dl AS (INSERT INTO assistance_deliveries (request_id, channel, type)"
    "  SELECT req.id, c.channel, c.type FROM req,"
    "   unnest($8::text[], $9::text[]) AS c(channel, type)"
    "  ON CONFLICT DO NOTHING RETURNING 1)"
    "SELECT (SELECT count(*) FROM req), (SELECT count(*) FROM dl)";

enum record_result {
    RECORD_OK,
    RECORD_POISON,     /* can never be recorded: the DLQ */
    RECORD_DATA_ERROR, /* PostgreSQL refused this request's data (class 22, 23) */
    RECORD_TRANSIENT,  /* anything else: retry the batch */
};

/* Only a refusal of the data itself makes a request poison; a missing
 * table, a permission, a crash are the operator's to fix, not the DLQ's. */
static bool refused_data(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
}

/* A request recorded before (a replay after its topic left the routing
 * file is no poison). */
static bool recorded(struct notify *n, const char *id)
{
    const char *params[] = {id};
    PGresult *res = PQexecParams(n->conn, "SELECT 1 FROM assistance_requests WHERE id = $1::uuid",
                                 1, NULL, params, NULL, NULL, 0);
    bool found = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    PQclear(res);
    return found;
}

/* Records one message inside the open transaction. */
static enum record_result record_one(struct notify *n, const struct channel_set *set,
                                     const rd_kafka_message_t *m, char *reason, size_t reasonlen)
{
    struct assistance_envelope a;
    if (envelope_parse_assistance(m->payload, m->len, &a, reason, reasonlen) != 0)
        return RECORD_POISON;
    enum record_result rr = RECORD_OK;
    struct buf names = {0}, types = {0};
    PGresult *res = NULL;
    const json_t *channels = routing_topic_channels(set->routing, a.topic);
    if (!channels) {
        if (recorded(n, a.id)) {
            metric_add(&n->metrics[NM_DUPLICATES], 1);
            goto out;
        }
        snprintf(reason, reasonlen, "no route for topic \"%s\" in the routing file", a.topic);
        rr = RECORD_POISON;
        goto out;
    }
    buf_puts(&names, "{");
    buf_puts(&types, "{");
    for (size_t i = 0; i < json_array_size(channels); i++) {
        const char *name = json_string_value(json_array_get(channels, i));
        const struct channel *ch = channel_set_find(set, name);
        pg_text_array_add(&names, name);
        pg_text_array_add(&types, ch->type->name);
    }
    buf_puts(&names, "}");
    buf_puts(&types, "}");
    char *value = strndup(m->payload, m->len);
    /* Kept with the request so the dispatcher's lines name its trace too. */
    char traceparent[TRACE_PARENT_LEN + 1] = "";
    size_t tp_len;
    const char *tp = kafka_header(m, "traceparent", &tp_len);
    struct trace_context ctx = {0};
    if (tp && trace_parse(tp, tp_len, &ctx) == 0)
        snprintf(traceparent, sizeof(traceparent), "00-%s-%s-%02x", ctx.trace_id, ctx.parent_id,
                 ctx.flags & 1u);
    const char *params[] = {a.id,
                            a.topic,
                            a.description,
                            a.request_id,
                            routing_topic_fallback(set->routing, a.topic),
                            value,
                            a.received_at,
                            names.data,
                            types.data,
                            traceparent[0] ? traceparent : NULL,
                            envelope_tenant(a.root)};
    res = PQexecParams(n->conn, RECORD_SQL, 11, NULL, params, NULL, NULL, 0);
    free(value);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(reason, reasonlen, "recording the request: %s", PQerrorMessage(n->conn));
        reason[strcspn(reason, "\n")] = '\0';
        rr = refused_data(res) ? RECORD_DATA_ERROR : RECORD_TRANSIENT;
        goto out;
    }
    bool created = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
    metric_add(&n->metrics[created ? NM_RECORDED : NM_DUPLICATES], 1);
    if (log_enabled(LOG_DEBUG)) {
        /* Before the commit: a batch retried logs its requests again. */
        log_debug("recording assistance request", "id", a.id, "topic", a.topic, "outcome",
                  created ? "created" : "exists", "request_id", a.request_id, "trace_id",
                  trace_field(ctx.trace_id));
    }
    size_t size;
    if (kafka_header(m, "x-wait", &size)) {
        /* Delivered by PostgreSQL only if this transaction commits. */
        char payload[128];
        snprintf(payload, sizeof(payload), "{\"id\":\"%s\",\"outcome\":\"%s\"}", a.id,
                 created ? "created" : "exists");
        const char *np[] = {payload};
        PQclear(res);
        res = PQexecParams(n->conn, "SELECT pg_notify('" ENVELOPE_PERSISTED_CHANNEL "', $1)", 1,
                           NULL, np, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            snprintf(reason, reasonlen, "notifying a waiting client: %s", PQerrorMessage(n->conn));
            rr = RECORD_TRANSIENT;
        }
    }
out:
    PQclear(res);
    buf_free(&names);
    buf_free(&types);
    envelope_assistance_free(&a);
    return rr;
}

/* A poison message cannot be recorded ever; it goes to the DLQ once the
 * transaction that found it is over, so a retried batch resends nothing. */
static int send_poison(struct notify *n, const rd_kafka_message_t *m, const char *reason)
{
    char partition[16], offset[32];
    snprintf(partition, sizeof(partition), "%d", m->partition);
    snprintf(offset, sizeof(offset), "%lld", (long long)m->offset);
    struct trace_ids ids;
    trace_ids_from_message(m, &ids);
    log_warn("poison message sent to the dead-letter topic", "topic", n->topic, "partition",
             partition, "offset", offset, "error", reason, "request_id",
             trace_field(ids.request_id), "trace_id", trace_field(ids.trace_id));
    metric_add(&n->metrics[NM_POISON], 1);
    return notify_dlq_send(n, m->key, m->key_len, m->payload, m->len, reason, NULL, m);
}

struct poison {
    size_t index;
    char reason[512];
};

enum batch_result { BATCH_COMMITTED, BATCH_DATA_ERROR, BATCH_TRANSIENT };

/* msgs[from, to) in one transaction. Poison found on the way is listed in
 * *poisons (the caller sends it after the commit); a data error rolls back
 * and says so, to be redone message by message. */
static enum batch_result record_range(struct notify *n, struct channel_set *set,
                                      rd_kafka_message_t **msgs, size_t from, size_t to,
                                      struct poison *poisons, size_t *npoisons, char *err,
                                      size_t errlen)
{
    *npoisons = 0;
    if (pg_exec(n->conn, "BEGIN", err, errlen) != 0)
        return BATCH_TRANSIENT;
    for (size_t i = from; i < to; i++) {
        struct poison *p = &poisons[*npoisons];
        enum record_result rr = record_one(n, set, msgs[i], p->reason, sizeof(p->reason));
        if (rr == RECORD_POISON) {
            p->index = i;
            (*npoisons)++;
        } else if (rr != RECORD_OK) {
            snprintf(err, errlen, "%s", p->reason);
            PQclear(PQexec(n->conn, "ROLLBACK"));
            return rr == RECORD_DATA_ERROR ? BATCH_DATA_ERROR : BATCH_TRANSIENT;
        }
    }
    if (pg_exec(n->conn, "COMMIT", err, errlen) != 0) {
        PQclear(PQexec(n->conn, "ROLLBACK"));
        return BATCH_TRANSIENT;
    }
    return BATCH_COMMITTED;
}

static int send_poisons(struct notify *n, rd_kafka_message_t **msgs, const struct poison *poisons,
                        size_t npoisons, char *err, size_t errlen)
{
    for (size_t k = 0; k < npoisons; k++) {
        if (send_poison(n, msgs[poisons[k].index], poisons[k].reason) != 0) {
            snprintf(err, errlen, "the dead-letter topic did not acknowledge a message");
            return -1;
        }
    }
    return 0;
}

int notify_record_batch(struct notify *n, rd_kafka_message_t **msgs, size_t count, char *err,
                        size_t errlen)
{
    if (!n->conn || PQstatus(n->conn) != CONNECTION_OK) {
        PQfinish(n->conn);
        n->conn = pg_connect(n->cfg.pg_url, err, errlen);
        if (!n->conn)
            return -1;
    }
    struct channel_set *set = channel_holder_get(&n->channels);
    struct poison *poisons = calloc(count, sizeof(*poisons));
    size_t npoisons = 0;
    int rc = -1;
    if (!poisons) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* The whole batch in one transaction, without a savepoint per message
     * (hundreds of subtransactions slow every snapshot of the cluster). */
    enum batch_result br = record_range(n, set, msgs, 0, count, poisons, &npoisons, err, errlen);
    if (br == BATCH_TRANSIENT)
        goto out;
    if (br == BATCH_COMMITTED) {
        rc = send_poisons(n, msgs, poisons, npoisons, err, errlen);
        goto out;
    }
    /* PostgreSQL refused one request's data: redo one by one to find it. */
    for (size_t i = 0; i < count; i++) {
        char reason[512];
        br = record_range(n, set, msgs, i, i + 1, poisons, &npoisons, reason, sizeof(reason));
        if (br == BATCH_DATA_ERROR) {
            snprintf(poisons[0].reason, sizeof(poisons[0].reason), "%s", reason);
            poisons[0].index = i;
            npoisons = 1;
        } else if (br == BATCH_TRANSIENT) {
            snprintf(err, errlen, "%s", reason);
            goto out;
        }
        if (send_poisons(n, msgs, poisons, npoisons, err, errlen) != 0)
            goto out;
    }
    rc = 0;
out:
    free(poisons);
    channel_set_unref(set);
    atomic_store(&n->pg_ok, rc == 0 || PQstatus(n->conn) == CONNECTION_OK);
    return rc;
}
