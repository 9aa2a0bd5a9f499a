#include "birthday.h"

#include "timeutil.h"

#include <stdio.h>
#include <string.h>

bool birthday_valid_username(const char *name)
{
    size_t len = strlen(name);
    if (len < 1 || len > 100)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return false;
    }
    return true;
}

int birthday_parse_date(const char *s, int64_t today, int *year, int *month, int *day)
{
    /* time_parse also takes date-times; a birthday is a date and nothing else. */
    if (strlen(s) != 10)
        return -1;
    int64_t us;
    if (time_parse(s, &us) != 0)
        return -1;
    int64_t days = us / (86400LL * 1000000);
    if (days >= today)
        return -1;
    time_civil_from_days(days, year, month, day);
    return 0;
}

/* The birthday's date in a given year. */
static int64_t birthday_in(int year, int month, int day)
{
    if (month == 2 && day == 29 && !time_is_leap_year(year))
        day = 28;
    return time_days_from_civil(year, month, day);
}

int birthday_days_until(int month, int day, int64_t today)
{
    int y, m, d;
    time_civil_from_days(today, &y, &m, &d);
    int64_t next = birthday_in(y, month, day);
    if (next < today)
        next = birthday_in(y + 1, month, day);
    return (int)(next - today);
}

void birthday_message(const char *name, int days, char *out, size_t outlen)
{
    if (days == 0)
        snprintf(out, outlen, "Hello, %s! Happy birthday!", name);
    else
        snprintf(out, outlen, "Hello, %s! Your birthday is in %d day(s)", name, days);
}
