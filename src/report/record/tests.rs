use std::time::Duration;

use super::*;
use crate::source::SourceFile;

fn end<'a>(
    task: &'a str,
    status: RunStatus,
    retrying: bool,
    detail: Option<&'a str>,
) -> TaskEnd<'a> {
    TaskEnd {
        retrying,
        detail,
        ..TaskEnd::new(task, None, status, Duration::ZERO, 1)
    }
}

#[test]
fn a_finished_run_writes_what_its_record_would() {
    let text = "[tasks.a]\noutputs = [\"a.txt\"]\nrun = \"x\"\n\n\
                [tasks.b]\ntitle = \"Bee\"\ninputs = [\"a.txt\"]\noutputs = [\"b.txt\"]\nrun = \"y\"\n\n\
                [tasks.c]\ninputs = [\"b.txt\"]\nrun = \"z\"\n";
    let loaded = crate::project::parse(
        &SourceFile::new("tasks.toml", text),
        &[],
        &Default::default(),
    )
    .unwrap();
    let spec = Arc::clone(&loaded.spec);
    let graph = Arc::clone(&loaded.graph);
    let selection = graph.select(&spec, &[]).unwrap();
    let mut recorder = Recorder::new(&spec, &graph, &selection, &["all".into()], 2);
    recorder.fresh("a");
    recorder.started("b", &["input a.txt changed".into()]);
    recorder.finished(&end("b", RunStatus::Failed, true, None));
    recorder.started("b", &[]);
    recorder.finished(&end("b", RunStatus::Failed, false, Some("exit code 1")));
    recorder.blocked("c", "b");
    let run = recorder.finish(Counts::default(), false);

    let record = run.to_record();
    let written = serde_json::to_string(&run).unwrap();
    assert_eq!(written, serde_json::to_string(&record).unwrap());
    let read: RunRecord = serde_json::from_str(&written).unwrap();
    assert_eq!(read, record);

    let b = &record.tasks[1];
    assert_eq!((b.id.as_str(), b.title.as_deref()), ("b", Some("Bee")));
    assert_eq!(b.deps, ["a"]);
    assert_eq!(b.status, TaskStatus::Failed);
    assert_eq!(b.attempts.len(), 2);
    assert_eq!(b.reasons, ["input a.txt changed"]);
    assert_eq!(b.error.as_deref(), Some("exit code 1"));
    assert_eq!(b.outputs, ["b.txt"]);
    assert_eq!(record.tasks[0].status, TaskStatus::Fresh);
    assert!(record.tasks[0].attempts.is_empty() && record.tasks[0].error.is_none());
    assert_eq!(record.tasks[2].blocked_by.as_deref(), Some("b"));
}
