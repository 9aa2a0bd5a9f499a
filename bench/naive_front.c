/* bench-naive-front: the durable-ack front a user would write in an afternoon,
 * the peer issue 13 measures sluice-ingest against. libmicrohttpd with
 * ingest's options, the body parsed with jansson (and dropped: no validation),
 * produced as it came, keyless (so the sticky partitioner fills one batch at a
 * time), with ingest's producer settings (lib/kafka.c), the connection
 * suspended until the delivery report, then 202. No ids, no envelope, no
 * headers, no authentication (a sent Authorization header is ignored).
 *
 *   SLUICE_KAFKA_BROKERS=host:port,... bench-naive-front [ADDR:]PORT TOPIC [THREADS]
 *
 * Stops on SIGINT or SIGTERM, after the messages in flight are delivered. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BODY_MAX 1000000 /* ingest's message.max.bytes (KAFKA_MESSAGE_MAX_BYTES) */

/* Set by the signal handler, read by main. */
static volatile sig_atomic_t running = 1;

struct req {
    struct MHD_Connection *conn;
    char *body;
    size_t len, cap;
    int produced;       /* read on the HTTP thread only */
    _Atomic int status; /* 0 until the delivery report (or a refusal) */
    long long offset;   /* written before status, read after it */
};

struct front {
    rd_kafka_t *rk;
    const char *topic;
    atomic_bool stop;
};

static void on_signal(int sig)
{
    (void)sig;
    running = 0;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *json)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)url, (void)method, (void)version;
    struct front *f = cls;
    struct req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof(*r))))
            return MHD_NO;
        r->conn = conn;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->len + n > BODY_MAX)
            return MHD_NO; /* a benchmark never sends that much */
        if (r->len + n > r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 1024;
            while (cap < r->len + n)
                cap *= 2;
            char *b = realloc(r->body, cap);
            if (!b)
                return MHD_NO;
            r->body = b, r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->produced) { /* resumed by the delivery report */
        int status = atomic_load(&r->status);
        if (status != MHD_HTTP_ACCEPTED)
            return answer(conn, (unsigned)status, "{\"error\":\"not acknowledged\"}");
        char json[64];
        snprintf(json, sizeof(json), "{\"status\":\"accepted\",\"offset\":%lld}", r->offset);
        return answer(conn, MHD_HTTP_ACCEPTED, json);
    }
    json_t *doc = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
    if (!doc)
        return answer(conn, MHD_HTTP_BAD_REQUEST, "{\"error\":\"invalid JSON\"}");
    json_decref(doc);
    r->produced = 1;
    /* Suspend first: the delivery report may come before producev returns. */
    MHD_suspend_connection(conn);
    if (rd_kafka_producev(f->rk, RD_KAFKA_V_TOPIC(f->topic), RD_KAFKA_V_VALUE(r->body, r->len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(r),
                          RD_KAFKA_V_END)) {
        atomic_store(&r->status, MHD_HTTP_SERVICE_UNAVAILABLE);
        MHD_resume_connection(conn);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct req *r = *con_cls;
    if (r)
        free(r->body);
    free(r);
    *con_cls = NULL;
}

/* On the poll thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk, (void)opaque;
    struct req *r = msg->_private;
    r->offset = (long long)msg->offset;
    atomic_store(&r->status, msg->err ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_ACCEPTED);
    MHD_resume_connection(r->conn);
}

static void *poll_run(void *arg)
{
    struct front *f = arg;
    while (!atomic_load(&f->stop))
        rd_kafka_poll(f->rk, 100);
    return NULL;
}

/* "ADDR:PORT" or "PORT" into sa; 0 on success. */
static int parse_listen(const char *arg, struct sockaddr_in *sa)
{
    char host[64] = "127.0.0.1";
    const char *port = arg, *colon = strrchr(arg, ':');
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
    const char *brokers = getenv("SLUICE_KAFKA_BROKERS");
    long threads = argc > 3 ? strtol(argv[3], NULL, 10) : 2;
    if (argc < 3 || argc > 4 || parse_listen(argv[1], &sa) != 0 || !brokers || threads < 1 ||
        threads > 256) {
        fprintf(stderr, "usage: SLUICE_KAFKA_BROKERS=... %s [ADDR:]PORT TOPIC [THREADS]\n",
                argv[0]);
        return 2;
    }
    /* ingest's producer (lib/kafka.c kafka_producer_new, SLUICE_ACK_TIMEOUT_MS 5000). */
    const char *pairs[] = {"bootstrap.servers",
                           brokers,
                           "acks",
                           "all",
                           "enable.idempotence",
                           "true",
                           "linger.ms",
                           "1",
                           "message.timeout.ms",
                           "5000",
                           "reconnect.backoff.ms",
                           "100",
                           "reconnect.backoff.max.ms",
                           "500",
                           "queue.buffering.max.messages",
                           "200000",
                           "compression.type",
                           "none",
                           "socket.nagle.disable",
                           "true",
                           "log.connection.close",
                           "false",
                           "message.max.bytes",
                           "1000000",
                           NULL};
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; pairs[i]; i += 2) {
        if (rd_kafka_conf_set(conf, pairs[i], pairs[i + 1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "%s: %s\n", argv[0], err);
            rd_kafka_conf_destroy(conf);
            return 1;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    struct front f = {.topic = argv[2]};
    if (!(f.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)))) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    pthread_t poller;
    if (pthread_create(&poller, NULL, poll_run, &f) != 0) {
        rd_kafka_destroy(f.rk);
        return 1;
    }
    struct sigaction act = {.sa_handler = on_signal};
    sigemptyset(&act.sa_mask);
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* ingest's options (ingest/http.c). */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_access, &f, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    int rc = 0;
    if (d) {
        fprintf(stderr, "bench-naive-front: listening on %s, producing to %s\n", argv[1], argv[2]);
        while (running)
            pause();
        /* Every suspended connection is resumed by its report before the stop. */
        rd_kafka_flush(f.rk, 10000);
        MHD_stop_daemon(d);
    } else {
        fprintf(stderr, "%s: cannot listen on %s\n", argv[0], argv[1]);
        rc = 1;
    }
    atomic_store(&f.stop, true);
    pthread_join(poller, NULL);
    rd_kafka_destroy(f.rk);
    return rc;
}
