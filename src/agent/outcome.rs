//! What an agent CLI says about its own run, read back from the task's log: the cost,
//! the tokens, the turns, the session a retry can resume, and whether the agent failed.
//! The exit code is not enough: claude prints `"is_error":true` with the subtype
//! `"success"` when it is not logged in, and an agent that ran out of turns may still
//! exit 0; codex never reports a cost, only tokens.
//!
//! The log holds the agent's stdout and stderr together (see `exec::output`), so every
//! line that is not a JSON event is skipped: warnings, stack traces, a check's output.
//! A line where other output got in front of an event without a line break is read
//! from the event's `{"type":` on. Each line is parsed at most twice and never
//! searched more than once, so a log of any size costs time in proportion to its
//! length. The shapes are the CLIs' own; `tests/fixtures/agents/` holds real
//! transcripts (claude 2.1.197, codex 0.171.0) and says which are hand-written.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::spec::agent::AgentFormat;

/// What one run of an agent reported about itself, for the run record, the reports'
/// cost and token columns, budgets and resuming a session on a retry.
///
/// Token counts mean the same for every agent: `input_tokens` are the prompt tokens
/// not read from the provider's cache (claude's `input_tokens` plus
/// `cache_creation_input_tokens`; codex's `input_tokens` minus `cached_input_tokens`),
/// `cache_read_tokens` those read from it, so their sum is the whole prompt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AgentOutcome {
    /// The id a retry resumes: claude's `session_id`, codex's `thread_id`.
    pub(crate) session_id: Option<String>,
    /// What the run cost, as the agent counts it (claude's `total_cost_usd`); codex
    /// reports none.
    pub(crate) cost_usd: Option<f64>,
    /// Prompt tokens not read from the cache (see the type's text).
    pub(crate) input_tokens: u64,
    /// Tokens the model wrote.
    pub(crate) output_tokens: u64,
    /// Prompt tokens read from the provider's cache.
    pub(crate) cache_read_tokens: u64,
    /// claude's `num_turns` (what `--max-turns` bounds); codex has no such count (its
    /// "turn" is one prompt), so None.
    pub(crate) turns: Option<u32>,
    /// Some(reason) when the agent says it failed (claude: `is_error` true, whatever
    /// the subtype, or a subtype `error_*`; codex: a `turn.failed` or `error` event not
    /// followed by a completed turn). The reason is the subtype or event type and the
    /// agent's own message (claude's `result` text or `errors`, codex's error message),
    /// on one line and short.
    pub(crate) failure: Option<String>,
}

impl AgentOutcome {
    /// `self` and a later attempt's outcome together: what the task spent in all, the
    /// later session, and the later verdict.
    pub(crate) fn then(&self, later: &AgentOutcome) -> AgentOutcome {
        AgentOutcome {
            session_id: later.session_id.clone().or_else(|| self.session_id.clone()),
            cost_usd: match (self.cost_usd, later.cost_usd) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
            },
            input_tokens: self.input_tokens + later.input_tokens,
            output_tokens: self.output_tokens + later.output_tokens,
            cache_read_tokens: self.cache_read_tokens + later.cache_read_tokens,
            turns: match (self.turns, later.turns) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            },
            failure: later.failure.clone(),
        }
    }

    /// Add `later` to `total` (`None`: nothing yet): a task's attempts, a build's tasks.
    pub(crate) fn add(total: &mut Option<AgentOutcome>, later: &AgentOutcome) {
        *total = Some(match total {
            Some(before) => before.then(later),
            None => later.clone(),
        });
    }

    /// All of `outcomes` together; `None` if there are none.
    pub(crate) fn sum<'a>(
        outcomes: impl IntoIterator<Item = &'a AgentOutcome>,
    ) -> Option<AgentOutcome> {
        let mut total = None;
        for outcome in outcomes {
            AgentOutcome::add(&mut total, outcome);
        }
        total
    }

    /// `$0.25, 1.1k in, 200 out, 3 turns`: what a task's line says it spent.
    pub(crate) fn spent(&self) -> String {
        let mut parts = Vec::new();
        if let Some(usd) = self.cost_usd {
            parts.push(format!("${usd:.2}"));
        }
        parts.push(format!(
            "{} tokens in, {} out",
            tokens(self.input_tokens + self.cache_read_tokens),
            tokens(self.output_tokens)
        ));
        if let Some(turns) = self.turns {
            parts.push(format!("{turns} turn{}", if turns == 1 { "" } else { "s" }));
        }
        parts.join(", ")
    }
}

