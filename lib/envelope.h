/* envelope: the versioned JSON value of every Sluice Kafka message.
 *
 *   {"v":1, "id", "operation", "collection", "received_at", "principal", "tenant",
 *    "fingerprint", "data": {...collection specific...}}
 *
 * "tenant" is absent from messages written before tenants existed: the
 * default tenant (tenant.h).
 *
 * For events, data is {"external_id", "type", "occurred_at", "body", "idempotency_key"
 * (only when the request had one)}. Builders
 * return heap text the caller frees; a parsed envelope owns its JSON tree and
 * every pointer in it is borrowed from that tree. */
#ifndef SLUICE_ENVELOPE_H
#define SLUICE_ENVELOPE_H

#include "uuid.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_VERSION 1
/* The PostgreSQL NOTIFY channel on which workers report records that a client
 * waits for ({"id", "outcome": created|exists|rejected, "error"}). */
#define ENVELOPE_PERSISTED_CHANNEL "sluice_persisted"

/* The fields every envelope has, for each collection's builder and parser
 * (a new collection's module builds its own on these). envelope_build's data
 * is stolen; it returns heap text the caller frees, NULL when out of memory.
 * envelope_parse_common checks version, collection, id, received_at and that
 * data is an object; on success *root owns the tree, and *id and *fields (the
 * data object) borrow from it; -1 with err otherwise. */
/* Who wrote a record: the principal that log lines and envelopes name
 * (never a secret) and the tenant the record belongs to. */
struct envelope_origin {
    const char *principal;
    const char *tenant;
};

char *envelope_build(const char *collection, const char *operation, const char *id,
                     const struct envelope_origin *origin, int64_t received_us,
                     const char *fingerprint, json_t *data, size_t *len);
/* The envelope's tenant (the default one when it names none); borrowed from
 * root. */
const char *envelope_tenant(const json_t *root);
int envelope_parse_common(const void *data, size_t len, const char *collection, json_t **root,
                          const char **id, int64_t *received_us, json_t **fields, char *err,
                          size_t errlen);

struct event_fields {
    const char *id;
    const struct envelope_origin *origin;
    const char *fingerprint;     /* may be NULL */
    const char *idempotency_key; /* the request's Idempotency-Key; may be NULL */
    const char *external_id;     /* may be NULL */
    const char *type;            /* may be NULL */
    int64_t received_at_us;
    int64_t occurred_at_us;
    json_t *body; /* borrowed */
    /* The body as received, body_len bytes that parsed into body (borrowed),
     * or NULL: spliced into the envelope as it is, so a write's JSON is not
     * encoded a second time. */
    const char *body_text;
    size_t body_len;
};

/* The envelope text for an event write; NULL on allocation failure. */
char *envelope_build_event(const struct event_fields *f, size_t *len);

struct event_envelope {
    json_t *root; /* owned */
    const char *id;
    const char *fingerprint;     /* NULL when absent */
    const char *idempotency_key; /* NULL when absent */
    const char *external_id;     /* NULL when absent */
    const char *type;            /* NULL when absent */
    int64_t received_at_us;
    int64_t occurred_at_us;
    json_t *body; /* borrowed from root */
};

/* Parses and checks an event envelope. A message that fails here can never be
 * written: the caller sends it to the DLQ with err as the reason. */
int envelope_parse_event(const void *data, size_t len, struct event_envelope *out, char *err,
                         size_t errlen);
void envelope_event_free(struct event_envelope *ev);

/* An event envelope's fields as envelope_scan_event reads them: each a
 * NUL-terminated string in the scanned text, NULL when null or absent. */
struct event_scan {
    const char *id;
    const char *principal;
    const char *tenant;
    const char *fingerprint;
    const char *external_id;
    const char *type;
    const char *idempotency_key;
    int64_t received_at_us;
    int64_t occurred_at_us;
    const char *body; /* the body's JSON text as written, body_len bytes */
    size_t body_len;
};

/* Reads an event envelope without building its JSON tree, when it is in
 * exactly the layout envelope_build_event writes and none of its fields but
 * the body needs a JSON escape (ids, times, keys and plain types never do).
 * text is a writable copy of the len-byte envelope plus a NUL, cut into the
 * fields in place. -1 when it is in any other form: the caller then parses
 * it with envelope_parse_event, which accepts every valid envelope and says
 * what is wrong with the others. The body is found by matching its brackets
 * outside strings, not validated: whoever reads it must (PostgreSQL's jsonb
 * input does), so a body that is not JSON is refused there. */
int envelope_scan_event(char *text, size_t len, struct event_scan *out);

struct user_envelope {
    json_t *root; /* owned */
    const char *id;
    const char *username;
    const char *date_of_birth; /* YYYY-MM-DD */
    int64_t received_at_us;
};

/* A hello write: data is {"username", "date_of_birth"}. */
char *envelope_build_user(const char *id, const struct envelope_origin *origin, int64_t received_us,
                          const char *username, const char *date_of_birth, size_t *len);
int envelope_parse_user(const void *data, size_t len, struct user_envelope *out, char *err,
                        size_t errlen);
void envelope_user_free(struct user_envelope *u);

struct epoch_envelope {
    json_t *root;   /* owned */
    const char *id; /* also the epoch's key */
    int64_t epoch_ms;
    const char *ip;
    int64_t received_at_us;
};

/* An epoch write: data is {"key", "epoch_ms", "ip"}. */
char *envelope_build_epoch(const char *key, const struct envelope_origin *origin,
                           int64_t received_us, int64_t epoch_ms, const char *ip, size_t *len);
int envelope_parse_epoch(const void *data, size_t len, struct epoch_envelope *out, char *err,
                         size_t errlen);
void envelope_epoch_free(struct epoch_envelope *e);

struct recipe_envelope {
    json_t *root;          /* owned */
    const char *id;        /* this write's id (what a waiting client waits for) */
    const char *operation; /* create, replace, patch, delete */
    const char *recipe_id;
    int64_t if_version; /* -1 when unconditional */
    json_t *doc;        /* the recipe (create, replace) or merge patch (patch) */
    int64_t received_at_us;
};

/* A recipe write; doc is borrowed (NULL for delete). */
char *envelope_build_recipe(const char *id, const struct envelope_origin *origin,
                            int64_t received_us, const char *operation, const char *recipe_id,
                            int64_t if_version, json_t *doc, size_t *len);
int envelope_parse_recipe(const void *data, size_t len, struct recipe_envelope *out, char *err,
                          size_t errlen);
void envelope_recipe_free(struct recipe_envelope *r);

struct assistance_envelope {
    json_t *root; /* owned */
    const char *id;
    const char *topic; /* lower-cased */
    const char *description;
    const char *request_id; /* NULL when absent */
    const char *received_at;
    int64_t received_at_us;
};

#define ENVELOPE_DESCRIPTION_MAX 4000 /* characters (code points) */

/* An assistance request: data is {"topic", "description", "request_id"}. */
char *envelope_build_assistance(const char *id, const struct envelope_origin *origin,
                                int64_t received_us, const char *topic, const char *description,
                                const char *request_id, size_t *len);
int envelope_parse_assistance(const void *data, size_t len, struct assistance_envelope *out,
                              char *err, size_t errlen);
void envelope_assistance_free(struct assistance_envelope *a);

/* A delivery's id (request, channel): UUIDv5 of "<request id>\n<channel>",
 * what its receivers see as webhook-id and Message-ID; notify names each
 * delivery so and ingest lists them so. -1 when the name does not fit. */
int envelope_delivery_id(const char *request_id, const char *channel, char out[UUID_STR_LEN]);

#endif
