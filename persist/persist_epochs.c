/* persist_epochs: the epochs collection's writer: insert-only, keyed by the
 * epoch's UUID, so a replayed message changes nothing. */
#include "persist_writer.h"
#include "timeutil.h"

#include <stdio.h>

static void release_epoch(void *record)
{
    envelope_epoch_free(record);
}

static int parse_epoch(struct persist_item *it)
{
    struct epoch_envelope *e = persist_item_record(it, sizeof(*e), release_epoch);
    if (!e ||
        envelope_parse_epoch(it->msg->payload, it->msg->len, e, it->error, sizeof(it->error)) != 0)
        return -1;
    it->record_id = e->id;
    return 0;
}

static enum step_result write_epoch(struct batch_ctx *c, struct persist_item *it, bool *created)
{
    char received[TIME_STR_LEN], ms[24];
    time_format(((const struct epoch_envelope *)it->record)->received_at_us, received);
    snprintf(ms, sizeof(ms), "%lld",
             (long long)((const struct epoch_envelope *)it->record)->epoch_ms);
    const char *params[] = {((const struct epoch_envelope *)it->record)->id, ms,
                            ((const struct epoch_envelope *)it->record)->ip, received};
    PGresult *res = NULL;
    enum step_result r = persist_exec(c,
                                      "INSERT INTO epochs (key, epoch_ms, ip, created_at) "
                                      "VALUES ($1::uuid, $2::bigint, $3::inet, $4) "
                                      "ON CONFLICT (key) DO NOTHING",
                                      4, params, &res, "writing epoch");
    *created = r == STEP_OK && PQcmdTuples(res)[0] == '1';
    PQclear(res);
    return r;
}

const struct persist_writer persist_writer_epochs = {
    .parse = parse_epoch,
    .write_all = NULL,
    .write_one = write_epoch,
};
