//! `html`'s unit tests: the Gantt page.

use super::*;
use crate::report::record::{GroupRecord, RecordCounts};

fn task(id: &str, group: Option<&str>, status: TaskStatus) -> TaskRecord {
    TaskRecord {
        id: id.to_owned(),
        title: None,
        group: group.map(str::to_owned),
        deps: Vec::new(),
        status,
        start_ms: None,
        end_ms: None,
        attempts: Vec::new(),
        reasons: Vec::new(),
        outputs: Vec::new(),
        checks: Vec::new(),
        cache_hit: false,
        blocked_by: None,
        error: None,
        flaky: false,
        agent: None,
    }
}

fn attempt(start_ms: u64, end_ms: u64, status: TaskStatus) -> Attempt {
    Attempt {
        start_ms,
        end_ms: Some(end_ms),
        status: Some(status),
        slurm: None,
    }
}

fn empty() -> RunRecord {
    RunRecord {
        schema_version: record::SCHEMA_VERSION,
        conduct_version: "0.1.0".to_owned(),
        project: None,
        started_at: "2026-01-01T00:00:00.000Z".to_owned(),
        duration_ms: 0,
        jobs: 1,
        targets: Vec::new(),
        interrupted: false,
        counts: RecordCounts::default(),
        groups: Vec::new(),
        tasks: Vec::new(),
    }
}

/// Two groups; `gen` ok, `compile` failed on its second attempt, `pack` blocked by
/// it and never started, `docs` fresh and in no group.
fn sample() -> RunRecord {
    let mut gen_ = task("gen", Some("prep"), TaskStatus::Ok);
    gen_.title = Some("Generate <script>alert('x')</script> & \"more\"".to_owned());
    gen_.start_ms = Some(0);
    gen_.end_ms = Some(60);
    gen_.attempts = vec![attempt(0, 60, TaskStatus::Ok)];
    gen_.reasons = vec!["never built".to_owned()];
    gen_.outputs = vec!["out/<gen>.rs".to_owned()];
    gen_.checks = vec![CheckOutcome {
        rule: "non_empty".to_owned(),
        passed: true,
        required: true,
        message: String::new(),
        metric: Some(0.5),
    }];
    let mut compile = task("compile", Some("build"), TaskStatus::Failed);
    compile.deps = vec!["gen".to_owned()];
    compile.start_ms = Some(70);
    compile.end_ms = Some(3_725_070);
    compile.attempts = vec![
        attempt(70, 1_000, TaskStatus::Failed),
        attempt(2_000, 3_725_070, TaskStatus::Failed),
    ];
    compile.error = Some("exit code 1".to_owned());
    let mut pack = task("pack", Some("build"), TaskStatus::Blocked);
    pack.deps = vec!["compile".to_owned()];
    pack.blocked_by = Some("compile".to_owned());
    let mut docs = task("docs", None, TaskStatus::Fresh);
    docs.start_ms = Some(5);
    docs.end_ms = Some(5);
    RunRecord {
        project: Some("demo".to_owned()),
        duration_ms: 3_725_100,
        jobs: 2,
        counts: RecordCounts {
            ran: 2,
            fresh: 1,
            failed: 1,
            blocked: 1,
            ..RecordCounts::default()
        },
        groups: vec![
            GroupRecord {
                name: "prep".to_owned(),
                title: Some("Preparation".to_owned()),
            },
            GroupRecord {
                name: "build".to_owned(),
                title: None,
            },
        ],
        tasks: vec![gen_, compile, pack, docs],
        ..empty()
    }
}

#[test]
fn one_bar_per_task_and_every_task_in_chart_and_table() {
    let page = render(&sample());
    assert_eq!(page.matches("class=\"bar ").count(), 4, "{page}");
    assert_eq!(page.matches("<tr class=\"task\"").count(), 4);
    assert!(page.contains("<svg id=\"gantt\""));
    let chart_end = page.find("</svg>").unwrap();
    let (chart, rest) = page.split_at(chart_end);
    for id in ["gen", "compile", "pack", "docs"] {
        assert!(
            chart.contains(&format!("data-task=\"{id}\"")),
            "{id} in chart"
        );
        assert!(
            rest.contains(&format!("<tr class=\"task\" data-task=\"{id}\">")),
            "{id} in table"
        );
    }
    assert_eq!(
        page.matches("class=\"attempt ").count(),
        2,
        "compile's attempts"
    );
    assert!(page.contains("class=\"bar status-blocked\" data-task=\"pack\""));
}

#[test]
fn durations_are_written_out() {
    let page = render(&sample());
    assert!(page.contains("data-duration-ms=\"60\""));
    assert!(page.contains("data-duration-ms=\"3725000\""));
    assert!(page.contains("data-duration-ms=\"0\""));
    assert!(page.contains(">0.06s</td>"), "gen's duration in the table");
    assert!(
        page.contains(">1h 2m 5s</td>"),
        "compile's duration in the table"
    );
    assert!(page.contains(">0.00s</td>"), "docs is instant");
    assert!(
        page.contains(">0</text>") && page.contains(">10m</text>"),
        "ticks"
    );
    assert_eq!(tick_label(50), "0.05s");
    assert_eq!(tick_label(90_000), "1m 30s");
}

#[test]
fn groups_come_in_declaration_order_then_the_rest() {
    let mut record = sample();
    record.tasks[0].group = Some("stray".to_owned());
    let page = render(&record);
    let at = |text: &str| page.find(text).unwrap();
    assert!(at(">build</text>") < at(">stray</text>"));
    assert!(at(">stray</text>") < at(">(no group)</text>"));
    assert!(!page.contains("Preparation"), "an empty group gets no band");
}

#[test]
fn user_text_is_escaped() {
    let page = render(&sample());
    assert!(!page.contains("<script>"));
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;")
    );
    assert!(page.contains("out/&lt;gen&gt;.rs"));
    assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
}

#[test]
fn the_critical_path_is_marked() {
    let page = render(&sample());
    assert!(page.contains("class=\"bar status-ok critical\" data-task=\"gen\""));
    assert!(page.contains("class=\"bar status-failed retried critical\" data-task=\"compile\""));
    assert!(page.contains("Critical path: gen → compile"));
}

#[test]
fn the_page_is_self_contained() {
    let page = render(&sample());
    assert!(page.starts_with("<!doctype html>"));
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(!page.contains("<script") && !page.contains("<link"));
}

#[test]
fn odd_records_render_without_panicking() {
    let page = render(&empty());
    assert!(page.contains("<svg id=\"gantt\""));
    assert!(!page.contains("class=\"bar "));
    assert!(page.contains("0 ran"));

    let mut record = sample();
    record.duration_ms = 0;
    record.interrupted = true;
    record.tasks[0].end_ms = None;
    record.tasks[1].end_ms = Some(10);
    record.tasks[1].attempts[1].end_ms = None;
    record.tasks[3].start_ms = Some(u64::MAX);
    let page = render(&record);
    assert_eq!(page.matches("class=\"bar ").count(), 4);
    assert!(page.contains("interrupted"));
}
