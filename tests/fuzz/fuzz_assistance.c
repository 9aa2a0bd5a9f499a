/* assistance: a POST /v1/assistance body (ingest/assistance.c
 * assistance_validate, against a fixed routing file), and the envelope it
 * becomes as sluice-notify reads it back (lib/envelope.c). A request is
 * accepted, or refused with a problem on /topic or /description; an accepted
 * one names a known topic, lower-cased, and a description of 1 to 4000
 * characters, and notify reads the same topic and description back. */
#include "support.h"

#include "assistance.h"
#include "envelope.h"
#include "routing.h"
#include "utf8.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static struct routing *routing; /* one for the process, read-only */

static char *no_env(const char *name)
{
    (void)name;
    return NULL;
}

void fuzz_init(void)
{
    static const char file[] =
        "{\"channels\": {\"log\": {\"type\": \"log\", \"path\": \"/dev/null\"}},"
        " \"topics\": {\"Sales\": {\"channels\": [\"log\"]}, \"pricing\": {\"channels\": "
        "[\"log\"]}}}";
    char err[256];
    routing = routing_parse(file, no_env, err, sizeof(err));
    if (!routing)
        abort();
}

int fuzz_one(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    char topic[ROUTING_TOPIC_MAX + 1];
    struct problem_errors pe = {0};
    if (assistance_validate(body, routing, topic, &pe) != 0) {
        FUZZ_CHECK(pe.count > 0, "refused without a problem");
        problem_errors_free(&pe);
        json_decref(body);
        return 0;
    }
    FUZZ_CHECK(strcmp(topic, "sales") == 0 || strcmp(topic, "pricing") == 0,
               "accepted the topic \"%s\"", topic);
    const char *description = json_string_value(json_object_get(body, "description"));
    size_t chars = utf8_length(description);
    FUZZ_CHECK(chars >= 1 && chars <= ENVELOPE_DESCRIPTION_MAX, "a description of %zu characters",
               chars);
    size_t len;
    char *value = envelope_build_assistance("018f3406-9e00-7abc-8def-0123456789ab", &fuzz_origin,
                                            FUZZ_NOW_US, topic, description, NULL, &len);
    FUZZ_CHECK(value != NULL, "envelope_build_assistance failed");
    struct assistance_envelope a;
    char err[256];
    FUZZ_CHECK(envelope_parse_assistance(value, len, &a, err, sizeof(err)) == 0,
               "notify refuses what ingest accepted: %s", err);
    FUZZ_CHECK(strcmp(a.topic, topic) == 0 && strcmp(a.description, description) == 0,
               "notify reads another request back");
    envelope_assistance_free(&a);
    free(value);
    json_decref(body);
    return 0;
}
