/* channel_fixtures: what the channel tests (test_slack.c, test_email.c,
 * test_webhook.c, test_log.c, test_channel.c) share: the sample request, a
 * channel made from a JSON text, a message formatted to a string, and a file
 * in a fresh temporary directory, read back whole. Test code only: a failure
 * is a Check assertion; who frees what is said at each helper. */
#ifndef SLUICE_TEST_CHANNEL_FIXTURES_H
#define SLUICE_TEST_CHANNEL_FIXTURES_H

#include "buf.h"
#include "channel.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The sample request's id, and the link to it. */
#define SAMPLE_ID "0190b1c4-7d2a-7c3e-9b1f-2a3b4c5d6e7f"
#define SAMPLE_LINK "http://127.0.0.1:8080/v1/assistance/" SAMPLE_ID

/* The initializer of the sample request: every field set, a plain
 * description, and the delivery id the test expects to see again. */
#define SAMPLE_ASSISTANCE(delivery)                                                                \
    {                                                                                              \
        .id = SAMPLE_ID, .topic = "sales", .description = "Need a quote for 40 seats",             \
        .received_at = "2024-03-05T10:00:00.000000Z", .request_id = "req-42", .link = SAMPLE_LINK, \
        .delivery_id = (delivery),                                                                 \
    }

/* channel_new(name, settings parsed), or NULL with err filled. settings may
 * be any JSON value, so that a test can hand channel_new a non-object; the
 * caller frees the channel. */
static inline struct channel *channel_from_json(const char *name, const char *settings, char *err,
                                                size_t errlen)
{
    json_t *conf = json_loads(settings, JSON_DECODE_ANY, NULL);
    ck_assert_msg(conf != NULL, "test settings are not JSON: %s", settings);
    struct channel *ch = channel_new(name, conf, err, errlen);
    json_decref(conf);
    return ch;
}

/* The same for settings the test expects accepted. */
static inline struct channel *channel_from_json_ok(const char *name, const char *settings)
{
    char err[256] = "";
    struct channel *ch = channel_from_json(name, settings, err, sizeof(err));
    ck_assert_msg(ch != NULL, "refused %s: %s", settings, err);
    return ch;
}

/* Asserts that channel_new refuses settings for a channel named name with
 * an error that starts with want; err keeps the error for further checks. */
static inline void assert_refused(const char *name, const char *settings, const char *want,
                                  char *err, size_t errlen)
{
    struct channel *ch = channel_from_json(name, settings, err, errlen);
    ck_assert_msg(ch == NULL, "accepted %s", settings);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
                  "for %s: error \"%s\", expected it to start \"%s\"", settings, err, want);
}

/* What ch's format makes of req, as a string the caller frees. */
static inline char *channel_format_text(const struct channel *ch, const struct assistance *req)
{
    struct buf out = {0};
    ck_assert_int_eq(ch->type->format(ch, req, &out), 0);
    return buf_steal(&out);
}

/* Fills path with dir/name, dir a fresh directory under /tmp; remove both
 * with temp_file_remove(). */
static inline void temp_file_path(char *path, size_t pathlen, const char *name)
{
    char dir[] = "/tmp/sluice-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, pathlen, "%s/%s", dir, name);
}

/* Removes the file at path and the directory temp_file_path() made for it. */
static inline void temp_file_remove(const char *path)
{
    unlink(path);
    char *dir = strdup(path);
    ck_assert_ptr_nonnull(dir);
    *strrchr(dir, '/') = '\0';
    rmdir(dir);
    free(dir);
}

/* The whole of the file at path, as a string the caller frees. */
static inline char *read_whole_file(const char *path)
{
    struct buf b = {0};
    ck_assert_msg(buf_read_file(&b, path) == 0, "cannot read %s", path);
    return buf_steal(&b);
}

#endif
