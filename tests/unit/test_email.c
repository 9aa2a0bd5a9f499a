/* Unit tests for channels/email.c: settings refused (no header injection
 * through configuration either), the message parsed back as a reader would
 * (headers end at the first blank line, no header holds the description, the
 * base64 body decodes to it intact), encoded subjects, and sends to a
 * scripted SMTP server on a loopback port (accepted, 4xx, 5xx, refused login,
 * no answer). */
#include "channel.h"
#include "channel_fixtures.h"
#include "check_main.h"
#include "http_stub.h"

#include <check.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SETTINGS                                                                                   \
    "{\"type\": \"email\", \"url\": \"smtp://127.0.0.1:2525\", \"from\": \"notify@sluice.test\","  \
    " \"to\": [\"sales@corp.test\", \"boss@corp.test\"]}"

static const struct assistance plain = SAMPLE_ASSISTANCE("dlv-0190b1c4-pricing");

/* No word of 4 letters or more here may appear in a header by chance. */
static const char *const hostile[] = {
    "line one\r\nline two\nline three\rfour",
    "end of data\r\n.\r\nMAIL FROM:<evil@elsewhere.invalid>\r\nRCPT TO:<victim@elsewhere.invalid>",
    "hello\r\nBcc: victim@elsewhere.invalid\r\n\r\nforged body",
    "\r\n.\r\n",
    ".\r\n..\r\nQUIT\r\n",
    "Reply-To: forged@elsewhere.invalid\r\nX-Evil: html",
    "<!channel> quotes \" and 'single' and \\ backslashes \\\"",
    "Grüße 🎉 日本語 ñ",
    "=?UTF-8?B?Zm9yZ2Vk?= encoded word",
    "tab\there \x01\x02\x1b[31m control \x7f",
};

static struct channel *make_ok(const char *settings)
{
    return channel_from_json_ok("mail", settings);
}

