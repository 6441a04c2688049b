//! What a build tells the user while it runs (progress lines, a TTY bar, or JSON events)
//! and what it leaves behind (run records, and the reports drawn from them).

pub(crate) mod html;
pub(crate) mod markdown;
pub(crate) mod progress;
pub(crate) mod record;
