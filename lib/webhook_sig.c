#include "webhook_sig.h"

#include "buf.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define SECRET_PREFIX "whsec_"

/* Decodes base64 text into key; returns the key length or -1. */
static int decode_key(const char *text, unsigned char *key, size_t keycap)
{
    size_t len = strlen(text);
    if (len == 0 || len % 4 != 0 || (len / 4) * 3 > keycap)
        return -1;
    int n = EVP_DecodeBlock(key, (const unsigned char *)text, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    while (len > 0 && text[len - 1] == '=') {
        n--;
        len--;
    }
    return n;
}

int webhook_signature(const char *const *secrets, size_t nsecrets, const char *msg_id,
                      int64_t timestamp, const char *body, size_t bodylen, char *out, size_t outlen)
{
    struct buf signed_text = {0}, header = {0};
    int rc = -1;
    buf_printf(&signed_text, "%s.%lld.", msg_id, (long long)timestamp);
    buf_append(&signed_text, body, bodylen);
    for (size_t i = 0; i < nsecrets; i++) {
        unsigned char key[256], mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        int keylen = strncmp(secrets[i], SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0
                         ? decode_key(secrets[i] + strlen(SECRET_PREFIX), key, sizeof(key))
                         : -1;
        if (keylen <= 0) {
            snprintf(out, outlen, "secret %zu is not whsec_ followed by base64", i + 1);
            goto done;
        }
        if (!HMAC(EVP_sha256(), key, keylen, (const unsigned char *)signed_text.data,
                  signed_text.len, mac, &maclen)) {
            snprintf(out, outlen, "HMAC failed");
            goto done;
        }
        char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
        EVP_EncodeBlock((unsigned char *)b64, mac, (int)maclen);
        buf_printf(&header, "%sv1,%s", i ? " " : "", b64);
    }
    if (header.len + 1 > outlen) {
        snprintf(out, outlen, "no room for the signatures");
        goto done;
    }
    memcpy(out, header.data ? header.data : "", header.len + 1);
    rc = 0;
done:
    buf_free(&signed_text);
    buf_free(&header);
    return rc;
}