START_TEST(test_refused_settings)
{
    static const struct {
        const char *settings, *want;
    } cases[] = {
        {"{\"type\": \"email\", \"from\": \"a@b.test\", \"to\": \"c@d.test\"}",
         "mail: url: needs an smtp:// or smtps:// URL"},
        {"{\"type\": \"email\", \"url\": \"http://mx\", \"from\": \"a@b.test\", \"to\": \"c@d\"}",
         "mail: url: needs an smtp:// or smtps:// URL"},
        {"{\"type\": \"email\", \"url\": \"smtp://\", \"from\": \"a@b.test\", \"to\": \"c@d\"}",
         "mail: url: needs an smtp:// or smtps:// URL"},
        {"{\"type\": \"email\", \"url\": \"mx:25\", \"from\": \"a@b.test\", \"to\": \"c@d\"}",
         "mail: url:"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\\r\\nX\", \"from\": \"a@b\", \"to\": \"c@d\"}",
         "mail: url:"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"to\": \"c@d.test\"}",
         "mail: from: not an e-mail address"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"nobody\", \"to\": \"c@d\"}",
         "mail: from: not an e-mail address"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b\\r\\nBcc: x@y\","
         " \"to\": \"c@d\"}",
         "mail: from: not an e-mail address"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b\\nBcc: x@y\","
         " \"to\": \"c@d\"}",
         "mail: from: not an e-mail address"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b@c\", \"to\": \"c@d\"}",
         "mail: from: not an e-mail address"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"@b\", \"to\": \"c@d\"}",
         "mail: from: not an e-mail address"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@\", \"to\": \"c@d\"}",
         "mail: from: not an e-mail address"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"Me <a@b>\", \"to\": \"c@d\"}",
         "mail: from: not an e-mail address"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b\"}",
         "mail: to: an address, or an array of addresses"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b\", \"to\": []}",
         "mail: to: needs one or more addresses"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b\", \"to\": [1]}",
         "mail: to/0: an address, or an array of addresses"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b\","
         " \"to\": [\"c@d\", \"x\\r\\n@y\"]}",
         "mail: to/1: not an e-mail address"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b\","
         " \"to\": \"c@d\\r\\nBcc: x@y\"}",
         "mail: to: not an e-mail address"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b\", \"to\": \"c@d,\"}",
         "mail: to: not an e-mail address"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b\", \"to\": \"c@d\","
         " \"subject_prefix\": \"[x]\\r\\nBcc: y@z\"}",
         "mail: subject_prefix: no control characters"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b\", \"to\": \"c@d\","
         " \"username\": 5}",
         "mail: url, from, username, password and subject_prefix are strings"},
        {"{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b\", \"to\": \"c@d\","
         " \"timeout_ms\": \"fast\"}",
         "mail: timeout_ms"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        assert_refused("mail", cases[i].settings, cases[i].want, err, sizeof(err));
        ck_assert_ptr_null(strchr(err, '\n'));
    }
}
END_TEST

/* The parts of a message, as a reader parses it. */
struct parsed {
    char *headers;  /* up to and without the first CRLFCRLF */
    char *body;     /* the decoded body */
    char *subject;  /* the decoded Subject */
    char *to;       /* the unfolded To */
    char *id;       /* the Message-ID */
    char *date;     /* the Date */
    size_t nheader; /* header fields */
};

static void parsed_free(struct parsed *p)
{
    free(p->headers);
    free(p->body);
    free(p->subject);
    free(p->to);
    free(p->id);
    free(p->date);
}

static const char *const allowed_fields[] = {
    "Date",       "From",         "To",           "Subject",
    "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
};

/* Decodes base64 text of n characters (a multiple of 4) onto out. */
static void decode_base64(const char *text, size_t n, struct buf *out)
{
    ck_assert_msg(n % 4 == 0, "base64 of %zu characters", n);
    unsigned char *raw = malloc(n / 4 * 3 + 1);
    int len = EVP_DecodeBlock(raw, (const unsigned char *)text, (int)n);
    ck_assert_int_ge(len, 0);
    while (n > 0 && text[n - 1] == '=') {
        len--;
        n--;
    }
    buf_append(out, raw, (size_t)len);
    free(raw);
}

/* A Subject value: plain text, or encoded-words each of whole UTF-8
 * characters, on folded lines of at most 78 characters. */
static char *decode_subject(const char *value)
{
    struct buf out = {0};
    buf_puts(&out, "");
    if (!strstr(value, "=?")) {
        buf_puts(&out, value);
        return buf_steal(&out);
    }
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\r' || *p == '\n')
            p++;
        if (!*p)
            break;
        ck_assert_msg(strncmp(p, "=?UTF-8?B?", 10) == 0, "not an encoded-word: %s", p);
        const char *end = strstr(p + 10, "?=");
        ck_assert_ptr_nonnull(end);
        ck_assert_msg(end + 2 - p <= 75, "an encoded-word of %d characters", (int)(end + 2 - p));
        struct buf word = {0};
        decode_base64(p + 10, (size_t)(end - p - 10), &word);
        json_t *valid = json_stringn(word.data ? word.data : "", word.len);
        ck_assert_msg(valid != NULL, "an encoded-word splits a character");
        json_decref(valid);
        buf_append(&out, word.data, word.len);
        buf_free(&word);
        p = end + 2;
    }
    return buf_steal(&out);
}

