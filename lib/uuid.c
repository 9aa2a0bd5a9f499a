#include "uuid.h"

#include "digest.h"
#include "random.h"

#include <openssl/evp.h>
#include <string.h>

/* 3b0c1c4e-8a7d-5f2e-9a41-5c1d1ce0b7a1, chosen once for Sluice; never change it or
 * every deterministic id changes. */
const struct uuid uuid_namespace_sluice = {{0x3b, 0x0c, 0x1c, 0x4e, 0x8a, 0x7d, 0x5f, 0x2e, 0x9a,
                                            0x41, 0x5c, 0x1d, 0x1c, 0xe0, 0xb7, 0xa1}};

void uuid_v5(struct uuid *out, const struct uuid *ns, const void *name, size_t len)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, digest_sha1(), NULL) ||
        !EVP_DigestUpdate(ctx, ns->b, sizeof(ns->b)) || !EVP_DigestUpdate(ctx, name, len) ||
        !EVP_DigestFinal_ex(ctx, digest, &dlen))
        memset(digest, 0, sizeof(digest)); /* only on allocation failure */
    EVP_MD_CTX_free(ctx);
    memcpy(out->b, digest, 16);
    out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x50);
    out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80);
}

int uuid_v7(struct uuid *out, uint64_t unix_ms)
{
    if (random_bytes(out->b + 6, 10) != 0)
        return -1;
    for (int i = 0; i < 6; i++)
        out->b[i] = (uint8_t)(unix_ms >> (8 * (5 - i)));
    out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x70);
    out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80);
    return 0;
}

void uuid_format(const struct uuid *u, char out[UUID_STR_LEN])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[u->b[i] >> 4];
        out[o++] = hex[u->b[i] & 0x0f];
    }
    out[o] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int uuid_parse(const char *s, struct uuid *out)
{
    size_t i = 0;
    for (int byte = 0; byte < 16; byte++) {
        if (byte == 4 || byte == 6 || byte == 8 || byte == 10) {
            if (s[i++] != '-')
                return -1;
        }
        int hi = hexval(s[i]);
        int lo = hi < 0 ? -1 : hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out->b[byte] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return s[i] == '\0' ? 0 : -1;
}
