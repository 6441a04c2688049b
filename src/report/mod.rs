//! What a build tells the user while it runs: progress lines, a TTY bar, or JSON events.

pub(crate) mod progress;
