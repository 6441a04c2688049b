//! `hash FILE...`: print each file's BLAKE3 the way conduct hashes inputs and outputs,
//! in `b3sum`'s format, so `bench/hash.sh` can time the two side by side on the same
//! files (`cargo build --release --example hash`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for path in std::env::args_os().skip(1) {
        match conduct::bench::hash_file(path.as_ref()) {
            Ok(digest) => {
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                println!("{hex}  {}", path.to_string_lossy());
            }
            Err(error) => {
                eprintln!("hash: {}: {error}", path.to_string_lossy());
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
