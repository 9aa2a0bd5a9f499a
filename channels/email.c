/* email: one message per request, through SMTP or SMTPS with libcurl.
 *
 * The message is RFC 5322 with CRLF line endings. Nothing a client wrote goes
 * into a header: the description travels only in the body, which is base64
 * (RFC 2045), so no "\r\n.\r\n" ends the DATA early and no "\r\nBcc:" becomes
 * a header. The topic, which is in the Subject, has its control characters
 * blanked and is RFC 2047 encoded when it is not plain ASCII. Addresses come
 * from the routing file and are checked at init: one '@', printable ASCII, no
 * spaces, no <>,;"()[]\ (so configuration cannot inject headers either). */
#include "channel.h"
#include "log.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_SUBJECT_PREFIX "[Sluice]"
#define PREFIX_MAX 200
#define ADDRESS_MAX 254 /* RFC 5321's path limit, less the brackets */
#define RECIPIENTS_MAX 100
/* Base64 body lines of 76 characters: 57 bytes each. */
#define BODY_LINE_BYTES 57
/* Bytes of subject per encoded-word: 52 base64 characters, so a folded line
 * of "=?UTF-8?B?...?=" stays under 78. */
#define WORD_BYTES 39
#define PLAIN_SUBJECT_MAX 900

struct email {
    char *url;
    int smtps; /* TLS from the start, rather than STARTTLS when offered */
    char *from;
    char **to;
    size_t nto;
    char *username; /* NULL when the server needs no login */
    char *password;
    char *subject_prefix;
};

static void email_free(struct email *e)
{
    if (!e)
        return;
    free(e->url);
    free(e->from);
    for (size_t i = 0; i < e->nto; i++)
        free(e->to[i]);
    free(e->to);
    free(e->username);
    free(e->password);
    free(e->subject_prefix);
    free(e);
}

static void email_destroy(struct channel *ch)
{
    email_free(ch->state);
    ch->state = NULL;
}

/* True for len bytes that are one bare address (addr-spec): printable ASCII,
 * no spaces or specials, exactly one '@' with text on both sides. */
static int address_ok(const char *a, size_t len)
{
    size_t at = 0, ats = 0;
    if (len == 0 || len > ADDRESS_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= 0x20 || c >= 0x7f || strchr("<>,;\"()[]\\", c))
            return 0;
        if (c == '@') {
            at = i;
            ats++;
        }
    }
    return ats == 1 && at > 0 && at < len - 1;
}

