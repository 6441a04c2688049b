//! The `conduct` binary: everything lives in the library; see `conduct::run`.

fn main() {
    std::process::exit(conduct::run(std::env::args_os()));
}
