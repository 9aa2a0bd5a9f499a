/* Unit tests for webhook_verify (lib/webhook_sig.c): the Standard Webhooks
 * example verifies; tampered bodies, ids and timestamps, stale and future
 * timestamps, unknown or rotated-out secrets and garbage headers do not; a
 * header with several signatures passes when any one matches any secret. */
#include "check_main.h"
#include "webhook_sig.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

static const char *const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char *const other = "whsec_c2VjcmV0LTI=";
static const char *const id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
static const char *const ts = "1614265330";
static const int64_t now = 1614265330;
static const char *const body = "{\"test\": 2432232314}";
static const char *const sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

static char why[256];

/* Verifies with the example secret alone. */
static int check(const char *msg_id, const char *timestamp, const char *header, const char *text,
                 int64_t at)
{
    const char *secrets[] = {secret};
    why[0] = 'x';
    int rc = webhook_verify(secrets, 1, msg_id, timestamp, header, text, text ? strlen(text) : 0,
                            at, 0, why, sizeof(why));
    /* The reason is for a 401 body: it never repeats a secret or signature. */
    ck_assert_ptr_null(strstr(why, "MfKQ9r8G"));
    ck_assert_ptr_null(strstr(why, "g0hM9SsE"));
    if (rc == 0)
        ck_assert_str_eq(why, "");
    else
        ck_assert_msg(strlen(why) > 0, "-1 without a reason");
    return rc;
}

START_TEST(test_spec_vector)
{
    ck_assert_msg(check(id, ts, sig, body, now) == 0, "%s", why);
}
END_TEST