/* Parses msg, asserting what every message must be. */
static void parse(const char *msg, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    size_t len = strlen(msg);
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\n')
            ck_assert_msg(i > 0 && msg[i - 1] == '\r', "a bare LF at byte %zu", i);
        if (msg[i] == '\r')
            ck_assert_msg(msg[i + 1] == '\n', "a bare CR at byte %zu", i);
        if (i == 0 || msg[i - 1] == '\n') {
            ck_assert_msg(msg[i] != '.', "a line starts with a dot at byte %zu", i);
            ck_assert_msg(strcspn(msg + i, "\r") <= 78, "a line of %zu characters at byte %zu",
                          strcspn(msg + i, "\r"), i);
        }
    }
    const char *end = strstr(msg, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    p->headers = strndup(msg, (size_t)(end - msg));
    /* Header fields: a known name and ": ", or a folded line. */
    const char *line = p->headers;
    const char *current = NULL;
    while (line) {
        const char *next = strstr(line, "\r\n");
        size_t n = next ? (size_t)(next - line) : strlen(line);
        if (line[0] == ' ') {
            ck_assert_ptr_nonnull(current);
            ck_assert_msg(n > 1, "an empty folded line");
        } else {
            const char *colon = memchr(line, ':', n);
            ck_assert_msg(colon != NULL && colon[1] == ' ', "not a header: %.*s", (int)n, line);
            size_t k = 0, nf = sizeof(allowed_fields) / sizeof(allowed_fields[0]);
            while (k < nf && !(strlen(allowed_fields[k]) == (size_t)(colon - line) &&
                               strncmp(allowed_fields[k], line, (size_t)(colon - line)) == 0))
                k++;
            ck_assert_msg(k < nf, "an unexpected header: %.*s", (int)n, line);
            p->nheader++;
            current = allowed_fields[k];
        }
        /* The value, unfolded, of the fields the tests look at. */
        const char *value = line[0] == ' ' ? line : (const char *)memchr(line, ':', n) + 2;
        size_t vn = n - (size_t)(value - line);
        char **slot = strcmp(current, "Subject") == 0      ? &p->subject
                      : strcmp(current, "To") == 0         ? &p->to
                      : strcmp(current, "Message-ID") == 0 ? &p->id
                      : strcmp(current, "Date") == 0       ? &p->date
                                                           : NULL;
        if (slot) {
            struct buf b = {0};
            buf_puts(&b, *slot ? *slot : "");
            buf_append(&b, value, vn);
            free(*slot);
            *slot = buf_steal(&b);
        }
        line = next ? next + 2 : NULL;
    }
    ck_assert_uint_eq(p->nheader, 8);
    ck_assert_ptr_nonnull(p->subject);
    char *raw_subject = p->subject;
    p->subject = decode_subject(raw_subject);
    free(raw_subject);
    /* The body: base64 lines of 76 characters, the last one maybe shorter. */
    struct buf text = {0}, body = {0};
    const char *b = end + 4;
    while (*b) {
        size_t n = strcspn(b, "\r");
        ck_assert_msg(n > 0 && n <= 76, "a body line of %zu characters", n);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(isalnum((unsigned char)b[i]) || strchr("+/=", b[i]),
                          "'%c' in a base64 line", b[i]);
        buf_append(&text, b, n);
        b += n;
        ck_assert_msg(strncmp(b, "\r\n", 2) == 0, "a body line without CRLF");
        b += 2;
        if (n < 76)
            ck_assert_msg(*b == '\0', "a short base64 line before the last");
    }
    decode_base64(text.data, text.len, &body);
    buf_free(&text);
    p->body = buf_steal(&body);
}

/* The description after CRLF canonicalisation, as the body carries it. */
static char *canonical(const char *s)
{
    struct buf b = {0};
    buf_puts(&b, "");
    for (const char *c = s; *c; c++) {
        if (*c == '\r' || *c == '\n') {
            if (*c == '\r' && c[1] == '\n')
                c++;
            buf_puts(&b, "\r\n");
        } else {
            buf_append(&b, c, 1);
        }
    }
    return buf_steal(&b);
}

