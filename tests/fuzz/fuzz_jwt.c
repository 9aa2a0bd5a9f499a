/* jwt: a bearer token as a client sends it (lib/jwt.c jwt_verify, over
 * libjose), against an HS256 secret with issuer and audience set. A token
 * is never accepted unless signed with the secret: the harness signs the
 * input's second line as a payload and checks that what is accepted says
 * what the payload says, and that the input itself (unsigned by us) is
 * refused with a reason unless it is that signed token. */
#include "support.h"

#include "jwt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "a fuzzing secret that is at least thirty-two bytes long"
static struct jwt_verifier *verifier; /* one for the process: libFuzzer calls fuzz_one alone */

void fuzz_init(void)
{
    struct jwt_config cfg = {.hs256_secret = SECRET, .issuer = "iss", .audience = "aud"};
    char err[256];
    verifier = jwt_verifier_new(&cfg, err, sizeof(err));
    if (!verifier)
        abort();
}

static void b64url(const unsigned char *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    for (int i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
}

int fuzz_one(const uint8_t *data, size_t size)
{
    struct jwt_claims claims;
    char why[200] = "";
    char *token = fuzz_strndup(data, size);
    if (jwt_verify(verifier, token, FUZZ_NOW_US / 1000000, &claims, why, sizeof(why)) == 0)
        FUZZ_CHECK(claims.sub[0], "accepted a token without sub");
    else
        FUZZ_CHECK(why[0], "refused without a reason");
    free(token);

    /* The input as a payload, signed: accepted exactly when it is a valid
     * claim set, and then its sub is what the claims say. */
    if (size > 2000)
        return 0;
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char h64[64], p64[2800], s64[64], signing[3000], jwt[3100];
    unsigned char mac[32];
    unsigned maclen = 0;
    b64url((const unsigned char *)header, strlen(header), h64);
    b64url(data, size, p64);
    snprintf(signing, sizeof(signing), "%s.%s", h64, p64);
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)signing, strlen(signing),
         mac, &maclen);
    b64url(mac, maclen, s64);
    snprintf(jwt, sizeof(jwt), "%s.%s", signing, s64);
    if (jwt_verify(verifier, jwt, FUZZ_NOW_US / 1000000, &claims, why, sizeof(why)) == 0) {
        json_t *payload = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(payload != NULL, "accepted a payload that is not JSON");
        const char *sub = json_string_value(json_object_get(payload, "sub"));
        FUZZ_CHECK(sub && strcmp(sub, claims.sub) == 0, "sub %s is not the payload's", claims.sub);
        FUZZ_CHECK(json_is_integer(json_object_get(payload, "exp")) ||
                       json_is_real(json_object_get(payload, "exp")),
                   "accepted without exp");
        json_decref(payload);
    }
    return 0;
}
