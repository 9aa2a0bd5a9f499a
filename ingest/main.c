/* sluice-ingest: parse configuration, start database pool, producer and HTTP
 * server, wait for a signal, stop in reverse (stop accepting, answer what
 * open connections still send, let Kafka answer every waiting request, then
 * close). */
#include "http.h"
#include "config.h"
#include "ingest_start.h"
#include "keys.h"
#include "log.h"
#include "otlp.h"
#include "signals.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#define CFG(field) offsetof(struct ingest_config, field)
#define MAIN_STR_(x) #x
#define MAIN_STR(x) MAIN_STR_(x)
static const struct config_entry config_table[] = {
    {"SLUICE_LISTEN", CONFIG_ADDR, "127.0.0.1:8080", CFG(listen), 0, 0, "HTTP listen address"},
    /* On by default: the kernel lets only processes of the same user share
     * a port, and sharing it is how a restart refuses no client. */
    {"SLUICE_LISTEN_REUSEPORT", CONFIG_INT, "1", CFG(listen_reuseport), 0, 1,
     "1: share the port with another sluice-ingest of the same user (SO_REUSEPORT), so a new "
     "one starts before this one stops; 0: a second one fails to start"},
    {"SLUICE_SHUTDOWN_GRACE_MS", CONFIG_INT, "5000", CFG(shutdown_grace_ms), 0, 300000,
     "at SIGTERM, how long open connections may still send a request (answered with "
     "Connection: close) before they are closed"},
    CONFIG_COMMON_ENTRIES(struct ingest_config),
    {"SLUICE_HTTP_THREADS", CONFIG_INT, "2", CFG(http_threads), 1, 64, "HTTP worker threads"},
    {"SLUICE_MAX_CONNECTIONS_PER_IP", CONFIG_INT, "1024", CFG(max_connections_per_ip), 0, 4096,
     "open connections one client address may hold (of 4096 in all; 0: no limit; behind a "
     "proxy that pools connections, the proxy is the address)"},
    /* Default HTTP_MAX_BODY_DEFAULT (http.h): 960 KiB, so that every accepted
     * body fits in one Kafka message with its envelope. */
    {"SLUICE_MAX_BODY_BYTES", CONFIG_INT, MAIN_STR(HTTP_MAX_BODY_DEFAULT), CFG(max_body_bytes),
     1024, 1073741824,
     "largest accepted request body (413 above; a body whose Kafka message would exceed 1000000 "
     "bytes is a 413 too)"},
    {"SLUICE_ACK_TIMEOUT_MS", CONFIG_INT, "5000", CFG(ack_timeout_ms), 100, 300000,
     "how long a write waits for Kafka before 503"},
    {"SLUICE_BULK_ACK_TIMEOUT_MS", CONFIG_INT, "120000", CFG(bulk_ack_timeout_ms), 1000, 3600000,
     "how long an imported record may wait for Kafka"},
    {"SLUICE_TOPIC_PARTITIONS", CONFIG_INT, "6", CFG(topic_partitions), 1, 10000,
     "partitions of topics ingest creates"},
    {"SLUICE_TOPIC_REPLICATION", CONFIG_INT, "3", CFG(topic_replication), 1, 16,
     "replication factor of topics ingest creates"},
    {"SLUICE_TRUSTED_PROXIES", CONFIG_CIDRS, "", CFG(trusted_proxies), 0, 0,
     "proxies whose X-Forwarded-For is believed (CIDR list)"},
    {"SLUICE_PG_POOL", CONFIG_INT, "4", CFG(pg_pool_size), 1, 256,
     "PostgreSQL connections for reads"},
    {"SLUICE_DB_THREADS", CONFIG_INT, "4", CFG(db_threads), 1, 256,
     "threads running requests' database work (each borrows one SLUICE_PG_POOL connection)"},
    {"SLUICE_DB_QUEUE", CONFIG_INT, "256", CFG(db_queue), 1, 100000,
     "requests that may wait for a database thread (503 + Retry-After beyond)"},
    {"SLUICE_DB_TIMEOUT_MS", CONFIG_INT, "5000", CFG(db_timeout_ms), 100, 300000,
     "how long a request's query may take (statement_timeout; 503 beyond)"},
    {"SLUICE_ROUTING_FILE", CONFIG_STRING, SLUICE_DEFAULT_ROUTING_FILE, CFG(routing_file), 0, 0,
     "assistance routing file (its topics; SIGHUP reloads it)"},
    /* The seed's hello endpoints are public; everything else needs a key
     * or a token unless the operator says otherwise here. */
    {"SLUICE_AUTH_PUBLIC_SCOPES", CONFIG_OPTIONAL, "users:read users:write",
     CFG(auth_public_scopes), 0, 0,
     "scopes a request without credentials holds (space-separated; *: all but admin; empty: "
     "none)"},
    {"SLUICE_API_KEY_PEPPER", CONFIG_OPTIONAL, "", CFG(api_key_pepper), 0, 0,
     "secret HMAC key for the stored API key hashes (the same on every replica; empty: SHA-256)"},
    {"SLUICE_RATE_LIMIT", CONFIG_OPTIONAL, "60000/60", CFG(rate_limit), 0, 0,
     "requests per seconds each principal may send (the anonymous one per client address); "
     "0: no limit"},
    {"SLUICE_WEBHOOK_SOURCES_FILE", CONFIG_OPTIONAL, "", CFG(webhook_sources_file), 0, 0,
     "JSON file of Standard Webhooks senders and their whsec_ secrets (POST "
     "/v1/events?source=<name>)"},
    {"SLUICE_JWT_JWKS", CONFIG_OPTIONAL, "", CFG(jwt_jwks), 0, 0,
     "JWKS file or http(s) URL whose keys verify bearer JWTs (empty: no JWKS)"},
    {"SLUICE_JWT_HS256_SECRET", CONFIG_OPTIONAL, "", CFG(jwt_hs256_secret), 0, 0,
     "shared secret for HS256 bearer JWTs (empty: HS256 refused)"},
    {"SLUICE_JWT_ISSUER", CONFIG_OPTIONAL, "", CFG(jwt_issuer), 0, 0,
     "the iss every JWT must carry (empty: not checked)"},
    {"SLUICE_JWT_AUDIENCE", CONFIG_OPTIONAL, "", CFG(jwt_audience), 0, 0,
     "an aud every JWT must name (empty: not checked)"},
    {"SLUICE_JWT_ALGORITHMS", CONFIG_OPTIONAL, "", CFG(jwt_algorithms), 0, 0,
     "accepted JWS algorithms (empty: RS256 ES256, and HS256 with a secret)"},
    {"SLUICE_JWT_TENANT_CLAIM", CONFIG_STRING, "tenant", CFG(jwt_tenant_claim), 0, 0,
     "the JWT claim naming the tenant (absent: the default tenant)"},
    {"SLUICE_JWT_LEEWAY_S", CONFIG_INT, "30", CFG(jwt_leeway_s), 0, 600,
     "clock skew allowed for exp, nbf and iat"},
    /* Read once at start: a renewed certificate takes a restart, which
     * SO_REUSEPORT makes refuse no client. */
    {"SLUICE_TLS_CERT", CONFIG_OPTIONAL, "", CFG(tls_cert), 0, 0,
     "PEM certificate file (the server's first, then its chain): ingest serves HTTPS only, TLS "
     "1.2 and later (empty: plain HTTP; needs SLUICE_TLS_KEY)"},
    {"SLUICE_TLS_KEY", CONFIG_OPTIONAL, "", CFG(tls_key), 0, 0,
     "PEM private key file of SLUICE_TLS_CERT, unencrypted (empty: plain HTTP)"},
};

