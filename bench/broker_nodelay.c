/* libbench-broker-nodelay.so: TCP_NODELAY on every connection the embedded
 * broker accepts, preloaded into sluice-devkafka by bench/run.sh.
 *
 * librdkafka's mock cluster (Debian 12's 2.0.2) never sets TCP_NODELAY on
 * the sockets it accepts; a real Kafka broker always does. Without it, a
 * producer that sends its batches to one broker at a time (keyless, the
 * sticky partitioner) has each second produce response held by Nagle until
 * the client's delayed ACK, ~40 ms: measured here, the naive front did
 * 16-17k req/s with a p99 of 45 ms against the plain mock and 40-41k with a
 * p99 of 2.3-2.7 ms with this. Writes spread over every partition (random
 * keys) hide it, so without it the bench would favour them.
 *
 *   LD_PRELOAD=build/libbench-broker-nodelay.so build/sluice-devkafka ... */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static int nodelay(int fd)
{
    int one = 1;
    /* Not TCP (a Unix socket): setsockopt fails and changes nothing. */
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    int (*real)(int, struct sockaddr *, socklen_t *) =
        (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    return real ? nodelay(real(fd, addr, len)) : -1;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int (*real)(int, struct sockaddr *, socklen_t *, int) =
        (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    return real ? nodelay(real(fd, addr, len, flags)) : -1;
}
