#include "envelope.h"

#include "birthday.h"
#include "buf.h"
#include "netaddr.h"
#include "routing.h"
#include "tenant.h"
#include "timeutil.h"
#include "utf8.h"
#include "uuid.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json_string(NULL) is NULL and json_object_set_new(.., NULL) fails; map absent
 * optional text to JSON null explicitly. */
static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

char *envelope_build(const char *collection, const char *operation, const char *id,
                     const struct envelope_origin *origin, int64_t received_us,
                     const char *fingerprint, json_t *data, size_t *len)
{
    char received[TIME_STR_LEN];
    time_format(received_us, received);
    json_t *env = json_object();
    json_object_set_new(env, "v", json_integer(ENVELOPE_VERSION));
    json_object_set_new(env, "id", json_string(id));
    json_object_set_new(env, "operation", json_string(operation));
    json_object_set_new(env, "collection", json_string(collection));
    json_object_set_new(env, "received_at", json_string(received));
    json_object_set_new(env, "principal", json_string(origin->principal));
    json_object_set_new(env, "tenant", json_string(tenant_or_default(origin->tenant)));
    json_object_set_new(env, "fingerprint", string_or_null(fingerprint));
    json_object_set_new(env, "data", data);
    char *text = json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(env);
    if (text && len)
        *len = strlen(text);
    return text;
}

const char *envelope_tenant(const json_t *root)
{
    return tenant_or_default(json_string_value(json_object_get(root, "tenant")));
}

/* s as a JSON string. Printable ASCII (every field but a free-text type or
 * external id, in practice) is copied as it is; anything else is encoded by
 * jansson, which also refuses invalid UTF-8 (-1). */
static int put_string(struct buf *b, const char *s)
{
    if (!s)
        return buf_append(b, "null", 4);
    size_t n = 0;
    while (s[n] >= 0x20 && s[n] < 0x7f && s[n] != '"' && s[n] != '\\')
        n++;
    if (!s[n]) {
        int rc = buf_append(b, "\"", 1);
        rc |= buf_append(b, s, n);
        return rc | buf_append(b, "\"", 1);
    }
    json_t *j = json_string(s);
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    int rc = text ? buf_puts(b, text) : -1;
    free(text);
    return rc;
}

/* The same text as envelope_build of the event's data (field for field, in
 * order), written directly with the received body spliced in. -1 when a
 * field cannot be written so (the caller then builds it the long way). */
static int event_text(const struct event_fields *f, struct buf *b)
{
    char received[TIME_STR_LEN], occurred[TIME_STR_LEN];
    time_format(f->received_at_us, received);
    time_format(f->occurred_at_us, occurred);
    char head[32];
    int n = snprintf(head, sizeof(head), "{\"v\":%d,\"id\":", ENVELOPE_VERSION);
    int rc = buf_append(b, head, (size_t)n);
    rc |= put_string(b, f->id);
    rc |= buf_puts(b, ",\"operation\":\"create\",\"collection\":\"events\",\"received_at\":");
    rc |= put_string(b, received);
    rc |= buf_puts(b, ",\"principal\":");
    rc |= put_string(b, f->origin->principal);
    rc |= buf_puts(b, ",\"tenant\":");
    rc |= put_string(b, tenant_or_default(f->origin->tenant));
    rc |= buf_puts(b, ",\"fingerprint\":");
    rc |= put_string(b, f->fingerprint);
    rc |= buf_puts(b, ",\"data\":{\"external_id\":");
    rc |= put_string(b, f->external_id);
    rc |= buf_puts(b, ",\"type\":");
    rc |= put_string(b, f->type);
    rc |= buf_puts(b, ",\"occurred_at\":");
    rc |= put_string(b, occurred);
    if (f->idempotency_key) {
        rc |= buf_puts(b, ",\"idempotency_key\":");
        rc |= put_string(b, f->idempotency_key);
    }
    rc |= buf_puts(b, ",\"body\":");
    rc |= buf_append(b, f->body_text, f->body_len);
    return rc | buf_puts(b, "}}");
}

