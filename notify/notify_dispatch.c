/* notify_dispatch: sends driven from the delivery records.
 *
 * One thread (the dispatcher) owns a PostgreSQL connection, the breakers and
 * the in-flight counts. It claims due pending deliveries channel by channel
 * (FOR UPDATE SKIP LOCKED, moving next_attempt_at one lease ahead, so another
 * replica or a restart retries whatever a dead process had claimed), hands
 * them to a pool of sender threads, and records each outcome: delivered,
 * retry later (the schedule with jitter, or the receiver's Retry-After), or
 * failed for good (then the request goes to the DLQ and the topic's fallback
 * channel gets a delivery of its own). Only the failed channel is retried.
 *
 * No channel may take the whole pool while others exist (one fifth stays
 * for the rest), and an open breaker stops sends to its channel, so one slow
 * or dead receiver never holds up the others. While a breaker is open its
 * channel's due deliveries are not sent but still use up the attempt they
 * were due for (recorded as "not sent: breaker open"), so a dead receiver
 * is not hammered and its requests still reach the fallback on schedule. */
#include "notify_dispatch.h"

#include "envelope.h"

#include "notify.h"
#include "notify_dlq.h"

#include "breaker.h"
#include "buf.h"
#include "log.h"
#include "otlp.h"
#include "pg.h"
#include "timeutil.h"
#include "trace.h"
#include "uuid.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CHANNELS 256
/* How long a stopping dispatcher waits beyond its slowest channel's timeout
 * for the sends in flight and for the dead-letter topic's acknowledgements. */
#define STOP_MARGIN_US (5 * 1000000LL)
#define BACKLOG_EVERY_US (2 * 1000000LL)

struct job {
    struct job *next;
    struct channel_set *set;  /* a reference, so a reload cannot free ch */
    const struct channel *ch; /* NULL: not in this replica's routing file */
    char request_id[UUID_STR_LEN];
    char channel[CHANNEL_NAME_MAX];
    int attempts; /* including this one: the claim's mark on the row */
    bool fallback;
    /* Copies of the claimed row's text (client_request_id, req_fallback,
     * traceparent may be NULL). */
    char *topic, *description, *client_request_id, *received_at, *req_fallback, *envelope;
    char *traceparent;
    char trace_id[TRACE_ID_HEX + 1]; /* traceparent's, for the log lines; "" when none */
    char delivery_id[UUID_STR_LEN];
    char link[512];
    /* Filled by the sender. */
    enum send_result result;
    struct send_info info;
    char error[512];
    int64_t sent_us, answered_us; /* the send's start and end, for its span */
    bool short_circuited;         /* not sent: breaker open, or channel unknown here */
    bool probe;                   /* the one send a half-open breaker lets through */
    /* Failed for good: the dead letter goes out before the row says so. */
    enum { DLQ_NONE, DLQ_PRODUCED, DLQ_ACKED } dlq_state;
    struct notify_dlq_ack dlq;
};

struct chan_state {
    char name[CHANNEL_NAME_MAX];
    struct breaker breaker;
    long inflight;
    int64_t delivered, failed, retried;
};

struct dispatcher {
    struct notify *n;
    PGconn *conn;
    pthread_t thread;
    pthread_t *senders;
    size_t nsenders;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t work;  /* senders wait for jobs */
    pthread_cond_t wake;  /* the dispatcher waits for results or a wake-up */
    struct job *todo, *todo_tail, *done;
    struct job *kept; /* outcomes not recorded yet (PostgreSQL or the DLQ away) */
    bool woken, stopping, senders_exit;
    long inflight;
    struct chan_state chans[MAX_CHANNELS];
    size_t nchans;
    size_t rotate; /* which channel claims first, for fairness */
    unsigned seed;
};

static const char *const CLAIM_COLUMNS =
    "RETURNING d.request_id::text, d.channel, d.attempts, d.fallback, r.topic,"
    " r.description, r.request_id,"
    " to_char(r.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " r.fallback, r.envelope, r.traceparent";

