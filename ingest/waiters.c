#include "waiters.h"

#include "http.h"
#include "log.h"
#include "pg.h"
#include "timeutil.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define WAITER_BUCKETS 1024

struct waiter {
    char id[UUID_STR_LEN];
    struct request *req;
    int64_t deadline_us;
    bool parked; /* suspended after the ack, waiting for the outcome */
    struct wait_result result;
    struct waiter *next;
};

struct waiters {
    char *url;
    pthread_mutex_t lock;
    struct waiter *buckets[WAITER_BUCKETS];
    bool closing; /* no more parking: everything answers as timed out */
    pthread_t thread;
    atomic_bool stop;
};

static size_t bucket_of(const char *id)
{
    size_t h = 5381;
    for (const char *p = id; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return h % WAITER_BUCKETS;
}

/* Caller holds the lock. */
static struct waiter **find(struct waiters *w, const char *id)
{
    struct waiter **pp = &w->buckets[bucket_of(id)];
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Caller holds the lock: sets the outcome once and wakes a parked request. */
static void settle(struct waiter *wt, enum wait_outcome outcome, int status, const char *error)
{
    if (wt->result.outcome != WAIT_PENDING)
        return;
    wt->result.outcome = outcome;
    wt->result.status = status;
    snprintf(wt->result.error, sizeof(wt->result.error), "%s", error ? error : "");
    if (wt->parked) {
        wt->parked = false;
        http_resume(wt->req);
    }
}

static void on_notify(struct waiters *w, const char *payload)
{
    json_t *doc = json_loads(payload, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *outcome = json_string_value(json_object_get(doc, "outcome"));
    const char *error = json_string_value(json_object_get(doc, "error"));
    if (id && outcome) {
        enum wait_outcome o = strcmp(outcome, "created") == 0   ? WAIT_CREATED
                              : strcmp(outcome, "updated") == 0 ? WAIT_UPDATED
                              : strcmp(outcome, "exists") == 0  ? WAIT_EXISTS
                                                                : WAIT_REJECTED;
        pthread_mutex_lock(&w->lock);
        struct waiter *wt = *find(w, id);
        if (wt)
            settle(wt, o, (int)json_integer_value(json_object_get(doc, "status")), error);
        pthread_mutex_unlock(&w->lock);
    }
    json_decref(doc);
}

static void expire(struct waiters *w, bool all)
{
    int64_t now = time_now_us();
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < WAITER_BUCKETS; i++) {
        for (struct waiter *wt = w->buckets[i]; wt; wt = wt->next) {
            if (all || now >= wt->deadline_us)
                settle(wt, WAIT_TIMEOUT, 0, NULL);
        }
    }
    pthread_mutex_unlock(&w->lock);
}

static PGconn *listen_connect(struct waiters *w)
{
    char err[256];
    PGconn *conn = pg_connect(w->url, err, sizeof(err));
    if (!conn)
        return NULL;
    if (pg_exec(conn, "LISTEN " ENVELOPE_PERSISTED_CHANNEL, err, sizeof(err)) != 0) {
        log_warn("cannot LISTEN for persisted records", "detail", err);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

static void *waiters_run(void *arg)
{
    struct waiters *w = arg;
    PGconn *conn = NULL;
    int64_t next_connect = 0;
    while (!atomic_load(&w->stop)) {
        if ((!conn || PQstatus(conn) != CONNECTION_OK) && time_now_us() >= next_connect) {
            PQfinish(conn);
            conn = listen_connect(w);
            /* While PostgreSQL is away, waiters simply run out of time. */
            if (!conn)
                next_connect = time_now_us() + 500000;
        }
        if (conn && PQstatus(conn) == CONNECTION_OK) {
            if (pg_wait_readable(conn, -1, 20) && !PQconsumeInput(conn))
                log_warn("lost the LISTEN connection; reconnecting");
            PGnotify *n;
            while ((n = PQnotifies(conn))) {
                on_notify(w, n->extra);
                PQfreemem(n);
            }
        } else {
            pg_wait_readable(NULL, -1, 20);
        }
        expire(w, false);
    }
    PQfinish(conn);
    return NULL;
}

struct waiters *waiters_start(const char *pg_url, char *err, size_t errlen)
{
    struct waiters *w = calloc(1, sizeof(*w));
    if (!w || !(w->url = strdup(pg_url))) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    if (pthread_create(&w->thread, NULL, waiters_run, w) != 0) {
        snprintf(err, errlen, "cannot start the LISTEN thread");
        pthread_mutex_destroy(&w->lock);
        free(w->url);
        free(w);
        return NULL;
    }
    return w;
}

void waiters_close(struct waiters *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    bool was_closing = w->closing;
    w->closing = true;
    pthread_mutex_unlock(&w->lock);
    if (was_closing)
        return;
    /* After closing is set no request parks (waiters_acked answers at once),
     * so this one pass resumes every request that ever will need it. */
    expire(w, true);
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
}

void waiters_free(struct waiters *w)
{
    if (!w)
        return;
    waiters_close(w);
    for (size_t i = 0; i < WAITER_BUCKETS; i++) {
        while (w->buckets[i]) {
            struct waiter *next = w->buckets[i]->next;
            free(w->buckets[i]);
            w->buckets[i] = next;
        }
    }
    pthread_mutex_destroy(&w->lock);
    free(w->url);
    free(w);
}

int waiters_parse_prefer(const char *prefer)
{
    if (!prefer)
        return -1;
    /* Preferences are separated by commas; parameters by semicolons. */
    for (const char *p = prefer; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == ';')
            p++;
        if (strncasecmp(p, "wait", 4) == 0) {
            const char *q = p + 4;
            while (*q == ' ')
                q++;
            if (*q == '=') {
                q++;
                while (*q == ' ')
                    q++;
                if (*q == '"')
                    q++;
                if (isdigit((unsigned char)*q)) {
                    long n = 0;
                    while (isdigit((unsigned char)*q) && n <= WAIT_MAX_SECONDS)
                        n = n * 10 + (*q++ - '0');
                    if (n <= 0)
                        return -1;
                    return n > WAIT_MAX_SECONDS ? WAIT_MAX_SECONDS : (int)n;
                }
            }
        }
        p += strcspn(p, ",;");
    }
    return -1;
}

int waiters_add(struct waiters *w, const char *id, struct request *req, int64_t deadline_us)
{
    struct waiter *wt = calloc(1, sizeof(*wt));
    if (!wt)
        return -1;
    snprintf(wt->id, sizeof(wt->id), "%s", id);
    wt->req = req;
    wt->deadline_us = deadline_us;
    pthread_mutex_lock(&w->lock);
    struct waiter **pp = find(w, id);
    if (*pp) {
        /* The same id is already awaited (a concurrent retry): let this one
         * answer without waiting rather than share an entry. */
        pthread_mutex_unlock(&w->lock);
        free(wt);
        return -1;
    }
    *pp = wt;
    pthread_mutex_unlock(&w->lock);
    return 0;
}

static void take_locked(struct waiters *w, const char *id, struct wait_result *result)
{
    struct waiter **pp = find(w, id);
    struct waiter *wt = *pp;
    if (!wt) {
        result->outcome = WAIT_TIMEOUT;
        result->error[0] = '\0';
        return;
    }
    *result = wt->result;
    if (result->outcome == WAIT_PENDING)
        result->outcome = WAIT_TIMEOUT;
    *pp = wt->next;
    free(wt);
}

bool waiters_acked(struct waiters *w, const char *id, struct request *req,
                   waiters_resume_fn on_resume, struct wait_result *result)
{
    pthread_mutex_lock(&w->lock);
    struct waiter *wt = *find(w, id);
    if (!wt || wt->result.outcome != WAIT_PENDING || w->closing) {
        take_locked(w, id, result);
        pthread_mutex_unlock(&w->lock);
        return true;
    }
    /* Park under the lock so the outcome cannot slip in between. */
    wt->parked = true;
    http_suspend(req, on_resume);
    pthread_mutex_unlock(&w->lock);
    return false;
}

void waiters_remove(struct waiters *w, const char *id)
{
    struct wait_result ignored;
    waiters_take(w, id, &ignored);
}

void waiters_take(struct waiters *w, const char *id, struct wait_result *result)
{
    pthread_mutex_lock(&w->lock);
    take_locked(w, id, result);
    pthread_mutex_unlock(&w->lock);
}
