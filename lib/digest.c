#include "digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

/* Fetched once (pthread_once), read-only after, kept for the process's life:
 * shared by every thread, as OpenSSL allows for a fetched EVP_MD. */
static const EVP_MD *fetched_sha256, *fetched_sha1;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_digests(void)
{
    EVP_MD *sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MD *sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    fetched_sha256 = sha256 ? sha256 : EVP_sha256();
    fetched_sha1 = sha1 ? sha1 : EVP_sha1();
}

const EVP_MD *digest_sha256(void)
{
    pthread_once(&fetch_once, fetch_digests);
    return fetched_sha256;
}

const EVP_MD *digest_sha1(void)
{
    pthread_once(&fetch_once, fetch_digests);
    return fetched_sha1;
}

int digest_sha256_hex(const struct digest_part *parts, size_t n, char out[DIGEST_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, digest_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = !parts[i].len || EVP_DigestUpdate(ctx, parts[i].data, parts[i].len) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen * 2 == DIGEST_HEX_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        memset(out, '0', DIGEST_HEX_LEN);
        out[DIGEST_HEX_LEN] = '\0';
        return -1;
    }
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0x0f];
    }
    out[DIGEST_HEX_LEN] = '\0';
    return 0;
}
