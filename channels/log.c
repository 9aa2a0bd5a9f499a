/* log: one JSON line per delivery, to stdout or appended to a file; the dev
 * default, so a fresh machine needs no Slack or mail account. Lines from many
 * threads never interleave: each is written under the channel's mutex.
 *
 * Lines go out with write(2), not stdio: after a failed fflush the bytes stay
 * in stdio's buffer, so a retried line would be written twice (or glued to a
 * stale half). With O_APPEND each line is one write at the end of the file,
 * even with several processes on the same file. */
#include "channel.h"
#include "timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct log_channel {
    int fd;
    int owned; /* opened here (closed by destroy), not stdout */
    pthread_mutex_t lock;
};

static int log_channel_init(struct channel *ch, const json_t *conf, char *err, size_t errlen)
{
    const json_t *v = json_object_get(conf, "path");
    const char *path = json_string_value(v);
    if (v && !json_is_null(v) && (!path || !*path)) {
        snprintf(err, errlen, "path: a file name, or no \"path\" for stdout");
        return -1;
    }
    struct log_channel *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (path) {
        l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (l->fd < 0) {
            char why[128];
            snprintf(err, errlen, "path: cannot open %s: %s", path,
                     strerror_r(errno, why, sizeof(why)));
            free(l);
            return -1;
        }
        l->owned = 1;
    } else {
        l->fd = STDOUT_FILENO;
    }
    pthread_mutex_init(&l->lock, NULL);
    ch->state = l;
    return 0;
}

static void log_channel_destroy(struct channel *ch)
{
    struct log_channel *l = ch->state;
    if (!l)
        return;
    if (l->owned)
        close(l->fd);
    pthread_mutex_destroy(&l->lock);
    free(l);
    ch->state = NULL;
}

static int set_string(json_t *obj, const char *key, const char *s)
{
    return json_object_set_new(obj, key, s ? json_string(s) : json_null());
}

static int dump_to_buf(const char *data, size_t size, void *userdata)
{
    return buf_append(userdata, data, size);
}

static int log_channel_format(const struct channel *ch, const struct assistance *req,
                              struct buf *out)
{
    char ts[TIME_STR_LEN];
    time_format(time_now_us(), ts);
    int rc = -1;
    json_t *line = json_object();
    if (!line || set_string(line, "ts", ts) || set_string(line, "channel", ch->name) ||
        set_string(line, "topic", req->topic) || set_string(line, "id", req->id) ||
        set_string(line, "description", req->description) ||
        set_string(line, "request_id", req->request_id) || set_string(line, "link", req->link) ||
        set_string(line, "delivery_id", req->delivery_id))
        goto out;
    if (json_dump_callback(line, dump_to_buf, out, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 ||
        buf_puts(out, "\n") != 0)
        goto out;
    rc = 0;
out:
    json_decref(line);
    return rc;
}

static enum send_result log_channel_send(const struct channel *ch, const struct assistance *req,
                                         const struct buf *msg, struct send_info *info, char *err,
                                         size_t errlen)
{
    struct log_channel *l = ch->state;
    enum send_result result = SEND_OK;
    info->status = 0;
    pthread_mutex_lock(&l->lock);
    for (size_t done = 0; done < msg->len;) {
        ssize_t n = write(l->fd, msg->data + done, msg->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            char why[128];
            int e = n < 0 ? errno : EIO;
            snprintf(err, errlen, "cannot write the log: %s", strerror_r(e, why, sizeof(why)));
            result = SEND_RETRY;
            break;
        }
        done += (size_t)n;
    }
    pthread_mutex_unlock(&l->lock);
    return result;
}

const struct channel_type channel_log = {
    .name = "log",
    .settings = channel_settings_log,
    .init = log_channel_init,
    .format = log_channel_format,
    .send = log_channel_send,
    .destroy = log_channel_destroy,
};
