#include "keyfilter.h"

#include "bloom.h"
#include "log.h"
#include "pg.h"
#include "timeutil.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The first stage's size: a replica whose table is small takes ~128 KiB. */
#define KEYFILTER_FIRST_CAPACITY 65536
#define KEYFILTER_RECONNECT_US 500000
/* Hashes added under one lock while loading, so the HTTP threads' claims
 * interleave with a long load instead of waiting behind it. */
#define KEYFILTER_LOAD_BATCH 1024

struct keyfilter {
    char *url;
    pthread_mutex_t lock;  /* the fields below */
    struct bloom *current; /* whole while ready */
    struct bloom *loading; /* being loaded: claims go into it too */
    bool ready;
    bool broken; /* an add failed (out of memory): reload */
    atomic_bool stop;
    int wake[2]; /* keyfilter_stop writes here */
    pthread_t thread;
};

uint64_t keyfilter_hash(const char *name)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)name, strlen(name), md);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = h << 8 | md[i];
    return h;
}

/* Adds to every filter that must hold the hash; the lock is held. */
static void add_locked(struct keyfilter *kf, uint64_t h)
{
    if (kf->current && bloom_add(kf->current, h) != 0)
        kf->broken = true;
    if (kf->loading && bloom_add(kf->loading, h) != 0)
        kf->broken = true;
    if (kf->broken)
        kf->ready = false;
}

enum keyfilter_answer keyfilter_claim(struct keyfilter *kf, const char *name)
{
    uint64_t h = keyfilter_hash(name);
    pthread_mutex_lock(&kf->lock);
    enum keyfilter_answer answer = !kf->ready                          ? KEYFILTER_UNKNOWN
                                   : bloom_may_contain(kf->current, h) ? KEYFILTER_MAYBE
                                                                       : KEYFILTER_NEW;
    add_locked(kf, h);
    pthread_mutex_unlock(&kf->lock);
    return answer;
}

bool keyfilter_ready(struct keyfilter *kf)
{
    pthread_mutex_lock(&kf->lock);
    bool ready = kf->ready;
    pthread_mutex_unlock(&kf->lock);
    return ready;
}

size_t keyfilter_count(struct keyfilter *kf)
{
    pthread_mutex_lock(&kf->lock);
    size_t n = kf->current ? bloom_count(kf->current) : 0;
    pthread_mutex_unlock(&kf->lock);
    return n;
}

/* 16 hex digits into *out; false for anything else. */
static bool parse_hash(const char *s, size_t len, uint64_t *out)
{
    if (len != 16)
        return false;
    uint64_t h = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                            : 16;
        if (d == 16)
            return false;
        h = h << 4 | d;
    }
    *out = h;
    return true;
}

/* A notification's payload: hashes separated by spaces. */
static void add_payload(struct keyfilter *kf, const char *payload)
{
    pthread_mutex_lock(&kf->lock);
    for (const char *p = payload; *p;) {
        size_t len = strcspn(p, " ");
        uint64_t h;
        if (parse_hash(p, len, &h))
            add_locked(kf, h);
        p += len;
        p += strspn(p, " ");
    }
    pthread_mutex_unlock(&kf->lock);
}

static void drain_notifies(struct keyfilter *kf, PGconn *conn)
{
    PGnotify *n;
    while ((n = PQnotifies(conn))) {
        add_payload(kf, n->extra);
        PQfreemem(n);
    }
}

/* Waits until conn's socket (or the stop pipe) is readable, at most
 * 200 ms; false when stopping. */
static bool wait_readable(struct keyfilter *kf, PGconn *conn)
{
    pg_wait_readable(conn, kf->wake[0], 200);
    return !atomic_load(&kf->stop);
}

/* Reads every stored key's hash into a fresh filter and swaps it in; the
 * claims made meanwhile go into both. 0, or -1 (the connection is then not
 * reusable: the caller drops it). Row by row (single-row mode), so a large
 * table costs the filter's bits, not a result set, and a stop interrupts. */
