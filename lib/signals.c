#include "signals.h"

#include <pthread.h>

volatile sig_atomic_t signals_running = 1;
volatile sig_atomic_t signals_reload = 0;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        signals_reload = 1;
    else
        signals_running = 0;
}

void signals_install(bool reload)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A process that reloads nothing ignores SIGHUP rather than dying of it:
     * an operator reloading the routing of every process, or a closing
     * terminal, must not stop a worker mid-batch. */
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGHUP, reload ? &sa : &ignore, NULL);
}

static void stop_and_reload(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

void signals_block(void)
{
    sigset_t set;
    stop_and_reload(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int signals_next(void)
{
    sigset_t set;
    stop_and_reload(&set);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    return sig;
}
