#include "jwt.h"

#include "buf.h"
#include "log.h"
#include "url.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>
#include <jose/openssl.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_LEEWAY_S 30
#define MAX_LEEWAY_S 600
#define DEFAULT_REFRESH_S 30
#define FETCH_TIMEOUT_MS 5000L
#define JWKS_MAX_BYTES (1024 * 1024)
#define JWKS_MAX_KEYS 100
/* RFC 7518 section 3.2: an HS256 key at least as long as the hash; libjose
 * refuses shorter ones at every verification, so say it once at start. */
#define HS256_MIN_SECRET 32

enum kty { KTY_RSA, KTY_EC, KTY_OCT };

/* The algorithms a configuration may allow, with the key each one needs. */
static const struct alg_info {
    const char *name;
    enum kty kty;
    const char *crv; /* the curve, for EC */
} algs[] = {
    {"RS256", KTY_RSA, NULL},   {"RS384", KTY_RSA, NULL},   {"RS512", KTY_RSA, NULL},
    {"PS256", KTY_RSA, NULL},   {"PS384", KTY_RSA, NULL},   {"PS512", KTY_RSA, NULL},
    {"ES256", KTY_EC, "P-256"}, {"ES384", KTY_EC, "P-384"}, {"ES512", KTY_EC, "P-521"},
    {"HS256", KTY_OCT, NULL},
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

/* One usable JWKS key. Never changed once its set is published. */
struct key {
    json_t *jwk; /* public members only */
    enum kty kty;
    const char *crv; /* these three borrowed from jwk; NULL when absent */
    const char *kid;
    const char *alg;
};

/* A published set is read by many threads at once and changed by none. A
 * reader holds a reference to the set itself (refs) for as long as it uses a
 * key, so a reload can swap the set under a reader without waiting for it;
 * the JWKs' own jansson reference counts are never touched by readers. */
struct keyset {
    atomic_size_t refs;
    struct key *keys;
    size_t n;
};

struct jwt_verifier {
    char *jwks_file, *jwks_url, *issuer, *audience, *tenant_claim;
    unsigned allowed; /* bit i allows algs[i] */
    int64_t leeway_s;
    int64_t refresh_ms;
    json_t *hs256_jwk; /* an oct JWK of the secret, or NULL; never changed */
    /* libjose's default error handler writes to stderr, and what it would
     * describe is outsiders' tokens: this one says nothing. Shared by every
     * thread, which is safe: libjose only reads it. */
    jose_cfg_t *quiet;
    bool curl_inited;

    pthread_rwlock_t keys_lock;
    struct keyset *keys; /* under keys_lock; NULL without a JWKS */

    pthread_mutex_t mu; /* never held across I/O */
    pthread_cond_t wake;
    bool pending, stop;      /* under mu */
    int64_t last_request_ms; /* under mu; monotonic; -1 before the first */
    bool thread_started;
    pthread_t thread;
    atomic_bool stopping; /* read by an ongoing fetch, to give up */

    atomic_uint_fast64_t refresh_requests, refreshes_ok, refreshes_failed;
};

static void quiet_err(void *misc, const char *file, int line, uint64_t err, const char *fmt,
                      va_list ap)
{
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

/* *dst gets a copy of s, or NULL when s is unset; -1 when out of memory. */
static int copy_setting(char **dst, const char *s)
{
    *dst = NULL;
    if (!nonempty(s))
        return 0;
    *dst = strdup(s);
    return *dst ? 0 : -1;
}

static const struct alg_info *alg_find(const char *name, size_t len)
{
    for (size_t i = 0; i < NALGS; i++)
        if (strlen(algs[i].name) == len && memcmp(algs[i].name, name, len) == 0)
            return &algs[i];
    return NULL;
}

static unsigned alg_bit(const struct alg_info *a)
{
    return 1u << (unsigned)(a - algs);
}

static bool key_fits(const struct key *k, const struct alg_info *a)
{
    if (k->kty != a->kty)
        return false;
    if (a->crv && (!k->crv || strcmp(k->crv, a->crv) != 0))
        return false;
    return !k->alg || strcmp(k->alg, a->name) == 0;
}

/* ---- key sets ---- */

static void keyset_release(struct keyset *ks)
{
    if (!ks || atomic_fetch_sub(&ks->refs, 1) != 1)
        return;
    for (size_t i = 0; i < ks->n; i++)
        json_decref(ks->keys[i].jwk);
    free(ks->keys);
    free(ks);
}

static bool ops_allow_verify(const json_t *ops)
{
    size_t i;
    const json_t *op;
    json_array_foreach(ops, i, op)
    {
        if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
            return true;
    }
    return false;
}

/* Reads one JWK (borrowed) into *out: 1 when it is a usable signature key, 0
 * when it is another kind of key a JWKS may hold beside them (encryption,
 * symmetric, a type not supported), -1 with a reason when it is broken. */
static int key_parse(jose_cfg_t *jcfg, const json_t *k, struct key *out, char *err, size_t errlen)
{
    const char *kty = NULL, *use = NULL, *kid = NULL, *alg = NULL, *crv = NULL;
    json_t *ops = NULL; /* borrowed */
    if (json_unpack((json_t *)k, "{s:s, s?s, s?s, s?s, s?s, s?o}", "kty", &kty, "use", &use, "kid",
                    &kid, "alg", &alg, "crv", &crv, "key_ops", &ops) < 0) {
        snprintf(err, errlen, "not a JWK (an object whose kty, use, kid, alg, crv are strings)");
        return -1;
    }
    if (use && strcmp(use, "sig") != 0)
        return 0;
    if (ops && (!json_is_array(ops) || !ops_allow_verify(ops)))
        return 0;
    enum kty type;
    if (strcmp(kty, "RSA") == 0)
        type = KTY_RSA;
    else if (strcmp(kty, "EC") == 0)
        type = KTY_EC;
    else /* "oct" included: HS256 takes hs256_secret, never a JWKS key */
        return 0;
    if (type == KTY_EC && (!crv || (strcmp(crv, "P-256") != 0 && strcmp(crv, "P-384") != 0 &&
                                    strcmp(crv, "P-521") != 0)))
        return 0;
    if (alg) {
        const struct alg_info *a = alg_find(alg, strlen(alg));
        if (!a) /* an encryption algorithm, or one not supported */
            return 0;
        struct key probe = {.kty = type, .crv = crv};
        if (!key_fits(&probe, a)) {
            snprintf(err, errlen, "alg %s does not fit a %s key", alg, kty);
            return -1;
        }
    }
    json_t *pub = json_deep_copy(k); /* owned until stored in *out */
    if (!pub || !jose_jwk_pub(jcfg, pub)) {
        json_decref(pub);
        snprintf(err, errlen, "cannot copy the public key");
        return -1;
    }
    EVP_PKEY *pkey = jose_openssl_jwk_to_EVP_PKEY(jcfg, pub);
    int bits = pkey ? EVP_PKEY_get_bits(pkey) : 0;
    EVP_PKEY_free(pkey);
    if (!pkey) {
        json_decref(pub);
        snprintf(err, errlen, "invalid %s key material", kty);
        return -1;
    }
    if (type == KTY_RSA && bits < 2048) { /* RFC 7518 section 3.3; libjose refuses them too */
        json_decref(pub);
        snprintf(err, errlen, "RSA key of %d bits, below 2048", bits);
        return -1;
    }
    out->jwk = pub;
    out->kty = type;
    out->crv = json_string_value(json_object_get(pub, "crv"));
    out->kid = json_string_value(json_object_get(pub, "kid"));
    out->alg = json_string_value(json_object_get(pub, "alg"));
    return 1;
}

/* The usable keys of a JWKS document (borrowed), or NULL with a reason. */
static struct keyset *keyset_parse(jose_cfg_t *jcfg, const json_t *doc, char *err, size_t errlen)
{
    const json_t *list = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(list)) {
        snprintf(err, errlen, "not a JWKS (an object with a \"keys\" array)");
        return NULL;
    }
    size_t n = json_array_size(list);
    if (n > JWKS_MAX_KEYS) {
        snprintf(err, errlen, "%zu keys, more than %d", n, JWKS_MAX_KEYS);
        return NULL;
    }
    struct keyset *ks = calloc(1, sizeof(*ks));
    if (!ks || !(ks->keys = calloc(n ? n : 1, sizeof(*ks->keys)))) {
        free(ks);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&ks->refs, 1); /* the verifier's, once published */
    for (size_t i = 0; i < n; i++) {
        char why[160];
        int r = key_parse(jcfg, json_array_get(list, i), &ks->keys[ks->n], why, sizeof(why));
        if (r < 0) {
            snprintf(err, errlen, "key %zu: %s", i + 1, why);
            keyset_release(ks);
            return NULL;
        }
        ks->n += (size_t)r;
    }
    if (ks->n == 0) {
        snprintf(err, errlen, "no usable signature key (RSA, or EC on P-256/384/521, for sig)");
        keyset_release(ks);
        return NULL;
    }
    return ks;
}

struct fetch {
    struct buf body;
    bool too_big;
    atomic_bool *stopping;
};

static size_t fetch_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct fetch *f = arg;
    size_t len = size * nmemb;
    if (f->body.len + len > JWKS_MAX_BYTES) {
        f->too_big = true;
        return 0;
    }
    return buf_append(&f->body, data, len) == 0 ? len : 0;
}

