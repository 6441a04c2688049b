/* stack.c - a fixed-size stack of doubles. */
#include "stack.h"

void stack_clear(struct stack *s)
{
    s->depth = 0;
}

int stack_push(struct stack *s, double value)
{
    if (s->depth == STACK_MAX)
        return 0;
    s->items[s->depth++] = value;
    return 1;
}

int stack_pop(struct stack *s, double *value)
{
    if (s->depth == 0)
        return 0;
    *value = s->items[--s->depth];
    return 1;
}
