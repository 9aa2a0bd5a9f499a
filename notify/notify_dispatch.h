/* notify_dispatch: the dispatcher, which sends the recorded deliveries.
 *
 * dispatcher_start makes its thread, its own PostgreSQL connection and its
 * pool of sender threads; dispatcher_stop ends and frees all of them and the
 * dispatcher itself. Each job holds a reference to the channel set it was
 * claimed with (notify_channels.h), so a reload never frees a channel under a
 * send. The struct notify is borrowed and must outlive the dispatcher, its
 * dead-letter producer included. */
#ifndef SLUICE_NOTIFY_DISPATCH_H
#define SLUICE_NOTIFY_DISPATCH_H

#include <stddef.h>

struct buf;
struct dispatcher;
struct notify;

/* Starts the dispatcher; NULL with the reason in err. */
struct dispatcher *dispatcher_start(struct notify *n, char *err, size_t errlen);
/* There may be new due deliveries: look now rather than at the next poll. */
void dispatcher_wake(struct dispatcher *d);
/* Stops claiming, lets the sends in flight finish, records them and frees d
 * (NULL is fine). */
void dispatcher_stop(struct dispatcher *d);
/* Per-channel lines (deliveries, breaker state) for /metrics. */
void dispatcher_metrics(struct dispatcher *d, struct buf *out);

#endif