char *envelope_build_event(const struct event_fields *f, size_t *len)
{
    if (f->body_text && f->origin->principal) {
        struct buf b = {0};
        /* The fields around the body fit in 512 bytes but for long ids,
         * keys or types: one allocation, as a rule. */
        if (buf_reserve(&b, f->body_len + 512) == 0 && event_text(f, &b) == 0) {
            if (len)
                *len = b.len;
            return buf_steal(&b);
        }
        buf_free(&b);
    }
    char occurred[TIME_STR_LEN];
    time_format(f->occurred_at_us, occurred);
    json_t *data = json_object();
    json_object_set_new(data, "external_id", string_or_null(f->external_id));
    json_object_set_new(data, "type", string_or_null(f->type));
    json_object_set_new(data, "occurred_at", json_string(occurred));
    if (f->idempotency_key)
        json_object_set_new(data, "idempotency_key", json_string(f->idempotency_key));
    json_object_set(data, "body", f->body);
    return envelope_build("events", "create", f->id, f->origin, f->received_at_us, f->fingerprint,
                          data, len);
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

int envelope_parse_common(const void *data, size_t len, const char *collection, json_t **root,
                          const char **id, int64_t *received_us, json_t **d, char *err,
                          size_t errlen)
{
    json_error_t jerr;
    *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root) {
        snprintf(err, errlen, "envelope is not JSON: %s", jerr.text);
        return -1;
    }
    json_t *v = json_object_get(*root, "v");
    const char *got = json_string_value(json_object_get(*root, "collection"));
    const char *received = json_string_value(json_object_get(*root, "received_at"));
    struct uuid parsed;
    *id = json_string_value(json_object_get(*root, "id"));
    *d = json_object_get(*root, "data");
    if (!json_is_integer(v) || json_integer_value(v) != ENVELOPE_VERSION)
        snprintf(err, errlen, "envelope version is not %d", ENVELOPE_VERSION);
    else if (!got || strcmp(got, collection) != 0)
        snprintf(err, errlen, "envelope collection is not \"%s\"", collection);
    else if (!*id || uuid_parse(*id, &parsed) != 0)
        snprintf(err, errlen, "envelope id is not a UUID");
    else if (!received || time_parse(received, received_us) != 0)
        snprintf(err, errlen, "envelope received_at is not a timestamp");
    else if (!json_is_object(*d))
        snprintf(err, errlen, "envelope data is not an object");
    else
        return 0;
    json_decref(*root);
    *root = NULL;
    *id = NULL;
    *d = NULL;
    return -1;
}

int envelope_parse_event(const void *data, size_t len, struct event_envelope *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *d;
    if (envelope_parse_common(data, len, "events", &out->root, &out->id, &out->received_at_us, &d,
                              err, errlen) != 0)
        return -1;
    if (optional_string(out->root, "fingerprint", &out->fingerprint) != 0) {
        snprintf(err, errlen, "envelope fingerprint is not a string");
        goto fail;
    }
    if (optional_string(d, "external_id", &out->external_id) != 0 ||
        optional_string(d, "type", &out->type) != 0 ||
        optional_string(d, "idempotency_key", &out->idempotency_key) != 0) {
        snprintf(err, errlen,
                 "event external_id, type and idempotency_key must be strings or null");
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

/* The scanner's place in the envelope text, which it cuts in place. */
struct scanner {
    char *p, *end;
};

static bool scan_literal(struct scanner *sc, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, lit, n) != 0)
        return false;
    sc->p += n;
    return true;
}

/* A string as put_string writes it without jansson (printable ASCII, no
 * quote or backslash), cut at its closing quote; or null when nullable. */
static bool scan_string(struct scanner *sc, const char **out, bool nullable)
{
    if (nullable && scan_literal(sc, "null")) {
        *out = NULL;
        return true;
    }
    if (sc->p >= sc->end || *sc->p != '"')
        return false;
    char *start = sc->p + 1, *q = start;
    for (; q < sc->end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            break;
    }
    if (q >= sc->end || *q != '"')
        return false;
    *q = '\0';
    *out = start;
    sc->p = q + 1;
    return true;
}

/* Just past the JSON object that starts at p, by its brackets outside
 * strings; NULL when it does not close before end, or holds a NUL byte
 * (never JSON, and the body is handed on as a C string). Hand-written
 * because no library skips a value without building or checking it, and
 * checking is the body's reader's job. */
static const char *object_end(const char *p, const char *end)
{
    if (p >= end || *p != '{')
        return NULL;
    long depth = 0;
    for (; p < end; p++) {
        if (*p == '\0') {
            return NULL;
        } else if (*p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\0' || (*p == '\\' && (++p >= end || *p == '\0')))
                    return NULL;
            }
            if (p >= end)
                return NULL;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if ((*p == '}' || *p == ']') && --depth == 0) {
            return p + 1;
        }
    }
    return NULL;
}

