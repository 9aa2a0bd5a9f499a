/* bench-bare-mhd: the ceiling for sluice-ingest. The same libmicrohttpd set-up
 * as ingest (epoll, a pool of worker threads, the same connection options),
 * reading the whole POST body and answering 202 with a small JSON carrying a
 * fresh id, with no Kafka, no parsing and no validation.
 *
 *   bench-bare-mhd [ADDR:]PORT [THREADS]    ADDR defaults to 127.0.0.1, THREADS to 2
 *
 * Stops on SIGINT or SIGTERM. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Set by the signal handler, read by main. */
static volatile sig_atomic_t running = 1;

/* Makes each response's id distinct, as a real server's would be. */
static atomic_uint_fast64_t next_id;

static void on_signal(int sig)
{
    (void)sig;
    running = 0;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload_data;
    if (!*con_cls) {
        *con_cls = conn; /* any non-NULL marker: the headers are in */
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* consumed: the body is read and dropped */
        return MHD_YES;
    }
    char body[96];
    uint64_t n = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    int len = snprintf(body, sizeof body,
                       "{\"id\":\"00000000-0000-7000-8000-%012llx\",\"status\":\"accepted\"}",
                       (unsigned long long)(n & 0xffffffffffffULL));
    struct MHD_Response *resp =
        MHD_create_response_from_buffer((size_t)len, body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_ACCEPTED, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* "ADDR:PORT" or "PORT" into sa; 0 on success. */
static int parse_listen(const char *arg, struct sockaddr_in *sa)
{
    char host[64] = "127.0.0.1";
    const char *port = arg;
    const char *colon = strrchr(arg, ':');
    if (colon) {
        size_t hlen = (size_t)(colon - arg);
        if (hlen == 0 || hlen >= sizeof host)
            return -1;
        memcpy(host, arg, hlen);
        host[hlen] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || p < 0 || p > 65535)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)p);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    if (argc < 2 || argc > 3 || parse_listen(argv[1], &sa) != 0) {
        fprintf(stderr, "usage: %s [ADDR:]PORT [THREADS]   (IPv4 ADDR, default 127.0.0.1)\n",
                argv[0]);
        return 2;
    }
    long threads = 2;
    if (argc > 2) {
        char *end;
        threads = strtol(argv[2], &end, 10);
        if (*argv[2] == '\0' || *end != '\0' || threads < 1 || threads > 256) {
            fprintf(stderr, "%s: THREADS must be 1..256, not '%s'\n", argv[0], argv[2]);
            return 2;
        }
    }
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_signal;
    sigemptyset(&act.sa_mask);
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The options sluice-ingest uses (ingest/http.c), minus suspend/resume. */
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                         on_access, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE,
                         (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                         MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         (size_t)16384, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "%s: cannot listen on %s\n", argv[0], argv[1]);
        return 1;
    }
    fprintf(stderr, "bench-bare-mhd: listening on %s with %ld threads\n", argv[1], threads);
    while (running)
        pause();
    MHD_stop_daemon(d);
    return 0;
}
