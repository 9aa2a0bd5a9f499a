/* check_main: the one way every unit test program runs its suite: Check's
 * normal output, and an exit status that fails the build when a test fails. */
#ifndef SLUICE_CHECK_MAIN_H
#define SLUICE_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int check_run(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
