/* admin_http: the small HTTP server workers expose for operators:
 * GET /healthz (alive), /readyz (dependencies answer), /metrics (Prometheus).
 * The callbacks run on the server's thread; they must not block for long. */
#ifndef SLUICE_ADMIN_HTTP_H
#define SLUICE_ADMIN_HTTP_H

#include "buf.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

struct admin_http;

struct admin_http_handlers {
    /* Fills why (for the 503 body) and returns false when not ready. */
    bool (*ready)(void *opaque, char *why, size_t whylen);
    void (*metrics)(void *opaque, struct buf *out);
    void *opaque;
};

struct admin_http *admin_http_start(const char *listen_addr,
                                    const struct admin_http_handlers *handlers, char *err,
                                    size_t errlen);
void admin_http_stop(struct admin_http *admin);

/* What a worker's ready callback answers: PostgreSQL as the worker last saw
 * it (pg_ok), then whether the Kafka cluster answers through rk. */
bool admin_http_worker_ready(bool pg_ok, rd_kafka_t *rk, char *why, size_t whylen);

#endif
