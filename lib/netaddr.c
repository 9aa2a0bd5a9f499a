#include "netaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int netaddr_parse(const char *s, struct netaddr *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, s, out->bytes) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out->bytes) == 1) {
        out->family = AF_INET6;
        if (memcmp(out->bytes, v4_mapped_prefix, 12) == 0) {
            memmove(out->bytes, out->bytes + 12, 4);
            memset(out->bytes + 4, 0, 12);
            out->family = AF_INET;
        }
        return 0;
    }
    return -1;
}

void netaddr_format(const struct netaddr *a, char out[NETADDR_STR_LEN])
{
    if (!inet_ntop(a->family, a->bytes, out, NETADDR_STR_LEN))
        snprintf(out, NETADDR_STR_LEN, "unknown");
}

/* Copies one trimmed, comma-delimited token; returns the rest or NULL at the end. */
static const char *next_token(const char *s, char *tok, size_t toklen, bool *too_long)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strcspn(s, ",");
    const char *rest = s[len] ? s + len + 1 : NULL;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    *too_long = len >= toklen;
    if (*too_long)
        len = 0;
    memcpy(tok, s, len);
    tok[len] = '\0';
    return rest;
}

int cidr_parse_list(const char *s, struct cidr *out, size_t max, size_t *count, char *err,
                    size_t errlen)
{
    *count = 0;
    if (!s)
        return 0;
    const char *p = s;
    while (p) {
        char tok[80];
        bool too_long;
        p = next_token(p, tok, sizeof(tok), &too_long);
        if (!tok[0] && !too_long)
            continue;
        if (*count == max) {
            snprintf(err, errlen, "more than %zu entries", max);
            return -1;
        }
        struct cidr *c = &out[*count];
        char *slash = strchr(tok, '/');
        if (slash)
            *slash = '\0';
        if (too_long || netaddr_parse(tok, &c->net) != 0) {
            snprintf(err, errlen, "'%s' is not an IP address or CIDR block", tok);
            return -1;
        }
        int bits = c->net.family == AF_INET ? 32 : 128;
        c->prefix = bits;
        if (slash) {
            char *end;
            long prefix = strtol(slash + 1, &end, 10);
            if (*end || end == slash + 1 || prefix < 0 || prefix > bits) {
                snprintf(err, errlen, "'%s/%s' has a bad prefix length", tok, slash + 1);
                return -1;
            }
            c->prefix = (int)prefix;
        }
        (*count)++;
    }
    return 0;
}

static bool cidr_match(const struct cidr *c, const struct netaddr *a)
{
    if (c->net.family != a->family)
        return false;
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->net.bytes, a->bytes, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->net.bytes[full] & mask) == (a->bytes[full] & mask);
}

bool cidr_contains(const struct cidr *list, size_t n, const struct netaddr *a)
{
    for (size_t i = 0; i < n; i++) {
        if (cidr_match(&list[i], a))
            return true;
    }
    return false;
}

int netaddr_forwarded_append(struct buf *list, const char *line)
{
    if (!line || line[strspn(line, " \t")] == '\0')
        return 0;
    if (list->len > 0 && buf_puts(list, ",") != 0)
        return -1;
    return buf_puts(list, line);
}

void netaddr_client(const struct netaddr *peer, const char *forwarded_for,
                    const struct cidr *trusted, size_t ntrusted, struct netaddr *client)
{
    *client = *peer;
    if (!forwarded_for || !cidr_contains(trusted, ntrusted, peer))
        return;
    /* Walk the list from the right: each trusted hop vouches for the one
     * before it; the first untrusted address is the client. */
    size_t len = strlen(forwarded_for);
    while (len > 0) {
        size_t start = len;
        while (start > 0 && forwarded_for[start - 1] != ',')
            start--;
        char tok[80];
        size_t a = start, b = len;
        while (a < b && (forwarded_for[a] == ' ' || forwarded_for[a] == '\t'))
            a++;
        while (b > a && (forwarded_for[b - 1] == ' ' || forwarded_for[b - 1] == '\t'))
            b--;
        len = start > 0 ? start - 1 : 0;
        if (a == b) /* an empty element ("a, , b" or a trailing comma) */
            continue;
        struct netaddr hop;
        if (b - a >= sizeof(tok))
            return;
        memcpy(tok, forwarded_for + a, b - a);
        tok[b - a] = '\0';
        if (netaddr_parse(tok, &hop) != 0)
            return;
        *client = hop;
        if (!cidr_contains(trusted, ntrusted, &hop))
            return;
    }
}
