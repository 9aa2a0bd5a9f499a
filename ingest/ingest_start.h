/* ingest_start: the phased start and stop of sluice-ingest's modules, so
 * main() only wires them: database (migrations, read pool), then Kafka
 * (producer, delivery-report thread, topics). */
#ifndef SLUICE_INGEST_START_H
#define SLUICE_INGEST_START_H

#include "ingest.h"

/* Logs what failed and returns -1; a partial start is undone by ingest_stop. */
int ingest_start(struct ingest *app);
/* Called once the daemon is quiesced: answers every suspended request (a
 * parked wait as timed out, a write as its delivery report says, one Kafka
 * never took as 503), waits a bounded time for those answers, and stops the
 * delivery-report threads, so the HTTP server can be stopped without
 * aborting a request or resuming a freed one. */
void ingest_drain(struct ingest *app);
/* After the HTTP server is stopped: frees what requests were using. */
void ingest_stop(struct ingest *app);

#endif
