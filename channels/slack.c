/* slack: an incoming webhook (https://api.slack.com/messaging/webhooks).
 *
 * The message is {"text": the notification's fallback, "blocks": [...]}.
 * Every piece of text is mrkdwn with &, < and > escaped as Slack asks, so a
 * client's "<!channel>" or "<https://evil|bank>" is shown, never acted on; the
 * client's text is also "verbatim" (no automatic links or mentions). */
#include "channel.h"
#include "http_post.h"
#include "url.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Slack refuses a section whose text is longer than 3000 characters; a long
 * description is spread over several sections. */
#define SECTION_MAX 3000

struct slack {
    char *webhook_url; /* a secret: never in an error or a log line */
};

static int slack_init(struct channel *ch, const json_t *conf, char *err, size_t errlen)
{
    const char *url = json_string_value(json_object_get(conf, "webhook_url"));
    if (!url || !url_http_ok(url)) {
        snprintf(err, errlen, "webhook_url: needs an http:// or https:// URL");
        return -1;
    }
    struct slack *s = calloc(1, sizeof(*s));
    if (!s || !(s->webhook_url = strdup(url))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ch->state = s;
    return 0;
}

static void slack_destroy(struct channel *ch)
{
    struct slack *s = ch->state;
    if (!s)
        return;
    free(s->webhook_url);
    free(s);
    ch->state = NULL;
}

/* Appends len bytes of text with &, < and > as entities. */
static int escape(struct buf *out, const char *text, size_t len)
{
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        switch (text[i]) {
        case '&':
            rc = buf_puts(out, "&amp;");
            break;
        case '<':
            rc = buf_puts(out, "&lt;");
            break;
        case '>':
            rc = buf_puts(out, "&gt;");
            break;
        default:
            rc = buf_append(out, &text[i], 1);
        }
    }
    return rc;
}

static int escape_str(struct buf *out, const char *text)
{
    return escape(out, text, strlen(text));
}

/* What one character of UTF-8 at text costs once escaped, in the UTF-16
 * units Slack counts; *bytes gets its length. */
static size_t cost_of(const char *text, size_t *bytes)
{
    unsigned char c = (unsigned char)text[0];
    *bytes = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (c == '&')
        return 5;
    if (c == '<' || c == '>')
        return 4;
    return *bytes == 4 ? 2 : 1;
}

