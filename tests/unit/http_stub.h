/* http_stub: the loopback servers of the channel tests. A one-shot HTTP
 * server (test_http_post.c, test_slack.c, test_webhook.c) takes one
 * connection, reads one request (headers and Content-Length bytes), answers
 * a canned response (or, when it is NULL, waits for the client to hang up)
 * and closes. loopback_listen() and loopback_unused_port() serve any stub
 * (test_email.c's SMTP one too), and loopback_check_run() runs a suite with
 * libcurl ready and off the environment's proxy. Test code only: a failure
 * is a Check assertion.
 * The caller owns the struct http_stub; http_stub_join() closes its socket. */
#ifndef SLUICE_TEST_HTTP_STUB_H
#define SLUICE_TEST_HTTP_STUB_H

#include "check_main.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* check_run(suite), with libcurl set up around it and told to reach the
 * stubs, which are on loopback, never through a proxy of the environment. */
static inline int loopback_check_run(Suite *suite)
{
    setenv("no_proxy", "127.0.0.1", 1);
    setenv("NO_PROXY", "127.0.0.1", 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = check_run(suite);
    curl_global_cleanup();
    return rc;
}

/* A socket listening on 127.0.0.1 at a port the kernel chose; *port gets the
 * port. The caller closes the socket. */
static inline int loopback_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A loopback port that was free a moment ago and has no listener now. */
static inline int loopback_unused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

struct http_stub {
    int fd, port;
    pthread_t thread;
    const char *response; /* borrowed until http_stub_join() */
    char request[65536];  /* what the client sent, NUL-terminated */
    size_t request_len;
};

static inline void *http_stub_run(void *arg)
{
    struct http_stub *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    size_t want = 0;
    for (;;) {
        ssize_t n =
            recv(c, s->request + s->request_len, sizeof(s->request) - 1 - s->request_len, 0);
        if (n <= 0)
            break;
        s->request_len += (size_t)n;
        s->request[s->request_len] = '\0';
        char *end = strstr(s->request, "\r\n\r\n");
        if (end && !want) {
            const char *cl = strcasestr(s->request, "\r\ncontent-length:");
            want = (size_t)(end + 4 - s->request) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (want && s->request_len >= want && s->response)
            break;
    }
    if (s->response)
        send(c, s->response, strlen(s->response), MSG_NOSIGNAL);
    close(c);
    return NULL;
}

/* Starts s on a fresh port (s->port) to answer response, which s borrows. */
static inline void http_stub_start(struct http_stub *s, const char *response)
{
    memset(s, 0, sizeof(*s));
    s->response = response;
    s->fd = loopback_listen(&s->port);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, http_stub_run, s), 0);
}

/* Waits for the one exchange to end; s->request then holds the request. */
static inline void http_stub_join(struct http_stub *s)
{
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* The value of header name in the request (a copy in out), or NULL. */
static inline const char *http_stub_header(const struct http_stub *s, const char *name, char *out,
                                           size_t outlen)
{
    char key[64];
    snprintf(key, sizeof(key), "\r\n%s: ", name);
    const char *p = strcasestr(s->request, key);
    if (!p)
        return NULL;
    p += strlen(key);
    size_t n = strcspn(p, "\r");
    snprintf(out, outlen, "%.*s", (int)n, p);
    return out;
}

#endif
