//! `depfile`'s unit tests: real compiler output, each escape, each error.

use super::*;

fn ok(text: &str) -> Vec<String> {
    parse(text).unwrap()
}

fn err(text: &str) -> DepfileError {
    parse(text).unwrap_err()
}

/// What gcc 12 wrote for `gcc -MD -MP -MF main.d -c main.c` (shortened), with a header
/// named `my header.h` and one named `a$b.h`.
const GCC: &str = "main.o: main.c /usr/include/stdc-predef.h /usr/include/stdio.h \\
 /usr/include/x86_64-linux-gnu/bits/libc-header-start.h \\
 /usr/include/features.h /usr/include/features-time64.h \\
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h \\
 /usr/include/x86_64-linux-gnu/bits/floatn-common.h my\\ header.h a$$b.h
/usr/include/stdc-predef.h:
/usr/include/stdio.h:
/usr/include/x86_64-linux-gnu/bits/libc-header-start.h:
/usr/include/features.h:
/usr/include/features-time64.h:
/usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h:
/usr/include/x86_64-linux-gnu/bits/floatn-common.h:
my\\ header.h:
a$$b.h:
";

#[test]
fn real_gcc_output_with_continuations_system_headers_and_phony_rules() {
    assert_eq!(
        ok(GCC),
        [
            "main.c",
            "/usr/include/stdc-predef.h",
            "/usr/include/stdio.h",
            "/usr/include/x86_64-linux-gnu/bits/libc-header-start.h",
            "/usr/include/features.h",
            "/usr/include/features-time64.h",
            "/usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h",
            "/usr/include/x86_64-linux-gnu/bits/floatn-common.h",
            "my header.h",
            "a$b.h",
        ]
    );
}

#[test]
fn the_committed_gcc_corpus_seed_parses() {
    let text = include_str!("../../tests/corpus/depfile/gcc-mp-escapes.d");
    let found = ok(text);
    assert_eq!(found.len(), 28);
    assert_eq!(found.first().map(String::as_str), Some("main.c"));
    assert_eq!(&found[26..], ["my header.h", "a$b.h"]);
}

#[test]
fn mp_phony_targets_add_nothing() {
    assert_eq!(ok("a.o: a.c a.h\na.h:\n"), ["a.c", "a.h"]);
    assert!(ok("a.h:\nb.h:\n").is_empty());
}

#[test]
fn escapes_in_names() {
    // `\ ` is a space in the name; `\#` is `#`; `\:` is `:`.
    assert_eq!(
        ok("my\\ out.o: my\\ file.c dir\\ a/b\\ c.h h\\#1.h x\\:y\n"),
        ["my file.c", "dir a/b c.h", "h#1.h", "x:y"]
    );
    // ninja's rule for backslashes before a space: 2N+1 keep N and escape the space,
    // 2N are kept and end the name.
    assert_eq!(ok("o: a\\\\\\ b c\\\\ d\n"), ["a\\ b", "c\\\\", "d"]);
    // Any other backslash is part of the name.
    assert_eq!(ok("o: a\\b\\\n"), ["a\\b"]);
}

#[test]
fn double_dollar_is_one_dollar() {
    assert_eq!(ok("o: a$$b.h $$$$ c$d\n"), ["a$b.h", "$$", "c$d"]);
}

#[test]
fn crlf_line_endings_and_continuations() {
    assert_eq!(ok("o: a.h \\\r\n  b.h\r\n\r\nb.h:\r\n"), ["a.h", "b.h"]);
    let text = include_str!("../../tests/corpus/depfile/crlf-multiple-targets.d");
    assert_eq!(
        ok(text),
        ["h.c", "/usr/include/stdc-predef.h", "h#1.h", "sub/x.h"]
    );
}

#[test]
fn several_targets_and_several_rules() {
    assert_eq!(ok("a.o b.o: x.h\nc.o: y.h x.h\n"), ["x.h", "y.h"]);
    // A target name is never a prerequisite, unless named as one.
    assert_eq!(ok("a.o: b.o\nb.o: c\n"), ["b.o", "c"]);
}

#[test]
fn duplicates_are_removed_in_order_of_first_appearance() {
    assert_eq!(ok("o: b a b \\\n a c\np: c b d\n"), ["b", "a", "c", "d"]);
}

#[test]
fn blank_lines_comments_and_whitespace() {
    assert!(ok("").is_empty());
    assert!(ok("\n\n  \n\t\n").is_empty());
    assert!(ok("# only a comment\n").is_empty());
    assert_eq!(
        ok("# gcc -MD\n\n  o:\ta.h   b.h  # trailing \\\n still comment\nc.o: c.h\n"),
        ["a.h", "b.h", "c.h"]
    );
    // No final line end.
    assert_eq!(ok("o: a.h"), ["a.h"]);
    // `:` with the prerequisites on the continuation line, and `:` after a space.
    assert_eq!(ok("o:\\\n a.h\np : b.h\n"), ["a.h", "b.h"]);
}

#[test]
fn a_colon_inside_a_name_is_part_of_it() {
    assert_eq!(ok("o: a:b c::d\n"), ["a:b", "c::d"]);
    assert_eq!(ok("c:/x.o: c:/x.c\n"), ["c:/x.c"]);
    // Without a separating `:`, the line has no targets: an error, not a crash.
    assert_eq!(err("a:b\n").line, 1);
}

#[test]
fn a_rule_without_a_colon_is_an_error_on_its_line() {
    let e = err("o: a.h \\\n b.h\nc.h:\n\nfoo.o bar.h\nd.h:\n");
    assert_eq!(e.line, 5);
    assert!(e.message.contains("no `:` after `foo.o`"), "{e}");
    assert!(e.to_string().starts_with("line 5: "), "{e}");
    // Its first line, when the rule is continued.
    assert_eq!(err("o: a\n\nx \\\n y \\\n z\n").line, 3);
    assert_eq!(err("o: a\r\nx y\r\n").line, 2);
}

#[test]
fn text_at_the_end_with_nothing_after_it_is_an_error() {
    let e = err("o: a.h\nb.h:\ntrunc");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("cut short"), "{e}");
}

#[test]
fn a_second_colon_in_a_rule_is_an_error() {
    assert_eq!(err("o: a.h\np: b.h: c.h\n").line, 2);
}

#[test]
fn a_nul_byte_is_an_error() {
    assert_eq!(err("o: a.h\nb\0.h\n").line, 2);
    assert_eq!(err("o: a.h\n# x\0\n").line, 2);
}

#[test]
fn non_ascii_names_stay_whole() {
    assert_eq!(ok("o: é/ü\\ ñ.h —.h\n"), ["é/ü ñ.h", "—.h"]);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

        /// Never a panic, whatever the text; an error always names a line of it.
        #[test]
        fn parse_never_panics(text in any::<String>()) {
            if let Err(e) = parse(&text) {
                prop_assert!(e.line >= 1 && e.line <= text.split('\n').count());
            }
        }

        /// The same on text made of the format's own tokens, where the interesting
        /// states are.
        #[test]
        fn parse_never_panics_on_depfile_like_text(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("\\"), Just(" "), Just("\t"), Just(":"), Just("\n"), Just("\r\n"),
                    Just("\r"), Just("$"), Just("#"), Just("a"), Just("é"), Just("\0"),
                ],
                0..40,
            )
        ) {
            let text = parts.concat();
            if let Ok(names) = parse(&text) {
                let mut unique = names.clone();
                unique.sort();
                unique.dedup();
                prop_assert_eq!(unique.len(), names.len());
                prop_assert!(names.iter().all(|n| !n.is_empty()));
            }
        }
    }
}
