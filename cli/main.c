/* sluicectl: the Sluice API from the command line (docs/cli.md). */
#include "commands.h"

#include <curl/curl.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "error: libcurl cannot start\n");
        return CLI_EXIT_ERROR;
    }
    int rc = cli_main(argc, argv);
    curl_global_cleanup();
    /* Output that could not be written (a full disk) is a failure too. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "error: cannot write the output\n");
        if (rc == CLI_EXIT_OK)
            rc = CLI_EXIT_ERROR;
    }
    return rc;
}
