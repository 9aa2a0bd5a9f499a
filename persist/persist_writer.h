/* persist_writer: what a collection plugs into persist_batch (private to
 * persist/). persist_batch owns the transaction, the offsets, the DLQ and the
 * notifications; a writer only parses its envelopes and writes its rows, and
 * reports whether PostgreSQL refused the data (poison) or was unavailable
 * (retry). */
#ifndef SLUICE_PERSIST_WRITER_H
#define SLUICE_PERSIST_WRITER_H

#include "buf.h"
#include "persist_batch.h"
#include "persist_log.h"

#include <libpq-fe.h>

/* Per-partition bookkeeping of one batch. */
struct part_state {
    int32_t partition;
    int64_t first;       /* the partition's lowest offset in the batch */
    int64_t stored_next; /* next_offset in PostgreSQL when the batch began */
    int64_t new_next;
    char stored_cluster[128]; /* "" when NULL */
    bool cluster_null;
    char anchor[PERSIST_ANCHOR_LEN + 1]; /* what the row's anchor becomes; "" for NULL */
    enum persist_log_verdict verdict;
};

struct batch_ctx {
    PGconn *conn;
    const char *group;
    const char *topic;
    const char *cluster_id;
    const struct persist_sink *sink;
    struct persist_batch *b;
    struct part_state *parts; /* one per partition in the batch */
    size_t nparts;
    struct buf parts_array; /* "{0,1,2}" */
    char *err;
    size_t errlen;
};

enum step_result { STEP_OK, STEP_DATA_ERROR, STEP_TRANSIENT };

struct persist_writer {
    /* Its parsed envelope, which the batch allocates zeroed into
     * it->record. Unless parse sets it->release, it begins with json_t
     * *root like every envelope struct (envelope.h), the tree its other
     * members borrow from, which the batch releases when it forgets the
     * item. */
    size_t record_size;
    /* Parses it->msg into it->record and returns its id (borrowed from the
     * record); NULL with it->error makes it poison. */
    const char *(*parse)(struct persist_item *it);
    /* Inside the transaction, before any row is written: may make items
     * poison (for example a reused Idempotency-Key); NULL when not needed. */
    enum step_result (*prepare)(struct batch_ctx *c);
    /* All writable items at once (for example through COPY), setting each
     * one's outcome, or NULL to go row by row through write_one. Either way
     * a batch PostgreSQL refuses is written again row by row under
     * savepoints, to find the rows it refuses. */
    enum step_result (*write_all)(struct batch_ctx *c);
    /* One item; *created says whether it made a new record (a writer that
     * knows better sets it->outcome itself). A write the writer refuses
     * before writing anything sets it->reject_status and returns
     * STEP_DATA_ERROR: the item becomes poison, the transaction goes on. */
    enum step_result (*write_one)(struct batch_ctx *c, struct persist_item *it, bool *created);
};

/* Classifies the failure of res (cleared here) and fills c->err. */
enum step_result persist_step_failed(struct batch_ctx *c, PGresult *res, const char *what);
/* Runs a statement; with out, hands the result over (the caller clears it). */
enum step_result persist_exec(struct batch_ctx *c, const char *sql, int n,
                              const char *const *params, PGresult **out, const char *what);
/* Runs an INSERT ... ON CONFLICT DO NOTHING of one row; *created says whether
 * it made the row. */
enum step_result persist_insert(struct batch_ctx *c, const char *sql, int n,
                                const char *const *params, bool *created, const char *what);
bool persist_item_writable(const struct persist_item *it);

bool persist_batch_has_waiters(const struct persist_batch *b);

#endif