static void job_free(struct job *j)
{
    free(j->topic);
    free(j->description);
    free(j->client_request_id);
    free(j->received_at);
    free(j->req_fallback);
    free(j->envelope);
    free(j->traceparent);
    channel_set_unref(j->set);
    free(j);
}

static struct chan_state *chan_state_of(struct dispatcher *d, const char *name)
{
    for (size_t i = 0; i < d->nchans; i++) {
        if (strcmp(d->chans[i].name, name) == 0)
            return &d->chans[i];
    }
    if (d->nchans == MAX_CHANNELS)
        return NULL;
    struct chan_state *c = &d->chans[d->nchans++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    breaker_init(&c->breaker, (int)d->n->cfg.breaker_failures,
                 d->n->cfg.breaker_cooldown_ms * 1000);
    return c;
}

/* Forgets channels that left the routing file and have nothing in flight,
 * so reloads over months never fill the table. */
static void prune_channels(struct dispatcher *d, const struct channel_set *set)
{
    pthread_mutex_lock(&d->lock);
    size_t kept = 0;
    for (size_t i = 0; i < d->nchans; i++) {
        if (d->chans[i].inflight == 0 && !channel_set_find(set, d->chans[i].name))
            continue;
        if (kept != i)
            d->chans[kept] = d->chans[i];
        kept++;
    }
    d->nchans = kept;
    pthread_mutex_unlock(&d->lock);
}

static bool ensure_conn(struct dispatcher *d)
{
    if (d->conn && PQstatus(d->conn) == CONNECTION_OK)
        return true;
    PQfinish(d->conn);
    char err[256];
    d->conn = pg_connect(d->n->cfg.pg_url, err, sizeof(err));
    if (!d->conn)
        log_warn("dispatcher cannot reach PostgreSQL", "detail", err);
    return d->conn != NULL;
}

/* How claimed deliveries proceed. */
enum claim_mode { CLAIM_SEND, CLAIM_SHORT_CIRCUIT };

/* Turns each claimed row into a job for the senders (or, short-circuited,
 * straight into an outcome). Returns the jobs made; a row left without one
 * (out of memory) comes back when its lease runs out. */
static size_t enqueue_claimed(struct dispatcher *d, PGresult *res, struct channel_set *set,
                              enum claim_mode mode, bool probe)
{
    int rows = PQntuples(res);
    size_t jobs = 0;
    for (int i = 0; i < rows; i++) {
        struct job *j = calloc(1, sizeof(*j));
        if (!j) {
            log_error("out of memory for a delivery; its lease will bring it back");
            continue;
        }
        jobs++;
        j->probe = probe;
        snprintf(j->request_id, sizeof(j->request_id), "%s", PQgetvalue(res, i, 0));
        snprintf(j->channel, sizeof(j->channel), "%s", PQgetvalue(res, i, 1));
        j->attempts = atoi(PQgetvalue(res, i, 2));
        j->fallback = PQgetvalue(res, i, 3)[0] == 't';
        j->topic = strdup(PQgetvalue(res, i, 4));
        j->description = strdup(PQgetvalue(res, i, 5));
        j->client_request_id = PQgetisnull(res, i, 6) ? NULL : strdup(PQgetvalue(res, i, 6));
        j->received_at = strdup(PQgetvalue(res, i, 7));
        j->req_fallback = PQgetisnull(res, i, 8) ? NULL : strdup(PQgetvalue(res, i, 8));
        j->envelope = strdup(PQgetvalue(res, i, 9));
        j->traceparent = PQgetisnull(res, i, 10) ? NULL : strdup(PQgetvalue(res, i, 10));
        struct trace_ids ids;
        trace_ids_from(NULL, 0, j->traceparent, j->traceparent ? strlen(j->traceparent) : 0, &ids);
        memcpy(j->trace_id, ids.trace_id, sizeof(j->trace_id));
        if (!j->topic || !j->description || !j->received_at || !j->envelope ||
            (!j->client_request_id && !PQgetisnull(res, i, 6)) ||
            (!j->req_fallback && !PQgetisnull(res, i, 8)) ||
            (!j->traceparent && !PQgetisnull(res, i, 10))) {
            log_error("out of memory for a delivery; its lease will bring it back");
            job_free(j);
            jobs--;
            continue;
        }
        atomic_fetch_add(&set->refs, 1);
        j->set = set;
        j->ch = channel_set_find(set, j->channel);
        /* Channel names are short (CHANNEL_NAME_MAX): the name always fits. */
        envelope_delivery_id(j->request_id, j->channel, j->delivery_id);
        snprintf(j->link, sizeof(j->link), "%s/v1/assistance/%s", d->n->cfg.public_url,
                 j->request_id);
        pthread_mutex_lock(&d->lock);
        struct chan_state *c = chan_state_of(d, j->channel);
        if (c)
            c->inflight++;
        d->inflight++;
        if (mode == CLAIM_SHORT_CIRCUIT || !j->ch) {
            /* Straight to the outcomes: the dispatcher records it next. A
             * channel this replica does not know may be in another's newer
             * routing file (a rollout, a reload not yet everywhere): the
             * attempt is used up unsent, and retried on schedule. */
            j->short_circuited = true;
            j->result = SEND_RETRY;
            if (!j->ch)
                snprintf(j->error, sizeof(j->error),
                         "not sent: channel \"%s\" is not in this replica's routing file",
                         j->channel);
            else
                snprintf(j->error, sizeof(j->error),
                         "not sent: the channel's circuit breaker is open after %d failures in a "
                         "row",
                         c ? c->breaker.failures : 0);
            j->next = d->done;
            d->done = j;
        } else {
            if (d->todo_tail)
                d->todo_tail->next = j;
            else
                d->todo = j;
            d->todo_tail = j;
            pthread_cond_signal(&d->work);
        }
        pthread_mutex_unlock(&d->lock);
    }
    PQclear(res);
    return jobs;
}

/* Claims up to limit due deliveries of one channel (or, with channel NULL,
 * of channels no longer in the routing file, listed in known). */
static size_t claim(struct dispatcher *d, struct channel_set *set, const char *channel,
                    const char *known, long limit, enum claim_mode mode, bool probe)
{
    char lim[24], lease[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    snprintf(lease, sizeof(lease), "%ld", d->n->cfg.lease_ms);
    struct buf sql = {0};
    buf_printf(&sql,
               "UPDATE assistance_deliveries d SET attempts = d.attempts + 1,"
               " next_attempt_at = now() + $3::bigint * interval '1 millisecond'"
               " FROM assistance_requests r WHERE r.id = d.request_id AND"
               " (d.request_id, d.channel) IN (SELECT request_id, channel"
               "  FROM assistance_deliveries WHERE status = 'pending' AND %s"
               "  AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $2::int"
               "  FOR UPDATE SKIP LOCKED) %s",
               channel ? "channel = $1" : "channel <> ALL($1::text[])", CLAIM_COLUMNS);
    const char *params[] = {channel ? channel : known, lim, lease};
    PGresult *res = PQexecParams(d->conn, sql.data, 3, NULL, params, NULL, NULL, 0);
    buf_free(&sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_warn("claiming deliveries failed", "detail", PQerrorMessage(d->conn));
        PQclear(res);
        return 0;
    }
    return enqueue_claimed(d, res, set, mode, probe);
}

static void claim_due(struct dispatcher *d)
{
    long free_slots = d->n->cfg.concurrency - d->inflight;
    if (free_slots <= 0 || !ensure_conn(d))
        return;
    struct channel_set *set = channel_holder_get(&d->n->channels);
    long cap = d->n->cfg.concurrency;
    if (set->count > 1 && cap >= 5)
        cap -= cap / 5;
    int64_t now = time_now_us();
    prune_channels(d, set);
    struct buf known = {0};
    buf_puts(&known, "{");
    for (size_t k = 0; k < set->count; k++) {
        const char *name = set->channels[(k + d->rotate) % set->count]->name;
        pg_text_array_add(&known, name);
        pthread_mutex_lock(&d->lock);
        struct chan_state *c = chan_state_of(d, name);
        long room = c ? cap - c->inflight : 0;
        if (room > free_slots)
            room = free_slots;
        enum breaker_state state = c ? breaker_state(&c->breaker, now) : BREAKER_CLOSED;
        bool probe = state == BREAKER_HALF_OPEN && room > 0 && breaker_allow(&c->breaker, now);
        enum claim_mode mode = CLAIM_SEND;
        if (probe) {
            room = 1;
        } else if (c && state != BREAKER_CLOSED) {
            mode = CLAIM_SHORT_CIRCUIT; /* resolved at once: no sender needed */
            room = free_slots;
        }
        pthread_mutex_unlock(&d->lock);
        if (room <= 0)
            continue;
        size_t got = claim(d, set, name, NULL, room, mode, probe);
        if (probe && got == 0) {
            pthread_mutex_lock(&d->lock);
            breaker_probe_abandoned(&c->breaker); /* nothing to probe with yet */
            pthread_mutex_unlock(&d->lock);
        }
        free_slots -= (long)got;
    }
    buf_puts(&known, "}");
    d->rotate++;
    if (free_slots > 0)
        claim(d, set, NULL, known.data, free_slots, CLAIM_SEND, false);
    buf_free(&known);
    channel_set_unref(set);
}

static void *sender_main(void *arg)
{
    struct dispatcher *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->lock);
        while (!d->todo && !d->senders_exit)
            pthread_cond_wait(&d->work, &d->lock);
        struct job *j = d->todo;
        if (!j) {
            pthread_mutex_unlock(&d->lock);
            return NULL;
        }
        d->todo = j->next;
        if (!d->todo)
            d->todo_tail = NULL;
        pthread_mutex_unlock(&d->lock);

        int64_t start = time_now_us();
        struct assistance req = {
            .id = j->request_id,
            .topic = j->topic,
            .description = j->description,
            .received_at = j->received_at,
            .request_id = j->client_request_id,
            .link = j->link,
            .delivery_id = j->delivery_id,
        };
        j->result = channel_deliver(j->ch, &req, &j->info, j->error, sizeof(j->error));
        j->sent_us = start;
        j->answered_us = time_now_us();
        metric_observe_us(&d->n->send_latency, j->answered_us - start);

        pthread_mutex_lock(&d->lock);
        j->next = d->done;
        d->done = j;
        pthread_cond_signal(&d->wake);
        pthread_mutex_unlock(&d->lock);
    }
}

