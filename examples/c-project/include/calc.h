/* calc.h - operators and the evaluation of one line. */
#ifndef RPN_CALC_H
#define RPN_CALC_H

#include "stack.h"

enum calc_status {
    CALC_OK,
    CALC_UNDERFLOW,
    CALC_OVERFLOW,
    CALC_DIV_ZERO,
    CALC_UNKNOWN_WORD,
    CALC_BAD_TOKEN,
    CALC_LEFTOVER
};

/* Applies the operator `word` to the stack (ops.c). */
enum calc_status calc_apply(const char *word, struct stack *s);

/* Evaluates a whole line; on CALC_OK, *result is the single value left (eval.c). */
enum calc_status calc_eval(const char *line, double *result);

const char *calc_strerror(enum calc_status status);

#endif
