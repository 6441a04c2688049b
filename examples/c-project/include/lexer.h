/* lexer.h - splits one line of RPN input into numbers and words. */
#ifndef RPN_LEXER_H
#define RPN_LEXER_H

#define WORD_MAX 16

enum token_kind { TOK_NUMBER, TOK_WORD, TOK_END, TOK_ERROR };

struct token {
    enum token_kind kind;
    double number;            /* TOK_NUMBER */
    char word[WORD_MAX];      /* TOK_WORD, or the offending text for TOK_ERROR */
};

/* Reads the next token at *cursor and advances it past the token. */
struct token lex_next(const char **cursor);

#endif
