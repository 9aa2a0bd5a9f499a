/* sluice-devkafka: the embedded Kafka for local runs and tests.
 *
 * librdkafka's mock cluster, speaking the real protocol on loopback TCP ports,
 * with every Sluice topic and its dead-letter topic created up front (the mock
 * cluster cannot create topics through the Admin API). Nothing in Sluice knows
 * this is not Apache Kafka: clients only see the bootstrap list. The log lives
 * in memory and is gone when the process exits; each partition keeps only
 * its last 5 MiB (older message sets are dropped, as retention would), so the
 * default of 128 partitions lets ~640 MiB (about a million typical events)
 * wait for slow consumers.
 *
 * Its brokers set TCP_NODELAY on every connection they accept, as Apache
 * Kafka does: the mock cluster (librdkafka 2.0.2) does not, and then a
 * producer that sends to one broker at a time (keyless writes, the sticky
 * partitioner) has every other produce response held by Nagle until the
 * client's delayed ACK, ~40 ms (p99 62 ms against 2-3 ms with it). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include "collection.h"
#include "kafka.h"
#include "log.h"
#include "signals.h"

#include <dlfcn.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The mock cluster's accept and accept4, which librdkafka calls from its
 * broker threads, resolve to these (the executable comes first in symbol
 * lookup); they call libc's and set TCP_NODELAY on the new connection. No
 * hook of librdkafka reaches the sockets the mock cluster accepts. */
static int nodelay(int fd)
{
    int one = 1;
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    int (*libc_accept)(int, struct sockaddr *, socklen_t *) =
        (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    return libc_accept ? nodelay(libc_accept(fd, addr, len)) : -1;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int (*libc_accept4)(int, struct sockaddr *, socklen_t *, int) =
        (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    return libc_accept4 ? nodelay(libc_accept4(fd, addr, len, flags)) : -1;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
            "Usage: %s [--brokers N] [--partitions N] [--bootstrap-file PATH]\n\n"
            "Embedded Kafka (librdkafka mock cluster) on loopback for local runs and tests.\n"
            "  --brokers N          brokers in the cluster (default 3)\n"
            "  --partitions N       partitions per topic (default 128: the mock keeps only\n"
            "                       the last 5 MiB of each partition, so partitions are\n"
            "                       what holds a backlog for slow consumers)\n"
            "  --bootstrap-file P   write the bootstrap servers to P once topics exist\n\n"
            "Environment:\n"
            "  SLUICE_TOPIC_PREFIX  topic name prefix (default: sluice.)\n",
            prog);
}

static int parse_count(const char *prog, const char *flag, const char *value, int max)
{
    char *end;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || *end || v < 1 || v > max) {
        fprintf(stderr, "%s: %s expects an integer from 1 to %d\n", prog, flag, max);
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    signals_block();
    int brokers = 3, partitions = 128;
    const char *bootstrap_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout, argv[0]);
            return 0;
        } else if (!strcmp(argv[i], "--brokers")) {
            brokers = parse_count(argv[0], argv[i], argv[i + 1], 16);
            i++;
        } else if (!strcmp(argv[i], "--partitions")) {
            partitions = parse_count(argv[0], argv[i], argv[i + 1], 256);
            i++;
        } else if (!strcmp(argv[i], "--bootstrap-file") && i + 1 < argc) {
            bootstrap_file = argv[++i];
        } else {
            usage(stderr, argv[0]);
            return 2;
        }
    }
    const char *prefix = getenv("SLUICE_TOPIC_PREFIX");
    if (!prefix || !*prefix)
        prefix = "sluice.";
    log_set_process("sluice-devkafka");

    /* The mock cluster needs a client handle to live in; it never produces. */
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "sluice-devkafka: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "sluice-devkafka: cannot start the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (size_t i = 0; i < collection_count; i++) {
        for (int dlq = 0; dlq <= 1; dlq++) {
            char topic[256];
            kafka_topic_name(topic, sizeof(topic), prefix, collections[i].name, dlq);
            int rf = brokers < 3 ? brokers : 3;
            if (rd_kafka_mock_topic_create(mc, topic, partitions, rf) != RD_KAFKA_RESP_ERR_NO_ERROR)
                log_warn("could not create topic", "topic", topic);
        }
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
    if (bootstrap_file) {
        /* Write then rename, so a reader never sees half a line. */
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", bootstrap_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", bootstraps) < 0 || fclose(f) != 0 ||
            rename(tmp, bootstrap_file) != 0) {
            fprintf(stderr, "sluice-devkafka: cannot write %s\n", bootstrap_file);
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return 1;
        }
    }
    printf("bootstrap.servers=%s\n", bootstraps);
    fflush(stdout);
    log_info("embedded kafka ready", "bootstrap_servers", bootstraps);

    /* Blocked in every thread since before the mock cluster started, and
     * taken here: a handler would run on whichever thread the kernel picks
     * (the mock cluster's, whose poll it cut short with EINTR) while this
     * thread went on waiting in pause(), and SIGTERM never stopped it. */
    while (signals_next() == SIGHUP)
        continue;

    log_info("embedded kafka stopping");
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
