#include "keystore.h"

#include "buf.h"
#include "log.h"
#include "pg.h"
#include "pgpool.h"
#include "timeutil.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct key_entry {
    char id[APIKEY_ID_MAX];
    unsigned char hash[32];
    char tenant[TENANT_MAX];
    unsigned scopes;
    int64_t expires_us; /* 0: never */
    /* Set by request threads, written to PostgreSQL by the store's thread. */
    _Atomic int64_t last_used_us;
    int64_t flushed_us;
};

/* A loaded table: entries sorted by id, replaced whole on every reload. */
struct key_table {
    struct key_entry *entries;
    size_t count;
};

struct keystore {
    char *url;
    char pepper[256];
    size_t pepper_len;
    pthread_t thread;
    atomic_bool stop;
    int wake[2]; /* a byte here wakes the thread: reload now */
    /* Readers (request threads) take it shared for a lookup; the thread
     * takes it exclusively only to swap in a new table. */
    pthread_rwlock_t lock;
    struct key_table *table; /* NULL until the first load */
    /* keystore_reload_wait: how many reloads ran, under reload_lock. */
    pthread_mutex_t reload_lock;
    pthread_cond_t reloaded;
    unsigned long generation;
};

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct key_entry *)a)->id, ((const struct key_entry *)b)->id);
}

static struct key_entry *table_find(struct key_table *t, const char *id)
{
    struct key_entry probe;
    snprintf(probe.id, sizeof(probe.id), "%s", id);
    return t ? bsearch(&probe, t->entries, t->count, sizeof(*t->entries), entry_cmp) : NULL;
}

static void table_free(struct key_table *t)
{
    if (t)
        free(t->entries);
    free(t);
}

void keystore_hash(const struct keystore *ks, const char *key, unsigned char out[32])
{
    apikey_hash(key, (const unsigned char *)ks->pepper, ks->pepper_len, out);
}

enum keystore_result keystore_check(struct keystore *ks, const char *key, size_t len,
                                    int64_t now_us, struct principal *out)
{
    char id[APIKEY_ID_MAX];
    if (len >= APIKEY_MAX || apikey_parse(key, len, id) != 0)
        return KEYSTORE_MALFORMED;
    char text[APIKEY_MAX];
    memcpy(text, key, len);
    text[len] = '\0';
    unsigned char hash[32];
    keystore_hash(ks, text, hash);
    OPENSSL_cleanse(text, sizeof(text));

    enum keystore_result result = KEYSTORE_UNKNOWN;
    pthread_rwlock_rdlock(&ks->lock);
    struct key_entry *e = table_find(ks->table, id);
    if (!ks->table) {
        result = KEYSTORE_NOT_LOADED;
    } else if (e && CRYPTO_memcmp(e->hash, hash, sizeof(hash)) == 0) {
        if (e->expires_us && now_us >= e->expires_us) {
            result = KEYSTORE_EXPIRED;
        } else {
            result = KEYSTORE_OK;
            out->kind = PRINCIPAL_API_KEY;
            snprintf(out->id, sizeof(out->id), "key:%s", e->id);
            snprintf(out->tenant, sizeof(out->tenant), "%s", e->tenant);
            out->scopes = e->scopes;
            /* A second's precision is all last_used_at promises; this keeps
             * the cache line mostly read-only under load. */
            if (now_us - atomic_load_explicit(&e->last_used_us, memory_order_relaxed) > 1000000)
                atomic_store_explicit(&e->last_used_us, now_us, memory_order_relaxed);
        }
    }
    pthread_rwlock_unlock(&ks->lock);
    return result;
}

