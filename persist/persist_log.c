#include "persist_log.h"

#include "digest.h"

#include <stdio.h>
#include <string.h>

void persist_log_anchor(const void *key, size_t keylen, const void *value, size_t len,
                        char out[PERSIST_ANCHOR_LEN + 1])
{
    /* The key's length first, so (key "ab", value "c") and ("a", "bc") differ. */
    unsigned char klen[8];
    for (int i = 0; i < 8; i++)
        klen[i] = (unsigned char)((uint64_t)keylen >> (8 * i));
    struct digest_part parts[] = {{klen, sizeof(klen)}, {key, keylen}, {value, len}};
    char hex[DIGEST_HEX_LEN + 1];
    /* On failure (no memory) the digest is all zeros: it matches no stored
     * anchor, so the partition proves itself again rather than skip. */
    digest_sha256_hex(parts, sizeof(parts) / sizeof(parts[0]), hex);
    memcpy(out, hex, PERSIST_ANCHOR_LEN);
    out[PERSIST_ANCHOR_LEN] = '\0';
}

static bool other_cluster(const struct persist_log_row *row, const char *cluster_id)
{
    return row->cluster_id && strcmp(row->cluster_id, cluster_id) != 0;
}

int64_t persist_log_start(const struct persist_log_row *row, const char *cluster_id, int64_t end)
{
    if (!row || row->next <= 0 || other_cluster(row, cluster_id))
        return -1;
    /* A log that ends before the row's offset cannot be the row's log (logs
     * never shrink at their end); started at the row's offset, the consumer
     * would wait there for messages the new log may never get, skipping
     * what it has. */
    if (end >= 0 && end < row->next)
        return -1;
    /* Rows from before logs were named keep the old rule: trust the offset. */
    if (!row->cluster_id || !row->anchor)
        return row->next;
    /* One message early, so the batch sees the anchor and can prove the log. */
    return row->next - 1;
}

enum persist_log_verdict persist_log_check(const struct persist_log_row *row,
                                           const char *cluster_id, int64_t first,
                                           const char *at_anchor, int64_t high)
{
    if (other_cluster(row, cluster_id))
        return PERSIST_LOG_OTHER;
    if (row->next <= 0 || !row->cluster_id || !row->anchor || first >= row->next)
        return PERSIST_LOG_SAME;
    if (at_anchor)
        return strcmp(at_anchor, row->anchor) == 0 ? PERSIST_LOG_SAME : PERSIST_LOG_OTHER;
    /* Below the anchor without reaching it. A log never shrinks at its end
     * (retention removes from the front), so one that ends before the row's
     * offset cannot be the row's log. Otherwise look at the anchor itself. */
    if (high >= 0 && high < row->next)
        return PERSIST_LOG_OTHER;
    return PERSIST_LOG_VERIFY;
}
