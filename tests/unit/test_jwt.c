/* Unit tests for lib/jwt.c: tokens signed here with keys libjose generates
 * (RSA, EC P-256, an HS256 secret) against a JWKS file in a temporary
 * folder: valid ones accepted with their claims; expired, early, foreign,
 * forged, confused (HS256 keyed with the RSA public key), disallowed and
 * malformed ones refused with the reason that applies; an unknown kid
 * answered by the refresh thread; a JWKS served over HTTP; bad settings
 * refused at start; verification racing reloads. */
#include "check_main.h"
#include "http_stub.h"
#include "jwt.h"

#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>
#include <jose/openssl.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW 1700000000LL
#define ISS "https://issuer.example"
#define AUD "sluice"
#define SECRET "0123456789abcdef0123456789abcdef-hs256"

/* Generated once in main (RSA generation is slow) and shared, read-only, by
 * every test; Check's forked tests inherit them. */
static json_t *rsa1, *rsa2, *rsa_impostor, *ec1;
static char tmpdir[64];

/* A private key libjose generates for alg, with kid. Runs in main, before
 * any test: Check's assertions cannot be used there. */
static json_t *gen_key(const char *alg, const char *kid)
{
    json_t *k = json_pack("{s:s}", "alg", alg);
    if (!k || !jose_jwk_gen(NULL, k) || json_object_set_new(k, "kid", json_string(kid)) < 0) {
        fprintf(stderr, "test_jwt: cannot generate a %s key\n", alg);
        exit(EXIT_FAILURE);
    }
    return k;
}