int main(int argc, char **argv)
{
    static struct ingest app;
    int code;
    /* The one subcommand: configured like the server, by environment. */
    bool create_key = argc > 1 && strcmp(argv[1], "create-key") == 0;
    if (config_from_args(create_key ? 1 : argc, argv,
                         "sluice-ingest: the HTTP API; writes go to Kafka.", config_table,
                         sizeof(config_table) / sizeof(config_table[0]), &app.cfg, &code) != 0)
        return code;
    if (create_key) {
        code = keys_create_command(&app.cfg, argc - 2, argv + 2);
        config_free(config_table, sizeof(config_table) / sizeof(config_table[0]), &app.cfg);
        return code;
    }
    log_set_process("sluice-ingest");
    log_set_level(app.cfg.log_level);

    /* Before any thread starts, so every thread inherits it: SIGHUP and the
     * stop signals are taken by the loop below alone, and one sent as soon
     * as /readyz answers reloads rather than ending the process. */
    signals_block();
    otlp_start("sluice-ingest");
    struct http_server *server = NULL;
    code = 1;
    if (ingest_start(&app) != 0)
        goto out;
    char err[512];
    server = http_start(&app, err, sizeof(err));
    if (!server) {
        log_error("cannot start", "detail", err);
        goto out;
    }
    log_info("listening", "addr", app.cfg.listen);

    while (signals_next() == SIGHUP)
        ingest_reload_routing(&app);

    log_info("stopping: no new connections, draining writes");
    http_quiesce(server);
    http_settle(server, app.cfg.shutdown_grace_ms);
    code = 0;
out:
    ingest_drain(&app);
    if (server)
        http_stop(server);
    ingest_stop(&app);
    otlp_stop();
    log_info("stopped");
    config_free(config_table, sizeof(config_table) / sizeof(config_table[0]), &app.cfg);
    return code;
}
