/* waiters: read-your-writes for `Prefer: wait=N` (RFC 7240).
 *
 * A write that asks to wait registers its record id here before it is
 * produced. The persist worker NOTIFYs channel "sluice_persisted" in the same
 * transaction that writes the record; one thread here LISTENs on its own
 * PostgreSQL connection, records each outcome, and resumes the request once
 * Kafka has acknowledged it too. The same thread resumes requests whose time ran
 * out. Owns its connection and thread; requests stay owned by http.c. */
#ifndef SLUICE_WAITERS_H
#define SLUICE_WAITERS_H

#include "envelope.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAIT_MAX_SECONDS 30

struct request;
struct waiters;

enum wait_outcome {
    WAIT_PENDING,
    WAIT_CREATED,  /* the record was written */
    WAIT_UPDATED,  /* a record with this id was there with other content: a new version */
    WAIT_EXISTS,   /* a record with this id was already there, unchanged */
    WAIT_REJECTED, /* the worker could never write it (error says why) */
    WAIT_TIMEOUT,
};

struct wait_result {
    enum wait_outcome outcome;
    int status; /* WAIT_REJECTED: the HTTP status the worker's reason means */
    char error[256];
};

struct waiters *waiters_start(const char *pg_url, char *err, size_t errlen);
/* The first step of a shutdown: resumes every parked request as timed out
 * (each then answers 202 on its HTTP thread), parks none from now on, and
 * stops the LISTEN thread. Every other function stays usable, because HTTP
 * threads still take their results and requests still in Kafka's hands still
 * register and remove theirs: free only once the HTTP server is stopped. */
void waiters_close(struct waiters *w);
/* Frees everything (closing first if needed). No HTTP thread may be running. */
void waiters_free(struct waiters *w);

/* Parses a Prefer header; returns the wait in seconds (capped at
 * WAIT_MAX_SECONDS) or -1 when it asks for no wait. */
int waiters_parse_prefer(const char *prefer);

/* Registers req under id with a deadline; 0 on success. */
int waiters_add(struct waiters *w, const char *id, struct request *req, int64_t deadline_us);
/* Called on an HTTP thread after Kafka acknowledged: when the outcome is
 * already known, removes the waiter, fills *result and returns true (answer
 * now); otherwise parks the connection until the outcome or the deadline, then
 * on_resume runs, and returns false. */
typedef enum MHD_Result (*waiters_resume_fn)(struct request *req);
bool waiters_acked(struct waiters *w, const char *id, struct request *req,
                   waiters_resume_fn on_resume, struct wait_result *result);
/* Forgets a waiter whose write failed before Kafka acknowledged it. */
void waiters_remove(struct waiters *w, const char *id);
/* Once resumed, the outcome the thread recorded (the waiter is removed). */
void waiters_take(struct waiters *w, const char *id, struct wait_result *result);

#endif
