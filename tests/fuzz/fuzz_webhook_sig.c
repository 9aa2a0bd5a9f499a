/* webhook_sig: the Standard Webhooks headers a signed source sends
 * (lib/webhook_sig.c webhook_verify). The input is four lines: webhook-id,
 * webhook-timestamp, webhook-signature, then the body. Nothing is accepted
 * that the secret did not sign: an accepted request's header holds the
 * signature webhook_signature computes; and what webhook_signature signs at
 * a timestamp within the window is accepted. */
#include "support.h"

#include "webhook_sig.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const SECRETS[] = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
#define NOW_S (FUZZ_NOW_US / 1000000)

int fuzz_one(const uint8_t *data, size_t size)
{
    char *head;
    const uint8_t *rest;
    size_t rest_len;
    fuzz_split_line(data, size, &head, &rest, &rest_len);
    char *id = fuzz_line(head, 0);
    free(head);
    char *text = fuzz_strndup(rest, rest_len);
    char *ts = fuzz_line(text, 0), *sig = fuzz_line(text, 1);
    const char *body = ts && sig ? strchr(strchr(text, '\n') + 1, '\n') : NULL;
    body = body ? body + 1 : "";
    size_t bodylen = strlen(body);
    char why[200] = "";
    if (id && ts && sig &&
        webhook_verify(SECRETS, 1, id, ts, sig, body, bodylen, NOW_S, 0, why, sizeof(why)) == 0) {
        char expected[256];
        int64_t t = strtoll(ts, NULL, 10);
        FUZZ_CHECK(
            webhook_signature(SECRETS, 1, id, t, body, bodylen, expected, sizeof(expected)) == 0 &&
                strstr(sig, expected) != NULL,
            "accepted a signature the secret did not make");
    } else if (id && ts && sig) {
        FUZZ_CHECK(why[0], "refused without a reason");
    }
    if (id && *id && strlen(id) < WEBHOOK_SIG_ID_MAX && !strchr(id, '.') &&
        strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
            strlen(id)) {
        char signature[256], now[32];
        snprintf(now, sizeof(now), "%" PRId64, (int64_t)NOW_S);
        FUZZ_CHECK(webhook_signature(SECRETS, 1, id, NOW_S, body, bodylen, signature,
                                     sizeof(signature)) == 0,
                   "cannot sign");
        FUZZ_CHECK(webhook_verify(SECRETS, 1, id, now, signature, body, bodylen, NOW_S, 0, why,
                                  sizeof(why)) == 0,
                   "its own signature refused: %s", why);
    }
    free(id);
    free(ts);
    free(sig);
    free(text);
    return 0;
}