/* Reads every key that may still be used. NULL on a database error. */
static struct key_table *load(PGconn *conn)
{
    char err[256];
    PGresult *res = pgpool_exec(conn,
                                "SELECT id, hash, tenant, array_to_string(scopes, ' '), "
                                "COALESCE((extract(epoch FROM expires_at) * 1e6)::bigint, 0) "
                                "FROM api_keys WHERE revoked_at IS NULL AND "
                                "(expires_at IS NULL OR expires_at > now()) ORDER BY id",
                                0, NULL, KEYSTORE_QUERY_TIMEOUT_MS, err, sizeof(err));
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_warn("cannot read the API keys", "detail", res ? PQerrorMessage(conn) : err);
        PQclear(res);
        return NULL;
    }
    int rows = PQntuples(res);
    struct key_table *t = calloc(1, sizeof(*t));
    if (!t || (rows && !(t->entries = calloc((size_t)rows, sizeof(*t->entries))))) {
        free(t);
        PQclear(res);
        return NULL;
    }
    for (int i = 0; i < rows; i++) {
        struct key_entry *e = &t->entries[t->count];
        size_t hashlen = 0;
        unsigned char *hash =
            PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 1), &hashlen);
        char bad[64];
        /* A row this version cannot use (a hash of another size, a scope it
         * does not know) is left out: its key is refused, never widened. */
        if (!hash || hashlen != sizeof(e->hash) ||
            scopes_parse(PQgetvalue(res, i, 3), &e->scopes, bad, sizeof(bad)) != 0) {
            log_warn("API key left out: unreadable row", "key", PQgetvalue(res, i, 0));
            PQfreemem(hash);
            continue;
        }
        memcpy(e->hash, hash, sizeof(e->hash));
        PQfreemem(hash);
        snprintf(e->id, sizeof(e->id), "%s", PQgetvalue(res, i, 0));
        snprintf(e->tenant, sizeof(e->tenant), "%s", PQgetvalue(res, i, 2));
        e->expires_us = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        t->count++;
    }
    PQclear(res);
    /* ORDER BY id sorts by the database's collation; bsearch needs strcmp's. */
    qsort(t->entries, t->count, sizeof(*t->entries), entry_cmp);
    return t;
}

/* Writes the uses recorded since the last flush, in one statement. */
static void flush_last_used(struct keystore *ks, PGconn *conn)
{
    struct buf ids = {0}, times = {0};
    buf_puts(&ids, "{");
    buf_puts(&times, "{");
    size_t n = 0;
    pthread_rwlock_rdlock(&ks->lock);
    for (size_t i = 0; ks->table && i < ks->table->count; i++) {
        struct key_entry *e = &ks->table->entries[i];
        int64_t used = atomic_load_explicit(&e->last_used_us, memory_order_relaxed);
        if (used <= e->flushed_us)
            continue;
        pg_text_array_add(&ids, e->id);
        buf_printf(&times, "%s%lld", n ? "," : "", (long long)used);
        e->flushed_us = used;
        n++;
    }
    pthread_rwlock_unlock(&ks->lock);
    buf_puts(&ids, "}");
    buf_puts(&times, "}");
    if (n && ids.data && times.data) {
        const char *params[] = {ids.data, times.data};
        char err[256];
        PGresult *res = pgpool_exec(conn,
                                    "UPDATE api_keys k SET last_used_at = to_timestamp(u.t / 1e6) "
                                    "FROM unnest($1::text[], $2::bigint[]) AS u(id, t) "
                                    "WHERE k.id = u.id AND (k.last_used_at IS NULL OR "
                                    "k.last_used_at < to_timestamp(u.t / 1e6))",
                                    2, params, KEYSTORE_QUERY_TIMEOUT_MS, err, sizeof(err));
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            log_warn("cannot record the API keys' last use", "detail",
                     res ? PQerrorMessage(conn) : err);
        PQclear(res);
    }
    buf_free(&ids);
    buf_free(&times);
}

static void swap_in(struct keystore *ks, struct key_table *fresh)
{
    pthread_rwlock_wrlock(&ks->lock);
    for (size_t i = 0; i < fresh->count; i++) {
        struct key_entry *old = table_find(ks->table, fresh->entries[i].id);
        if (old) {
            atomic_store(&fresh->entries[i].last_used_us, atomic_load(&old->last_used_us));
            fresh->entries[i].flushed_us = old->flushed_us;
        }
    }
    struct key_table *old = ks->table;
    ks->table = fresh;
    pthread_rwlock_unlock(&ks->lock);
    table_free(old);
}

