#include "pg.h"

#include "buf.h"
#include "log.h"
#include "timeutil.h"

#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Any 64-bit constant works as long as every process uses the same one. */
#define PG_MIGRATION_LOCK 0x736c756963650001LL

/* Server notices ("relation already exists, skipping") are not errors. */
static void pg_notice(void *arg, const char *message)
{
    (void)arg;
    char line[512];
    snprintf(line, sizeof(line), "%s", message);
    line[strcspn(line, "\n")] = '\0';
    log_debug("postgresql notice", "detail", line);
}

PGconn *pg_connect(const char *url, char *err, size_t errlen)
{
    /* Without these a server that vanishes without a reset (a failover, a
     * black-holed network) blocks a worker for the kernel's TCP retries,
     * many minutes, while its claims expire. Settings in url win: they come
     * after these in the expanded dbname. */
    static const char *const keys[] = {"connect_timeout",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "tcp_user_timeout",
                                       "dbname",
                                       NULL};
    const char *values[] = {"10", "30", "10", "3", "30000", url, NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(conn));
        /* libpq messages end with a newline; keep log lines one line. */
        err[strcspn(err, "\n")] = '\0';
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, pg_notice, NULL);
    return conn;
}

PGconn *pg_connect_retry(const char *url, int deadline_ms, char *err, size_t errlen)
{
    int waited = 0, delay = 100;
    for (;;) {
        PGconn *conn = pg_connect(url, err, errlen);
        if (conn || waited >= deadline_ms)
            return conn;
        time_sleep_ms(delay);
        waited += delay;
        delay = delay * 2 > 2000 ? 2000 : delay * 2;
    }
}

bool pg_error_is_transient(PGconn *conn, const PGresult *res)
{
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        return true;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return true; /* no SQLSTATE: the failure was in the client or the wire */
    return strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
           strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0 ||
           strncmp(state, "58", 2) == 0;
}

int pg_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        if (err && errlen) {
            snprintf(err, errlen, "%s", PQerrorMessage(conn));
            err[strcspn(err, "\n")] = '\0';
        }
        rc = -1;
    }
    PQclear(res);
    return rc;
}

static int migration_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Applies one migration unless already recorded; 1 applied, 0 skipped, -1 error. */
static int pg_apply_migration(PGconn *conn, const char *dir, const char *name, char *err,
                              size_t errlen)
{
    char version[16];
    snprintf(version, sizeof(version), "%.*s", (int)strspn(name, "0123456789"), name);
    const char *params[2] = {version, name};
    PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1,
                                 NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading schema_migrations: %s", PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    bool applied = PQntuples(res) > 0;
    PQclear(res);
    if (applied)
        return 0;

    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct buf text = {0};
    if (buf_read_file(&text, path) != 0) {
        snprintf(err, errlen, "cannot read migration %s", path);
        buf_free(&text);
        return -1;
    }
    char *sql = buf_steal(&text);
    int rc = -1;
    if (pg_exec(conn, "BEGIN", err, errlen) != 0)
        goto out;
    if (pg_exec(conn, sql, err, errlen) != 0) {
        char detail[512];
        snprintf(detail, sizeof(detail), "%s", err);
        snprintf(err, errlen, "migration %s failed: %s", name, detail);
        goto rollback;
    }
    res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)",
                       2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "recording migration %s: %s", name, PQerrorMessage(conn));
        PQclear(res);
        goto rollback;
    }
    PQclear(res);
    if (pg_exec(conn, "COMMIT", err, errlen) != 0)
        goto out;
    log_info("applied migration", "name", name);
    rc = 1;
    goto out;
rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
out:
    free(sql);
    return rc;
}

int pg_migrate(PGconn *conn, const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot open schema directory %s", dir);
        return -1;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) && n < 256) {
        size_t len = strlen(ent->d_name);
        if (len > 4 && strcmp(ent->d_name + len - 4, ".sql") == 0 && ent->d_name[0] >= '0' &&
            ent->d_name[0] <= '9')
            names[n++] = strdup(ent->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), migration_name_cmp);

    int rc = -1;
    char lock[96];
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_lock(%lld)", PG_MIGRATION_LOCK);
    if (pg_exec(conn, lock, err, errlen) != 0)
        goto out;
    if (pg_exec(conn,
                "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text "
                "NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                err, errlen) != 0)
        goto unlock;
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (pg_apply_migration(conn, dir, names[i], err, errlen) < 0)
            rc = -1;
    }
unlock:
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_unlock(%lld)", PG_MIGRATION_LOCK);
    PQclear(PQexec(conn, lock));
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return rc;
}

void pg_text_array_add(struct buf *out, const char *s)
{
    buf_puts(out, out->len > 1 ? ",\"" : "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_append(out, "\\", 1);
        buf_append(out, p, 1);
    }
    buf_puts(out, "\"");
}

unsigned pg_wait_readable(PGconn *conn, int other_fd, int timeout_ms)
{
    struct pollfd fds[2];
    nfds_t n = 0;
    int sock = conn ? PQsocket(conn) : -1;
    if (sock >= 0)
        fds[n++] = (struct pollfd){.fd = sock, .events = POLLIN};
    if (other_fd >= 0)
        fds[n++] = (struct pollfd){.fd = other_fd, .events = POLLIN};
    if (poll(fds, n, timeout_ms) <= 0)
        return 0;
    unsigned ready = 0;
    for (nfds_t i = 0; i < n; i++)
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
            ready |= fds[i].fd == sock ? PG_READABLE_CONN : PG_READABLE_OTHER;
    return ready;
}