/// `950`, `12.3k`, `4.1M`.
pub(crate) fn tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// The longest failure reason kept, in characters: enough for "Not logged in · Please
/// run /login" or an HTTP status, short enough for a status line.
const MAX_REASON: usize = 200;

/// Read the outcome of an agent run from its task's log. None when the log holds no
/// event of that agent at all (it never started, or is not that agent); a run that
/// was stopped before its result still gives its session id.
pub(crate) fn parse(format: AgentFormat, log: &[u8]) -> Option<AgentOutcome> {
    match format {
        AgentFormat::ClaudeJson => claude(log),
        AgentFormat::CodexJsonl => codex(log),
        AgentFormat::None => None,
    }
}

/// claude's outcome: the last result object decides; without one, the session id of
/// its last `stream-json` event is all there is.
fn claude(log: &[u8]) -> Option<AgentOutcome> {
    let mut result = None;
    let mut session_id = None;
    for event in events(log) {
        if event_type(&event) == Some("result") {
            result = Some(event);
        } else if let Some(id) = text(&event, "session_id") {
            session_id = Some(id.to_owned());
        }
    }
    let Some(result) = result else {
        return session_id.map(|session_id| AgentOutcome {
            session_id: Some(session_id),
            ..AgentOutcome::default()
        });
    };
    let usage = result.get("usage").and_then(Value::as_object);
    let usage_count = |key: &str| usage.map_or(0, |usage| count(usage, key));
    Some(AgentOutcome {
        session_id: text(&result, "session_id")
            .map(str::to_owned)
            .or(session_id),
        cost_usd: result.get("total_cost_usd").and_then(Value::as_f64),
        input_tokens: usage_count("input_tokens")
            .saturating_add(usage_count("cache_creation_input_tokens")),
        output_tokens: usage_count("output_tokens"),
        cache_read_tokens: usage_count("cache_read_input_tokens"),
        turns: result
            .get("num_turns")
            .and_then(Value::as_u64)
            .and_then(|turns| u32::try_from(turns).ok()),
        failure: claude_failure(&result),
    })
}

/// Why a claude result is a failure, if it is one: `is_error` decides even under the
/// subtype "success" (not logged in); an `error_*` subtype fails without it too.
fn claude_failure(result: &Map<String, Value>) -> Option<String> {
    let subtype = text(result, "subtype").filter(|s| !s.is_empty());
    let is_error = result.get("is_error").and_then(Value::as_bool) == Some(true);
    if !is_error && !subtype.is_some_and(|s| s.starts_with("error")) {
        return None;
    }
    let label = match subtype {
        Some(subtype) if subtype != "success" => subtype,
        _ => "is_error",
    };
    let message = match text(result, "result").filter(|t| !t.trim().is_empty()) {
        Some(message) => message.to_owned(),
        None => result
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| {
                let errors: Vec<&str> = errors.iter().filter_map(Value::as_str).collect();
                errors.join("; ")
            })
            .unwrap_or_default(),
    };
    Some(reason(label, &message))
}

