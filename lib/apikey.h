/* apikey: the text of Sluice's API keys and their stored hash (issue 11).
 *
 * A key looks like GitHub's and Unkey's tokens, so secret scanners (GitHub's
 * push protection, gitleaks, trufflehog) can find a leaked one by its prefix
 * and check it offline by its checksum before anyone is paged:
 *
 *   key       = "sk_sluice_" lookup-id "_" secret checksum      (72 chars)
 *   lookup-id = 12 base62                   public, the row to look up
 *   secret    = 43 base62                   32 bytes from RAND_bytes, as one
 *                                           big-endian number, most
 *                                           significant digit first, padded
 *                                           with "0"; its value is < 2^256
 *   checksum  = 6 base62                    CRC-32 (zlib's, IEEE 802.3) of
 *                                           the 66 chars before it, encoded
 *                                           the same way, padded with "0"
 *   base62    = "0"-"9" / "A"-"Z" / "a"-"z" (digit values 0-61 in that order)
 *
 * The checksum only tells a typo or a random string from a key; it is no
 * secret and proves nothing. What proves a key is its hash: the server keeps
 * HMAC-SHA256(pepper, key) (or SHA-256(key) without a pepper) next to the
 * lookup id, never the key, and compares hashes in constant time.
 * Pure functions, safe from any thread; nothing is allocated. */
#ifndef SLUICE_APIKEY_H
#define SLUICE_APIKEY_H

#include <stdbool.h>
#include <stddef.h>

#define APIKEY_PREFIX "sk_sluice_"
#define APIKEY_ID_LEN 12
#define APIKEY_SECRET_LEN 43
#define APIKEY_CHECKSUM_LEN 6
#define APIKEY_LEN                                                                                 \
    (sizeof(APIKEY_PREFIX) - 1 + APIKEY_ID_LEN + 1 + APIKEY_SECRET_LEN + APIKEY_CHECKSUM_LEN)
#define APIKEY_MAX (APIKEY_LEN + 1)       /* with the NUL */
#define APIKEY_ID_MAX (APIKEY_ID_LEN + 1) /* with the NUL */
#define APIKEY_HASH_LEN 32
#define APIKEY_HASH_HEX_MAX (2 * APIKEY_HASH_LEN + 1)

/* A new key in out and its lookup id in lookup_id, both NUL-terminated;
 * -1 (out and lookup_id emptied) when the random generator fails. */
int apikey_generate(char out[APIKEY_MAX], char lookup_id[APIKEY_ID_MAX]);

/* 0 when text[0..len) is exactly one key of the grammar above with a valid
 * checksum, copying its lookup id (NUL-terminated) into lookup_id when that
 * is not NULL; -1 otherwise (lookup_id emptied). Reads no byte at or past
 * len, so text needs no NUL. It says nothing about whether the key exists. */
int apikey_parse(const char *text, size_t len, char lookup_id[APIKEY_ID_MAX]);

/* The stored form of the NUL-terminated key: HMAC-SHA256 keyed with the
 * server's pepper, or plain SHA-256 when pepperlen is 0. -1 when OpenSSL
 * fails (out is then zeroed). */
int apikey_hash(const char *key, const unsigned char *pepper, size_t pepperlen,
                unsigned char out[APIKEY_HASH_LEN]);
/* The same as 64 lowercase hex digits and a NUL (the database column). */
int apikey_hash_hex(const char *key, const unsigned char *pepper, size_t pepperlen,
                    char out[APIKEY_HASH_HEX_MAX]);
/* Constant time (CRYPTO_memcmp): how long it takes says nothing about where
 * two hashes differ. */
bool apikey_hash_equal(const unsigned char a[APIKEY_HASH_LEN],
                       const unsigned char b[APIKEY_HASH_LEN]);

#endif
