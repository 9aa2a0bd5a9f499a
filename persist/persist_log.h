/* persist_log: which Kafka log an applied offset belongs to.
 *
 * An offset only means something in the log it was read from. A restarted
 * dev broker, a new cluster or a recreated topic starts its partitions at 0
 * again, and the offsets PostgreSQL kept from the old log would then skip new
 * messages as if they had been applied. So every kafka_offsets row names its
 * log: the cluster id, and the anchor, a digest of the last message applied
 * (the one at next_offset - 1). Cluster ids alone are not enough: the mock
 * cluster and a recreated topic keep theirs. A partition resumes from a row
 * only once the message at next_offset - 1 in the log being read is the
 * anchor; anything else is another log, read from its beginning.
 *
 * Pure decisions, no I/O: persist.c asks where to start a partition,
 * persist_batch.c what a batch's first message of a partition says. */
#ifndef SLUICE_PERSIST_LOG_H
#define SLUICE_PERSIST_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hex digits of an anchor: half a SHA-256, ample to tell two messages apart. */
#define PERSIST_ANCHOR_LEN 32

/* One kafka_offsets row; both strings borrowed, NULL when the column is. */
struct persist_log_row {
    int64_t next;
    const char *cluster_id; /* NULL: written before logs were named */
    const char *anchor;     /* NULL: nothing applied since the row was (re)set */
};

/* The digest of a message (key and value) as stored in the anchor column. */
void persist_log_anchor(const void *key, size_t keylen, const void *value, size_t len,
                        char out[PERSIST_ANCHOR_LEN + 1]);

/* Where to start reading a newly assigned partition: an offset, or -1 for
 * the beginning of the log. row is NULL when PostgreSQL has none; end is
 * where the log ends now (-1 when unknown). */
int64_t persist_log_start(const struct persist_log_row *row, const char *cluster_id, int64_t end);

enum persist_log_verdict {
    PERSIST_LOG_SAME,   /* the row's log: skip what is below row->next */
    PERSIST_LOG_OTHER,  /* another log: reset the row, read this one from 0 */
    PERSIST_LOG_VERIFY, /* undecided: read again from row->next - 1 to see the anchor */
};

/* What a batch's messages of one partition say about the row. first is the
 * partition's lowest offset in the batch; at_anchor is the digest of the
 * batch's message at row->next - 1 (NULL when the batch has none); high is
 * the log's high watermark (-1 when unknown), consulted only when the batch
 * starts below the anchor without reaching it. */
enum persist_log_verdict persist_log_check(const struct persist_log_row *row,
                                           const char *cluster_id, int64_t first,
                                           const char *at_anchor, int64_t high);

#endif
