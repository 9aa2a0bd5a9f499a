/* Unit tests for lib/webhook_sig.c: the Standard Webhooks example signature,
 * rotation with two secrets, and refused secrets. */
#include "check_main.h"
#include "webhook_sig.h"

#include <check.h>
#include <string.h>

static const char *const body = "{\"test\": 2432232314}";

START_TEST(test_known_signature)
{
    const char *secrets[] = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    char out[256];
    ck_assert_int_eq(webhook_signature(secrets, 1, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                       strlen(body), out, sizeof(out)),
                     0);
    ck_assert_str_eq(out, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}
END_TEST

START_TEST(test_rotation_signs_with_every_secret)
{
    const char *secrets[] = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2VjcmV0LTI="};
    char out[256];
    ck_assert_int_eq(webhook_signature(secrets, 2, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                       strlen(body), out, sizeof(out)),
                     0);
    ck_assert(strncmp(out, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,", 51) == 0);
    ck_assert_uint_eq(strlen(out), 51 + 44);
}
END_TEST

START_TEST(test_bad_secrets)
{
    char out[256];
    const char *no_prefix[] = {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    ck_assert_int_eq(webhook_signature(no_prefix, 1, "m", 1, body, strlen(body), out, sizeof(out)),
                     -1);
    const char *not_base64[] = {"whsec_not base64!"};
    ck_assert_int_eq(webhook_signature(not_base64, 1, "m", 1, body, strlen(body), out, sizeof(out)),
                     -1);
    const char *empty[] = {"whsec_"};
    ck_assert_int_eq(webhook_signature(empty, 1, "m", 1, body, strlen(body), out, sizeof(out)), -1);
    const char *ok[] = {"whsec_c2VjcmV0LTI="};
    char tiny[8];
    ck_assert_int_eq(webhook_signature(ok, 1, "m", 1, body, strlen(body), tiny, sizeof(tiny)), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("webhook_sig");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_known_signature);
    tcase_add_test(tc, test_rotation_signs_with_every_secret);
    tcase_add_test(tc, test_bad_secrets);
    suite_add_tcase(s, tc);
    return check_run(s);
}
