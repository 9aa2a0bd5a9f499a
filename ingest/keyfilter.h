/* keyfilter: which Idempotency-Keys PostgreSQL may already hold, so that a
 * keyed write whose key was never seen (the common case: every webhook
 * sends a fresh webhook-id) is produced without a database round trip.
 *
 * A Bloom filter (lib/bloom.h) of the keys in idempotency_keys, loaded by
 * one thread that owns a PostgreSQL connection: it LISTENs on
 * "sluice_idempotency_keys" first, then reads every stored key's hash
 * (sluice_idem_hash, schema/013_idempotency_filter.sql), then adds the
 * hashes each notification brings (a trigger sends them as persist commits,
 * on any replica), so no key stored after the load is missed. Every key
 * this replica claims is added too. The filter answers "new" only while it
 * is known to be whole: until the first load, and from a lost connection to
 * the reload after it, every key is "unknown" and takes the database path,
 * as before the filter. A "maybe" (a key seen, or a false positive, about
 * 0.06 % per stage) takes that path too, so the answer to a reused key is
 * what PostgreSQL says. A key another replica holds in flight, not yet
 * persisted, is caught by persist on insert (idempotency_keys), as it was. */
#ifndef SLUICE_KEYFILTER_H
#define SLUICE_KEYFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct keyfilter;

enum keyfilter_answer {
    KEYFILTER_NEW,     /* surely not in PostgreSQL (nor claimed here before) */
    KEYFILTER_MAYBE,   /* seen, or a false positive: ask PostgreSQL */
    KEYFILTER_UNKNOWN, /* the filter is not whole now: ask PostgreSQL */
};

/* Starts the thread; the first load happens in it. NULL with err set. */
struct keyfilter *keyfilter_start(const char *pg_url, char *err, size_t errlen);
void keyfilter_stop(struct keyfilter *kf);

/* name: principal, collection and key joined by "\n", as idempotency_keys
 * stores them. Says what the filter knew of it, and adds it: from now on it
 * is "maybe" here. Thread-safe; never blocks on the database. */
enum keyfilter_answer keyfilter_claim(struct keyfilter *kf, const char *name);

/* For /metrics: whether the filter is whole, and the hashes it holds. */
bool keyfilter_ready(struct keyfilter *kf);
size_t keyfilter_count(struct keyfilter *kf);

/* sluice_idem_hash of name, as a number (the first 8 bytes big-endian). */
uint64_t keyfilter_hash(const char *name);

#endif
