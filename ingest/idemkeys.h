/* idemkeys: the Idempotency-Keys this replica accepted lately, so that a key
 * reused with another body is refused at once, also while the first write is
 * still on its way to PostgreSQL (where persist records the key in
 * idempotency_keys, the truth shared by every replica).
 *
 * An index from key to {request fingerprint, record id}: bounded in entries
 * and in age (the oldest entry goes first), thread-safe (one mutex; every
 * operation is O(1) on average), owning copies of everything it keeps.
 *
 * A claim that lets the caller produce hands out a ticket; the caller settles
 * it once the write is answered: acknowledged keys stay (a retry is answered
 * from here), a key whose every write failed is forgotten (a retry may
 * produce again). */
#ifndef SLUICE_IDEMKEYS_H
#define SLUICE_IDEMKEYS_H

#include "uuid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDEMKEYS_CAPACITY 65536
/* Long enough for persist to have recorded the key in PostgreSQL. */
#define IDEMKEYS_MAX_AGE_US (INT64_C(3600) * 1000000)
#define IDEMKEYS_FINGERPRINT_LEN 65

struct idemkeys;

enum idem_claim {
    IDEM_FIRST,     /* unknown here, now claimed: check PostgreSQL, then produce */
    IDEM_IN_FLIGHT, /* the same body is on its way: produce again (same id, the worker
                       collapses it) */
    IDEM_DONE,      /* the same body was acknowledged: answer with its record id */
    IDEM_CONFLICT,  /* another body holds the key: 422 */
};

/* NULL when out of memory. */
struct idemkeys *idemkeys_new(size_t capacity, int64_t max_age_us);
void idemkeys_free(struct idemkeys *ix);

/* Looks key up and claims it for a write of (fingerprint, record_id) when
 * the answer is FIRST or IN_FLIGHT (*ticket is then non-zero, to settle).
 * DONE and CONFLICT fill stored_id with the record the key made. */
enum idem_claim idemkeys_claim(struct idemkeys *ix, const char *key, const char *fingerprint,
                               const char *record_id, int64_t now_us, char stored_id[UUID_STR_LEN],
                               uint64_t *ticket);

/* The claimed write was answered: acked when Kafka took it. A ticket of an
 * entry evicted since (or 0) is ignored. */
void idemkeys_settle(struct idemkeys *ix, const char *key, uint64_t ticket, bool acked);

/* PostgreSQL knew the key already: the claim becomes what it says
 * (acknowledged with that fingerprint and record id). */
void idemkeys_learn(struct idemkeys *ix, const char *key, uint64_t ticket, const char *fingerprint,
                    const char *record_id);

/* Entries held now (for tests and metrics). */
size_t idemkeys_count(struct idemkeys *ix);

#endif