START_TEST(test_plain_message)
{
    struct channel *ch = make_ok(SETTINGS);
    char *msg = channel_format_text(ch, &plain);
    struct parsed p;
    parse(msg, &p);
    ck_assert_str_eq(p.subject, "[Sluice] Assistance request: sales");
    ck_assert_str_eq(p.to, "sales@corp.test, boss@corp.test");
    ck_assert_str_eq(p.id, "<dlv-0190b1c4-pricing@sluice>");
    ck_assert_ptr_nonnull(strstr(msg, "\r\nFrom: notify@sluice.test\r\n"));
    ck_assert_ptr_nonnull(strstr(msg, "\r\nMIME-Version: 1.0\r\n"));
    ck_assert_ptr_nonnull(strstr(msg, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
    ck_assert_ptr_nonnull(strstr(msg, "\r\nContent-Transfer-Encoding: base64\r\n\r\n"));
    ck_assert_int_eq(strncmp(msg, "Date: ", 6), 0);
    ck_assert_str_eq(p.body, "Assistance was requested on the topic \"sales\":\r\n"
                             "\r\n"
                             "Need a quote for 40 seats\r\n"
                             "\r\n"
                             "Request:      " SAMPLE_ID "\r\n"
                             "X-Request-ID: req-42\r\n"
                             "Link:         " SAMPLE_LINK "\r\n"
                             "Received at:  2024-03-05T10:00:00.000000Z\r\n");
    parsed_free(&p);
    free(msg);
    channel_free(ch);
}
END_TEST

START_TEST(test_date_is_now_in_rfc5322)
{
    struct channel *ch = make_ok(SETTINGS);
    char *msg = channel_format_text(ch, &plain);
    struct parsed p;
    parse(msg, &p);
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    ck_assert_uint_eq(strlen(p.date), 31);
    char wd[4], mon[4], zone[6];
    int day, year, h, m, s;
    ck_assert_int_eq(sscanf(p.date, "%3[A-Za-z], %2d %3s %4d %2d:%2d:%2d %5s", wd, &day, mon, &year,
                            &h, &m, &s, zone),
                     8);
    struct tm tm = {.tm_mday = day, .tm_year = year - 1900, .tm_hour = h, .tm_min = m, .tm_sec = s};
    int month = 0;
    while (month < 12 && strcmp(months[month], mon) != 0)
        month++;
    ck_assert_int_lt(month, 12);
    tm.tm_mon = month;
    time_t t = timegm(&tm);
    ck_assert_msg(llabs((long long)(t - time(NULL))) <= 5, "Date %s is not now", p.date);
    struct tm check;
    gmtime_r(&t, &check);
    ck_assert_str_eq(wd, days[check.tm_wday]);
    ck_assert_str_eq(zone, "+0000");
    parsed_free(&p);
    free(msg);
    channel_free(ch);
}
END_TEST

START_TEST(test_without_request_id_link_and_delivery_id)
{
    struct channel *ch = make_ok(SETTINGS);
    struct assistance req = plain;
    req.request_id = NULL;
    req.link = NULL;
    req.delivery_id = NULL;
    char *msg = channel_format_text(ch, &req);
    struct parsed p;
    parse(msg, &p);
    ck_assert_str_eq(p.id, "<" SAMPLE_ID "@sluice>");
    ck_assert_ptr_null(strstr(p.body, "X-Request-ID"));
    ck_assert_ptr_null(strstr(p.body, "Link:"));
    ck_assert_ptr_nonnull(strstr(p.body, "Received at:  2024-03-05T10:00:00.000000Z\r\n"));
    parsed_free(&p);
    free(msg);
    channel_free(ch);
}
END_TEST

/* Every word of 4 letters or more of text. */
static void assert_no_word_in(const char *text, const char *where, const char *what)
{
    const char *p = text;
    while (*p) {
        while (*p && !isalnum((unsigned char)*p))
            p++;
        size_t n = 0;
        while (isalnum((unsigned char)p[n]))
            n++;
        if (n >= 4) {
            char word[64];
            snprintf(word, sizeof(word), "%.*s", (int)n, p);
            ck_assert_msg(!strstr(where, word), "the headers hold \"%s\" of the %s", word, what);
        }
        p += n;
    }
}

static void check_hostile(const char *description, size_t count)
{
    struct channel *ch = make_ok(SETTINGS);
    struct buf d = {0};
    for (size_t i = 0; i < count; i++)
        buf_puts(&d, description);
    struct assistance req = plain;
    req.description = d.data;
    char *msg = channel_format_text(ch, &req);
    struct parsed p;
    parse(msg, &p);
    ck_assert_ptr_null(strstr(p.headers, d.data));
    assert_no_word_in(d.data, p.headers, "description");
    ck_assert_ptr_null(strcasestr(p.headers, "Bcc"));
    char *want = canonical(d.data);
    ck_assert_msg(strstr(p.body, want) != NULL, "the body lacks the description: %s", p.body);
    ck_assert_str_eq(p.subject, "[Sluice] Assistance request: sales");
    free(want);
    parsed_free(&p);
    free(msg);
    buf_free(&d);
    channel_free(ch);
}

START_TEST(test_hostile_descriptions)
{
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
        check_hostile(hostile[i], 1);
    check_hostile("x", 4000);
    check_hostile("🎉", 4000);
    check_hostile("\r\n.", 1333);
}
END_TEST

START_TEST(test_crlf_description_byte_exact)
{
    /* A description already in CRLF form is carried byte for byte. */
    struct channel *ch = make_ok(SETTINGS);
    struct assistance req = plain;
    req.description = "one\r\n.\r\nBcc: x@y\r\n\r\ntwo";
    char *msg = channel_format_text(ch, &req);
    struct parsed p;
    parse(msg, &p);
    ck_assert_ptr_nonnull(strstr(p.body, "\r\n\r\none\r\n.\r\nBcc: x@y\r\n\r\ntwo\r\n\r\n"));
    parsed_free(&p);
    free(msg);
    channel_free(ch);
}
END_TEST

static char *subject_of(const char *settings, const char *topic)
{
    struct channel *ch = make_ok(settings);
    struct assistance req = plain;
    req.topic = topic;
    char *msg = channel_format_text(ch, &req);
    struct parsed p;
    parse(msg, &p);
    char *subject = strdup(p.subject);
    parsed_free(&p);
    free(msg);
    channel_free(ch);
    return subject;
}

START_TEST(test_subjects)
{
    char *s = subject_of(SETTINGS, "grüße 🎉");
    ck_assert_str_eq(s, "[Sluice] Assistance request: grüße 🎉");
    free(s);
    /* Long and non-ASCII: several encoded-words on folded lines, none
     * splitting a character (parse checks). */
    s = subject_of(SETTINGS, "日本語日本語日本語日本語日本語日本語日本語日本語日本語日本語日本語");
    ck_assert_str_eq(s, "[Sluice] Assistance request: "
                        "日本語日本語日本語日本語日本語日本語日本語日本語日本語日本語日本語");
    free(s);
    s = subject_of(SETTINGS, "a\r\nBcc: victim@elsewhere.invalid");
    ck_assert_str_eq(s, "[Sluice] Assistance request: a  Bcc: victim@elsewhere.invalid");
    free(s);
    s = subject_of(SETTINGS, "=?UTF-8?B?Zm9yZ2Vk?=");
    ck_assert_str_eq(s, "[Sluice] Assistance request: =?UTF-8?B?Zm9yZ2Vk?=");
    free(s);
    s = subject_of("{\"type\": \"email\", \"url\": \"smtps://mx\", \"from\": \"a@b.test\","
                   " \"to\": \"c@d.test\", \"subject_prefix\": \"\"}",
                   "sales");
    ck_assert_str_eq(s, "Assistance request: sales");
    free(s);
    s = subject_of("{\"type\": \"email\", \"url\": \"smtps://mx\", \"from\": \"a@b.test\","
                   " \"to\": \"c@d.test\", \"subject_prefix\": \"[Ops] Ärger\"}",
                   "sales");
    ck_assert_str_eq(s, "[Ops] Ärger Assistance request: sales");
    free(s);
}
END_TEST

START_TEST(test_recipients_and_message_id)
{
    struct channel *ch =
        make_ok("{\"type\": \"email\", \"url\": \"SMTP://mx\", \"from\": \"a@b.test\","
                " \"to\": \" one@x.test,two@x.test , three@x.test\"}");
    struct assistance req = plain;
    req.delivery_id = "dlv <x>\r\n@evil";
    char *msg = channel_format_text(ch, &req);
    struct parsed p;
    parse(msg, &p);
    ck_assert_str_eq(p.to, "one@x.test, two@x.test, three@x.test");
    ck_assert_str_eq(p.id, "<dlv__x____evil@sluice>");
    parsed_free(&p);
    free(msg);
    channel_free(ch);
    /* Many recipients: To is folded, every line within 78 (parse checks). */
    struct buf settings = {0};
    buf_puts(&settings, "{\"type\": \"email\", \"url\": \"smtp://mx\", \"from\": \"a@b.test\","
                        " \"to\": [");
    for (int i = 0; i < 20; i++)
        buf_printf(&settings, "%s\"recipient-number-%02d@corp.test\"", i ? ", " : "", i);
    buf_puts(&settings, "]}");
    ch = make_ok(settings.data);
    msg = channel_format_text(ch, &plain);
    parse(msg, &p);
    ck_assert_ptr_nonnull(strstr(p.to, "recipient-number-00@corp.test, "));
    ck_assert_ptr_nonnull(strstr(p.to, " recipient-number-19@corp.test"));
    ck_assert_ptr_nonnull(strstr(msg, ",\r\n recipient-number-"));
    parsed_free(&p);
    free(msg);
    channel_free(ch);
    buf_free(&settings);
}
END_TEST

/* A scripted SMTP server on a loopback port: one session, the replies it is
 * given (a default success for each one left NULL), a log of the commands. */
struct smtp_stub {
    int fd, port;
    pthread_t thread;
    const char *greeting; /* "-" to say nothing at all */
    const char *auth_reply, *rcpt_reply, *data_reply;
    int offer_auth;
    char log[8192];
    char data[65536];
    size_t data_len;
};

static int read_line(int c, char *line, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        char ch;
        if (recv(c, &ch, 1, 0) != 1)
            return -1;
        line[n++] = ch;
        if (ch == '\n')
            break;
    }
    line[n] = '\0';
    return 0;
}

static void say(int c, const char *text)
{
    send(c, text, strlen(text), MSG_NOSIGNAL);
    send(c, "\r\n", 2, MSG_NOSIGNAL);
}

static void *smtp_run(void *arg)
{
    struct smtp_stub *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    char line[1024];
    if (strcmp(s->greeting, "-") == 0) {
        while (read_line(c, line, sizeof(line)) == 0)
            ;
        close(c);
        return NULL;
    }
    say(c, s->greeting);
    while (s->greeting[0] == '2' && read_line(c, line, sizeof(line)) == 0) {
        strncat(s->log, line, sizeof(s->log) - strlen(s->log) - 1);
        if (strncasecmp(line, "EHLO", 4) == 0) {
            say(c, s->offer_auth ? "250-stub\r\n250 AUTH PLAIN" : "250 stub");
        } else if (strncasecmp(line, "AUTH PLAIN", 10) == 0) {
            if (strlen(line) <= 12) {
                say(c, "334 ");
                if (read_line(c, line, sizeof(line)) != 0)
                    break;
                strncat(s->log, line, sizeof(s->log) - strlen(s->log) - 1);
            }
            say(c, s->auth_reply ? s->auth_reply : "235 2.7.0 accepted");
        } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
            say(c, "250 2.1.0 ok");
        } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
            say(c, s->rcpt_reply ? s->rcpt_reply : "250 2.1.5 ok");
        } else if (strncasecmp(line, "DATA", 4) == 0) {
            say(c, "354 go ahead");
            while (read_line(c, line, sizeof(line)) == 0 && strcmp(line, ".\r\n") != 0) {
                size_t n = strlen(line);
                if (s->data_len + n < sizeof(s->data)) {
                    memcpy(s->data + s->data_len, line, n + 1);
                    s->data_len += n;
                }
            }
            say(c, s->data_reply ? s->data_reply : "250 2.0.0 queued");
        } else if (strncasecmp(line, "QUIT", 4) == 0) {
            say(c, "221 bye");
            break;
        } else {
            say(c, "250 ok");
        }
    }
    close(c);
    return NULL;
}