START_TEST(test_tampered)
{
    ck_assert_int_eq(check(id, ts, sig, "{\"test\": 2432232315}", now), -1);
    ck_assert_str_eq(why, "no webhook-signature matches");
    ck_assert_int_eq(check(id, ts, sig, "{\"test\": 2432232314} ", now), -1);
    ck_assert_int_eq(check(id, ts, sig, "", now), -1);
    ck_assert_int_eq(check("msg_p5jXN8AQM9LWM0D4loKWxJel", ts, sig, body, now), -1);
    ck_assert_int_eq(check(id, "1614265331", sig, body, now), -1);
    /* One bit of the signature. */
    ck_assert_int_eq(check(id, ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", body, now),
                     -1);
}
END_TEST

START_TEST(test_timestamp_window)
{
    ck_assert_int_eq(check(id, ts, sig, body, now + 300), 0);
    ck_assert_int_eq(check(id, ts, sig, body, now - 300), 0);
    ck_assert_int_eq(check(id, ts, sig, body, now + 301), -1);
    ck_assert_str_eq(why, "webhook-timestamp is more than 300 s old");
    ck_assert_int_eq(check(id, ts, sig, body, now - 301), -1);
    ck_assert_str_eq(why, "webhook-timestamp is more than 300 s in the future");
    ck_assert_int_eq(check(id, ts, sig, body, INT64_MAX), -1);
    ck_assert_int_eq(check(id, ts, sig, body, INT64_MIN), -1);

    const char *secrets[] = {secret};
    ck_assert_int_eq(
        webhook_verify(secrets, 1, id, ts, sig, body, strlen(body), now + 10, 10, why, sizeof(why)),
        0);
    ck_assert_int_eq(
        webhook_verify(secrets, 1, id, ts, sig, body, strlen(body), now + 11, 10, why, sizeof(why)),
        -1);
    ck_assert_int_eq(
        webhook_verify(secrets, 1, id, ts, sig, body, strlen(body), now - 11, 10, why, sizeof(why)),
        -1);
}
END_TEST

START_TEST(test_several_signatures)
{
    static const char *const ok[] = {
        "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= "
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,bm90IGl0",
        "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v2,xyz garbage "
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "  v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=  ",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ck_assert_msg(check(id, ts, ok[i], body, now) == 0, "header %zu: %s", i, why);
}
END_TEST

START_TEST(test_rotated_secrets)
{
    /* The sender still signs with the old secret; the receiver has both. */
    const char *both[] = {other, secret};
    ck_assert_int_eq(
        webhook_verify(both, 2, id, ts, sig, body, strlen(body), now, 0, why, sizeof(why)), 0);
    /* The old one retired: refused. */
    const char *new_only[] = {other};
    ck_assert_int_eq(
        webhook_verify(new_only, 1, id, ts, sig, body, strlen(body), now, 0, why, sizeof(why)), -1);
    /* The sender signs with both (webhook_signature), the receiver has the
     * new one. */
    const char *sender[] = {secret, other};
    char header[256];
    ck_assert_int_eq(
        webhook_signature(sender, 2, id, now, body, strlen(body), header, sizeof(header)), 0);
    ck_assert_int_eq(
        webhook_verify(new_only, 1, id, ts, header, body, strlen(body), now, 0, why, sizeof(why)),
        0);
    /* No secrets, or a broken one: refused, never accepted. */
    ck_assert_int_eq(
        webhook_verify(both, 0, id, ts, sig, body, strlen(body), now, 0, why, sizeof(why)), -1);
    const char *broken[] = {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", secret};
    ck_assert_int_eq(
        webhook_verify(broken, 2, id, ts, sig, body, strlen(body), now, 0, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "secret 1 is not whsec_ followed by base64");
}
END_TEST

START_TEST(test_garbage_signature_headers)
{
    static const char *const bad[] = {
        "v1,",
        "v1",
        "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1;g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1, g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE==",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=x",
        "xv1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=,v1",
        "v1,x\tv1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hm9sse+otpjtgt/tmiktsyzle3ufjelvlnioljx1oe=",
        "     ",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(check(id, ts, bad[i], body, now) == -1, "header %zu accepted", i);
    ck_assert_int_eq(check(id, ts, "v1a,abc v2,def", body, now), -1);
    ck_assert_str_eq(why, "webhook-signature has no v1 signature");
    ck_assert_int_eq(check(id, ts, "", body, now), -1);
    ck_assert_int_eq(check(id, ts, NULL, body, now), -1);

    /* Over WEBHOOK_SIG_HEADER_MAX, even with the right one in it. */
    static char huge[WEBHOOK_SIG_HEADER_MAX + 64];
    memset(huge, ' ', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    memcpy(huge, sig, strlen(sig));
    ck_assert_int_eq(check(id, ts, huge, body, now), -1);
    ck_assert_str_eq(why, "webhook-signature is missing or longer than 4096 bytes");
}
END_TEST

START_TEST(test_garbage_timestamps)
{
    static const char *const bad[] = {"",
                                      "abc",
                                      "1614265330.0",
                                      "+1614265330",
                                      " 1614265330",
                                      "1614265330 ",
                                      "01614265330",
                                      "-1614265330",
                                      "1.6e9",
                                      "0x603884f2",
                                      "1614265330000000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(check(id, bad[i], sig, body, now) == -1, "timestamp '%s' accepted", bad[i]);
        ck_assert_str_eq(why, "webhook-timestamp is missing or not whole seconds since the epoch");
    }
    ck_assert_int_eq(check(id, NULL, sig, body, now), -1);
    /* Well formed but far away. */
    ck_assert_int_eq(check(id, "0", sig, body, now), -1);
    ck_assert_int_eq(check(id, "999999999999999", sig, body, now), -1);
}
END_TEST

START_TEST(test_garbage_ids)
{
    char longid[WEBHOOK_SIG_ID_MAX + 2];
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    const char *bad[] = {"", "msg.1", "msg 1", "msg\x7f", "msg\xc3\xa9", "msg\t", longid};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(check(bad[i], ts, sig, body, now) == -1, "id %zu accepted", i);
    ck_assert_int_eq(check(NULL, ts, sig, body, now), -1);
    /* The longest allowed id is only refused for its signature. */
    longid[WEBHOOK_SIG_ID_MAX] = '\0';
    ck_assert_int_eq(check(longid, ts, sig, body, now), -1);
    ck_assert_str_eq(why, "no webhook-signature matches");
}
END_TEST

START_TEST(test_round_trip_and_small_reason_buffer)
{
    const char *secrets[] = {other};
    char header[128];
    const char *text = "line one\nline two\0after a NUL";
    size_t len = 29;
    ck_assert_int_eq(webhook_signature(secrets, 1, "evt_1", now, text, len, header, sizeof(header)),
                     0);
    ck_assert_int_eq(
        webhook_verify(secrets, 1, "evt_1", ts, header, text, len, now, 0, why, sizeof(why)), 0);
    /* The body is bytes, NULs included. */
    ck_assert_int_eq(
        webhook_verify(secrets, 1, "evt_1", ts, header, text, 18, now, 0, why, sizeof(why)), -1);
    char tiny[8];
    ck_assert_int_eq(
        webhook_verify(secrets, 1, "evt_1", ts, "v1,x", text, len, now, 0, tiny, sizeof(tiny)), -1);
    ck_assert_str_eq(tiny, "no webh");
    ck_assert_int_eq(webhook_verify(secrets, 1, "evt_1", ts, "v1,x", text, len, now, 0, NULL, 0),
                     -1);
}
END_TEST

START_TEST(test_secret_valid)
{
    ck_assert(webhook_secret_valid(secret));
    ck_assert(webhook_secret_valid(other));
    ck_assert(!webhook_secret_valid("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    ck_assert(!webhook_secret_valid("whsec_"));
    ck_assert(!webhook_secret_valid("whsec_abc"));
    ck_assert(!webhook_secret_valid("whsec_not base64!"));
    ck_assert(!webhook_secret_valid(NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("webhook_verify");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_spec_vector);
    tcase_add_test(tc, test_tampered);
    tcase_add_test(tc, test_timestamp_window);
    tcase_add_test(tc, test_several_signatures);
    tcase_add_test(tc, test_rotated_secrets);
    tcase_add_test(tc, test_garbage_signature_headers);
    tcase_add_test(tc, test_garbage_timestamps);
    tcase_add_test(tc, test_garbage_ids);
    tcase_add_test(tc, test_round_trip_and_small_reason_buffer);
    tcase_add_test(tc, test_secret_valid);
    suite_add_tcase(s, tc);
    return check_run(s);
}