static int fetch_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                          curl_off_t ulnow)
{
    struct fetch *f = arg;
    return atomic_load(f->stopping) ? 1 : 0;
}

/* GETs the JWKS URL into out (which the caller frees). The URL is left out
 * of the reasons: a query string may hold something private. */
static int fetch_url(struct jwt_verifier *v, struct buf *out, char *err, size_t errlen)
{
    int rc = -1;
    char curl_err[CURL_ERROR_SIZE] = "";
    struct fetch f = {.stopping = &v->stopping};
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "cannot make a curl handle");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, v->jwks_url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, FETCH_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, FETCH_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sluice");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, fetch_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &f);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    CURLcode res = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (f.too_big)
        snprintf(err, errlen, "jwks_url answered more than %d bytes", JWKS_MAX_BYTES);
    else if (res == CURLE_OPERATION_TIMEDOUT)
        snprintf(err, errlen, "jwks_url: no answer within %ld ms", FETCH_TIMEOUT_MS);
    else if (res != CURLE_OK)
        /* curl's detail names the host and port at most, never the path. */
        snprintf(err, errlen, "jwks_url: %s", curl_err[0] ? curl_err : curl_easy_strerror(res));
    else if (status != 200)
        snprintf(err, errlen, "jwks_url answered HTTP %ld", status);
    else {
        *out = f.body;
        f.body = (struct buf){0};
        rc = 0;
    }
