#include "jsonsplit.h"

#include <string.h>

enum {
    ST_START,        /* before the first non-blank byte */
    ST_BEFORE_VALUE, /* array: a value (or ']' for an empty array) comes next */
    ST_VALUE,        /* inside a value */
    ST_AFTER_VALUE,  /* array: ',' or ']' comes next */
    ST_DONE,         /* array closed: only blanks may follow */
    ST_LINE,         /* NDJSON: inside a line */
};

void jsonsplit_init(struct jsonsplit *s, size_t max_record, jsonsplit_fn emit, void *opaque)
{
    memset(s, 0, sizeof(*s));
    s->max_record = max_record;
    s->emit = emit;
    s->opaque = opaque;
}

void jsonsplit_free(struct jsonsplit *s)
{
    buf_free(&s->record);
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void keep(struct jsonsplit *s, char c)
{
    if (s->oversize)
        return;
    if (s->record.len >= s->max_record) {
        s->oversize = true;
        buf_free(&s->record);
        return;
    }
    buf_append(&s->record, &c, 1);
}

static void end_record(struct jsonsplit *s)
{
    if (s->oversize)
        s->emit(s->opaque, s->index, NULL, 0, "record is larger than the per-record limit");
    else
        s->emit(s->opaque, s->index, s->record.data ? s->record.data : "", s->record.len, NULL);
    s->index++;
    buf_reset(&s->record);
    s->oversize = false;
    s->depth = 0;
    s->in_string = s->escaped = false;
}

static void fail(struct jsonsplit *s, const char *why)
{
    s->emit(s->opaque, s->index, NULL, 0, why);
    s->failed = true;
    buf_free(&s->record);
}

/* One byte of an array element; returns true when the byte ended the value
 * without belonging to it (a ',' or ']' after a scalar). */
static bool value_byte(struct jsonsplit *s, char c)
{
    if (s->in_string) {
        keep(s, c);
        if (s->escaped)
            s->escaped = false;
        else if (c == '\\')
            s->escaped = true;
        else if (c == '"')
            s->in_string = false;
    } else if (c == '"') {
        keep(s, c);
        s->in_string = true;
    } else if (c == '{' || c == '[') {
        keep(s, c);
        s->depth++;
    } else if (c == ']' && s->depth == 0) {
        return true; /* "]" closing the array right after a scalar */
    } else if (c == '}' || c == ']') {
        /* A '}' that closes nothing ("[2}]") is part of a malformed
         * record, for the callback to refuse: dropping it would cut "2". */
        keep(s, c);
        if (s->depth > 0)
            s->depth--;
    } else if (c == ',' && s->depth == 0) {
        return true;
    } else if (blank(c) && s->depth == 0) {
        return true;
    } else {
        keep(s, c);
        return false;
    }
    return false;
}

void jsonsplit_feed(struct jsonsplit *s, const char *data, size_t len)
{
    for (size_t i = 0; i < len && !s->failed; i++) {
        char c = data[i];
        switch (s->state) {
        case ST_START:
            if (blank(c))
                break;
            s->seen = true;
            if (s->mode == JSONSPLIT_ARRAY || (s->mode == JSONSPLIT_DETECT && c == '[')) {
                if (c != '[') {
                    fail(s, "the body is not a JSON array");
                    break;
                }
                s->mode = JSONSPLIT_ARRAY;
                s->state = ST_BEFORE_VALUE;
            } else if (c != '{') {
                /* Records are objects: a scalar or text at the top is not a
                 * stream of records, whatever follows. */
                fail(s, s->mode == JSONSPLIT_NDJSON
                            ? "the body is not NDJSON of objects (it does not start with '{')"
                            : "the body is neither a JSON array nor NDJSON of objects (it starts "
                              "with neither '[' nor '{')");
                break;
            } else {
                s->mode = JSONSPLIT_NDJSON;
                s->state = ST_LINE;
                keep(s, c);
            }
            break;
        case ST_BEFORE_VALUE:
            if (blank(c))
                break;
            if (c == ']' && s->index == 0) {
                s->state = ST_DONE;
                break;
            }
            if (c == ',' || c == ']') {
                fail(s, "a value is missing in the array");
                break;
            }
            s->state = ST_VALUE;
            value_byte(s, c);
            /* A container that closed at once ({} or []) is handled below. */
            break;
        case ST_VALUE: {
            bool container =
                s->record.len > 0 && (s->record.data[0] == '{' || s->record.data[0] == '[');
            bool ended = value_byte(s, c);
            if (ended) {
                end_record(s);
                s->state = c == ',' ? ST_BEFORE_VALUE : c == ']' ? ST_DONE : ST_AFTER_VALUE;
            } else if (container && s->depth == 0 && !s->in_string) {
                end_record(s);
                s->state = ST_AFTER_VALUE;
            }
            break;
        }
        case ST_AFTER_VALUE:
            if (blank(c))
                break;
            if (c == ',')
                s->state = ST_BEFORE_VALUE;
            else if (c == ']')
                s->state = ST_DONE;
            else
                fail(s, "expected ',' or ']' after a record");
            break;
        case ST_DONE:
            if (!blank(c))
                fail(s, "data after the end of the array");
            break;
        case ST_LINE:
            if (c == '\n') {
                while (s->record.len > 0 && blank(s->record.data[s->record.len - 1]))
                    s->record.data[--s->record.len] = '\0';
                if (s->record.len > 0 || s->oversize)
                    end_record(s);
            } else if (s->record.len > 0 || s->oversize || !blank(c)) {
                keep(s, c);
            }
            break;
        }
    }
}

bool jsonsplit_finish(struct jsonsplit *s)
{
    if (s->failed)
        return false;
    switch (s->state) {
    case ST_LINE:
        jsonsplit_feed(s, "\n", 1);
        return true;
    case ST_START:
    case ST_DONE:
        return true;
    case ST_VALUE:
        /* A scalar may end at the end of the stream only inside an array,
         * which still needs its ']'. */
    default:
        fail(s, "the body ended inside the array");
        return false;
    }
}
