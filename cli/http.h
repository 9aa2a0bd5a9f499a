/* http: sluicectl's HTTP client, one libcurl easy handle kept for the whole
 * run so that polling reuses its connection.
 *
 * A request names a path under the API's base URL, query parameters (escaped
 * here), and a body held in memory or streamed from a callback. The answer's
 * body is kept whole (up to CLI_HTTP_BODY_MAX) with the headers sluicectl
 * reads. curl_global_init is main's job. Nothing here prints except the
 * --verbose trace, which never shows the API key or a body. */
#ifndef SLUICE_CLI_HTTP_H
#define SLUICE_CLI_HTTP_H

#include "buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_HTTP_BODY_MAX (256u * 1024 * 1024)

struct cli_http {
    void *curl;  /* CURL * */
    char *base;  /* the API's URL, no trailing '/'; borrowed */
    char *auth;  /* "Authorization: Bearer <key>", or NULL; owned */
    FILE *trace; /* --verbose: one line per request and answer; NULL for none */
};

/* A streamed body. read fills up to len bytes and returns how many (0 at the
 * end), or (size_t)-1 on an error it has noted for itself. */
struct cli_upload {
    size_t (*read)(char *data, size_t len, void *opaque);
    /* Called as bytes go out (sent, and the size or -1), often: throttle. */
    void (*progress)(void *opaque, uint64_t sent, int64_t size);
    void *opaque;
    int64_t size; /* -1: unknown, sent chunked */
};

struct cli_request {
    const char *method;         /* "GET", "POST" */
    const char *path;           /* "/v1/events"; segments escaped by the caller (cli_http_escape) */
    const char *const *query;   /* name, value, name, value, ..., NULL; a NULL value is left out */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
    const char *content_type;   /* for a body */
    const char *body;           /* in memory, or NULL */
    size_t body_len;
    struct cli_upload *upload; /* streamed, instead of body */
    long timeout_ms;           /* the whole exchange; 0 for none */
};

struct cli_response {
    long status;
    struct buf body;
    char content_type[128];
    char request_id[130];
    char retry_after[32];
    char location[512];
};

/* Takes a handle for base (borrowed: it must outlive h) and key (copied into
 * the header; NULL for none). -1 with err when libcurl cannot. */
int cli_http_init(struct cli_http *h, char *base, const char *key, char *err, size_t errlen);
void cli_http_free(struct cli_http *h);

/* Sends req and reads the answer into res (cleared first; the caller frees
 * it with cli_response_free whatever the result). Returns 0 when an answer
 * came, whatever its status, and -1 with the reason in err when none did
 * (refused, timed out, a DNS failure, an answer over CLI_HTTP_BODY_MAX). */
int cli_http_do(struct cli_http *h, const struct cli_request *req, struct cli_response *res,
                char *err, size_t errlen);
void cli_response_free(struct cli_response *res);

/* A path segment percent-escaped (heap; free it), or NULL out of memory. */
char *cli_http_escape(const char *segment);

#endif
