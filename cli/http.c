#include "http.h"

#include "cli.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONNECT_TIMEOUT_MS 10000L
/* An upload may legitimately go quiet while ingest waits for Kafka to
 * acknowledge the last records (up to SLUICE_BULK_ACK_TIMEOUT_MS, 120 s);
 * a connection silent for far longer than that is dead. */
#define STALL_SECONDS 600L

struct exchange {
    struct cli_response *res;
    struct cli_upload *upload;
    bool too_large;
    bool read_failed;
};

char *cli_http_escape(const char *segment)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(segment);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)segment; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct exchange *x = opaque;
    size_t n = size * nmemb;
    if (x->res->body.len + n > CLI_HTTP_BODY_MAX) {
        x->too_large = true;
        return 0;
    }
    return buf_append(&x->res->body, data, n) == 0 ? n : 0;
}

static void keep(char *dst, size_t dstlen, const char *v, const char *end)
{
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    size_t len = (size_t)(end - v);
    if (len >= dstlen)
        len = dstlen - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/* Keeps the headers sluicectl reads. A status line starts a new answer
 * (after a "100 Continue"), so it forgets what an earlier one said. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct exchange *x = opaque;
    struct cli_response *r = x->res;
    size_t n = size * nmemb;
    static const struct {
        const char *name;
        size_t offset, len;
    } wanted[] = {
        {"content-type:", offsetof(struct cli_response, content_type), sizeof(r->content_type)},
        {"x-request-id:", offsetof(struct cli_response, request_id), sizeof(r->request_id)},
        {"retry-after:", offsetof(struct cli_response, retry_after), sizeof(r->retry_after)},
        {"location:", offsetof(struct cli_response, location), sizeof(r->location)},
    };
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
            ((char *)r + wanted[i].offset)[0] = '\0';
        return n;
    }
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        size_t len = strlen(wanted[i].name);
        if (n > len && strncasecmp(data, wanted[i].name, len) == 0)
            keep((char *)r + wanted[i].offset, wanted[i].len, data + len, data + n);
    }
    return n;
}

static size_t on_read(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct exchange *x = opaque;
    size_t n = x->upload->read(data, size * nmemb, x->upload->opaque);
    if (n == (size_t)-1) {
        x->read_failed = true;
        return CURL_READFUNC_ABORT;
    }
    return n;
}

static int on_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct exchange *x = opaque;
    if (x->upload && x->upload->progress)
        x->upload->progress(x->upload->opaque, (uint64_t)ulnow, x->upload->size);
    return 0;
}

int cli_http_init(struct cli_http *h, char *base, const char *key, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    h->base = base;
    h->curl = curl_easy_init();
    if (!h->curl) {
        snprintf(err, errlen, "cannot make a libcurl handle");
        return -1;
    }
    if (key) {
        struct buf b = {0};
        if (buf_printf(&b, "Authorization: Bearer %s", key) != 0) {
            buf_free(&b);
            cli_http_free(h);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        h->auth = buf_steal(&b);
    }
    return 0;
}

void cli_http_free(struct cli_http *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    if (h->auth) {
        /* The key should not linger in freed memory. */
        memset(h->auth, 0, strlen(h->auth));
        free(h->auth);
    }
    h->curl = NULL;
    h->auth = NULL;
}

void cli_response_free(struct cli_response *res)
{
    buf_free(&res->body);
}

static int build_url(struct buf *url, const char *base, const struct cli_request *req)
{
    if (buf_puts(url, base) != 0 || buf_puts(url, req->path) != 0)
        return -1;
    char sep = '?';
    for (size_t i = 0; req->query && req->query[i]; i += 2) {
        if (!req->query[i + 1])
            continue;
        char *name = cli_http_escape(req->query[i]), *value = cli_http_escape(req->query[i + 1]);
        int rc = name && value ? buf_printf(url, "%c%s=%s", sep, name, value) : -1;
        free(name);
        free(value);
        if (rc != 0)
            return -1;
        sep = '&';
    }
    return 0;
}

int cli_http_do(struct cli_http *h, const struct cli_request *req, struct cli_response *res,
                char *err, size_t errlen)
{
    CURL *c = h->curl;
    int rc = -1;
    struct buf url = {0}, ctype = {0};
    struct curl_slist *headers = NULL, *more;
    char curl_err[CURL_ERROR_SIZE] = "";
    struct exchange x = {.res = res, .upload = req->upload};
    memset(res, 0, sizeof(*res));
    curl_easy_reset(c); /* keeps the connection for the next request */
    if (build_url(&url, h->base, req) != 0)
        goto oom;
#define ADD_HEADER(line)                                                                           \
    do {                                                                                           \
        if (!(more = curl_slist_append(headers, (line))))                                          \
            goto oom;                                                                              \
        headers = more;                                                                            \
    } while (0)
    ADD_HEADER("Accept: application/json, application/problem+json");
    if (h->auth)
        ADD_HEADER(h->auth);
    if (req->content_type) {
        if (buf_printf(&ctype, "Content-Type: %s", req->content_type) != 0)
            goto oom;
        ADD_HEADER(ctype.data);
    }
    if (req->upload && req->upload->size < 0)
        ADD_HEADER("Transfer-Encoding: chunked");
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        ADD_HEADER(req->headers[i]);
#undef ADD_HEADER

    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sluicectl/" CLI_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    if (strcmp(req->method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POST, 1L);
    else if (strcmp(req->method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->upload) {
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &x);
        if (req->upload->size >= 0)
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->upload->size);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
    } else if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(req->method, "POST") == 0) {
        /* An empty body, not libcurl's default of reading standard input. */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }

    if (h->trace)
        fprintf(h->trace, "> %s %s\n", req->method, url.data);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (x.too_large)
            snprintf(err, errlen, "the answer from %s is larger than %u MiB", h->base,
                     CLI_HTTP_BODY_MAX >> 20);
        else if (x.read_failed)
            snprintf(err, errlen, "the upload stopped: its input could not be read");
        else
            snprintf(err, errlen, "no answer from %s: %s", h->base,
                     curl_err[0] ? curl_err : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
    if (!res->body.data && buf_append(&res->body, "", 0) != 0)
        goto oom;
    if (h->trace) {
        double seconds = 0;
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &seconds);
        fprintf(h->trace, "< %ld in %.3f s, %zu bytes%s%s\n", res->status, seconds, res->body.len,
                res->request_id[0] ? ", X-Request-ID " : "", res->request_id);
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    /* The handle must not keep pointers to what is freed here. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    buf_free(&ctype);
    buf_free(&url);
    return rc;
}
