#include "admin_http.h"

#include "config.h"
#include "kafka.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct admin_http {
    struct MHD_Daemon *daemon;
    struct admin_http_handlers handlers;
};

static enum MHD_Result admin_reply(struct MHD_Connection *conn, unsigned status, const char *type,
                                   struct buf *body)
{
    size_t len = body->len;
    char *data = buf_steal(body);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result admin_access(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    struct admin_http *admin = cls;
    struct buf body = {0};
    if (strcmp(method, "GET") != 0) {
        buf_puts(&body, "{\"status\":405,\"title\":\"Method Not Allowed\"}");
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_COPY);
        buf_free(&body);
        MHD_add_response_header(resp, "Allow", "GET");
        MHD_add_response_header(resp, "Content-Type", "application/problem+json");
        enum MHD_Result ret = MHD_queue_response(conn, 405, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    if (strcmp(url, "/healthz") == 0) {
        buf_puts(&body, "{\"status\":\"ok\"}");
        return admin_reply(conn, 200, "application/json", &body);
    }
    if (strcmp(url, "/readyz") == 0) {
        char why[256] = "";
        bool ready = admin->handlers.ready(admin->handlers.opaque, why, sizeof(why));
        if (ready) {
            buf_puts(&body, "{\"status\":\"ready\"}");
            return admin_reply(conn, 200, "application/json", &body);
        }
        buf_printf(&body, "{\"status\":\"unavailable\",\"detail\":\"%s\"}", why);
        return admin_reply(conn, 503, "application/json", &body);
    }
    if (strcmp(url, "/metrics") == 0) {
        admin->handlers.metrics(admin->handlers.opaque, &body);
        return admin_reply(conn, 200, "text/plain; version=0.0.4", &body);
    }
    buf_puts(&body, "{\"status\":404,\"title\":\"Not Found\"}");
    return admin_reply(conn, 404, "application/problem+json", &body);
}

struct admin_http *admin_http_start(const char *listen_addr,
                                    const struct admin_http_handlers *handlers, char *err,
                                    size_t errlen)
{
    char host[256];
    int port;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (config_split_addr(listen_addr, host, sizeof(host), &port) != 0 ||
        inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "admin listen address %s is not IPv4 host:port", listen_addr);
        return NULL;
    }
    sa.sin_port = htons((uint16_t)port);
    struct admin_http *admin = calloc(1, sizeof(*admin));
    if (!admin) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    admin->handlers = *handlers;
    admin->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
                                     admin_access, admin, MHD_OPTION_SOCK_ADDR, &sa,
                                     MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!admin->daemon) {
        snprintf(err, errlen, "cannot listen on %s (in use?)", listen_addr);
        free(admin);
        return NULL;
    }
    return admin;
}

void admin_http_stop(struct admin_http *admin)
{
    if (!admin)
        return;
    MHD_stop_daemon(admin->daemon);
    free(admin);
}

bool admin_http_worker_ready(bool pg_ok, rd_kafka_t *rk, char *why, size_t whylen)
{
    if (!pg_ok) {
        snprintf(why, whylen, "PostgreSQL unreachable");
        return false;
    }
    if (!kafka_cluster_reachable(rk, 1000)) {
        snprintf(why, whylen, "Kafka unreachable");
        return false;
    }
    return true;
}
