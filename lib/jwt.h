/* jwt: verifies JWT bearer tokens (RFC 7519 in JWS compact form) for
 * sluice-ingest's authentication; libjose does the signature arithmetic.
 *
 * The verifier, never the token, chooses the key: a JWKS key by the token's
 * `kid` (a token without one only when exactly one key fits its algorithm), or
 * the configured HS256 secret for HS256 and nothing else. The token's `alg`
 * must be in the allow-list and fit the key's kty, crv and alg; `none` is
 * never accepted. Then `exp` (required), `nbf` and `iat` (with leeway), `iss`
 * and `aud` (when configured), and `sub` (required) are checked.
 *
 * A verifier owns its key set, a copy of every configuration string it needs,
 * and, when a JWKS is configured, a refresh thread: jwt_verify never does I/O
 * and never waits on it. A token naming an unknown `kid` fails and asks that
 * thread to reload the JWKS, at most once per refresh_min_interval_s; a
 * reload that fails keeps the key set in use. jwt_verifier_free joins it. */
#ifndef SLUICE_JWT_H
#define SLUICE_JWT_H

#include <stddef.h>
#include <stdint.h>

/* Tokens longer than this are refused before any parsing. */
#define JWT_MAX_TOKEN 8192

/* Borrowed by jwt_verifier_new only: the verifier keeps copies. NULL or ""
 * means "not set" for every string. */
struct jwt_config {
    const char *jwks_file;    /* a JWKS document ({"keys": [...]}) on disk */
    const char *jwks_url;     /* or an http(s) URL serving one (fetched with a 5 s timeout) */
    const char *hs256_secret; /* raw bytes of a shared secret, at least 32 of them */
    const char *issuer;       /* `iss` must equal it when set */
    const char *audience;     /* `aud` (string or array) must contain it when set */
    /* Space-separated allow-list. Default "RS256 ES256", plus "HS256" when
     * hs256_secret is set. Known: RS256/384/512, PS256/384/512,
     * ES256/384/512, HS256 (only with hs256_secret). */
    const char *algorithms;
    int leeway_s;               /* clock skew allowed for exp/nbf/iat; 0 = default 30 */
    int refresh_min_interval_s; /* least time between JWKS reloads; 0 = default 30 */
    const char *tenant_claim;   /* claim naming the tenant; default "tenant" */
};

/* What an accepted token says. Values that would not fit are refused, never
 * cut short; a claim holding a NUL is refused too. */
struct jwt_claims {
    char sub[256];
    char tenant[64]; /* "" when the token has no tenant claim */
    /* Space-separated, from "scope" (a string) or else "scp" (a string or an
     * array of strings); "" when neither is present. */
    char scopes[512];
    int64_t exp;
};

struct jwt_verifier;

/* Checks the configuration, loads the key set (reading the file or fetching
 * the URL, in the calling thread) and starts the refresh thread. NULL with a
 * reason in err on a bad setting or an unreadable, invalid or unusable key
 * set. At least one of a JWKS (file or URL, not both) and hs256_secret. */
struct jwt_verifier *jwt_verifier_new(const struct jwt_config *cfg, char *err, size_t errlen);

/* Verifies token (NUL-terminated) at Unix time now_s. 0 with *out filled, or
 * -1 with a short reason in why ("token expired", "unknown key id", ...) that
 * holds neither secrets nor any text of the token. Thread-safe; no I/O. */
int jwt_verify(struct jwt_verifier *v, const char *token, int64_t now_s, struct jwt_claims *out,
               char *why, size_t whylen);

/* Reloads the JWKS now, in the calling thread, ignoring the rate limit: it
 * reads a file or waits for the URL, so never call it from an event thread
 * (it is for tests and for an operator's reload). -1 with a reason when
 * there is no JWKS or the new one is refused; the keys in use stay then. */
int jwt_verifier_refresh_now(struct jwt_verifier *v, char *err, size_t errlen);

/* Counters for metrics and tests. refresh_requests counts the reloads an
 * unknown kid asked for (after the rate limit); refreshes_ok and
 * refreshes_failed count finished reloads, the refresh thread's and
 * jwt_verifier_refresh_now's (the load at start is neither). A test waits
 * for a background reload by watching their sum grow. */
struct jwt_stats {
    uint64_t refresh_requests;
    uint64_t refreshes_ok;
    uint64_t refreshes_failed;
    size_t keys; /* usable JWKS keys in the current set */
};
void jwt_verifier_stats(struct jwt_verifier *v, struct jwt_stats *out);

/* Stops and joins the refresh thread (an ongoing fetch is cut short) and
 * frees everything. NULL is allowed. */
void jwt_verifier_free(struct jwt_verifier *v);

#endif
