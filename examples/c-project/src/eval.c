/* eval.c - evaluates one line of RPN: numbers are pushed, words applied. */
#include "calc.h"
#include "lexer.h"

enum calc_status calc_eval(const char *line, double *result)
{
    struct stack s;
    struct token t;
    enum calc_status status = CALC_OK;

    stack_clear(&s);
    for (t = lex_next(&line); t.kind != TOK_END; t = lex_next(&line)) {
        if (t.kind == TOK_NUMBER)
            status = stack_push(&s, t.number) ? CALC_OK : CALC_OVERFLOW;
        else if (t.kind == TOK_WORD)
            status = calc_apply(t.word, &s);
        else
            status = CALC_BAD_TOKEN;
        if (status != CALC_OK)
            return status;
    }
    if (!stack_pop(&s, result))
        return CALC_UNDERFLOW;
    return s.depth == 0 ? CALC_OK : CALC_LEFTOVER;
}

const char *calc_strerror(enum calc_status status)
{
    switch (status) {
    case CALC_OK:           return "ok";
    case CALC_UNDERFLOW:    return "stack underflow";
    case CALC_OVERFLOW:     return "stack overflow";
    case CALC_DIV_ZERO:     return "division by zero";
    case CALC_UNKNOWN_WORD: return "unknown word";
    case CALC_BAD_TOKEN:    return "word too long";
    case CALC_LEFTOVER:     return "values left on the stack";
    }
    return "?";
}
