//! What a build tells the user while it runs (progress lines, a TTY bar, or JSON events)
//! and what it leaves behind (run records, and the reports drawn from them).

pub(crate) mod html;
pub(crate) mod markdown;
pub(crate) mod progress;
pub(crate) mod record;

/// A warning outside a build's own output (whose reporter has its own `warn`): one
/// line on stderr, `warning: …`.
pub(crate) fn warn(text: &str) {
    use std::io::Write;
    let style = anstyle::AnsiColor::Yellow.on_default().bold();
    let _ = writeln!(
        anstream::stderr(),
        "{}warning{}: {text}",
        style.render(),
        style.render_reset()
    );
}