static PGconn *listen_connect(struct keystore *ks)
{
    char err[256];
    PGconn *conn = pg_connect(ks->url, err, sizeof(err));
    if (!conn)
        return NULL;
    if (pg_exec(conn, "LISTEN sluice_keys", err, sizeof(err)) != 0) {
        log_warn("cannot LISTEN for API key changes", "detail", err);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

static void announce_reload(struct keystore *ks)
{
    pthread_mutex_lock(&ks->reload_lock);
    ks->generation++;
    pthread_cond_broadcast(&ks->reloaded);
    pthread_mutex_unlock(&ks->reload_lock);
}

static void *keystore_run(void *arg)
{
    struct keystore *ks = arg;
    PGconn *conn = NULL;
    int64_t next_connect = 0, next_reload = 0, next_flush = 0;
    bool reload = true;
    while (!atomic_load(&ks->stop)) {
        int64_t now = time_now_us();
        if ((!conn || PQstatus(conn) != CONNECTION_OK) && now >= next_connect) {
            PQfinish(conn);
            conn = listen_connect(ks);
            /* Whatever changed while the connection was down: read it all. */
            reload = true;
            if (!conn)
                next_connect = now + 500000;
        }
        bool up = conn && PQstatus(conn) == CONNECTION_OK;
        if (up && (reload || now >= next_reload)) {
            struct key_table *fresh = load(conn);
            if (fresh) {
                swap_in(ks, fresh);
                reload = false;
                next_reload = now + (int64_t)KEYSTORE_RELOAD_MS * 1000;
            }
            announce_reload(ks);
        }
        if (up && now >= next_flush) {
            flush_last_used(ks, conn);
            next_flush = now + (int64_t)KEYSTORE_FLUSH_MS * 1000;
        }
        if (up && PQtransactionStatus(conn) == PQTRANS_ACTIVE) {
            /* A query ran out of time and is still on the connection: a
             * new one, as the pool does (and the keys read again then). */
            PQfinish(conn);
            conn = NULL;
            continue;
        }
        unsigned ready = pg_wait_readable(up ? conn : NULL, ks->wake[0], 200);
        if (!ready)
            continue;
        if (ready & PG_READABLE_OTHER) {
            char drain[64];
            if (read(ks->wake[0], drain, sizeof(drain)) > 0)
                reload = true;
        }
        if (up && (ready & PG_READABLE_CONN)) {
            if (!PQconsumeInput(conn))
                log_warn("lost the API keys' LISTEN connection; reconnecting");
            PGnotify *n;
            while ((n = PQnotifies(conn))) {
                reload = true;
                PQfreemem(n);
            }
        }
    }
    if (conn && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE)
        flush_last_used(ks, conn);
    PQfinish(conn);
    announce_reload(ks);
    return NULL;
}

void keystore_reload_wait(struct keystore *ks, int timeout_ms)
{
    pthread_mutex_lock(&ks->reload_lock);
    unsigned long seen = ks->generation;
    pthread_mutex_unlock(&ks->reload_lock);
    if (write(ks->wake[1], "r", 1) != 1)
        return;
    struct timespec deadline = time_deadline(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&ks->reload_lock);
    while (ks->generation == seen && !atomic_load(&ks->stop))
        if (pthread_cond_timedwait(&ks->reloaded, &ks->reload_lock, &deadline) != 0)
            break;
    pthread_mutex_unlock(&ks->reload_lock);
}

struct keystore *keystore_start(const char *pg_url, const char *pepper, char *err, size_t errlen)
{
    struct keystore *ks = calloc(1, sizeof(*ks));
    size_t plen = pepper ? strlen(pepper) : 0;
    if (!ks || !(ks->url = strdup(pg_url)) || plen >= sizeof(ks->pepper)) {
        snprintf(err, errlen,
                 ks && plen >= sizeof(ks->pepper) ? "the pepper is too long" : "out of memory");
        if (ks)
            free(ks->url);
        free(ks);
        return NULL;
    }
    memcpy(ks->pepper, pepper ? pepper : "", plen);
    ks->pepper_len = plen;
    pthread_rwlock_init(&ks->lock, NULL);
    pthread_mutex_init(&ks->reload_lock, NULL);
    pthread_cond_init(&ks->reloaded, NULL);
    if (pipe(ks->wake) != 0 || pthread_create(&ks->thread, NULL, keystore_run, ks) != 0) {
        snprintf(err, errlen, "cannot start the API keys' thread");
        free(ks->url);
        free(ks);
        return NULL;
    }
    return ks;
}

void keystore_stop(struct keystore *ks)
{
    if (!ks)
        return;
    atomic_store(&ks->stop, true);
    if (write(ks->wake[1], "s", 1) != 1) {
        /* The thread sees stop within its select timeout anyway. */
    }
    pthread_join(ks->thread, NULL);
    close(ks->wake[0]);
    close(ks->wake[1]);
    table_free(ks->table);
    pthread_rwlock_destroy(&ks->lock);
    pthread_mutex_destroy(&ks->reload_lock);
    pthread_cond_destroy(&ks->reloaded);
    OPENSSL_cleanse(ks->pepper, sizeof(ks->pepper));
    free(ks->url);
    free(ks);
}
