/* signals: the stop and reload flags every process's main loop polls.
 *
 * SIGINT and SIGTERM clear signals_running; SIGHUP sets signals_reload (the
 * routing file). These are globals because a signal handler can reach
 * nothing else; only the handler writes them, and main loops read them
 * (clearing signals_reload once they have reloaded). */
#ifndef SLUICE_SIGNALS_H
#define SLUICE_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

extern volatile sig_atomic_t signals_running;
extern volatile sig_atomic_t signals_reload;

/* Installs the handlers; SIGHUP only when the process reloads something. */
void signals_install(bool reload);

#endif
