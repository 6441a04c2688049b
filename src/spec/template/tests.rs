//! `template`'s unit tests: substitution, what is left to the shell, bindings.

use super::*;

fn vars(name: &str) -> Option<String> {
    match name {
        "cflags" => Some("-O2 -Wall".into()),
        "stem" => Some("lexer".into()),
        "brace" => Some("-DX={1}".into()),
        _ => None,
    }
}

fn plain(text: &str) -> Result<String, String> {
    substitute(text, Mode::Plain, &vars).map(Cow::into_owned)
}

fn run(text: &str) -> Result<String, String> {
    substitute(text, Mode::Run, &vars).map(Cow::into_owned)
}

#[test]
fn identifiers_are_replaced() {
    assert_eq!(
        plain("cc {cflags} -c src/{stem}.c").unwrap(),
        "cc -O2 -Wall -c src/lexer.c"
    );
}

#[test]
fn shell_syntax_is_left_alone() {
    for text in [
        "echo ${HOME} $PATH",
        "awk '{print $1}' f",
        "ls src/{a,b}.c",
        "x { y }",
        "echo }",
        "f() { :; }",
    ] {
        assert_eq!(plain(text).unwrap(), text);
    }
}

#[test]
fn doubled_braces_are_literal() {
    assert_eq!(plain("awk '{{print}}'").unwrap(), "awk '{print}'");
    assert_eq!(run("awk '{{print}}'").unwrap(), "awk '{{print}}'");
}

#[test]
fn an_unknown_placeholder_is_named() {
    assert_eq!(plain("cc {cflag}"), Err("cflag".to_owned()));
    assert_eq!(plain("{inputs}"), Err("inputs".to_owned()));
}

#[test]
fn run_keeps_inputs_and_outputs_for_the_build() {
    let text = run("cc {cflags} {brace} {inputs} -o {outputs}").unwrap();
    assert_eq!(text, "cc -O2 -Wall -DX={{1}} {inputs} -o {outputs}");
    let filled = fill_run(
        &text,
        &["a.o".into(), "my file.o".into()],
        &["prog".into()],
        shell_join,
    );
    assert_eq!(filled, "cc -O2 -Wall -DX={1} a.o 'my file.o' -o prog");
}

#[test]
fn shell_braces_stay_the_shells_when_run_is_filled() {
    let text = run("echo ${inputs} {inputs} $X").unwrap();
    assert_eq!(text, "echo ${inputs} {inputs} $X");
    assert_eq!(
        fill_run(&text, &["a.c".into()], &[], shell_join),
        "echo ${inputs} a.c $X"
    );
}

#[test]
fn file_bindings_split_a_path() {
    let [path, stem, name, dir] = file_bindings("src/vm/lexer.c");
    assert_eq!(
        [path.1, stem.1, name.1, dir.1],
        ["src/vm/lexer.c", "lexer", "lexer.c", "src/vm"]
    );
    let [_, stem, name, dir] = file_bindings("Makefile");
    assert_eq!([stem.1, name.1, dir.1], ["Makefile", "Makefile", "."]);
    let [_, stem, _, _] = file_bindings(".hidden");
    assert_eq!(stem.1, ".hidden");
}

#[test]
fn section_bindings_split_a_heading_as_sections_are_selected() {
    let [id, title] = section_bindings("T1: PostgreSQL Schema Design");
    assert_eq!([id.1, title.1], ["T1", "PostgreSQL Schema Design"]);
    let [id, title] = section_bindings("T2 — Auth");
    assert_eq!([id.1, title.1], ["T2", "Auth"]);
    let [id, title] = section_bindings("Overview");
    assert_eq!([id.1, title.1], ["Overview", "Overview"]);
}

#[test]
fn quoting_leaves_plain_paths_alone() {
    assert_eq!(
        shell_join(&["src/a.c".into(), "it's".into()]),
        r"src/a.c 'it'\''s'"
    );
}
