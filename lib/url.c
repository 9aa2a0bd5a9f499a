#include "url.h"

#include <stddef.h>
#include <strings.h>

bool url_http_ok(const char *url)
{
    size_t skip;
    if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else
        return false;
    const char *host = url + skip;
    if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
        return false;
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    return true;
}