/* Adds a copy of len bytes of address to e->to. */
static int add_recipient(struct email *e, const char *a, size_t len, char *err, size_t errlen,
                         const char *where)
{
    if (!address_ok(a, len)) {
        snprintf(err, errlen,
                 "%s: not an e-mail address (one @, ASCII, no spaces, control characters or "
                 "<>,;\"()[]\\)",
                 where);
        return -1;
    }
    if (e->nto == RECIPIENTS_MAX) {
        snprintf(err, errlen, "to: at most %d recipients", RECIPIENTS_MAX);
        return -1;
    }
    char **to = realloc(e->to, (e->nto + 1) * sizeof(*to));
    if (!to) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->to = to;
    if (!(e->to[e->nto] = strndup(a, len))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->nto++;
    return 0;
}

/* A string setting's value (borrowed), NULL when absent; -1 in *bad when it
 * is there but not a string without NUL bytes. */
static const char *string_setting(const json_t *conf, const char *key, int *bad)
{
    const json_t *v = json_object_get(conf, key);
    if (!v || json_is_null(v))
        return NULL;
    const char *s = json_string_value(v);
    if (!s || strlen(s) != json_string_length(v)) {
        *bad = 1;
        return NULL;
    }
    return s;
}

/* "to": one string of addresses separated by commas, or an array of strings. */
static int read_recipients(struct email *e, const json_t *to, char *err, size_t errlen)
{
    char where[32];
    size_t n = json_is_array(to) ? json_array_size(to) : 1;
    for (size_t k = 0; k < n; k++) {
        const json_t *item = json_is_array(to) ? json_array_get(to, k) : to;
        const char *s = json_string_value(item);
        if (json_is_array(to))
            snprintf(where, sizeof(where), "to/%zu", k);
        else
            snprintf(where, sizeof(where), "to");
        if (!s || strlen(s) != json_string_length(item)) {
            snprintf(err, errlen, "%s: an address, or an array of addresses", where);
            return -1;
        }
        for (const char *p = s;;) {
            const char *comma = strchr(p, ',');
            const char *end = comma ? comma : p + strlen(p);
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            const char *last = end;
            while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
                last--;
            if (add_recipient(e, p, (size_t)(last - p), err, errlen, where) != 0)
                return -1;
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    if (e->nto == 0) {
        snprintf(err, errlen, "to: needs one or more addresses");
        return -1;
    }
    return 0;
}

static int email_init(struct channel *ch, const json_t *conf, char *err, size_t errlen)
{
    int bad = 0;
    const char *url = string_setting(conf, "url", &bad);
    const char *from = string_setting(conf, "from", &bad);
    const char *username = string_setting(conf, "username", &bad);
    const char *password = string_setting(conf, "password", &bad);
    const char *prefix = string_setting(conf, "subject_prefix", &bad);
    struct email *e = NULL;
    if (bad) {
        snprintf(err, errlen, "url, from, username, password and subject_prefix are strings");
        goto fail;
    }
    int smtps = url && strncasecmp(url, "smtps://", 8) == 0;
    if (!url || (!smtps && strncasecmp(url, "smtp://", 7) != 0) || !url[smtps ? 8 : 7]) {
        snprintf(err, errlen, "url: needs an smtp:// or smtps:// URL");
        goto fail;
    }
    for (const char *p = url; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            snprintf(err, errlen, "url: no spaces or control characters in a URL");
            goto fail;
        }
    }
    if (!from || !address_ok(from, strlen(from))) {
        snprintf(err, errlen,
                 "from: not an e-mail address (one @, ASCII, no spaces, control characters or "
                 "<>,;\"()[]\\)");
        goto fail;
    }
    if (!prefix)
        prefix = DEFAULT_SUBJECT_PREFIX;
    if (strlen(prefix) > PREFIX_MAX) {
        snprintf(err, errlen, "subject_prefix: at most %d bytes", PREFIX_MAX);
        goto fail;
    }
    for (const char *p = prefix; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            snprintf(err, errlen, "subject_prefix: no control characters");
            goto fail;
        }
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->url = strdup(url)) || !(e->from = strdup(from)) ||
        !(e->subject_prefix = strdup(prefix)) || (username && !(e->username = strdup(username))) ||
        (password && !(e->password = strdup(password)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    e->smtps = smtps;
    if (read_recipients(e, json_object_get(conf, "to"), err, errlen) != 0)
        goto fail;
    if (username && !smtps)
        log_warn("the login is sent in the clear if the SMTP server offers no STARTTLS", "channel",
                 ch->name, "hint", "use an smtps:// URL");
    ch->state = e;
    return 0;
fail:
    email_free(e);
    return -1;
}

/* Appends len bytes as base64, in lines of 76 characters when lines is set
 * (each ending in CRLF), or as one run. */
static int base64(struct buf *out, const unsigned char *data, size_t len, int lines)
{
    unsigned char line[4 * BODY_LINE_BYTES / 3 + 1];
    for (size_t i = 0; i < len; i += BODY_LINE_BYTES) {
        size_t n = len - i < BODY_LINE_BYTES ? len - i : BODY_LINE_BYTES;
        int w = EVP_EncodeBlock(line, data + i, (int)n);
        if (buf_append(out, line, (size_t)w) != 0 || (lines && buf_puts(out, "\r\n") != 0))
            return -1;
    }
    return 0;
}

/* Appends text with every line break (CRLF, LF or a lone CR) as CRLF, the
 * canonical form of text/plain (RFC 2045 section 6.8). */
static int canonical(struct buf *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        int rc;
        if (*p == '\r' || *p == '\n') {
            if (*p == '\r' && p[1] == '\n')
                p++;
            rc = buf_puts(out, "\r\n");
        } else {
            rc = buf_append(out, p, 1);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* "Date: Tue, 05 Mar 2024 10:00:00 +0000" for now (RFC 5322 section 3.3),
 * without the locale. */
static int date_header(struct buf *out)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm))
        return -1;
    return buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
                      tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                      tm.tm_sec);
}

/* "To: a@x, b@x", folded before an address that would pass 78 columns. */
static int to_header(struct buf *out, const struct email *e)
{
    size_t col = 4;
    if (buf_puts(out, "To: ") != 0)
        return -1;
    for (size_t i = 0; i < e->nto; i++) {
        size_t n = strlen(e->to[i]);
        if (i > 0) {
            int fold = col + 2 + n > 78;
            if (buf_puts(out, fold ? ",\r\n " : ", ") != 0)
                return -1;
            col = fold ? 1 : col + 2;
        }
        if (buf_puts(out, e->to[i]) != 0)
            return -1;
        col += n;
    }
    return buf_puts(out, "\r\n");
}

/* The Subject header: "<prefix> Assistance request: <topic>", control
 * characters blanked; RFC 2047 encoded-words, folded, when it is not plain
 * ASCII, is very long, or holds "=?" (which a reader would try to decode). */
static int subject_header(struct buf *out, const struct email *e, const char *topic)
{
    struct buf text = {0};
    int rc = -1, plain = 1;
    if (buf_printf(&text, "%s%sAssistance request: %s", e->subject_prefix,
                   e->subject_prefix[0] ? " " : "", topic) != 0)
        goto out;
    for (size_t i = 0; i < text.len; i++) {
        unsigned char c = (unsigned char)text.data[i];
        if (c < 0x20 || c == 0x7f)
            text.data[i] = ' ';
        else if (c >= 0x80)
            plain = 0;
    }
    if (text.len > PLAIN_SUBJECT_MAX || strstr(text.data, "=?"))
        plain = 0;
    if (plain) {
        rc = buf_printf(out, "Subject: %s\r\n", text.data);
        goto out;
    }
    if (buf_puts(out, "Subject:") != 0)
        goto out;
    for (size_t i = 0; i < text.len;) {
        /* An encoded-word holds whole characters (RFC 2047 section 5). */
        size_t n = text.len - i < WORD_BYTES ? text.len - i : WORD_BYTES;
        while (n > 0 && i + n < text.len && ((unsigned char)text.data[i + n] & 0xc0) == 0x80)
            n--;
        if (n == 0)
            n = text.len - i < WORD_BYTES ? text.len - i : WORD_BYTES;
        if (buf_puts(out, i ? "\r\n =?UTF-8?B?" : " =?UTF-8?B?") != 0 ||
            base64(out, (const unsigned char *)text.data + i, n, 0) != 0 ||
            buf_puts(out, "?=") != 0)
            goto out;
        i += n;
    }
    rc = buf_puts(out, "\r\n");
out:
    buf_free(&text);
    return rc ? -1 : 0;
}

/* "Message-ID: <id@sluice>", any character the id-left of RFC 5322 forbids
 * turned into '_'. */
static int message_id_header(struct buf *out, const char *id)
{
    if (buf_puts(out, "Message-ID: <") != 0)
        return -1;
    for (const char *p = id && *id ? id : "unknown"; *p; p++) {
        unsigned char c = (unsigned char)*p;
        int atext = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c && strchr("!#$%&'*+-/=?^_`{|}~.", c));
        char ch = atext ? (char)c : '_';
        if (buf_append(out, &ch, 1) != 0)
            return -1;
    }
    return buf_puts(out, "@sluice>\r\n");
}

