/* stack.h - the calculator's operand stack. */
#ifndef RPN_STACK_H
#define RPN_STACK_H

#define STACK_MAX 64

struct stack {
    double items[STACK_MAX];
    int depth;
};

void stack_clear(struct stack *s);
int stack_push(struct stack *s, double value);   /* 0 when full */
int stack_pop(struct stack *s, double *value);   /* 0 when empty */

#endif