static int load(struct keyfilter *kf, PGconn *conn)
{
    struct bloom *fresh = bloom_new(KEYFILTER_FIRST_CAPACITY);
    if (!fresh)
        return -1;
    pthread_mutex_lock(&kf->lock);
    kf->loading = fresh;
    kf->broken = false;
    pthread_mutex_unlock(&kf->lock);
    bool ok = PQsendQuery(conn, "SELECT sluice_idem_hash(principal, collection, key) "
                                "FROM idempotency_keys") &&
              PQsetSingleRowMode(conn);
    uint64_t batch[KEYFILTER_LOAD_BATCH];
    size_t nbatch = 0;
    for (bool done = !ok; !done;) {
        while (ok && PQisBusy(conn))
            ok = wait_readable(kf, conn) && PQconsumeInput(conn);
        PGresult *res = ok ? PQgetResult(conn) : NULL;
        done = !res;
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st == PGRES_SINGLE_TUPLE) {
            if (parse_hash(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), &batch[nbatch]))
                nbatch++;
        } else if (res && st != PGRES_TUPLES_OK) {
            log_warn("cannot load the idempotency keys' filter", "detail",
                     PQresultErrorMessage(res));
            ok = false;
        }
        PQclear(res);
        if (nbatch == KEYFILTER_LOAD_BATCH || (done && nbatch)) {
            pthread_mutex_lock(&kf->lock);
            for (size_t i = 0; i < nbatch; i++)
                if (bloom_add(fresh, batch[i]) != 0)
                    kf->broken = true;
            pthread_mutex_unlock(&kf->lock);
            nbatch = 0;
        }
    }
    pthread_mutex_lock(&kf->lock);
    kf->loading = NULL;
    struct bloom *old = fresh;
    ok = ok && !kf->broken;
    if (ok) {
        old = kf->current;
        kf->current = fresh;
        kf->ready = true;
    }
    pthread_mutex_unlock(&kf->lock);
    bloom_free(old);
    return ok ? 0 : -1;
}

static void set_unready(struct keyfilter *kf)
{
    pthread_mutex_lock(&kf->lock);
    kf->ready = false;
    pthread_mutex_unlock(&kf->lock);
}

static void *keyfilter_run(void *arg)
{
    struct keyfilter *kf = arg;
    PGconn *conn = NULL;
    int64_t next_connect = 0;
    bool logged = false;
    while (!atomic_load(&kf->stop)) {
        if (!conn) {
            int64_t now = time_now_us();
            if (now < next_connect) {
                wait_readable(kf, NULL);
                continue;
            }
            char err[256];
            conn = pg_connect(kf->url, err, sizeof(err));
            if (conn && pg_exec(conn, "LISTEN sluice_idempotency_keys", err, sizeof(err)) != 0) {
                PQfinish(conn);
                conn = NULL;
            }
            if (conn && load(kf, conn) != 0) {
                PQfinish(conn);
                conn = NULL;
                snprintf(err, sizeof(err), "the load failed");
            }
            if (!conn) {
                if (!logged)
                    log_warn("idempotency keys' filter unavailable: every new key is looked up "
                             "in PostgreSQL until it is back",
                             "detail", err);
                logged = true;
                next_connect = now + KEYFILTER_RECONNECT_US;
                continue;
            }
            if (logged)
                log_info("idempotency keys' filter loaded again");
            logged = false;
        }
        drain_notifies(kf, conn);
        bool broken;
        pthread_mutex_lock(&kf->lock);
        broken = kf->broken;
        pthread_mutex_unlock(&kf->lock);
        if (!wait_readable(kf, conn))
            break;
        if (broken || !PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) {
            /* A notification may have been lost with the connection: the
             * filter is not whole until it is loaded again. */
            set_unready(kf);
            PQfinish(conn);
            conn = NULL;
        }
    }
    PQfinish(conn);
    return NULL;
}

struct keyfilter *keyfilter_start(const char *pg_url, char *err, size_t errlen)
{
    struct keyfilter *kf = calloc(1, sizeof(*kf));
    if (!kf || !(kf->url = strdup(pg_url))) {
        snprintf(err, errlen, "out of memory");
        free(kf);
        return NULL;
    }
    pthread_mutex_init(&kf->lock, NULL);
    if (pipe(kf->wake) != 0) {
        snprintf(err, errlen, "cannot make the idempotency filter's pipe");
        goto fail;
    }
    if (pthread_create(&kf->thread, NULL, keyfilter_run, kf) != 0) {
        snprintf(err, errlen, "cannot start the idempotency filter's thread");
        close(kf->wake[0]);
        close(kf->wake[1]);
        goto fail;
    }
    return kf;
fail:
    pthread_mutex_destroy(&kf->lock);
    free(kf->url);
    free(kf);
    return NULL;
}

void keyfilter_stop(struct keyfilter *kf)
{
    if (!kf)
        return;
    atomic_store(&kf->stop, true);
    if (write(kf->wake[1], "s", 1) != 1) {
        /* The thread sees stop within its select timeout anyway. */
    }
    pthread_join(kf->thread, NULL);
    close(kf->wake[0]);
    close(kf->wake[1]);
    bloom_free(kf->current);
    pthread_mutex_destroy(&kf->lock);
    free(kf->url);
    free(kf);
}
