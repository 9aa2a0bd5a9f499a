/* url: the one check of a URL Sluice takes from configuration or a user: the
 * channels' webhook URLs and sluicectl's API URL. Pure. */
#ifndef SLUICE_URL_H
#define SLUICE_URL_H

#include <stdbool.h>

/* True for an absolute http:// or https:// URL with a host and no spaces or
 * control characters. */
bool url_http_ok(const char *url);

#endif
