#include "http_post.h"

#include <ctype.h>
#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Keeps the body's first HTTP_BODY_KEEP bytes and reads past the rest, so a
 * chatty receiver cannot make the call fail or grow memory. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_reply *reply = userdata;
    size_t n = size * nmemb;
    size_t room = HTTP_BODY_KEEP - reply->body_len;
    size_t take = n < room ? n : room;
    memcpy(reply->body + reply->body_len, data, take);
    reply->body_len += take;
    reply->body[reply->body_len] = '\0';
    return n;
}

/* Keeps the value of Retry-After. A status line starts a new answer (after a
 * "100 Continue"), so it forgets what an earlier one said. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_reply *reply = userdata;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        reply->retry_after[0] = '\0';
    } else if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1, *end = data + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && isspace((unsigned char)end[-1]))
            end--;
        size_t len = (size_t)(end - v);
        if (len >= sizeof(reply->retry_after))
            len = sizeof(reply->retry_after) - 1;
        memcpy(reply->retry_after, v, len);
        reply->retry_after[len] = '\0';
    }
    return n;
}

int http_post(const char *url, const char *const *headers, const char *body, size_t len,
              long timeout_ms, struct http_reply *reply, char *err, size_t errlen)
{
    int rc = -1;
    char curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *list = NULL;
    memset(reply, 0, sizeof(*reply));
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(err, errlen, "cannot make a curl handle");
        goto out;
    }
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *more = curl_slist_append(list, headers[i]);
        if (!more) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        list = more;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "sluice");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    CURLcode res = curl_easy_perform(curl);
    if (res == CURLE_OPERATION_TIMEDOUT) {
        snprintf(err, errlen, "timeout after %ld ms", timeout_ms);
        goto out;
    }
    if (res != CURLE_OK) {
        /* curl's detail names the host and port at most, never the path. */
        snprintf(err, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(res));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    rc = 0;
out:
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return rc;
}

enum send_result http_classify(const char *who, const struct http_reply *reply, time_t now,
                               struct send_info *info, char *err, size_t errlen)
{
    long s = reply->status;
    info->status = s;
    if (s >= 200 && s <= 299)
        return SEND_OK;
    char body[HTTP_BODY_KEEP + 1];
    http_printable(reply->body, reply->body_len, body, sizeof(body));
    if (s == 408 || s == 429 || (s >= 500 && s <= 599)) {
        info->retry_after_ms = http_retry_after_ms(reply->retry_after, now);
        snprintf(err, errlen, "%s answered %ld: %s", who, s, body);
        return SEND_RETRY;
    }
    if (s >= 300 && s <= 399)
        snprintf(err, errlen, "%s answered %ld (redirects are not followed): %s", who, s, body);
    else
        snprintf(err, errlen, "%s answered %ld: %s", who, s, body);
    return SEND_DROP;
}

/* An HTTP-date (IMF-fixdate, RFC 850 or asctime, RFC 9110 section 5.6.7) as
 * Unix time, or -1. All three start with a day name; libcurl's date parser is
 * lenient, so anything else is refused before it sees it. */
static time_t http_date(const char *value)
{
    if (!isalpha((unsigned char)value[0]))
        return -1;
    return curl_getdate(value, NULL);
}

long http_retry_after_ms(const char *value, time_t now)
{
    if (!value)
        return 0;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value);
    while (len > 0 && isspace((unsigned char)value[len - 1]))
        len--;
    if (len == 0)
        return 0;
    long long seconds = 0;
    if (isdigit((unsigned char)value[0])) {
        for (size_t i = 0; i < len; i++) {
            if (!isdigit((unsigned char)value[i]))
                return 0;
            if (seconds < HTTP_RETRY_AFTER_MAX_MS / 1000)
                seconds = seconds * 10 + (value[i] - '0');
        }
    } else {
        char date[64];
        if (len >= sizeof(date))
            return 0;
        memcpy(date, value, len);
        date[len] = '\0';
        time_t when = http_date(date);
        if (when < 0 || when <= now)
            return 0;
        seconds = (long long)when - (long long)now;
    }
    if (seconds >= HTTP_RETRY_AFTER_MAX_MS / 1000)
        return HTTP_RETRY_AFTER_MAX_MS;
    return (long)(seconds * 1000);
}

void http_printable(const char *text, size_t len, char *out, size_t outlen)
{
    size_t n = len < outlen - 1 ? len : outlen - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '.';
    }
    out[n] = '\0';
}
