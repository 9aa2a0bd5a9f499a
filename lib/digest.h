/* digest: SHA-256 as lowercase hex (OpenSSL's EVP), of one byte range or of
 * several hashed as one, for request fingerprints, content identities and
 * the anchors of applied offsets. No allocation; nothing to free. */
#ifndef SLUICE_DIGEST_H
#define SLUICE_DIGEST_H

#include <stddef.h>

#define DIGEST_HEX_LEN 64

struct digest_part {
    const void *data;
    size_t len;
};

/* The digest of the parts in order into out; -1 (out all zeros) only when
 * OpenSSL cannot allocate its context. */
int digest_sha256_hex(const struct digest_part *parts, size_t n, char out[DIGEST_HEX_LEN + 1]);

/* SHA-256 and SHA-1 for every EVP call of the project (any thread):
 * fetched from OpenSSL's providers once per process, where EVP_sha256()
 * makes each digest look its implementation up again (half the cost of
 * hashing a short key). Never NULL: should the fetch fail, the implicit
 * EVP_sha256() and EVP_sha1(). */
typedef struct evp_md_st EVP_MD;
const EVP_MD *digest_sha256(void);
const EVP_MD *digest_sha1(void);

#endif
