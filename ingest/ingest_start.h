/* ingest_start: the phased start and stop of sluice-ingest's modules, so
 * main() only wires them: database (migrations, read pool), then Kafka
 * (producer, delivery-report thread, topics). */
#ifndef SLUICE_INGEST_START_H
#define SLUICE_INGEST_START_H

#include "ingest.h"

/* Logs what failed and returns -1; a partial start is undone by ingest_stop. */
int ingest_start(struct ingest *app);
/* Waits (bounded by the ack timeout) until every suspended request has its
 * delivery report, so the HTTP server can be stopped without aborting any. */
void ingest_drain(struct ingest *app);
void ingest_stop(struct ingest *app);

#endif
