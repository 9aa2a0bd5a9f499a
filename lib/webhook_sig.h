/* webhook_sig: Standard Webhooks signatures, made (the webhook channel) and
 * checked (signed inbound POST /v1/events, issue 11 item 5).
 *
 * webhook-signature is "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" for
 * each active secret, space-separated, so receivers keep verifying while a
 * secret is rotated. Secrets are "whsec_<base64 key>". Pure functions, safe
 * from any thread; replay (a webhook-id seen twice) is the caller's check. */
#ifndef SLUICE_WEBHOOK_SIG_H
#define SLUICE_WEBHOOK_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SIG_TOLERANCE_S 300 /* the spec's five minutes, either way */
#define WEBHOOK_SIG_ID_MAX 256      /* webhook-id, bytes */
#define WEBHOOK_SIG_HEADER_MAX 4096 /* webhook-signature, bytes */

/* Writes the header value for the secrets; -1 with a reason in out when a
 * secret is not "whsec_" + base64, or out is too small. */
int webhook_signature(const char *const *secrets, size_t nsecrets, const char *msg_id,
                      int64_t timestamp, const char *body, size_t bodylen, char *out,
                      size_t outlen);

/* Whether secret is "whsec_" + padded base64 of 1 to 255 bytes, i.e. one the
 * two functions here accept (for configuration checks). */
bool webhook_secret_valid(const char *secret);

/* 0 when the request is signed by one of the nsecrets (>= 1) secrets: some
 * "v1,<base64>" entry of signature_header (space-separated, other versions
 * and unknown entries ignored) equals the signature of
 * msg_id.timestamp_text.body under any secret, compared in constant time.
 * -1 with a reason fit for a 401 (never naming a secret or a signature) in
 * why otherwise:
 * - msg_id (webhook-id) missing, empty, over WEBHOOK_SIG_ID_MAX, or not visible
 *   ASCII without "." (a "." would let id and timestamp trade bytes inside
 *   the signed text);
 * - timestamp_text (webhook-timestamp) not decimal digits without a leading
 *   zero (at most 15), or more than tolerance_s seconds (<= 0: the default
 *   WEBHOOK_SIG_TOLERANCE_S) before or after now_s;
 * - signature_header missing, over WEBHOOK_SIG_HEADER_MAX, without a v1
 *   entry, or with none that matches;
 * - a secret that webhook_secret_valid refuses (configuration error: fail
 *   closed). */
int webhook_verify(const char *const *secrets, size_t nsecrets, const char *msg_id,
                   const char *timestamp_text, const char *signature_header, const char *body,
                   size_t bodylen, int64_t now_s, int tolerance_s, char *why, size_t whylen);

#endif