out:
    buf_free(&f.body);
    curl_easy_cleanup(c);
    return rc;
}

/* Reads and checks the configured JWKS (file or URL): blocking I/O, so only
 * at start, in the refresh thread and in jwt_verifier_refresh_now. */
static struct keyset *keyset_load(struct jwt_verifier *v, char *err, size_t errlen)
{
    struct buf text = {0};
    json_t *doc = NULL;
    struct keyset *ks = NULL;
    char what[160], why[200];
    if (v->jwks_file) {
        snprintf(what, sizeof(what), "JWKS file %s", v->jwks_file);
        if (buf_read_file(&text, v->jwks_file) < 0) {
            snprintf(err, errlen, "cannot read %s: %s", what, strerror(errno));
            goto out;
        }
        if (text.len > JWKS_MAX_BYTES) {
            snprintf(err, errlen, "%s is larger than %d bytes", what, JWKS_MAX_BYTES);
            goto out;
        }
    } else {
        snprintf(what, sizeof(what), "jwks_url");
        if (fetch_url(v, &text, err, errlen) < 0)
            goto out;
    }
    json_error_t jerr;
    doc = json_loadb(text.data ? text.data : "", text.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(err, errlen, "%s is not JSON: %s (line %d)", what, jerr.text, jerr.line);
        goto out;
    }
    ks = keyset_parse(v->quiet, doc, why, sizeof(why));
    if (!ks)
        snprintf(err, errlen, "%s: %s", what, why);
out:
    json_decref(doc);
    buf_free(&text);
    return ks;
}

