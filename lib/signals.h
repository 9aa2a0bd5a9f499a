/* signals: the stop and reload flags every process's main loop polls.
 *
 * SIGINT and SIGTERM clear signals_running; SIGHUP sets signals_reload (the
 * routing file). Or, for a main thread with nothing else to do, sigwait. These are globals because
 * a signal handler can reach nothing else; only the handler writes them, and main loops read them
 * (clearing signals_reload once they have reloaded). */
#ifndef SLUICE_SIGNALS_H
#define SLUICE_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

extern volatile sig_atomic_t signals_running;
extern volatile sig_atomic_t signals_reload;

/* Installs the handlers, for main loops that poll the flags; SIGHUP sets
 * signals_reload when the process reloads something, else it is ignored. */
void signals_install(bool reload);

/* For a main thread that only waits for signals: blocks SIGINT, SIGTERM and
 * SIGHUP in the calling thread and in every thread it starts afterwards (so
 * call it first), and signals_next returns the next one. Nothing is lost
 * between two waits: a signal that comes meanwhile stays pending. */
void signals_block(void);
int signals_next(void);

#endif