int envelope_scan_event(char *text, size_t len, struct event_scan *out)
{
    memset(out, 0, sizeof(*out));
    struct scanner sc = {text, text + len};
    const char *received = NULL, *occurred = NULL;
    struct uuid parsed;
    if (!scan_literal(&sc, "{\"v\":1,\"id\":") || !scan_string(&sc, &out->id, false) ||
        !scan_literal(&sc,
                      ",\"operation\":\"create\",\"collection\":\"events\",\"received_at\":") ||
        !scan_string(&sc, &received, false) || !scan_literal(&sc, ",\"principal\":") ||
        !scan_string(&sc, &out->principal, false) || !scan_literal(&sc, ",\"tenant\":") ||
        !scan_string(&sc, &out->tenant, false) || !scan_literal(&sc, ",\"fingerprint\":") ||
        !scan_string(&sc, &out->fingerprint, true) ||
        !scan_literal(&sc, ",\"data\":{\"external_id\":") ||
        !scan_string(&sc, &out->external_id, true) || !scan_literal(&sc, ",\"type\":") ||
        !scan_string(&sc, &out->type, true) || !scan_literal(&sc, ",\"occurred_at\":") ||
        !scan_string(&sc, &occurred, false))
        return -1;
    if (scan_literal(&sc, ",\"idempotency_key\":") &&
        !scan_string(&sc, &out->idempotency_key, false))
        return -1;
    if (!scan_literal(&sc, ",\"body\":"))
        return -1;
    char *body = sc.p;
    const char *body_end = object_end(body, sc.end);
    /* The body closes right before the data's and the envelope's braces. */
    if (!body_end || sc.end - body_end != 2 || memcmp(body_end, "}}", 2) != 0)
        return -1;
    if (uuid_parse(out->id, &parsed) != 0 || time_parse(received, &out->received_at_us) != 0 ||
        time_parse(occurred, &out->occurred_at_us) != 0)
        return -1;
    text[body_end - text] = '\0';
    out->body = body;
    out->body_len = (size_t)(body_end - body);
    return 0;
}

char *envelope_build_user(const char *id, const struct envelope_origin *origin, int64_t received_us,
                          const char *username, const char *date_of_birth, size_t *len)
{
    json_t *data = json_pack("{s:s, s:s}", "username", username, "date_of_birth", date_of_birth);
    return data ? envelope_build("users", "create", id, origin, received_us, NULL, data, len)
                : NULL;
}

int envelope_parse_user(const void *data, size_t len, struct user_envelope *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *d;
    if (envelope_parse_common(data, len, "users", &out->root, &out->id, &out->received_at_us, &d,
                              err, errlen) != 0)
        return -1;
    out->username = json_string_value(json_object_get(d, "username"));
    out->date_of_birth = json_string_value(json_object_get(d, "date_of_birth"));
    int y, m, day;
    /* The worker re-checks what ingest checked: a message may come from
     * anywhere. Any date before the message was received is a valid past date. */
    if (!out->username || !birthday_valid_username(out->username)) {
        snprintf(err, errlen, "user username is not 1 to 100 ASCII letters");
    } else if (!out->date_of_birth ||
               birthday_parse_date(out->date_of_birth,
                                   out->received_at_us / (86400LL * 1000000) + 1, &y, &m,
                                   &day) != 0) {
        snprintf(err, errlen, "user date_of_birth is not a past YYYY-MM-DD date");
    } else {
        return 0;
    }
    envelope_user_free(out);
    return -1;
}

void envelope_user_free(struct user_envelope *u)
{
    json_decref(u->root);
    memset(u, 0, sizeof(*u));
}

char *envelope_build_epoch(const char *key, const struct envelope_origin *origin,
                           int64_t received_us, int64_t epoch_ms, const char *ip, size_t *len)
{
    json_t *data =
        json_pack("{s:s, s:I, s:s}", "key", key, "epoch_ms", (json_int_t)epoch_ms, "ip", ip);
    return data ? envelope_build("epochs", "create", key, origin, received_us, NULL, data, len)
                : NULL;
}

int envelope_parse_epoch(const void *data, size_t len, struct epoch_envelope *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *d;
    if (envelope_parse_common(data, len, "epochs", &out->root, &out->id, &out->received_at_us, &d,
                              err, errlen) != 0)
        return -1;
    json_t *ms = json_object_get(d, "epoch_ms");
    const char *key = json_string_value(json_object_get(d, "key"));
    out->ip = json_string_value(json_object_get(d, "ip"));
    struct netaddr addr;
    if (!key || strcmp(key, out->id) != 0)
        snprintf(err, errlen, "epoch key differs from the envelope id");
    else if (!json_is_integer(ms) || json_integer_value(ms) < 0)
        snprintf(err, errlen, "epoch epoch_ms is not a non-negative integer");
    else if (!out->ip || netaddr_parse(out->ip, &addr) != 0)
        snprintf(err, errlen, "epoch ip is not an IP address");
    else {
        out->epoch_ms = (int64_t)json_integer_value(ms);
        return 0;
    }
    envelope_epoch_free(out);
    return -1;
}

void envelope_epoch_free(struct epoch_envelope *e)
{
    json_decref(e->root);
    memset(e, 0, sizeof(*e));
}