static int reload(struct jwt_verifier *v, char *err, size_t errlen)
{
    struct keyset *ks = keyset_load(v, err, errlen);
    if (!ks) {
        atomic_fetch_add(&v->refreshes_failed, 1);
        return -1;
    }
    pthread_rwlock_wrlock(&v->keys_lock);
    struct keyset *old = v->keys;
    v->keys = ks;
    pthread_rwlock_unlock(&v->keys_lock);
    /* Readers still using one of its keys hold a reference to it. */
    keyset_release(old);
    atomic_fetch_add(&v->refreshes_ok, 1);
    return 0;
}

static void *refresh_main(void *arg)
{
    struct jwt_verifier *v = arg;
    pthread_mutex_lock(&v->mu);
    for (;;) {
        while (!v->pending && !v->stop)
            pthread_cond_wait(&v->wake, &v->mu);
        if (v->stop)
            break;
        v->pending = false;
        pthread_mutex_unlock(&v->mu);
        char err[256];
        if (reload(v, err, sizeof(err)) == 0) {
            struct jwt_stats st;
            jwt_verifier_stats(v, &st);
            char n[24];
            snprintf(n, sizeof(n), "%zu", st.keys);
            log_info("JWKS reloaded for an unknown key id", "keys", n);
        } else if (!atomic_load(&v->stopping)) {
            log_warn("JWKS reload failed, the keys in use stay", "error", err);
        }
        pthread_mutex_lock(&v->mu);
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

/* Called by jwt_verify for an unknown kid: wakes the refresh thread unless
 * it was woken less than refresh_ms ago. */
static void request_refresh(struct jwt_verifier *v)
{
    if (!v->thread_started)
        return;
    int64_t now = mono_ms();
    pthread_mutex_lock(&v->mu);
    if (v->last_request_ms < 0 || now - v->last_request_ms >= v->refresh_ms) {
        v->last_request_ms = now;
        v->pending = true;
        atomic_fetch_add(&v->refresh_requests, 1);
        pthread_cond_signal(&v->wake);
    }
    pthread_mutex_unlock(&v->mu);
}

/* ---- configuration ---- */

static int parse_algorithms(const char *list, bool have_secret, unsigned *out, char *err,
                            size_t errlen)
{
    if (!nonempty(list))
        list = have_secret ? "RS256 ES256 HS256" : "RS256 ES256";
    unsigned set = 0;
    for (const char *p = list; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t n = strcspn(p, " ");
        const struct alg_info *a = alg_find(p, n);
        if (n == 4 && strncasecmp(p, "none", 4) == 0) {
            snprintf(err, errlen, "algorithms: none is never allowed");
            return -1;
        }
        if (!a) {
            snprintf(err, errlen,
                     "algorithms: %.*s is not one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 "
                     "ES384 ES512 HS256",
                     (int)(n > 32 ? 32 : n), p);
            return -1;
        }
        if (a->kty == KTY_OCT && !have_secret) {
            snprintf(err, errlen, "algorithms: HS256 needs hs256_secret");
            return -1;
        }
        set |= alg_bit(a);
        p += n;
    }
    if (!set) {
        snprintf(err, errlen, "algorithms: the list is empty");
        return -1;
    }
    *out = set;
    return 0;
}

struct jwt_verifier *jwt_verifier_new(const struct jwt_config *cfg, char *err, size_t errlen)
{
    struct jwt_verifier *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* glibc's default lets readers in while a writer waits: under steady
     * token traffic a reload could then wait for ever to swap the set. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&v->keys_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->wake, NULL);
    v->last_request_ms = -1;
    atomic_init(&v->stopping, false);
    atomic_init(&v->refresh_requests, 0);
    atomic_init(&v->refreshes_ok, 0);
    atomic_init(&v->refreshes_failed, 0);

    const char *file = nonempty(cfg->jwks_file), *url = nonempty(cfg->jwks_url);
    const char *secret = nonempty(cfg->hs256_secret);
    if (file && url) {
        snprintf(err, errlen, "set jwks_file or jwks_url, not both");
        goto fail;
    }
    if (!file && !url && !secret) {
        snprintf(err, errlen, "no key to verify with: set a JWKS (file or URL) or hs256_secret");
        goto fail;
    }
    if (url && !url_http_ok(url)) {
        snprintf(err, errlen, "jwks_url is not an absolute http(s) URL");
        goto fail;
    }
    if (cfg->leeway_s < 0 || cfg->leeway_s > MAX_LEEWAY_S) {
        snprintf(err, errlen, "leeway_s must be between 0 and %d seconds", MAX_LEEWAY_S);
        goto fail;
    }
    v->leeway_s = cfg->leeway_s ? cfg->leeway_s : DEFAULT_LEEWAY_S;
    if (cfg->refresh_min_interval_s < 0) {
        snprintf(err, errlen, "refresh_min_interval_s must not be negative");
        goto fail;
    }
    v->refresh_ms =
        1000LL * (cfg->refresh_min_interval_s ? cfg->refresh_min_interval_s : DEFAULT_REFRESH_S);
    if (secret && strlen(secret) < HS256_MIN_SECRET) {
        snprintf(err, errlen, "hs256_secret is shorter than %d bytes (RFC 7518 section 3.2)",
                 HS256_MIN_SECRET);
        goto fail;
    }
    if (parse_algorithms(cfg->algorithms, secret != NULL, &v->allowed, err, errlen) < 0)
        goto fail;
    if (copy_setting(&v->jwks_file, file) < 0 || copy_setting(&v->jwks_url, url) < 0 ||
        copy_setting(&v->issuer, cfg->issuer) < 0 ||
        copy_setting(&v->audience, cfg->audience) < 0 ||
        copy_setting(&v->tenant_claim, nonempty(cfg->tenant_claim) ? cfg->tenant_claim : "tenant") <
            0 ||
        !(v->quiet = jose_cfg())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    jose_cfg_set_err_func(v->quiet, quiet_err, NULL);
    if (secret) {
        /* "o" steals the encoded key; json_pack fails on a NULL one. */
        v->hs256_jwk = json_pack("{s:s, s:s, s:o}", "kty", "oct", "alg", "HS256", "k",
                                 jose_b64_enc(secret, strlen(secret)));
        if (!v->hs256_jwk) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (url) {
        /* Reference-counted by libcurl, and thread-safe since 7.84. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "libcurl would not start");
            goto fail;
        }
        v->curl_inited = true;
    }
    if (file || url) {
        v->keys = keyset_load(v, err, errlen);
        if (!v->keys)
            goto fail;
        if (pthread_create(&v->thread, NULL, refresh_main, v) != 0) {
            snprintf(err, errlen, "cannot start the JWKS refresh thread");
            goto fail;
        }
        v->thread_started = true;
    }
    return v;
fail:
    jwt_verifier_free(v);
    return NULL;
}

void jwt_verifier_free(struct jwt_verifier *v)
{
    if (!v)
        return;
    if (v->thread_started) {
        atomic_store(&v->stopping, true);
        pthread_mutex_lock(&v->mu);
        v->stop = true;
        pthread_cond_signal(&v->wake);
        pthread_mutex_unlock(&v->mu);
        pthread_join(v->thread, NULL);
    }
    keyset_release(v->keys);
    json_t *k = json_object_get(v->hs256_jwk, "k");
    if (k) /* the last reference: no verification runs any more */
        OPENSSL_cleanse((char *)json_string_value(k), json_string_length(k));
    json_decref(v->hs256_jwk);
    if (v->quiet)
        jose_cfg_decref(v->quiet);
    if (v->curl_inited)
        curl_global_cleanup();
    free(v->jwks_file);
    free(v->jwks_url);
    free(v->issuer);
    free(v->audience);
    free(v->tenant_claim);
    pthread_cond_destroy(&v->wake);
    pthread_mutex_destroy(&v->mu);
    pthread_rwlock_destroy(&v->keys_lock);
    free(v);
}

int jwt_verifier_refresh_now(struct jwt_verifier *v, char *err, size_t errlen)
{
    if (!v->jwks_file && !v->jwks_url) {
        snprintf(err, errlen, "no JWKS is configured");
        return -1;
    }
    return reload(v, err, errlen);
}

void jwt_verifier_stats(struct jwt_verifier *v, struct jwt_stats *out)
{
    out->refresh_requests = atomic_load(&v->refresh_requests);
    out->refreshes_ok = atomic_load(&v->refreshes_ok);
    out->refreshes_failed = atomic_load(&v->refreshes_failed);
    pthread_rwlock_rdlock(&v->keys_lock);
    out->keys = v->keys ? v->keys->n : 0;
    pthread_rwlock_unlock(&v->keys_lock);
}

/* ---- tokens ---- */

struct part {
    const char *p;
    size_t len;
};

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Splits compact serialization: exactly three parts of unpadded base64url,
 * the first two not empty. */
static int split_compact(const char *t, size_t len, struct part parts[3])
{
    size_t start = 0, n = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || t[i] == '.') {
            if (n == 3)
                return -1;
            parts[n].p = t + start;
            parts[n].len = i - start;
            if (parts[n].len % 4 == 1) /* no base64 text is that long */
                return -1;
            n++;
            start = i + 1;
        } else if (!b64url_char(t[i])) {
            return -1;
        }
    }
    return n == 3 && parts[0].len > 0 && parts[1].len > 0 ? 0 : -1;
}

/* A new reference to the JSON object a part encodes, or NULL. Duplicate
 * names are refused: two "alg"s or "sub"s read differently by two parsers
 * are a known way around checks. jansson refuses NUL in strings, so no claim
 * is cut short by a C string. */
static json_t *decode_object(const struct part *pt)
{
    unsigned char buf[JWT_MAX_TOKEN];
    /* A part ends at '.' or the token's NUL, which libjose's decoder peeks at. */
    size_t n = jose_b64_dec_buf(pt->p, pt->len, buf, sizeof(buf));
    if (n == SIZE_MAX)
        return NULL;
    json_t *o = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static int refuse(char *why, size_t whylen, const char *reason)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", reason);
    return -1;
}

/* The algorithm the header names, when allowed; *kid borrows from hdr. */
static const struct alg_info *header_check(const struct jwt_verifier *v, const json_t *hdr,
                                           const char **kid, char *why, size_t whylen)
{
    const json_t *alg = json_object_get(hdr, "alg"), *kidv = json_object_get(hdr, "kid");
    if (!json_is_string(alg)) {
        refuse(why, whylen, "token header has no alg");
        return NULL;
    }
    const char *name = json_string_value(alg);
    if (strcasecmp(name, "none") == 0) {
        refuse(why, whylen, "alg none refused");
        return NULL;
    }
    const struct alg_info *a = alg_find(name, strlen(name));
    if (!a || !(v->allowed & alg_bit(a))) {
        refuse(why, whylen, "algorithm not allowed");
        return NULL;
    }
    /* RFC 7515 section 4.1.11: crit names extensions that must be
     * understood, and none is here. */
    if (json_object_get(hdr, "crit")) {
        refuse(why, whylen, "unsupported critical header");
        return NULL;
    }
    if (kidv && !json_is_string(kidv)) {
        refuse(why, whylen, "malformed key id");
        return NULL;
    }
    *kid = json_string_value(kidv);
    return a;
}

/* The one key for alg and kid (NULL: any key, when only one fits), or NULL
 * with a reason. The key is borrowed from *held, a reference to its key set
 * the caller releases (NULL for the HS256 secret, which lives as long as the
 * verifier). The token's own "jwk", "jku" or "x5u" are never looked at. */
static const json_t *select_key(struct jwt_verifier *v, const struct alg_info *alg, const char *kid,
                                struct keyset **held, char *why, size_t whylen)
{
    *held = NULL;
    if (alg->kty == KTY_OCT) {
        if (!v->hs256_jwk)
            refuse(why, whylen, "no key for the algorithm");
        return v->hs256_jwk;
    }
    const json_t *found = NULL;
    size_t fits = 0;
    bool kid_seen = false, have_keys;
    pthread_rwlock_rdlock(&v->keys_lock);
    struct keyset *ks = v->keys;
    have_keys = ks != NULL;
    for (size_t i = 0; ks && i < ks->n; i++) {
        const struct key *k = &ks->keys[i];
        if (kid && (!k->kid || strcmp(k->kid, kid) != 0))
            continue;
        kid_seen = true;
        if (key_fits(k, alg)) {
            fits++;
            found = k->jwk;
        }
    }
    if (fits == 1) {
        atomic_fetch_add(&ks->refs, 1);
        *held = ks;
    }
    pthread_rwlock_unlock(&v->keys_lock);
    if (fits == 1)
        return found;
    if (!have_keys)
        refuse(why, whylen, "no key for the algorithm");
    else if (fits > 1)
        refuse(why, whylen, kid ? "ambiguous key id" : "token has no key id");
    else if (kid && !kid_seen) {
        refuse(why, whylen, "unknown key id");
        request_refresh(v);
    } else
        refuse(why, whylen, kid ? "key does not fit the algorithm" : "no key for the algorithm");
    return NULL;
}

/* A NumericDate (RFC 7519 section 2): seconds, possibly fractional. */
static int numeric_date(const json_t *j, int64_t *out)
{
    if (json_is_integer(j)) {
        *out = json_integer_value(j);
        return 0;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);
        if (!isfinite(d) || d < -9.0e18 || d > 9.0e18)
            return -1;
        *out = (int64_t)floor(d);
        return 0;
    }
    return -1;
}

/* RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
static bool scope_char(char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

/* Appends the space-separated tokens of text to out; -1 when a token is
 * malformed or out is full. */
static int scopes_add(char *out, size_t cap, const char *text, bool one_token)
{
    size_t used = strlen(out);
    for (const char *p = text; *p;) {
        if (*p == ' ' && !one_token) {
            p++;
            continue;
        }
        size_t n = 0;
        while (p[n] && p[n] != ' ') {
            if (!scope_char(p[n]))
                return -1;
            n++;
        }
        if (n == 0 || (one_token && p[n]))
            return -1;
        size_t need = (used ? 1 : 0) + n;
        if (used + need + 1 > cap)
            return -1;
        if (used)
            out[used++] = ' ';
        memcpy(out + used, p, n);
        used += n;
        out[used] = '\0';
        p += n;
    }
    if (one_token && !*text)
        return -1;
    return 0;
}

static int claims_scopes(const json_t *claims, struct jwt_claims *out, char *why, size_t whylen)
{
    const json_t *scope = json_object_get(claims, "scope"), *scp = json_object_get(claims, "scp");
    const json_t *from = scope ? scope : scp;
    if (!from)
        return 0;
    if (json_is_string(from)) {
        if (scopes_add(out->scopes, sizeof(out->scopes), json_string_value(from), false) < 0)
            return refuse(why, whylen, "malformed or too long scope");
        return 0;
    }
    if (from == scp && json_is_array(from)) {
        size_t i;
        const json_t *s;
        json_array_foreach(from, i, s)
        {
            if (!json_is_string(s) ||
                scopes_add(out->scopes, sizeof(out->scopes), json_string_value(s), true) < 0)
                return refuse(why, whylen, "malformed or too long scp");
        }
        return 0;
    }
    return refuse(why, whylen, scope ? "scope is not a string" : "scp is not a string or array");
}

static bool audience_has(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    const json_t *a;
    json_array_foreach(aud, i, a)
    {
        if (json_is_string(a) && strcmp(json_string_value(a), want) == 0)
            return true;
    }
    return false;
}

/* Copies the string claim name into dst (cap bytes): 1 copied, 0 absent, -1
 * when not a string or too long. */
static int claim_string(const json_t *claims, const char *name, char *dst, size_t cap)
{
    const json_t *j = json_object_get(claims, name);
    if (!j)
        return 0;
    if (!json_is_string(j) || json_string_length(j) >= cap)
        return -1;
    memcpy(dst, json_string_value(j), json_string_length(j) + 1);
    return 1;
}

static int check_claims(const struct jwt_verifier *v, const json_t *claims, int64_t now_s,
                        struct jwt_claims *out, char *why, size_t whylen)
{
    const json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    const json_t *iat = json_object_get(claims, "iat");
    int64_t t;
    if (!exp)
        return refuse(why, whylen, "missing exp");
    if (numeric_date(exp, &out->exp) < 0)
        return refuse(why, whylen, "exp is not a number");
    if (now_s - v->leeway_s >= out->exp)
        return refuse(why, whylen, "token expired");
    if (nbf && numeric_date(nbf, &t) < 0)
        return refuse(why, whylen, "nbf is not a number");
    if (nbf && t > now_s + v->leeway_s)
        return refuse(why, whylen, "token not yet valid");
    if (iat && numeric_date(iat, &t) < 0)
        return refuse(why, whylen, "iat is not a number");
    if (iat && t > now_s + v->leeway_s)
        return refuse(why, whylen, "token issued in the future");
    if (v->issuer) {
        const json_t *iss = json_object_get(claims, "iss");
        if (!json_is_string(iss) || strcmp(json_string_value(iss), v->issuer) != 0)
            return refuse(why, whylen, "wrong issuer");
    }
    if (v->audience && !audience_has(json_object_get(claims, "aud"), v->audience))
        return refuse(why, whylen, "wrong audience");
    int r = claim_string(claims, "sub", out->sub, sizeof(out->sub));
    if (r < 0)
        return refuse(why, whylen, "sub is not a string or too long");
    if (r == 0 || !out->sub[0])
        return refuse(why, whylen, "missing sub");
    if (claim_string(claims, v->tenant_claim, out->tenant, sizeof(out->tenant)) < 0)
        return refuse(why, whylen, "tenant is not a string or too long");
    return claims_scopes(claims, out, why, whylen);
}

int jwt_verify(struct jwt_verifier *v, const char *token, int64_t now_s, struct jwt_claims *out,
               char *why, size_t whylen)
{
    int rc = -1;
    json_t *hdr = NULL, *jws = NULL, *claims = NULL;
    const json_t *key = NULL;   /* borrowed from held */
    struct keyset *held = NULL; /* a reference */
    struct part parts[3];
    memset(out, 0, sizeof(*out));
    size_t len = token ? strnlen(token, JWT_MAX_TOKEN + 1) : 0;
    if (len == 0) {
        refuse(why, whylen, "empty token");
        goto out;
    }
    if (len > JWT_MAX_TOKEN) {
        refuse(why, whylen, "token too large");
        goto out;
    }
    if (split_compact(token, len, parts) < 0) {
        refuse(why, whylen, "malformed token");
        goto out;
    }
    if (!(hdr = decode_object(&parts[0]))) {
        refuse(why, whylen, "malformed token header");
        goto out;
    }
    const char *kid = NULL;
    const struct alg_info *alg = header_check(v, hdr, &kid, why, whylen);
    if (!alg)
        goto out;
    if (parts[2].len == 0) {
        refuse(why, whylen, "missing signature");
        goto out;
    }
    if (!(key = select_key(v, alg, kid, &held, why, whylen)))
        goto out;
    jws = json_pack("{s:s%, s:s%, s:s%}", "protected", parts[0].p, parts[0].len, "payload",
                    parts[1].p, parts[1].len, "signature", parts[2].p, parts[2].len);
    if (!jws) {
        refuse(why, whylen, "out of memory");
        goto out;
    }
    /* libjose 11 compares the header's alg with the key's by strcmp() < 0,
     * which lets some mismatches through: select_key's key_fits is the check
     * that counts, made before this. */
    if (!jose_jws_ver(v->quiet, jws, NULL, key, false)) {
        refuse(why, whylen, "bad signature");
        goto out;
    }
    if (!(claims = decode_object(&parts[1]))) {
        refuse(why, whylen, "malformed token payload");
        goto out;
    }
    if (check_claims(v, claims, now_s, out, why, whylen) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    json_decref(claims);
    json_decref(jws);
    keyset_release(held);
    json_decref(hdr);
    return rc;
}
