#include "signals.h"

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
    if (reload)
        sigaction(SIGHUP, &sa, NULL);
}