char *envelope_build_recipe(const char *id, const struct envelope_origin *origin,
                            int64_t received_us, const char *operation, const char *recipe_id,
                            int64_t if_version, json_t *doc, size_t *len)
{
    json_t *data = json_pack("{s:s, s:o, s:O?}", "recipe_id", recipe_id, "if_version",
                             if_version >= 0 ? json_integer(if_version) : json_null(), "doc", doc);
    return data ? envelope_build("recipes", operation, id, origin, received_us, NULL, data, len)
                : NULL;
}

int envelope_parse_recipe(const void *data, size_t len, struct recipe_envelope *out, char *err,
                          size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *d;
    if (envelope_parse_common(data, len, "recipes", &out->root, &out->id, &out->received_at_us, &d,
                              err, errlen) != 0)
        return -1;
    out->operation = json_string_value(json_object_get(out->root, "operation"));
    out->recipe_id = json_string_value(json_object_get(d, "recipe_id"));
    json_t *if_version = json_object_get(d, "if_version");
    out->doc = json_object_get(d, "doc");
    if (out->doc && json_is_null(out->doc))
        out->doc = NULL;
    struct uuid u;
    bool needs_doc = out->operation && strcmp(out->operation, "delete") != 0;
    if (!out->operation || (strcmp(out->operation, "create") && strcmp(out->operation, "replace") &&
                            strcmp(out->operation, "patch") && strcmp(out->operation, "delete")))
        snprintf(err, errlen, "recipe operation is not create, replace, patch or delete");
    else if (!out->recipe_id || uuid_parse(out->recipe_id, &u) != 0)
        snprintf(err, errlen, "recipe_id is not a UUID");
    else if (if_version && !json_is_null(if_version) &&
             (!json_is_integer(if_version) || json_integer_value(if_version) < 1))
        snprintf(err, errlen, "if_version is not a positive integer");
    else if (needs_doc && !out->doc)
        snprintf(err, errlen, "a %s carries no document", out->operation);
    else {
        out->if_version = json_is_integer(if_version) ? json_integer_value(if_version) : -1;
        return 0;
    }
    envelope_recipe_free(out);
    return -1;
}

void envelope_recipe_free(struct recipe_envelope *r)
{
    json_decref(r->root);
    memset(r, 0, sizeof(*r));
}

char *envelope_build_assistance(const char *id, const struct envelope_origin *origin,
                                int64_t received_us, const char *topic, const char *description,
                                const char *request_id, size_t *len)
{
    json_t *data = json_pack("{s:s, s:s, s:o}", "topic", topic, "description", description,
                             "request_id", string_or_null(request_id));
    return data ? envelope_build("assistance", "create", id, origin, received_us, NULL, data, len)
                : NULL;
}

int envelope_parse_assistance(const void *data, size_t len, struct assistance_envelope *out,
                              char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *d;
    if (envelope_parse_common(data, len, "assistance", &out->root, &out->id, &out->received_at_us,
                              &d, err, errlen) != 0)
        return -1;
    out->received_at = json_string_value(json_object_get(out->root, "received_at"));
    out->topic = json_string_value(json_object_get(d, "topic"));
    out->description = json_string_value(json_object_get(d, "description"));
    size_t chars = out->description ? utf8_length(out->description) : 0;
    bool lower = out->topic != NULL;
    for (const char *p = out->topic; lower && *p; p++)
        lower = !(*p >= 'A' && *p <= 'Z');
    if (!out->topic || !*out->topic || strlen(out->topic) > ROUTING_TOPIC_MAX || !lower)
        snprintf(err, errlen, "assistance topic is not a lower-case name of 1 to %d bytes",
                 ROUTING_TOPIC_MAX);
    else if (!out->description || chars < 1 || chars > ENVELOPE_DESCRIPTION_MAX ||
             strlen(out->description) != json_string_length(json_object_get(d, "description")))
        snprintf(err, errlen, "assistance description is not 1 to %d characters",
                 ENVELOPE_DESCRIPTION_MAX);
    else if (optional_string(d, "request_id", &out->request_id) != 0)
        snprintf(err, errlen, "assistance request_id is not a string");
    else
        return 0;
    envelope_assistance_free(out);
    return -1;
}

void envelope_assistance_free(struct assistance_envelope *a)
{
    json_decref(a->root);
    memset(a, 0, sizeof(*a));
}

int envelope_delivery_id(const char *request_id, const char *channel, char out[UUID_STR_LEN])
{
    char name[512];
    int n = snprintf(name, sizeof(name), "%s\n%s", request_id, channel);
    if (n < 0 || (size_t)n >= sizeof(name))
        return -1;
    struct uuid u;
    uuid_v5(&u, &uuid_namespace_sluice, name, (size_t)n);
    uuid_format(&u, out);
    return 0;
}
