/* ops.c - the operators: + - * / neg dup swap drop max min. */
#include <string.h>

#include "calc.h"

static enum calc_status binary(struct stack *s, char op)
{
    double a, b, r;

    if (!stack_pop(s, &b))
        return CALC_UNDERFLOW;
    if (!stack_pop(s, &a))
        return CALC_UNDERFLOW;
    switch (op) {
    case '+': r = a + b; break;
    case '-': r = a - b; break;
    case '*': r = a * b; break;
    case '/':
        if (b == 0.0)
            return CALC_DIV_ZERO;
        r = a / b;
        break;
    case '>': r = a > b ? a : b; break;
    default:  r = a < b ? a : b; break;
    }
    return stack_push(s, r) ? CALC_OK : CALC_OVERFLOW;
}

static enum calc_status unary(struct stack *s, const char *word)
{
    double a;

    if (!stack_pop(s, &a))
        return CALC_UNDERFLOW;
    if (strcmp(word, "drop") == 0)
        return CALC_OK;
    if (strcmp(word, "neg") == 0)
        return stack_push(s, -a) ? CALC_OK : CALC_OVERFLOW;
    /* dup */
    if (!stack_push(s, a) || !stack_push(s, a))
        return CALC_OVERFLOW;
    return CALC_OK;
}

enum calc_status calc_apply(const char *word, struct stack *s)
{
    double a, b;

    if (strlen(word) == 1 && strchr("+-*/", word[0]) != NULL)
        return binary(s, word[0]);
    if (strcmp(word, "max") == 0)
        return binary(s, '>');
    if (strcmp(word, "min") == 0)
        return binary(s, '<');
    if (strcmp(word, "neg") == 0 || strcmp(word, "dup") == 0 || strcmp(word, "drop") == 0)
        return unary(s, word);
    if (strcmp(word, "swap") == 0) {
        if (!stack_pop(s, &b) || !stack_pop(s, &a))
            return CALC_UNDERFLOW;
        stack_push(s, b);
        stack_push(s, a);
        return CALC_OK;
    }
    return CALC_UNKNOWN_WORD;
}
