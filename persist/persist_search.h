/* persist_search: the indexer of contains= (docs/search.md). A thread of
 * sluice-persist with its own PostgreSQL connection that drains
 * event_search_backlog into event_search (schema/012_search.sql) in bulk,
 * off the batch path: the writes of events only enqueue (a statement
 * trigger), and every replica runs one indexer, of which PostgreSQL lets one
 * at a time work (an advisory lock inside event_search_index).
 *
 * While this replica writes bulk batches (full ones, or an import's) the
 * indexer defers to it, so an import reaches done sooner, unless the
 * backlog's oldest row is older than max_lag_ms: then it indexes anyway, so
 * search never falls behind for good.
 * A batch is one transaction; a database gone mid-batch loses nothing (the
 * backlog rows come back with the rollback) and the thread reconnects. */
#ifndef SLUICE_PERSIST_SEARCH_H
#define SLUICE_PERSIST_SEARCH_H

#include "buf.h"

struct persist_search_config {
    const char *pg_url;
    long batch;      /* ids per event_search_index call */
    long poll_ms;    /* how often an idle indexer looks at the backlog */
    long yield_ms;   /* defer while a bulk batch was written within this */
    long max_lag_ms; /* ... unless the backlog's head is older than this */
};

struct persist_search;

/* Starts the thread; NULL with the reason in err. The config's strings must
 * outlive it. */
struct persist_search *persist_search_start(const struct persist_search_config *cfg, char *err,
                                            size_t errlen);

/* The replica is writing, or just wrote, a bulk batch (any thread). */
void persist_search_busy(struct persist_search *s);

/* The indexer's gauges and counters in the Prometheus text format (any thread). */
void persist_search_render(struct persist_search *s, struct buf *out);

/* Cancels a batch in flight (it rolls back), joins the thread and frees. */
void persist_search_stop(struct persist_search *s);

#endif
