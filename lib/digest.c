#include "digest.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <string.h>

int digest_sha256_hex(const struct digest_part *parts, size_t n, char out[DIGEST_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
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
