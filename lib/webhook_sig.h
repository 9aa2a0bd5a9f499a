/* webhook_sig: Standard Webhooks signatures (issue 5 groundwork).
 *
 * webhook-signature is "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" for
 * each active secret, space-separated, so receivers keep verifying while a
 * secret is rotated. Secrets are "whsec_<base64 key>". Pure functions. */
#ifndef SLUICE_WEBHOOK_SIG_H
#define SLUICE_WEBHOOK_SIG_H

#include <stddef.h>
#include <stdint.h>

/* Writes the header value for the secrets; -1 with a reason in out when a
 * secret is not "whsec_" + base64, or out is too small. */
int webhook_signature(const char *const *secrets, size_t nsecrets, const char *msg_id,
                      int64_t timestamp, const char *body, size_t bodylen, char *out,
                      size_t outlen);

#endif