/* A mrkdwn text object; steals nothing, returns a new reference or NULL. */
static json_t *mrkdwn(const struct buf *text, int verbatim)
{
    json_t *s = json_stringn(text->data ? text->data : "", text->len);
    if (!s)
        return NULL;
    json_t *obj = json_object();
    if (!obj || json_object_set_new(obj, "type", json_string("mrkdwn")) != 0 ||
        json_object_set_new(obj, "text", s) != 0 ||
        (verbatim && json_object_set_new(obj, "verbatim", json_true()) != 0)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Appends {"type": "section", "text": mrkdwn(text)} to blocks. */
static int add_section(json_t *blocks, const struct buf *text, int verbatim)
{
    json_t *block = json_object();
    if (!block || json_object_set_new(block, "type", json_string("section")) != 0 ||
        json_object_set_new(block, "text", mrkdwn(text, verbatim)) != 0) {
        json_decref(block);
        return -1;
    }
    return json_array_append_new(blocks, block);
}

/* Appends the description as sections of at most SECTION_MAX characters once
 * escaped, cut between characters; after a space or line break when there is
 * one in the last fifth of a section, so words stay whole. */
static int add_description(json_t *blocks, const char *text)
{
    struct buf part = {0};
    int rc = -1;
    size_t len = strlen(text), start = 0;
    while (start < len) {
        size_t i = start, cost = 0, cut_at_space = 0, cost_at_space = 0, end;
        while (i < len) {
            size_t bytes, c = cost_of(text + i, &bytes);
            if (cost + c > SECTION_MAX)
                break;
            cost += c;
            i += bytes;
            if (i > len) /* a truncated sequence at the very end */
                i = len;
            if (text[i - 1] == ' ' || text[i - 1] == '\n') {
                cut_at_space = i;
                cost_at_space = cost;
            }
        }
        end = i;
        if (i < len && cut_at_space > start && cost_at_space > SECTION_MAX * 4 / 5)
            end = cut_at_space;
        buf_reset(&part);
        if (escape(&part, text + start, end - start) != 0 || add_section(blocks, &part, 1) != 0)
            goto out;
        start = end;
    }
    rc = 0;
out:
    buf_free(&part);
    return rc;
}

/* Appends a verbatim mrkdwn element "<label><value, escaped>" to elements. */
static int add_element(json_t *elements, const char *label, const char *value)
{
    struct buf text = {0};
    int rc = buf_puts(&text, label) || escape_str(&text, value) ||
             json_array_append_new(elements, mrkdwn(&text, 1));
    buf_free(&text);
    return rc ? -1 : 0;
}

/* Appends {"type": "context", "elements": [...]}: the request's id, its
 * X-Request-ID when known, and when it came. */
static int add_context(json_t *blocks, const struct assistance *req)
{
    json_t *block = json_object(), *elements = json_array();
    if (!block || !elements || add_element(elements, "Request ", req->id) != 0 ||
        (req->request_id && add_element(elements, "X-Request-ID ", req->request_id) != 0) ||
        add_element(elements, "Received ", req->received_at) != 0 ||
        json_object_set_new(block, "type", json_string("context")) != 0) {
        json_decref(elements);
        json_decref(block);
        return -1;
    }
    /* Both steal their value, even on failure. */
    if (json_object_set_new(block, "elements", elements) != 0) {
        json_decref(block);
        return -1;
    }
    return json_array_append_new(blocks, block);
}

/* Appends a "<link|Open the request>" section. A '|' would end the URL early,
 * so it is percent-encoded. */
static int add_link(json_t *blocks, const char *link)
{
    struct buf text = {0};
    int rc = buf_puts(&text, "<");
    for (const char *p = link; *p && rc == 0; p++)
        rc = *p == '|' ? buf_puts(&text, "%7C") : escape(&text, p, 1);
    rc = rc || buf_puts(&text, "|Open the request>") || add_section(blocks, &text, 0);
    buf_free(&text);
    return rc ? -1 : 0;
}

static int dump_to_buf(const char *data, size_t size, void *userdata)
{
    return buf_append(userdata, data, size);
}

static int slack_format(const struct channel *ch, const struct assistance *req, struct buf *out)
{
    struct buf text = {0}, title = {0};
    int rc = -1;
    json_t *doc = json_object(), *blocks = json_array();
    if (!doc || !blocks)
        goto out;
    /* The fallback text: what a notification or an old client shows. */
    if (buf_puts(&text, "Assistance requested: ") || escape_str(&text, req->topic) ||
        buf_puts(&text, "\n") || escape_str(&text, req->description) ||
        buf_puts(&text, "\nRequest ") || escape_str(&text, req->id))
        goto out;
    if (req->request_id && (buf_puts(&text, " (X-Request-ID ") ||
                            escape_str(&text, req->request_id) || buf_puts(&text, ")")))
        goto out;
    if (req->link && (buf_puts(&text, "\n") || escape_str(&text, req->link)))
        goto out;
    if (buf_puts(&title, "*Assistance requested:* ") || escape_str(&title, req->topic))
        goto out;
    if (add_section(blocks, &title, 0) != 0 || add_description(blocks, req->description) != 0 ||
        add_context(blocks, req) != 0 || (req->link && add_link(blocks, req->link) != 0))
        goto out;
    json_t *fallback = json_stringn(text.data, text.len);
    if (json_object_set_new(doc, "text", fallback) != 0)
        goto out;
    rc = json_object_set_new(doc, "blocks", blocks);
    blocks = NULL; /* stolen */
    if (rc == 0)
        rc = json_dump_callback(doc, dump_to_buf, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(blocks);
    json_decref(doc);
    buf_free(&text);
    buf_free(&title);
    return rc ? -1 : 0;
}

static enum send_result slack_send(const struct channel *ch, const struct assistance *req,
                                   const struct buf *msg, struct send_info *info, char *err,
                                   size_t errlen)
{
    const struct slack *s = ch->state;
    static const char *const headers[] = {
        "Content-Type: application/json",
        "Expect:", /* no 100-continue round trip for a long message */
        NULL,
    };
    struct http_reply reply;
    if (http_post(s->webhook_url, headers, msg->data, msg->len, ch->timeout_ms, &reply, err,
                  errlen) != 0) {
        info->status = 0;
        return SEND_RETRY;
    }
    return http_classify("slack", &reply, time(NULL), info, err, errlen);
}

const struct channel_type channel_slack = {
    .name = "slack",
    .settings = channel_settings_slack,
    .init = slack_init,
    .format = slack_format,
    .send = slack_send,
    .destroy = slack_destroy,
};
