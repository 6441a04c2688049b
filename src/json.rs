//! `--json` output: one value per line. Serialising conduct's own types cannot fail in
//! practice; if it ever did, the line says so as JSON instead of panicking.

use serde::Serialize;

/// `value` as compact JSON.
pub(crate) fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// One JSON value and a line break.
pub(crate) fn json_line(value: &impl Serialize) -> String {
    format!("{}\n", to_json(value))
}
