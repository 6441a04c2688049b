/* lexer.c - numbers (strtod syntax) and words separated by blanks. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lexer.h"

struct token lex_next(const char **cursor)
{
    struct token t;
    const char *p = *cursor;
    char *end;
    size_t len = 0;

    memset(&t, 0, sizeof t);
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0' || *p == '#') {          /* `#` starts a comment */
        t.kind = TOK_END;
        *cursor = p;
        return t;
    }
    t.number = strtod(p, &end);
    if (end != p && (*end == '\0' || isspace((unsigned char)*end))) {
        t.kind = TOK_NUMBER;
        *cursor = end;
        return t;
    }
    while (p[len] != '\0' && !isspace((unsigned char)p[len]))
        len++;
    t.kind = len < WORD_MAX ? TOK_WORD : TOK_ERROR;
    if (len >= WORD_MAX)
        len = WORD_MAX - 1;
    memcpy(t.word, p, len);
    *cursor = p + len;
    while (**cursor != '\0' && !isspace((unsigned char)**cursor))
        (*cursor)++;
    return t;
}
