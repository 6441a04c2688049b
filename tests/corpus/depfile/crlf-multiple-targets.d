out\ put.o other.o: h.c /usr/include/stdc-predef.h h\#1.h \
  sub/x.h

# a comment
h\#1.h:
sub/x.h:
