/* Unit tests for lib/netaddr.c: address and CIDR parsing, membership, and the
 * X-Forwarded-For walk that must never believe what a client prepends. */
#include "netaddr.h"

#include "check_main.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static struct cidr trusted[8];
static size_t ntrusted;

static void trust(const char *list)
{
    char err[128];
    ck_assert_msg(cidr_parse_list(list, trusted, 8, &ntrusted, err, sizeof(err)) == 0,
                  "cidr_parse_list(\"%s\") failed: %s", list, err);
}

static void assert_client(const char *peer, const char *xff, const char *expected)
{
    struct netaddr p, c;
    ck_assert_int_eq(netaddr_parse(peer, &p), 0);
    netaddr_client(&p, xff, trusted, ntrusted, &c);
    char got[NETADDR_STR_LEN];
    netaddr_format(&c, got);
    ck_assert_msg(strcmp(got, expected) == 0,
                  "peer %s, X-Forwarded-For \"%s\": expected %s, got %s", peer,
                  xff ? xff : "(none)", expected, got);
}

START_TEST(test_parse_and_format)
{
    struct netaddr a;
    char s[NETADDR_STR_LEN];
    ck_assert_int_eq(netaddr_parse("192.0.2.7", &a), 0);
    ck_assert_int_eq(a.family, AF_INET);
    ck_assert_int_eq(netaddr_parse("2001:db8::1", &a), 0);
    ck_assert_int_eq(a.family, AF_INET6);
    netaddr_format(&a, s);
    ck_assert_str_eq(s, "2001:db8::1");
    ck_assert_int_eq(netaddr_parse("::ffff:10.1.2.3", &a), 0);
    ck_assert_int_eq(a.family, AF_INET);
    netaddr_format(&a, s);
    ck_assert_str_eq(s, "10.1.2.3");
    ck_assert_int_eq(netaddr_parse("", &a), -1);
    ck_assert_int_eq(netaddr_parse("256.1.1.1", &a), -1);
    ck_assert_int_eq(netaddr_parse("1.2.3", &a), -1);
    ck_assert_int_eq(netaddr_parse("example.com", &a), -1);
    ck_assert_int_eq(netaddr_parse("1.2.3.4 ", &a), -1);
}
END_TEST

START_TEST(test_cidr_lists)
{
    char err[128];
    struct cidr list[4];
    size_t n;
    ck_assert_int_eq(
        cidr_parse_list("10.0.0.0/8, 192.168.1.1 ,::1,", list, 4, &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n, 3);
    struct netaddr a;
    netaddr_parse("10.200.3.4", &a);
    ck_assert(cidr_contains(list, n, &a));
    netaddr_parse("11.0.0.1", &a);
    ck_assert(!cidr_contains(list, n, &a));
    netaddr_parse("192.168.1.2", &a);
    ck_assert(!cidr_contains(list, n, &a));
    netaddr_parse("::1", &a);
    ck_assert(cidr_contains(list, n, &a));
    ck_assert_int_eq(cidr_parse_list("172.16.0.0/12", list, 4, &n, err, sizeof(err)), 0);
    netaddr_parse("172.31.255.255", &a);
    ck_assert(cidr_contains(list, n, &a));
    netaddr_parse("172.32.0.0", &a);
    ck_assert(!cidr_contains(list, n, &a));
    ck_assert_int_eq(cidr_parse_list("10.0.0.0/33", list, 4, &n, err, sizeof(err)), -1);
    ck_assert_int_eq(cidr_parse_list("10.0.0.0/", list, 4, &n, err, sizeof(err)), -1);
    ck_assert_int_eq(cidr_parse_list("nonsense", list, 4, &n, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "nonsense"));
    ck_assert_int_eq(
        cidr_parse_list("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", list, 4, &n, err, sizeof(err)),
        -1);
    ck_assert_int_eq(cidr_parse_list("", list, 4, &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_untrusted_peer_is_the_client)
{
    trust("10.0.0.0/8");
    assert_client("203.0.113.9", NULL, "203.0.113.9");
    /* A header from an untrusted peer is never believed. */
    assert_client("203.0.113.9", "1.2.3.4", "203.0.113.9");
}
END_TEST

START_TEST(test_trusted_proxy_chain)
{
    trust("10.0.0.0/8, 127.0.0.1");
    assert_client("10.0.0.5", "198.51.100.7", "198.51.100.7");
    /* The client prepended a fake address: the right-most untrusted wins. */
    assert_client("10.0.0.5", "6.6.6.6, 198.51.100.7", "198.51.100.7");
    /* Two trusted hops. */
    assert_client("127.0.0.1", "198.51.100.7, 10.1.1.1", "198.51.100.7");
    /* Every hop trusted: the left-most is as far as we can see. */
    assert_client("10.0.0.5", "10.9.9.9, 10.1.1.1", "10.9.9.9");
    /* Garbage ends the walk at the last trusted hop. */
    assert_client("10.0.0.5", "198.51.100.7, junk", "10.0.0.5");
    assert_client("10.0.0.5", "junk, 10.1.1.1", "10.1.1.1");
    assert_client("10.0.0.5", "", "10.0.0.5");
    assert_client("10.0.0.5", " 2001:db8::2 ", "2001:db8::2");
}
END_TEST

/* The lines of an X-Forwarded-For sent several times, combined as
 * netaddr_forwarded_append does (NULL-terminated), then walked. */
static void assert_client_lines(const char *peer, const char *const *lines, const char *combined,
                                const char *expected)
{
    struct buf list = {0};
    for (size_t i = 0; lines[i]; i++)
        ck_assert_int_eq(netaddr_forwarded_append(&list, lines[i]), 0);
    ck_assert_msg(strcmp(list.len ? list.data : "", combined) == 0,
                  "combined X-Forwarded-For: expected \"%s\", got \"%s\"", combined,
                  list.len ? list.data : "");
    assert_client(peer, list.len ? list.data : NULL, expected);
    buf_free(&list);
}

START_TEST(test_forwarded_lines_combined)
{
    trust("10.0.0.0/8");
    /* HAProxy appends its own line after the client's: the client's line
     * alone would name the spoofed address. */
    const char *haproxy[] = {"6.6.6.6", "198.51.100.7", NULL};
    assert_client_lines("10.0.0.5", haproxy, "6.6.6.6,198.51.100.7", "198.51.100.7");
    /* Two proxies, each adding a line; the inner one is trusted. */
    const char *two[] = {"6.6.6.6, 1.1.1.1", "198.51.100.7", "10.1.1.1", NULL};
    assert_client_lines("10.0.0.5", two, "6.6.6.6, 1.1.1.1,198.51.100.7,10.1.1.1", "198.51.100.7");
    /* Lines of whitespace add nothing; empty elements are skipped. */
    const char *blank[] = {"", "  ", "198.51.100.7", "\t", NULL};
    assert_client_lines("10.0.0.5", blank, "198.51.100.7", "198.51.100.7");
    const char *none[] = {" ", NULL};
    assert_client_lines("10.0.0.5", none, "", "10.0.0.5");
    /* Still never believed from an untrusted peer. */
    assert_client_lines("203.0.113.9", haproxy, "6.6.6.6,198.51.100.7", "203.0.113.9");
    /* A junk line the proxy did not write ends the walk at the last trusted hop. */
    const char *junk[] = {"198.51.100.7", "junk", NULL};
    assert_client_lines("10.0.0.5", junk, "198.51.100.7,junk", "10.0.0.5");
}
END_TEST

START_TEST(test_empty_elements_skipped)
{
    trust("10.0.0.0/8");
    assert_client("10.0.0.5", "198.51.100.7, ,10.1.1.1", "198.51.100.7");
    assert_client("10.0.0.5", "198.51.100.7,", "198.51.100.7");
    assert_client("10.0.0.5", ",,", "10.0.0.5");
    assert_client("10.0.0.5", ", 198.51.100.7", "198.51.100.7");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("netaddr");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_and_format);
    tcase_add_test(tc, test_cidr_lists);
    tcase_add_test(tc, test_untrusted_peer_is_the_client);
    tcase_add_test(tc, test_trusted_proxy_chain);
    tcase_add_test(tc, test_forwarded_lines_combined);
    tcase_add_test(tc, test_empty_elements_skipped);
    suite_add_tcase(s, tc);
    return check_run(s);
}
