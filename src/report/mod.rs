//! What a build tells the user while it runs (progress lines, a TTY bar, or JSON events)
//! and what it leaves behind (run records, and the reports drawn from them).

pub(crate) mod end;
pub(crate) mod heartbeat;
pub(crate) mod html;
pub(crate) mod markdown;
pub(crate) mod progress;
pub(crate) mod record;

/// The final tally (`build_finished`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) ran: usize,
    pub(crate) fresh: usize,
    pub(crate) restored: usize,
    pub(crate) failed: usize,
    pub(crate) blocked: usize,
    /// Stopped: outputs changed by hand (neither run nor restored).
    pub(crate) edited: usize,
    /// What the remote cache gave and took, when one was used.
    pub(crate) remote: Option<RemoteCounts>,
    /// `--dry-run`: tasks that would run.
    pub(crate) would_run: usize,
    /// Advisory checks that failed.
    pub(crate) warnings: usize,
    /// Tasks whose inputs changed while they ran: not recorded as fresh, so stale
    /// again (`watch` starts another round at once).
    pub(crate) changed_while_running: usize,
}

/// A build's traffic with the remote cache.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RemoteCounts {
    /// Entries restored from it.
    pub(crate) hits: u64,
    pub(crate) bytes_down: u64,
    pub(crate) bytes_up: u64,
}

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
