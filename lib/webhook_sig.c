#include "webhook_sig.h"

#include "buf.h"
#include "digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define SECRET_PREFIX "whsec_"
#define KEY_MAX 256
#define MAC_LEN 32
#define MAC_B64_LEN 44 /* 4 * ceil(32 / 3) */
#define TIMESTAMP_DIGITS_MAX 15

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

/* The HMAC key of a "whsec_" secret: its length, or -1. */
static int secret_key(const char *secret, unsigned char key[KEY_MAX])
{
    size_t plen = strlen(SECRET_PREFIX);
    if (!secret || strncmp(secret, SECRET_PREFIX, plen) != 0)
        return -1;
    int n = decode_key(secret + plen, key, KEY_MAX);
    return n > 0 ? n : -1;
}

bool webhook_secret_valid(const char *secret)
{
    unsigned char key[KEY_MAX];
    bool ok = secret_key(secret, key) > 0;
    OPENSSL_cleanse(key, sizeof(key));
    return ok;
}

/* What is signed: id.timestamp.body. */
static int signed_content(struct buf *out, const char *msg_id, const char *timestamp,
                          const char *body, size_t bodylen)
{
    if (buf_printf(out, "%s.%s.", msg_id, timestamp) != 0 || buf_append(out, body, bodylen) != 0)
        return -1;
    return 0;
}

/* The base64 of one secret's signature of content, NUL-terminated; -1 with a
 * reason in why. */
static int sign_one(const char *secret, size_t index, const struct buf *content,
                    char out[MAC_B64_LEN + 1], char *why, size_t whylen)
{
    unsigned char key[KEY_MAX], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int rc = -1;
    int keylen = secret_key(secret, key);
    if (keylen <= 0) {
        snprintf(why, whylen, "secret %zu is not whsec_ followed by base64", index + 1);
        goto done;
    }
    if (!HMAC(digest_sha256(), key, keylen, (const unsigned char *)content->data, content->len, mac,
              &maclen) ||
        maclen != MAC_LEN) {
        snprintf(why, whylen, "HMAC failed");
        goto done;
    }
    EVP_EncodeBlock((unsigned char *)out, mac, MAC_LEN);
    rc = 0;
done:
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

int webhook_signature(const char *const *secrets, size_t nsecrets, const char *msg_id,
                      int64_t timestamp, const char *body, size_t bodylen, char *out, size_t outlen)
{
    struct buf content = {0}, header = {0};
    char ts[24];
    int rc = -1;
    snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
    if (signed_content(&content, msg_id, ts, body, bodylen) != 0) {
        snprintf(out, outlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nsecrets; i++) {
        char b64[MAC_B64_LEN + 1];
        if (sign_one(secrets[i], i, &content, b64, out, outlen) != 0)
            goto done;
        if (buf_printf(&header, "%sv1,%s", i ? " " : "", b64) != 0) {
            snprintf(out, outlen, "out of memory");
            goto done;
        }
    }
    if (header.len + 1 > outlen) {
        snprintf(out, outlen, "no room for the signatures");
        goto done;
    }
    memcpy(out, header.data ? header.data : "", header.len + 1);
    rc = 0;
done:
    buf_free(&content);
    buf_free(&header);
    return rc;
}

static bool valid_msg_id(const char *id)
{
    if (!id)
        return false;
    size_t len = strnlen(id, WEBHOOK_SIG_ID_MAX + 1);
    if (len == 0 || len > WEBHOOK_SIG_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (id[i] < 0x21 || id[i] > 0x7e || id[i] == '.')
            return false;
    return true;
}

/* Decimal seconds as the sender formatted them: digits, no sign, no space,
 * no leading zero, so the text signed is the number's one spelling. */
static int parse_timestamp(const char *text, int64_t *out)
{
    if (!text)
        return -1;
    size_t len = strnlen(text, TIMESTAMP_DIGITS_MAX + 1);
    if (len == 0 || len > TIMESTAMP_DIGITS_MAX || (len > 1 && text[0] == '0'))
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return 0;
}

/* Whether some "v1,..." entry of header is want (MAC_B64_LEN chars). Sets
 * *any_v1 when the header has a v1 entry at all. */
static bool header_has(const char *header, size_t len, const char *want, bool *any_v1)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && header[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && header[i] != ' ')
            i++;
        size_t toklen = i - start;
        const char *tok = header + start;
        if (toklen < 3 || memcmp(tok, "v1,", 3) != 0)
            continue;
        *any_v1 = true;
        /* Lengths are public; only the bytes are compared in constant time. */
        if (toklen - 3 == MAC_B64_LEN && CRYPTO_memcmp(tok + 3, want, MAC_B64_LEN) == 0)
            return true;
    }
    return false;
}

int webhook_verify(const char *const *secrets, size_t nsecrets, const char *msg_id,
                   const char *timestamp_text, const char *signature_header, const char *body,
                   size_t bodylen, int64_t now_s, int tolerance_s, char *why, size_t whylen)
{
    struct buf content = {0};
    int64_t ts = 0;
    int rc = -1;
    if (whylen > 0)
        why[0] = '\0';
    if (nsecrets == 0) {
        snprintf(why, whylen, "no webhook secret configured");
        goto done;
    }
    if (!valid_msg_id(msg_id)) {
        snprintf(why, whylen,
                 "webhook-id is missing or not 1 to %d visible ASCII characters "
                 "without '.'",
                 WEBHOOK_SIG_ID_MAX);
        goto done;
    }
    if (parse_timestamp(timestamp_text, &ts) != 0) {
        snprintf(why, whylen, "webhook-timestamp is missing or not whole seconds since the epoch");
        goto done;
    }
    int64_t tol = tolerance_s > 0 ? tolerance_s : WEBHOOK_SIG_TOLERANCE_S;
    /* ts is at most 15 digits and tol an int: neither side overflows. */
    if (now_s > ts + tol) {
        snprintf(why, whylen, "webhook-timestamp is more than %lld s old", (long long)tol);
        goto done;
    }
    if (now_s < ts - tol) {
        snprintf(why, whylen, "webhook-timestamp is more than %lld s in the future",
                 (long long)tol);
        goto done;
    }
    size_t hlen = signature_header ? strnlen(signature_header, WEBHOOK_SIG_HEADER_MAX + 1) : 0;
    if (hlen == 0 || hlen > WEBHOOK_SIG_HEADER_MAX) {
        snprintf(why, whylen, "webhook-signature is missing or longer than %d bytes",
                 WEBHOOK_SIG_HEADER_MAX);
        goto done;
    }
    if (signed_content(&content, msg_id, timestamp_text, body, bodylen) != 0) {
        snprintf(why, whylen, "out of memory");
        goto done;
    }
    bool any_v1 = false;
    for (size_t i = 0; i < nsecrets; i++) {
        char want[MAC_B64_LEN + 1];
        if (sign_one(secrets[i], i, &content, want, why, whylen) != 0)
            goto done;
        if (header_has(signature_header, hlen, want, &any_v1)) {
            rc = 0;
            goto done;
        }
    }
    snprintf(why, whylen, "%s",
             any_v1 ? "no webhook-signature matches" : "webhook-signature has no v1 signature");
done:
    buf_free(&content);
    return rc;
}
