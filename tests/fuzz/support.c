#include "support.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The random source's state: reset before every input (LLVMFuzzerTestOneInput)
 * so ids drawn from it are a function of the input alone. Global because
 * random_bytes's callers hold no context to put it in; libFuzzer runs one
 * input at a time on one thread. */
static uint64_t random_state;

static uint64_t splitmix64(void)
{
    uint64_t z = (random_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Linked in place of random_bytes (lib/random.c, whose per-thread buffer
 * would carry bytes from one input to the next), getrandom(2) and
 * time_now_us() for the project's code (-Wl,--wrap in CMakeLists.txt):
 * uuid_v7 and trace ids then repeat from run to run, and "now" is
 * FUZZ_NOW_US (a birthday "before today" always means the same day). The
 * sanitizers and libFuzzer keep the real ones. */
int __wrap_random_bytes(void *buf, size_t len);
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags);
int64_t __wrap_time_now_us(void);

int __wrap_random_bytes(void *buf, size_t len)
{
    unsigned char *out = buf;
    for (size_t i = 0; i < len; i++)
        out[i] = (unsigned char)(splitmix64() >> 56);
    return 0;
}

ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags)
{
    __wrap_random_bytes(buf, len);
    return (ssize_t)len;
}

int64_t __wrap_time_now_us(void)
{
    return FUZZ_NOW_US;
}

/* ingest/ops.c serves GET /openapi.json, /docs and /console from files the
 * main build generates (CMakeLists.txt, ingest/static/embed.cmake). No
 * harness serves them: empty tables stand in, so the archive links without
 * running npm. */
#include "docs_assets.h"

const struct envelope_origin fuzz_origin = {"fuzz", NULL};
const char openapi_json[] = "{}";
const struct docs_asset docs_assets[] = {{.name = NULL}};
const struct docs_asset console_assets[] = {{.name = NULL}};
const char docs_assets_missing[] = "not built into the fuzz harnesses";
const char docs_assets_origin[] = "";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* Refusals of bad input are the normal case here, not news. */
    log_set_level("error");
    if (fuzz_init)
        fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    random_state = 0x5eed;
    return fuzz_one(data, size);
}

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    fprintf(stderr, "\n%s:%d: invariant failed: %s\n  ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

char *fuzz_strndup(const void *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

void fuzz_split_line(const uint8_t *data, size_t size, char **head, const uint8_t **rest,
                     size_t *rest_len)
{
    const uint8_t *nl = size ? memchr(data, '\n', size) : NULL;
    size_t head_len = nl ? (size_t)(nl - data) : size;
    *head = fuzz_strndup(data, head_len);
    *rest = nl ? nl + 1 : data + size;
    *rest_len = nl ? size - head_len - 1 : 0;
}

char *fuzz_line(const char *text, size_t n)
{
    const char *p = text;
    for (size_t i = 0; i < n; i++) {
        p = strchr(p, '\n');
        if (!p)
            return NULL;
        p++;
    }
    return fuzz_strndup(p, strcspn(p, "\n"));
}

void fuzz_check_json_round_trip(const json_t *v)
{
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    FUZZ_CHECK(text != NULL, "json_dumps failed");
    json_error_t err;
    json_t *back = json_loads(text, JSON_DECODE_ANY, &err);
    FUZZ_CHECK(back != NULL, "jansson cannot read back what it wrote: %s (%s)", err.text, text);
    FUZZ_CHECK(json_equal(v, back), "read back differs: %s", text);
    json_decref(back);
    free(text);
}
