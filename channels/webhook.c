/* webhook: a JSON POST signed as Standard Webhooks asks
 * (https://www.standardwebhooks.com): webhook-id, webhook-timestamp and
 * webhook-signature headers, one "v1," signature per active secret so a
 * receiver keeps verifying while a secret is rotated. */
#include "channel.h"
#include "http_post.h"
#include "url.h"
#include "webhook_sig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Enough for any rotation; each signature is 47 bytes of the header. */
#define WEBHOOK_SECRETS_MAX 8
#define WEBHOOK_ID_MAX 255

struct webhook {
    char *url;
    char *secret_text;                        /* the setting, cut into secrets */
    const char *secrets[WEBHOOK_SECRETS_MAX]; /* point into secret_text */
    size_t nsecrets;
};

static void webhook_destroy(struct channel *ch)
{
    struct webhook *w = ch->state;
    if (!w)
        return;
    free(w->url);
    free(w->secret_text);
    free(w);
    ch->state = NULL;
}

/* Cuts w->secret_text at spaces into w->secrets; -1 with err when there are
 * none, too many, or one a test signature refuses (err never holds one). */
static int split_secrets(struct webhook *w, char *err, size_t errlen)
{
    char *save = NULL;
    for (char *s = strtok_r(w->secret_text, " \t", &save); s; s = strtok_r(NULL, " \t", &save)) {
        if (w->nsecrets == WEBHOOK_SECRETS_MAX) {
            snprintf(err, errlen, "secret: at most %d secrets, separated by spaces",
                     WEBHOOK_SECRETS_MAX);
            return -1;
        }
        w->secrets[w->nsecrets++] = s;
    }
    if (w->nsecrets == 0) {
        snprintf(err, errlen, "secret: needs one or more whsec_ secrets, separated by spaces");
        return -1;
    }
    char out[WEBHOOK_SECRETS_MAX * 48 + 1];
    if (webhook_signature(w->secrets, w->nsecrets, "msg_check", 0, "", 0, out, sizeof(out)) != 0) {
        snprintf(err, errlen, "secret: %s", out);
        return -1;
    }
    return 0;
}

static int webhook_init(struct channel *ch, const json_t *conf, char *err, size_t errlen)
{
    const char *url = json_string_value(json_object_get(conf, "url"));
    const char *secret = json_string_value(json_object_get(conf, "secret"));
    if (!url || !url_http_ok(url)) {
        snprintf(err, errlen, "url: needs an http:// or https:// URL");
        return -1;
    }
    if (!secret) {
        snprintf(err, errlen, "secret: needs one or more whsec_ secrets, separated by spaces");
        return -1;
    }
    struct webhook *w = calloc(1, sizeof(*w));
    if (!w || !(w->url = strdup(url)) || !(w->secret_text = strdup(secret))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (split_secrets(w, err, errlen) != 0)
        goto fail;
    ch->state = w;
    return 0;
fail:
    if (w) {
        free(w->url);
        free(w->secret_text);
        free(w);
    }
    return -1;
}

/* Sets key to a string, or to null when s is NULL; -1 when s is not UTF-8. */
static int set_string(json_t *obj, const char *key, const char *s)
{
    return json_object_set_new(obj, key, s ? json_string(s) : json_null());
}

static int dump_to_buf(const char *data, size_t size, void *userdata)
{
    return buf_append(userdata, data, size);
}

static int webhook_format(const struct channel *ch, const struct assistance *req, struct buf *out)
{
    int rc = -1;
    json_t *doc = json_object(), *data = json_object();
    if (!doc || !data || set_string(doc, "type", "assistance.requested") != 0 ||
        set_string(doc, "timestamp", req->received_at) != 0 || set_string(data, "id", req->id) ||
        set_string(data, "topic", req->topic) ||
        set_string(data, "description", req->description) ||
        set_string(data, "received_at", req->received_at) ||
        set_string(data, "request_id", req->request_id) || set_string(data, "link", req->link))
        goto out;
    rc = json_object_set_new(doc, "data", data);
    data = NULL; /* stolen */
    if (rc == 0)
        rc = json_dump_callback(doc, dump_to_buf, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(data);
    json_decref(doc);
    return rc ? -1 : 0;
}

/* True for an id that can stand in a header: 1 to WEBHOOK_ID_MAX printable
 * ASCII characters without spaces. */
static int header_safe(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++) {
        unsigned char c = (unsigned char)id[n];
        if (c <= 0x20 || c >= 0x7f || n == WEBHOOK_ID_MAX)
            return 0;
    }
    return n > 0;
}

static enum send_result webhook_send(const struct channel *ch, const struct assistance *req,
                                     const struct buf *msg, struct send_info *info, char *err,
                                     size_t errlen)
{
    const struct webhook *w = ch->state;
    const char *msg_id = req->delivery_id ? req->delivery_id : req->id;
    char sig[WEBHOOK_SECRETS_MAX * 48 + 1];
    char h_id[WEBHOOK_ID_MAX + 32], h_ts[64], h_sig[sizeof(sig) + 32];
    info->status = 0;
    if (!msg_id || !header_safe(msg_id)) {
        snprintf(err, errlen, "the delivery id cannot be a webhook-id header");
        return SEND_DROP;
    }
    /* Signed at each attempt: receivers refuse an old webhook-timestamp. */
    long long now = (long long)time(NULL);
    if (webhook_signature(w->secrets, w->nsecrets, msg_id, now, msg->data ? msg->data : "",
                          msg->len, sig, sizeof(sig)) != 0) {
        snprintf(err, errlen, "cannot sign: %s", sig);
        return SEND_DROP;
    }
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", msg_id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %lld", now);
    snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", sig);
    const char *const headers[] = {
        "Content-Type: application/json", h_id, h_ts, h_sig, "Expect:", NULL,
    };
    struct http_reply reply;
    if (http_post(w->url, headers, msg->data, msg->len, ch->timeout_ms, &reply, err, errlen) != 0)
        return SEND_RETRY;
    if (reply.status == 410) {
        info->status = 410;
        snprintf(err, errlen, "webhook answered 410: gone: receiver unsubscribed");
        return SEND_DROP;
    }
    return http_classify("webhook", &reply, time(NULL), info, err, errlen);
}

const struct channel_type channel_webhook = {
    .name = "webhook",
    .settings = channel_settings_webhook,
    .init = webhook_init,
    .format = webhook_format,
    .send = webhook_send,
    .destroy = webhook_destroy,
};