/* The body, in UTF-8 with CRLF line breaks, before base64. */
static int body_text(struct buf *out, const struct assistance *req)
{
    if (buf_puts(out, "Assistance was requested on the topic \"") != 0 ||
        canonical(out, req->topic) != 0 || buf_puts(out, "\":\r\n\r\n") != 0 ||
        canonical(out, req->description) != 0 || buf_puts(out, "\r\n\r\nRequest:      ") != 0 ||
        buf_puts(out, req->id) != 0)
        return -1;
    if (req->request_id &&
        (buf_puts(out, "\r\nX-Request-ID: ") != 0 || canonical(out, req->request_id) != 0))
        return -1;
    if (req->link && (buf_puts(out, "\r\nLink:         ") != 0 || canonical(out, req->link) != 0))
        return -1;
    return buf_printf(out, "\r\nReceived at:  %s\r\n", req->received_at);
}

static int email_format(const struct channel *ch, const struct assistance *req, struct buf *out)
{
    const struct email *e = ch->state;
    struct buf text = {0};
    int rc = -1;
    if (date_header(out) != 0 || buf_printf(out, "From: %s\r\n", e->from) != 0 ||
        to_header(out, e) != 0 || subject_header(out, e, req->topic) != 0 ||
        message_id_header(out, req->delivery_id ? req->delivery_id : req->id) != 0 ||
        buf_puts(out, "MIME-Version: 1.0\r\n"
                      "Content-Type: text/plain; charset=UTF-8\r\n"
                      "Content-Transfer-Encoding: base64\r\n"
                      "\r\n") != 0)
        goto out;
    if (body_text(&text, req) != 0 ||
        base64(out, (const unsigned char *)text.data, text.len, 1) != 0)
        goto out;
    rc = 0;
out:
    buf_free(&text);
    return rc;
}

