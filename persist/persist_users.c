/* persist_users: the users collection's writer (hello birthdays). A write
 * replaces the user's date of birth and bumps its version; that is not
 * idempotent, which is fine because persist_batch applies each message
 * exactly once. Rows go one at a time, in partition order, so writes to one
 * username apply in the order they were accepted. */
#include "persist_writer.h"
#include "timeutil.h"

#include <stdio.h>
#include <string.h>

static const char *parse_user(struct persist_item *it)
{
    struct user_envelope *u = it->record;
    return envelope_parse_user(it->msg->payload, it->msg->len, u, it->error, sizeof(it->error)) == 0
               ? u->id
               : NULL;
}

static enum step_result write_user(struct batch_ctx *c, struct persist_item *it, bool *created)
{
    const struct user_envelope *u = it->record;
    char received[TIME_STR_LEN];
    time_format(u->received_at_us, received);
    const char *params[] = {u->username, u->date_of_birth, received, envelope_tenant(u->root)};
    PGresult *res = NULL;
    enum step_result r = persist_exec(
        c,
        "INSERT INTO users (username, date_of_birth, version, created_at, updated_at, tenant) "
        "VALUES ($1, $2::date, 1, $3, $3, $4) ON CONFLICT (tenant, username) DO UPDATE SET "
        "date_of_birth = excluded.date_of_birth, version = users.version + 1, "
        "updated_at = excluded.updated_at RETURNING version = 1",
        4, params, &res, "writing user");
    *created = r == STEP_OK && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return r;
}

const struct persist_writer persist_writer_users = {
    .record_size = sizeof(struct user_envelope),
    .parse = parse_user,
    .write_all = NULL,
    .write_one = write_user,
};
