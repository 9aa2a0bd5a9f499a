/* persist_epochs: the epochs collection's writer: insert-only, keyed by the
 * epoch's UUID, so a replayed message changes nothing. */
#include "persist_writer.h"
#include "timeutil.h"

#include <stdio.h>

static const char *parse_epoch(struct persist_item *it)
{
    struct epoch_envelope *e = it->record;
    return envelope_parse_epoch(it->msg->payload, it->msg->len, e, it->error, sizeof(it->error)) ==
                   0
               ? e->id
               : NULL;
}

static enum step_result write_epoch(struct batch_ctx *c, struct persist_item *it, bool *created)
{
    const struct epoch_envelope *e = it->record;
    char received[TIME_STR_LEN], ms[24];
    time_format(e->received_at_us, received);
    snprintf(ms, sizeof(ms), "%lld", (long long)e->epoch_ms);
    const char *params[] = {e->id, ms, e->ip, received, envelope_tenant(e->root)};
    return persist_insert(
        c,
        "INSERT INTO epochs (key, epoch_ms, ip, created_at, tenant) "
        "VALUES ($1::uuid, $2::bigint, $3::inet, $4, $5) ON CONFLICT (key) DO NOTHING",
        5, params, created, "writing epoch");
}

const struct persist_writer persist_writer_epochs = {
    .record_size = sizeof(struct epoch_envelope),
    .parse = parse_epoch,
    .write_all = NULL,
    .write_one = write_epoch,
};