static json_t *public_of(const json_t *k)
{
    json_t *p = json_deep_copy(k);
    ck_assert(p && jose_jwk_pub(NULL, p));
    return p;
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_text(const char *path, const char *text)
{
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    /* Renamed into place, as a key rotation would: a reader never sees half a file. */
    ck_assert_int_eq(rename(tmp, path), 0);
}

/* Writes a JWKS of the public halves of the NULL-terminated keys. */
static void write_jwks(const char *path, ...)
{
    json_t *keys = json_array();
    va_list ap;
    va_start(ap, path);
    for (const json_t *k; (k = va_arg(ap, const json_t *));)
        json_array_append_new(keys, public_of(k));
    va_end(ap);
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(doc, 0);
    write_text(path, text);
    free(text);
    json_decref(doc);
}

/* A compact JWS of payload signed by jwk with the header (JSON text). */
static char *sign(const json_t *jwk, const char *header, const char *payload)
{
    json_t *hdr = json_loads(header, 0, NULL);
    ck_assert_ptr_nonnull(hdr);
    json_t *jws = json_pack("{s:o}", "payload", jose_b64_enc(payload, strlen(payload)));
    json_t *sig = json_pack("{s:o}", "protected", hdr);
    ck_assert(jws && sig);
    ck_assert_msg(jose_jws_sig(NULL, jws, sig, jwk), "libjose would not sign %s", header);
    const char *p = NULL, *pl = NULL, *s = NULL;
    ck_assert_int_eq(
        json_unpack(jws, "{s:s, s:s, s:s}", "protected", &p, "payload", &pl, "signature", &s), 0);
    size_t n = strlen(p) + strlen(pl) + strlen(s) + 3;
    char *out = malloc(n);
    snprintf(out, n, "%s.%s.%s", p, pl, s);
    json_decref(sig);
    json_decref(jws);
    return out;
}

/* header.payload.sig with no signing at all, for forgeries. */
static char *assemble(const char *header, const char *payload, const char *sig_b64)
{
    char h[1024], p[2048];
    size_t hn = jose_b64_enc_buf(header, strlen(header), h, sizeof(h) - 1);
    size_t pn = jose_b64_enc_buf(payload, strlen(payload), p, sizeof(p) - 1);
    ck_assert(hn != SIZE_MAX && pn != SIZE_MAX);
    h[hn] = p[pn] = '\0';
    size_t n = hn + pn + strlen(sig_b64) + 3;
    char *out = malloc(n);
    snprintf(out, n, "%s.%s.%s", h, p, sig_b64);
    return out;
}

/* A payload valid at NOW for the default verifier, with extra members. */
static void claims_json(char *out, size_t cap, const char *extra)
{
    snprintf(out, cap,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"user-7\",\"exp\":%lld,"
             "\"iat\":%lld%s%s}",
             NOW + 300, NOW - 10, extra[0] ? "," : "", extra);
}

/* A verifier over a JWKS file holding rsa1 and ec1 (and the HS256 secret
 * when with_secret), issuer and audience set. */
static struct jwt_verifier *verifier(bool with_secret, const char *algorithms)
{
    char path[128], err[256] = "";
    path_in_tmp(path, sizeof(path), "jwks.json");
    write_jwks(path, rsa1, ec1, NULL);
    struct jwt_config cfg = {.jwks_file = path,
                             .hs256_secret = with_secret ? SECRET : NULL,
                             .issuer = ISS,
                             .audience = AUD,
                             .algorithms = algorithms};
    struct jwt_verifier *v = jwt_verifier_new(&cfg, err, sizeof(err));
    ck_assert_msg(v != NULL, "jwt_verifier_new: %s", err);
    return v;
}

/* Verifies token and checks the outcome: NULL expects acceptance, otherwise
 * the reason. line is the caller's, for the failure message. */
#define expect(...) expect_at(__LINE__, __VA_ARGS__)
static void expect_at(int line, struct jwt_verifier *v, const char *token, const char *reason,
                      struct jwt_claims *claims)
{
    struct jwt_claims local;
    struct jwt_claims *c = claims ? claims : &local;
    char why[128] = "";
    int rc = jwt_verify(v, token, NOW, c, why, sizeof(why));
    if (!reason) {
        ck_assert_msg(rc == 0, "line %d: expected acceptance, got: %s", line, why);
    } else {
        ck_assert_msg(rc == -1, "line %d: expected refusal (%s), got acceptance", line, reason);
        ck_assert_msg(strcmp(why, reason) == 0, "line %d: expected \"%s\", got \"%s\"", line,
                      reason, why);
        ck_assert_msg(c->sub[0] == '\0', "line %d: claims left behind on a refusal", line);
    }
}

/* expect() for a token key signs with header over claims_json(extra). */
#define expect_signed(...) expect_signed_at(__LINE__, __VA_ARGS__)
static void expect_signed_at(int line, struct jwt_verifier *v, const json_t *key,
                             const char *header, const char *extra, const char *reason)
{
    char payload[2048];
    claims_json(payload, sizeof(payload), extra);
    char *t = sign(key, header, payload);
    expect_at(line, v, t, reason, NULL);
    free(t);
}

START_TEST(test_valid_rs256)
{
    struct jwt_verifier *v = verifier(false, NULL);
    char payload[1024];
    claims_json(payload, sizeof(payload),
                "\"tenant\":\"acme\",\"scope\":\"events:write  request-assistance\"");
    char *t = sign(rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"typ\":\"JWT\"}", payload);
    struct jwt_claims c;
    expect(v, t, NULL, &c);
    ck_assert_str_eq(c.sub, "user-7");
    ck_assert_str_eq(c.tenant, "acme");
    ck_assert_str_eq(c.scopes, "events:write request-assistance");
    ck_assert_int_eq(c.exp, NOW + 300);
    free(t);
    jwt_verifier_free(v);
}
END_TEST

START_TEST(test_valid_es256)
{
    struct jwt_verifier *v = verifier(false, NULL);
    char payload[1024];
    snprintf(payload, sizeof(payload),
             "{\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" AUD "\"],\"sub\":\"svc\",\"exp\":%lld,"
             "\"scp\":[\"events:read\",\"recipes:read\"]}",
             NOW + 60);
    char *t = sign(ec1, "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", payload);
    struct jwt_claims c;
    expect(v, t, NULL, &c);
    ck_assert_str_eq(c.sub, "svc");
    ck_assert_str_eq(c.tenant, "");
    ck_assert_str_eq(c.scopes, "events:read recipes:read");
    free(t);
    jwt_verifier_free(v);
}
END_TEST

START_TEST(test_valid_hs256)
{
    struct jwt_verifier *v = verifier(true, NULL);
    json_t *oct = json_pack("{s:s, s:s, s:o}", "kty", "oct", "alg", "HS256", "k",
                            jose_b64_enc(SECRET, strlen(SECRET)));
    char payload[1024];
    claims_json(payload, sizeof(payload), "\"tenant\":\"t1\",\"scp\":\"admin events:read\"");
    char *t = sign(oct, "{\"alg\":\"HS256\"}", payload);
    struct jwt_claims c;
    expect(v, t, NULL, &c);
    ck_assert_str_eq(c.sub, "user-7");
    ck_assert_str_eq(c.tenant, "t1");
    ck_assert_str_eq(c.scopes, "admin events:read");
    free(t);
    /* A kid changes nothing: HS256 has one key, the secret. */
    expect_signed(v, oct, "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", "", NULL);
    /* Another secret of the same length. */
    json_t *wrong = json_pack("{s:s, s:s, s:o}", "kty", "oct", "alg", "HS256", "k",
                              jose_b64_enc("0123456789abcdef0123456789abcdef-hs25X", 38));
    expect_signed(v, wrong, "{\"alg\":\"HS256\"}", "", "bad signature");
    json_decref(wrong);
    json_decref(oct);
    jwt_verifier_free(v);
}
END_TEST

START_TEST(test_kid_selection)
{
    struct jwt_verifier *v = verifier(false, NULL);
    /* No kid: one RSA key and one EC key, so each algorithm has one. */
    expect_signed(v, rsa1, "{\"alg\":\"RS256\"}", "", NULL);
    expect_signed(v, ec1, "{\"alg\":\"ES256\"}", "", NULL);
    jwt_verifier_free(v);

    char path[128], err[256];
    path_in_tmp(path, sizeof(path), "two-rsa.json");
    write_jwks(path, rsa1, rsa2, NULL);
    struct jwt_config cfg = {.jwks_file = path};
    v = jwt_verifier_new(&cfg, err, sizeof(err));
    ck_assert_msg(v != NULL, "%s", err);
    expect_signed(v, rsa1, "{\"alg\":\"RS256\"}", "", "token has no key id");
    expect_signed(v, rsa2, "{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}", "", NULL);
    /* rsa1's signature under rsa-2's kid: the kid picks the key. */
    expect_signed(v, rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}", "", "bad signature");
    expect_signed(v, rsa1, "{\"alg\":\"RS256\",\"kid\":7}", "", "malformed key id");
    jwt_verifier_free(v);
}
END_TEST

START_TEST(test_time_claims)
{
    struct jwt_verifier *v = verifier(false, NULL);
    const char *h = "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}";
    char payload[512];
    struct {
        const char *claims;
        long long a, b; /* two NOW-relative times for the format */
        const char *reason;
    } cases[] = {
        {"\"exp\":%lld", -31, 0, "token expired"},
        {"\"exp\":%lld", -30, 0, "token expired"},
        {"\"exp\":%lld", -29, 0, NULL}, /* within the 30 s leeway */
        {"\"exp\":%lld.9", -31, 0, "token expired"},
        {"\"exp\":%lld,\"nbf\":%lld", 300, 31, "token not yet valid"},
        {"\"exp\":%lld,\"nbf\":%lld", 300, 29, NULL},
        {"\"exp\":%lld,\"iat\":%lld", 300, 3600, "token issued in the future"},
        {"\"exp\":%lld,\"iat\":%lld", 300, -3600, NULL},
        {"\"exp\":\"%lld\"", 300, 0, "exp is not a number"},
        {"\"exp\":%lld,\"nbf\":\"%lld\"", 300, 0, "nbf is not a number"},
        {"\"exp\":%lld,\"nbf\":true,\"x\":%lld", 300, 0, "nbf is not a number"},
        {"\"x\":%lld,\"y\":%lld", 0, 0, "missing exp"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char times[256];
        snprintf(times, sizeof(times), cases[i].claims, NOW + cases[i].a, NOW + cases[i].b);
        snprintf(payload, sizeof(payload),
                 "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",%s}", times);
        char *t = sign(rsa1, h, payload);
        expect(v, t, cases[i].reason, NULL);
        free(t);
    }
    jwt_verifier_free(v);
}
END_TEST

START_TEST(test_issuer_audience_subject)
{
    struct jwt_verifier *v = verifier(false, NULL);
    const char *h = "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}";
    char payload[2048];
    struct {
        const char *members; /* besides exp */
        const char *reason;
    } cases[] = {
        {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\"", NULL},
        {"\"iss\":\"https://evil.example\",\"aud\":\"" AUD "\",\"sub\":\"u\"", "wrong issuer"},
        {"\"aud\":\"" AUD "\",\"sub\":\"u\"", "wrong issuer"},
        {"\"iss\":[\"" ISS "\"],\"aud\":\"" AUD "\",\"sub\":\"u\"", "wrong issuer"},
        {"\"iss\":\"" ISS "\",\"aud\":\"other\",\"sub\":\"u\"", "wrong audience"},
        {"\"iss\":\"" ISS "\",\"aud\":[\"other\",\"sluicex\"],\"sub\":\"u\"", "wrong audience"},
        {"\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" AUD "\"],\"sub\":\"u\"", NULL},
        {"\"iss\":\"" ISS "\",\"sub\":\"u\"", "wrong audience"},
        {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"", "missing sub"},
        {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"\"", "missing sub"},
        {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":42", "sub is not a string or too long"},
        {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"tenant\":{}",
         "tenant is not a string or too long"},
        {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"scope\":[\"a\"]",
         "scope is not a string"},
        {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"scp\":[\"a b\"]",
         "malformed or too long scp"},
        {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"scp\":[\"a\",1]",
         "malformed or too long scp"},
        {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"scope\":\"a\\\"b\"",
         "malformed or too long scope"},
        {"\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"sub\":\"admin\"",
         "malformed token payload"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(payload, sizeof(payload), "{%s,\"exp\":%lld}", cases[i].members, NOW + 60);
        char *t = sign(rsa1, h, payload);
        expect(v, t, cases[i].reason, NULL);
        free(t);
    }
    /* Values that would not fit are refused, not cut short. */
    char big[700];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct {
        const char *fmt;
        int len;
        const char *reason;
    } sizes[] = {
        {"\"sub\":\"%.*s\"", 255, NULL},
        {"\"sub\":\"%.*s\"", 256, "sub is not a string or too long"},
        {"\"sub\":\"u\",\"tenant\":\"%.*s\"", 63, NULL},
        {"\"sub\":\"u\",\"tenant\":\"%.*s\"", 64, "tenant is not a string or too long"},
        {"\"sub\":\"u\",\"scope\":\"%.*s\"", 511, NULL},
        {"\"sub\":\"u\",\"scope\":\"%.*s\"", 512, "malformed or too long scope"},
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char members[800];
        snprintf(members, sizeof(members), sizes[i].fmt, sizes[i].len, big);
        snprintf(payload, sizeof(payload),
                 "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",%s,\"exp\":%lld}", members, NOW + 60);
        char *t = sign(rsa1, h, payload);
        expect(v, t, sizes[i].reason, NULL);
        free(t);
    }
    jwt_verifier_free(v);

    /* Without issuer and audience configured, neither is required. */
    char path[128], err[256];
    path_in_tmp(path, sizeof(path), "jwks.json");
    struct jwt_config cfg = {.jwks_file = path, .tenant_claim = "org"};
    v = jwt_verifier_new(&cfg, err, sizeof(err));
    ck_assert_msg(v != NULL, "%s", err);
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"u\",\"org\":\"o1\",\"tenant\":\"no\",\"exp\":%lld}", NOW + 60);
    char *t = sign(rsa1, h, payload);
    struct jwt_claims c;
    expect(v, t, NULL, &c);
    ck_assert_str_eq(c.tenant, "o1");
    free(t);
    jwt_verifier_free(v);
}
END_TEST

START_TEST(test_signed_by_another_key)
{
    struct jwt_verifier *v = verifier(true, NULL);
    /* Same kid and algorithm as the JWKS key, another private key. */
    expect_signed(v, rsa_impostor, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", "", "bad signature");
    /* A valid signature over another payload. */
    char payload[512];
    claims_json(payload, sizeof(payload), "");
    char *good = sign(rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", payload);
    claims_json(payload, sizeof(payload), "\"scope\":\"admin\"");
    char *other = sign(rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", payload);
    char *mix = malloc(strlen(good) + strlen(other) + 1);
    const char *good_sig = strrchr(good, '.');
    size_t head = (size_t)(strrchr(other, '.') - other);
    sprintf(mix, "%.*s%s", (int)head, other, good_sig);
    expect(v, mix, "bad signature", NULL);
    /* One flipped bit of the signature. */
    size_t n = strlen(good);
    good[n - 5] = good[n - 5] == 'A' ? 'B' : 'A';
    expect(v, good, "bad signature", NULL);
    free(mix);
    free(other);
    free(good);
    jwt_verifier_free(v);
}
END_TEST

START_TEST(test_alg_none)
{
    struct jwt_verifier *v = verifier(true, NULL);
    char payload[512];
    claims_json(payload, sizeof(payload), "");
    const char *headers[] = {"{\"alg\":\"none\",\"kid\":\"rsa-1\"}", "{\"alg\":\"none\"}",
                             "{\"alg\":\"None\"}", "{\"alg\":\"NONE\",\"kid\":\"ec-1\"}"};
    char *good = sign(rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", payload);
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char *t = assemble(headers[i], payload, "");
        expect(v, t, "alg none refused", NULL);
        free(t);
        /* With a real signature beside it: still none. */
        t = assemble(headers[i], payload, strrchr(good, '.') + 1);
        expect(v, t, "alg none refused", NULL);
        free(t);
    }
    char *t = assemble("{\"kid\":\"rsa-1\"}", payload, strrchr(good, '.') + 1);
    expect(v, t, "token header has no alg", NULL);
    free(t);
    t = assemble("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", payload, "");
    expect(v, t, "missing signature", NULL);
    free(t);
    free(good);
    jwt_verifier_free(v);
}
END_TEST

/* The public key's PEM, the bytes an attacker would use as an HMAC key. */
static char *public_pem(const json_t *jwk)
{
    EVP_PKEY *pk = jose_openssl_jwk_to_EVP_PKEY(NULL, jwk);
    ck_assert_ptr_nonnull(pk);
    BIO *bio = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, pk), 1);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return out;
}

START_TEST(test_hs256_with_rsa_public_key)
{
    json_t *pub = public_of(rsa1);
    char *pem = public_pem(pub);
    char *jwk_text = json_dumps(pub, JSON_COMPACT);
    const char *attack_keys[] = {pem, jwk_text};
    const char *header = "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}";
    /* Without an HS256 secret, HS256 is not allowed at all. */
    struct jwt_verifier *plain = verifier(false, NULL);
    /* With one, HS256 keys with the secret and never with a JWKS key. */
    struct jwt_verifier *with_secret = verifier(true, "RS256 HS256");
    for (size_t i = 0; i < 2; i++) {
        json_t *oct = json_pack("{s:s, s:s, s:o}", "kty", "oct", "alg", "HS256", "k",
                                jose_b64_enc(attack_keys[i], strlen(attack_keys[i])));
        expect_signed(plain, oct, header, "", "algorithm not allowed");
        expect_signed(with_secret, oct, header, "", "bad signature");
        expect_signed(with_secret, oct, "{\"alg\":\"HS256\"}", "", "bad signature");
        json_decref(oct);
    }
    /* The other direction: an EC algorithm naming the RSA key's kid. */
    expect_signed(plain, ec1, "{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", "",
                  "key does not fit the algorithm");
    free(jwk_text);
    free(pem);
    json_decref(pub);
    jwt_verifier_free(with_secret);
    jwt_verifier_free(plain);
}
END_TEST

START_TEST(test_algorithm_allow_list)
{
    struct jwt_verifier *v = verifier(false, NULL);
    json_t *rs384 = json_deep_copy(rsa1);
    json_object_set_new(rs384, "alg", json_string("RS384"));
    expect_signed(v, rs384, "{\"alg\":\"RS384\",\"kid\":\"rsa-1\"}", "", "algorithm not allowed");
    jwt_verifier_free(v);
    /* Allowed, but the JWKS key says RS256. */
    v = verifier(false, "RS256 RS384");
    expect_signed(v, rs384, "{\"alg\":\"RS384\",\"kid\":\"rsa-1\"}", "",
                  "key does not fit the algorithm");
    jwt_verifier_free(v);
    v = verifier(false, "ES256");
    expect_signed(v, rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", "", "algorithm not allowed");
    expect_signed(v, ec1, "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", "", NULL);
    /* HS256 without a secret configured, and names that are no algorithm. */
    json_t *oct = json_pack("{s:s, s:s, s:o}", "kty", "oct", "alg", "HS256", "k",
                            jose_b64_enc(SECRET, strlen(SECRET)));
    expect_signed(v, oct, "{\"alg\":\"HS256\"}", "", "algorithm not allowed");
    char payload[512];
    claims_json(payload, sizeof(payload), "");
    char *t = assemble("{\"alg\":\"es256\",\"kid\":\"ec-1\"}", payload, "AAAA");
    expect(v, t, "algorithm not allowed", NULL);
    free(t);
    t = assemble("{\"alg\":\"ES256\",\"kid\":\"ec-1\",\"crit\":[\"exp\"],\"exp\":1}", payload,
                 "AAAA");
    expect(v, t, "unsupported critical header", NULL);
    free(t);
    json_decref(oct);
    json_decref(rs384);
    jwt_verifier_free(v);
}
END_TEST

START_TEST(test_malformed_tokens)
{
    struct jwt_verifier *v = verifier(false, NULL);
    char payload[512];
    claims_json(payload, sizeof(payload), "");
    char *good = sign(rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", payload);
    expect(v, good, NULL, NULL);
    size_t n = strlen(good);
    const char *first_dot = strchr(good, '.'), *last_dot = strrchr(good, '.');
    size_t h = (size_t)(first_dot - good);

    const char *garbage[] = {"",    "abc",          "a.b",         "a.b.c.d",      "...",
                             "..x", "Bearer x.y.z", "eyJ.eyJ.sig", "e30.e30.AAAA", "!!!.@@@.###"};
    const char *why[] = {"empty token",     "malformed token",        "malformed token",
                         "malformed token", "malformed token",        "malformed token",
                         "malformed token", "malformed token header", "token header has no alg",
                         "malformed token"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        expect(v, garbage[i], why[i], NULL);
    expect(v, NULL, "empty token", NULL);

    char *t = malloc(n + 16);
    /* Cut short anywhere: never accepted. */
    for (size_t cut = 1; cut < n; cut += (cut < h + 8 || n - cut < 8) ? 1 : 37) {
        memcpy(t, good, cut);
        t[cut] = '\0';
        struct jwt_claims c;
        char reason[128];
        ck_assert_msg(jwt_verify(v, t, NOW, &c, reason, sizeof(reason)) == -1,
                      "a token cut at %zu of %zu was accepted", cut, n);
    }
    /* Padding, whitespace, a fourth part. */
    snprintf(t, n + 16, "%s=", good);
    expect(v, t, "malformed token", NULL);
    snprintf(t, n + 16, " %s", good);
    expect(v, t, "malformed token", NULL);
    snprintf(t, n + 16, "%s\n", good);
    expect(v, t, "malformed token", NULL);
    snprintf(t, n + 16, "%s.", good);
    expect(v, t, "malformed token", NULL);
    /* Standard base64's alphabet instead of base64url's. */
    snprintf(t, n + 16, "%s", good);
    t[h + 2] = '+';
    expect(v, t, "malformed token", NULL);
    /* An empty payload part. */
    snprintf(t, n + 16, "%.*s.%s", (int)h, good, last_dot);
    expect(v, t, "malformed token", NULL);
    free(t);

    /* Header and payload that are JSON but not objects, or not JSON. */
    const char *bad_headers[] = {"[\"alg\",\"RS256\"]", "\"RS256\"", "{\"alg\":\"RS256\"",
                                 "{\"alg\":\"RS256\",\"alg\":\"HS256\",\"kid\":\"rsa-1\"}"};
    for (size_t i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
        t = assemble(bad_headers[i], payload, last_dot + 1);
        expect(v, t, "malformed token header", NULL);
        free(t);
    }
    const char *bad_payloads[] = {"[1]", "null", "{\"sub\":", "{\"sub\":\"a\\u0000b\"}"};
    for (size_t i = 0; i < sizeof(bad_payloads) / sizeof(bad_payloads[0]); i++) {
        t = sign(rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", bad_payloads[i]);
        expect(v, t, "malformed token payload", NULL);
        free(t);
    }

    /* Over the size cap, even when it is a valid token. */
    char big_claims[JWT_MAX_TOKEN];
    char filler[6201];
    memset(filler, 'x', 6200);
    filler[6200] = '\0';
    char extra[6300];
    snprintf(extra, sizeof(extra), "\"pad\":\"%s\"", filler);
    claims_json(big_claims, sizeof(big_claims), extra);
    t = sign(rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", big_claims);
    ck_assert_uint_gt(strlen(t), JWT_MAX_TOKEN);
    expect(v, t, "token too large", NULL);
    free(t);
    char *huge = malloc(100001);
    memset(huge, 'A', 100000);
    huge[100000] = '\0';
    expect(v, huge, "token too large", NULL);
    free(huge);
    free(good);
    jwt_verifier_free(v);
}
END_TEST

static bool wait_for(struct jwt_verifier *v, uint64_t refreshes)
{
    struct jwt_stats st;
    for (int i = 0; i < 1000; i++) { /* a bounded wait on the condition: 5 s at most */
        jwt_verifier_stats(v, &st);
        if (st.refreshes_ok + st.refreshes_failed >= refreshes)
            return true;
        usleep(5000);
    }
    return false;
}

START_TEST(test_unknown_kid_refresh)
{
    char path[128], err[256];
    path_in_tmp(path, sizeof(path), "rotating.json");
    write_jwks(path, rsa1, NULL);
    struct jwt_config cfg = {.jwks_file = path, .issuer = ISS, .audience = AUD};
    struct jwt_verifier *v = jwt_verifier_new(&cfg, err, sizeof(err));
    ck_assert_msg(v != NULL, "%s", err);
    struct jwt_stats st;
    jwt_verifier_stats(v, &st);
    ck_assert_uint_eq(st.keys, 1);
    ck_assert_uint_eq(st.refresh_requests, 0);

    /* The issuer rotates: the file gains rsa-2 before anyone reloads it. */
    write_jwks(path, rsa1, rsa2, NULL);
    const char *h2 = "{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}";
    expect_signed(v, rsa2, h2, "", "unknown key id");
    jwt_verifier_stats(v, &st);
    ck_assert_uint_eq(st.refresh_requests, 1);
    ck_assert_msg(wait_for(v, 1), "the refresh thread did not reload within 5 s");
    jwt_verifier_stats(v, &st);
    ck_assert_uint_eq(st.refreshes_ok, 1);
    ck_assert_uint_eq(st.keys, 2);
    expect_signed(v, rsa2, h2, "", NULL);
    expect_signed(v, rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", "", NULL);

    /* Another unknown kid within refresh_min_interval_s: refused, and no
     * reload is asked for (a flood of made-up kids costs one reload). */
    char payload[512];
    claims_json(payload, sizeof(payload), "");
    char *t = sign(rsa2, "{\"alg\":\"RS256\",\"kid\":\"rsa-9\"}", payload);
    for (int i = 0; i < 50; i++)
        expect(v, t, "unknown key id", NULL);
    free(t);
    jwt_verifier_stats(v, &st);
    ck_assert_uint_eq(st.refresh_requests, 1);
    jwt_verifier_free(v);
}
END_TEST

START_TEST(test_refresh_keeps_keys_on_failure)
{
    char path[128], err[256];
    path_in_tmp(path, sizeof(path), "breaking.json");
    write_jwks(path, rsa1, NULL);
    struct jwt_config cfg = {.jwks_file = path, .issuer = ISS, .audience = AUD};
    struct jwt_verifier *v = jwt_verifier_new(&cfg, err, sizeof(err));
    ck_assert_msg(v != NULL, "%s", err);
    const char *h1 = "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}";
    write_text(path, "{\"keys\": [");
    ck_assert_int_eq(jwt_verifier_refresh_now(v, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "is not JSON") != NULL, "%s", err);
    expect_signed(v, rsa1, h1, "", NULL);
    /* A failing background reload keeps them too. */
    expect_signed(v, rsa2, "{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}", "", "unknown key id");
    ck_assert(wait_for(v, 2));
    struct jwt_stats st;
    jwt_verifier_stats(v, &st);
    ck_assert_uint_eq(st.refreshes_failed, 2);
    ck_assert_uint_eq(st.keys, 1);
    expect_signed(v, rsa1, h1, "", NULL);
    /* And a reload that works replaces the set: rsa-1 is gone. */
    write_jwks(path, rsa2, NULL);
    ck_assert_int_eq(jwt_verifier_refresh_now(v, err, sizeof(err)), 0);
    expect_signed(v, rsa1, h1, "", "unknown key id");
    expect_signed(v, rsa2, "{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}", "", NULL);
    jwt_verifier_free(v);
}
END_TEST

static char last_err[256];

/* jwt_verifier_new must fail with a reason containing want (kept in last_err). */
static void expect_bad_config(const struct jwt_config *cfg, const char *want)
{
    char *err = last_err;
    err[0] = '\0';
    struct jwt_verifier *v = jwt_verifier_new(cfg, err, sizeof(last_err));
    ck_assert_msg(v == NULL, "a configuration wanting \"%s\" was accepted", want);
    ck_assert_msg(strstr(err, want) != NULL, "expected \"%s\" in \"%s\"", want, err);
}

START_TEST(test_bad_configurations)
{
    char good[128], path[128];
    path_in_tmp(good, sizeof(good), "config-good.json");
    write_jwks(good, rsa1, NULL);
    expect_bad_config(&(struct jwt_config){0}, "no key to verify with");
    expect_bad_config(&(struct jwt_config){.jwks_file = "", .hs256_secret = ""},
                      "no key to verify with");
    expect_bad_config(&(struct jwt_config){.jwks_file = good, .jwks_url = "http://127.0.0.1/"},
                      "not both");
    expect_bad_config(&(struct jwt_config){.jwks_url = "file:///etc/passwd"}, "http(s) URL");
    expect_bad_config(&(struct jwt_config){.hs256_secret = "short"}, "shorter than 32 bytes");
    expect_bad_config(&(struct jwt_config){.jwks_file = good, .algorithms = "RS256 none"},
                      "none is never allowed");
    expect_bad_config(&(struct jwt_config){.jwks_file = good, .algorithms = "HS256"},
                      "HS256 needs hs256_secret");
    expect_bad_config(&(struct jwt_config){.jwks_file = good, .algorithms = "RS256 HS384"},
                      "HS384 is not one of");
    expect_bad_config(&(struct jwt_config){.jwks_file = good, .algorithms = "   "},
                      "the list is empty");
    expect_bad_config(&(struct jwt_config){.jwks_file = good, .leeway_s = -1}, "leeway_s");
    expect_bad_config(&(struct jwt_config){.jwks_file = good, .refresh_min_interval_s = -5},
                      "refresh_min_interval_s");
    path_in_tmp(path, sizeof(path), "missing.json");
    expect_bad_config(&(struct jwt_config){.jwks_file = path}, "cannot read JWKS file");
    path_in_tmp(path, sizeof(path), "bad.json");
    struct {
        const char *text, *want;
    } files[] = {
        {"not json", "is not JSON"},
        {"[]", "not a JWKS"},
        {"{\"keys\": {}}", "not a JWKS"},
        {"{\"keys\": []}", "no usable signature key"},
        {"{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"}]}",
         "no usable signature key"},
        {"{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AAAA\", \"y\": \"AAAA\"}]}",
         "key 1: invalid EC key material"},
        {"{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}", "key 1: RSA key of"},
        {"{\"keys\": [{\"kty\": 3}]}", "key 1: not a JWK"},
        {"{\"keys\": [1]}", "key 1: not a JWK"},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        write_text(path, files[i].text);
        expect_bad_config(&(struct jwt_config){.jwks_file = path}, files[i].want);
    }
    /* A key whose alg contradicts its type. */
    json_t *pub = public_of(ec1);
    json_object_set_new(pub, "alg", json_string("RS256"));
    json_t *doc = json_pack("{s:[o]}", "keys", pub);
    char *text = json_dumps(doc, 0);
    write_text(path, text);
    expect_bad_config(&(struct jwt_config){.jwks_file = path}, "alg RS256 does not fit");
    free(text);
    json_decref(doc);
    /* Encryption keys beside a signature key are passed over; "use": "sig"
     * and "key_ops": ["verify"] are signature keys. */
    pub = public_of(rsa1);
    json_object_set_new(pub, "use", json_string("sig"));
    json_object_set_new(pub, "key_ops", json_pack("[s]", "verify"));
    json_t *enc = public_of(rsa2);
    json_object_set_new(enc, "use", json_string("enc"));
    json_object_set_new(enc, "alg", json_string("RSA-OAEP"));
    doc = json_pack("{s:[o,o]}", "keys", enc, pub);
    text = json_dumps(doc, 0);
    write_text(path, text);
    char err[256];
    struct jwt_verifier *v =
        jwt_verifier_new(&(struct jwt_config){.jwks_file = path}, err, sizeof(err));
    ck_assert_msg(v != NULL, "%s", err);
    struct jwt_stats st;
    jwt_verifier_stats(v, &st);
    ck_assert_uint_eq(st.keys, 1);
    expect_signed(v, rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", "", NULL);
    expect_signed(v, rsa2, "{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}", "", "unknown key id");
    ck_assert_int_eq(jwt_verifier_refresh_now(v, err, sizeof(err)), 0);
    jwt_verifier_free(v);
    free(text);
    json_decref(doc);
    /* HS256 alone has no JWKS to reload. */
    v = jwt_verifier_new(&(struct jwt_config){.hs256_secret = SECRET}, err, sizeof(err));
    ck_assert_msg(v != NULL, "%s", err);
    ck_assert_int_eq(jwt_verifier_refresh_now(v, err, sizeof(err)), -1);
    expect_signed(v, rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", "", "no key for the algorithm");
    jwt_verifier_free(v);
    jwt_verifier_free(NULL);
}
END_TEST

START_TEST(test_jwks_url)
{
    json_t *doc = json_pack("{s:[o]}", "keys", public_of(ec1));
    char *jwks = json_dumps(doc, 0);
    char response[4096];
    snprintf(response, sizeof(response),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             strlen(jwks), jwks);
    struct http_stub s;
    http_stub_start(&s, response);
    char url[64], err[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/.well-known/jwks.json", s.port);
    struct jwt_verifier *v =
        jwt_verifier_new(&(struct jwt_config){.jwks_url = url}, err, sizeof(err));
    http_stub_join(&s);
    ck_assert_msg(v != NULL, "%s", err);
    const char *line = "GET /.well-known/jwks.json HTTP/1.1\r\n";
    ck_assert_msg(strncmp(s.request, line, strlen(line)) == 0, "request: %s", s.request);
    expect_signed(v, ec1, "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", "", NULL);
    jwt_verifier_free(v);

    http_stub_start(&s, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/jwks?token=private", s.port);
    expect_bad_config(&(struct jwt_config){.jwks_url = url}, "jwks_url answered HTTP 404");
    http_stub_join(&s);
    ck_assert_msg(strstr(last_err, "private") == NULL, "the URL is in \"%s\"", last_err);

    http_stub_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/jwks", s.port);
    expect_bad_config(&(struct jwt_config){.jwks_url = url}, "jwks_url is not JSON");
    http_stub_join(&s);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/jwks", loopback_unused_port());
    expect_bad_config(&(struct jwt_config){.jwks_url = url}, "jwks_url: ");
    free(jwks);
    json_decref(doc);
}
END_TEST

struct racer {
    struct jwt_verifier *v;
    const char *token;
    atomic_int *failures;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < 100; i++) {
        struct jwt_claims c;
        char why[128];
        if (jwt_verify(r->v, r->token, NOW, &c, why, sizeof(why)) != 0 ||
            strcmp(c.sub, "user-7") != 0)
            atomic_fetch_add(r->failures, 1);
    }
    return NULL;
}

START_TEST(test_verify_races_reloads)
{
    struct jwt_verifier *v = verifier(false, NULL);
    char payload[512];
    claims_json(payload, sizeof(payload), "");
    char *rs = sign(rsa1, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", payload);
    char *es = sign(ec1, "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", payload);
    atomic_int failures = 0;
    struct racer racers[4] = {
        {v, rs, &failures}, {v, es, &failures}, {v, rs, &failures}, {v, es, &failures}};
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    char err[256];
    for (int i = 0; i < 20; i++)
        ck_assert_msg(jwt_verifier_refresh_now(v, err, sizeof(err)) == 0, "%s", err);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    ck_assert_int_eq(atomic_load(&failures), 0);
    free(es);
    free(rs);
    jwt_verifier_free(v);
}
END_TEST

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_jwt.XXXXXX");
    if (!mkdtemp(tmpdir))
        return EXIT_FAILURE;
    rsa1 = gen_key("RS256", "rsa-1");
    rsa2 = gen_key("RS256", "rsa-2");
    rsa_impostor = gen_key("RS256", "rsa-1");
    ec1 = gen_key("ES256", "ec-1");

    Suite *s = suite_create("jwt");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60); /* RSA under valgrind is slow */
    tcase_add_test(tc, test_valid_rs256);
    tcase_add_test(tc, test_valid_es256);
    tcase_add_test(tc, test_valid_hs256);
    tcase_add_test(tc, test_kid_selection);
    tcase_add_test(tc, test_time_claims);
    tcase_add_test(tc, test_issuer_audience_subject);
    tcase_add_test(tc, test_signed_by_another_key);
    tcase_add_test(tc, test_alg_none);
    tcase_add_test(tc, test_hs256_with_rsa_public_key);
    tcase_add_test(tc, test_algorithm_allow_list);
    tcase_add_test(tc, test_malformed_tokens);
    tcase_add_test(tc, test_unknown_kid_refresh);
    tcase_add_test(tc, test_refresh_keeps_keys_on_failure);
    tcase_add_test(tc, test_bad_configurations);
    tcase_add_test(tc, test_jwks_url);
    tcase_add_test(tc, test_verify_races_reloads);
    suite_add_tcase(s, tc);
    int rc = loopback_check_run(s);

    json_decref(ec1);
    json_decref(rsa_impostor);
    json_decref(rsa2);
    json_decref(rsa1);
    remove_tmpdir();
    return rc;
}
