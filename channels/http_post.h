/* http_post: the one HTTP POST of the slack and webhook channels, through
 * libcurl, and what its answer means for a delivery.
 *
 * Each call uses its own easy handle, so any number of threads may post at
 * once; curl_global_init is the process's job, done before the first call.
 * Nothing here logs, and no error text holds a URL (a Slack webhook URL is a
 * secret) or a request body. */
#ifndef SLUICE_HTTP_POST_H
#define SLUICE_HTTP_POST_H

#include "channel.h"

#include <stddef.h>
#include <time.h>

/* How much of a reply's body is kept, for the reason of a refusal. */
#define HTTP_BODY_KEEP 200
/* The longest wait a Retry-After may ask for; longer asks are cut to it. */
#define HTTP_RETRY_AFTER_MAX_MS (3600L * 1000)

/* What came back; owned by the caller, no heap inside. */
struct http_reply {
    long status;                   /* 0 when no answer came */
    char retry_after[64];          /* the Retry-After header's value, or "" */
    char body[HTTP_BODY_KEEP + 1]; /* the body's first bytes, NUL-terminated */
    size_t body_len;               /* bytes kept in body */
};

/* POSTs len bytes of body to url (http:// or https:// only; redirects are not
 * followed) with headers, a NULL-terminated list of "Name: value" lines
 * (borrowed), within timeout_ms. Returns 0 when an answer came, whatever its
 * status, and -1 with the reason in err when none did (connection refused,
 * TLS, "timeout after N ms"). */
int http_post(const char *url, const char *const *headers, const char *body, size_t len,
              long timeout_ms, struct http_reply *reply, char *err, size_t errlen);

/* What an answer means, the same for every receiver that speaks HTTP: 2xx
 * SEND_OK; 408, 429 and 5xx SEND_RETRY, with info->retry_after_ms from
 * Retry-After when present; anything else SEND_DROP. err gets
 * "<who> answered <status>: <the body's first bytes, printable>". Fills
 * info->status. now is the Unix time the answer came (for HTTP-dates). */
enum send_result http_classify(const char *who, const struct http_reply *reply, time_t now,
                               struct send_info *info, char *err, size_t errlen);

/* The wait a Retry-After value asks for, in milliseconds: delta seconds
 * ("120") or an HTTP-date after now. 0 for an absent, malformed, negative or
 * past value; at most HTTP_RETRY_AFTER_MAX_MS. */
long http_retry_after_ms(const char *value, time_t now);

/* Copies the first bytes of text into out (outlen > 0), every byte that is
 * not printable ASCII turned into '.', so it is safe in a one-line reason. */
void http_printable(const char *text, size_t len, char *out, size_t outlen);

#endif