static int exec_params(struct dispatcher *d, const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams(d->conn, sql, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        log_warn("recording a delivery failed", "detail", PQerrorMessage(d->conn));
    PQclear(res);
    return ok ? 0 : -1;
}

/* Is the row still at the attempt this job claimed? A replica that stalled
 * past its lease may find another one took over (and maybe delivered). */
static int still_claimed(struct dispatcher *d, const struct job *j, const char *attempts)
{
    const char *params[] = {j->request_id, j->channel, attempts};
    PGresult *res = PQexecParams(d->conn,
                                 "SELECT 1 FROM assistance_deliveries WHERE request_id = $1::uuid"
                                 " AND channel = $2 AND status = 'pending' AND attempts = $3::int",
                                 3, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(res) != PGRES_TUPLES_OK ? -1 : PQntuples(res) == 1;
    PQclear(res);
    return rc;
}

/* Failed for good: the dead letter first, so a crash in between ends in a
 * retry, never in a failure nobody heard of; then the row, and the
 * fallback's delivery only when the row was still this claim's. The
 * dead letter's acknowledgement is awaited across passes, never blocking
 * the dispatcher. 0 recorded, 1 stale, -1 not yet. */
static int record_failed(struct dispatcher *d, struct job *j, const char *reason,
                         const char *attempts)
{
    if (j->dlq_state == DLQ_NONE) {
        int ours = still_claimed(d, j, attempts);
        if (ours <= 0)
            return ours < 0 ? -1 : 1;
        if (notify_dlq_produce(d->n, j->request_id, strlen(j->request_id), j->envelope,
                               strlen(j->envelope), reason, j->channel, j->client_request_id,
                               j->traceparent, NULL, &j->dlq) != 0)
            return -1;
        j->dlq_state = DLQ_PRODUCED;
    }
    if (j->dlq_state == DLQ_PRODUCED) {
        notify_dlq_poll(d->n, 0);
        if (!atomic_load(&j->dlq.done))
            return -1;
        if (j->dlq.err) {
            j->dlq_state = DLQ_NONE; /* produce it again on the next pass */
            return -1;
        }
        j->dlq_state = DLQ_ACKED;
    }
    const char *params[] = {j->request_id, j->channel, reason, attempts};
    if (pg_exec(d->conn, "BEGIN", NULL, 0) != 0)
        return -1;
    PGresult *res =
        PQexecParams(d->conn,
                     "UPDATE assistance_deliveries SET status = 'failed', last_error = $3"
                     " WHERE request_id = $1::uuid AND channel = $2"
                     " AND status = 'pending' AND attempts = $4::int",
                     4, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    bool ours = ok && strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!ok)
        goto rollback;
    const char *fallback = j->req_fallback;
    if (ours && !j->fallback && fallback && strcmp(fallback, j->channel) != 0) {
        const struct channel *fb = channel_set_find(j->set, fallback);
        if (!fb) {
            log_warn("fallback channel is not in the routing file", "channel", fallback, "request",
                     j->request_id, "request_id", j->client_request_id, "trace_id",
                     trace_field(j->trace_id));
        } else {
            const char *fp[] = {j->request_id, fallback, fb->type->name};
            if (exec_params(
                    d,
                    "INSERT INTO assistance_deliveries (request_id, channel, type, fallback)"
                    " VALUES ($1::uuid, $2, $3, true) ON CONFLICT DO NOTHING",
                    3, fp) != 0)
                goto rollback;
        }
    }
    if (pg_exec(d->conn, "COMMIT", NULL, 0) != 0)
        goto rollback;
    if (ours)
        log_warn("delivery failed", "request", j->request_id, "channel", j->channel, "error",
                 reason, "attempt", attempts, "fallback", j->fallback ? NULL : fallback,
                 "request_id", j->client_request_id, "trace_id", trace_field(j->trace_id));
    return ours ? 0 : 1;
rollback:
    PQclear(PQexec(d->conn, "ROLLBACK"));
    return -1;
}

/* The attempt's CLIENT span (otlp.h), once its outcome is recorded: a
 * child of the traceparent stored with the request (the PRODUCER span of
 * ingest's write). A short-circuited job was never sent: no span. */
static void trace_delivery(const struct job *j, const char *outcome)
{
    if (!otlp_enabled() || j->short_circuited)
        return;
    struct trace_context parent;
    if (!j->traceparent || trace_parse(j->traceparent, strlen(j->traceparent), &parent) != 0) {
        memset(&parent, 0, sizeof(parent));
        otlp_new_span_id(parent.trace_id);
        otlp_new_span_id(parent.trace_id + TRACE_SPAN_HEX);
    }
    if (!otlp_sampled(&parent))
        return;
    char name[16 + CHANNEL_NAME_MAX]; /* otlp_span_init cuts it to OTLP_NAME_MAX */
    snprintf(name, sizeof(name), "deliver %s", j->channel);
    struct otlp_span s;
    otlp_span_init(&s, name, OTLP_KIND_CLIENT, parent.trace_id, NULL, parent.parent_id, j->sent_us,
                   j->answered_us);
    otlp_span_str(&s, "sluice.channel", j->channel);
    otlp_span_str(&s, "sluice.channel.type", j->ch ? j->ch->type->name : NULL);
    otlp_span_str(&s, "sluice.outcome", outcome);
    otlp_span_int(&s, "sluice.attempt", j->attempts);
    otlp_span_str(&s, "sluice.assistance_id", j->request_id);
    otlp_span_str(&s, "sluice.fallback", j->fallback ? "true" : "false");
    if (j->result != SEND_OK)
        otlp_span_error(&s, j->error);
    otlp_submit(&s);
}

/* Records one outcome; -1 keeps the job to try again (PostgreSQL or the
 * DLQ away). Every update names the attempt it claimed, so a stale outcome
 * (its lease ran out and another replica took over) changes nothing. */
static int record_result(struct dispatcher *d, struct job *j)
{
    const struct backoff_schedule *s = &d->n->schedule;
    char reason[640], attempts[16];
    snprintf(reason, sizeof(reason), "%s", j->error);
    snprintf(attempts, sizeof(attempts), "%d", j->attempts);
    bool retry = j->result == SEND_RETRY && (size_t)j->attempts < s->attempts;
    int rc;
    if (j->result == SEND_OK) {
        const char *params[] = {j->request_id, j->channel, attempts};
        rc = exec_params(d,
                         "UPDATE assistance_deliveries SET status = 'delivered',"
                         " delivered_at = now(), last_error = NULL"
                         " WHERE request_id = $1::uuid AND channel = $2 AND status = 'pending'"
                         " AND attempts = $3::int",
                         3, params);
        /* One line per message a receiver got: human-paced, and what an
         * operator asked "did it reach Slack?" looks for. */
        if (rc == 0)
            log_info("delivered", "request", j->request_id, "channel", j->channel, "attempt",
                     attempts, "request_id", j->client_request_id, "trace_id",
                     trace_field(j->trace_id));
    } else if (retry) {
        double r = (double)rand_r(&d->seed) / ((double)RAND_MAX + 1.0);
        int64_t delay = backoff_delay_ms(s, j->attempts + 1, r);
        if (j->info.retry_after_ms > delay)
            delay = j->info.retry_after_ms;
        char ms[24];
        snprintf(ms, sizeof(ms), "%lld", (long long)delay);
        const char *params[] = {j->request_id, j->channel, reason, ms, attempts};
        rc = exec_params(d,
                         "UPDATE assistance_deliveries SET last_error = $3,"
                         " next_attempt_at = now() + $4::bigint * interval '1 millisecond'"
                         " WHERE request_id = $1::uuid AND channel = $2 AND status = 'pending'"
                         " AND attempts = $5::int",
                         5, params);
        /* Not sent (breaker open): says nothing new of the receiver, and
         * comes for every due delivery while the breaker stays open. */
        if (rc == 0)
            log_msg(j->short_circuited ? LOG_DEBUG : LOG_WARN,
                    j->short_circuited ? "delivery not sent; retrying later"
                                       : "delivery attempt failed; retrying later",
                    "request", j->request_id, "channel", j->channel, "attempt", attempts, "error",
                    reason, "retry_in_ms", ms, "request_id", j->client_request_id, "trace_id",
                    trace_field(j->trace_id), NULL);
    } else {
        if (j->result == SEND_RETRY)
            snprintf(reason, sizeof(reason), "%s (gave up after %d attempts)", j->error,
                     j->attempts);
        rc = record_failed(d, j, reason, attempts);
        if (rc == 1)
            rc = 0; /* stale: nothing left to record */
    }
    if (rc != 0)
        return -1;
    trace_delivery(j, j->result == SEND_OK ? "delivered" : retry ? "retrying" : "failed");
    pthread_mutex_lock(&d->lock);
    struct chan_state *c = chan_state_of(d, j->channel);
    if (c) {
        c->inflight--;
        if (j->short_circuited) {
            /* Not sent: says nothing about the receiver. */
            if (j->probe)
                breaker_probe_abandoned(&c->breaker);
        } else if (j->result == SEND_RETRY) {
            breaker_failure(&c->breaker, time_now_us());
        } else {
            /* The receiver answered, even if it refused this message. */
            breaker_success(&c->breaker);
        }
        if (j->result == SEND_OK)
            c->delivered++;
        else if (retry)
            c->retried++;
        else
            c->failed++;
    }
    d->inflight--;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

/* Records what it can of done, in order; returns the rest, in order. */
static struct job *record_done(struct dispatcher *d, struct job *done)
{
    struct job *kept = NULL, **tail = &kept;
    bool connected = done && ensure_conn(d);
    while (done) {
        struct job *j = done;
        done = j->next;
        j->next = NULL;
        if (connected && record_result(d, j) == 0) {
            job_free(j);
        } else {
            *tail = j;
            tail = &j->next;
        }
    }
    return kept;
}

/* Appends list to *head. */
static void jobs_append(struct job **head, struct job *list)
{
    while (*head)
        head = &(*head)->next;
    *head = list;
}

/* The slowest channel's timeout: how long a send in flight may still take. */
static int64_t slowest_send_us(struct dispatcher *d)
{
    struct channel_set *set = channel_holder_get(&d->n->channels);
    long ms = 0;
    for (size_t i = 0; i < set->count; i++)
        ms = set->channels[i]->timeout_ms > ms ? set->channels[i]->timeout_ms : ms;
    channel_set_unref(set);
    return (int64_t)ms * 1000;
}

static void update_backlog(struct dispatcher *d)
{
    if (!ensure_conn(d))
        return;
    PGresult *res = PQexec(d->conn, "SELECT count(*) FROM assistance_deliveries"
                                    " WHERE status = 'pending' AND attempts > 0");
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        metric_set(&d->n->metrics[NM_BACKLOG], strtoll(PQgetvalue(res, 0, 0), NULL, 10));
    PQclear(res);
}

static void *dispatcher_main(void *arg)
{
    struct dispatcher *d = arg;
    int64_t next_backlog = 0, stop_deadline = 0;
    for (;;) {
        pthread_mutex_lock(&d->lock);
        if (!d->done && !d->woken) {
            /* Stopping: only the sends in flight are awaited, briefly. */
            long wait_ms = d->stopping ? 50 : d->kept ? 500 : d->n->cfg.poll_ms;
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            long ns = until.tv_nsec + wait_ms * 1000000L;
            until.tv_sec += ns / 1000000000L;
            until.tv_nsec = ns % 1000000000L;
            pthread_cond_timedwait(&d->wake, &d->lock, &until);
        }
        struct job *done = d->done;
        d->done = NULL;
        d->woken = false;
        bool stopping = d->stopping;
        pthread_mutex_unlock(&d->lock);

        /* Earlier outcomes first, so a delivery's records stay in order. */
        jobs_append(&d->kept, done);
        d->kept = record_done(d, d->kept);
        metric_set(&d->n->metrics[NM_INFLIGHT], d->inflight);
        if (stopping) {
            int64_t now = time_now_us();
            if (!stop_deadline)
                stop_deadline = now + slowest_send_us(d) + STOP_MARGIN_US;
            if (d->inflight == 0 || now > stop_deadline)
                break;
            continue;
        }
        /* Outcomes waiting for PostgreSQL or the DLQ hold their slots; the
         * rest of the pool keeps sending. */
        claim_due(d);
        if (time_now_us() >= next_backlog) {
            update_backlog(d);
            next_backlog = time_now_us() + BACKLOG_EVERY_US;
        }
    }
    return NULL;
}

/* Lets the senders run out of jobs and end. */
static void join_senders(struct dispatcher *d)
{
    pthread_mutex_lock(&d->lock);
    d->senders_exit = true;
    pthread_cond_broadcast(&d->work);
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < d->nsenders; i++)
        pthread_join(d->senders[i], NULL);
}

struct dispatcher *dispatcher_start(struct notify *n, char *err, size_t errlen)
{
    struct dispatcher *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->n = n;
    d->seed = (unsigned)time_now_us();
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->work, NULL);
    pthread_cond_init(&d->wake, NULL);
    d->senders = calloc((size_t)n->cfg.concurrency, sizeof(*d->senders));
    if (!d->senders) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (; d->nsenders < (size_t)n->cfg.concurrency; d->nsenders++) {
        if (pthread_create(&d->senders[d->nsenders], NULL, sender_main, d) != 0) {
            snprintf(err, errlen, "cannot start sender thread %zu", d->nsenders + 1);
            goto fail;
        }
    }
    if (pthread_create(&d->thread, NULL, dispatcher_main, d) != 0) {
        snprintf(err, errlen, "cannot start the dispatcher thread");
        goto fail;
    }
    return d;
fail:
    join_senders(d);
    free(d->senders);
    free(d);
    return NULL;
}

void dispatcher_wake(struct dispatcher *d)
{
    pthread_mutex_lock(&d->lock);
    d->woken = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
}

void dispatcher_stop(struct dispatcher *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    /* Past the deadline senders may still hold jobs: they finish them. */
    join_senders(d);
    /* Whatever finished late is still recorded, while the DLQ answers. */
    jobs_append(&d->kept, d->done);
    d->done = NULL;
    int64_t deadline = time_now_us() + STOP_MARGIN_US;
    while (d->kept && time_now_us() < deadline) {
        d->kept = record_done(d, d->kept);
        if (d->kept)
            notify_dlq_poll(d->n, 100);
    }
    if (d->kept) {
        log_warn("stopped with deliveries unrecorded; their lease brings them back");
        /* A dead letter still in the producer points into its job: purge
         * it and serve the reports before the jobs go. */
        rd_kafka_purge(d->n->dlq, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (struct job *j = d->kept; j; j = j->next) {
            while (j->dlq_state == DLQ_PRODUCED && !atomic_load(&j->dlq.done))
                notify_dlq_poll(d->n, 100);
        }
    }
    while (d->kept) {
        struct job *j = d->kept;
        d->kept = j->next;
        job_free(j);
    }
    PQfinish(d->conn);
    pthread_cond_destroy(&d->work);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    free(d->senders);
    free(d);
}

void dispatcher_metrics(struct dispatcher *d, struct buf *out)
{
    static const char *const kinds[] = {"delivered", "failed", "retry"};
    buf_puts(out, "# HELP sluice_notify_deliveries_total Delivery outcomes by channel\n"
                  "# TYPE sluice_notify_deliveries_total counter\n");
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->nchans; i++) {
        const struct chan_state *c = &d->chans[i];
        const int64_t values[] = {c->delivered, c->failed, c->retried};
        for (size_t k = 0; k < 3; k++)
            buf_printf(out, "sluice_notify_deliveries_total{channel=\"%s\",status=\"%s\"} %lld\n",
                       c->name, kinds[k], (long long)values[k]);
    }
    buf_puts(out, "# HELP sluice_notify_breaker_open 1 while the channel's breaker is open or "
                  "probing\n# TYPE sluice_notify_breaker_open gauge\n");
    int64_t now = time_now_us();
    for (size_t i = 0; i < d->nchans; i++)
        buf_printf(out, "sluice_notify_breaker_open{channel=\"%s\"} %d\n", d->chans[i].name,
                   breaker_state(&d->chans[i].breaker, now) != BREAKER_CLOSED);
    buf_puts(out, "# HELP sluice_notify_channel_inflight Sends in flight by channel\n"
                  "# TYPE sluice_notify_channel_inflight gauge\n");
    for (size_t i = 0; i < d->nchans; i++)
        buf_printf(out, "sluice_notify_channel_inflight{channel=\"%s\"} %ld\n", d->chans[i].name,
                   d->chans[i].inflight);
    pthread_mutex_unlock(&d->lock);
}
