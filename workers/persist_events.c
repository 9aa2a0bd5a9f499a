/* persist_events: the events collection's writer. The fast path stages a
 * whole batch with COPY and inserts it with one INSERT ... ON CONFLICT DO
 * NOTHING; the slow path inserts one row at a time. */
#include "buf.h"
#include "persist_writer.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* COPY text format: backslash, tab, newline and carriage return are escaped. */
static void copy_field(struct buf *out, const char *s)
{
    if (!s) {
        buf_append(out, "\\N", 2);
        return;
    }
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *esc = NULL;
        switch (*p) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            continue;
        }
        buf_append(out, run, (size_t)(p - run));
        buf_append(out, esc, 2);
        run = p + 1;
    }
    buf_puts(out, run);
}

void persist_copy_row(struct buf *out, const struct event_envelope *ev)
{
    char occurred[TIME_STR_LEN], received[TIME_STR_LEN];
    time_format(ev->occurred_at_us, occurred);
    time_format(ev->received_at_us, received);
    char *body = json_dumps(ev->body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    copy_field(out, ev->id);
    buf_append(out, "\t", 1);
    copy_field(out, ev->external_id);
    buf_append(out, "\t", 1);
    copy_field(out, ev->type);
    buf_printf(out, "\t%s\t%s\t", occurred, received);
    copy_field(out, body ? body : "{}");
    buf_append(out, "\t", 1);
    copy_field(out, ev->fingerprint);
    buf_append(out, "\n", 1);
    free(body);
}

/* Marks waited-for items whose id the INSERT returned. */
static void mark_created(struct persist_batch *b, const PGresult *res)
{
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        for (size_t i = 0; i < b->count; i++) {
            struct persist_item *it = &b->items[i];
            if (it->wait && !it->skip && !it->poison && strcmp(it->ev.id, id) == 0)
                it->created = true;
        }
    }
}

static enum step_result insert_staged(struct batch_ctx *c, struct persist_stats *stats)
{
    /* Only a waiting client needs to know which rows are new. */
    bool returning = persist_batch_has_waiters(c->b);
    PGresult *res = PQexec(c->conn, returning ? "INSERT INTO events SELECT * FROM events_stage "
                                                "ON CONFLICT (id) DO NOTHING RETURNING id"
                                              : "INSERT INTO events SELECT * FROM events_stage "
                                                "ON CONFLICT (id) DO NOTHING");
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return persist_step_failed(c, res, "inserting events");
    stats->inserted += atol(PQcmdTuples(res));
    if (returning)
        mark_created(c->b, res);
    PQclear(res);
    return STEP_OK;
}

/* The fast path: all writable rows through COPY into a staging table, then
 * one INSERT ... ON CONFLICT DO NOTHING. */
static enum step_result write_copy(struct batch_ctx *c, struct persist_stats *stats, long *writable)
{
    enum step_result r = persist_exec(c,
                                      "CREATE TEMP TABLE IF NOT EXISTS events_stage "
                                      "(LIKE events) ON COMMIT DELETE ROWS",
                                      0, NULL, NULL, "creating staging table");
    if (r != STEP_OK)
        return r;
    PGresult *res = PQexec(c->conn, "COPY events_stage FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN)
        return persist_step_failed(c, res, "starting COPY");
    PQclear(res);
    struct buf chunk = {0};
    int ok = 1;
    for (size_t i = 0; i < c->b->count && ok == 1; i++) {
        if (!persist_item_writable(&c->b->items[i]))
            continue;
        (*writable)++;
        persist_copy_row(&chunk, &c->b->items[i].ev);
        if (chunk.len >= 256 * 1024) {
            ok = PQputCopyData(c->conn, chunk.data, (int)chunk.len);
            buf_reset(&chunk);
        }
    }
    if (ok == 1 && chunk.len)
        ok = PQputCopyData(c->conn, chunk.data, (int)chunk.len);
    buf_free(&chunk);
    if (ok == 1)
        ok = PQputCopyEnd(c->conn, NULL);
    res = PQgetResult(c->conn);
    if (ok != 1 || PQresultStatus(res) != PGRES_COMMAND_OK) {
        enum step_result fr = persist_step_failed(c, res, "COPY");
        while ((res = PQgetResult(c->conn)))
            PQclear(res);
        return fr;
    }
    PQclear(res);
    while ((res = PQgetResult(c->conn)))
        PQclear(res);
    return insert_staged(c, stats);
}

/* One event row: the slow path that isolates a row PostgreSQL refuses. */
static enum step_result write_event(struct batch_ctx *c, struct persist_item *it, bool *created)
{
    char occurred[TIME_STR_LEN], received[TIME_STR_LEN];
    time_format(it->ev.occurred_at_us, occurred);
    time_format(it->ev.received_at_us, received);
    char *body = json_dumps(it->ev.body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    const char *params[] = {it->ev.id, it->ev.external_id, it->ev.type, occurred, received,
                            body,      it->ev.fingerprint};
    PGresult *res = NULL;
    enum step_result r = persist_exec(c,
                                      "INSERT INTO events VALUES ($1, $2, $3, $4, $5, $6, $7) "
                                      "ON CONFLICT (id) DO NOTHING",
                                      7, params, &res, "inserting event");
    free(body);
    *created = r == STEP_OK && strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return r;
}

static int parse_event(struct persist_item *it)
{
    if (envelope_parse_event(it->msg->payload, it->msg->len, &it->ev, it->error,
                             sizeof(it->error)) != 0)
        return -1;
    it->record_id = it->ev.id;
    return 0;
}

const struct persist_writer persist_writer_events = {
    .collection = "events",
    .parse = parse_event,
    .write_all = write_copy,
    .write_one = write_event,
};
