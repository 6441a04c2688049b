//! Coding agents as task commands (issue 18): the presets that turn `run = { agent =
//! "claude" }` into the CLI's headless invocation ([`preset`]), and what the agent
//! reported of its work (cost, tokens, session, failure) read back from its log.

pub(crate) mod preset;
