/* hello: PUT /hello/{username} of the users collection, as far as it goes
 * without a server (ingest/hello.c hello_put): the username of the path, the
 * body parsed as ingest parses it (ingest/body.c), its dateOfBirth
 * (lib/birthday.c birthday_parse_date), the envelope persist reads
 * (envelope_parse_user), and the answer GET /hello builds. The input is the
 * username, a newline, then the body; "today" is FUZZ_NOW_US's day.
 *
 * A username is 1 to 100 ASCII letters, no more, no less; an accepted date
 * is a real date before today, written back exactly as sent; persist
 * accepts the envelope of every PUT ingest accepts; the next birthday is
 * 0 to 365 days away. */
#include "support.h"

#include "birthday.h"
#include "body.h"
#include "envelope.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TODAY (FUZZ_NOW_US / (86400LL * 1000000))

int fuzz_one(const uint8_t *data, size_t size)
{
    char *username;
    const uint8_t *rest;
    size_t rest_len;
    fuzz_split_line(data, size, &username, &rest, &rest_len);
    size_t ulen = strlen(username);
    bool letters = ulen >= 1 && ulen <= 100;
    for (size_t i = 0; letters && i < ulen; i++)
        letters = (username[i] >= 'a' && username[i] <= 'z') ||
                  (username[i] >= 'A' && username[i] <= 'Z');
    FUZZ_CHECK(birthday_valid_username(username) == letters, "username \"%s\"", username);
    if (!letters)
        goto out; /* a 400 before the body is read */

    char detail[400] = "";
    json_t *body = body_parse_object((const char *)rest, rest_len, detail, sizeof(detail));
    if (!body) {
        FUZZ_CHECK(detail[0], "body refused without a reason");
        goto out;
    }
    const char *dob = json_string_value(json_object_get(body, "dateOfBirth"));
    int y, m, d;
    if (dob && birthday_parse_date(dob, TODAY, &y, &m, &d) == 0) {
        char written[32];
        snprintf(written, sizeof(written), "%04d-%02d-%02d", y, m, d);
        FUZZ_CHECK(strcmp(written, dob) == 0, "\"%s\" read as %s", dob, written);
        FUZZ_CHECK(d <= time_days_in_month(y, m), "%s is not a real date", dob);
        FUZZ_CHECK(time_days_from_civil(y, m, d) < TODAY, "%s is not before today", dob);

        size_t len;
        char *value = envelope_build_user("018f3406-9e00-7abc-8def-0123456789ab", &fuzz_origin,
                                          FUZZ_NOW_US, username, dob, &len);
        FUZZ_CHECK(value != NULL, "envelope_build_user failed");
        struct user_envelope u;
        char err[200];
        FUZZ_CHECK(envelope_parse_user(value, len, &u, err, sizeof(err)) == 0,
                   "persist refuses %s born %s: %s", username, dob, err);
        FUZZ_CHECK(strcmp(u.username, username) == 0 && strcmp(u.date_of_birth, dob) == 0,
                   "the envelope changed the user");
        envelope_user_free(&u);
        free(value);

        int days = birthday_days_until(m, d, TODAY);
        FUZZ_CHECK(days >= 0 && days <= 365, "%s: next birthday in %d days", dob, days);
        char message[200];
        birthday_message(username, days, message, sizeof(message));
        FUZZ_CHECK(strstr(message, username) != NULL, "the answer lost the name");
    }
    json_decref(body);
out:
    free(username);
    return 0;
}
