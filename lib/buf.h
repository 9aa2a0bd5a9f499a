/* buf: a growable byte buffer, always NUL-terminated. The owner frees it with
 * buf_free; buf_steal hands the bytes to the caller (free() them). */
#ifndef SLUICE_BUF_H
#define SLUICE_BUF_H

#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Room for extra more bytes (and the NUL) without another allocation; -1
 * when out of memory. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends the whole file at path; -1 when it cannot be opened or read. */
int buf_read_file(struct buf *b, const char *path);
void buf_reset(struct buf *b);
char *buf_steal(struct buf *b);
void buf_free(struct buf *b);

#endif