struct upload {
    const char *data;
    size_t len, pos;
};

static size_t on_read(char *dst, size_t size, size_t nmemb, void *userdata)
{
    struct upload *up = userdata;
    size_t n = size * nmemb, left = up->len - up->pos;
    if (n > left)
        n = left;
    memcpy(dst, up->data + up->pos, n);
    up->pos += n;
    return n;
}

/* A copy of "<address>" appended to list; NULL (and list freed) when out of
 * memory. */
static struct curl_slist *append_path(struct curl_slist *list, const char *address)
{
    char path[ADDRESS_MAX + 3];
    snprintf(path, sizeof(path), "<%s>", address);
    struct curl_slist *more = curl_slist_append(list, path);
    if (!more)
        curl_slist_free_all(list);
    return more;
}

static enum send_result email_send(const struct channel *ch, const struct assistance *req,
                                   const struct buf *msg, struct send_info *info, char *err,
                                   size_t errlen)
{
    const struct email *e = ch->state;
    enum send_result result = SEND_RETRY;
    char curl_err[CURL_ERROR_SIZE] = "", from[ADDRESS_MAX + 3];
    struct curl_slist *rcpt = NULL;
    struct upload up = {msg->data ? msg->data : "", msg->len, 0};
    info->status = 0;
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(err, errlen, "cannot make a curl handle");
        goto out;
    }
    for (size_t i = 0; i < e->nto; i++) {
        if (!(rcpt = append_path(rcpt, e->to[i]))) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    snprintf(from, sizeof(from), "<%s>", e->from);
    curl_easy_setopt(curl, CURLOPT_URL, e->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)(e->smtps ? CURLUSESSL_ALL : CURLUSESSL_TRY));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, ch->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, ch->timeout_ms);
    if (e->username)
        curl_easy_setopt(curl, CURLOPT_USERNAME, e->username);
    if (e->password)
        curl_easy_setopt(curl, CURLOPT_PASSWORD, e->password);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &up);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg->len);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    CURLcode res = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    info->status = code;
    const char *detail = curl_err[0] ? curl_err : curl_easy_strerror(res);
    if (res == CURLE_OK) {
        result = SEND_OK;
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        snprintf(err, errlen, "timeout after %ld ms", ch->timeout_ms);
    } else if (res == CURLE_LOGIN_DENIED) {
        snprintf(err, errlen, "the SMTP server refused the login (%ld): %s", code, detail);
        /* 454 is a temporary authentication failure: worth another try. */
        result = code >= 400 && code <= 499 ? SEND_RETRY : SEND_DROP;
    } else if (code >= 500 && code <= 599) {
        snprintf(err, errlen, "the SMTP server answered %ld: %s", code, detail);
        result = SEND_DROP;
    } else if (code >= 400 && code <= 499) {
        snprintf(err, errlen, "the SMTP server answered %ld: %s", code, detail);
    } else {
        snprintf(err, errlen, "%s", detail);
    }
out:
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    return result;
}

const struct channel_type channel_email = {
    .name = "email",
    .settings = channel_settings_email,
    .init = email_init,
    .format = email_format,
    .send = email_send,
    .destroy = email_destroy,
};