/// codex's outcome: tokens summed over its completed turns, the thread id, and the
/// last error that no completed turn came after (a retry that recovered is no failure).
fn codex(log: &[u8]) -> Option<AgentOutcome> {
    let mut outcome = AgentOutcome::default();
    let mut seen = false;
    for event in events(log) {
        let Some(kind) = event_type(&event) else {
            continue;
        };
        match kind {
            "thread.started" => {
                if let Some(id) = text(&event, "thread_id") {
                    outcome.session_id = Some(id.to_owned());
                }
            }
            "turn.completed" => {
                if let Some(usage) = event.get("usage").and_then(Value::as_object) {
                    let cached = count(usage, "cached_input_tokens");
                    let input = count(usage, "input_tokens").saturating_sub(cached);
                    outcome.input_tokens = outcome.input_tokens.saturating_add(input);
                    outcome.cache_read_tokens = outcome.cache_read_tokens.saturating_add(cached);
                    outcome.output_tokens = outcome
                        .output_tokens
                        .saturating_add(count(usage, "output_tokens"));
                }
                outcome.failure = None;
            }
            "turn.failed" => {
                let message = event
                    .get("error")
                    .and_then(Value::as_object)
                    .and_then(|error| text(error, "message"))
                    .unwrap_or_default();
                outcome.failure = Some(reason("turn.failed", message));
            }
            "error" => {
                let message = text(&event, "message").unwrap_or_default();
                outcome.failure = Some(reason("error", message));
            }
            other
                if other.starts_with("thread.")
                    || other.starts_with("turn.")
                    || other.starts_with("item.") => {}
            _ => continue,
        }
        seen = true;
    }
    seen.then_some(outcome)
}

/// The JSON objects with a string `type` among the log's lines, in order.
fn events(log: &[u8]) -> impl Iterator<Item = Map<String, Value>> + '_ {
    log.split(|&byte| byte == b'\n').filter_map(event)
}

