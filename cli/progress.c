#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define TTY_INTERVAL 0.1
#define BAR_MIN 10
#define BAR_MAX 30

void cli_progress_bytes(uint64_t n, char *out, size_t outlen)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) {
        snprintf(out, outlen, "%u B", (unsigned)n);
        return;
    }
    double v = (double)n / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    /* Three significant digits, without rounding 1023.96 KiB up to "1024.0". */
    if (v < 10)
        snprintf(out, outlen, "%.2f %s", (double)(long)(v * 100) / 100, units[u]);
    else if (v < 100)
        snprintf(out, outlen, "%.1f %s", (double)(long)(v * 10) / 10, units[u]);
    else
        snprintf(out, outlen, "%ld %s", (long)v, units[u]);
}

static unsigned percent(uint64_t done, uint64_t total)
{
    if (done >= total)
        return 100;
    /* Not 100 until it is: a floor, in a way that cannot overflow. */
    return total > UINT64_MAX / 100 ? (unsigned)(done / (total / 100))
                                    : (unsigned)(done * 100 / total);
}

void cli_progress_format(char *out, size_t outlen, const char *label, uint64_t done, uint64_t total,
                         const char *detail, int columns)
{
    if (outlen == 0)
        return;
    int room = columns - 1;
    int fixed = (int)strlen(label) + 2 + (detail[0] ? 2 + (int)strlen(detail) : 0);
    int bar = total ? room - fixed - 2 - 6 : 0; /* "[" "]" and "  NNN%" */
    if (bar > BAR_MAX)
        bar = BAR_MAX;
    char cells[BAR_MAX + 1] = "";
    if (bar >= BAR_MIN) {
        unsigned filled = (unsigned)((uint64_t)percent(done, total) * (unsigned)bar / 100);
        for (int i = 0; i < bar; i++)
            cells[i] = i < (int)filled ? '#' : '.';
        cells[bar] = '\0';
    }
    if (cells[0])
        snprintf(out, outlen, "%s  [%s] %3u%%%s%s", label, cells, percent(done, total),
                 detail[0] ? "  " : "", detail);
    else if (total)
        snprintf(out, outlen, "%s  %u%%%s%s", label, percent(done, total), detail[0] ? "  " : "",
                 detail);
    else
        snprintf(out, outlen, "%s%s%s", label, detail[0] ? "  " : "", detail);
    if (columns > 0 && strlen(out) > (size_t)room)
        out[room] = '\0';
}

void cli_progress_plain(char *out, size_t outlen, const char *label, uint64_t done, uint64_t total,
                        const char *detail)
{
    if (total)
        snprintf(out, outlen, "%s: %s (%u%%)", label, detail, percent(done, total));
    else
        snprintf(out, outlen, "%s: %s", label, detail);
}

double cli_progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_init(struct cli_progress *p, FILE *f, bool tty)
{
    memset(p, 0, sizeof(*p));
    p->f = f;
    p->tty = tty;
    p->columns = 80;
    /* Plain lines tell how a long run goes on; a short one needs none. */
    if (!tty)
        p->last = cli_progress_now();
    struct winsize ws;
    if (tty && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        p->columns = ws.ws_col;
    } else {
        const char *c = getenv("COLUMNS");
        int n = c ? atoi(c) : 0;
        if (n > 0)
            p->columns = n;
    }
}

void cli_progress_show(struct cli_progress *p, const char *label, uint64_t done, uint64_t total,
                       const char *detail, bool force)
{
    double now = cli_progress_now();
    double interval = p->tty ? TTY_INTERVAL : CLI_PROGRESS_PLAIN_SECONDS;
    if (!force && p->last > 0 && now - p->last < interval)
        return;
    p->last = now;
    char line[512];
    if (p->tty) {
        cli_progress_format(line, sizeof(line), label, done, total, detail, p->columns);
        /* Back to the start of the line, the new text, then erase the rest. */
        fprintf(p->f, "\r%s\033[K", line);
        p->drawn = true;
    } else {
        cli_progress_plain(line, sizeof(line), label, done, total, detail);
        fprintf(p->f, "%s\n", line);
    }
    fflush(p->f);
}

void cli_progress_clear(struct cli_progress *p)
{
    if (p->drawn) {
        fputs("\r\033[K", p->f);
        fflush(p->f);
        p->drawn = false;
    }
}
