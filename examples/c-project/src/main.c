/* main.c - reads RPN expressions, one per line, and prints each result.
 * Blank lines and `#` comments are skipped; exit status 1 if a line failed. */
#include <stdio.h>
#include <string.h>

#include "calc.h"

int main(void)
{
    char line[256];
    int lineno = 0, failed = 0;
    double result;
    enum calc_status status;

    while (fgets(line, sizeof line, stdin) != NULL) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (line[strspn(line, " \t")] == '\0' || line[strspn(line, " \t")] == '#')
            continue;
        status = calc_eval(line, &result);
        if (status == CALC_OK) {
            printf("%g\n", result);
        } else {
            printf("line %d: error: %s\n", lineno, calc_strerror(status));
            failed = 1;
        }
    }
    return failed;
}
