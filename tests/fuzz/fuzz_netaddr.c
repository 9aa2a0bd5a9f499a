/* netaddr: the epochs collection's only outside input. POST /epoch takes no
 * body; it stores who the client is, from the socket peer and every
 * X-Forwarded-For line (lib/netaddr.c; ingest/epoch.c), given the
 * SLUICE_TRUSTED_PROXIES list of CIDR blocks. The input's lines are: the
 * trusted list, the peer, then one X-Forwarded-For field line each.
 *
 * Checked against a model written apart from the module (split the list,
 * walk it from the right): the client is the peer unless the peer is
 * trusted, and then the right-most address that is not itself trusted,
 * never one a client prepended before it; addresses print and parse back;
 * every block contains its own address; the epoch envelope written with the
 * client's address reads back in persist (envelope_parse_epoch). */
#include "support.h"

#include "envelope.h"
#include "netaddr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRUSTED 8

static bool same(const struct netaddr *a, const struct netaddr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

static void check_print_parse(const struct netaddr *a)
{
    char text[NETADDR_STR_LEN];
    netaddr_format(a, text);
    struct netaddr back;
    FUZZ_CHECK(netaddr_parse(text, &back) == 0, "cannot parse its own \"%s\"", text);
    FUZZ_CHECK(same(a, &back), "\"%s\" parsed back to another address", text);
}

/* The model: the combined field split at every ',', each element trimmed of
 * blanks, read from the right. */
static struct netaddr model_client(const struct netaddr *peer, const char *list,
                                   const struct cidr *trusted, size_t ntrusted)
{
    struct netaddr client = *peer;
    if (!list || !cidr_contains(trusted, ntrusted, peer))
        return client;
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    char **elems = calloc(n, sizeof(*elems));
    char *copy = fuzz_strndup(list, strlen(list));
    FUZZ_CHECK(elems != NULL, "out of memory");
    char *p = copy;
    for (size_t i = 0; i < n; i++) {
        elems[i] = p;
        p += strcspn(p, ",");
        if (*p)
            *p++ = '\0';
    }
    for (size_t i = n; i-- > 0;) {
        char *e = elems[i];
        e += strspn(e, " \t");
        size_t len = strlen(e);
        while (len && (e[len - 1] == ' ' || e[len - 1] == '\t'))
            e[--len] = '\0';
        if (!len)
            continue; /* RFC 9110 §5.6.1: empty elements do not count */
        struct netaddr hop;
        if (len >= 80 || netaddr_parse(e, &hop) != 0)
            break; /* a malformed hop: believe nothing further left */
        client = hop;
        if (!cidr_contains(trusted, ntrusted, &hop))
            break;
    }
    free(copy);
    free(elems);
    return client;
}

int fuzz_one(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    char *line = fuzz_line(text, 0);
    struct cidr trusted[MAX_TRUSTED];
    size_t ntrusted = 0;
    char err[200];
    memset(err, 'x', sizeof(err));
    if (cidr_parse_list(line, trusted, MAX_TRUSTED, &ntrusted, err, sizeof(err)) != 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL, "error text not terminated");
        ntrusted = 0;
    }
    free(line);
    for (size_t i = 0; i < ntrusted; i++) {
        int bits = trusted[i].net.family == AF_INET ? 32 : 128;
        FUZZ_CHECK(trusted[i].prefix >= 0 && trusted[i].prefix <= bits, "prefix %d",
                   trusted[i].prefix);
        FUZZ_CHECK(cidr_contains(&trusted[i], 1, &trusted[i].net), "a block misses its address");
        check_print_parse(&trusted[i].net);
    }

    struct netaddr peer;
    line = fuzz_line(text, 1);
    if (!line || netaddr_parse(line, &peer) != 0) {
        /* A peer the list trusts, so the header is read. */
        if (ntrusted)
            peer = trusted[0].net;
        else
            netaddr_parse("127.0.0.1", &peer);
    }
    free(line);
    check_print_parse(&peer);

    struct buf forwarded = {0};
    for (size_t n = 2; (line = fuzz_line(text, n)) != NULL; n++) {
        FUZZ_CHECK(netaddr_forwarded_append(&forwarded, line) == 0, "out of memory");
        free(line);
    }
    const char *list = forwarded.len ? forwarded.data : NULL;
    struct netaddr client, want = model_client(&peer, list, trusted, ntrusted);
    netaddr_client(&peer, list, trusted, ntrusted, &client);
    char got_text[NETADDR_STR_LEN], want_text[NETADDR_STR_LEN];
    netaddr_format(&client, got_text);
    netaddr_format(&want, want_text);
    FUZZ_CHECK(same(&client, &want), "client %s, the model says %s (X-Forwarded-For \"%s\")",
               got_text, want_text, list ? list : "");

    static const char key[] = "018f3406-9e00-7abc-8def-0123456789ab";
    size_t len;
    char *value =
        envelope_build_epoch(key, &fuzz_origin, FUZZ_NOW_US, FUZZ_NOW_US / 1000, got_text, &len);
    FUZZ_CHECK(value != NULL, "envelope_build_epoch failed");
    struct epoch_envelope ep;
    char why[200];
    FUZZ_CHECK(envelope_parse_epoch(value, len, &ep, why, sizeof(why)) == 0 &&
                   strcmp(ep.ip, got_text) == 0,
               "persist refuses the epoch of client %s: %s", got_text, why);
    envelope_epoch_free(&ep);
    free(value);
    buf_free(&forwarded);
    free(text);
    return 0;
}
