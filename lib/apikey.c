#include "apikey.h"

#include "digest.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#define PREFIX_LEN (sizeof(APIKEY_PREFIX) - 1)
#define SECRET_BYTES 32
/* Offsets into the key text. */
#define ID_AT PREFIX_LEN
#define SEP_AT (ID_AT + APIKEY_ID_LEN)
#define SECRET_AT (SEP_AT + 1)
#define CHECKSUM_AT (SECRET_AT + APIKEY_SECRET_LEN)

_Static_assert(CHECKSUM_AT + APIKEY_CHECKSUM_LEN == APIKEY_LEN, "the grammar adds up");

static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* The digit's value, or -1 when c is not base62. */
static int digit_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 36;
    return -1;
}

/* 32 bytes as exactly 43 digits. Every round divides the whole number, so the
 * work does not depend on the secret's value. */
static void encode_secret(const unsigned char in[SECRET_BYTES], char out[APIKEY_SECRET_LEN])
{
    unsigned char n[SECRET_BYTES];
    memcpy(n, in, sizeof(n));
    for (int i = APIKEY_SECRET_LEN - 1; i >= 0; i--) {
        unsigned rem = 0;
        for (size_t j = 0; j < sizeof(n); j++) {
            unsigned cur = (rem << 8) | n[j];
            n[j] = (unsigned char)(cur / 62);
            rem = cur % 62;
        }
        out[i] = alphabet[rem];
    }
    OPENSSL_cleanse(n, sizeof(n));
}

/* 2^256 - 1 in 43 digits: the largest secret encode_secret produces. */
static const char secret_max[APIKEY_SECRET_LEN + 1] = "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1";

/* Whether 43 digits (already checked to be base62) make a number < 2^256,
 * i.e. one encode_secret can produce (62^43 is a little over 2^256). The
 * alphabet ascends in ASCII, so equal-length digit strings compare as their
 * numbers: a comparison with secret_max, without branching on the secret
 * (the first differing digit decides, found with masks). */
static bool secret_in_range(const char *digits)
{
    unsigned decided = 0, greater = 0;
    for (size_t i = 0; i < APIKEY_SECRET_LEN; i++) {
        unsigned d = (unsigned char)digits[i], m = (unsigned char)secret_max[i];
        unsigned gt = (m - d) >> 31 & 1u; /* d > m */
        unsigned ne = ((d ^ m) + 0xffu) >> 8 & 1u;
        greater |= gt & ~decided & 1u;
        decided |= ne;
    }
    return !greater;
}

static void encode_checksum(const char *text, size_t len, char out[APIKEY_CHECKSUM_LEN])
{
    uint32_t v = (uint32_t)crc32(0L, (const Bytef *)text, (uInt)len);
    for (int i = APIKEY_CHECKSUM_LEN - 1; i >= 0; i--) {
        out[i] = alphabet[v % 62];
        v /= 62;
    }
}

/* n uniformly random base62 digits: bytes >= 248 (4 * 62) are dropped so
 * that every digit is equally likely. */
static int random_digits(char *out, size_t n)
{
    unsigned char pool[32];
    size_t used = sizeof(pool);
    for (size_t i = 0; i < n;) {
        if (used == sizeof(pool)) {
            if (RAND_bytes(pool, sizeof(pool)) != 1)
                return -1;
            used = 0;
        }
        unsigned char b = pool[used++];
        if (b < 248)
            out[i++] = alphabet[b % 62];
    }
    return 0;
}

int apikey_generate(char out[APIKEY_MAX], char lookup_id[APIKEY_ID_MAX])
{
    unsigned char secret[SECRET_BYTES];
    int rc = -1;
    out[0] = '\0';
    lookup_id[0] = '\0';
    memcpy(out, APIKEY_PREFIX, PREFIX_LEN);
    if (random_digits(out + ID_AT, APIKEY_ID_LEN) != 0)
        goto done;
    out[SEP_AT] = '_';
    if (RAND_bytes(secret, sizeof(secret)) != 1)
        goto done;
    encode_secret(secret, out + SECRET_AT);
    encode_checksum(out, CHECKSUM_AT, out + CHECKSUM_AT);
    out[APIKEY_LEN] = '\0';
    memcpy(lookup_id, out + ID_AT, APIKEY_ID_LEN);
    lookup_id[APIKEY_ID_LEN] = '\0';
    rc = 0;
done:
    OPENSSL_cleanse(secret, sizeof(secret));
    if (rc != 0)
        OPENSSL_cleanse(out, APIKEY_MAX);
    return rc;
}

static bool all_base62(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (digit_value((unsigned char)s[i]) < 0)
            return false;
    return true;
}

int apikey_parse(const char *text, size_t len, char lookup_id[APIKEY_ID_MAX])
{
    if (lookup_id)
        lookup_id[0] = '\0';
    if (!text || len != APIKEY_LEN || memcmp(text, APIKEY_PREFIX, PREFIX_LEN) != 0 ||
        text[SEP_AT] != '_' || !all_base62(text + ID_AT, APIKEY_ID_LEN) ||
        !all_base62(text + SECRET_AT, APIKEY_SECRET_LEN + APIKEY_CHECKSUM_LEN) ||
        !secret_in_range(text + SECRET_AT))
        return -1;
    char want[APIKEY_CHECKSUM_LEN];
    encode_checksum(text, CHECKSUM_AT, want);
    if (memcmp(want, text + CHECKSUM_AT, APIKEY_CHECKSUM_LEN) != 0)
        return -1;
    if (lookup_id) {
        memcpy(lookup_id, text + ID_AT, APIKEY_ID_LEN);
        lookup_id[APIKEY_ID_LEN] = '\0';
    }
    return 0;
}

int apikey_hash(const char *key, const unsigned char *pepper, size_t pepperlen,
                unsigned char out[APIKEY_HASH_LEN])
{
    size_t keylen = strlen(key);
    unsigned int n = 0;
    bool ok;
    if (pepperlen > 0)
        ok = pepperlen <= INT_MAX && HMAC(digest_sha256(), pepper, (int)pepperlen,
                                          (const unsigned char *)key, keylen, out, &n) != NULL;
    else
        ok = EVP_Digest(key, keylen, out, &n, digest_sha256(), NULL) == 1;
    if (!ok || n != APIKEY_HASH_LEN) {
        memset(out, 0, APIKEY_HASH_LEN);
        return -1;
    }
    return 0;
}

int apikey_hash_hex(const char *key, const unsigned char *pepper, size_t pepperlen,
                    char out[APIKEY_HASH_HEX_MAX])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char h[APIKEY_HASH_LEN];
    out[0] = '\0';
    if (apikey_hash(key, pepper, pepperlen, h) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(h); i++) {
        out[2 * i] = hex[h[i] >> 4];
        out[2 * i + 1] = hex[h[i] & 15];
    }
    out[2 * APIKEY_HASH_LEN] = '\0';
    return 0;
}

bool apikey_hash_equal(const unsigned char a[APIKEY_HASH_LEN],
                       const unsigned char b[APIKEY_HASH_LEN])
{
    return CRYPTO_memcmp(a, b, APIKEY_HASH_LEN) == 0;
}
