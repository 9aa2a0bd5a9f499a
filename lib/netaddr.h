/* netaddr: IP addresses and CIDR blocks, and who the client of a request is
 * when trusted proxies stand in front (X-Forwarded-For). Pure functions. */
#ifndef SLUICE_NETADDR_H
#define SLUICE_NETADDR_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETADDR_STR_LEN 46 /* INET6_ADDRSTRLEN */

struct netaddr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t bytes[16];
};

struct cidr {
    struct netaddr net;
    int prefix;
};

/* Parses "1.2.3.4" or "::1"; an IPv4-mapped IPv6 address becomes IPv4. */
int netaddr_parse(const char *s, struct netaddr *out);
void netaddr_format(const struct netaddr *a, char out[NETADDR_STR_LEN]);

/* Parses a comma-separated list of CIDR blocks or single addresses
 * ("10.0.0.0/8, ::1"); fills at most max entries. -1 with err on a bad entry. */
int cidr_parse_list(const char *s, struct cidr *out, size_t max, size_t *count, char *err,
                    size_t errlen);
bool cidr_contains(const struct cidr *list, size_t n, const struct netaddr *a);

/* Adds one X-Forwarded-For field line to list, the field's combined value: a
 * list field sent as several lines is one list, the lines in order joined with
 * "," (RFC 9110 §5.3). A proxy that appends its own line (HAProxy does) is
 * believed only this way: reading the first line alone would let the client's
 * line win. Lines of only whitespace add nothing. -1 when out of memory. */
int netaddr_forwarded_append(struct buf *list, const char *line);

/* The client's address: the socket peer, or, only when the peer is a trusted
 * proxy, the right-most X-Forwarded-For address that is not itself trusted
 * (walking from the right, so addresses a client prepends are never believed).
 * Empty list elements are skipped (RFC 9110 §5.6.1); a malformed entry ends
 * the walk at the last trusted hop. */
void netaddr_client(const struct netaddr *peer, const char *forwarded_for,
                    const struct cidr *trusted, size_t ntrusted, struct netaddr *client);

#endif
