//! Link the `conduct` binary as a position-dependent executable on Linux.
//!
//! A position-independent conduct carried 35,000 relative relocations (vtables, panic
//! locations, static tables of every crate): the dynamic loader wrote them into 150
//! pages at every start, 200-250 page faults, a tenth of a small project's no-op.
//! Go's linker makes the same choice by default. Libraries, heap and stacks are still
//! placed at random addresses.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
