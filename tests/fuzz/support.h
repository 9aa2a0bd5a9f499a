/* support: what every libFuzzer harness here shares.
 *
 * A harness is one file, tests/fuzz/fuzz_<name>.c, defining fuzz_one (and,
 * when it needs one-time setup, fuzz_init); its seed inputs are the files of
 * tests/fuzz/corpus/<name>/. support.c holds libFuzzer's entry points, which
 * reset the deterministic clock and random source before every input, so
 * the same bytes always take the same path (a crash found once replays).
 *
 * An invariant that fails aborts with FUZZ_CHECK's message: libFuzzer then
 * saves the input as a crash, like a sanitizer report. */
#ifndef SLUICE_FUZZ_SUPPORT_H
#define SLUICE_FUZZ_SUPPORT_H

#include "envelope.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* What time_now_us() answers in a harness: 2024-05-01T12:00:00Z. */
#define FUZZ_NOW_US 1714564800000000LL

/* One input: return 0 (libFuzzer's other values are reserved). */
int fuzz_one(const uint8_t *data, size_t size);
/* Who writes in the harnesses: a principal of the default tenant. */
extern const struct envelope_origin fuzz_origin;
/* Optional one-time setup, before the first input. */
void fuzz_init(void) __attribute__((weak));

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                     \
    } while (0)

/* A NUL-terminated heap copy of n bytes (a NUL inside stays: C string
 * functions then see a prefix, as they would of a header). Exact size, so
 * ASan catches a read past the end; never NULL (aborts instead). */
char *fuzz_strndup(const void *data, size_t n);

/* Splits an input at its first '\n': *head a heap copy of what comes before
 * (free it), *rest and *rest_len what follows. Without a newline the head is
 * the whole input and the rest is empty. */
void fuzz_split_line(const uint8_t *data, size_t size, char **head, const uint8_t **rest,
                     size_t *rest_len);

/* The n-th line of text (0-based, '\n'-separated) as a heap copy, or NULL
 * past the last line. */
char *fuzz_line(const char *text, size_t n);

/* json_dumps then json_loads: the text jansson writes of v reads back equal
 * to v. Aborts (FUZZ_CHECK) when not. */
void fuzz_check_json_round_trip(const json_t *v);

#endif
