/* keystore: the valid API keys, in memory, for every request's check.
 *
 * The table api_keys (schema/010_api_keys.sql) is the truth; each ingest
 * replica keeps its valid rows (not revoked, not expired) here, so checking
 * a key costs a lookup, an HMAC and a constant-time compare, never a
 * database round trip. One thread owns a PostgreSQL connection that LISTENs
 * on "sluice_keys" (a trigger notifies every change, whoever makes it) and
 * reloads the table when told, and every KEYSTORE_RELOAD_MS anyway (a
 * notification lost while the connection was down); a revoked key stops
 * working on every replica within a second. The same thread writes the keys'
 * last use in one UPDATE every KEYSTORE_FLUSH_MS. While PostgreSQL is away
 * the keys loaded last stay in force, and a replica that never loaded them
 * answers 503 rather than 401 (keystore_check's KEYSTORE_NOT_LOADED). */
#ifndef SLUICE_KEYSTORE_H
#define SLUICE_KEYSTORE_H

#include "apikey.h"
#include "auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYSTORE_RELOAD_MS 30000
#define KEYSTORE_FLUSH_MS 5000
/* Every query's client-side bound: a frozen PostgreSQL must not hold the
 * thread (a stop joins it). */
#define KEYSTORE_QUERY_TIMEOUT_MS 3000

struct keystore;

/* pepper: the HMAC key for stored hashes (may be empty: plain SHA-256).
 * Starts the thread; the first load happens in it (keystore_loaded). */
struct keystore *keystore_start(const char *pg_url, const char *pepper, char *err, size_t errlen);
void keystore_stop(struct keystore *ks);

enum keystore_result {
    KEYSTORE_OK,
    KEYSTORE_MALFORMED,  /* not a Sluice key, or its checksum is wrong */
    KEYSTORE_UNKNOWN,    /* well-formed, but no valid key has its id and secret */
    KEYSTORE_EXPIRED,    /* was valid; its expiry (or a roll's grace) passed */
    KEYSTORE_NOT_LOADED, /* the keys were never read (PostgreSQL away since start) */
};

/* Checks key (len bytes, not necessarily terminated) at now_us; on
 * KEYSTORE_OK fills *out (kind, id, tenant, scopes) and records the use. */
enum keystore_result keystore_check(struct keystore *ks, const char *key, size_t len,
                                    int64_t now_us, struct principal *out);

/* The stored hash of a new key, under this store's pepper. */
void keystore_hash(const struct keystore *ks, const char *key, unsigned char out[32]);
/* Tells the thread to reload now (after this replica changed a key, so the
 * change holds here before the answer goes out, without waiting for the
 * notification's round trip); returns once the reload ran, at most
 * timeout_ms. */
void keystore_reload_wait(struct keystore *ks, int timeout_ms);

#endif