static void smtp_start(struct smtp_stub *s)
{
    s->fd = loopback_listen(&s->port);
    if (!s->greeting)
        s->greeting = "220 stub ESMTP";
    ck_assert_int_eq(pthread_create(&s->thread, NULL, smtp_run, s), 0);
}

static void smtp_join(struct smtp_stub *s)
{
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* Sends plain through a channel on the stub's port; extra settings are
 * appended to the object. */
static enum send_result smtp_send(struct smtp_stub *s, const char *extra, struct send_info *info,
                                  char *err, size_t errlen)
{
    smtp_start(s);
    char settings[512];
    snprintf(settings, sizeof(settings),
             "{\"type\": \"email\", \"url\": \"smtp://127.0.0.1:%d\", \"from\": "
             "\"notify@sluice.test\", \"to\": [\"sales@corp.test\", \"boss@corp.test\"]%s}",
             s->port, extra ? extra : "");
    struct channel *ch = make_ok(settings);
    enum send_result r = channel_deliver(ch, &plain, info, err, errlen);
    smtp_join(s);
    channel_free(ch);
    return r;
}

START_TEST(test_send_accepted)
{
    static struct smtp_stub s;
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(smtp_send(&s, NULL, &info, err, sizeof(err)), SEND_OK);
    ck_assert_int_eq(info.status, 250);
    ck_assert_ptr_nonnull(strstr(s.log, "MAIL FROM:<notify@sluice.test>"));
    ck_assert_ptr_nonnull(strstr(s.log, "RCPT TO:<sales@corp.test>\r\n"));
    ck_assert_ptr_nonnull(strstr(s.log, "RCPT TO:<boss@corp.test>\r\n"));
    ck_assert_ptr_null(strstr(s.log, "STARTTLS")); /* not offered: plain is tried */
    ck_assert_ptr_null(strstr(s.log, "AUTH"));
    /* What came is the message, but for the Date of the moment. */
    struct channel *ch = make_ok(SETTINGS);
    char *msg = channel_format_text(ch, &plain);
    ck_assert_str_eq(strstr(s.data, "\r\nFrom: "), strstr(msg, "\r\nFrom: "));
    free(msg);
    channel_free(ch);
}
END_TEST

START_TEST(test_send_login)
{
    static struct smtp_stub s = {.offer_auth = 1};
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(
        smtp_send(&s, ", \"username\": \"u\", \"password\": \"p\"", &info, err, sizeof(err)),
        SEND_OK);
    ck_assert_ptr_nonnull(strstr(s.log, "AHUAcA==")); /* "\0u\0p" */
}
END_TEST

START_TEST(test_send_login_refused_drops)
{
    static struct smtp_stub s = {.offer_auth = 1, .auth_reply = "535 5.7.8 bad credentials"};
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(
        smtp_send(&s, ", \"username\": \"u\", \"password\": \"hunter2\"", &info, err, sizeof(err)),
        SEND_DROP);
    ck_assert_int_eq(info.status, 535);
    ck_assert_ptr_nonnull(strstr(err, "login"));
    ck_assert_ptr_null(strstr(err, "hunter2"));
}
END_TEST

START_TEST(test_send_bad_mailbox_drops)
{
    static struct smtp_stub s = {.rcpt_reply = "550 5.1.1 no such mailbox"};
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(smtp_send(&s, NULL, &info, err, sizeof(err)), SEND_DROP);
    ck_assert_int_eq(info.status, 550);
    ck_assert_ptr_nonnull(strstr(err, "550"));
}
END_TEST

START_TEST(test_send_greylisted_retries)
{
    static struct smtp_stub s = {.rcpt_reply = "451 4.7.1 greylisted, try later"};
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(smtp_send(&s, NULL, &info, err, sizeof(err)), SEND_RETRY);
    ck_assert_int_eq(info.status, 451);
    ck_assert_ptr_nonnull(strstr(err, "451"));
}
END_TEST

START_TEST(test_send_data_refused_drops)
{
    static struct smtp_stub s = {.data_reply = "554 5.6.0 message refused"};
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(smtp_send(&s, NULL, &info, err, sizeof(err)), SEND_DROP);
    ck_assert_int_eq(info.status, 554);
}
END_TEST

START_TEST(test_send_busy_server_retries)
{
    static struct smtp_stub s = {.greeting = "421 4.3.2 too busy"};
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(smtp_send(&s, NULL, &info, err, sizeof(err)), SEND_RETRY);
    ck_assert_int_eq(info.status, 421);
}
END_TEST

START_TEST(test_send_silent_server_times_out)
{
    static struct smtp_stub s = {.greeting = "-"};
    struct send_info info;
    char err[256] = "";
    ck_assert_int_eq(smtp_send(&s, ", \"timeout_ms\": 300", &info, err, sizeof(err)), SEND_RETRY);
    ck_assert_str_eq(err, "timeout after 300 ms");
    ck_assert_int_eq(info.status, 0);
}
END_TEST

START_TEST(test_send_refused_connection_retries)
{
    char settings[256], err[256] = "";
    snprintf(settings, sizeof(settings),
             "{\"type\": \"email\", \"url\": \"smtp://127.0.0.1:%d\", \"from\": \"a@b.test\","
             " \"to\": \"c@d.test\"}",
             loopback_unused_port());
    struct channel *ch = make_ok(settings);
    struct send_info info;
    ck_assert_int_eq(channel_deliver(ch, &plain, &info, err, sizeof(err)), SEND_RETRY);
    ck_assert_int_eq(info.status, 0);
    ck_assert_msg(err[0] != '\0', "no reason given");
    channel_free(ch);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("email");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_refused_settings);
    tcase_add_test(tc, test_plain_message);
    tcase_add_test(tc, test_date_is_now_in_rfc5322);
    tcase_add_test(tc, test_without_request_id_link_and_delivery_id);
    tcase_add_test(tc, test_hostile_descriptions);
    tcase_add_test(tc, test_crlf_description_byte_exact);
    tcase_add_test(tc, test_subjects);
    tcase_add_test(tc, test_recipients_and_message_id);
    tcase_add_test(tc, test_send_accepted);
    tcase_add_test(tc, test_send_login);
    tcase_add_test(tc, test_send_login_refused_drops);
    tcase_add_test(tc, test_send_bad_mailbox_drops);
    tcase_add_test(tc, test_send_greylisted_retries);
    tcase_add_test(tc, test_send_data_refused_drops);
    tcase_add_test(tc, test_send_busy_server_retries);
    tcase_add_test(tc, test_send_silent_server_times_out);
    tcase_add_test(tc, test_send_refused_connection_retries);
    suite_add_tcase(s, tc);
    return loopback_check_run(s);
}
