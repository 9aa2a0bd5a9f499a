#include "envelope.h"

#include "timeutil.h"
#include "uuid.h"

#include <stdio.h>
#include <string.h>

/* json_string(NULL) is NULL and json_object_set_new(.., NULL) fails; map absent
 * optional text to JSON null explicitly. */
static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

char *envelope_build_event(const struct event_fields *f, size_t *len)
{
    char received[TIME_STR_LEN], occurred[TIME_STR_LEN];
    time_format(f->received_at_us, received);
    time_format(f->occurred_at_us, occurred);
    json_t *data = json_object();
    json_object_set_new(data, "external_id", string_or_null(f->external_id));
    json_object_set_new(data, "type", string_or_null(f->type));
    json_object_set_new(data, "occurred_at", json_string(occurred));
    json_object_set(data, "body", f->body);
    json_t *env = json_object();
    json_object_set_new(env, "v", json_integer(ENVELOPE_VERSION));
    json_object_set_new(env, "id", json_string(f->id));
    json_object_set_new(env, "operation", json_string("create"));
    json_object_set_new(env, "collection", json_string("events"));
    json_object_set_new(env, "received_at", json_string(received));
    json_object_set_new(env, "principal", json_string(f->principal));
    json_object_set_new(env, "fingerprint", string_or_null(f->fingerprint));
    json_object_set_new(env, "data", data);
    char *text = json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(env);
    if (text && len)
        *len = strlen(text);
    return text;
}

/* Optional string member: NULL when absent or null, -1 when another type. */
static int optional_string(json_t *obj, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

int envelope_parse_event(const void *data, size_t len, struct event_envelope *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    out->root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!out->root) {
        snprintf(err, errlen, "envelope is not JSON: %s", jerr.text);
        return -1;
    }
    json_t *root = out->root;
    json_t *v = json_object_get(root, "v");
    if (!json_is_integer(v) || json_integer_value(v) != ENVELOPE_VERSION) {
        snprintf(err, errlen, "envelope version is not %d", ENVELOPE_VERSION);
        goto fail;
    }
    const char *collection = json_string_value(json_object_get(root, "collection"));
    if (!collection || strcmp(collection, "events") != 0) {
        snprintf(err, errlen, "envelope collection is not \"events\"");
        goto fail;
    }
    struct uuid id;
    out->id = json_string_value(json_object_get(root, "id"));
    if (!out->id || uuid_parse(out->id, &id) != 0) {
        snprintf(err, errlen, "envelope id is not a UUID");
        goto fail;
    }
    const char *received = json_string_value(json_object_get(root, "received_at"));
    if (!received || time_parse(received, &out->received_at_us) != 0) {
        snprintf(err, errlen, "envelope received_at is not a timestamp");
        goto fail;
    }
    if (optional_string(root, "fingerprint", &out->fingerprint) != 0) {
        snprintf(err, errlen, "envelope fingerprint is not a string");
        goto fail;
    }
    json_t *d = json_object_get(root, "data");
    if (!json_is_object(d)) {
        snprintf(err, errlen, "envelope data is not an object");
        goto fail;
    }
    if (optional_string(d, "external_id", &out->external_id) != 0 ||
        optional_string(d, "type", &out->type) != 0) {
        snprintf(err, errlen, "event external_id and type must be strings or null");
        goto fail;
    }
    const char *occurred = json_string_value(json_object_get(d, "occurred_at"));
    if (!occurred || time_parse(occurred, &out->occurred_at_us) != 0) {
        snprintf(err, errlen, "event occurred_at is not a timestamp");
        goto fail;
    }
    out->body = json_object_get(d, "body");
    if (!json_is_object(out->body)) {
        snprintf(err, errlen, "event body is not an object");
        goto fail;
    }
    return 0;
fail:
    envelope_event_free(out);
    return -1;
}

void envelope_event_free(struct event_envelope *ev)
{
    json_decref(ev->root);
    memset(ev, 0, sizeof(*ev));
}