/// One line as an event, if it is one: the whole line as a JSON object, or else the
/// first JSON value from the line's first `{"type":` (output that reached the log
/// before the event without a line break, or after it). Each line is searched once.
fn event(line: &[u8]) -> Option<Map<String, Value>> {
    let line = line.trim_ascii();
    if line.first() == Some(&b'{')
        && let Ok(Value::Object(event)) = serde_json::from_slice::<Value>(line)
    {
        return event_type(&event).is_some().then_some(event);
    }
    let start = find(line, br#"{"type":"#)?;
    let mut values = serde_json::Deserializer::from_slice(&line[start..]).into_iter::<Value>();
    match values.next() {
        Some(Ok(Value::Object(event))) if event_type(&event).is_some() => Some(event),
        _ => None,
    }
}

/// Where `needle` first occurs in `haystack` (time in proportion to the haystack: the
/// needle is a few bytes).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn event_type(event: &Map<String, Value>) -> Option<&str> {
    text(event, "type")
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// A token count: a whole non-negative number (also when written as `12.0`), else 0.
fn count(object: &Map<String, Value>, key: &str) -> u64 {
    match object.get(key) {
        Some(Value::Number(number)) => number.as_u64().unwrap_or_else(|| {
            number
                .as_f64()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map_or(0, |n| n as u64)
        }),
        _ => 0,
    }
}

/// `label: message` on one line (runs of whitespace become one space), at most
/// [`MAX_REASON`] characters of message; just `label` when there is no message.
fn reason(label: &str, message: &str) -> String {
    let mut short = String::new();
    let mut chars = 0;
    for word in message.split_whitespace() {
        let separator = usize::from(!short.is_empty());
        let length = word.chars().count();
        if chars + separator + length > MAX_REASON {
            let room = MAX_REASON.saturating_sub(chars + separator);
            if separator == 1 && room > 0 {
                short.push(' ');
            }
            short.extend(word.chars().take(room));
            short.push('…');
            break;
        }
        if separator == 1 {
            short.push(' ');
        }
        short.push_str(word);
        chars += separator + length;
    }
    if short.is_empty() {
        label.to_owned()
    } else {
        format!("{label}: {short}")
    }
}

#[cfg(test)]
mod tests {
    use super::{AgentFormat, AgentOutcome, MAX_REASON, parse};

    const CLAUDE_NOT_LOGGED_IN: &str =
        include_str!("../../tests/fixtures/agents/claude_not_logged_in.json");
    const CLAUDE_SUCCESS: &str = include_str!("../../tests/fixtures/agents/claude_success.json");
    const CLAUDE_MAX_TURNS: &str =
        include_str!("../../tests/fixtures/agents/claude_error_max_turns.json");
    const CLAUDE_UNKNOWN_OPTION: &str =
        include_str!("../../tests/fixtures/agents/claude_unknown_option.stderr");
    const CODEX_OFFLINE: &str = include_str!("../../tests/fixtures/agents/codex_offline.jsonl");
    const CODEX_OFFLINE_STDERR: &str =
        include_str!("../../tests/fixtures/agents/codex_offline.stderr");
    const CODEX_FAIL_FAST: &str = include_str!("../../tests/fixtures/agents/codex_fail_fast.jsonl");
    const CODEX_SUCCESS: &str = include_str!("../../tests/fixtures/agents/codex_success.jsonl");
    const CODEX_RESUME_UNKNOWN: &str =
        include_str!("../../tests/fixtures/agents/codex_resume_unknown.stderr");

    fn claude(log: &str) -> AgentOutcome {
        parse(AgentFormat::ClaudeJson, log.as_bytes()).unwrap()
    }

    fn codex(log: &str) -> AgentOutcome {
        parse(AgentFormat::CodexJsonl, log.as_bytes()).unwrap()
    }

    #[test]
    fn claude_not_logged_in_fails_with_its_message_and_keeps_the_session() {
        // Real: exit 1, subtype "success", is_error true.
        let outcome = claude(CLAUDE_NOT_LOGGED_IN);
        assert_eq!(
            outcome,
            AgentOutcome {
                session_id: Some("8e1febb9-332f-4c87-9c07-e6eaf99700a0".to_owned()),
                cost_usd: Some(0.0),
                input_tokens: 0,
                output_tokens: 0,
                cache_read_tokens: 0,
                turns: Some(1),
                failure: Some("is_error: Not logged in · Please run /login".to_owned()),
            }
        );
    }

    #[test]
    fn claude_success_gives_cost_tokens_and_turns() {
        let outcome = claude(CLAUDE_SUCCESS);
        assert_eq!(
            outcome,
            AgentOutcome {
                session_id: Some("4f2a9c1e-7b3d-4e8a-9c61-2d5b8e0f1a37".to_owned()),
                cost_usd: Some(0.0873215),
                input_tokens: 23 + 9184,
                output_tokens: 1412,
                cache_read_tokens: 61530,
                turns: Some(7),
                failure: None,
            }
        );
    }

    #[test]
    fn claude_error_subtype_fails_without_a_message() {
        let outcome = claude(CLAUDE_MAX_TURNS);
        assert_eq!(outcome.failure.as_deref(), Some("error_max_turns"));
        assert_eq!(outcome.turns, Some(4));
        assert_eq!(outcome.cost_usd, Some(0.0312));
    }

    #[test]
    fn claude_error_subtype_fails_even_when_is_error_is_false() {
        let log = r#"{"type":"result","subtype":"error_during_execution","is_error":false,"errors":["tool crashed","  second\n line  "]}"#;
        assert_eq!(
            claude(log).failure.as_deref(),
            Some("error_during_execution: tool crashed; second line")
        );
    }

    #[test]
    fn claude_is_error_decides_over_the_subtype() {
        let log = r#"{"type":"result","subtype":"success","is_error":true,"result":"API Error: 529 overloaded","session_id":"s"}"#;
        assert_eq!(
            claude(log).failure.as_deref(),
            Some("is_error: API Error: 529 overloaded")
        );
        let log = r#"{"type":"result","subtype":"success","is_error":false,"result":"done"}"#;
        assert_eq!(claude(log).failure, None);
    }

    #[test]
    fn claude_last_result_wins_and_noise_is_skipped() {
        let log = format!(
            "warning: something\n\u{1b}[31mred\u{1b}[0m\n{{not json\n[1,2]\n{{\"no_type\":1}}\n\
             {CLAUDE_SUCCESS}\r\nTraceback (most recent call last):\n{CLAUDE_NOT_LOGGED_IN}\n\
             trailing noise without newline"
        );
        let outcome = claude(&log);
        assert_eq!(
            outcome.session_id.as_deref(),
            Some("8e1febb9-332f-4c87-9c07-e6eaf99700a0")
        );
        assert!(outcome.failure.unwrap().contains("Not logged in"));
    }

    #[test]
    fn claude_result_after_output_without_a_line_break_is_found() {
        let log = format!("npm WARN deprecated x{}", CLAUDE_SUCCESS.trim_end());
        assert_eq!(claude(&log).turns, Some(7));
    }

    #[test]
    fn claude_stream_without_result_keeps_the_session_only() {
        let log = "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"abc\"}\n\
                   {\"type\":\"assistant\",\"session_id\":\"abc\",\"message\":{}}\n";
        assert_eq!(
            claude(log),
            AgentOutcome {
                session_id: Some("abc".to_owned()),
                ..AgentOutcome::default()
            }
        );
    }

    #[test]
    fn claude_nothing_found_is_none() {
        assert_eq!(parse(AgentFormat::ClaudeJson, b""), None);
        assert_eq!(
            parse(AgentFormat::ClaudeJson, CLAUDE_UNKNOWN_OPTION.as_bytes()),
            None
        );
        // codex's events are not claude's.
        assert_eq!(
            parse(AgentFormat::ClaudeJson, CODEX_SUCCESS.as_bytes()),
            None
        );
    }

    #[test]
    fn codex_offline_gives_the_thread_and_the_last_error() {
        // Real: killed by `timeout 60` while codex waited for the network.
        let outcome = codex(CODEX_OFFLINE);
        assert_eq!(
            outcome,
            AgentOutcome {
                session_id: Some("01a233f5-f108-7190-9533-d1afdc87cda5".to_owned()),
                failure: Some(
                    "error: Reconnecting... waiting for network (Connection failed: error sending request)"
                        .to_owned()
                ),
                ..AgentOutcome::default()
            }
        );
    }

    #[test]
    fn codex_offline_mixed_with_its_stderr_reads_the_same() {
        let mut log = String::new();
        let mut stderr = CODEX_OFFLINE_STDERR.lines();
        for line in CODEX_OFFLINE.lines() {
            log.push_str(line);
            log.push('\n');
            if let Some(noise) = stderr.next() {
                log.push_str(noise);
                log.push('\n');
            }
        }
        assert_eq!(codex(&log), codex(CODEX_OFFLINE));
    }

    #[test]
    fn codex_turn_failed_is_the_reason() {
        let outcome = codex(CODEX_FAIL_FAST);
        assert_eq!(
            outcome.session_id.as_deref(),
            Some("01a233f6-ee2d-79a1-a4e1-bec984e00eb7")
        );
        assert_eq!(
            outcome.failure.as_deref(),
            Some("turn.failed: stream disconnected before completion: builder error")
        );
        assert_eq!(outcome.cost_usd, None);
        assert_eq!(outcome.turns, None);
    }

    #[test]
    fn codex_success_sums_usage() {
        let outcome = codex(CODEX_SUCCESS);
        assert_eq!(
            outcome,
            AgentOutcome {
                session_id: Some("0199a213-81c0-7800-8aa1-bbab2a035a53".to_owned()),
                cost_usd: None,
                input_tokens: 24763 - 24448,
                output_tokens: 122,
                cache_read_tokens: 24448,
                turns: None,
                failure: None,
            }
        );
        let two_turns = format!("{CODEX_SUCCESS}{CODEX_SUCCESS}");
        let outcome = codex(&two_turns);
        assert_eq!(outcome.output_tokens, 244);
        assert_eq!(outcome.cache_read_tokens, 2 * 24448);
    }

    #[test]
    fn codex_error_then_completed_turn_is_no_failure() {
        let log = "{\"type\":\"thread.started\",\"thread_id\":\"t\"}\n\
                   {\"type\":\"error\",\"message\":\"Reconnecting... 1/5\"}\n\
                   {\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":10,\"cached_input_tokens\":4,\"output_tokens\":2}}\n";
        let outcome = codex(log);
        assert_eq!(outcome.failure, None);
        assert_eq!((outcome.input_tokens, outcome.cache_read_tokens), (6, 4));
    }

    #[test]
    fn codex_nothing_found_is_none() {
        assert_eq!(parse(AgentFormat::CodexJsonl, b"\n\n"), None);
        assert_eq!(
            parse(AgentFormat::CodexJsonl, CODEX_RESUME_UNKNOWN.as_bytes()),
            None
        );
        assert_eq!(
            parse(AgentFormat::CodexJsonl, CLAUDE_SUCCESS.as_bytes()),
            None
        );
    }

    #[test]
    fn odd_values_do_not_panic() {
        let log = r#"{"type":"result","is_error":"yes","num_turns":-3,"total_cost_usd":"1","usage":{"input_tokens":1e30,"output_tokens":2.0,"cache_read_input_tokens":null}}"#;
        let outcome = claude(log);
        assert_eq!(outcome.failure, None);
        assert_eq!(outcome.turns, None);
        assert_eq!(outcome.cost_usd, None);
        assert_eq!(outcome.output_tokens, 2);
        assert_eq!(outcome.input_tokens, u64::MAX);
        let log = r#"{"type":"turn.failed","error":"not an object"}"#;
        assert_eq!(codex(log).failure.as_deref(), Some("turn.failed"));
    }

    #[test]
    fn long_messages_are_cut_on_one_line() {
        let message = "word ".repeat(1000);
        let log = format!(
            r#"{{"type":"result","is_error":true,"result":"{}"}}"#,
            message.replace(' ', "\\n")
        );
        let failure = claude(&log).failure.unwrap();
        assert!(!failure.contains('\n'));
        assert!(failure.ends_with('…'));
        assert!(failure.chars().count() <= "is_error: ".len() + MAX_REASON + 1);
        let one_word = format!(r#"{{"type":"error","message":"{}"}}"#, "é".repeat(5000));
        let failure = codex(&one_word).failure.unwrap();
        assert_eq!(failure.chars().count(), "error: ".len() + MAX_REASON + 1);
    }

    #[test]
    fn megabytes_of_garbage_take_linear_time() {
        // Each kind of garbage that could make a careless scan quadratic: one huge line
        // without a break, a huge line full of event starts inside an unterminated
        // string, and many short lines that begin like JSON.
        let mut log = Vec::new();
        let mut state = 0x2545_f491_u32;
        for _ in 0..2_000_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let byte = state.to_le_bytes()[0];
            log.push(if byte == b'\n' { b' ' } else { byte });
        }
        log.push(b'\n');
        log.extend_from_slice(br#"{"type":"result","result":""#);
        for _ in 0..100_000 {
            log.extend_from_slice(br#"{"type":"x"#);
        }
        log.push(b'\n');
        for _ in 0..100_000 {
            log.extend_from_slice(b"{\"type\":\n{{{{{{\n[[[[[[[[\n");
        }
        log.extend_from_slice(CLAUDE_SUCCESS.as_bytes());
        for _ in 0..200_000 {
            log.extend_from_slice(b"{\"session\n");
        }
        assert!(log.len() > 4_000_000);
        let outcome = parse(AgentFormat::ClaudeJson, &log).unwrap();
        assert_eq!(outcome.turns, Some(7));
        assert_eq!(parse(AgentFormat::CodexJsonl, &log), None);
    }
}
