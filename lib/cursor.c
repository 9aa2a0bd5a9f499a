#include "cursor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < len)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64url_decode(const char *in, unsigned char *out, size_t outcap, size_t *outlen)
{
    size_t len = strlen(in), o = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        const char *p = strchr(b64url, in[i]);
        if (!p || !in[i])
            return -1;
        v = (v << 6) | (unsigned)(p - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outcap)
                return -1;
            out[o++] = (unsigned char)(v >> bits);
        }
    }
    *outlen = o;
    return 0;
}

void cursor_encode(int64_t occurred_at_us, const struct uuid *id, char out[CURSOR_STR_LEN])
{
    char plain[64], uuid[UUID_STR_LEN];
    uuid_format(id, uuid);
    int n = snprintf(plain, sizeof(plain), "%lld/%s", (long long)occurred_at_us, uuid);
    b64url_encode((const unsigned char *)plain, (size_t)n, out);
}

int cursor_decode(const char *s, int64_t *occurred_at_us, struct uuid *id)
{
    if (strlen(s) >= CURSOR_STR_LEN)
        return -1;
    unsigned char plain[72];
    size_t n;
    if (b64url_decode(s, plain, sizeof(plain) - 1, &n) != 0)
        return -1;
    plain[n] = '\0';
    char *slash = strchr((char *)plain, '/');
    if (!slash || slash == (char *)plain)
        return -1;
    *slash = '\0';
    char *end;
    errno = 0;
    long long ts = strtoll((char *)plain, &end, 10);
    if (errno || *end)
        return -1;
    if (uuid_parse(slash + 1, id) != 0)
        return -1;
    /* One spelling per position: strtoll and uuid_parse also take "+5",
     * "05" and upper-case hex, and base64url's last character carries spare
     * bits; none of those is a cursor cursor_encode wrote. */
    char again[CURSOR_STR_LEN];
    cursor_encode(ts, id, again);
    if (strcmp(again, s) != 0)
        return -1;
    *occurred_at_us = ts;
    return 0;
}
